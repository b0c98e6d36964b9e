package spool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder/spool"
)

// downStore fails every call, like a store that cannot be reached.
type downStore struct{ calls atomic.Int64 }

func (d *downStore) Put(context.Context, string, io.Reader, int64, objstore.PutOptions) (objstore.ObjectInfo, error) {
	d.calls.Add(1)
	return objstore.ObjectInfo{}, errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
}

func (d *downStore) Stat(context.Context, string) (objstore.ObjectInfo, error) {
	d.calls.Add(1)
	return objstore.ObjectInfo{}, errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
}

// gateStore passes calls to a store, counting them; while block is set a
// Put reports its key on started and waits for its context to end.
type gateStore struct {
	objstore.Store
	block   atomic.Bool
	started chan string
	puts    atomic.Int64
	stats   atomic.Int64
}

func (g *gateStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error) {
	g.puts.Add(1)
	if g.block.Load() {
		select {
		case g.started <- key:
		default:
		}
		<-ctx.Done()
		return objstore.ObjectInfo{}, fmt.Errorf("put %s: %w", key, ctx.Err())
	}
	return g.Store.Put(ctx, key, r, size, opts)
}

func (g *gateStore) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	g.stats.Add(1)
	return g.Store.Stat(ctx, key)
}

// corruptingStore stores altered bytes for its first bad Puts, so that
// both Put and Stat then report another SHA-256 than the spool's.
type corruptingStore struct {
	objstore.Store
	mu  sync.Mutex
	bad int
}

func (c *corruptingStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	c.mu.Lock()
	if c.bad > 0 && len(data) > 0 {
		c.bad--
		data[len(data)/2] ^= 0xff
	}
	c.mu.Unlock()
	return c.Store.Put(ctx, key, bytes.NewReader(data), size, opts)
}

// dirFiles lists the names in a spool directory.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func filesWithSuffix(t *testing.T, dir, suffix string) []string {
	var out []string
	for _, n := range dirFiles(t, dir) {
		if strings.HasSuffix(n, suffix) {
			out = append(out, n)
		}
	}
	return out
}

// TestRoundTrip spools objects (whole, streamed in pieces, empty, large
// enough for a multipart upload) and checks them in the store, on the local
// backend and on a real MinIO.
func TestRoundTrip(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) objstore.Store
	}{
		{"local", func(t *testing.T) objstore.Store { return newLocalStore(t) }},
		{"minio", func(t *testing.T) objstore.Store {
			srv := testenv.MinIO(t)
			s, err := objstore.NewS3(ctxT(t), objstore.S3Config{
				Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
				Bucket: "roundtrip", PartSize: objstore.MinPartSize,
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t)
			log, _ := newLog(t)
			var col collector
			dir := filepath.Join(t.TempDir(), "spool")
			sp, err := spool.New(spool.Config{Dir: dir, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
				OnUploaded: col.add, Log: log}, store)
			require.NoError(t, err)
			stop := startRun(t, sp)

			small := payload(1000, 1)
			opts := objstore.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{"Camera": "cam-1", "start": "2026-01-02T03:04:05Z"}}
			e, err := sp.Put("cam-1/2026/01/02/030405.mp4", bytes.NewReader(small), opts)
			require.NoError(t, err)
			require.Equal(t, sha(small), e.SHA256)
			require.Equal(t, int64(len(small)), e.Size)

			big := payload(objstore.MinPartSize+123_456, 2)
			w, err := sp.Create("calls/abc/audio.ogg", objstore.PutOptions{ContentType: "audio/ogg"})
			require.NoError(t, err)
			for chunk := range slices.Chunk(big, 70_000) {
				n, err := w.Write(chunk)
				require.NoError(t, err)
				require.Equal(t, len(chunk), n)
			}
			require.Equal(t, int64(len(big)), w.Size())
			eBig, err := w.Commit()
			require.NoError(t, err)
			require.Equal(t, sha(big), eBig.SHA256)
			_, err = w.Write([]byte("late"))
			require.ErrorIs(t, err, spool.ErrWriterClosed)

			_, err = sp.Put("snapshots/empty.jpg", bytes.NewReader(nil), objstore.PutOptions{})
			require.NoError(t, err)

			waitFor(t, 30*time.Second, "uploads", func() bool { return sp.Stats().Uploaded == 3 })
			info := requireObject(t, store, "cam-1/2026/01/02/030405.mp4", small)
			require.Equal(t, "video/mp4", info.ContentType)
			require.Equal(t, map[string]string{"camera": "cam-1", "start": "2026-01-02T03:04:05Z"}, info.Metadata)
			info = requireObject(t, store, "calls/abc/audio.ogg", big)
			require.Equal(t, "audio/ogg", info.ContentType)
			requireObject(t, store, "snapshots/empty.jpg", nil)

			col.mu.Lock()
			require.Len(t, col.entries, 3)
			for i, e := range col.entries {
				require.Equal(t, e.SHA256, col.infos[i].SHA256, "OnUploaded gets the verified info")
				require.Equal(t, e.Key, col.infos[i].Key)
			}
			col.mu.Unlock()

			stop()
			st := sp.Stats()
			require.Zero(t, st.Pending)
			require.Zero(t, st.UsedBytes)
			require.Zero(t, st.Failures)
			require.Equal(t, int64(len(small)+len(big)), st.UploadedBytes)
			require.Empty(t, dirFiles(t, dir), "uploaded entries leave nothing behind")
		})
	}
}

// TestOrder checks oldest-first uploads, and that versions of one key
// reach the store in the order they were spooled even with parallel
// workers.
func TestOrder(t *testing.T) {
	checkGoroutines(t)
	t.Run("oldest first", func(t *testing.T) {
		store := newLocalStore(t)
		var col collector
		sp, err := spool.New(spool.Config{Dir: t.TempDir(), Workers: 1, OnUploaded: col.add}, store)
		require.NoError(t, err)
		var want []string
		for i := range 20 {
			key := fmt.Sprintf("seg/%02d", 19-i) // keys sort the other way
			_, err := sp.Put(key, bytes.NewReader(payload(100, uint64(i))), objstore.PutOptions{})
			require.NoError(t, err)
			want = append(want, key)
		}
		startRun(t, sp)
		waitFor(t, 10*time.Second, "uploads", drained(sp))
		require.Equal(t, want, col.keys())
	})
	t.Run("one key in order", func(t *testing.T) {
		store := newLocalStore(t)
		var col collector
		sp, err := spool.New(spool.Config{Dir: t.TempDir(), Workers: 4, OnUploaded: col.add}, store)
		require.NoError(t, err)
		startRun(t, sp)
		var last []byte
		for i := range 30 {
			last = payload(5000, uint64(i))
			_, err := sp.Put(fmt.Sprintf("other/%d", i), bytes.NewReader(last), objstore.PutOptions{})
			require.NoError(t, err)
			_, err = sp.Put("live/latest.jpg", bytes.NewReader(last), objstore.PutOptions{Metadata: map[string]string{"n": fmt.Sprint(i)}})
			require.NoError(t, err)
		}
		waitFor(t, 10*time.Second, "uploads", drained(sp))
		info := requireObject(t, store, "live/latest.jpg", last)
		require.Equal(t, "29", info.Metadata["n"])
		var ns []string
		col.mu.Lock()
		for i, e := range col.entries {
			if e.Key == "live/latest.jpg" {
				ns = append(ns, col.infos[i].Metadata["n"])
			}
		}
		col.mu.Unlock()
		want := make([]string, 30)
		for i := range want {
			want[i] = fmt.Sprint(i)
		}
		require.Equal(t, want, ns)
	})
}

// TestFull fills the spool while the store is down: past 80% a warning is
// logged once per crossing, at 100% data is refused and counted, and
// everything accepted is uploaded once the store is back.
func TestFull(t *testing.T) {
	checkGoroutines(t)
	log, logs := newLog(t)
	dir := t.TempDir()
	store := newLocalStore(t)
	var down downStore
	const maxBytes = 1000
	sp, err := spool.New(spool.Config{Dir: dir, MaxBytes: maxBytes, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond, Log: log}, &down)
	require.NoError(t, err)
	stop := startRun(t, sp)

	var accepted [][]byte
	for i := range 3 {
		data := payload(300, uint64(i))
		_, err := sp.Put(fmt.Sprintf("a/%d", i), bytes.NewReader(data), objstore.PutOptions{})
		require.NoError(t, err)
		accepted = append(accepted, data)
	}
	st := sp.Stats()
	require.True(t, st.Warning, "900 of 1000 bytes is past 80%%")
	require.Equal(t, 1, logs.count(slog.LevelWarn, "SPOOL FILLING UP"))

	_, err = sp.Put("a/refused", bytes.NewReader(payload(200, 9)), objstore.PutOptions{})
	require.ErrorIs(t, err, spool.ErrSpoolFull)
	require.Equal(t, int64(1), sp.Stats().FullRejections)

	// a Writer may use what is left, then is refused without losing what it has
	w, err := sp.Create("a/writer", objstore.PutOptions{})
	require.NoError(t, err)
	last := payload(100, 3)
	_, err = w.Write(last)
	require.NoError(t, err)
	n, err := w.Write([]byte{1})
	require.ErrorIs(t, err, spool.ErrSpoolFull)
	require.Zero(t, n)
	_, err = sp.Create("a/another", objstore.PutOptions{})
	require.ErrorIs(t, err, spool.ErrSpoolFull)
	_, err = w.Commit()
	require.NoError(t, err)
	accepted = append(accepted, last)

	st = sp.Stats()
	require.Equal(t, int64(3), st.FullRejections)
	require.Equal(t, 4, st.Pending)
	require.Equal(t, int64(maxBytes), st.UsedBytes)
	require.Equal(t, 1, logs.count(slog.LevelError, "spool full"), "one loud log per full period, every refusal counted")
	waitFor(t, 5*time.Second, "failed attempts", func() bool { return sp.Stats().Failures >= 3 })
	require.NotEmpty(t, sp.Stats().LastError)
	require.Equal(t, 1, logs.count(slog.LevelWarn, "SPOOL FILLING UP"), "warned once per crossing")

	// the store comes back (a new Spool on the same directory, as after a restart)
	stop()
	var col collector
	sp, err = spool.New(spool.Config{Dir: dir, MaxBytes: maxBytes, OnUploaded: col.add, Log: log}, store)
	require.NoError(t, err)
	require.Equal(t, 4, sp.Stats().Pending)
	require.Equal(t, 2, logs.count(slog.LevelWarn, "SPOOL FILLING UP"), "a spool that starts full says so")
	stop = startRun(t, sp)
	waitFor(t, 10*time.Second, "uploads", drained(sp))
	for i, data := range accepted[:3] {
		requireObject(t, store, fmt.Sprintf("a/%d", i), data)
	}
	requireObject(t, store, "a/writer", last)
	_, err = store.Stat(ctxT(t), "a/refused")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	st = sp.Stats()
	require.False(t, st.Warning)
	require.Zero(t, st.UsedBytes)

	// filling again (uploads paused) warns again
	stop()
	for i := range 3 {
		_, err := sp.Put(fmt.Sprintf("b/%d", i), bytes.NewReader(payload(300, uint64(i))), objstore.PutOptions{})
		require.NoError(t, err)
	}
	require.Equal(t, 3, logs.count(slog.LevelWarn, "SPOOL FILLING UP"))
	startRun(t, sp)
	waitFor(t, 10*time.Second, "uploads", drained(sp))
}

// TestCancelLeavesQueued cancels Run during an upload: the entry stays
// queued, is not counted as a failure, and goes up on the next Run.
func TestCancelLeavesQueued(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	gate := &gateStore{Store: newLocalStore(t), started: make(chan string, 1)}
	gate.block.Store(true)
	sp, err := spool.New(spool.Config{Dir: dir}, gate)
	require.NoError(t, err)
	stop := startRun(t, sp)
	data := payload(4000, 1)
	_, err = sp.Put("cam/seg.mp4", bytes.NewReader(data), objstore.PutOptions{})
	require.NoError(t, err)
	select {
	case key := <-gate.started:
		require.Equal(t, "cam/seg.mp4", key)
	case <-time.After(10 * time.Second):
		t.Fatal("upload did not start")
	}
	require.ErrorIs(t, sp.Run(context.Background()), spool.ErrRunning)
	stop()
	st := sp.Stats()
	require.Equal(t, 1, st.Pending)
	require.Zero(t, st.Failures)
	require.Len(t, filesWithSuffix(t, dir, ".json"), 1)

	gate.block.Store(false)
	startRun(t, sp) // Run again on the same Spool
	waitFor(t, 10*time.Second, "upload", drained(sp))
	requireObject(t, gate.Store, "cam/seg.mp4", data)
	require.Empty(t, dirFiles(t, dir))
}

// TestWrongSHA256 uses a store that keeps altered bytes: the upload is not
// taken as done, the mismatch is logged and retried until the store holds
// the right bytes.
func TestWrongSHA256(t *testing.T) {
	checkGoroutines(t)
	log, logs := newLog(t)
	store := &corruptingStore{Store: newLocalStore(t), bad: 2}
	var col collector
	sp, err := spool.New(spool.Config{Dir: t.TempDir(), RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond, OnUploaded: col.add, Log: log}, store)
	require.NoError(t, err)
	startRun(t, sp)
	data := payload(10_000, 7)
	_, err = sp.Put("evidence/clip.mp4", bytes.NewReader(data), objstore.PutOptions{})
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "upload", drained(sp))
	requireObject(t, store, "evidence/clip.mp4", data)
	st := sp.Stats()
	require.Equal(t, int64(2), st.Failures)
	require.Equal(t, int64(1), st.Uploaded)
	require.Contains(t, st.LastError, "store reports different content")
	require.Equal(t, 2, logs.count(slog.LevelError, "upload not verified"))
	require.Equal(t, []string{"evidence/clip.mp4"}, col.keys(), "reported once, when verified")
}

// TestInvalid refuses keys and options the store would refuse, up front.
func TestInvalid(t *testing.T) {
	sp, err := spool.New(spool.Config{Dir: t.TempDir()}, newLocalStore(t))
	require.NoError(t, err)
	for _, key := range []string{"", "/a", "a//b", "a/../b", "a\\b", "a\x00b"} {
		_, err := sp.Create(key, objstore.PutOptions{})
		require.ErrorIs(t, err, objstore.ErrInvalidKey, "%q", key)
		_, err = sp.Put(key, bytes.NewReader(nil), objstore.PutOptions{})
		require.ErrorIs(t, err, objstore.ErrInvalidKey, "%q", key)
	}
	for _, opts := range []objstore.PutOptions{
		{ContentType: "vidéo/mp4"},
		{Metadata: map[string]string{"sha256": "x"}},
		{Metadata: map[string]string{"a_b": "x"}},
		{Metadata: map[string]string{"a": " x"}},
		{Metadata: map[string]string{"A": "x", "a": "y"}},
		{Metadata: map[string]string{"a": strings.Repeat("x", 2000)}},
	} {
		_, err := sp.Create("k", opts)
		require.ErrorIs(t, err, objstore.ErrInvalidMetadata, "%+v", opts)
	}
	require.Zero(t, sp.Stats().Writing)
	_, err = spool.New(spool.Config{}, newLocalStore(t))
	require.Error(t, err)
}

// TestQuarantine damages a spooled file: it is set aside, loudly, never
// uploaded, and the rest of the queue goes on.
func TestQuarantine(t *testing.T) {
	checkGoroutines(t)
	log, logs := newLog(t)
	dir := t.TempDir()
	store := newLocalStore(t)
	sp, err := spool.New(spool.Config{Dir: dir, Log: log}, store)
	require.NoError(t, err)
	_, err = sp.Put("bad", bytes.NewReader(payload(500, 1)), objstore.PutOptions{})
	require.NoError(t, err)
	good := payload(500, 2)
	_, err = sp.Put("good", bytes.NewReader(good), objstore.PutOptions{})
	require.NoError(t, err)
	segs := filesWithSuffix(t, dir, ".seg")
	slices.Sort(segs)
	require.Len(t, segs, 2)
	f, err := os.OpenFile(filepath.Join(dir, segs[0]), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff, 0xfe}, 10)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	startRun(t, sp)
	waitFor(t, 10*time.Second, "queue", drained(sp))
	requireObject(t, store, "good", good)
	_, err = store.Stat(ctxT(t), "bad")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	st := sp.Stats()
	require.Equal(t, 1, st.Quarantined)
	require.Equal(t, int64(500), st.QuarantinedBytes)
	require.Equal(t, int64(500), st.UsedBytes, "quarantined bytes still take room")
	require.Len(t, filesWithSuffix(t, dir, ".corrupt"), 2)
	require.Equal(t, 1, logs.count(slog.LevelError, "quarantined"))

	// a restart keeps them set aside and counted
	sp2, err := spool.New(spool.Config{Dir: dir, Log: log}, store)
	require.NoError(t, err)
	require.Equal(t, 1, sp2.Stats().Quarantined)
	require.Zero(t, sp2.Stats().Pending)
}

// TestCrashAbandoned abandons a Spool the way kill -9 would: entries
// queued, a Writer half-written, and files of a commit and of an upload
// cut short. A new Spool on the directory uploads the queued entries and
// removes the rest.
func TestCrashAbandoned(t *testing.T) {
	checkGoroutines(t)
	log, _ := newLog(t)
	dir := t.TempDir()
	var down downStore
	sp1, err := spool.New(spool.Config{Dir: dir, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Log: log}, &down)
	require.NoError(t, err)
	stop1 := startRun(t, sp1)
	want := map[string][]byte{}
	for i := range 5 {
		key := fmt.Sprintf("cam-%d/seg-1.mp4", i)
		want[key] = payload(2000+i, uint64(i))
		_, err := sp1.Put(key, bytes.NewReader(want[key]), objstore.PutOptions{ContentType: "video/mp4"})
		require.NoError(t, err)
	}
	half, err := sp1.Create("cam-9/in-progress.mp4", objstore.PutOptions{})
	require.NoError(t, err)
	_, err = half.Write(payload(200_000, 99)) // more than the write buffer
	require.NoError(t, err)
	waitFor(t, 5*time.Second, "failed attempts", func() bool { return down.calls.Load() > 0 })
	stop1()
	// what a crash inside Commit or inside a finished upload leaves
	const id = "00000000000000000001-00000000000000aa"
	require.NoError(t, os.WriteFile(filepath.Join(dir, id+".seg"), []byte("data without sidecar"), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, id+".json.tmp"), []byte(`{"v":1,"ke`), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "unrelated.txt"), []byte("not ours"), 0o640))
	require.Len(t, filesWithSuffix(t, dir, ".part"), 1)

	store := &gateStore{Store: newLocalStore(t)}
	var col collector
	sp2, err := spool.New(spool.Config{Dir: dir, OnUploaded: col.add, Log: log}, store)
	require.NoError(t, err)
	require.Empty(t, filesWithSuffix(t, dir, ".part"), "the half-written one is removed")
	require.Empty(t, filesWithSuffix(t, dir, ".tmp"))
	require.NoFileExists(t, filepath.Join(dir, id+".seg"))
	st := sp2.Stats()
	require.Equal(t, 5, st.Pending)
	require.Zero(t, st.Writing)
	startRun(t, sp2)
	waitFor(t, 10*time.Second, "uploads", drained(sp2))
	for key, data := range want {
		info := requireObject(t, store, key, data)
		require.Equal(t, "video/mp4", info.ContentType)
	}
	require.Len(t, col.keys(), 5)
	_, err = store.Stat(ctxT(t), "cam-9/in-progress.mp4")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	require.Equal(t, []string{"unrelated.txt"}, dirFiles(t, dir), "foreign files are left alone")

	// the abandoned Writer can still be let go of
	require.NoError(t, half.Abort())
}

// TestRecoveredAlreadyUploaded restores an entry's files after its upload,
// as a crash between the upload and the removal would leave them: the new
// Spool sees the object in the store (Stat), does not store it again, and
// reports it again.
func TestRecoveredAlreadyUploaded(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	store := &gateStore{Store: newLocalStore(t)}
	sp, err := spool.New(spool.Config{Dir: dir}, store)
	require.NoError(t, err)
	data := payload(3000, 5)
	_, err = sp.Put("k", bytes.NewReader(data), objstore.PutOptions{})
	require.NoError(t, err)
	saved := map[string][]byte{}
	for _, n := range dirFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		saved[n] = b
	}
	stop := startRun(t, sp)
	waitFor(t, 10*time.Second, "upload", drained(sp))
	stop()
	require.Equal(t, int64(1), store.puts.Load())
	for n, b := range saved {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), b, 0o640))
	}

	var col collector
	sp2, err := spool.New(spool.Config{Dir: dir, OnUploaded: col.add}, store)
	require.NoError(t, err)
	startRun(t, sp2)
	waitFor(t, 10*time.Second, "upload", drained(sp2))
	require.Equal(t, int64(1), store.puts.Load(), "not put again")
	require.Equal(t, int64(1), store.stats.Load())
	require.Equal(t, []string{"k"}, col.keys())
	require.Empty(t, dirFiles(t, dir))
}

// failingReader returns some bytes, then an error.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("camera went away")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

// TestPutReadError: a source that fails spools nothing.
func TestPutReadError(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.New(spool.Config{Dir: dir}, newLocalStore(t))
	require.NoError(t, err)
	_, err = sp.Put("k", &failingReader{n: 100_000}, objstore.PutOptions{})
	require.ErrorContains(t, err, "camera went away")
	require.ErrorContains(t, err, "put k")
	st := sp.Stats()
	require.Zero(t, st.Pending)
	require.Zero(t, st.Writing)
	require.Zero(t, st.UsedBytes)
	require.Empty(t, dirFiles(t, dir))
}

// TestIndexFailureRetries: when OnUploaded fails (the index is down) the
// entry stays spooled and is indexed on a later attempt without being
// uploaded twice; the entry carries its content type and metadata.
func TestIndexFailureRetries(t *testing.T) {
	checkGoroutines(t)
	store := newLocalStore(t)
	col := collector{failNext: 3}
	sp, err := spool.New(spool.Config{Dir: t.TempDir(), RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
		OnUploaded: col.add}, store)
	require.NoError(t, err)
	data := payload(3000, 7)
	_, err = sp.Put("rec/a.mp4", bytes.NewReader(data), objstore.PutOptions{ContentType: "video/mp4",
		Metadata: map[string]string{"camera": "c1"}})
	require.NoError(t, err)
	startRun(t, sp)
	waitFor(t, 10*time.Second, "indexed upload", drained(sp))
	col.mu.Lock()
	defer col.mu.Unlock()
	require.Equal(t, 3, col.failed)
	require.Len(t, col.entries, 1)
	require.Equal(t, "video/mp4", col.entries[0].ContentType)
	require.Equal(t, "c1", col.entries[0].Metadata["camera"])
	requireObject(t, store, "rec/a.mp4", data)
	require.GreaterOrEqual(t, sp.Stats().Failures, int64(3))
}

// TestPatchedUnbuffered: an unbuffered writer whose header is patched at
// the end (WriteAt) commits the patched bytes with their SHA-256, and the
// store gets exactly them; patching past what was written is refused.
func TestPatchedUnbuffered(t *testing.T) {
	store := newLocalStore(t)
	log, _ := newLog(t)
	var col collector
	sp, err := spool.New(spool.Config{Dir: filepath.Join(t.TempDir(), "spool"), RetryMin: 10 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, OnUploaded: col.add, Log: log}, store)
	require.NoError(t, err)
	stop := startRun(t, sp)
	defer stop()

	w, err := sp.Create("calls/abc/part-001.wav", objstore.PutOptions{ContentType: "audio/wav"}, spool.Unbuffered())
	require.NoError(t, err)
	header := []byte("HDR:len=????")
	_, err = w.Write(header)
	require.NoError(t, err)
	body := payload(50_000, 7)
	for chunk := range slices.Chunk(body, 8000) {
		_, err := w.Write(chunk)
		require.NoError(t, err)
	}
	require.Error(t, w.WriteAt([]byte("x"), w.Size()), "only what was written can be patched")
	require.NoError(t, w.WriteAt([]byte("0042"), 8))
	e, err := w.Commit()
	require.NoError(t, err)
	want := append([]byte("HDR:len=0042"), body...)
	require.Equal(t, sha(want), e.SHA256, "the sidecar's hash is of the patched bytes")
	require.ErrorIs(t, w.WriteAt([]byte("x"), 0), spool.ErrWriterClosed)
	waitFor(t, 10*time.Second, "upload", func() bool { return sp.Stats().Uploaded == 1 })
	requireObject(t, store, "calls/abc/part-001.wav", want)
}

// switchStore is a store that can be taken down: while down is set, Put,
// Stat and (unless pingUp) Ping fail as an unreachable store does.
type switchStore struct {
	objstore.Store
	down, pingUp atomic.Bool
	puts         atomic.Int64
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:9: connect: connection refused")

func (s *switchStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error) {
	s.puts.Add(1)
	if s.down.Load() {
		return objstore.ObjectInfo{}, errUnreachable
	}
	return s.Store.Put(ctx, key, r, size, opts)
}

func (s *switchStore) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if s.down.Load() {
		return objstore.ObjectInfo{}, errUnreachable
	}
	return s.Store.Stat(ctx, key)
}

func (s *switchStore) Ping(ctx context.Context) error {
	if s.down.Load() && !s.pingUp.Load() {
		return errUnreachable
	}
	return s.Store.Ping(ctx)
}

// TestStoreBackRetriesAtOnce: entries waiting out a long backoff go up as
// soon as a probe finds the store back, not a backoff later.
func TestStoreBackRetriesAtOnce(t *testing.T) {
	checkGoroutines(t)
	store := &switchStore{Store: newLocalStore(t)}
	store.down.Store(true)
	log, logs := newLog(t)
	// a backoff far longer than this test waits: only the probe can
	// bring the entries up in time
	sp, err := spool.New(spool.Config{Dir: t.TempDir(), RetryMin: 5 * time.Minute, RetryMax: 5 * time.Minute,
		ProbeEvery: 20 * time.Millisecond, Log: log}, store)
	require.NoError(t, err)
	want := map[string][]byte{}
	for i := range 5 {
		key := fmt.Sprintf("rec/%d.mp4", i)
		want[key] = payload(2000+i, uint64(i))
		_, err := sp.Put(key, bytes.NewReader(want[key]), objstore.PutOptions{ContentType: "video/mp4"})
		require.NoError(t, err)
	}
	startRun(t, sp)
	waitFor(t, 10*time.Second, "failed uploads", func() bool { return sp.Stats().Failures >= 2 })
	require.Equal(t, 5, sp.Stats().Pending)

	store.down.Store(false)
	waitFor(t, 10*time.Second, "the spool to drain once the store is back", drained(sp))
	for key, data := range want {
		requireObject(t, store, key, data)
	}
	require.Equal(t, 1, logs.count(slog.LevelInfo, "the object store answers again"))
}

// TestStoreBackOncePerOutage: a store that answers pings but refuses
// uploads gets one early retry, then the usual backoff — the probe does
// not turn the backoff into a retry every ProbeEvery.
func TestStoreBackOncePerOutage(t *testing.T) {
	checkGoroutines(t)
	store := &switchStore{Store: newLocalStore(t)}
	store.down.Store(true)
	store.pingUp.Store(true)
	sp, err := spool.New(spool.Config{Dir: t.TempDir(), Workers: 1, RetryMin: 5 * time.Minute, RetryMax: 5 * time.Minute,
		ProbeEvery: 10 * time.Millisecond}, store)
	require.NoError(t, err)
	_, err = sp.Put("rec/a.mp4", bytes.NewReader(payload(1000, 1)), objstore.PutOptions{})
	require.NoError(t, err)
	startRun(t, sp)
	waitFor(t, 10*time.Second, "the early retry", func() bool { return store.puts.Load() >= 2 })
	// fifty probe periods: a probe that reset the backoff each time would
	// have retried fifty times
	time.Sleep(500 * time.Millisecond)
	require.EqualValues(t, 2, store.puts.Load(), "the first attempt and one early retry")
	require.Equal(t, 1, sp.Stats().Pending)
}
