package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func sdpOf(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

var sdpHead = []string{"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0"}

func TestParseOffer(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		codec Codec
		addr  string
		dir   direction
		mux   bool
		code  int // offerError code; 0: accepted
	}{
		{
			name:  "pcmu and pcma, static types without rtpmap",
			body:  sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 8 0")...),
			codec: Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000, Channels: 1},
			addr:  "10.0.0.5:4000", dir: sendrecv,
		},
		{
			name:  "pcma only, with telephone-event",
			body:  sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16")...),
			codec: Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000, Channels: 1, DTMFPayloadType: 101},
			addr:  "10.0.0.5:4000", dir: sendrecv,
		},
		{
			name: "opus only when no G.711, its telephone-event at 48 kHz",
			body: sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 111 96 97", "a=rtpmap:111 opus/48000/2",
				"a=rtpmap:96 telephone-event/8000", "a=rtpmap:97 telephone-event/48000", "a=rtcp-mux")...),
			codec: Codec{Name: "opus", PayloadType: 111, ClockRate: 48000, Channels: 2, DTMFPayloadType: 97},
			addr:  "10.0.0.5:4000", dir: sendrecv, mux: true,
		},
		{
			name:  "dynamic PCMU and media-level address, sendonly",
			body:  sdpOf("v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "t=0 0", "m=audio 5000 RTP/AVP 98", "c=IN IP4 192.0.2.7", "a=rtpmap:98 pcmu/8000", "a=sendonly"),
			codec: Codec{Name: "PCMU", PayloadType: 98, ClockRate: 8000, Channels: 1},
			addr:  "192.0.2.7:5000", dir: sendonly,
		},
		{
			name:  "session-level inactive",
			body:  sdpOf(append(sdpHead, "a=inactive", "m=audio 4000 RTP/AVP 0")...),
			codec: Codec{Name: "PCMU", ClockRate: 8000, Channels: 1},
			addr:  "10.0.0.5:4000", dir: inactive,
		},
		{
			name:  "RFC 2543 hold",
			body:  sdpOf("v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			codec: Codec{Name: "PCMU", ClockRate: 8000, Channels: 1},
			dir:   sendonly,
		},
		{
			name:  "video refused, audio taken",
			body:  sdpOf(append(sdpHead, "m=video 6000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 4000 RTP/AVP 0")...),
			codec: Codec{Name: "PCMU", ClockRate: 8000, Channels: 1},
			addr:  "10.0.0.5:4000", dir: sendrecv,
		},
		{name: "g729 only", body: sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 18", "a=rtpmap:18 G729/8000")...), code: 488},
		{name: "pcmu at the wrong rate", body: sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 96", "a=rtpmap:96 PCMU/16000")...), code: 488},
		{name: "mono opus", body: sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 111", "a=rtpmap:111 opus/48000")...), code: 488},
		{name: "srtp", body: sdpOf(append(sdpHead, "m=audio 4000 RTP/SAVP 0")...), code: 488},
		{name: "video only", body: sdpOf(append(sdpHead, "m=video 4000 RTP/AVP 96")...), code: 488},
		{name: "audio refused by port 0", body: sdpOf(append(sdpHead, "m=audio 0 RTP/AVP 0")...), code: 488},
		{name: "no body (delayed offer)", body: nil, code: 488},
		{name: "not sdp", body: []byte("hello"), code: 400},
		{name: "no address", body: sdpOf("v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), code: 400},
		{name: "host name address", body: sdpOf("v=0", "o=- 1 1 IN IP4 x", "s=-", "c=IN IP4 robot.example", "t=0 0", "m=audio 4000 RTP/AVP 0"), code: 400},
		{name: "huge", body: append(sdpOf(sdpHead...), make([]byte, maxSDP)...), code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOffer(tt.body)
			if tt.code != 0 {
				var oe *offerError
				if !errors.As(err, &oe) || oe.code != tt.code {
					t.Fatalf("err %v, want offer error %d", err, tt.code)
				}
				if oe.code == 488 && oe.warning == "" {
					t.Fatal("488 without a warning text")
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOffer: %v", err)
			}
			if o.codec != tt.codec {
				t.Errorf("codec %+v, want %+v", o.codec, tt.codec)
			}
			addr := ""
			if o.addr.IsValid() {
				addr = o.addr.String()
			}
			if addr != tt.addr || o.dir != tt.dir || o.rtcpMux != tt.mux {
				t.Errorf("addr %q dir %s mux %v, want %q %s %v", addr, o.dir, o.rtcpMux, tt.addr, tt.dir, tt.mux)
			}
		})
	}
}

func TestBuildAnswer(t *testing.T) {
	o, err := parseOffer(sdpOf(append(sdpHead, "m=video 6000 RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly", "a=rtcp-mux", "a=ptime:30")...))
	if err != nil {
		t.Fatal(err)
	}
	ans := string(buildAnswer(o, answerParams{ip: netip.MustParseAddr("203.0.113.9"), port: 30000, session: 7, version: 2, dir: o.dir.answer()}))
	for _, want := range []string{
		"o=attendant 7 2 IN IP4 203.0.113.9\r\n", "c=IN IP4 203.0.113.9\r\n",
		"m=video 0 RTP/AVP 96\r\n", "m=audio 30000 RTP/AVP 0 101\r\n",
		"a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "a=fmtp:101 0-15\r\n",
		"a=ptime:30\r\n", "a=rtcp-mux\r\n", "a=recvonly\r\n",
	} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	if strings.Index(ans, "m=video") > strings.Index(ans, "m=audio") {
		t.Error("m= lines out of the offer's order")
	}
	// our answer is itself valid SDP with the same codec
	back, err := parseOffer([]byte(ans))
	if err != nil || back.codec != o.codec || back.dir != recvonly {
		t.Fatalf("answer parses to %+v, %v", back, err)
	}

	opus, err := parseOffer(sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2")...))
	if err != nil {
		t.Fatal(err)
	}
	ans = string(buildAnswer(opus, answerParams{ip: netip.MustParseAddr("2001:db8::1"), port: 30002, dir: sendrecv}))
	for _, want := range []string{"c=IN IP6 2001:db8::1\r\n", "a=rtpmap:111 opus/48000/2\r\n", "a=fmtp:111 minptime=10;useinbandfec=1\r\n", "a=sendrecv\r\n"} {
		if !strings.Contains(ans, want) {
			t.Errorf("opus answer lacks %q:\n%s", want, ans)
		}
	}
}

func TestDirection(t *testing.T) {
	for _, tt := range []struct {
		offer, answer direction
		held, sends   bool
	}{
		{sendrecv, sendrecv, false, true},
		{sendonly, recvonly, true, true},
		{recvonly, sendonly, false, false},
		{inactive, inactive, true, false},
	} {
		if tt.offer.answer() != tt.answer || tt.offer.held() != tt.held || tt.offer.remoteSends() != tt.sends {
			t.Errorf("%s: answer %s held %v sends %v", tt.offer, tt.offer.answer(), tt.offer.held(), tt.offer.remoteSends())
		}
	}
}

// FuzzParseOffer: no offer makes the parser or the answer builder panic,
// and every accepted offer yields an answer that parses with its codec.
func FuzzParseOffer(f *testing.F) {
	f.Add(sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000")...))
	f.Add(sdpOf(append(sdpHead, "m=audio 4000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1", "a=inactive")...))
	f.Add(sdpOf(append(sdpHead, "m=video 0 RTP/AVP 96", "m=audio 4000 RTP/AVPF 8", "c=IN IP6 ::1")...))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := parseOffer(body)
		if err != nil {
			var oe *offerError
			if !errors.As(err, &oe) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		ans := buildAnswer(o, answerParams{ip: netip.MustParseAddr("127.0.0.1"), port: 20000, dir: o.dir.answer()})
		back, err := parseOffer(ans)
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, ans)
		}
		if back.codec.Name != o.codec.Name || back.codec.PayloadType != o.codec.PayloadType {
			t.Fatalf("answer codec %+v, offer %+v", back.codec, o.codec)
		}
	})
}
