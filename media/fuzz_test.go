package media

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzStreamRTP feeds arbitrary RTP payloads through depacketizing, parameter
// handling, re-packetizing and fan-out: nothing panics, every packet a viewer
// gets fits the payload limit, and the first one is a keyframe.
func FuzzStreamRTP(f *testing.F) {
	f.Add(true, []byte{0x18, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xca, 0x3c, 0x58, 0xba, 0x80, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8}, []byte{0x65, 0x88, 0x84}, []byte{0x7c, 0x85, 1, 2, 3})
	f.Add(false, []byte{0x60, 0x01, 0, 5, 0x40, 1, 2, 3, 4}, []byte{0x26, 0x01, 0xaf}, []byte{0x62, 0x01, 0x93, 1, 2})
	f.Add(true, []byte{}, []byte{28}, []byte{24, 0, 0})
	f.Fuzz(func(t *testing.T, h264 bool, a, b, c []byte) {
		s := newStream(slog.New(slog.DiscardHandler))
		info := sessionInfo{codec: CodecH265, vps: testVPS265, sps: testSPS265, pps: testPPS265}
		if h264 {
			info = sessionInfo{codec: CodecH264, h264PktMode: 1, sps: testSPS264, pps: testPPS264}
		}
		if _, err := s.begin(info, time.Now()); err != nil {
			t.Fatal(err)
		}
		sub := newSubscriber(1<<12, true, &s.viewerDrops)
		s.subscribe(sub)
		now := time.Now()
		seq := uint16(0)
		for i, payload := range [][]byte{a, b, c, a, c, b, b, a} {
			seq++
			s.writeVideo(&rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i/2) * 3000, Marker: i%2 == 1},
				Payload: payload,
			}, now)
			s.writeAudio(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: payload}, now)
			now = now.Add(20 * time.Millisecond)
		}
		first := true
		for p := sub.q.pop(); p != nil; p = sub.q.pop() {
			if len(p.payload) > maxPayload {
				t.Fatalf("payload of %d bytes", len(p.payload))
			}
			if p.video && first && !p.keyframe {
				t.Fatal("first video packet is not a keyframe")
			}
			if p.video {
				first = false
			}
		}
		var st CameraState
		s.fill(&st, true)
		if st.Width < 0 || st.Width > maxDimension || st.Height < 0 || st.Height > maxDimension {
			t.Fatalf("size %dx%d", st.Width, st.Height)
		}
	})
}
