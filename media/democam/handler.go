package democam

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// handler answers RTSP requests for the one stream at path; anything else
// is 404, and publishing (ANNOUNCE/RECORD) is refused by gortsplib because
// the handler does not implement it.
type handler struct {
	path string
	log  *slog.Logger
	done <-chan struct{} // closed when Run stops

	// ready is write-locked by Run until stream is set.
	ready  sync.RWMutex
	stream *gortsplib.ServerStream

	// udpGate lets one UDP reader at a time go from SETUP to PLAY.
	// gortsplib v4.16.2 checks a UDP SETUP against the other UDP readers'
	// media maps (ServerStream.readerAdd) while those readers' own
	// goroutines may still be writing them right after their SETUP: a data
	// race, and a possible "concurrent map iteration and map write" crash
	// when two UDP readers on one host connect at the same moment. A
	// reader's map is complete once it sends PLAY, so readers pass the gate
	// one by one; one that never plays holds it until its session closes,
	// and others give up waiting after udpSetupWait and go ahead.
	udpGate   chan struct{}
	udpMu     sync.Mutex
	udpHolder *gortsplib.ServerSession
}

// udpSetupWait bounds how long a UDP SETUP waits for the one before it.
const udpSetupWait = 2 * time.Second

func newHandler(path string, log *slog.Logger, done <-chan struct{}) *handler {
	return &handler{path: path, log: log, done: done, udpGate: make(chan struct{}, 1)}
}

// compile-time checks: gortsplib finds the callbacks by interface
var (
	_ gortsplib.ServerHandlerOnDescribe     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*handler)(nil)
	_ gortsplib.ServerHandlerOnPlay         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionOpen  = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*handler)(nil)
)

func (h *handler) streamAt(path string) (*base.Response, *gortsplib.ServerStream, error) {
	if path != h.path {
		return &base.Response{StatusCode: base.StatusNotFound}, nil,
			fmt.Errorf("no stream at %q (the demo camera is at %q)", path, h.path)
	}
	h.ready.RLock()
	defer h.ready.RUnlock()
	if h.stream == nil {
		// Run failed while starting; gortsplib panics on OK without a stream
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, errors.New("demo stream not available")
	}
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

// OnDescribe answers DESCRIBE with the stream's SDP.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.streamAt(ctx.Path)
}

// OnSetup attaches a reader (TCP or UDP) to the stream.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, stream, err := h.streamAt(ctx.Path)
	if err == nil && ctx.Transport == gortsplib.TransportUDP {
		h.enterUDPSetup(ctx.Session)
	}
	return res, stream, err
}

// OnPlay lets a reader start receiving.
func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.leaveUDPSetup(ctx.Session)
	h.log.Debug("demo camera reader playing", "remote", ctx.Conn.NetConn().RemoteAddr().String())
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionOpen logs a new reader session.
func (h *handler) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	h.log.Debug("demo camera session opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
}

// OnSessionClose logs a reader leaving.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.leaveUDPSetup(ctx.Session)
	h.log.Debug("demo camera session closed", "err", ctx.Error)
}

// enterUDPSetup waits for the UDP gate (see handler.udpGate).
func (h *handler) enterUDPSetup(ss *gortsplib.ServerSession) {
	h.udpMu.Lock()
	mine := h.udpHolder == ss
	h.udpMu.Unlock()
	if mine {
		return
	}
	timer := time.NewTimer(udpSetupWait)
	defer timer.Stop()
	select {
	case h.udpGate <- struct{}{}:
		h.udpMu.Lock()
		h.udpHolder = ss
		h.udpMu.Unlock()
	case <-timer.C:
		h.log.Warn("UDP reader set up while another one was still setting up", "waited", udpSetupWait)
	case <-h.done:
	}
}

// leaveUDPSetup opens the UDP gate if ss holds it.
func (h *handler) leaveUDPSetup(ss *gortsplib.ServerSession) {
	h.udpMu.Lock()
	defer h.udpMu.Unlock()
	if h.udpHolder == ss {
		h.udpHolder = nil
		<-h.udpGate
	}
}

// handOver returns a gortsplib Listen function that gives it the listener
// New already bound, so that the port is known before the server starts.
func handOver(ln net.Listener) func(network, address string) (net.Listener, error) {
	return func(_, address string) (net.Listener, error) {
		if address != ln.Addr().String() {
			return nil, fmt.Errorf("unexpected TCP listen on %s", address)
		}
		return ln, nil
	}
}

// handOverPackets is handOver for the UDP pair.
func handOverPackets(conns ...net.PacketConn) func(network, address string) (net.PacketConn, error) {
	return func(_, address string) (net.PacketConn, error) {
		for _, pc := range conns {
			if pc.LocalAddr().String() == address {
				return pc, nil
			}
		}
		return nil, fmt.Errorf("unexpected UDP listen on %s", address)
	}
}

// listenUDPPair binds RTP on an even port and RTCP on the next one, as
// RTSP over UDP requires. With port 0 it looks for a free pair.
func listenUDPPair(host string, port int) (rtp, rtcp net.PacketConn, err error) {
	if port != 0 {
		return listenPair(host, port)
	}
	const tries = 50
	for range tries {
		probe, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("listen UDP on %s: %w", host, err)
		}
		p := probe.LocalAddr().(*net.UDPAddr).Port
		if p%2 == 0 {
			// keep the even port; we only need the next one too
			next, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p+1)))
			if err == nil {
				return probe, next, nil
			}
			probe.Close()
			continue
		}
		probe.Close()
		if rtp, rtcp, err = listenPair(host, p-1); err == nil {
			return rtp, rtcp, nil
		}
	}
	return nil, nil, fmt.Errorf("no free pair of UDP ports on %s after %d tries", host, tries)
}

func listenPair(host string, port int) (net.PacketConn, net.PacketConn, error) {
	rtp, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, fmt.Errorf("listen UDP (RTP) on port %d: %w", port, err)
	}
	rtcp, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port+1)))
	if err != nil {
		rtp.Close()
		return nil, nil, fmt.Errorf("listen UDP (RTCP) on port %d: %w", port+1, err)
	}
	return rtp, rtcp, nil
}

// randomUint32 is a random RTP timestamp origin (RFC 3550 5.1).
func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.BigEndian.Uint32(b[:])
}
