package democam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

const frameTicks = clockRate / ClipFPS

func TestEmbeddedClip(t *testing.T) {
	c, err := parseClip(clipH264)
	if err != nil {
		t.Fatalf("parseClip: %v", err)
	}
	if c.width != ClipWidth || c.height != ClipHeight {
		t.Fatalf("clip is %dx%d, want %dx%d", c.width, c.height, ClipWidth, ClipHeight)
	}
	if len(c.aus) != 10*ClipFPS {
		t.Fatalf("%d access units, want %d (10 s at %d fps)", len(c.aus), 10*ClipFPS, ClipFPS)
	}
	for i, au := range c.aus {
		idr := i%50 == 0
		if got := isIDR(au); got != idr {
			t.Fatalf("access unit %d: IDR %v, want %v (a keyframe every 50 frames)", i, got, idr)
		}
		if idr && (!bytes.Equal(au[0], c.sps) || !bytes.Equal(au[1], c.pps)) {
			t.Fatalf("access unit %d: IDR does not start with SPS and PPS", i)
		}
	}
	if len(clipH264) > 300<<10 {
		t.Errorf("clip is %d bytes; keep it under 300 KB", len(clipH264))
	}
}

func TestParseClip(t *testing.T) {
	embedded, err := parseClip(clipH264)
	if err != nil {
		t.Fatalf("parseClip: %v", err)
	}
	sps, pps := embedded.sps, embedded.pps
	// slices: NAL header, then first_mb_in_slice as ue(v): 0x80 means 0
	idrFirst := []byte{0x65, 0x88, 1}
	idrSecond := []byte{0x65, 0x40, 2} // first_mb_in_slice = 1: same picture
	pFirst := []byte{0x41, 0x9a, 3}
	pSecond := []byte{0x41, 0x40, 4}
	aud := []byte{0x09, 0xf0}
	sei := []byte{0x06, 0x05, 0x01}
	annexB := func(nalus ...[]byte) []byte {
		var b []byte
		for _, n := range nalus {
			b = append(b, 0, 0, 0, 1)
			b = append(b, n...)
		}
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		wantAUs []int // NALUs per access unit
		wantErr string
	}{
		{"one slice per frame", annexB(sps, pps, idrFirst, pFirst, pFirst), []int{3, 1, 1}, ""},
		{"two slices per frame", annexB(sps, pps, idrFirst, idrSecond, pFirst, pSecond), []int{4, 2}, ""},
		{"delimiters dropped", annexB(aud, sps, pps, idrFirst, aud, pFirst), []int{3, 1}, ""},
		{"SEI starts the next frame", annexB(sps, pps, idrFirst, sei, pFirst), []int{3, 2}, ""},
		{"parameter sets added to a bare IDR", annexB(sps, pps, idrFirst, pFirst, idrFirst), []int{3, 1, 3}, ""},
		{"no parameter sets", annexB(idrFirst, pFirst), nil, "no SPS or PPS"},
		{"starts with a P frame", annexB(sps, pps, pFirst, idrFirst), nil, "does not start with an IDR"},
		{"no start code", []byte{1, 2, 3, 4, 5}, nil, "split Annex-B"},
		{"empty", nil, nil, "split Annex-B"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseClip(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseClip: %v", err)
			}
			var got []int
			for _, au := range c.aus {
				got = append(got, len(au))
			}
			if !slices.Equal(got, tc.wantAUs) {
				t.Fatalf("NALUs per access unit %v, want %v", got, tc.wantAUs)
			}
		})
	}
}

// TestReaders reads the camera with several clients at once, over TCP and
// UDP, for long enough to pass the end of the (shortened) clip, and checks
// the frame rate and that timestamps run on across the loop.
func TestReaders(t *testing.T) {
	checkGoroutines(t)
	const loopFrames = 50 // 2 s, so a 3 s read crosses the seam
	s := startServer(t, Config{}, loopFrames)

	tests := []struct {
		name      string
		transport gortsplib.Transport
	}{
		{"tcp 1", gortsplib.TransportTCP},
		{"udp 1", gortsplib.TransportUDP},
		{"tcp 2", gortsplib.TransportTCP},
		{"udp 2", gortsplib.TransportUDP},
		{"tcp 3", gortsplib.TransportTCP},
		{"udp 3", gortsplib.TransportUDP},
	}
	const readFor = 3 * time.Second
	readings := make([]*reading, len(tests))
	errs := make([]error, len(tests))
	var wg sync.WaitGroup
	for i, tc := range tests {
		wg.Go(func() { readings[i], errs[i] = readStream(t, s.URL(), tc.transport, readFor) })
	}
	wg.Wait()

	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := readings[i], errs[i]
			if err != nil {
				t.Fatalf("read %s: %v", s.URL(), err)
			}
			if len(r.format.SPS) == 0 || len(r.format.PPS) == 0 {
				t.Fatal("SDP has no sprop-parameter-sets")
			}
			if !bytes.Equal(r.format.SPS, s.clip.sps) || !bytes.Equal(r.format.PPS, s.clip.pps) {
				t.Fatal("SDP parameter sets differ from the clip's")
			}
			n := len(r.aus)
			// ≈25/s; loose bounds for a loaded machine and the time to PLAY
			if min, max := 2*ClipFPS, 4*ClipFPS; n < min || n > max {
				t.Fatalf("%d access units in %v, want %d..%d", n, readFor, min, max)
			}
			if span := r.aus[n-1].at.Sub(r.aus[0].at); span < 2*time.Second {
				t.Fatalf("access units span %v: not paced in real time", span)
			}
			if n <= loopFrames {
				t.Fatalf("only %d access units: the %d-frame clip did not loop", n, loopFrames)
			}
			idrs := 0
			for j := 1; j < n; j++ {
				if delta := r.aus[j].timestamp - r.aus[j-1].timestamp; delta != frameTicks {
					t.Fatalf("access units %d→%d: timestamp step %d, want %d (no jumps, also across the loop)",
						j-1, j, delta, frameTicks)
				}
				if r.aus[j].idr {
					idrs++
					if r.aus[j].nalus < 3 {
						t.Fatalf("keyframe %d has %d NALUs: SPS/PPS are not repeated", j, r.aus[j].nalus)
					}
				}
			}
			if idrs == 0 {
				t.Fatal("no keyframe in 3 s (one every 2 s expected)")
			}
			t.Logf("%d access units (%d keyframes) in %v, %d RTP packets lost",
				n, idrs, r.aus[n-1].at.Sub(r.aus[0].at).Round(time.Millisecond), r.seqGap)
		})
	}
}

// TestFFmpegReads checks that ffprobe and ffmpeg, which a newcomer would
// point at the URL, see a 640x360 H264 stream.
func TestFFmpegReads(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{}, 0)
	tests := []struct {
		name      string
		transport string
	}{
		{"tcp", "tcp"},
		{"udp", "udp"},
	}
	for _, tc := range tests {
		t.Run("ffprobe "+tc.name, func(t *testing.T) {
			ffprobe := requireTool(t, "ffprobe")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, ffprobe, "-hide_banner", "-loglevel", "error",
				"-rtsp_transport", tc.transport, "-select_streams", "v:0",
				"-show_entries", "stream=codec_name,width,height", "-of", "json", s.URL()).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v: %s", err, stderrOf(err))
			}
			var probe struct {
				Streams []struct {
					CodecName string `json:"codec_name"`
					Width     int    `json:"width"`
					Height    int    `json:"height"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &probe); err != nil {
				t.Fatalf("ffprobe output %q: %v", out, err)
			}
			if len(probe.Streams) != 1 {
				t.Fatalf("ffprobe found %d video streams: %s", len(probe.Streams), out)
			}
			if st := probe.Streams[0]; st.CodecName != "h264" || st.Width != ClipWidth || st.Height != ClipHeight {
				t.Fatalf("ffprobe sees %s %dx%d, want h264 %dx%d", st.CodecName, st.Width, st.Height, ClipWidth, ClipHeight)
			}
		})
		t.Run("ffmpeg "+tc.name, func(t *testing.T) {
			ffmpeg := requireTool(t, "ffmpeg")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
				"-rtsp_transport", tc.transport, "-i", s.URL(),
				"-frames:v", "5", "-f", "framecrc", "-")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, stderr.Bytes())
			}
			// a reader joins mid-GOP, so ffmpeg warns about missing
			// references until the next keyframe, as with any live camera
			t.Logf("ffmpeg stderr: %s", stderr.Bytes())
			var frames int
			dims := ""
			for _, line := range strings.Split(string(out), "\n") {
				if d, ok := strings.CutPrefix(line, "#dimensions 0: "); ok {
					dims = d
				}
				if line != "" && !strings.HasPrefix(line, "#") {
					frames++
				}
			}
			if want := strconv.Itoa(ClipWidth) + "x" + strconv.Itoa(ClipHeight); dims != want {
				t.Fatalf("ffmpeg decodes %q, want %s:\n%s", dims, want, out)
			}
			if frames != 5 {
				t.Fatalf("ffmpeg decoded %d frames, want 5:\n%s", frames, out)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	checkGoroutines(t)
	s := startServer(t, Config{Path: "/cam/"}, 0)
	if !strings.HasSuffix(s.URL(), "/cam") {
		t.Fatalf("URL %s does not end in /cam", s.URL())
	}
	tests := []struct {
		name   string
		path   string
		status base.StatusCode
	}{
		{"configured path", "/cam", base.StatusOK},
		{"other path", "/demo", base.StatusNotFound},
		{"root", "/", base.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := base.ParseURL(strings.TrimSuffix(s.URL(), "/cam") + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
			if err := c.Start2(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, res, err := c.Describe(u)
			var bad liberrors.ErrClientBadStatusCode
			switch {
			case tc.status == base.StatusOK && err != nil:
				t.Fatalf("DESCRIBE %s: %v", tc.path, err)
			case tc.status == base.StatusOK && res.StatusCode != base.StatusOK:
				t.Fatalf("DESCRIBE %s: status %d", tc.path, res.StatusCode)
			case tc.status != base.StatusOK && (!errors.As(err, &bad) || bad.Code != tc.status):
				t.Fatalf("DESCRIBE %s: %v, want status %d", tc.path, err, tc.status)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *Server)
	}{
		{"close without run frees the ports", func(t *testing.T, s *Server) {
			addr := strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/demo"), "rtsp://")
			s.Close()
			s.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("port still taken after Close: %v", err)
			}
			ln.Close()
			if err := s.Run(context.Background()); err == nil {
				t.Fatal("Run after Close succeeded")
			}
		}},
		{"close stops run", func(t *testing.T, s *Server) {
			errc := make(chan error, 1)
			go func() { errc <- s.Run(context.Background()) }()
			waitServing(t, s)
			s.Close()
			if err := <-errc; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if err := s.Run(context.Background()); err == nil {
				t.Fatal("second Run succeeded")
			}
		}},
		{"context ends run", func(t *testing.T, s *Server) {
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- s.Run(ctx) }()
			waitServing(t, s)
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
			s.Close()
		}},
		{"early client is answered once run starts", func(t *testing.T, s *Server) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/demo"), "rtsp://"))
			if err != nil {
				t.Fatalf("connect before Run: %v", err)
			}
			conn.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- s.Run(ctx) }()
			waitServing(t, s)
			cancel()
			if err := <-errc; err != nil {
				t.Fatalf("Run: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			s, err := New(Config{}, testLogger(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(s.Close)
			tc.run(t, s)
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantURL string // prefix; the port varies
		wantErr string
	}{
		{"defaults", Config{}, "rtsp://127.0.0.1:", ""},
		{"all interfaces", Config{Addr: ":0", Path: "x"}, "rtsp://127.0.0.1:", ""},
		{"no udp", Config{NoUDP: true}, "rtsp://127.0.0.1:", ""},
		{"odd udp port", Config{UDPPort: 7001}, "", "must be an even port"},
		{"bad address", Config{Addr: "nonsense"}, "", "address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			if !strings.HasPrefix(s.URL(), tc.wantURL) {
				t.Fatalf("URL %s, want prefix %s", s.URL(), tc.wantURL)
			}
			if (s.udpRTP == nil) != tc.cfg.NoUDP {
				t.Fatalf("UDP sockets %v with NoUDP %v", s.udpRTP != nil, tc.cfg.NoUDP)
			}
			if s.udpRTP != nil {
				rtp := s.udpRTP.LocalAddr().(*net.UDPAddr).Port
				rtcp := s.udpRTCP.LocalAddr().(*net.UDPAddr).Port
				if rtp%2 != 0 || rtcp != rtp+1 {
					t.Fatalf("UDP ports %d/%d, want even and next", rtp, rtcp)
				}
			}
		})
	}
}

// waitServing waits until the server answers DESCRIBE.
func waitServing(t *testing.T, s *Server) {
	t.Helper()
	u, err := base.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
		err := c.Start2()
		if err == nil {
			_, _, err = c.Describe(u)
			c.Close()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not serving after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if n[0]&0x1F == 5 {
			return true
		}
	}
	return false
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
