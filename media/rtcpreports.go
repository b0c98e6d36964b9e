package media

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// RTCP sender and receiver reports for every PeerConnection, sent by one
// goroutine per factory. pion's report interceptors (what
// webrtc.ConfigureRTCPReports registers) start two goroutines per
// PeerConnection, each with a ticker and a stack, to write once a second:
// with hundreds of calls, hundreds of stacks. The statistics are
// computed as pion's report/sender_stream.go and receiver_stream.go compute
// them (MIT, The Pion community); rtcpreports_test.go checks that against
// pion itself.

const (
	// rtcpReportInterval is how often each PeerConnection sends its
	// reports: pion's default.
	rtcpReportInterval = time.Second
	// rtcpStallAfter is how long one report write may hold up the others:
	// a write still under way then is left to finish in its goroutine, and
	// a fresh goroutine carries on with the tick. A write is a UDP send and
	// normally takes microseconds.
	rtcpStallAfter = 100 * time.Millisecond
	// rtcpMaxWrite bounds the bytes of one RTCP write (one compound packet)
	// so that it fits in a datagram with SRTCP's overhead.
	rtcpMaxWrite = 1200
	// rtcpMaxBlocks is how many reception reports one RR carries (its
	// 5-bit count).
	rtcpMaxBlocks = 31
	// recvHistoryWords is pion's received-packet bitmap: 128×64 sequence
	// numbers.
	recvHistoryWords = 128
)

// rtcpReports is an interceptor.Factory whose interceptors send RTCP sender
// and receiver reports like pion's report interceptors, from one ticker
// goroutine shared by all of them. The goroutine runs while at least one
// interceptor has a writer bound and is not closed.
type rtcpReports struct {
	interval   time.Duration
	stallAfter time.Duration
	now        func() time.Time // injectable for the tests
	log        *slog.Logger

	mu      sync.Mutex
	writers map[*rtcpReporter]struct{} // bound and not closed
	loop    *reportLoop                // nil while writers is empty
}

// newRTCPReports returns a factory whose interceptors report every interval
// (rtcpReportInterval when 0); failed writes are logged at debug level.
func newRTCPReports(interval time.Duration, log *slog.Logger) *rtcpReports {
	if interval <= 0 {
		interval = rtcpReportInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &rtcpReports{
		interval: interval, stallAfter: rtcpStallAfter, now: time.Now, log: log,
		writers: map[*rtcpReporter]struct{}{},
	}
}

// NewInterceptor returns the reports of one PeerConnection.
func (f *rtcpReports) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &rtcpReporter{f: f}, nil
}

// bind adds r to the reporting, starting the goroutine for the first one.
func (f *rtcpReports) bind(r *rtcpReporter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writers[r] = struct{}{}
	if f.loop == nil {
		f.loop = &reportLoop{f: f, stop: make(chan struct{}), ticker: time.NewTicker(f.interval)}
		go f.loop.run()
	}
}

// unbind takes r out of the reporting, stopping the goroutine after the
// last one.
func (f *rtcpReports) unbind(r *rtcpReporter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.writers, r)
	if len(f.writers) == 0 && f.loop != nil {
		close(f.loop.stop)
		f.loop = nil
	}
}

// reportLoop is one run of the ticker goroutine. It is owned by one
// goroutine at a time: when a write stalls, the watchdog timer's goroutine
// takes it over and the stalled one exits once its write returns.
type reportLoop struct {
	f      *rtcpReports
	stop   chan struct{}
	ticker *time.Ticker

	mu      sync.Mutex // hands pending from a stalled goroutine to its successor
	pending []*rtcpReporter
}

func (l *reportLoop) run() {
	// armed while a write is under way; if it fires, its own goroutine
	// carries on with the loop
	wd := time.AfterFunc(time.Hour, l.run)
	wd.Stop()
	for {
		r, ok := l.next()
		if !ok {
			return
		}
		if !r.send(wd) {
			return
		}
	}
}

// next returns the next interceptor to report for, waiting for the tick
// when this one's are all sent; false when the loop is stopped.
func (l *reportLoop) next() (*rtcpReporter, bool) {
	for {
		select {
		case <-l.stop:
			l.ticker.Stop()
			l.mu.Lock()
			clear(l.pending) // the closed interceptors are garbage now
			l.pending = l.pending[:0]
			l.mu.Unlock()
			return nil, false
		default:
		}
		l.mu.Lock()
		if n := len(l.pending); n > 0 {
			r := l.pending[n-1]
			l.pending[n-1] = nil
			l.pending = l.pending[:n-1]
			l.mu.Unlock()
			return r, true
		}
		l.mu.Unlock()
		select {
		case <-l.stop:
			continue
		case <-l.ticker.C:
		}
		l.f.mu.Lock()
		l.mu.Lock()
		for r := range l.f.writers {
			l.pending = append(l.pending, r)
		}
		l.mu.Unlock()
		l.f.mu.Unlock()
	}
}

// rtcpReporter is the interceptor of one PeerConnection.
type rtcpReporter struct {
	f *rtcpReports

	// mu guards the fields below; the RTP path does not take it, and no
	// write is made while it is held
	mu     sync.Mutex
	writer interceptor.RTCPWriter
	local  []*sendStats // in the order bound: the first one's SSRC sends the RRs
	remote []*recvStats
	closed bool

	busy atomic.Bool // a report write is under way (it may have stalled)
}

// send writes the interceptor's reports; false when the write stalled and
// the watchdog's goroutine owns the loop now.
func (r *rtcpReporter) send(wd *time.Timer) bool {
	if !r.busy.CompareAndSwap(false, true) {
		return true // the last write has not returned: these go with the next tick
	}
	defer r.busy.Store(false)
	now := r.f.now() // per interceptor: an SR's NTP time is when it leaves
	r.mu.Lock()
	w := r.writer
	var pkts []rtcp.Packet
	if !r.closed && w != nil {
		pkts = r.collect(now)
	}
	r.mu.Unlock()
	for len(pkts) > 0 {
		// one compound packet per write, as many as fit a datagram
		n, size := 0, 0
		for n < len(pkts) && (n == 0 || size+pkts[n].MarshalSize() <= rtcpMaxWrite) {
			size += pkts[n].MarshalSize()
			n++
		}
		wd.Reset(r.f.stallAfter)
		_, err := w.Write(pkts[:n], interceptor.Attributes{})
		stalled := !wd.Stop()
		if err != nil {
			r.f.log.Debug("send RTCP reports", "err", err)
		}
		if stalled {
			r.f.log.Debug("an RTCP report write stalled; reporting went on without it")
			return false
		}
		pkts = pkts[n:]
	}
	return true
}

// collect returns an SR per local stream that has sent something and an
// RR (or more, 31 reports each) for the remote streams heard from. r.mu is
// held.
func (r *rtcpReporter) collect(now time.Time) []rtcp.Packet {
	var pkts []rtcp.Packet
	for _, s := range r.local {
		if sr := s.report(now); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	var rr *rtcp.ReceiverReport
	for _, s := range r.remote {
		rb, ok := s.report(now)
		if !ok {
			continue
		}
		if rr == nil || len(rr.Reports) == rtcpMaxBlocks {
			rr = &rtcp.ReceiverReport{SSRC: r.senderSSRC()}
			pkts = append(pkts, rr)
		}
		rr.Reports = append(rr.Reports, rb)
	}
	return pkts
}

// senderSSRC is the SSRC the RRs are sent from: the first local stream's,
// or 0 when this side sends nothing. (pion sends one RR per remote stream,
// each from a random SSRC of its own; RFC 3550 6.4.2 has the RR carry the
// reporter's SSRC.) r.mu is held.
func (r *rtcpReporter) senderSSRC() uint32 {
	if len(r.local) > 0 {
		return r.local[0].ssrc
	}
	return 0
}

// BindRTCPWriter joins the shared reporting; it is called once per
// PeerConnection.
func (r *rtcpReporter) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return w
	}
	first := r.writer == nil
	r.writer = w
	if first {
		r.f.bind(r) // under r.mu, so that a concurrent Close unbinds it
	}
	return w
}

// BindRTCPReader notes the Sender Reports received, for the LSR and DLSR
// of the reception reports.
func (r *rtcpReporter) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		r.senderReports(b[:n])
		return n, attr, nil
	})
}

// senderReports walks a compound RTCP packet for Sender Reports without
// unmarshalling it (which allocates): only the SSRC and NTP time are needed.
func (r *rtcpReporter) senderReports(b []byte) {
	for len(b) >= 4 && b[0]>>6 == 2 {
		size := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if size > len(b) {
			return
		}
		if b[1] == uint8(rtcp.TypeSenderReport) && size >= 20 {
			ssrc := binary.BigEndian.Uint32(b[4:8])
			ntp := binary.BigEndian.Uint64(b[8:16])
			r.mu.Lock()
			for _, s := range r.remote {
				if s.ssrc == ssrc {
					s.senderReport(r.f.now(), ntp)
					break
				}
			}
			r.mu.Unlock()
		}
		b = b[size:]
	}
}

// BindLocalStream counts what is sent on one local stream.
func (r *rtcpReporter) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	s := &sendStats{ssrc: info.SSRC, clockRate: float64(info.ClockRate)}
	r.mu.Lock()
	if !r.closed {
		r.local = replaceStream(r.local, s, func(o *sendStats) bool { return o.ssrc == s.ssrc })
	}
	r.mu.Unlock()
	now := r.f.now
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		s.sent(now(), h.SequenceNumber, h.Timestamp, len(payload))
		return w.Write(h, payload, a)
	})
}

// UnbindLocalStream forgets a local stream.
func (r *rtcpReporter) UnbindLocalStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.local = removeStream(r.local, func(o *sendStats) bool { return o.ssrc == info.SSRC })
}

// BindRemoteStream keeps the reception statistics of one remote stream.
func (r *rtcpReporter) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	s := &recvStats{ssrc: info.SSRC, clockRate: float64(info.ClockRate)}
	r.mu.Lock()
	if !r.closed {
		r.remote = replaceStream(r.remote, s, func(o *recvStats) bool { return o.ssrc == s.ssrc })
	}
	r.mu.Unlock()
	now := r.f.now
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		// the sequence number and timestamp straight from the header: pion's
		// GetRTPHeader allocates a header (and attributes) per packet
		if n >= 12 && b[0]>>6 == 2 {
			s.received(now(), binary.BigEndian.Uint16(b[2:4]), binary.BigEndian.Uint32(b[4:8]))
		}
		return n, attr, nil
	})
}

// UnbindRemoteStream forgets a remote stream.
func (r *rtcpReporter) UnbindRemoteStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remote = removeStream(r.remote, func(o *recvStats) bool { return o.ssrc == info.SSRC })
}

// Close leaves the shared reporting; the goroutine stops after the last
// interceptor. A report being written at that moment may still go out.
func (r *rtcpReporter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.writer != nil {
		r.f.unbind(r)
	}
	r.writer, r.local, r.remote = nil, nil, nil
	return nil
}

func replaceStream[S any](list []*S, s *S, same func(*S) bool) []*S {
	for i, o := range list {
		if same(o) {
			list[i] = s
			return list
		}
	}
	return append(list, s)
}

func removeStream[S any](list []*S, same func(*S) bool) []*S {
	for i, o := range list {
		if same(o) {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// sendStats is what a Sender Report says about one local stream (pion's
// senderStream, without its useLatestPacket option).
type sendStats struct {
	ssrc      uint32
	clockRate float64

	mu          sync.Mutex
	lastRTP     uint32    // RTP timestamp of the last frame started
	lastRTPTime time.Time // when it was sent
	lastSeq     uint16
	packets     uint32
	octets      uint32
}

func (s *sendStats) sent(now time.Time, seq uint16, ts uint32, payload int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if diff := seq - s.lastSeq; s.packets == 0 || (diff > 0 && diff < 1<<15) {
		// the first packet or one in order: a late one must not move the
		// timestamp back
		s.lastSeq = seq
		// only a frame's first packet: the time to push out a large frame
		// must not skew the timestamp
		if ts != s.lastRTP {
			s.lastRTP = ts
			s.lastRTPTime = now
		}
	}
	s.packets++
	s.octets += uint32(payload)
}

// report returns nil before anything was sent: RFC 3550 6.4, such a source
// sends RRs only.
func (s *sendStats) report(now time.Time) *rtcp.SenderReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        s.ssrc,
		NTPTime:     toNTP(now),
		RTPTime:     s.lastRTP + uint32(now.Sub(s.lastRTPTime).Seconds()*s.clockRate),
		PacketCount: s.packets,
		OctetCount:  s.octets,
	}
}

// recvStats is the RFC 3550 reception statistics of one remote stream,
// computed as pion's receiverStream does.
type recvStats struct {
	ssrc      uint32
	clockRate float64

	mu            sync.Mutex
	history       [recvHistoryWords]uint64 // a bit per sequence number received
	started       bool
	cycles        uint16
	lastSeq       uint16
	lastReportSeq uint16
	lastRTP       uint32
	lastRTPTime   time.Time
	jitter        float64
	lastSR        uint32 // middle 32 bits of the last SR's NTP time
	lastSRTime    time.Time
	totalLost     uint32
}

func (s *recvStats) received(now time.Time, seq uint16, ts uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(seq, true)
	if !s.started {
		s.started = true
		s.lastSeq = seq
		s.lastReportSeq = seq - 1
		s.lastRTP = ts
		s.lastRTPTime = now
		return
	}
	if diff := seq - s.lastSeq; diff > 0 && diff < 1<<15 {
		if seq < s.lastSeq {
			s.cycles++
		}
		for i := s.lastSeq + 1; i != seq; i++ {
			s.set(i, false)
		}
		s.lastSeq = seq
	}
	// RFC 3550 A.8, in timestamp units
	d := now.Sub(s.lastRTPTime).Seconds()*s.clockRate - (float64(ts) - float64(s.lastRTP))
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) / 16
	s.lastRTP = ts
	s.lastRTPTime = now
}

func (s *recvStats) set(seq uint16, received bool) {
	pos := seq % (recvHistoryWords * 64)
	if received {
		s.history[pos/64] |= 1 << (pos % 64)
	} else {
		s.history[pos/64] &^= 1 << (pos % 64)
	}
}

func (s *recvStats) has(seq uint16) bool {
	pos := seq % (recvHistoryWords * 64)
	return s.history[pos/64]&(1<<(pos%64)) != 0
}

func (s *recvStats) senderReport(now time.Time, ntp uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSR = uint32(ntp >> 16)
	s.lastSRTime = now
}

// report returns the reception report since the last one; false before the
// first packet (RFC 3550 6.4: reports are for sources heard from).
func (s *recvStats) report(now time.Time) (rtcp.ReceptionReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return rtcp.ReceptionReport{}, false
	}
	expected := s.lastSeq - s.lastReportSeq
	var lost uint32
	if s.lastSeq != s.lastReportSeq {
		for i := s.lastReportSeq + 1; i != s.lastSeq; i++ {
			if !s.has(i) {
				lost++
			}
		}
	}
	s.totalLost += lost
	// 24 bits
	lost = min(lost, 0xFFFFFF)
	s.totalLost = min(s.totalLost, 0xFFFFFF)
	var fraction uint8
	if expected != 0 {
		fraction = uint8(float64(lost*256) / float64(expected))
	}
	var delay uint32
	if !s.lastSRTime.IsZero() {
		delay = uint32(now.Sub(s.lastSRTime).Seconds() * 65536)
	}
	s.lastReportSeq = s.lastSeq
	return rtcp.ReceptionReport{
		SSRC:               s.ssrc,
		LastSequenceNumber: uint32(s.cycles)<<16 | uint32(s.lastSeq),
		LastSenderReport:   s.lastSR,
		FractionLost:       fraction,
		TotalLost:          s.totalLost,
		Delay:              delay,
		Jitter:             uint32(s.jitter),
	}, true
}

// toNTP is pion's internal ntp.ToNTP: t as a 64-bit NTP timestamp.
func toNTP(t time.Time) uint64 {
	s := float64(t.UnixNano())/1e9 + 2208988800 // seconds since 1900
	integer := uint32(s)
	fraction := uint32((s - float64(integer)) * 0xFFFFFFFF)
	return uint64(integer)<<32 | uint64(fraction)
}
