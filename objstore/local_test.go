package objstore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// checkGoroutines fails the test if it leaves goroutines running.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines leaked: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestLocalConformance(t *testing.T) {
	checkGoroutines(t)
	runConformance(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewLocal(t.TempDir())
		require.NoError(t, err)
		return s
	})
}

func newLocal(t *testing.T) (*objstore.Local, string) {
	dir := t.TempDir()
	s, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	return s, dir
}

// files returns the regular files under dir, relative, with "/".
func files(t *testing.T, dir string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	}))
	return out
}

func TestLocalLayout(t *testing.T) {
	s, dir := newLocal(t)
	ctx := ctxT(t)
	put(t, s, "clips/a.mp4", []byte("video"), objstore.PutOptions{ContentType: "video/mp4"})
	_, err := s.Put(ctx, "clips/b.mp4", strings.NewReader("short"), 10, objstore.PutOptions{})
	require.ErrorIs(t, err, objstore.ErrSizeMismatch)

	// the object at its key, its sidecar apart, and no temporary files
	require.ElementsMatch(t, []string{"data/clips/a.mp4", "meta/clips/a.mp4"}, files(t, dir))
	b, err := os.ReadFile(filepath.Join(dir, "data", "clips", "a.mp4"))
	require.NoError(t, err)
	require.Equal(t, "video", string(b))

	// Delete removes both and the emptied directories
	require.NoError(t, s.Delete(ctx, "clips/a.mp4"))
	require.Empty(t, files(t, dir))
	for _, d := range []string{"data/clips", "meta/clips"} {
		_, err := os.Stat(filepath.Join(dir, d))
		require.ErrorIs(t, err, os.ErrNotExist, d)
	}
}

func TestLocalKeyConflicts(t *testing.T) {
	s, _ := newLocal(t)
	ctx := ctxT(t)
	put(t, s, "a", []byte("file"), objstore.PutOptions{})
	_, err := s.Put(ctx, "a/b", strings.NewReader("x"), 1, objstore.PutOptions{})
	require.ErrorContains(t, err, "a prefix of key")

	put(t, s, "x/y", []byte("file"), objstore.PutOptions{})
	_, err = s.Put(ctx, "x", strings.NewReader("x"), 1, objstore.PutOptions{})
	require.ErrorContains(t, err, "is a prefix of other keys")
	got, _ := readAll(t, s, "x/y", nil)
	require.Equal(t, "file", string(got))
}

func TestLocalRebuildsStaleSidecar(t *testing.T) {
	s, dir := newLocal(t)
	ctx := ctxT(t)
	put(t, s, "k", []byte("version one"), objstore.PutOptions{ContentType: "text/plain"})

	// a crash between the data rename and the sidecar rename of a second
	// Put: new data, old sidecar
	newData := []byte("version two, longer")
	tmp := filepath.Join(dir, "k.new")
	require.NoError(t, os.WriteFile(tmp, newData, 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "data", "k")))

	info, err := s.Stat(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, sha(newData), info.SHA256)
	require.Equal(t, int64(len(newData)), info.Size)
	got, ginfo := readAll(t, s, "k", nil)
	require.Equal(t, newData, got)
	require.Equal(t, sha(newData), ginfo.SHA256)

	// a missing sidecar is rebuilt too
	require.NoError(t, os.Remove(filepath.Join(dir, "meta", "k")))
	info, err = s.Stat(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, sha(newData), info.SHA256)
	_, err = os.Stat(filepath.Join(dir, "meta", "k"))
	require.NoError(t, err, "the sidecar was written back")
}

func TestLocalSweepsOldTempFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := objstore.NewLocal(dir)
	require.NoError(t, err)
	old := filepath.Join(dir, "tmp", "data-crashed")
	fresh := filepath.Join(dir, "tmp", "data-in-progress")
	for _, p := range []string{old, fresh} {
		require.NoError(t, os.WriteFile(p, []byte("partial"), 0o644))
	}
	long := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(old, long, long))

	_, err = objstore.NewLocal(dir)
	require.NoError(t, err)
	_, err = os.Stat(old)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(fresh)
	require.NoError(t, err, "a recent temporary file may belong to a running Put")
}

func TestLocalListIgnoresForeignFiles(t *testing.T) {
	s, dir := newLocal(t)
	put(t, s, "ok", []byte("x"), objstore.PutOptions{})
	// files no Put could have written
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "bad\\name"), nil, 0o644))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "data", "link")))
	var keys []string
	for info, err := range s.List(ctxT(t), "") {
		require.NoError(t, err)
		keys = append(keys, info.Key)
	}
	require.Equal(t, []string{"ok"}, keys)
}

func TestLocalPresignNotSupported(t *testing.T) {
	s, _ := newLocal(t)
	put(t, s, "k", []byte("x"), objstore.PutOptions{})
	_, err := s.PresignGet(ctxT(t), "k", time.Minute)
	require.ErrorIs(t, err, objstore.ErrNotSupported)
}

func TestLocalPingFailsWhenUnwritable(t *testing.T) {
	s, dir := newLocal(t)
	require.NoError(t, s.Ping(ctxT(t)))
	require.NoError(t, os.RemoveAll(dir))
	require.Error(t, s.Ping(ctxT(t)))
}

func TestLocalGetReaderStopsWithContext(t *testing.T) {
	s, _ := newLocal(t)
	put(t, s, "k", bytes.Repeat([]byte("x"), 100), objstore.PutOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rc, _, err := s.Get(ctx, "k", nil)
	require.NoError(t, err)
	defer rc.Close()
	buf := make([]byte, 10)
	_, err = rc.Read(buf)
	require.NoError(t, err)
	cancel()
	_, err = rc.Read(buf)
	require.Error(t, err)
}
