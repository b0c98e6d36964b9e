package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// registers the "pgx" database/sql driver used to create and drop
	// databases on the shared server
	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgStartTimeout bounds initdb plus the server start; generous because CI
// machines have two cores busy compiling.
const pgStartTimeout = 90 * time.Second

// pgServer is the PostgreSQL server shared by one test package.
type pgServer struct {
	dir     string // temporary root: data directory and log
	logPath string
	port    int
	proc    *process
	admin   *sql.DB // connected to the "postgres" database

	mu  sync.Mutex // serialises CREATE DATABASE, which copies template1
	seq int
}

// Postgres returns the URL of a new, empty database on the PostgreSQL
// server shared by the test package, as
// postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable (the superuser
// "postgres", trust authentication). The server is started on first use
// (initdb into a temporary directory, tuned for tests: no fsync) and
// stopped by Main; the database is dropped when the test ends.
//
// The binaries are looked up in $ATTENDANT_PGBIN, /usr/lib/postgresql/*/bin
// (newest version first), then PATH.
func Postgres(t testing.TB) string {
	t.Helper()
	srv := env.postgres(t)
	reportOnFailure(t, "postgres", srv.logPath)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.mu.Lock()
	srv.seq++
	name := dbName(srv.seq, t.Name())
	_, err := srv.admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`)
	srv.mu.Unlock()
	if err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that leaks a connection must not keep its database.
		if _, err := srv.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return srv.url(name)
}

// dbName makes a database name from a sequence number and the test name:
// only [a-z0-9_], so it needs no quoting beyond the double quotes, and at
// most 63 bytes, PostgreSQL's limit.
func dbName(seq int, testName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", seq)
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 63 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (s *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// postgres returns the shared server, starting it on first use. It skips
// (or, in CI, fails) the test when PostgreSQL is not installed.
func (s *shared) postgres(t testing.TB) *pgServer {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pg != nil {
		return s.pg
	}
	if s.pgErr != nil {
		t.Fatalf("testenv: postgres failed to start earlier in this package: %v", s.pgErr)
	}
	bin, err := findPostgres()
	if err != nil {
		missing(t, "%v", err)
	}
	srv, err := startPostgres(bin)
	if err != nil {
		s.pgErr = err
		t.Fatalf("testenv: %v", err)
	}
	s.pg = srv
	return srv
}

// findPostgres returns the directory holding initdb and postgres.
func findPostgres() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("ATTENDANT_PGBIN"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("postgres: $ATTENDANT_PGBIN=%s has no initdb and postgres", dir)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// newest major version first: compare numerically, "9.6" < "15"
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("postgres: initdb and postgres not found in $ATTENDANT_PGBIN, /usr/lib/postgresql/*/bin or PATH")
}

// startPostgres runs initdb and starts the server, retrying on another port
// if the chosen one was taken in the meantime.
func startPostgres(bin string) (srv *pgServer, err error) {
	acc, err := serverAccount()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	dir, err := makeTempDir("pg")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := chownTree(dir, acc); err != nil {
		return nil, fmt.Errorf("postgres: give %s to the server user: %w", dir, err)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// the children hold their own copies of the descriptor
	defer logFile.Close()

	environ := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	dataDir := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), pgStartTimeout)
	defer cancel()

	initdb, err := startProcess(procConfig{
		name: "initdb",
		path: filepath.Join(bin, "initdb"),
		args: []string{"-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
		env:  environ, dir: dir, user: acc, log: logFile,
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	select {
	case <-initdb.done:
	case <-ctx.Done():
		_ = initdb.stop(syscall.SIGKILL, 0)
		return nil, fmt.Errorf("postgres: initdb still running after %s; log:\n%s", pgStartTimeout, logTail(logPath, 20))
	}
	if initdb.err != nil {
		return nil, fmt.Errorf("postgres: initdb: %v; log:\n%s", initdb.err, logTail(logPath, 20))
	}

	srv = &pgServer{dir: dir, logPath: logPath}
	var lastErr error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		srv.port = port
		proc, err := startProcess(procConfig{
			name: "postgres",
			path: filepath.Join(bin, "postgres"),
			args: []string{
				"-D", dataDir,
				"-c", "listen_addresses=127.0.0.1",
				"-c", "port=" + strconv.Itoa(port),
				"-c", "unix_socket_directories=", // TCP only, nothing outside dir
				"-c", "fsync=off", // throwaway data: durability costs only time
				"-c", "synchronous_commit=off",
				"-c", "full_page_writes=off",
				"-c", "max_connections=200",
				"-c", "shared_buffers=32MB",
				"-c", "log_min_messages=warning",
				"-c", "log_line_prefix=%m [%p] %d ",
			},
			env: environ, dir: dir, user: acc, log: logFile,
		})
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		srv.proc = proc
		if lastErr = srv.waitReady(ctx); lastErr == nil {
			return srv, nil
		}
		if srv.admin != nil {
			_ = srv.admin.Close()
			srv.admin = nil
		}
		_ = proc.stop(syscall.SIGKILL, 0)
	}
	return nil, fmt.Errorf("postgres: %w; log:\n%s", lastErr, logTail(logPath, 20))
}

// waitReady polls the server until it accepts a query.
func (s *pgServer) waitReady(ctx context.Context) error {
	db, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	s.admin = db
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(pingCtx)
		cancel()
		if err == nil {
			return nil
		}
		if s.proc.exited() {
			return fmt.Errorf("server exited during start (%v)", s.proc.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", pgStartTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close stops the server (fast shutdown) and removes its files.
func (s *pgServer) close() error {
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	// SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients.
	if err := s.proc.stop(syscall.SIGINT, 10*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("stop postgres: %w", err))
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}
