package spool_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder/spool"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// checkGoroutines fails the test when it leaves goroutines behind.
func checkGoroutines(t *testing.T) {
	t.Helper()
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

// logBuf collects a logger's lines; it is printed when the test fails.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many lines are at level and contain msg.
func (l *logBuf) count(level slog.Level, msg string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, "level="+level.String()+" ") && strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

func newLog(t *testing.T) (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("spool log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// collector records OnUploaded calls.
type collector struct {
	mu      sync.Mutex
	entries []spool.Entry
	infos   []objstore.ObjectInfo
	// failNext makes the next calls fail, as an index that is down would.
	failNext int
	failed   int
}

func (c *collector) add(e spool.Entry, info objstore.ObjectInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failNext > 0 {
		c.failNext--
		c.failed++
		return errors.New("index unavailable")
	}
	c.entries = append(c.entries, e)
	c.infos = append(c.infos, info)
	return nil
}

func (c *collector) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, len(c.entries))
	for i, e := range c.entries {
		keys[i] = e.Key
	}
	return keys
}

// startRun runs the spool until the returned stop is called (or the test
// ends) and checks that Run returns nil promptly.
func startRun(t *testing.T, s *spool.Spool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func drained(s *spool.Spool) func() bool {
	return func() bool { return s.Stats().Pending == 0 }
}

// requireObject checks that the store holds want under key.
func requireObject(t *testing.T, store objstore.Store, key string, want []byte) objstore.ObjectInfo {
	t.Helper()
	r, info, err := store.Get(ctxT(t), key, nil)
	require.NoError(t, err, key)
	got, err := io.ReadAll(r)
	require.NoError(t, r.Close())
	require.NoError(t, err, key)
	require.Equal(t, len(want), len(got), "size of %s", key)
	require.Equal(t, sha(want), sha(got), "content of %s", key)
	require.Equal(t, sha(want), info.SHA256, "sha256 the store records for %s", key)
	return info
}

func newLocalStore(t *testing.T) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	return s
}
