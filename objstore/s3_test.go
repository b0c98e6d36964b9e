package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
)

func s3Config(srv *testenv.MinIOServer, bucket string) objstore.S3Config {
	return objstore.S3Config{
		Endpoint:  srv.Endpoint,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Bucket:    bucket,
	}
}

func newS3(t *testing.T, cfg objstore.S3Config) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(ctxT(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

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

func TestS3Conformance(t *testing.T) {
	checkGoroutines(t)
	srv := testenv.MinIO(t)
	c := srv.Client(t)
	n := 0
	runConformance(t, func(t *testing.T) objstore.Store {
		n++
		bucket := fmt.Sprintf("conformance-%d", n)
		cfg := s3Config(srv, bucket)
		cfg.PartSize = objstore.MinPartSize // so the 11 MiB objects go up in parts
		cfg.SpoolDir = t.TempDir()
		s, err := objstore.NewS3(ctxT(t), cfg)
		require.NoError(t, err)
		t.Cleanup(func() {
			assert.Zero(t, incompleteUploads(t, c, bucket), "no multipart upload left behind")
			spool, err := os.ReadDir(cfg.SpoolDir)
			assert.NoError(t, err)
			assert.Empty(t, spool, "spool files are removed")
		})
		return s
	})
}

// TestS3Outage stops MinIO under a store: Put must fail within its
// context's deadline with an error that says what failed, and work again
// once MinIO is back.
func TestS3Outage(t *testing.T) {
	srv := testenv.MinIO(t)
	s := newS3(t, s3Config(srv, "outage"))
	before := payload(1000, 1)
	put(t, s, "before", before, objstore.PutOptions{})

	srv.Stop(t)
	const deadline = 5 * time.Second
	ctx, cancel := context.WithTimeout(ctxT(t), deadline)
	defer cancel()
	start := time.Now()
	data := payload(1000, 2)
	_, err := s.Put(ctx, "during", bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
	elapsed := time.Since(start)
	require.Error(t, err)
	t.Logf("Put during the outage failed after %s: %v", elapsed.Round(time.Millisecond), err)
	require.Less(t, elapsed, deadline+2*time.Second, "bounded by the context")
	require.ErrorContains(t, err, "put during")
	require.ErrorContains(t, err, srv.Endpoint, "the error names the server")
	require.NotContains(t, err.Error(), srv.SecretKey)

	pingCtx, pingCancel := context.WithTimeout(ctxT(t), 2*time.Second)
	defer pingCancel()
	require.Error(t, s.Ping(pingCtx))

	srv.Start(t)
	require.NoError(t, s.Ping(ctxT(t)))
	put(t, s, "after", data, objstore.PutOptions{})
	got, _ := readAll(t, s, "before", nil)
	require.Equal(t, before, got)
	_, err = s.Stat(ctxT(t), "during")
	require.ErrorIs(t, err, objstore.ErrNotFound)
}

// cancelAfter is a seekable source that cancels the Put's context once the
// upload has read limit bytes, to break a multipart upload half-way.
type cancelAfter struct {
	*bytes.Reader
	limit  int64
	cancel context.CancelFunc

	mu   sync.Mutex
	read int64
}

func (c *cancelAfter) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.read += int64(len(p))
	over := c.read > c.limit
	c.mu.Unlock()
	if over {
		c.cancel()
		return 0, errors.New("source broke")
	}
	return c.Reader.ReadAt(p, off)
}

func TestS3FailedMultipartLeavesNoUpload(t *testing.T) {
	srv := testenv.MinIO(t)
	cfg := s3Config(srv, "multipart")
	cfg.PartSize = objstore.MinPartSize
	s := newS3(t, cfg)

	data := payload(3*objstore.MinPartSize+100, 3)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	// Put hashes the whole source first, then uploads: break it after the
	// hash and one and a half parts
	src := &cancelAfter{Reader: bytes.NewReader(data), limit: int64(len(data)) + objstore.MinPartSize*3/2, cancel: cancel}
	_, err := s.Put(ctx, "broken", src, int64(len(data)), objstore.PutOptions{})
	require.Error(t, err)
	t.Logf("broken upload: %v", err)

	require.Zero(t, incompleteUploads(t, srv.Client(t), "multipart"), "the failed upload was aborted")
	_, err = s.Stat(ctxT(t), "broken")
	require.ErrorIs(t, err, objstore.ErrNotFound)
}

func TestS3AbortStaleUploads(t *testing.T) {
	srv := testenv.MinIO(t)
	s := newS3(t, s3Config(srv, "stale"))
	core := minio.Core{Client: srv.Client(t)}
	_, err := core.NewMultipartUpload(ctxT(t), "stale", "left/behind", minio.PutObjectOptions{})
	require.NoError(t, err)

	n, err := s.AbortStaleUploads(ctxT(t), time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "a recent upload may still be running")
	n, err = s.AbortStaleUploads(ctxT(t), 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, incompleteUploads(t, srv.Client(t), "stale"))
}

// TestS3ObjectHeaders checks what lands on the server: the SHA-256 as user
// metadata, and as the object's S3 checksum when it went up in one PUT.
func TestS3ObjectHeaders(t *testing.T) {
	srv := testenv.MinIO(t)
	cfg := s3Config(srv, "headers")
	cfg.PartSize = objstore.MinPartSize
	s := newS3(t, cfg)
	c := srv.Client(t)

	for _, size := range []int{100, objstore.MinPartSize + 1} {
		data := payload(size, 4)
		key := fmt.Sprintf("obj-%d", size)
		info := put(t, s, key, data, objstore.PutOptions{Metadata: map[string]string{"camera": "door"}})
		oi, err := c.StatObject(ctxT(t), "headers", key, minio.StatObjectOptions{Checksum: true})
		require.NoError(t, err)
		require.Equal(t, info.SHA256, oi.UserMetadata["Sha256"])
		require.Equal(t, "door", oi.UserMetadata["Camera"])
		if size <= objstore.MinPartSize {
			sum := sha256.Sum256(data)
			require.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), oi.ChecksumSHA256, "single PUT carries the SHA-256 checksum")
		}
	}

	// with checksums off (for servers without them) it still works
	cfg.DisableChecksum = true
	plain := newS3(t, cfg)
	put(t, plain, "no-checksum", []byte("data"), objstore.PutOptions{})
}

func TestS3ForeignObjects(t *testing.T) {
	srv := testenv.MinIO(t)
	s := newS3(t, s3Config(srv, "foreign"))
	c := srv.Client(t)
	_, err := c.PutObject(ctxT(t), "foreign", "plain", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	require.NoError(t, err)
	// MinIO refuses most keys ValidateKey refuses too; this one it takes
	_, err = c.PutObject(ctxT(t), "foreign", "tab\there", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	require.NoError(t, err)
	info, err := s.Stat(ctxT(t), "plain")
	require.NoError(t, err)
	require.Empty(t, info.SHA256, "no SHA-256 recorded by someone else")
	var keys []string
	for info, err := range s.List(ctxT(t), "") {
		require.NoError(t, err)
		keys = append(keys, info.Key)
	}
	require.Equal(t, []string{"plain"}, keys, "invalid keys are skipped")
}

func TestS3PresignGet(t *testing.T) {
	srv := testenv.MinIO(t)
	s := newS3(t, s3Config(srv, "presign"))
	data := payload(5000, 5)
	put(t, s, "clip.mp4", data, objstore.PutOptions{ContentType: "video/mp4"})

	u, err := s.PresignGet(ctxT(t), "clip.mp4", time.Minute)
	require.NoError(t, err)
	require.NotContains(t, u, srv.SecretKey)
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusPartialContent, resp.StatusCode, "browsers can seek")
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, data[100:200], body)
	require.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))

	for _, d := range []time.Duration{0, 8 * 24 * time.Hour} {
		_, err = s.PresignGet(ctxT(t), "clip.mp4", d)
		require.Error(t, err, d)
	}
}

func TestOpenS3(t *testing.T) {
	srv := testenv.MinIO(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dataDir := t.TempDir()
	s, err := objstore.Open(ctxT(t), srv.URL("opened")+"?region=us-east-1", dataDir, log)
	require.NoError(t, err)
	defer s.Close()
	require.IsType(t, &objstore.S3{}, s)
	data := payload(2<<20, 6) // spooled: large and read from a stream
	info, err := s.Put(ctxT(t), "k", streamOnly{bytes.NewReader(data)}, int64(len(data)), objstore.PutOptions{})
	require.NoError(t, err)
	require.Equal(t, sha(data), info.SHA256)
	ok, err := srv.Client(t).BucketExists(ctxT(t), "opened")
	require.NoError(t, err)
	require.True(t, ok, "Open creates the bucket")
	spool, err := os.ReadDir(filepath.Join(dataDir, "spool"))
	require.NoError(t, err)
	require.Empty(t, spool)

	require.Contains(t, logs.String(), "created bucket")
	require.NotContains(t, logs.String(), srv.SecretKey, "logs never show the secret")
}

// TestS3ObjectLockAndLegalHold: a bucket made with object lock keeps each
// object for the retention asked; a legal hold blocks deletion until it is
// released; a bucket without object lock says so.
func TestS3ObjectLockAndLegalHold(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := ctxT(t)

	cfg := s3Config(srv, "locked-retain")
	cfg.ObjectLock, cfg.RetainDays = "governance", 1
	retained := newS3(t, cfg)
	require.True(t, retained.Locked())
	put(t, retained, "clip.mp4", []byte("evidence"), objstore.PutOptions{})
	require.Error(t, retained.Delete(ctx, "clip.mp4"), "under retention")
	_, err := retained.Stat(ctx, "clip.mp4")
	require.NoError(t, err, "still there after the refused delete")
	oi, err := srv.Client(t).StatObject(ctx, "locked-retain", "clip.mp4", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "GOVERNANCE", oi.Metadata.Get("X-Amz-Object-Lock-Mode"))

	cfg = s3Config(srv, "locked-hold")
	cfg.ObjectLock = "governance"
	held := newS3(t, cfg)
	put(t, held, "a.mp4", []byte("held"), objstore.PutOptions{})
	require.NoError(t, held.SetLegalHold(ctx, "a.mp4", true))
	require.Error(t, held.Delete(ctx, "a.mp4"), "a held object cannot be deleted")
	_, err = held.Stat(ctx, "a.mp4")
	require.NoError(t, err)
	require.NoError(t, held.SetLegalHold(ctx, "a.mp4", false))
	require.NoError(t, held.Delete(ctx, "a.mp4"))

	plain := newS3(t, s3Config(srv, "no-lock"))
	require.False(t, plain.Locked())
	put(t, plain, "b", []byte("x"), objstore.PutOptions{})
	require.ErrorIs(t, plain.SetLegalHold(ctx, "b", true), objstore.ErrNotSupported)
	// asking for object lock on a bucket that has none is an error at start
	cfg = s3Config(srv, "no-lock")
	cfg.ObjectLock = "governance"
	_, err = objstore.NewS3(ctx, cfg)
	require.ErrorContains(t, err, "has none")
}

// TestS3ServerSideEncryption: with sse=s3 objects are encrypted at rest by
// the server and read back unchanged.
func TestS3ServerSideEncryption(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := ctxT(t)
	s, err := objstore.Open(ctx, srv.URL("encrypted")+"?sse=s3", t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	data := payload(objstore.MinPartSize+10, 9)
	put(t, s, "seg.mp4", data, objstore.PutOptions{ContentType: "video/mp4"})
	rc, _, err := s.Get(ctx, "seg.mp4", nil)
	require.NoError(t, err)
	got, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, data, got)
	oi, err := srv.Client(t).StatObject(ctx, "encrypted", "seg.mp4", minio.StatObjectOptions{})
	require.NoError(t, err)
	require.Equal(t, "AES256", oi.Metadata.Get("X-Amz-Server-Side-Encryption"))
}
