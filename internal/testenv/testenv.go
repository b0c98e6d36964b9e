// Package testenv starts real, throwaway servers (PostgreSQL, MinIO) for
// tests. Servers listen on 127.0.0.1 on free ports, keep their data in
// temporary directories and are stopped when the test (MinIO) or the test
// binary (PostgreSQL, shared per package) is done.
//
// A package that uses Postgres must stop the shared server from its
// TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// When a server's binary is missing the test is skipped, unless the
// environment variable CI is set: then it fails, because CI must have them.
package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// env is the package's one piece of shared state: Postgres(t) has only t to
// go on, yet every test of the package must reach the same server, and Main
// must be able to stop it. Everything per test lives in values owned by the
// test instead.
var env shared

type shared struct {
	mu sync.Mutex
	pg *pgServer // started lazily by the first Postgres call
	// pgErr remembers a failed start so that later tests fail fast instead
	// of trying (and waiting) again.
	pgErr error
}

// Main runs the package's tests and stops every server started through this
// package afterwards. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	sweepStaleDirs()
	code := m.Run()
	if err := env.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func (s *shared) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pg == nil {
		return nil
	}
	err := s.pg.close()
	s.pg = nil
	return err
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// port is closed again before it is returned, so another process may take
// it in between: callers that start servers retry on a bind failure.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LookTool returns the path of a tool a test runs (sipp, ffmpeg, ...): when
// it is not installed the test skips, or fails in CI, where make test has
// installed every tool.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not found (make test installs it)", name)
	}
	return path
}

// missing skips the test because a server binary is not installed, or fails
// it when running in CI, where every binary must be present.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("testenv: %s (CI is set, so this is an error; run scripts/test-deps.sh)", msg)
	}
	t.Skipf("testenv: %s; skipping (run scripts/test-deps.sh to install it)", msg)
}

// logTail returns the last n lines of the file at path, for failure reports.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log %s: %v)", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "(log is empty)"
	}
	return strings.Join(lines, "\n")
}

// reportOnFailure registers a cleanup that prints the tail of a server log
// when the test failed, so a failure shows what the server said.
func reportOnFailure(t testing.TB, what, logPath string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: last lines of the %s log (%s):\n%s", what, logPath, logTail(logPath, 40))
		}
	})
}
