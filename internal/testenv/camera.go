package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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

// CameraOptions shape a simulated camera.
type CameraOptions struct {
	Width, Height int    // default 640x360
	FPS           int    // default 25
	GOP           int    // keyframe interval in frames, default 2 s
	H265          bool   // libx265 instead of libx264
	Audio         string // "" none, "pcmu", "opus", "aac"
	// User and Password make readers authenticate (digest).
	User, Password string
	// Bitrate caps H264's rate (x264 -b:v and -maxrate, e.g. "2M"; -bufsize
	// is half of it); empty lets x264 choose.
	Bitrate string
	// Source is the lavfi test source: "testsrc" (default) or "testsrc2",
	// whose moving shapes keep x264 at a 720p bitrate like "2M".
	Source string
	// UDP makes the camera offer RTP over UDP too (TCP always works).
	UDP bool
	// NoEncoder starts the RTSP server only: the test publishes its own
	// stream with Serve.
	NoEncoder bool
}

// Camera is a simulated RTSP camera: ffmpeg encodes a test pattern and
// publishes it to a small RTSP server (gortsplib) that the code under test
// reads like a camera. ffmpeg 5.1's RTSP muxer cannot listen by itself.
type Camera struct {
	opts    CameraOptions
	srv     *gortsplib.Server
	addr    string
	logPath string

	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	ff        *process
}

// FFmpegCamera starts a camera that streams until the test ends.
func FFmpegCamera(t testing.TB, o CameraOptions) *Camera {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil && !o.NoEncoder {
		missing(t, "ffmpeg not found (make test installs it)")
	}
	if o.Width == 0 {
		o.Width, o.Height = 640, 360
	}
	if o.FPS == 0 {
		o.FPS = 25
	}
	if o.GOP == 0 {
		o.GOP = 2 * o.FPS
	}
	c := &Camera{opts: o, logPath: filepath.Join(t.TempDir(), "ffmpeg.log")}
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
	if o.UDP {
		p := freeUDPPair(t)
		c.srv.UDPRTPAddress = fmt.Sprintf("127.0.0.1:%d", p)
		c.srv.UDPRTCPAddress = fmt.Sprintf("127.0.0.1:%d", p+1)
	}
	if err := c.srv.Start(); err != nil {
		t.Fatalf("start camera RTSP server: %v", err)
	}
	c.addr = ln.Addr().String()
	t.Cleanup(func() {
		c.stopFFmpeg()
		c.srv.Close()
		// The publisher's session may not have closed the stream yet (or
		// the test served its own): close it, or its RTCP goroutines stay.
		c.mu.Lock()
		if c.stream != nil {
			c.stream.Close()
			c.stream = nil
		}
		c.mu.Unlock()
		reportOnFailure(t, "ffmpeg camera", c.logPath)
	})
	if !o.NoEncoder {
		c.Start(t)
	}
	return c
}

// Serve publishes a stream the test writes itself (with NoEncoder).
func (c *Camera) Serve(t testing.TB, desc *description.Session) *gortsplib.ServerStream {
	t.Helper()
	st := &gortsplib.ServerStream{Server: c.srv, Desc: desc}
	if err := st.Initialize(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.stream = st
	c.mu.Unlock()
	return st
}

// freeUDPPair finds an even UDP port whose successor is free too (RTP and
// RTCP).
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

// URL is where readers find the camera (without credentials).
func (c *Camera) URL() string { return "rtsp://" + c.addr + "/cam" }

// Start (re)starts the encoder and waits until the stream is up.
func (c *Camera) Start(t testing.TB) {
	t.Helper()
	o := c.opts
	src := o.Source
	if src == "" {
		src = "testsrc"
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("%s=size=%dx%d:rate=%d", src, o.Width, o.Height, o.FPS)}
	if o.Audio != "" {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440")
	}
	if o.H265 {
		args = append(args, "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
			"-x265-params", fmt.Sprintf("keyint=%d:min-keyint=%d:log-level=error", o.GOP, o.GOP))
	} else {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fmt.Sprint(o.GOP))
		if o.Bitrate != "" {
			args = append(args, "-b:v", o.Bitrate, "-maxrate", o.Bitrate, "-bufsize", halfRate(o.Bitrate))
		}
	}
	args = append(args, "-pix_fmt", "yuv420p", "-threads", "1")
	switch o.Audio {
	case "pcmu":
		args = append(args, "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1")
	case "opus":
		args = append(args, "-c:a", "libopus", "-ar", "48000")
	case "aac":
		args = append(args, "-c:a", "aac")
	}
	args = append(args, "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+c.addr+"/cam")
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	p, err := startProcess(procConfig{name: "ffmpeg camera", path: "ffmpeg", args: args, env: os.Environ(), log: logFile})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.ff = p
	c.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		up := c.stream != nil
		c.mu.Unlock()
		if up {
			return
		}
		if p.exited() {
			t.Fatalf("ffmpeg camera exited: %s", logTail(c.logPath, 10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ffmpeg camera did not publish in time: %s", logTail(c.logPath, 10))
}

// Stop kills the encoder, like a camera losing power: readers are
// disconnected and the camera answers 404 until Start.
func (c *Camera) Stop(t testing.TB) {
	t.Helper()
	c.stopFFmpeg()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		down := c.stream == nil
		c.mu.Unlock()
		if down {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("camera stream did not end after ffmpeg was killed")
}

func (c *Camera) stopFFmpeg() {
	c.mu.Lock()
	p := c.ff
	c.ff = nil
	c.mu.Unlock()
	if p != nil {
		_ = p.stop(syscall.SIGKILL, 0)
	}
}

func (c *Camera) authorized(sc *gortsplib.ServerConn, req *base.Request) bool {
	return c.opts.User == "" || sc.VerifyCredentials(req, c.opts.User, c.opts.Password)
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *Camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
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

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce: ffmpeg publishes.
func (c *Camera) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
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
func (c *Camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
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
func (c *Camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord: relay to readers.
func (c *Camera) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	c.mu.Lock()
	st := c.stream
	c.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose: when
// the publisher goes, the stream ends and readers are disconnected.
func (c *Camera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && ctx.Session == c.publisher {
		c.stream.Close()
		c.stream, c.publisher = nil, nil
	}
}

// halfRate halves an ffmpeg rate like "2M" or "500k" (for -bufsize).
func halfRate(rate string) string {
	n, unit := rate, ""
	if l := len(rate); l > 0 && (rate[l-1] == 'k' || rate[l-1] == 'M') {
		n, unit = rate[:l-1], rate[l-1:]
	}
	v, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return rate
	}
	return strconv.FormatFloat(v/2, 'f', -1, 64) + unit
}
