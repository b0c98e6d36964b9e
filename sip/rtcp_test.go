package sip

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestRTCPStatsReceived: sequence numbers with losses, a wrap, a
// duplicate and a restart make the report block RFC 3550 A.3 asks for.
func TestRTCPStatsReceived(t *testing.T) {
	for _, tc := range []struct {
		name         string
		seqs         []uint16
		wantExtMax   uint32
		wantLost     int64
		wantReceived uint64
		wantFraction uint8
		wantBlkLost  uint32 // 24-bit two's complement
	}{
		{"in order", []uint16{10, 11, 12, 13}, 13, 0, 4, 0, 0},
		{"two lost", []uint16{10, 11, 14, 15}, 15, 2, 4, 2 * 256 / 6, 2},
		{"wrap", []uint16{65534, 65535, 0, 1}, 1<<16 + 1, 0, 4, 0, 0},
		{"wrap with loss", []uint16{65534, 1, 2}, 1<<16 + 2, 2, 3, 2 * 256 / 5, 2},
		{"duplicate", []uint16{5, 6, 6, 7}, 7, -1, 4, 0, 0xffffff},
		{"reordered", []uint16{5, 7, 6, 8}, 8, 0, 4, 0, 0},
		{"restart confirmed", []uint16{100, 101, 40000, 40001, 40002}, 40002, 0, 2, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRTCPStats(8000, "test@attendant")
			at := s.start
			for i, seq := range tc.seqs {
				at = at.Add(20 * time.Millisecond)
				s.receivedRTP(rtpPacket(0, seq, uint32(160*i), 0xabc, make([]byte, 160)), at, true)
			}
			st := s.snapshot()
			if st.PacketsReceived != tc.wantReceived || st.PacketsLost != tc.wantLost || st.OctetsReceived != 160*tc.wantReceived {
				t.Fatalf("received %d (%d octets) lost %d, want %d and %d", st.PacketsReceived, st.OctetsReceived,
					st.PacketsLost, tc.wantReceived, tc.wantLost)
			}
			b := onlyBlock(t, s.report(at))
			if b.SSRC != 0xabc || b.LastSequenceNumber != tc.wantExtMax || b.TotalLost != tc.wantBlkLost ||
				b.FractionLost != tc.wantFraction || b.LastSenderReport != 0 || b.Delay != 0 {
				t.Fatalf("block %+v, want ext max %d lost %d fraction %d", b, tc.wantExtMax, tc.wantBlkLost, tc.wantFraction)
			}
			if got := s.snapshot().FractionLost; got != float64(tc.wantFraction)/256 {
				t.Fatalf("FractionLost %v", got)
			}
			// a new interval without packets: no new loss
			if b := onlyBlock(t, s.report(at)); b.FractionLost != 0 || b.LastSequenceNumber != tc.wantExtMax {
				t.Fatalf("second block %+v", b)
			}
		})
	}
}

func onlyBlock(t *testing.T, pkts []rtcp.Packet) rtcp.ReceptionReport {
	t.Helper()
	if len(pkts) != 2 {
		t.Fatalf("%d packets, want report + SDES", len(pkts))
	}
	if sd, ok := pkts[1].(*rtcp.SourceDescription); !ok || len(sd.Chunks) != 1 || sd.Chunks[0].Items[0].Type != rtcp.SDESCNAME {
		t.Fatalf("second packet %#v, want SDES CNAME", pkts[1])
	}
	var blocks []rtcp.ReceptionReport
	switch p := pkts[0].(type) {
	case *rtcp.ReceiverReport:
		blocks = p.Reports
	case *rtcp.SenderReport:
		blocks = p.Reports
	}
	if len(blocks) != 1 {
		t.Fatalf("report %#v, want one block", pkts[0])
	}
	return blocks[0]
}

// TestRTCPJitter: RFC 3550 A.8 jitter is 0 for a steady stream and near
// the deviation for one that alternates early and late; telephone-events
// do not count.
func TestRTCPJitter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offset   func(i int) time.Duration // arrival deviation of packet i
		audio    bool
		min, max uint32 // jitter in RTP units (8 kHz)
	}{
		{"steady", func(int) time.Duration { return 0 }, true, 0, 0},
		{"alternating 10 ms", func(i int) time.Duration { return time.Duration(i%2) * 10 * time.Millisecond }, true, 75, 80},
		{"dtmf ignored", func(i int) time.Duration { return time.Duration(i%2) * 10 * time.Millisecond }, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRTCPStats(8000, "x")
			for i := range 200 {
				at := s.start.Add(time.Duration(i)*20*time.Millisecond + tc.offset(i))
				s.receivedRTP(rtpPacket(0, uint16(i), uint32(1000+160*i), 7, make([]byte, 160)), at, tc.audio)
			}
			b := onlyBlock(t, s.report(s.start))
			if b.Jitter < tc.min || b.Jitter > tc.max {
				t.Fatalf("jitter %d, want %d..%d", b.Jitter, tc.min, tc.max)
			}
			if got, want := s.snapshot().Jitter, clockDuration(b.Jitter, 8000); got != want {
				t.Fatalf("Stats jitter %v, want %v", got, want)
			}
		})
	}
}

// TestRTCPSenderAndRTT: our SR counts what we sent; the robot's SR and RR
// give its counts, its view of our stream, the RTT, and our LSR/DLSR.
func TestRTCPSenderAndRTT(t *testing.T) {
	s := newRTCPStats(8000, "x")
	t0 := time.Now()
	for i := range 50 {
		s.sent(rtpPacket(0, uint16(i), uint32(160*i), 0x5eed, make([]byte, 160)), t0)
	}
	s.receivedRTP(rtpPacket(0, 1, 1, 0x0b0b, make([]byte, 160)), t0, true)
	pkts := s.report(t0)
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok {
		t.Fatalf("report %#v, want an SR", pkts[0])
	}
	if sr.SSRC != 0x5eed || sr.PacketCount != 50 || sr.OctetCount != 50*160 || sr.RTPTime != 160*49 {
		t.Fatalf("SR %+v", sr)
	}
	if len(sr.Reports) != 1 || sr.Reports[0].SSRC != 0x0b0b {
		t.Fatalf("SR blocks %+v", sr.Reports)
	}
	// the robot answers 50 ms later: it held our SR for 20 ms, so the RTT is 30 ms
	robotNTP := ntpTime(t0.Add(-time.Second)) // its clock need not match ours
	arrival := t0.Add(50 * time.Millisecond)
	robot := []rtcp.Packet{
		&rtcp.SenderReport{SSRC: 0x0b0b, NTPTime: robotNTP, PacketCount: 77, OctetCount: 12320,
			Reports: []rtcp.ReceptionReport{{SSRC: 0x5eed, FractionLost: 64, TotalLost: 0xfffffe, LastSequenceNumber: 1<<16 + 9,
				Jitter: 80, LastSenderReport: ntpMiddle(sr.NTPTime), Delay: 20 * 65536 / 1000}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0x0b0b,
			Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "robot"}}}}},
	}
	raw, err := rtcp.Marshal(robot)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.receivedRTCP(raw, arrival); err != nil {
		t.Fatalf("receivedRTCP: %v", err)
	}
	st := s.snapshot()
	if !st.RTTKnown || st.RTT < 29*time.Millisecond || st.RTT > 31*time.Millisecond {
		t.Fatalf("RTT %v (known %v), want 30 ms", st.RTT, st.RTTKnown)
	}
	if st.RemoteFractionLost != 0.25 || st.RemotePacketsLost != -2 || st.RemoteJitter != 10*time.Millisecond ||
		st.RemoteHighestSeq != 1<<16+9 || !st.RemoteReportAt.Equal(arrival) {
		t.Fatalf("remote view %+v", st)
	}
	if st.RemotePacketsSent != 77 || st.RemoteOctetsSent != 12320 || st.RTCPReceived != 1 || st.PacketsSent != 50 {
		t.Fatalf("counts %+v", st)
	}
	// our next report echoes the robot's SR
	b := onlyBlock(t, s.report(arrival.Add(100*time.Millisecond)))
	if b.LastSenderReport != ntpMiddle(robotNTP) || b.Delay < 6500 || b.Delay > 6600 {
		t.Fatalf("block LSR %x DLSR %d, want %x and 100 ms (6553)", b.LastSenderReport, b.Delay, ntpMiddle(robotNTP))
	}

	// a new SSRC of ours restarts the sender counts
	s.sent(rtpPacket(0, 1, 1, 0x5eef, make([]byte, 80)), t0)
	if st := s.snapshot(); st.PacketsSent != 1 || st.OctetsSent != 80 || st.RTTKnown || !st.RemoteReportAt.IsZero() {
		t.Fatalf("after a new SSRC: %+v", st)
	}
	for _, bad := range [][]byte{nil, {0x80}, []byte("not rtcp at all"), raw[:10]} {
		if err := s.receivedRTCP(bad, arrival); err == nil {
			t.Fatalf("receivedRTCP(%q) accepted", bad)
		}
	}
	if st := s.snapshot(); st.RTCPBad != 4 {
		t.Fatalf("RTCPBad %d, want 4", st.RTCPBad)
	}
}

// FuzzRTCP: no datagram on the RTCP (or RTP) port makes the stats panic
// or our next report unmarshallable.
func FuzzRTCP(f *testing.F) {
	sr, _ := rtcp.Marshal([]rtcp.Packet{
		&rtcp.SenderReport{SSRC: 1, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: 2, TotalLost: 3, LastSenderReport: 9}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "r"}}}}},
	})
	rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 0x5eed, Delay: 1 << 31}}}})
	bye, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.Goodbye{Sources: []uint32{1}, Reason: "bye"}})
	for _, seed := range [][]byte{sr, rr, bye, {}, {0x80, 0xc8, 0, 0}, {0x81, 0xc9, 0xff, 0xff}, rtpPacket(0, 1, 2, 3, []byte{1})} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newRTCPStats(48000, "fuzz")
		now := time.Now()
		s.sent(rtpPacket(111, 1, 2, 0x5eed, []byte{1, 2, 3}), now)
		_ = s.receivedRTCP(data, now)
		s.receivedRTP(data, now, true)
		s.receivedRTP(data, now.Add(time.Millisecond), false)
		if _, err := rtcp.Marshal(s.report(now.Add(time.Second))); err != nil {
			t.Fatalf("our report does not marshal after %x: %v", data, err)
		}
		_ = s.snapshot()
	})
}
