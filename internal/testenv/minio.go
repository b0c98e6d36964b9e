package testenv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// minioStartTimeout bounds one start of MinIO (≈1.5 s on an idle machine).
const minioStartTimeout = 60 * time.Second

// MinIOServer is a MinIO server owned by one test.
type MinIOServer struct {
	// Endpoint is host:port, on 127.0.0.1, plain HTTP.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string

	bin         string
	dir         string // temporary root: data, certs, HOME, log
	logPath     string
	port        int
	consolePort int

	mu   sync.Mutex
	proc *process // nil while stopped
}

// MinIO starts a MinIO server on 127.0.0.1 with a fresh data directory and
// random root credentials, and waits until it serves requests. It is
// stopped, and its data removed, when the test ends.
//
// The binary is $ATTENDANT_MINIO, else minio on PATH, else
// $HOME/.cache/attendant/bin/minio (where scripts/test-deps.sh builds it).
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	bin, err := findMinIO()
	if err != nil {
		missing(t, "%v", err)
	}
	dir, err := makeTempDir("minio")
	if err != nil {
		t.Fatalf("testenv: minio: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, sub := range []string{"data", "certs", "home"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatalf("testenv: minio: %v", err)
		}
	}
	s := &MinIOServer{
		AccessKey: "test" + rand.Text()[:12],
		SecretKey: rand.Text(),
		bin:       bin,
		dir:       dir,
		logPath:   filepath.Join(dir, "minio.log"),
	}
	// registered after the directory's cleanup, so it runs before it
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	reportOnFailure(t, "minio", s.logPath)

	// the free port may be taken before MinIO binds it: try a few
	var lastErr error
	for range 3 {
		if s.port, err = freePort(); err == nil {
			s.consolePort, err = freePort()
		}
		if err != nil {
			t.Fatalf("testenv: minio: %v", err)
		}
		s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

// findMinIO returns the path of the minio binary.
func findMinIO() (string, error) {
	if p := os.Getenv("ATTENDANT_MINIO"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("minio: $ATTENDANT_MINIO=%s is not an executable file", p)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "attendant", "bin", "minio")
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", errors.New("minio: not found in $ATTENDANT_MINIO, PATH or ~/.cache/attendant/bin/minio")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// URL returns the server as an objstore URL for bucket:
// "s3+http://KEY:SECRET@127.0.0.1:PORT/bucket".
func (s *MinIOServer) URL(bucket string) string {
	u := url.URL{
		Scheme: "s3+http",
		User:   url.UserPassword(s.AccessKey, s.SecretKey),
		Host:   s.Endpoint,
		Path:   "/" + bucket,
	}
	return u.String()
}

// Client returns a minio-go client for the server, for checks a test makes
// behind the code under test's back.
func (s *MinIOServer) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := s.client()
	if err != nil {
		t.Fatalf("testenv: minio client: %v", err)
	}
	return c
}

func (s *MinIOServer) client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: false,
	})
}

// Stop stops the server and keeps its data, to test what happens during an
// outage. Start brings it back.
func (s *MinIOServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Start starts a stopped server again on the same port and data directory
// and waits until it serves requests.
func (s *MinIOServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func (s *MinIOServer) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop(syscall.SIGTERM, 10*time.Second)
	s.proc = nil
	if err != nil {
		return fmt.Errorf("stop minio: %w", err)
	}
	return nil
}

func (s *MinIOServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("minio: Start called while the server is running")
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("minio: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	proc, err := startProcess(procConfig{
		name: "minio",
		path: s.bin,
		args: []string{
			"server", filepath.Join(s.dir, "data"),
			"--address", s.Endpoint,
			"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.consolePort)),
			"--certs-dir", filepath.Join(s.dir, "certs"),
			"--quiet",
		},
		env: append(os.Environ(),
			"HOME="+filepath.Join(s.dir, "home"), // keep ~/.minio out of the real home
			"MINIO_ROOT_USER="+s.AccessKey,
			"MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			// a static KMS key, so server-side encryption (SSE-S3) works
			"MINIO_KMS_SECRET_KEY=attendant-test:"+testKMSKey,
		),
		dir: s.dir,
		log: logFile,
	})
	if err != nil {
		return fmt.Errorf("minio: %w", err)
	}
	if err := s.waitReady(proc); err != nil {
		_ = proc.stop(syscall.SIGKILL, 0)
		return fmt.Errorf("minio on %s: %w; log:\n%s", s.Endpoint, err, logTail(s.logPath, 20))
	}
	s.proc = proc
	return nil
}

// testKMSKey is a fixed 32-byte key (base64) for MinIO's static KMS: test
// data only.
const testKMSKey = "bXktbWluaW8ta2V5LWZvci10ZXN0cy1vbmx5LTMyYiE="

// waitReady polls ListBuckets until it succeeds.
func (s *MinIOServer) waitReady(proc *process) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), minioStartTimeout)
	defer cancel()
	for {
		tryCtx, tryCancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = c.ListBuckets(tryCtx)
		tryCancel()
		if err == nil {
			return nil
		}
		if proc.exited() {
			return fmt.Errorf("server exited during start (%v)", proc.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", minioStartTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
