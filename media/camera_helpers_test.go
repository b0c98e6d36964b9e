package media

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
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

// testCamera is an RTSP server (gortsplib) that ffmpeg publishes a test
// pattern to; the manager under test reads from it like from a camera.
// ffmpeg 5.1's RTSP muxer cannot listen itself, hence the relay.
type testCamera struct {
	t    testing.TB
	opts camOpts
	srv  *gortsplib.Server
	addr string

	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	ff        *exec.Cmd
	ffDone    chan struct{}
}

func startTestCamera(t testing.TB, opts camOpts) *testCamera {
	t.Helper()
	if !opts.noFFmpeg {
		requireTool(t, "ffmpeg")
	}
	c := &testCamera{t: t, opts: opts}
	var ln net.Listener
	c.srv = &gortsplib.Server{
		Handler:     c,
		RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			ln = l
			return l, err
		},
		AuthMethods: []auth.VerifyMethod{auth.VerifyMethodDigestMD5},
	}
	if opts.udp {
		p := freeUDPPair(t)
		c.srv.UDPRTPAddress = fmt.Sprintf("127.0.0.1:%d", p)
		c.srv.UDPRTCPAddress = fmt.Sprintf("127.0.0.1:%d", p+1)
	}
	if err := c.srv.Start(); err != nil {
		t.Fatalf("start test RTSP server: %v", err)
	}
	c.addr = ln.Addr().String()
	t.Cleanup(func() {
		c.stopFFmpeg()
		c.srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stream != nil {
			c.stream.Close()
		}
	})
	if !opts.noFFmpeg {
		c.startFFmpeg()
	}
	return c
}

func freeUDPPair(t testing.TB) int {
	for range 200 {
		a, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	t.Fatal("no free UDP port pair")
	return 0
}

func (c *testCamera) URL() string { return "rtsp://" + c.addr + "/cam" }

func (c *testCamera) ffmpegArgs() []string {
	g := c.opts.keyFrames
	if g == 0 {
		g = 50
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25"}
	if c.opts.audio != "" {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440")
	}
	if c.opts.h265 {
		args = append(args, "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
			"-x265-params", fmt.Sprintf("keyint=%d:min-keyint=%d:log-level=error", g, g))
	} else {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fmt.Sprint(g))
	}
	args = append(args, "-pix_fmt", "yuv420p", "-threads", "1")
	switch c.opts.audio {
	case "pcmu":
		args = append(args, "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1")
	case "opus":
		args = append(args, "-c:a", "libopus", "-ar", "48000")
	case "aac":
		args = append(args, "-c:a", "aac")
	}
	return append(args, "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+c.addr+"/cam")
}

func (c *testCamera) startFFmpeg() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd := exec.Command("ffmpeg", c.ffmpegArgs()...)
	var stderr logBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start ffmpeg: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		if s := strings.TrimSpace(stderr.String()); s != "" {
			c.t.Logf("ffmpeg: %s", s)
		}
		close(done)
	}()
	c.ff, c.ffDone = cmd, done
}

// stopFFmpeg kills the publisher, like a camera losing power.
func (c *testCamera) stopFFmpeg() {
	c.mu.Lock()
	cmd, done := c.ff, c.ffDone
	c.ff = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// waitPublishing waits until ffmpeg has announced its stream.
func (c *testCamera) waitPublishing(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ok := c.stream != nil
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("test camera: ffmpeg did not publish")
}

// serve publishes a stream written by the test itself (noFFmpeg).
func (c *testCamera) serve(desc *description.Session) *gortsplib.ServerStream {
	st := &gortsplib.ServerStream{Server: c.srv, Desc: desc}
	if err := st.Initialize(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.stream = st
	c.mu.Unlock()
	return st
}

func (c *testCamera) authorized(sc *gortsplib.ServerConn, req *base.Request) bool {
	return c.opts.user == "" || sc.VerifyCredentials(req, c.opts.user, c.opts.pass)
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *testCamera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !c.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce.
func (c *testCamera) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		c.stream.Close()
		if c.publisher != nil {
			c.publisher.Close()
		}
	}
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: ctx.Description}
	if err := c.stream.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, err
	}
	c.publisher = ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *testCamera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if !c.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *testCamera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord.
func (c *testCamera) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	c.mu.Lock()
	st := c.stream
	c.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose: when the
// publisher goes, the stream ends and readers are disconnected.
func (c *testCamera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && ctx.Session == c.publisher {
		c.stream.Close()
		c.stream, c.publisher = nil, nil
	}
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
