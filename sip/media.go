package sip

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

const (
	// rtpQueueLen bounds the packets waiting for ReadRTP: a second of
	// 20 ms audio. Beyond it packets are dropped (and counted), so a
	// stalled reader never stalls the socket reader. The bridge takes the
	// packets on the reader itself (SetRTPHandler) and never queues here.
	rtpQueueLen = 50
	// maxRTPPacket is the largest datagram we read; RTP over UDP stays
	// well below an Ethernet MTU.
	maxRTPPacket = 1500
	// rtpBindTries bounds the search for a free even/odd port pair.
	rtpBindTries = 50
)

// rtpSession is a call's media sockets: RTP on an even port and RTCP on the
// next one. It reads RTP in one goroutine and RTCP in another; both stop
// when close is called.
type rtpSession struct {
	rtp, rtcp *net.UDPConn
	local     netip.AddrPort
	log       *slog.Logger

	codecPT, dtmfPT uint8
	clockRate       uint32
	// allowed is the set of IPs we take RTP from: the robot's signalling
	// source and its SDP address. Anything else is dropped, so a stranger
	// cannot steer our media to itself by sending one packet.
	allowedMu sync.Mutex
	allowed   map[netip.Addr]bool

	// remote is where WriteRTP sends: the SDP address until the first
	// packet arrives, then that packet's source (symmetric RTP, RFC 4961).
	remote  atomic.Pointer[netip.AddrPort]
	latched atomic.Bool
	sending atomic.Bool // false while the robot does not want our media
	// lastRecv is the UnixNano time of the last RTP packet from the robot.
	lastRecv atomic.Int64

	in     chan []byte
	events func(CallEvent) // must not block
	// handler, when set, takes every audio packet on the reading goroutine
	// instead of in (Call.SetRTPHandler).
	handler atomic.Pointer[func([]byte)]

	received, dropped, foreign, rtcpPackets atomic.Uint64

	// RTCP: sent to rtcpRemote from the RTCP socket, or with rtcp-mux to
	// remote from the RTP socket. rtcpRemote is the SDP's (a=rtcp, else
	// the RTP port + 1) until the robot's first RTCP packet latches its
	// source, like RTP.
	stats        *rtcpStats
	rtcpMux      atomic.Bool
	rtcpRemote   atomic.Pointer[netip.AddrPort]
	rtcpLatched  atomic.Bool
	rtcpInterval time.Duration // 0: we send no RTCP
	// rtcpMu serialises our reports with close: a timer (no goroutine of
	// its own between reports, calls are many) sends them until stopped.
	rtcpMu      sync.Mutex
	rtcpTimer   *time.Timer
	rtcpStopped bool

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// listenRTP binds an even RTP port and the odd RTCP port above it on ip,
// within [lo, hi] (both 0: any free port).
func listenRTP(ip netip.Addr, lo, hi int) (rtp, rtcp *net.UDPConn, err error) {
	bind := func(port int) (*net.UDPConn, *net.UDPConn, error) {
		r, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, nil, err
		}
		p := r.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p == 65535 {
			_ = r.Close()
			return nil, nil, fmt.Errorf("odd port %d", p)
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p+1))))
		if err != nil {
			_ = r.Close()
			return nil, nil, err
		}
		return r, c, nil
	}
	var errs []error
	if lo == 0 && hi == 0 {
		for range rtpBindTries {
			r, c, err := bind(0)
			if err == nil {
				return r, c, nil
			}
			errs = append(errs, err)
		}
		return nil, nil, fmt.Errorf("bind rtp on %s: %w", ip, errs[len(errs)-1])
	}
	first := lo + lo%2
	pairs := (hi - first + 1) / 2 // even ports p with p+1 <= max
	if pairs <= 0 {
		return nil, nil, fmt.Errorf("bind rtp: no even port pair in %d-%d", lo, hi)
	}
	start := rand.IntN(pairs)
	for i := range min(pairs, rtpBindTries) {
		port := first + 2*((start+i)%pairs)
		r, c, err := bind(port)
		if err == nil {
			return r, c, nil
		}
		errs = append(errs, err)
	}
	return nil, nil, fmt.Errorf("bind rtp on %s in %d-%d: %w", ip, lo, hi, errs[len(errs)-1])
}

// newRTPSession binds the sockets and starts reading them; with
// rtcpEvery > 0 it sends RTCP reports about that often.
func newRTPSession(ip netip.Addr, portMin, portMax int, codec Codec, rtcpEvery time.Duration, log *slog.Logger, events func(CallEvent)) (*rtpSession, error) {
	rtp, rtcp, err := listenRTP(ip, portMin, portMax)
	if err != nil {
		return nil, err
	}
	return startRTPSession(rtp, rtcp, codec, rtcpEvery, log, events), nil
}

// startRTPSession starts reading sockets bound by listenRTP, once the
// codec is known (after the answer, for calls we make), and sending RTCP.
func startRTPSession(rtp, rtcp *net.UDPConn, codec Codec, rtcpEvery time.Duration, log *slog.Logger, events func(CallEvent)) *rtpSession {
	m := &rtpSession{
		rtp: rtp, rtcp: rtcp, local: rtp.LocalAddr().(*net.UDPAddr).AddrPort(), log: log,
		codecPT: codec.PayloadType, dtmfPT: codec.DTMFPayloadType, clockRate: codec.ClockRate,
		allowed: make(map[netip.Addr]bool),
		in:      make(chan []byte, rtpQueueLen),
		events:  events,
		// a random CNAME per call (RFC 7022): nothing about the host
		stats:        newRTCPStats(codec.ClockRate, fmt.Sprintf("%016x@attendant", rand.Uint64())),
		rtcpInterval: max(rtcpEvery, 0),
	}
	m.wg.Add(2)
	go m.readRTP()
	go m.readRTCP()
	if m.rtcpInterval > 0 {
		m.rtcpMu.Lock()
		m.rtcpTimer = time.AfterFunc(rtcpInterval(m.rtcpInterval), m.rtcpTick)
		m.rtcpMu.Unlock()
	}
	return m
}

// allow adds an IP that may send us RTP.
func (m *rtpSession) allow(ip netip.Addr) {
	if !ip.IsValid() || ip.IsUnspecified() {
		return
	}
	m.allowedMu.Lock()
	m.allowed[ip.Unmap()] = true
	m.allowedMu.Unlock()
}

func (m *rtpSession) isAllowed(ip netip.Addr) bool {
	m.allowedMu.Lock()
	defer m.allowedMu.Unlock()
	return m.allowed[ip.Unmap()]
}

// setRemote sets the SDP address, used until the first packet latches the
// real source. An invalid address (hold with c=0.0.0.0) keeps the old one.
func (m *rtpSession) setRemote(a netip.AddrPort) {
	if !a.IsValid() {
		return
	}
	m.allow(a.Addr())
	if !m.latched.Load() {
		m.remote.Store(&a)
	}
}

// setRTCPRemote sets where RTCP goes from the robot's SDP: multiplexed on
// the RTP port (mux), else its a=rtcp address, else the RTP port + 1
// (RFC 3605, RFC 3550 section 11). The robot's first RTCP packet latches
// its real source, as for RTP.
func (m *rtpSession) setRTCPRemote(o offer, mux bool) {
	m.rtcpMux.Store(mux)
	a := o.rtcpAddr
	if !a.IsValid() && o.addr.IsValid() && o.addr.Port() < 65535 {
		a = netip.AddrPortFrom(o.addr.Addr(), o.addr.Port()+1)
	}
	if mux || !a.IsValid() {
		return
	}
	m.allow(a.Addr())
	if !m.rtcpLatched.Load() {
		m.rtcpRemote.Store(&a)
	}
}

func (m *rtpSession) readRTP() {
	defer m.wg.Done()
	buf := make([]byte, maxRTPPacket)
	var dtmf dtmfDetector
	var lastAllowed netip.Addr // the allowed set only grows: one lookup per source
	for {
		n, src, err := m.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Warn("rtp read failed", "error", err)
			}
			return
		}
		p := buf[:n]
		if n < 12 || p[0]>>6 != 2 {
			m.dropped.Add(1)
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if src.Addr() != lastAllowed {
			if !m.isAllowed(src.Addr()) {
				m.foreign.Add(1)
				continue
			}
			lastAllowed = src.Addr()
		}
		if pt := p[1] & 0x7f; pt >= 64 && pt <= 95 {
			// RTCP multiplexed on the RTP port (RFC 5761 section 4)
			m.rtcpPackets.Add(1)
			_ = m.stats.receivedRTCP(p, time.Now())
			continue
		}
		pt := p[1] & 0x7f
		if pt != m.codecPT && (m.dtmfPT == 0 || pt != m.dtmfPT) {
			m.dropped.Add(1)
			continue
		}
		now := time.Now()
		m.lastRecv.Store(now.UnixNano())
		if cur := m.remote.Load(); cur == nil || *cur != src {
			m.remote.Store(&src)
		}
		m.latched.Store(true)
		m.received.Add(1)
		m.stats.receivedRTP(p, now, pt == m.codecPT)
		if pt == m.dtmfPT {
			payload, ok := rtpPayload(p)
			if !ok {
				continue
			}
			ts := uint32(p[4])<<24 | uint32(p[5])<<16 | uint32(p[6])<<8 | uint32(p[7])
			for _, press := range dtmf.packet(ts, payload) {
				m.events(CallEvent{Kind: EventDTMF, Digit: press.digit,
					Duration: clockDuration(uint32(press.duration), m.clockRate), At: time.Now()})
			}
			continue
		}
		if h := m.handler.Load(); h != nil {
			(*h)(p)
			continue
		}
		pkt := make([]byte, n)
		copy(pkt, p)
		select {
		case m.in <- pkt:
		default:
			m.dropped.Add(1) // drop, don't block: a slow bridge must not stall the reader
		}
	}
}

// rtpPayload returns an RTP packet's payload after CSRCs, extension and
// padding; ok is false for a malformed packet.
func rtpPayload(p []byte) ([]byte, bool) {
	if len(p) < 12 {
		return nil, false
	}
	off := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 { // header extension
		if len(p) < off+4 {
			return nil, false
		}
		off += 4 + 4*(int(p[off+2])<<8|int(p[off+3]))
	}
	end := len(p)
	if p[0]&0x20 != 0 { // padding
		if end == 0 {
			return nil, false
		}
		end -= int(p[end-1])
	}
	if off > end {
		return nil, false
	}
	return p[off:end], true
}

// readRTCP takes the robot's RTCP reports into the call's stats. The
// first one from an allowed IP latches where ours go (symmetric RTCP).
func (m *rtpSession) readRTCP() {
	defer m.wg.Done()
	buf := make([]byte, maxRTPPacket)
	for {
		n, src, err := m.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Warn("rtcp read failed", "error", err)
			}
			return
		}
		m.rtcpPackets.Add(1)
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if !m.isAllowed(src.Addr()) {
			m.foreign.Add(1)
			continue
		}
		if m.stats.receivedRTCP(buf[:n], time.Now()) != nil {
			continue // not RTCP: no reason to send ours there
		}
		if cur := m.rtcpRemote.Load(); cur == nil || *cur != src {
			m.rtcpRemote.Store(&src)
		}
		m.rtcpLatched.Store(true)
	}
}

// rtcpTick sends our report and sets the timer for the next one
// (rtcpInterval, randomised), until close.
func (m *rtpSession) rtcpTick() {
	m.rtcpMu.Lock()
	defer m.rtcpMu.Unlock()
	if m.rtcpStopped {
		return
	}
	m.sendReport(false)
	m.rtcpTimer.Reset(rtcpInterval(m.rtcpInterval))
}

// sendReport sends one compound RTCP packet, with a BYE at the end of
// the call (RFC 3550 section 6.6).
func (m *rtpSession) sendReport(bye bool) {
	conn, dst := m.rtcp, m.rtcpRemote.Load()
	if m.rtcpMux.Load() {
		conn, dst = m.rtp, m.remote.Load()
	}
	if dst == nil {
		return
	}
	pkts := m.stats.report(time.Now())
	if bye {
		var ssrc uint32
		switch p := pkts[0].(type) {
		case *rtcp.SenderReport:
			ssrc = p.SSRC
		case *rtcp.ReceiverReport:
			ssrc = p.SSRC
		}
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{ssrc}})
	}
	buf, err := rtcp.Marshal(pkts)
	if err != nil {
		m.log.Warn("rtcp report not built", "error", err)
		return
	}
	if _, err := conn.WriteToUDPAddrPort(buf, *dst); err != nil {
		m.log.Debug("rtcp report not sent", "to", dst.String(), "error", err)
		return
	}
	m.stats.reportSent()
}

// write sends one RTP packet to the robot, or drops it while the robot
// does not want our media (hold) or has given no address.
func (m *rtpSession) write(pkt []byte) error {
	if !m.sending.Load() {
		return nil
	}
	dst := m.remote.Load()
	if dst == nil {
		return nil
	}
	if _, err := m.rtp.WriteToUDPAddrPort(pkt, *dst); err != nil {
		return fmt.Errorf("write rtp to %s: %w", dst, err)
	}
	m.stats.sent(pkt, time.Now())
	return nil
}

// close stops our reports, sends the last one with an RTCP BYE, closes
// both sockets and waits for the readers.
func (m *rtpSession) close() {
	m.closeOnce.Do(func() {
		m.rtcpMu.Lock()
		m.rtcpStopped = true // a report being sent finishes first: we hold its lock
		if m.rtcpTimer != nil {
			m.rtcpTimer.Stop()
			if m.stats.active() {
				m.sendReport(true)
			}
		}
		m.rtcpMu.Unlock()
		_ = m.rtp.Close()
		_ = m.rtcp.Close()
	})
	m.wg.Wait()
}
