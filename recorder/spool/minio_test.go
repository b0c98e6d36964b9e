package spool_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder/spool"
)

// incompleteUploads counts the bucket's unfinished multipart uploads.
func incompleteUploads(t *testing.T, c *minio.Client, bucket string) int {
	t.Helper()
	n := 0
	for up := range c.ListIncompleteUploads(ctxT(t), bucket, "", true) {
		require.NoError(t, up.Err)
		n++
	}
	return n
}

var _ spool.IncompleteUploadAborter = (*objstore.S3)(nil)

// incompleteUploadsOf counts the unfinished multipart uploads under each
// prefix, listed one prefix at a time as MinIO needs after a restart.
func incompleteUploadsOf(t *testing.T, c *minio.Client, bucket string, prefixes []string) int {
	t.Helper()
	n := 0
	for _, p := range prefixes {
		for up := range c.ListIncompleteUploads(ctxT(t), bucket, p, true) {
			require.NoError(t, up.Err)
			n++
		}
	}
	return n
}

// TestMinIOOutage stops MinIO for 10 s while 50 recordings are spooled
// from several goroutines. Once MinIO is back every object must be in the
// bucket with the right SHA-256, and no multipart upload may be left, not
// even one the outage broke before the spool saw it fail.
func TestMinIOOutage(t *testing.T) {
	srv := testenv.MinIO(t)
	const bucket = "outage"
	store, err := objstore.NewS3(ctxT(t), objstore.S3Config{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: bucket, PartSize: objstore.MinPartSize,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	client := srv.Client(t)
	// the parts of an upload an outage cut off: begun, never finished
	const broken = "cam-x/broken.mp4"
	_, err = minio.Core{Client: client}.NewMultipartUpload(ctxT(t), bucket, broken, minio.PutObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, incompleteUploads(t, client, bucket))

	log, logs := newLog(t)
	var col collector
	sp, err := spool.New(spool.Config{
		Dir: t.TempDir(), Workers: 4, RetryMin: 100 * time.Millisecond, RetryMax: time.Second,
		OnUploaded: col.add, Log: log,
	}, store)
	require.NoError(t, err)
	startRun(t, sp)

	srv.Stop(t)
	downAt := time.Now()
	var mu sync.Mutex
	want := map[string][]byte{}
	// spooled again first, so it is the first upload to fail
	want[broken] = payload(100_000, 1000)
	_, err = sp.Put(broken, bytes.NewReader(want[broken]), objstore.PutOptions{ContentType: "video/mp4"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 5 {
		wg.Go(func() {
			for i := range 10 {
				n := g*10 + i
				size := 100_000 + n*3_000
				if i == 9 {
					size = objstore.MinPartSize + 1<<20 // goes up in parts
				}
				data := payload(size, uint64(n))
				key := fmt.Sprintf("cam-%d/seg-%02d.mp4", g, i)
				if _, err := sp.Put(key, bytes.NewReader(data), objstore.PutOptions{ContentType: "video/mp4"}); err != nil {
					t.Errorf("spool %s: %v", key, err)
					return
				}
				mu.Lock()
				want[key] = data
				mu.Unlock()
				time.Sleep(50 * time.Millisecond) // a camera writes a segment now and then
			}
		})
	}
	wg.Wait()
	require.Len(t, want, 51)
	waitFor(t, 15*time.Second, "failed uploads", func() bool { return sp.Stats().Failures > 0 })
	time.Sleep(time.Until(downAt.Add(10 * time.Second)))
	st := sp.Stats()
	require.Equal(t, 51, st.Pending, "nothing can be uploaded while MinIO is down")
	require.Zero(t, st.Uploaded)
	require.Contains(t, st.LastError, srv.Endpoint)
	t.Logf("after %s down: %d failed attempts, %d pending (%d bytes)", time.Since(downAt).Round(time.Millisecond), st.Failures, st.Pending, st.PendingBytes)

	startAt := time.Now()
	srv.Start(t)
	upAt := time.Now()
	t.Logf("MinIO took %s to start again", upAt.Sub(startAt).Round(time.Millisecond))
	waitFor(t, 40*time.Second, "the spool to drain", drained(sp))
	t.Logf("drained %s after MinIO came back", time.Since(upAt).Round(time.Millisecond))

	for key, data := range want {
		info := requireObject(t, store, key, data)
		require.Equal(t, "video/mp4", info.ContentType)
	}
	require.Len(t, col.keys(), 51)
	keys := slices.Sorted(maps.Keys(want))
	waitFor(t, 10*time.Second, "no incomplete multipart uploads", func() bool {
		return incompleteUploadsOf(t, client, bucket, keys) == 0 && incompleteUploads(t, client, bucket) == 0
	})
	require.GreaterOrEqual(t, logs.count(slog.LevelInfo, "aborted incomplete multipart uploads"), 1)
	require.GreaterOrEqual(t, logs.count(slog.LevelInfo, "uploads work again"), 1)
}
