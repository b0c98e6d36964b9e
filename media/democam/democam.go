// Package democam is a built-in simulated camera: an RTSP server that loops
// a small H264 clip (640x360, 25 fps, shipped in the binary) in real time,
// so that a newcomer sees live video with nothing else installed.
//
// Lifecycle: New parses the clip and binds the sockets, so URL is valid as
// soon as New returns (clients that connect early are answered once Run
// starts). Run serves until its context ends. Close releases the sockets of
// a Server whose Run never ran, or stops a running one.
package democam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
)

// Defaults for the zero values of Config.
const (
	DefaultAddr = "127.0.0.1:0"
	DefaultPath = "demo"
)

// clockRate is the RTP clock of H264 video.
const clockRate = 90000

// Config configures a demo camera. The zero value is usable.
type Config struct {
	// Addr is the RTSP (TCP) listen address. Default "127.0.0.1:0": a free
	// port on loopback.
	Addr string
	// Path is the stream's path in the URL, without slashes. Default "demo".
	Path string
	// UDPPort is the even UDP port for RTP (RTCP uses UDPPort+1), on
	// Addr's host. 0 picks a free pair.
	UDPPort int
	// NoUDP turns off the UDP transport: clients must use TCP.
	NoUDP bool
}

// Server is a demo camera. Make it with New.
type Server struct {
	log   *slog.Logger
	clip  *clip
	path  string
	url   string
	media *description.Media
	fmt   *format.H264

	// the sockets bound by New; Run hands them to the RTSP server, which
	// closes them when it stops
	tcp      net.Listener
	udpRTP   net.PacketConn // nil with NoUDP
	udpRTCP  net.PacketConn
	handedTo bool // guarded by mu: Run took the sockets

	mu      sync.Mutex
	closed  bool
	stopRun context.CancelFunc // set while Run runs
	runDone chan struct{}      // closed when Run returns
}

// New parses the embedded clip, binds the listen sockets and returns a
// Server whose URL is known. Call Run to serve, or Close to give up.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	cfg.Path = strings.Trim(cfg.Path, "/")
	if cfg.UDPPort%2 != 0 || cfg.UDPPort < 0 || cfg.UDPPort > 65534 {
		return nil, fmt.Errorf("democam: UDP port %d: must be an even port number (RTCP uses the next one)", cfg.UDPPort)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	c, err := parseClip(clipH264)
	if err != nil {
		return nil, fmt.Errorf("democam: parse embedded clip: %w", err)
	}
	if c.width != ClipWidth || c.height != ClipHeight {
		return nil, fmt.Errorf("democam: embedded clip is %dx%d, want %dx%d (regenerate it with gen.sh)",
			c.width, c.height, ClipWidth, ClipHeight)
	}

	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("democam: address %q: %w", cfg.Addr, err)
	}
	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("democam: listen on %s: %w", cfg.Addr, err)
	}
	s := &Server{
		clip: c,
		path: cfg.Path,
		tcp:  tcp,
	}
	if !cfg.NoUDP {
		s.udpRTP, s.udpRTCP, err = listenUDPPair(host, cfg.UDPPort)
		if err != nil {
			tcp.Close()
			return nil, fmt.Errorf("democam: %w", err)
		}
	}

	port := tcp.Addr().(*net.TCPAddr).Port
	s.url = "rtsp://" + net.JoinHostPort(urlHost(host), strconv.Itoa(port)) + "/" + cfg.Path
	s.log = log.With("url", s.url)
	s.fmt = &format.H264{
		PayloadTyp:        96,
		PacketizationMode: 1,
		SPS:               c.sps,
		PPS:               c.pps,
	}
	s.media = &description.Media{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{s.fmt},
	}
	return s, nil
}

// URL is the stream's address, like rtsp://127.0.0.1:PORT/demo. A listen
// address on all interfaces is shown as 127.0.0.1.
func (s *Server) URL() string { return s.url }

// Run serves the looped clip until ctx ends or Close is called, then
// closes the server; it returns nil then, and an error if the server could
// not start or failed. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.handedTo {
		s.mu.Unlock()
		return errors.New("democam: Run called on a closed or already running server")
	}
	s.handedTo = true
	ctx, s.stopRun = context.WithCancel(ctx)
	s.runDone = make(chan struct{})
	s.mu.Unlock()
	defer close(s.runDone)
	defer s.stopRun()

	h := newHandler("/"+s.path, s.log, ctx.Done())
	h.ready.Lock() // DESCRIBE/SETUP wait until the stream exists
	srv := &gortsplib.Server{
		Handler:     h,
		RTSPAddress: s.tcp.Addr().String(),
		Listen:      handOver(s.tcp),
	}
	if s.udpRTP != nil {
		srv.UDPRTPAddress = s.udpRTP.LocalAddr().String()
		srv.UDPRTCPAddress = s.udpRTCP.LocalAddr().String()
		srv.ListenPacket = handOverPackets(s.udpRTP, s.udpRTCP)
	}
	if err := srv.Start(); err != nil {
		h.ready.Unlock()
		s.closeSockets()
		return fmt.Errorf("democam: start RTSP server: %w", err)
	}
	stream := &gortsplib.ServerStream{
		Server: srv,
		Desc:   &description.Session{Medias: []*description.Media{s.media}},
	}
	if err := stream.Initialize(); err != nil {
		h.ready.Unlock()
		srv.Close()
		return fmt.Errorf("democam: create stream: %w", err)
	}
	h.stream = stream
	h.ready.Unlock()

	s.log.Info("demo camera serving", "width", s.clip.width, "height", s.clip.height,
		"fps", ClipFPS, "frames", len(s.clip.aus), "udp", s.udpRTP != nil)

	serverDone := make(chan error, 1)
	go func() { serverDone <- srv.Wait() }()

	err := s.feed(ctx, stream, serverDone)

	stream.Close()
	srv.Close()
	<-serverDone
	if err != nil {
		return fmt.Errorf("democam: %w", err)
	}
	s.log.Info("demo camera stopped")
	return nil
}

// Close stops Run and waits for it to return, or releases the sockets if
// Run never ran. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	running := s.handedTo
	stop, done := s.stopRun, s.runDone
	s.mu.Unlock()
	if running {
		stop()
		<-done
		return
	}
	s.closeSockets()
}

func (s *Server) closeSockets() {
	s.tcp.Close()
	if s.udpRTP != nil {
		s.udpRTP.Close()
		s.udpRTCP.Close()
	}
}

// feed writes the clip's access units to the stream in real time, looping
// forever, until ctx ends (nil) or the server fails (its error). RTP
// timestamps keep counting across loops, so readers see one endless
// stream at exactly ClipFPS, with no jump at the seam.
func (s *Server) feed(ctx context.Context, stream *gortsplib.ServerStream, serverDone <-chan error) error {
	enc, err := s.fmt.CreateEncoder()
	if err != nil {
		return fmt.Errorf("create RTP encoder: %w", err)
	}
	const frameTicks = clockRate / ClipFPS
	frameDur := time.Second / ClipFPS
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	rtpStart := randomUint32()

	for n := uint64(0); ; n++ {
		at := start.Add(time.Duration(n) * frameDur)
		timer.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			return nil
		case err := <-serverDone:
			if err == nil {
				err = errors.New("closed")
			}
			return fmt.Errorf("RTSP server stopped: %w", err)
		case <-timer.C:
		}

		au := s.clip.aus[n%uint64(len(s.clip.aus))]
		pkts, err := enc.Encode(au)
		if err != nil {
			return fmt.Errorf("packetize frame %d: %w", n, err)
		}
		ts := rtpStart + uint32(n*frameTicks) // wraps, as RTP timestamps do
		for _, pkt := range pkts {
			pkt.Timestamp = ts
			if err := stream.WritePacketRTPWithNTP(s.media, pkt, at); err != nil {
				return fmt.Errorf("write frame %d: %w", n, err)
			}
		}
		if late := time.Since(at); late > time.Second {
			// the machine was suspended or starved: start over from now
			// rather than send a burst of stale frames
			s.log.Warn("demo camera fell behind, resynchronising", "late", late)
			start = time.Now().Add(-time.Duration(n+1) * frameDur)
		}
	}
}

// urlHost is the host to put in URLs for a listen host: loopback for "all
// interfaces", which is reachable from this machine at least.
func urlHost(host string) string {
	if host == "" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() == nil {
			return "::1"
		}
		return "127.0.0.1"
	}
	return host
}
