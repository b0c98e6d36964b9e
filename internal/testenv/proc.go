package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one child server process. Its output goes to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // how it exited; read only after done is closed
}

// procConfig says how to start a process.
type procConfig struct {
	name string   // for messages
	path string   // binary
	args []string // arguments after the binary
	env  []string // full environment
	dir  string   // working directory
	user *account // run as this user; nil: as ourselves
	log  *os.File // stdout and stderr
}

// account is a system user to run a server as.
type account struct {
	name     string
	uid, gid uint32
}

// serverAccount returns the user to run PostgreSQL as. As root it is
// "postgres" if that user exists, else "nobody", because initdb refuses to
// run as root. As anyone else it is nil: run as ourselves.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("user %s: bad uid/gid %q/%q", name, u.Uid, u.Gid))
			continue
		}
		return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and no unprivileged user to run the server as: %w", errors.Join(errs...))
}

// chownTree gives a directory tree to the account (no-op when nil).
func chownTree(dir string, acc *account) error {
	if acc == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(acc.uid), int(acc.gid))
	})
}

// startProcess starts a child in its own process group. The child is killed
// by the kernel if the test binary dies (see setDeathSignal), so a panic or
// a test timeout never leaves a server behind.
func startProcess(cfg procConfig) (*process, error) {
	cmd := exec.Command(cfg.path, cfg.args...)
	cmd.Env = cfg.env
	cmd.Dir = cfg.dir
	cmd.Stdout = cfg.log
	cmd.Stderr = cfg.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
	if cfg.user != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: cfg.user.uid, Gid: cfg.user.gid}
	}
	p := &process{name: cfg.name, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The death signal is tied to the thread that forked the child, not
		// to the process: hold this thread until the child has exited so
		// the runtime cannot retire it and kill a healthy server early.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.name, err)
	}
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group, waits up to grace for the process to
// exit, then kills the whole group.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %s of %s; killed", p.name, grace, sig)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL for 10s", p.name, pgid)
	}
}

// tempDirPrefix names this package's temporary directories; the pid lets
// sweepStaleDirs recognise those left behind by a test binary that crashed.
const tempDirPrefix = "attendant-testenv-"

// makeTempDir creates a temporary directory tagged with our pid.
func makeTempDir(kind string) (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s%d-%s-", tempDirPrefix, os.Getpid(), kind))
}

// sweepStaleDirs removes temporary directories of test binaries that are no
// longer running (they died before their cleanups ran). Best effort.
func sweepStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, dir := range matches {
		rest := strings.TrimPrefix(filepath.Base(dir), tempDirPrefix)
		pidStr, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}
