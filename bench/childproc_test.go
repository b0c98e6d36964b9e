//go:build linux

package bench

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// childProc is the parent's side of a helper process: this test binary
// again, running only the test named, so that getrusage in the benchmark
// process measures the server alone. The child reads one JSON command a
// line on stdin and writes one JSON reply (R) each on file descriptor 3;
// closing stdin tells it to clean up and exit.
type childProc[R any] struct {
	pid     int
	stdin   io.WriteCloser
	replies chan R
	exited  chan struct{}
	output  *syncBuffer
}

// startChild starts the child running test with env set; at cleanup it
// closes the child's stdin and waits up to stopWait before killing it.
func startChild[R any](tb testing.TB, test string, env []string, stopWait time.Duration) *childProc[R] {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w}
	p := &childProc[R]{replies: make(chan R, 4), exited: make(chan struct{}), output: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s process: %v", test, err)
	}
	p.pid = cmd.Process.Pid
	w.Close()
	go func() {
		defer close(p.replies)
		dec := json.NewDecoder(r)
		for {
			var rep R
			if err := dec.Decode(&rep); err != nil {
				return
			}
			p.replies <- rep
		}
	}()
	go func() {
		_ = cmd.Wait()
		r.Close()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(stopWait):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if tb.Failed() {
			tb.Logf("%s process output (last 16 KiB):\n%s", test, tail(p.output.String(), 16<<10))
		}
	})
	return p
}
