package sip

import (
	"errors"
	"testing"
	"time"
)

func TestParseTelephoneEvent(t *testing.T) {
	ev, err := parseTelephoneEvent([]byte{11, 0x8a, 0x03, 0x20, 0xff})
	if err != nil || ev != (telephoneEvent{event: 11, end: true, volume: 10, duration: 800}) {
		t.Fatalf("%+v, %v", ev, err)
	}
	if _, err := parseTelephoneEvent([]byte{1, 2, 3}); !errors.Is(err, errShortEvent) {
		t.Fatalf("short payload: %v", err)
	}
	for ev, want := range map[uint8]rune{0: '0', 9: '9', 10: '*', 11: '#', 12: 'A', 15: 'D'} {
		if r, ok := dtmfDigit(ev); !ok || r != want {
			t.Errorf("event %d: %q %v", ev, r, ok)
		}
	}
	if _, ok := dtmfDigit(16); ok {
		t.Error("flash reported as a digit")
	}
}

func TestDTMFDetector(t *testing.T) {
	pkt := func(event byte, end bool, dur uint16) []byte {
		f := byte(0)
		if end {
			f = 0x80
		}
		return []byte{event, f, byte(dur >> 8), byte(dur)}
	}
	type step struct {
		ts      uint32
		payload []byte
		want    string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"one press, end three times", []step{
			{100, pkt(1, false, 160), ""}, {100, pkt(1, false, 320), ""},
			{100, pkt(1, true, 480), "1"}, {100, pkt(1, true, 480), ""}, {100, pkt(1, true, 480), ""},
		}},
		{"same digit twice", []step{
			{100, pkt(7, true, 400), "7"}, {100, pkt(7, true, 400), ""},
			{900, pkt(7, true, 400), "7"},
		}},
		{"lost end reported at the next event", []step{
			{100, pkt(3, false, 160), ""}, {900, pkt(4, true, 160), "34"},
		}},
		{"late packet of a reported event", []step{
			{100, pkt(2, true, 160), "2"}, {100, pkt(2, false, 80), ""},
		}},
		{"not a digit", []step{{100, pkt(16, true, 160), ""}}},
		{"garbage", []step{{100, []byte{1}, ""}, {100, pkt(5, true, 160), "5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dtmfDetector
			for i, s := range tt.steps {
				got := ""
				for _, p := range d.packet(s.ts, s.payload) {
					got += string(p.digit)
				}
				if got != s.want {
					t.Fatalf("step %d: %q, want %q", i, got, s.want)
				}
			}
		})
	}
	if d := clockDuration(800, 8000); d != 100*time.Millisecond {
		t.Fatalf("clockDuration: %v", d)
	}
}

func TestRTPPayload(t *testing.T) {
	base := rtpPacket(0, 1, 2, 3, []byte{9, 9})
	if p, ok := rtpPayload(base); !ok || len(p) != 2 {
		t.Fatalf("plain: %v %v", p, ok)
	}
	csrc := append([]byte{0x81}, base[1:12]...)
	csrc = append(csrc, 0, 0, 0, 1, 7)
	if p, ok := rtpPayload(csrc); !ok || len(p) != 1 || p[0] != 7 {
		t.Fatalf("csrc: %v %v", p, ok)
	}
	ext := append([]byte{0x90}, base[1:12]...)
	ext = append(ext, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 8)
	if p, ok := rtpPayload(ext); !ok || len(p) != 1 || p[0] != 8 {
		t.Fatalf("extension: %v %v", p, ok)
	}
	pad := append([]byte{0xa0}, base[1:12]...)
	pad = append(pad, 5, 0, 0, 3)
	if p, ok := rtpPayload(pad); !ok || len(p) != 1 || p[0] != 5 {
		t.Fatalf("padding: %v %v", p, ok)
	}
	bad := append([]byte{0xa0}, base[1:12]...)
	bad = append(bad, 200)
	if _, ok := rtpPayload(bad); ok {
		t.Fatal("padding longer than the packet accepted")
	}
}

// FuzzDTMF: no packet makes the RTP payload reader or the detector panic,
// and the detector reports at most two presses per packet.
func FuzzDTMF(f *testing.F) {
	f.Add(rtpPacket(101, 1, 100, 1, []byte{1, 0x8a, 0, 160}), uint32(100))
	f.Add([]byte{0xbf, 101, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}, uint32(0))
	f.Add([]byte{0x90, 101, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff}, uint32(7))
	f.Fuzz(func(t *testing.T, pkt []byte, ts uint32) {
		var d dtmfDetector
		for range 3 {
			payload, ok := rtpPayload(pkt)
			if !ok {
				payload = pkt
			}
			if n := len(d.packet(ts, payload)); n > 2 {
				t.Fatalf("%d presses from one packet", n)
			}
			ts++
		}
	})
}
