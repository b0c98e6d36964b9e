package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/objstore"
)

// newStore returns an empty store for one subtest.
type newStore func(t *testing.T) objstore.Store

// runConformance runs the behaviour every Store must share.
func runConformance(t *testing.T, open newStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s objstore.Store)
	}{
		{"PutGetRoundTrip", testPutGetRoundTrip},
		{"MetadataRoundTrip", testMetadataRoundTrip},
		{"InvalidMetadata", testInvalidMetadata},
		{"Overwrite", testOverwrite},
		{"Range", testRange},
		{"NotFound", testNotFound},
		{"InvalidKey", testInvalidKey},
		{"SizeMismatch", testSizeMismatch},
		{"List", testList},
		{"Delete", testDelete},
		{"ConcurrentPuts", testConcurrentPuts},
		{"CancelledPut", testCancelledPut},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { assert.NoError(t, s.Close()) })
			tt.run(t, s)
		})
	}
}

// ctxT is a context for one call of a test. Not t.Context(): that one
// ends before the cleanups, which also call the store.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// streamOnly hides every method but Read, as a network stream would.
type streamOnly struct{ r io.Reader }

func (s streamOnly) Read(p []byte) (int, error) { return s.r.Read(p) }

func readAll(t *testing.T, s objstore.Store, key string, rng *objstore.Range) ([]byte, objstore.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(ctxT(t), key, rng)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b, info
}

func put(t *testing.T, s objstore.Store, key string, data []byte, opts objstore.PutOptions) objstore.ObjectInfo {
	t.Helper()
	info, err := s.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)), opts)
	require.NoError(t, err)
	return info
}

func testPutGetRoundTrip(t *testing.T, s objstore.Store) {
	sizes := []int{0, 1, 1000, 1<<20 + 3, 11 << 20}
	if testing.Short() {
		sizes = sizes[:4]
	}
	for _, size := range sizes {
		for _, seekable := range []bool{true, false} {
			t.Run(fmt.Sprintf("size=%d/seekable=%v", size, seekable), func(t *testing.T) {
				data := payload(size, uint64(size))
				key := fmt.Sprintf("clips/cam-1/%d-%v.bin", size, seekable)
				var r io.Reader = bytes.NewReader(data)
				if !seekable {
					r = streamOnly{r}
				}
				before := time.Now().Add(-2 * time.Second)
				info, err := s.Put(ctxT(t), key, r, int64(size), objstore.PutOptions{})
				require.NoError(t, err)
				assert.Equal(t, key, info.Key)
				assert.Equal(t, int64(size), info.Size)
				assert.Equal(t, sha(data), info.SHA256)
				assert.Equal(t, "application/octet-stream", info.ContentType)
				assert.WithinRange(t, info.ModTime, before, time.Now().Add(2*time.Second))

				got, ginfo := readAll(t, s, key, nil)
				assert.True(t, bytes.Equal(data, got), "content differs")
				st, err := s.Stat(ctxT(t), key)
				require.NoError(t, err)
				for _, i := range []objstore.ObjectInfo{ginfo, st} {
					assert.Equal(t, key, i.Key)
					assert.Equal(t, int64(size), i.Size)
					assert.Equal(t, sha(data), i.SHA256)
					assert.Equal(t, "application/octet-stream", i.ContentType)
					assert.WithinRange(t, i.ModTime, before, time.Now().Add(2*time.Second))
				}
			})
		}
	}
}

func testMetadataRoundTrip(t *testing.T, s objstore.Store) {
	data := []byte("RIFF....WAVEfmt ")
	in := map[string]string{"Call-ID": "a84b4c76e66710@pc33", "camera": "front door", "duration-ms": "1234"}
	want := map[string]string{"call-id": "a84b4c76e66710@pc33", "camera": "front door", "duration-ms": "1234"}
	info := put(t, s, "calls/2026/01/02/call.wav", data, objstore.PutOptions{ContentType: "audio/wav", Metadata: in})
	assert.Equal(t, want, info.Metadata)
	assert.Equal(t, "audio/wav", info.ContentType)
	in["camera"] = "changed after Put"

	st, err := s.Stat(ctxT(t), "calls/2026/01/02/call.wav")
	require.NoError(t, err)
	assert.Equal(t, want, st.Metadata)
	assert.Equal(t, "audio/wav", st.ContentType)
	assert.Equal(t, sha(data), st.SHA256)

	_, g := readAll(t, s, "calls/2026/01/02/call.wav", nil)
	assert.Equal(t, want, g.Metadata)
	assert.Equal(t, "audio/wav", g.ContentType)

	// without metadata, none comes back
	put(t, s, "plain", data, objstore.PutOptions{})
	st, err = s.Stat(ctxT(t), "plain")
	require.NoError(t, err)
	assert.Nil(t, st.Metadata)
}

func testInvalidMetadata(t *testing.T, s objstore.Store) {
	cases := map[string]objstore.PutOptions{
		"reserved key":      {Metadata: map[string]string{"sha256": "x"}},
		"underscore":        {Metadata: map[string]string{"a_b": "x"}},
		"space in key":      {Metadata: map[string]string{"a b": "x"}},
		"empty key":         {Metadata: map[string]string{"": "x"}},
		"newline in value":  {Metadata: map[string]string{"a": "x\r\nInjected: 1"}},
		"non-ASCII value":   {Metadata: map[string]string{"a": "café"}},
		"padded value":      {Metadata: map[string]string{"a": " x"}},
		"duplicate by case": {Metadata: map[string]string{"a": "1", "A": "2"}},
		"too large":         {Metadata: map[string]string{"a": strings.Repeat("x", 2000)}},
		"bad content type":  {ContentType: "text/plain\r\nX: y"},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.Put(ctxT(t), "k", strings.NewReader("x"), 1, opts)
			require.ErrorIs(t, err, objstore.ErrInvalidMetadata)
			_, err = s.Stat(ctxT(t), "k")
			require.ErrorIs(t, err, objstore.ErrNotFound)
		})
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	put(t, s, "snap.jpg", []byte("first version"), objstore.PutOptions{ContentType: "image/jpeg", Metadata: map[string]string{"v": "1"}})
	second := []byte("second, longer version")
	put(t, s, "snap.jpg", second, objstore.PutOptions{ContentType: "image/png"})
	got, info := readAll(t, s, "snap.jpg", nil)
	assert.Equal(t, second, got)
	assert.Equal(t, sha(second), info.SHA256)
	assert.Equal(t, "image/png", info.ContentType)
	assert.Nil(t, info.Metadata)
}

func testRange(t *testing.T, s objstore.Store) {
	data := payload(1000, 7)
	put(t, s, "r", data, objstore.PutOptions{})
	put(t, s, "empty", nil, objstore.PutOptions{})
	ok := []struct {
		rng  objstore.Range
		want []byte
	}{
		{objstore.Range{Offset: 0, Length: 1}, data[:1]},
		{objstore.Range{Offset: 3, Length: 4}, data[3:7]},
		{objstore.Range{Offset: 10, Length: -1}, data[10:]},
		{objstore.Range{Offset: 0, Length: -1}, data},
		{objstore.Range{Offset: 999, Length: -1}, data[999:]},
		{objstore.Range{Offset: 990, Length: 100}, data[990:]}, // cut short
		{objstore.Range{Offset: 0, Length: 5000}, data},
	}
	for _, c := range ok {
		t.Run(fmt.Sprintf("%d+%d", c.rng.Offset, c.rng.Length), func(t *testing.T) {
			rng := c.rng
			got, info := readAll(t, s, "r", &rng)
			assert.Equal(t, c.want, got)
			assert.Equal(t, int64(len(data)), info.Size, "info describes the whole object")
			assert.Equal(t, sha(data), info.SHA256)
		})
	}
	got, _ := readAll(t, s, "empty", &objstore.Range{Offset: 0, Length: -1})
	assert.Empty(t, got)

	bad := []objstore.Range{{Offset: 1000, Length: 1}, {Offset: 1000, Length: -1}, {Offset: -1, Length: 1}, {Offset: 0, Length: 0}, {Offset: 5, Length: -2}}
	for _, rng := range bad {
		t.Run(fmt.Sprintf("bad %d+%d", rng.Offset, rng.Length), func(t *testing.T) {
			_, _, err := s.Get(ctxT(t), "r", &rng)
			require.ErrorIs(t, err, objstore.ErrInvalidRange)
		})
	}
	_, _, err := s.Get(ctxT(t), "empty", &objstore.Range{Offset: 0, Length: 1})
	require.ErrorIs(t, err, objstore.ErrInvalidRange)
}

func testNotFound(t *testing.T, s objstore.Store) {
	ctx := ctxT(t)
	put(t, s, "dir/present", []byte("x"), objstore.PutOptions{})
	for _, key := range []string{"missing", "dir", "dir/missing", "dir/present/below"} {
		_, err := s.Stat(ctx, key)
		require.ErrorIs(t, err, objstore.ErrNotFound, key)
		require.ErrorContains(t, err, key)
		_, _, err = s.Get(ctx, key, nil)
		require.ErrorIs(t, err, objstore.ErrNotFound, key)
		_, _, err = s.Get(ctx, key, &objstore.Range{Offset: 1, Length: 1})
		require.ErrorIs(t, err, objstore.ErrNotFound, key)
		require.NoError(t, s.Delete(ctx, key), "deleting a missing key is not an error")
	}
}

// invalidKeys are rejected by every method.
var invalidKeys = []string{
	"", "/abs", "trailing/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../etc/passwd",
	`a\b`, "a\x00b", "tab\there", "new\nline", "del\x7f", "c1\u0085", "bad\xffutf8",
	strings.Repeat("k", 1025),
}

func testInvalidKey(t *testing.T, s objstore.Store) {
	ctx := ctxT(t)
	for _, key := range invalidKeys {
		_, err := s.Put(ctx, key, strings.NewReader("x"), 1, objstore.PutOptions{})
		require.ErrorIs(t, err, objstore.ErrInvalidKey, "put %q", key)
		_, _, err = s.Get(ctx, key, nil)
		require.ErrorIs(t, err, objstore.ErrInvalidKey, "get %q", key)
		_, err = s.Stat(ctx, key)
		require.ErrorIs(t, err, objstore.ErrInvalidKey, "stat %q", key)
		require.ErrorIs(t, s.Delete(ctx, key), objstore.ErrInvalidKey, "delete %q", key)
		_, err = s.PresignGet(ctx, key, time.Minute)
		require.Error(t, err)
	}
	// the longest key is fine
	long := strings.Repeat("k", 200) + "/" + strings.Repeat("k", 200) + "/" + strings.Repeat("k", 200) + "/" + strings.Repeat("k", 200) + "/" + strings.Repeat("k", 220)
	require.Len(t, long, 1024)
	put(t, s, long, []byte("x"), objstore.PutOptions{})
	_, err := s.Stat(ctx, long)
	require.NoError(t, err)
}

func testSizeMismatch(t *testing.T, s objstore.Store) {
	ctx := ctxT(t)
	old := []byte("the old object")
	put(t, s, "existing", old, objstore.PutOptions{})
	for _, size := range []int{10, 2 << 20} {
		for _, seekable := range []bool{true, false} {
			for _, delta := range []int64{-1, +1, -int64(size)} {
				t.Run(fmt.Sprintf("size=%d/seekable=%v/delta=%d", size, seekable, delta), func(t *testing.T) {
					data := payload(size, 1)
					for _, key := range []string{"new", "existing"} {
						var r io.Reader = bytes.NewReader(data)
						if !seekable {
							r = streamOnly{r}
						}
						_, err := s.Put(ctx, key, r, int64(size)+delta, objstore.PutOptions{})
						require.ErrorIs(t, err, objstore.ErrSizeMismatch)
						require.ErrorContains(t, err, key)
					}
					_, err := s.Stat(ctx, "new")
					require.ErrorIs(t, err, objstore.ErrNotFound, "nothing is left behind")
					got, _ := readAll(t, s, "existing", nil)
					require.Equal(t, old, got, "a failed overwrite keeps the old object")
				})
			}
		}
	}
	_, err := s.Put(ctx, "neg", strings.NewReader(""), -1, objstore.PutOptions{})
	require.Error(t, err, "unknown sizes are refused")
}

func testList(t *testing.T, s objstore.Store) {
	ctx := ctxT(t)
	keys := []string{"b", "a/c/d", "a-b", "ab", "a/b", "a/c/e/f", "clips/2026-01-02/x.mp4", ".hidden/x", "a/.b", "a/..c"}
	for i, k := range keys {
		put(t, s, k, payload(i+1, uint64(i)), objstore.PutOptions{Metadata: map[string]string{"n": "1"}})
	}
	list := func(prefix string) []objstore.ObjectInfo {
		var out []objstore.ObjectInfo
		for info, err := range s.List(ctx, prefix) {
			require.NoError(t, err)
			out = append(out, info)
		}
		return out
	}
	keysOf := func(infos []objstore.ObjectInfo) []string {
		var out []string
		for _, i := range infos {
			out = append(out, i.Key)
		}
		return out
	}
	all := list("")
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	require.Equal(t, sorted, keysOf(all), "byte order of keys")
	for _, info := range all {
		i := slices.Index(keys, info.Key)
		assert.Equal(t, int64(i+1), info.Size, info.Key)
		assert.WithinDuration(t, time.Now(), info.ModTime, time.Minute)
	}
	for prefix, want := range map[string][]string{
		"a":             {"a-b", "a/..c", "a/.b", "a/b", "a/c/d", "a/c/e/f", "ab"},
		"a/":            {"a/..c", "a/.b", "a/b", "a/c/d", "a/c/e/f"},
		"a/c":           {"a/c/d", "a/c/e/f"},
		"a/c/":          {"a/c/d", "a/c/e/f"},
		"a/c/e/f":       {"a/c/e/f"},
		"clips/2026-01": {"clips/2026-01-02/x.mp4"},
		"b":             {"b"},
		"zzz":           nil,
		"a/zzz/":        nil,
		"../":           nil,
		".":             {".hidden/x"},
		"a/.":           {"a/..c", "a/.b"},
		"a/..":          {"a/..c"},
		"/":             nil,
	} {
		assert.Equal(t, want, keysOf(list(prefix)), "prefix %q", prefix)
	}

	// stopping early is fine
	n := 0
	for _, err := range s.List(ctx, "") {
		require.NoError(t, err)
		n++
		if n == 2 {
			break
		}
	}
	require.Equal(t, 2, n)
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := ctxT(t)
	put(t, s, "2026/01/02/a", []byte("a"), objstore.PutOptions{})
	put(t, s, "2026/01/02/b", []byte("b"), objstore.PutOptions{})
	require.NoError(t, s.Delete(ctx, "2026/01/02/a"))
	_, err := s.Stat(ctx, "2026/01/02/a")
	require.ErrorIs(t, err, objstore.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "2026/01/02/b"))
	for _, err := range s.List(ctx, "") {
		require.NoError(t, err)
		t.Fatal("List after deleting everything yielded an object")
	}
	// the emptied prefix can become an object
	put(t, s, "2026", []byte("now a file"), objstore.PutOptions{})
}

func testConcurrentPuts(t *testing.T, s objstore.Store) {
	ctx := ctxT(t)
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				data := payload(1000+w*each+i, uint64(w*100+i))
				key := fmt.Sprintf("w%d/%d", w, i)
				info, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
				if err == nil && info.SHA256 != sha(data) {
					err = fmt.Errorf("%s: sha256 %s, want %s", key, info.SHA256, sha(data))
				}
				errs <- err
				// everyone also writes one shared key
				shared := payload(500+w, uint64(w))
				_, err = s.Put(ctx, "shared", streamOnly{bytes.NewReader(shared)}, int64(len(shared)), objstore.PutOptions{Metadata: map[string]string{"writer": fmt.Sprint(w)}})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n := 0
	for _, err := range s.List(ctx, "w") {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, workers*each, n)
	// the shared key holds one whole version, described by its own info
	got, info := readAll(t, s, "shared", nil)
	assert.Equal(t, sha(got), info.SHA256)
	assert.Equal(t, int64(len(got)), info.Size)
	var w int
	_, err := fmt.Sscan(info.Metadata["writer"], &w)
	require.NoError(t, err)
	assert.Equal(t, payload(500+w, uint64(w)), got, "metadata and data come from the same Put")
}

// blockingReader never returns: Put must give up when its context ends.
type blockingReader struct{ ctx context.Context }

func (b blockingReader) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, errors.New("unblocked by test end")
}

func testCancelledPut(t *testing.T, s objstore.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	_, err := s.Put(ctx, "cancelled", strings.NewReader("data"), 4, objstore.PutOptions{})
	require.ErrorIs(t, err, context.Canceled)

	// a source that stalls mid-way: cancelled by the deadline
	ctx, cancel = context.WithTimeout(ctxT(t), 200*time.Millisecond)
	defer cancel()
	r := io.MultiReader(strings.NewReader("some bytes"), blockingReader{ctx})
	start := time.Now()
	_, err = s.Put(ctx, "stalled", r, 100, objstore.PutOptions{})
	require.Error(t, err)
	require.Less(t, time.Since(start), 10*time.Second)
	_, err = s.Stat(ctxT(t), "stalled")
	require.ErrorIs(t, err, objstore.ErrNotFound)
}

func testPing(t *testing.T, s objstore.Store) {
	require.NoError(t, s.Ping(ctxT(t)))
}
