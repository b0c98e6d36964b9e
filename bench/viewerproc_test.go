//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// The viewers and the camera run in a child process (this test binary run
// again as TestViewerProcess), so that getrusage in the benchmark process
// measures the server alone: ingest, fan-out, SRTP, UDP sends, WHEP.
//
// The parent sends one JSON command a line on the child's stdin; the child
// answers each with one JSON reply on file descriptor 3 (stdout carries the
// testing package's own output).

// viewerProcessEnv carries the camera profile (JSON) to the child.
const viewerProcessEnv = "ATTENDANT_BENCH_VIEWER_PROCESS"

// joinTimeout bounds one viewer's join: answer, ICE, DTLS, first frame.
const joinTimeout = 15 * time.Second

type command struct {
	Op          string // "join", "stats", "leave" or "churn"
	URL         string // WHEP endpoint of the camera
	N           int
	Concurrency int
}

type joinTiming struct {
	Answer     time.Duration // offer posted → answer received
	FirstFrame time.Duration // offer posted → last packet of the first frame received
}

type reply struct {
	Err       string `json:",omitempty"`
	CameraURL string `json:",omitempty"`
	// stats: totals over the viewers held, each one's packet count and the
	// CPU this process (viewers and camera relay; not ffmpeg) has used
	Pkts, Frames, Bytes int64
	PerViewer           []int64 `json:",omitempty"`
	CPU                 time.Duration
	// join and churn: the timings of the joins that succeeded; churn
	// reports failed joins here instead of failing
	Joins     []joinTiming `json:",omitempty"`
	Failed    int          `json:",omitempty"`
	FirstFail string       `json:",omitempty"`
}

// TestViewerProcess is the child process; it skips unless started by the
// benchmarks.
func TestViewerProcess(t *testing.T) {
	spec := os.Getenv(viewerProcessEnv)
	if spec == "" {
		t.Skip("the viewer process of the camera benchmarks; started by them")
	}
	var prof cameraProfile
	if err := json.Unmarshal([]byte(spec), &prof); err != nil {
		t.Fatalf("bad %s: %v", viewerProcessEnv, err)
	}
	out := json.NewEncoder(os.NewFile(3, "replies"))
	cam := startCamera(t, prof)
	if err := out.Encode(reply{CameraURL: cam.URL()}); err != nil {
		t.Fatal(err)
	}
	pool := &viewerPool{hc: &http.Client{Timeout: joinTimeout}}
	defer pool.leave()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() { // until the parent closes stdin
		var cmd command
		rep := reply{}
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			rep.Err = err.Error()
		} else {
			rep = pool.handle(cmd)
		}
		if err := out.Encode(rep); err != nil {
			t.Fatal(err)
		}
	}
}

// viewerPool holds the viewers that stay connected between commands.
type viewerPool struct {
	hc      *http.Client
	viewers []*viewer
}

func (p *viewerPool) handle(cmd command) reply {
	var rep reply
	var err error
	switch cmd.Op {
	case "join":
		var failed []error
		if rep.Joins, failed = p.join(cmd.URL, cmd.N, cmd.Concurrency, true); len(failed) > 0 {
			err = fmt.Errorf("%d of %d joins failed, first: %w", len(failed), cmd.N, failed[0])
		}
	case "churn":
		var failed []error
		if rep.Joins, failed = p.join(cmd.URL, cmd.N, cmd.Concurrency, false); len(failed) > 0 {
			rep.Failed, rep.FirstFail = len(failed), failed[0].Error()
		}
	case "stats":
		rep.CPU, err = processCPU()
		rep.PerViewer = make([]int64, len(p.viewers))
		for i, v := range p.viewers {
			n := v.pkts.Load()
			rep.PerViewer[i] = n
			rep.Pkts += n
			rep.Frames += v.frames.Load()
			rep.Bytes += v.bytes.Load()
		}
	case "leave":
		err = p.leave()
	default:
		err = fmt.Errorf("unknown command %q", cmd.Op)
	}
	if err != nil {
		rep.Err = err.Error()
	}
	return rep
}

// join connects n viewers, at most conc at a time, each up to its first
// frame; with keep they stay, else each leaves right after its first frame.
// It returns the timings of the joins that succeeded and the errors of the
// others.
func (p *viewerPool) join(whepURL string, n, conc int, keep bool) ([]joinTiming, []error) {
	if conc < 1 {
		conc = 1
	}
	timings := make([]joinTiming, n)
	ok := make([]bool, n)
	errs := make([]error, n)
	var mu sync.Mutex
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
			defer cancel()
			v, err := dialViewer(ctx, p.hc, whepURL)
			if err != nil {
				errs[i] = err
				return
			}
			ff, err := v.waitFrame(ctx)
			timings[i], ok[i] = joinTiming{Answer: v.answered, FirstFrame: ff}, err == nil
			if err != nil || !keep {
				errs[i] = errors.Join(err, v.close())
				return
			}
			mu.Lock()
			p.viewers = append(p.viewers, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	var done []joinTiming
	var failed []error
	for i, err := range errs {
		if ok[i] {
			done = append(done, timings[i])
		}
		if err != nil {
			failed = append(failed, err)
		}
	}
	return done, failed
}

// leave closes every viewer held.
func (p *viewerPool) leave() error {
	errs := make([]error, len(p.viewers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, v := range p.viewers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = v.close()
		})
	}
	wg.Wait()
	p.viewers = nil
	return errors.Join(errs...)
}

// viewerProc is the parent's handle on the child process.
type viewerProc struct {
	*childProc[reply]
	cameraURL string
}

// startViewerProc starts the child, which starts the camera; it returns once
// the camera publishes. At cleanup the child leaves its viewers and exits.
func startViewerProc(tb testing.TB, prof cameraProfile) *viewerProc {
	tb.Helper()
	spec, err := json.Marshal(prof)
	if err != nil {
		tb.Fatal(err)
	}
	p := &viewerProc{childProc: startChild[reply](tb, "TestViewerProcess", []string{viewerProcessEnv + "=" + string(spec)}, 20*time.Second)}
	p.cameraURL = p.await(tb, 30*time.Second).CameraURL
	return p
}

func (p *viewerProc) await(tb testing.TB, timeout time.Duration) reply {
	tb.Helper()
	select {
	case rep, ok := <-p.replies:
		if !ok {
			<-p.exited
			tb.Fatalf("viewer process ended:\n%s", p.output)
		}
		if rep.Err != "" {
			tb.Fatalf("viewer process: %s", rep.Err)
		}
		return rep
	case <-time.After(timeout):
		tb.Fatalf("viewer process did not answer within %v:\n%s", timeout, p.output)
	}
	return reply{}
}

// do sends a command and waits for its reply; an error in the reply fails tb.
func (p *viewerProc) do(tb testing.TB, cmd command, timeout time.Duration) reply {
	tb.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		tb.Fatalf("send %s to viewer process: %v", cmd.Op, err)
	}
	return p.await(tb, timeout)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
