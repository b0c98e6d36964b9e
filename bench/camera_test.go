//go:build linux

package bench

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// cameraProfile is what the simulated camera sends.
type cameraProfile struct {
	Width, Height int
	FPS           int
	GOP           int    // keyframe interval in frames
	Bitrate       string // x264 -b:v and -maxrate, e.g. "2M"
	BufSize       string // x264 -bufsize, e.g. "1M"
}

func (p cameraProfile) String() string {
	return fmt.Sprintf("H264 %dx%d %d fps, GOP %d, %s", p.Width, p.Height, p.FPS, p.GOP, p.Bitrate)
}

// ffmpegArgs encodes testsrc2 rather than testsrc: its moving shapes keep
// x264 at the asked bitrate (testsrc at 720p stays near 1.3 Mbit/s even with
// -b:v 2M) and it is cheaper to generate.
func (p cameraProfile) ffmpegArgs(url string) []string {
	return []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", p.Width, p.Height, p.FPS),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", fmt.Sprint(p.GOP), "-b:v", p.Bitrate, "-maxrate", p.Bitrate, "-bufsize", p.BufSize,
		"-pix_fmt", "yuv420p", "-threads", "1",
		"-f", "rtsp", "-rtsp_transport", "tcp", url}
}

// camera is ffmpeg publishing to an in-process RTSP relay (gortsplib), which
// the manager reads like a camera. It runs in the viewer process, so that
// neither the encoder nor the relay is billed to the server under test.
//
// testenv.FFmpegCamera does the same but has no bitrate or source option;
// with its fixed arguments a 720p camera sends about 0.3 Mbit/s.
type camera struct {
	srv  *gortsplib.Server
	addr string

	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
}

// startCamera starts the relay and ffmpeg and waits until ffmpeg publishes.
// Both stop when the test ends.
func startCamera(t testing.TB, p cameraProfile) *camera {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg not found (make test installs it): %v", err)
	}
	c := &camera{}
	var ln net.Listener
	c.srv = &gortsplib.Server{
		Handler:     c,
		RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			ln = l
			return l, err
		},
	}
	if err := c.srv.Start(); err != nil {
		t.Fatalf("start camera relay: %v", err)
	}
	c.addr = ln.Addr().String()
	t.Cleanup(func() {
		c.srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stream != nil {
			c.stream.Close()
		}
	})

	var stderr strings.Builder
	var stderrMu sync.Mutex
	cmd := exec.Command("ffmpeg", p.ffmpegArgs(c.URL())...)
	cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		return stderr.Write(b)
	})
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		up := c.stream != nil
		c.mu.Unlock()
		if up {
			return c
		}
		select {
		case <-exited:
			stderrMu.Lock()
			defer stderrMu.Unlock()
			t.Fatalf("ffmpeg camera exited: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("ffmpeg camera did not publish within 20 s")
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// URL is where the manager reads the camera.
func (c *camera) URL() string { return "rtsp://" + c.addr + "/cam" }

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *camera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce: ffmpeg publishes.
func (c *camera) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
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
func (c *camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord: relay to readers.
func (c *camera) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	c.mu.Lock()
	st := c.stream
	c.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (c *camera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && ctx.Session == c.publisher {
		c.stream.Close()
		c.stream, c.publisher = nil, nil
	}
}
