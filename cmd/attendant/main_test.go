package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// buildBinary compiles attendant once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "attendant-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "attendant")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// server is a running attendant process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	bin, err := buildBinary()
	require.NoError(t, err)
	addr := freeAddr(t)
	s := &server{url: "http://" + addr, stderr: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"serve", "--http", addr, "--sip", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = s.stderr
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("server exited early: %v\n%s", err, s.stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "server not ready in time:\n%s", s.stderr.String())
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop(t *testing.T) {
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.done:
		require.NoError(t, err, "clean shutdown exits 0")
		s.done <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
}

func call(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	}
	return res.StatusCode, m
}

// contractFlow is what outside checks do, against any configuration.
func contractFlow(t *testing.T, s *server, adminPassword string) {
	code, _ := call(t, "POST", s.url+"/api/v1/login", "", map[string]any{"username": "admin", "password": "wrong"})
	require.Equal(t, 401, code)
	code, login := call(t, "POST", s.url+"/api/v1/login", "", map[string]any{"username": "admin", "password": adminPassword})
	require.Equal(t, 200, code)
	token := login["token"].(string)

	code, site := call(t, "POST", s.url+"/api/v1/sites", token, map[string]any{"name": "North lot", "kind": "parking"})
	require.Equal(t, 201, code)
	siteID := site["id"].(string)
	code, dev := call(t, "POST", s.url+"/api/v1/devices", token, map[string]any{"name": "North exit", "site_id": siteID, "sip_username": "gate1", "sip_password": "gate-secret-1"})
	require.Equal(t, 201, code)
	require.NotContains(t, fmt.Sprint(dev), "gate-secret-1")
	code, _ = call(t, "POST", s.url+"/api/v1/users", token, map[string]any{"username": "amy", "password": "amy-password", "role": "agent", "display_name": "Amy"})
	require.Equal(t, 201, code)

	code, list := call(t, "GET", s.url+"/api/v1/devices", token, nil)
	require.Equal(t, 200, code)
	require.Len(t, list["items"], 1)
	require.Contains(t, list, "next")
	code, _ = call(t, "GET", s.url+"/api/v1/devices/"+dev["id"].(string), token, nil)
	require.Equal(t, 200, code)
	code, _ = call(t, "GET", s.url+"/api/v1/sites", "", nil)
	require.Equal(t, 401, code)
	_, agent := call(t, "POST", s.url+"/api/v1/login", "", map[string]any{"username": "amy", "password": "amy-password"})
	code, _ = call(t, "POST", s.url+"/api/v1/users", agent["token"].(string), map[string]any{"username": "x", "password": "password-x", "role": "admin"})
	require.Equal(t, 403, code)
	code, e := call(t, "POST", s.url+"/api/v1/sites", token, map[string]any{"name": "x"})
	require.Equal(t, 400, code)
	require.Contains(t, e["error"], "code")
}

func TestServeEmbeddedDefaults(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, nil, "--data", data)
	// No ATTENDANT_ADMIN_PASSWORD: one is generated and printed once.
	m := regexp.MustCompile(`log in as admin with password (\S+)`).FindStringSubmatch(s.stderr.String())
	require.Len(t, m, 2, "generated password printed:\n%s", s.stderr.String())
	contractFlow(t, s, m[1])
	res, err := http.Get(s.url + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, strings.ToLower(string(page)), "<html")
	s.stop(t)
	require.FileExists(t, filepath.Join(data, "attendant.db"))
	// Restarted on the same data, the password is not printed again.
	s2 := startServer(t, nil, "--data", data)
	require.NotContains(t, s2.stderr.String(), "log in as admin with password")
	s2.stop(t)
}

func TestServePostgresAndS3(t *testing.T) {
	pg := testenv.Postgres(t)
	minio := testenv.MinIO(t)
	s := startServer(t, []string{"ATTENDANT_ADMIN_PASSWORD=admin-pass-123", "ATTENDANT_LOG_FORMAT=json"},
		"--data", t.TempDir(), "--db", pg, "--store", minio.URL("attendant-test"))
	contractFlow(t, s, "admin-pass-123")
	// JSON logs, and no secret in them.
	sc := bufio.NewScanner(strings.NewReader(s.stderr.String()))
	lines := 0
	for sc.Scan() {
		var entry map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &entry), "log line is JSON: %s", sc.Text())
		lines++
	}
	require.Positive(t, lines)
	for _, secret := range []string{"admin-pass-123", "gate-secret-1", minio.SecretKey} {
		require.NotContains(t, s.stderr.String(), secret)
	}
	// Storage going away makes the server unready, not dead.
	minio.Stop(t)
	code, body := call(t, "GET", s.url+"/readyz", "", nil)
	require.Equal(t, 503, code)
	require.Equal(t, "unreachable", body["checks"].(map[string]any)["store"])
	minio.Start(t)
	require.Eventually(t, func() bool {
		code, _ := call(t, "GET", s.url+"/readyz", "", nil)
		return code == 200
	}, 20*time.Second, 200*time.Millisecond)
	s.stop(t)
}

func TestVersionAndHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"version"}, &out, &errOut))
	require.NotEmpty(t, strings.TrimSpace(out.String()))
	out.Reset()
	require.Equal(t, 0, run([]string{"help"}, &out, &errOut))
	require.Contains(t, out.String(), "attendant serve")
	require.Equal(t, 2, run([]string{"frobnicate"}, &out, &errOut))
	require.Equal(t, 2, run(nil, &out, &errOut))
}
