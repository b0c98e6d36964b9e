package media

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"

	"github.com/attendant/attendant/internal/testenv"
)

// requireTool skips (or fails in CI) when a test peer is not installed.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// logBuffer collects a test's logs; they are printed when the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// camOpts describes a test camera.
type camOpts struct {
	h265      bool
	audio     string // "", "pcmu", "opus", "aac"
	udp       bool   // the server also offers UDP
	user      string // readers must authenticate (digest only) when set
	pass      string
	noFFmpeg  bool // start the server only (tests write their own packets)
	keyFrames int  // GOP length in frames (default 50)
}

// testCamera is testenv's simulated camera: ffmpeg publishing a test
// pattern to an RTSP server (gortsplib) that the manager reads from.
type testCamera struct {
	*testenv.Camera
	t testing.TB
}

// startTestCamera returns once ffmpeg publishes (unless noFFmpeg).
func startTestCamera(t testing.TB, o camOpts) *testCamera {
	t.Helper()
	gop := o.keyFrames
	if gop == 0 {
		gop = 50
	}
	c := testenv.FFmpegCamera(t, testenv.CameraOptions{Width: 640, Height: 360, FPS: 25, GOP: gop,
		H265: o.h265, Audio: o.audio, UDP: o.udp, User: o.user, Password: o.pass, NoEncoder: o.noFFmpeg})
	return &testCamera{Camera: c, t: t}
}

// stopFFmpeg kills the encoder, like a camera losing power.
func (c *testCamera) stopFFmpeg() { c.Stop(c.t) }

// startFFmpeg powers the camera up again and waits until it publishes.
func (c *testCamera) startFFmpeg() { c.Start(c.t) }

// serve publishes a stream written by the test itself (noFFmpeg).
func (c *testCamera) serve(desc *description.Session) *gortsplib.ServerStream {
	return c.Serve(c.t, desc)
}

// waitState polls a camera's state until cond holds.
func waitState(t testing.TB, m *Manager, id string, timeout time.Duration, what string, cond func(CameraState) bool) CameraState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st CameraState
	for time.Now().Before(deadline) {
		st, _ = m.State(id)
		if cond(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("camera %s: timed out waiting for %s; state %+v", id, what, st)
	return st
}

// runManager starts a manager and stops it (waiting for Run) at cleanup.
func runManager(t testing.TB, cfg ManagerConfig) (*Manager, *logBuffer) {
	t.Helper()
	log, lb := testLogger(t)
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 100*time.Millisecond, time.Second
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 3 * time.Second
	}
	cfg.ICE.IncludeLoopback = true
	m, err := NewManager(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	return m, lb
}

// startManager runs m until the test ends and waits until it is running.
func startManager(t testing.TB, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	for {
		if _, ok := m.running(); ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
