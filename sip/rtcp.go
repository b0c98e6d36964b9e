package sip

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// RTCP (RFC 3550 section 6): every call sends compound reports to the
// robot (SR for what we send, a report block for what we receive, SDES
// CNAME) and reads the robot's, so both sides know loss, jitter and
// round-trip time. rtcpStats holds the figures; the media session feeds
// it packets and sends what it builds.

// CallStats are a call's media figures, from our counters and the
// robot's RTCP. Counters start at the call's start; a new SSRC from the
// robot (or from the bridge) restarts the figures of that stream.
type CallStats struct {
	// PacketsSent and OctetsSent count the RTP packets WriteRTP sent to
	// the robot with the current SSRC and their payload octets (RFC 3550
	// sender's packet and octet counts, as in our SR).
	PacketsSent, OctetsSent uint64
	// PacketsReceived and OctetsReceived count the robot's accepted RTP
	// packets (codec and telephone-event) and their payload octets.
	PacketsReceived, OctetsReceived uint64
	// PacketsLost is our cumulative loss of the robot's stream: expected
	// (from sequence numbers) minus received; negative with duplicates.
	// FractionLost is the loss, 0..1, since our previous report.
	PacketsLost  int64
	FractionLost float64
	// Jitter is the interarrival jitter of the robot's stream (RFC 3550
	// section 6.4.1), as we put it in our reports.
	Jitter time.Duration

	// RemoteReportAt is when the robot last reported on our stream (an
	// RTCP report block about our SSRC); zero: never, and the Remote*
	// figures below are unset.
	RemoteReportAt time.Time
	// RemotePacketsLost, RemoteFractionLost and RemoteJitter are the
	// robot's view of our stream, from that report block.
	RemotePacketsLost  int64
	RemoteFractionLost float64
	RemoteJitter       time.Duration
	// RemoteHighestSeq is the extended highest sequence number the robot
	// received from us.
	RemoteHighestSeq uint32
	// RTT is the round-trip time computed from the robot's last report
	// that echoed one of our SRs (LSR and DLSR, RFC 3550 section 6.4.1);
	// RTTKnown is false until then.
	RTT      time.Duration
	RTTKnown bool

	// RemotePacketsSent and RemoteOctetsSent are the counts of the robot's
	// last sender report (zero without one).
	RemotePacketsSent, RemoteOctetsSent uint32

	// RTCPSent and RTCPReceived count compound RTCP packets; RTCPBad the
	// received ones that did not parse.
	RTCPSent, RTCPReceived, RTCPBad uint64
}

// RTP sequence tracking limits (RFC 3550 appendix A.1).
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// rtcpStats keeps a call's RTP/RTCP figures. Safe for concurrent use: the
// RTP reader, the writer, the RTCP reader and sender and Stats all use it.
type rtcpStats struct {
	mu        sync.Mutex
	clockRate uint32
	start     time.Time // origin of arrival times in RTP units
	cname     string
	localSSRC uint32 // ours while we send no RTP (RR only)

	// what we send
	sending     bool // a packet was sent with sendSSRC
	sendSSRC    uint32
	sentPackets uint64
	sentOctets  uint64
	lastSentTS  uint32
	lastSentAt  time.Time

	// what we receive (one source: the robot)
	recv         bool // a packet came from recvSSRC
	recvSSRC     uint32
	maxSeq       uint16
	cycles       uint32 // shifted count of seq wraps
	baseSeq      uint32
	badSeq       uint32
	received     uint64
	recvOctets   uint64
	expPrior     uint64
	recvPrior    uint64
	fraction     uint8 // of our last report
	transit      int64
	haveTransit  bool
	jitter       float64 // RTP units
	lastSRMiddle uint32  // middle 32 bits of the robot's last SR's NTP time
	lastSRAt     time.Time

	// the robot's reports
	remote       CallStats // Remote* fields only
	rtcpSent     uint64
	rtcpReceived uint64
	rtcpBad      uint64
}

func newRTCPStats(clockRate uint32, cname string) *rtcpStats {
	if clockRate == 0 {
		clockRate = 8000
	}
	return &rtcpStats{clockRate: clockRate, start: time.Now(), cname: cname, localSSRC: rand.Uint32()}
}

// sent counts an RTP packet we sent. A new SSRC (the bridge switched
// streams) restarts the sender counts: an SR describes one SSRC.
func (s *rtcpStats) sent(pkt []byte, at time.Time) {
	if len(pkt) < 12 {
		return
	}
	payload, ok := rtpPayload(pkt)
	if !ok {
		return
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sending || ssrc != s.sendSSRC {
		s.sending, s.sendSSRC, s.sentPackets, s.sentOctets = true, ssrc, 0, 0
		s.remote.RemoteReportAt = time.Time{}
		s.remote.RTTKnown = false
	}
	s.sentPackets++
	s.sentOctets += uint64(len(payload))
	s.lastSentTS = binary.BigEndian.Uint32(pkt[4:])
	s.lastSentAt = at
}

// received counts an RTP packet from the robot (RFC 3550 A.1 for the
// sequence numbers, A.8 for jitter); audio is false for telephone-events,
// whose timestamps stand still during a key press and say nothing of
// jitter.
func (s *rtcpStats) receivedRTP(pkt []byte, arrival time.Time, audio bool) {
	if len(pkt) < 12 {
		return
	}
	payload, ok := rtpPayload(pkt)
	if !ok {
		return
	}
	seq := binary.BigEndian.Uint16(pkt[2:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.recv || ssrc != s.recvSSRC {
		s.initSeq(ssrc, seq)
	} else if !s.updateSeq(seq) {
		return
	}
	s.received++
	s.recvOctets += uint64(len(payload))
	if !audio {
		return
	}
	// arrival in RTP units, split so that nothing overflows in a long call
	ns := arrival.Sub(s.start).Nanoseconds()
	at := ns/1e9*int64(s.clockRate) + ns%1e9*int64(s.clockRate)/1e9
	transit := at - int64(ts)
	if s.haveTransit {
		d := int64(int32(transit - s.transit)) // RTP timestamps wrap at 32 bits
		if d < 0 {
			d = -d
		}
		s.jitter += (float64(d) - s.jitter) / 16
	}
	s.transit, s.haveTransit = transit, true
}

func (s *rtcpStats) initSeq(ssrc uint32, seq uint16) {
	s.recv, s.recvSSRC = true, ssrc
	s.baseSeq = uint32(seq)
	s.maxSeq = seq
	s.badSeq = seqMod + 1 // so seq == badSeq is false
	s.cycles = 0
	s.received, s.recvOctets, s.expPrior, s.recvPrior = 0, 0, 0, 0
	s.jitter, s.haveTransit = 0, false
	s.lastSRMiddle, s.lastSRAt = 0, time.Time{}
}

// updateSeq is RFC 3550 A.1's update_seq without probation; false: the
// packet is not counted (a jump we wait to confirm).
func (s *rtcpStats) updateSeq(seq uint16) bool {
	udelta := seq - s.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < s.maxSeq {
			s.cycles += seqMod // wrapped
		}
		s.maxSeq = seq
	case uint32(udelta) <= seqMod-maxMisorder:
		// a very large jump: a restarted sender, unless it is a stray
		if uint32(seq) == s.badSeq {
			// two in a row: resync
			ssrc := s.recvSSRC
			s.initSeq(ssrc, seq)
			return true
		}
		s.badSeq = (uint32(seq) + 1) & (seqMod - 1)
		return false
	default:
		// duplicate or reordered: counted, max unchanged
	}
	return true
}

// ntpTime converts a time to the 64-bit NTP format.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// ntpMiddle is the middle 32 bits of an NTP time (LSR, and RTT in units
// of 1/65536 s).
func ntpMiddle(ntp uint64) uint32 { return uint32(ntp >> 16) }

// report builds our compound RTCP packet at now: SR when we send RTP, RR
// otherwise, with a block about the robot's stream once it sent any, then
// SDES CNAME (RFC 3550 section 6.1: every compound packet has both).
func (s *rtcpStats) report(now time.Time) []rtcp.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	var blocks []rtcp.ReceptionReport
	if s.recv {
		blocks = append(blocks, s.block(now))
	}
	ssrc := s.localSSRC
	var first rtcp.Packet
	if s.sending {
		ssrc = s.sendSSRC
		// the RTP time of now: the last packet's timestamp moved on by the
		// wall clock since it was sent
		rtpTime := s.lastSentTS + uint32(now.Sub(s.lastSentAt).Seconds()*float64(s.clockRate))
		first = &rtcp.SenderReport{SSRC: ssrc, NTPTime: ntpTime(now), RTPTime: rtpTime,
			PacketCount: uint32(s.sentPackets), OctetCount: uint32(s.sentOctets), Reports: blocks}
	} else {
		first = &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	}
	return []rtcp.Packet{first, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: s.cname}},
	}}}}
}

// block is our report block about the robot's stream (RFC 3550 A.3);
// it starts a new interval for the fraction lost. s.mu is held.
func (s *rtcpStats) block(now time.Time) rtcp.ReceptionReport {
	extMax := s.cycles + uint32(s.maxSeq)
	expected := uint64(extMax) - uint64(s.baseSeq) + 1
	lost := int64(expected) - int64(s.received)
	lost = max(min(lost, 0x7fffff), -0x800000) // 24-bit signed
	expInterval := expected - s.expPrior
	recvInterval := s.received - s.recvPrior
	s.expPrior, s.recvPrior = expected, s.received
	s.fraction = 0
	if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
		s.fraction = uint8(lostInterval << 8 / int64(expInterval))
	}
	b := rtcp.ReceptionReport{
		SSRC: s.recvSSRC, FractionLost: s.fraction, TotalLost: uint32(lost) & 0xffffff,
		LastSequenceNumber: extMax, Jitter: uint32(s.jitter),
	}
	if !s.lastSRAt.IsZero() {
		b.LastSenderReport = s.lastSRMiddle
		b.Delay = uint32(now.Sub(s.lastSRAt).Seconds() * 65536)
	}
	return b
}

var errNoRTCP = errors.New("no RTCP sender or receiver report")

// receivedRTCP takes a compound RTCP packet from the robot: its SR (for
// our LSR/DLSR and its counts) and its report blocks about our stream.
// Garbage returns an error and changes nothing.
func (s *rtcpStats) receivedRTCP(buf []byte, arrival time.Time) error {
	pkts, err := rtcp.Unmarshal(buf)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.rtcpBad++
		return err
	}
	s.rtcpReceived++
	found := false
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			found = true
			if !s.recv || p.SSRC == s.recvSSRC {
				s.lastSRMiddle, s.lastSRAt = ntpMiddle(p.NTPTime), arrival
				s.remote.RemotePacketsSent, s.remote.RemoteOctetsSent = p.PacketCount, p.OctetCount
			}
			s.reportBlocks(p.Reports, arrival)
		case *rtcp.ReceiverReport:
			found = true
			s.reportBlocks(p.Reports, arrival)
		}
	}
	if !found {
		return errNoRTCP
	}
	return nil
}

// reportBlocks takes the robot's blocks about our stream. s.mu is held.
func (s *rtcpStats) reportBlocks(blocks []rtcp.ReceptionReport, arrival time.Time) {
	ours := s.localSSRC
	if s.sending {
		ours = s.sendSSRC
	}
	for _, b := range blocks {
		if b.SSRC != ours {
			continue
		}
		r := &s.remote
		r.RemoteReportAt = arrival
		lost := int64(b.TotalLost & 0xffffff)
		if lost&0x800000 != 0 {
			lost -= 1 << 24 // 24-bit signed
		}
		r.RemotePacketsLost = lost
		r.RemoteFractionLost = float64(b.FractionLost) / 256
		r.RemoteJitter = clockDuration(b.Jitter, s.clockRate)
		r.RemoteHighestSeq = b.LastSequenceNumber
		if b.LastSenderReport != 0 {
			// RTT = A - LSR - DLSR in 1/65536 s (RFC 3550 section 6.4.1)
			rtt := int32(ntpMiddle(ntpTime(arrival)) - b.LastSenderReport - b.Delay)
			if rtt >= 0 {
				r.RTT = time.Duration(int64(rtt) * int64(time.Second) / 65536)
				r.RTTKnown = true
			}
		}
	}
}

// reportSent counts a compound packet we sent.
func (s *rtcpStats) reportSent() {
	s.mu.Lock()
	s.rtcpSent++
	s.mu.Unlock()
}

// active reports whether the call's media ever got going: we sent RTP
// or a report, so a last report with BYE means something to the robot.
func (s *rtcpStats) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sending || s.rtcpSent > 0
}

// snapshot returns the figures now.
func (s *rtcpStats) snapshot() CallStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.remote
	st.PacketsSent, st.OctetsSent = s.sentPackets, s.sentOctets
	st.PacketsReceived, st.OctetsReceived = s.received, s.recvOctets
	if s.recv {
		expected := uint64(s.cycles+uint32(s.maxSeq)) - uint64(s.baseSeq) + 1
		st.PacketsLost = int64(expected) - int64(s.received)
	}
	st.FractionLost = float64(s.fraction) / 256
	st.Jitter = clockDuration(uint32(s.jitter), s.clockRate)
	st.RTCPSent, st.RTCPReceived, st.RTCPBad = s.rtcpSent, s.rtcpReceived, s.rtcpBad
	return st
}

// rtcpInterval is the time to the next report: interval randomised to
// 0.5..1.5 times (RFC 3550 section 6.3.1), so calls set up together do
// not report in step.
func rtcpInterval(interval time.Duration) time.Duration {
	return interval/2 + rand.N(interval)
}
