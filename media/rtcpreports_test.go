package media

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
)

const (
	testLocalSSRC  = 0x1111
	testRemoteSSRC = 0x2222
)

// fakeClock is the now of both pion's interceptors and ours in the
// equivalence tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// recvPort drives an interceptor's remote stream and RTCP reader by hand:
// each call hands one packet through the reader it returned.
type recvPort struct {
	t        *testing.T
	cur      []byte
	rtpIn    interceptor.RTPReader
	rtcpIn   interceptor.RTCPReader
	readBuf  []byte
	readAttr interceptor.Attributes
}

func bindRecvPort(t *testing.T, i interceptor.Interceptor, clockRate uint32) *recvPort {
	p := &recvPort{t: t, readBuf: make([]byte, 1500)}
	src := func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, p.cur), a, nil
	}
	p.rtpIn = i.BindRemoteStream(&interceptor.StreamInfo{SSRC: testRemoteSSRC, ClockRate: clockRate}, interceptor.RTPReaderFunc(src))
	p.rtcpIn = i.BindRTCPReader(interceptor.RTCPReaderFunc(src))
	return p
}

func (p *recvPort) rtp(seq uint16, ts uint32) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: testRemoteSSRC}, Payload: make([]byte, 160)}
	raw, err := pkt.Marshal()
	require.NoError(p.t, err)
	p.cur = raw
	_, _, err = p.rtpIn.Read(p.readBuf, p.readAttr)
	require.NoError(p.t, err)
}

func (p *recvPort) rtcp(pkts ...rtcp.Packet) {
	raw, err := rtcp.Marshal(pkts)
	require.NoError(p.t, err)
	p.cur = raw
	_, _, err = p.rtcpIn.Read(p.readBuf, p.readAttr)
	require.NoError(p.t, err)
}

// gateWriter holds pion's report loop in each Write until released, so
// that the test decides when pion's receiver makes its next report (pion's
// receiver has no ticker option).
type gateWriter struct {
	got     chan []rtcp.Packet
	release chan struct{}
	done    chan struct{}
}

func (g *gateWriter) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	select {
	case g.got <- pkts:
	case <-g.done:
		return 0, nil
	}
	select {
	case <-g.release:
	case <-g.done:
	}
	return 0, nil
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for pion's report")
		panic("unreachable")
	}
}

// ourReports is what our interceptor would send at now.
func ourReports(i interceptor.Interceptor, now time.Time) []rtcp.Packet {
	r := i.(*rtcpReporter)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.collect(now)
}

type rtpIn struct {
	seq uint16
	ts  uint32
	at  time.Duration
}

type recvPhase struct {
	pkts     []rtpIn
	srAt     time.Duration // a Sender Report arrives then (0: none)
	srNTP    uint64
	reportAt time.Duration
}

// inOrder is n packets from seq on, 20 ms of 8 kHz audio each, arriving
// at start plus a few milliseconds of jitter.
func inOrder(seq uint16, n int, start time.Duration) []rtpIn {
	out := make([]rtpIn, n)
	for i := range out {
		out[i] = rtpIn{seq: seq + uint16(i), ts: uint32(seq+uint16(i)) * 160, at: start + time.Duration(i)*20*time.Millisecond + time.Duration(i%4)*time.Millisecond}
	}
	return out
}

func without(pkts []rtpIn, seqs ...uint16) []rtpIn {
	var out []rtpIn
next:
	for _, p := range pkts {
		for _, s := range seqs {
			if p.seq == s {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// TestRTCPReportsReceiverLikePion: the same packets through pion's
// receiver interceptor and ours, at the same (injected) times, give the
// same reception reports.
func TestRTCPReportsReceiverLikePion(t *testing.T) {
	reordered := inOrder(1, 30, 0)
	reordered[5], reordered[6] = reordered[6], reordered[5]
	reordered[5].at, reordered[6].at = reordered[6].at, reordered[5].at
	wrap := without(inOrder(65530, 20, 0), 3) // 65530…65535, 0…13 without 3
	cases := []struct {
		name   string
		phases []recvPhase
	}{
		{"in order", []recvPhase{
			{pkts: inOrder(1000, 50, 0), reportAt: 1100 * time.Millisecond},
			{pkts: inOrder(1050, 20, 1100*time.Millisecond), reportAt: 1600 * time.Millisecond},
		}},
		{"loss", []recvPhase{
			{pkts: without(inOrder(1, 100, 0), 10, 11, 12, 50), reportAt: 2100 * time.Millisecond},
			{pkts: without(inOrder(101, 50, 2100*time.Millisecond), 105, 110, 115, 120, 125, 130, 135, 140, 145, 149), reportAt: 3200 * time.Millisecond},
			{reportAt: 4200 * time.Millisecond}, // nothing new
		}},
		{"reordering, duplicates, a late packet after the report", []recvPhase{
			{pkts: append(without(reordered, 28), rtpIn{seq: 20, ts: 20 * 160, at: 700 * time.Millisecond}), reportAt: 800 * time.Millisecond},
			{pkts: append([]rtpIn{{seq: 28, ts: 28 * 160, at: 810 * time.Millisecond}}, inOrder(31, 10, 820*time.Millisecond)...), reportAt: 1100 * time.Millisecond},
		}},
		{"sequence numbers wrap around", []recvPhase{
			{pkts: wrap[:8], reportAt: 200 * time.Millisecond},
			{pkts: wrap[8:], reportAt: 500 * time.Millisecond},
		}},
		{"a jump too far forward is taken for an old packet", []recvPhase{
			{pkts: append(inOrder(100, 10, 0), rtpIn{seq: 40000, ts: 5, at: 210 * time.Millisecond}, rtpIn{seq: 110, ts: 110 * 160, at: 220 * time.Millisecond}), reportAt: 300 * time.Millisecond},
		}},
		{"a Sender Report and the reply", []recvPhase{
			{pkts: inOrder(7, 25, 0), srAt: 510 * time.Millisecond, srNTP: 0xE8A1B2C3D4E5F607, reportAt: 810 * time.Millisecond},
			{pkts: inOrder(32, 25, 820*time.Millisecond), reportAt: 1830 * time.Millisecond},
			{srAt: 1900 * time.Millisecond, srNTP: 0xE8A1B2C4D4E5F607, reportAt: 1950 * time.Millisecond},
		}},
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pionClock := &fakeClock{t: base}
			pf, err := report.NewReceiverInterceptor(report.ReceiverInterval(time.Millisecond), report.ReceiverNow(pionClock.now))
			require.NoError(t, err)
			pi, err := pf.NewInterceptor("")
			require.NoError(t, err)
			pionIn := bindRecvPort(t, pi, 8000)
			gw := &gateWriter{got: make(chan []rtcp.Packet), release: make(chan struct{}), done: make(chan struct{})}
			pi.BindRTCPWriter(gw)
			t.Cleanup(func() {
				close(gw.done)
				require.NoError(t, pi.Close())
			})
			receive(t, gw.got) // the first tick, before any packet: pion's loop now waits in Write

			ourClock := &fakeClock{t: base}
			f := newRTCPReports(time.Hour, nil)
			f.now = ourClock.now
			oi, err := f.NewInterceptor("")
			require.NoError(t, err)
			ourIn := bindRecvPort(t, oi, 8000)
			defer oi.Close()

			for n, ph := range tc.phases {
				for _, p := range ph.pkts {
					pionClock.set(base.Add(p.at))
					ourClock.set(base.Add(p.at))
					pionIn.rtp(p.seq, p.ts)
					ourIn.rtp(p.seq, p.ts)
				}
				if ph.srAt != 0 {
					sr := &rtcp.SenderReport{SSRC: testRemoteSSRC, NTPTime: ph.srNTP, RTPTime: 1234, PacketCount: 10, OctetCount: 1600}
					pionClock.set(base.Add(ph.srAt))
					ourClock.set(base.Add(ph.srAt))
					pionIn.rtcp(sr)
					ourIn.rtcp(sr)
				}
				pionClock.set(base.Add(ph.reportAt))
				gw.release <- struct{}{}
				pionPkts := receive(t, gw.got)
				ourPkts := ourReports(oi, base.Add(ph.reportAt))

				require.Len(t, pionPkts, 1)
				want := pionPkts[0].(*rtcp.ReceiverReport)
				require.Len(t, ourPkts, 1, "phase %d", n)
				got := ourPkts[0].(*rtcp.ReceiverReport)
				require.Equal(t, uint32(0), got.SSRC, "nothing sent: the RR is from SSRC 0")
				require.Equal(t, want.Reports, got.Reports, "phase %d", n)
				t.Logf("phase %d: %+v", n, got.Reports[0])
			}
		})
	}
}

type rtpOut struct {
	seq  uint16
	ts   uint32
	at   time.Duration
	size int
}

type sendPhase struct {
	pkts     []rtpOut
	reportAt time.Duration
}

// chanTicker is pion's sender ticker, ticked by the test.
type chanTicker chan time.Time

func (c chanTicker) Ch() <-chan time.Time { return c }
func (c chanTicker) Stop()                {}

type chanWriter chan []rtcp.Packet

func (c chanWriter) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	c <- pkts
	return 0, nil
}

func audioOut(seq uint16, ts uint32, n int, start time.Duration) []rtpOut {
	out := make([]rtpOut, n)
	for i := range out {
		out[i] = rtpOut{seq: seq + uint16(i), ts: ts + uint32(i)*160, at: start + time.Duration(i)*20*time.Millisecond, size: 160}
	}
	return out
}

// TestRTCPReportsSenderLikePion: the same packets sent through pion's
// sender interceptor and ours, at the same times, give the same Sender
// Reports: counts, and an NTP/RTP pair with the RTP time carried forward to
// the report's time at the stream's clock rate.
func TestRTCPReportsSenderLikePion(t *testing.T) {
	// video frames of three packets each, sent over 5 ms
	var frames []rtpOut
	for f := range 10 {
		for p := range 3 {
			frames = append(frames, rtpOut{seq: uint16(f*3 + p), ts: 90000 + uint32(f)*3000, at: time.Duration(f)*33*time.Millisecond + time.Duration(p*2)*time.Millisecond, size: 1000 + p})
		}
	}
	late := audioOut(65530, 4000000000, 12, 0) // the sequence numbers wrap too
	late = append(late, rtpOut{seq: 65533, ts: 4000000000 + 3*160, at: 250 * time.Millisecond, size: 160})
	cases := []struct {
		name      string
		clockRate uint32
		phases    []sendPhase
	}{
		{"audio", 8000, []sendPhase{
			{pkts: audioOut(100, 5000, 50, 0), reportAt: 987 * time.Millisecond},
			{pkts: audioOut(150, 5000+50*160, 10, time.Second), reportAt: 1500 * time.Millisecond},
			{reportAt: 4700 * time.Millisecond}, // silence: the RTP time runs on
		}},
		{"video frames", 90000, []sendPhase{{pkts: frames, reportAt: 400 * time.Millisecond}}},
		{"a late packet and wrap-around", 8000, []sendPhase{{pkts: late, reportAt: 300 * time.Millisecond}}},
		{"nothing sent: no SR", 48000, []sendPhase{{reportAt: time.Second}}},
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info := &interceptor.StreamInfo{SSRC: testLocalSSRC, ClockRate: tc.clockRate}
			sink := interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil })

			pionClock := &fakeClock{t: base}
			tick := make(chanTicker)
			pf, err := report.NewSenderInterceptor(report.SenderNow(pionClock.now), report.SenderTicker(func(time.Duration) report.Ticker { return tick }))
			require.NoError(t, err)
			pi, err := pf.NewInterceptor("")
			require.NoError(t, err)
			pionOut := pi.BindLocalStream(info, sink)
			got := make(chanWriter, 8)
			pi.BindRTCPWriter(got)
			t.Cleanup(func() { require.NoError(t, pi.Close()) })

			ourClock := &fakeClock{t: base}
			f := newRTCPReports(time.Hour, nil)
			f.now = ourClock.now
			oi, err := f.NewInterceptor("")
			require.NoError(t, err)
			ourOut := oi.BindLocalStream(info, sink)
			defer oi.Close()

			for n, ph := range tc.phases {
				for _, p := range ph.pkts {
					h := &rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: testLocalSSRC}
					payload := make([]byte, p.size)
					pionClock.set(base.Add(p.at))
					ourClock.set(base.Add(p.at))
					_, err := pionOut.Write(h, payload, nil)
					require.NoError(t, err)
					_, err = ourOut.Write(h, payload, nil)
					require.NoError(t, err)
				}
				pionClock.set(base.Add(ph.reportAt))
				tick <- base // waits for pion's loop; it reports on its own goroutine
				ourPkts := ourReports(oi, base.Add(ph.reportAt))
				if len(ph.pkts) == 0 && n == 0 {
					require.Empty(t, ourPkts)
					// pion writes nothing either: a second tick gets through
					// only after the first one's (empty) round is done
					tick <- base
					require.Empty(t, got)
					continue
				}
				want := receive(t, got)
				require.Equal(t, want, ourPkts, "phase %d", n)
				t.Logf("phase %d: %+v", n, ourPkts[0])
			}
		})
	}
}

// TestRTCPReportsRROwnSSRC: with a local stream, the RR says it is from that
// stream's SSRC, and one write carries the SR and the RR.
func TestRTCPReportsRROwnSSRC(t *testing.T) {
	f := newRTCPReports(time.Hour, nil)
	i, err := f.NewInterceptor("")
	require.NoError(t, err)
	defer i.Close()
	out := i.BindLocalStream(&interceptor.StreamInfo{SSRC: testLocalSSRC, ClockRate: 8000}, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	in := bindRecvPort(t, i, 8000)
	_, err = out.Write(&rtp.Header{SequenceNumber: 1, Timestamp: 1}, make([]byte, 10), nil)
	require.NoError(t, err)
	in.rtp(5, 800)
	pkts := ourReports(i, time.Now())
	require.Len(t, pkts, 2)
	require.Equal(t, uint32(testLocalSSRC), pkts[0].(*rtcp.SenderReport).SSRC)
	rr := pkts[1].(*rtcp.ReceiverReport)
	require.Equal(t, uint32(testLocalSSRC), rr.SSRC)
	require.Equal(t, uint32(testRemoteSSRC), rr.Reports[0].SSRC)

	i.UnbindLocalStream(&interceptor.StreamInfo{SSRC: testLocalSSRC})
	pkts = ourReports(i, time.Now())
	require.Len(t, pkts, 1)
	require.Equal(t, uint32(0), pkts[0].(*rtcp.ReceiverReport).SSRC)
	i.UnbindRemoteStream(&interceptor.StreamInfo{SSRC: testRemoteSSRC})
	require.Empty(t, ourReports(i, time.Now()))
}

// TestRTCPReportsPacketPathAllocs: counting a packet sent or received, and
// noting a Sender Report, allocate nothing.
func TestRTCPReportsPacketPathAllocs(t *testing.T) {
	f := newRTCPReports(time.Hour, nil)
	i, err := f.NewInterceptor("")
	require.NoError(t, err)
	defer i.Close()
	out := i.BindLocalStream(&interceptor.StreamInfo{SSRC: testLocalSSRC, ClockRate: 8000}, interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil }))
	in := bindRecvPort(t, i, 8000)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1, SSRC: testRemoteSSRC}, Payload: make([]byte, 160)}
	rawRTP, err := pkt.Marshal()
	require.NoError(t, err)
	rawSR, err := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: testRemoteSSRC, NTPTime: 1 << 40}, &rtcp.ReceiverReport{SSRC: testRemoteSSRC}})
	require.NoError(t, err)
	h := &rtp.Header{Version: 2, SSRC: testLocalSSRC}
	payload := make([]byte, 160)
	buf := make([]byte, 1500)
	var seq uint16
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"send", func() {
			seq++
			h.SequenceNumber, h.Timestamp = seq, uint32(seq)*160
			_, _ = out.Write(h, payload, nil)
		}},
		{"receive", func() {
			seq++
			rawRTP[2], rawRTP[3] = byte(seq>>8), byte(seq)
			in.cur = rawRTP
			_, _, _ = in.rtpIn.Read(buf, nil)
		}},
		{"sender report", func() {
			in.cur = rawSR
			_, _, _ = in.rtcpIn.Read(buf, nil)
		}},
	} {
		require.Zero(t, testing.AllocsPerRun(1000, c.fn), c.name)
	}
	require.Len(t, ourReports(i, time.Now()), 2)
}

// reportRecorder is an RTCP writer that keeps what it is given.
type reportRecorder struct {
	mu     sync.Mutex
	writes [][]rtcp.Packet
	block  chan struct{} // when set, each write waits for it to be closed
}

func (w *reportRecorder) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, pkts)
	block := w.block
	w.mu.Unlock()
	if block != nil {
		<-block
	}
	return 0, nil
}

func (w *reportRecorder) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

// boundReporter is an interceptor from f with a local and a remote stream
// that have carried a packet each, and w as its writer.
func boundReporter(t *testing.T, f *rtcpReports, ssrc uint32, w interceptor.RTCPWriter) interceptor.Interceptor {
	t.Helper()
	i, err := f.NewInterceptor("")
	require.NoError(t, err)
	out := i.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc, ClockRate: 8000}, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	_, err = out.Write(&rtp.Header{SequenceNumber: 1, Timestamp: 160}, make([]byte, 160), nil)
	require.NoError(t, err)
	bindRecvPort(t, i, 8000).rtp(9, 1600)
	i.BindRTCPWriter(w)
	return i
}

// waitGoroutines waits until at most n goroutines run. The condition does
// not count itself: testify runs it on a goroutine of its own.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-1 <= n }, 5*time.Second, 10*time.Millisecond,
		"goroutines: want at most %d", n)
}

// TestRTCPReportsOneGoroutine: fifty PeerConnections' interceptors report
// from one goroutine; none runs before a writer is bound or after the last
// interceptor is closed.
func TestRTCPReportsOneGoroutine(t *testing.T) {
	f := newRTCPReports(20*time.Millisecond, nil)
	start := runtime.NumGoroutine()
	var is []interceptor.Interceptor
	var ws []*reportRecorder
	for n := range 50 {
		i, err := f.NewInterceptor("")
		require.NoError(t, err)
		out := i.BindLocalStream(&interceptor.StreamInfo{SSRC: uint32(100 + n), ClockRate: 8000}, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		_, err = out.Write(&rtp.Header{SequenceNumber: 1}, make([]byte, 10), nil)
		require.NoError(t, err)
		is = append(is, i)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), start, "no goroutine before a writer is bound")
	for _, i := range is {
		w := &reportRecorder{}
		ws = append(ws, w)
		i.BindRTCPWriter(w)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), start+1)
	require.Eventually(t, func() bool {
		for _, w := range ws {
			if w.count() < 2 {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "every PeerConnection reports")
	// (waited for: testify's condition goroutines take a moment to go)
	waitGoroutines(t, start+1)

	for _, i := range is[:49] {
		require.NoError(t, i.Close())
	}
	waitGoroutines(t, start+1)
	f.mu.Lock()
	require.NotNil(t, f.loop, "one interceptor left: the goroutine goes on")
	f.mu.Unlock()
	require.NoError(t, is[49].Close())
	require.NoError(t, is[49].Close(), "Close twice")
	waitGoroutines(t, start)

	// a new call starts it again
	i := boundReporter(t, f, 7, &reportRecorder{})
	f.mu.Lock()
	require.NotNil(t, f.loop)
	f.mu.Unlock()
	waitGoroutines(t, start+1)
	require.NoError(t, i.Close())
	waitGoroutines(t, start)
}

// TestRTCPReportsTick: each tick writes each bound interceptor's SR and RR,
// in one write, to its own writer.
func TestRTCPReportsTick(t *testing.T) {
	f := newRTCPReports(20*time.Millisecond, nil)
	ws := []*reportRecorder{{}, {}, {}}
	for n, w := range ws {
		i := boundReporter(t, f, uint32(10+n), w)
		defer i.Close()
	}
	require.Eventually(t, func() bool {
		return ws[0].count() >= 3 && ws[1].count() >= 3 && ws[2].count() >= 3
	}, 5*time.Second, 10*time.Millisecond)
	for n, w := range ws {
		w.mu.Lock()
		for _, pkts := range w.writes {
			require.Len(t, pkts, 2)
			sr := pkts[0].(*rtcp.SenderReport)
			require.Equal(t, uint32(10+n), sr.SSRC)
			require.Equal(t, uint32(1), sr.PacketCount)
			rr := pkts[1].(*rtcp.ReceiverReport)
			require.Equal(t, uint32(10+n), rr.SSRC)
			require.Equal(t, uint32(9), rr.Reports[0].LastSequenceNumber)
		}
		w.mu.Unlock()
	}
}

// TestRTCPReportsManyStreams: more streams than one datagram or one RR
// holds are reported in several writes, each a valid compound packet that
// fits a datagram.
func TestRTCPReportsManyStreams(t *testing.T) {
	f := newRTCPReports(time.Hour, nil)
	i, err := f.NewInterceptor("")
	require.NoError(t, err)
	defer i.Close()
	for n := range 50 {
		out := i.BindLocalStream(&interceptor.StreamInfo{SSRC: uint32(1000 + n), ClockRate: 8000}, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		_, err := out.Write(&rtp.Header{SequenceNumber: 1}, make([]byte, 10), nil)
		require.NoError(t, err)
	}
	for n := range 40 {
		in := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: uint32(2000 + n), ClockRate: 8000}, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			raw, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 3}}).Marshal()
			return copy(b, raw), a, err
		}))
		_, _, err := in.Read(make([]byte, 100), nil)
		require.NoError(t, err)
	}
	w := &reportRecorder{}
	i.BindRTCPWriter(w)
	wd := time.AfterFunc(time.Hour, func() {})
	wd.Stop()
	require.True(t, i.(*rtcpReporter).send(wd))
	require.Greater(t, w.count(), 1)
	srs, blocks := 0, 0
	for _, pkts := range w.writes {
		raw, err := rtcp.Marshal(pkts)
		require.NoError(t, err)
		require.LessOrEqual(t, len(raw), rtcpMaxWrite)
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.SenderReport:
				srs++
			case *rtcp.ReceiverReport:
				require.Equal(t, uint32(1000), p.SSRC)
				blocks += len(p.Reports)
			}
		}
	}
	require.Equal(t, 50, srs)
	require.Equal(t, 40, blocks)
}

// TestRTCPReportsStalledWriter: a writer that does not return holds up the
// others' reports for stallAfter at most; it gets no second write until
// its first returns, and no goroutine is left once it has.
func TestRTCPReportsStalledWriter(t *testing.T) {
	start := runtime.NumGoroutine()
	f := newRTCPReports(10*time.Millisecond, nil)
	f.stallAfter = 20 * time.Millisecond
	stuck := &reportRecorder{block: make(chan struct{})}
	ws := []*reportRecorder{stuck, {}, {}, {}}
	var is []interceptor.Interceptor
	for n, w := range ws {
		is = append(is, boundReporter(t, f, uint32(10+n), w))
	}
	require.Eventually(t, func() bool { return stuck.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	before := ws[1].count()
	require.Eventually(t, func() bool {
		return ws[1].count() >= before+10 && ws[2].count() >= before+10 && ws[3].count() >= before+10
	}, 5*time.Second, 5*time.Millisecond, "the others report on")
	require.Equal(t, 1, stuck.count(), "no second write while the first hangs")

	close(stuck.block)
	require.Eventually(t, func() bool { return stuck.count() >= 3 }, 5*time.Second, 5*time.Millisecond)
	for _, i := range is {
		require.NoError(t, i.Close())
	}
	waitGoroutines(t, start)
}

// TestRTCPReportsCloseWhileTicking: packets flow, streams come and go and
// interceptors close, twice and concurrently, while the ticker writes (for
// the race detector).
func TestRTCPReportsCloseWhileTicking(t *testing.T) {
	start := runtime.NumGoroutine()
	f := newRTCPReports(time.Millisecond, nil)
	var wg sync.WaitGroup
	var writes atomic.Int64
	w := interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) {
		writes.Add(1)
		return 0, nil
	})
	for n := range 8 {
		i, err := f.NewInterceptor("")
		require.NoError(t, err)
		info := &interceptor.StreamInfo{SSRC: uint32(n), ClockRate: 8000}
		out := i.BindLocalStream(info, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
		pkt := rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 20)}
		raw, err := pkt.Marshal()
		require.NoError(t, err)
		in := i.BindRemoteStream(info, interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(b, raw), a, nil
		}))
		i.BindRTCPWriter(w)
		wg.Add(2)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for k := range 2000 {
				_, _ = out.Write(&rtp.Header{SequenceNumber: uint16(k)}, raw, nil)
				_, _, _ = in.Read(buf, nil)
				if k == 1000 {
					i.UnbindRemoteStream(info)
				}
			}
		}()
		go func() {
			defer wg.Done()
			// each closes after a few ticks more than the one before
			for deadline := time.Now().Add(5 * time.Second); writes.Load() < int64(5*(n+1)) && time.Now().Before(deadline); {
				runtime.Gosched()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = i.Close()
			}()
			_ = i.Close()
		}()
	}
	wg.Wait()
	waitGoroutines(t, start)
}

// TestRTCPReportsPeerConnection: through a real bridge on loopback (its
// Bridger's factory ticking fast), the agent's pion peer receives our
// Sender Report for the call audio and our Receiver Report about its
// microphone.
func TestRTCPReportsPeerConnection(t *testing.T) {
	b, err := NewBridger(ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}}, nil)
	require.NoError(t, err)
	b.reports = newRTCPReports(50*time.Millisecond, nil)
	leg := newMemLeg()
	defer leg.end()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, offer, err := b.Start(ctx, leg, CallCodec{Name: "PCMU", PayloadType: 0, ClockRate: 8000})
	require.NoError(t, err)
	defer br.Close()
	agent, answer, _, mic := agentPeer(t, offer)
	require.NoError(t, br.Answer(answer))
	tr := agent.GetTransceivers()[0]
	micSSRC := uint32(tr.Sender().GetParameters().Encodings[0].SSRC)

	var mu sync.Mutex
	var srs []*rtcp.SenderReport
	var rrs []*rtcp.ReceiverReport
	for _, read := range []func() ([]rtcp.Packet, interceptor.Attributes, error){tr.Sender().ReadRTCP, tr.Receiver().ReadRTCP} {
		go func() { // ends when the agent's PeerConnection closes
			for {
				pkts, _, err := read()
				if err != nil {
					return
				}
				mu.Lock()
				for _, p := range pkts {
					switch p := p.(type) {
					case *rtcp.SenderReport:
						srs = append(srs, p)
					case *rtcp.ReceiverReport:
						rrs = append(rrs, p)
					}
				}
				mu.Unlock()
			}
		}()
	}

	payload := make([]byte, 160)
	var seq uint16
	require.Eventually(t, func() bool {
		seq++
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 42}, Payload: payload}
		raw, _ := p.Marshal()
		select {
		case leg.in <- raw:
		default: // the bridge does not read the leg before it is connected
		}
		_ = mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: payload})
		mu.Lock()
		defer mu.Unlock()
		return len(srs) > 0 && srs[len(srs)-1].PacketCount > 0 && len(rrs) > 0 && len(rrs[len(rrs)-1].Reports) > 0
	}, 10*time.Second, 20*time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	sr, rr := srs[len(srs)-1], rrs[len(rrs)-1]
	require.Equal(t, uint32(tr.Receiver().Track().SSRC()), sr.SSRC, "the SR is about the call audio the agent hears")
	require.Equal(t, sr.SSRC, rr.SSRC, "the RR is from the call audio's SSRC")
	require.Equal(t, micSSRC, rr.Reports[0].SSRC, "the RR is about the agent's microphone")
	require.NotZero(t, rr.Reports[0].LastSequenceNumber)
	require.NotZero(t, sr.NTPTime)
}
