package media

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromeOffer is the shape of a Chromium recvonly WHEP offer (codecs trimmed).
const chromeOffer = `v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 112 113 49
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=ice-options:trickle
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:0
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 H264/90000
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 H264/90000
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:112 H264/90000
a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f
a=rtpmap:113 rtx/90000
a=fmtp:113 apt=112
a=rtpmap:49 H265/90000
a=fmtp:49 level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08
a=setup:actpass
a=mid:1
a=recvonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
`

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestChooseVideo(t *testing.T) {
	noH265 := strings.Replace(strings.Replace(chromeOffer, " 49\n", "\n", 1), "a=rtpmap:49 H265/90000\n", "", 1)
	onlyMode0 := `v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
m=video 9 UDP/TLS/RTP/SAVPF 104
c=IN IP4 0.0.0.0
a=rtpmap:104 H264/90000
a=fmtp:104 packetization-mode=0;profile-level-id=42e01f
`
	high := mustHex("6764001facd9")  // High profile SPS head
	main := mustHex("674d401facd9")  // Main profile
	weird := mustHex("67f4001facd9") // High 4:4:4, not offered: any mode-1 H264
	tests := []struct {
		name    string
		offer   string
		codec   string
		sps     []byte
		wantPT  uint8
		wantErr error
	}{
		{"constrained baseline camera takes 42e01f", chromeOffer, CodecH264, testSPS264, 106, nil},
		{"high camera takes 64001f", chromeOffer, CodecH264, high, 112, nil},
		{"main camera takes a decoder that can (high)", chromeOffer, CodecH264, main, 112, nil},
		{"unknown profile takes the first mode-1 H264", chromeOffer, CodecH264, weird, 102, nil},
		{"no SPS yet takes the first mode-1 H264", chromeOffer, CodecH264, nil, 102, nil},
		{"H265 offered", chromeOffer, CodecH265, testSPS265, 49, nil},
		{"H265 not offered", noH265, CodecH265, testSPS265, 0, ErrCodecNotOffered},
		{"only packetization-mode 0", onlyMode0, CodecH264, testSPS264, 0, ErrCodecNotOffered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOffer(crlf(tc.offer))
			if err != nil {
				t.Fatal(err)
			}
			c, err := chooseVideo(o, tc.codec, tc.sps)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err == nil && c.pt != tc.wantPT {
				t.Fatalf("chose PT %d (%s %s), want %d", c.pt, c.name, c.fmtp, tc.wantPT)
			}
		})
	}
}

func TestChooseAudio(t *testing.T) {
	o, err := parseOffer(crlf(chromeOffer))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		info videoInfo
		want int // PT, -1 for none
	}{
		{videoInfo{audio: "pcmu", audioForward: true, audioClock: 8000, audioChannels: 1}, 0},
		{videoInfo{audio: "pcma", audioForward: true, audioClock: 8000, audioChannels: 1}, 8},
		{videoInfo{audio: "opus", audioForward: true, audioClock: 48000, audioChannels: 2}, 111},
		{videoInfo{audio: "aac"}, -1},
		{videoInfo{audio: "pcmu", audioForward: true, audioClock: 16000, audioChannels: 1}, -1},
	} {
		c := chooseAudio(o, tc.info)
		switch {
		case c == nil && tc.want >= 0, c != nil && int(c.pt) != tc.want:
			t.Errorf("%s: got %+v, want PT %d", tc.info.audio, c, tc.want)
		}
	}
}

func TestParseOfferBad(t *testing.T) {
	for _, s := range []string{"", "garbage", "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"} {
		if _, err := parseOffer(s); !errors.Is(err, ErrBadOffer) {
			t.Errorf("%q: %v, want ErrBadOffer", s, err)
		}
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add(crlf(chromeOffer))
	f.Add("v=0\r\nm=video 9 X 96\r\na=rtpmap:96 H264/90000/x\r\na=fmtp:96 packetization-mode=1;profile-level-id=zz\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOffer(s)
		if err != nil {
			return
		}
		_, _ = chooseVideo(o, CodecH264, testSPS264)
		_, _ = chooseVideo(o, CodecH265, nil)
		_ = chooseAudio(o, videoInfo{audio: "pcmu", audioForward: true, audioClock: 8000})
	})
}

func TestNeedLoopback(t *testing.T) {
	lo := ifaceAddrs{name: "lo", loopback: true, up: true, ips: []net.IP{net.ParseIP("127.0.0.1")}}
	eth := ifaceAddrs{name: "eth0", up: true, ips: []net.IP{net.ParseIP("192.0.2.2"), net.ParseIP("fe80::1")}}
	ll := ifaceAddrs{name: "eth1", up: true, ips: []net.IP{net.ParseIP("fe80::2")}}
	down := ifaceAddrs{name: "eth2", ips: []net.IP{net.ParseIP("10.0.0.1")}}
	for _, tc := range []struct {
		name string
		cfg  ICEConfig
		ifs  []ifaceAddrs
		want bool
	}{
		{"loopback only", ICEConfig{}, []ifaceAddrs{lo}, true},
		{"link-local and down only", ICEConfig{}, []ifaceAddrs{lo, ll, down}, true},
		{"a real address", ICEConfig{}, []ifaceAddrs{lo, eth}, false},
		{"asked for", ICEConfig{IncludeLoopback: true}, []ifaceAddrs{lo, eth}, true},
		{"interface filter leaves none", ICEConfig{Interfaces: []string{"eth1"}}, []ifaceAddrs{lo, eth, ll}, true},
		{"IP filter leaves none", ICEConfig{IPs: []string{"192.0.2.99"}}, []ifaceAddrs{lo, eth}, true},
		{"IP filter keeps one", ICEConfig{IPs: []string{"192.0.2.2"}}, []ifaceAddrs{lo, eth}, false},
	} {
		if got := needLoopback(tc.cfg, tc.ifs); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// feedFakeCamera makes a camera's stream look connected and feeds it fake
// H264 at 25 fps until ctx ends, without RTSP.
func feedFakeCamera(t testing.TB, ctx context.Context, m *Manager, id string) {
	t.Helper()
	c, err := m.camera(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.stream.begin(sessionInfo{codec: CodecH264, h264PktMode: 1, sps: testSPS264, pps: testPPS264}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cam := newFakeCam(t, 25)
	go func() {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				for _, p := range cam.next(t) {
					c.stream.writeVideo(p, now)
				}
			}
		}
	}()
}

func TestNATRules(t *testing.T) {
	rules, err := natRules([]string{"203.0.113.7", "198.51.100.1/10.0.0.5"})
	if err != nil || len(rules) != 2 || rules[0].Local != "10.0.0.5" || rules[1].External[0] != "203.0.113.7" {
		t.Fatalf("rules %+v, err %v", rules, err)
	}
	if _, err := NewManager(ManagerConfig{ICE: ICEConfig{NAT1To1IPs: []string{"not-an-ip"}}}, nil); err == nil {
		t.Fatal("a bad NAT address was accepted")
	}
	if _, err := NewManager(ManagerConfig{ICE: ICEConfig{UDPPortMin: 5000}}, nil); err == nil {
		t.Fatal("a half port range was accepted")
	}
}

func TestNAT1To1InAnswer(t *testing.T) {
	log, _ := testLogger(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lo := uint16(min(pc.LocalAddr().(*net.UDPAddr).Port, 65535-32))
	pc.Close()
	hi := lo + 32
	m, err := NewManager(ManagerConfig{ICE: ICEConfig{
		NAT1To1IPs: []string{"203.0.113.7"}, IncludeLoopback: true, UDPPortMin: lo, UDPPortMax: hi,
	}}, log)
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: true})
	feedFakeCamera(t, ctx, m, "c")
	vctx, vcancel := context.WithTimeout(ctx, 10*time.Second)
	defer vcancel()
	_, answer, err := m.NewViewer(vctx, "c", crlf(chromeOffer))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "203.0.113.7") || !strings.Contains(answer, "a=end-of-candidates") {
		t.Fatalf("answer lacks the NAT address or is not complete:\n%s", answer)
	}
	if !strings.Contains(answer, "a=rtpmap:106 H264/90000") || !strings.Contains(answer, "a=sendonly") {
		t.Fatalf("answer does not send H264 PT 106:\n%s", answer)
	}
	if strings.Contains(answer, "VP8") || strings.Contains(answer, "H265") {
		t.Fatalf("answer offers more than the chosen codec:\n%s", answer)
	}
	for _, line := range strings.Split(answer, "\r\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "a=candidate:") && len(f) > 5 {
			port, _ := strconv.Atoi(f[5])
			ipv4 := net.ParseIP(f[4]).To4() != nil // the NAT address is IPv4: IPv6 stays as it is
			if (ipv4 && f[4] != "203.0.113.7") || port < int(lo) || port > int(hi) {
				t.Fatalf("candidate %q outside the NAT address or port range %d-%d", line, lo, hi)
			}
		}
	}
}

func TestNewViewerErrors(t *testing.T) {
	m, _ := runManager(t, ManagerConfig{})
	ctx := context.Background()
	if _, _, err := m.NewViewer(ctx, "nope", chromeOffer); !errors.Is(err, ErrUnknownCamera) {
		t.Fatalf("unknown camera: %v", err)
	}
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: true})
	if _, _, err := m.NewViewer(ctx, "c", crlf(chromeOffer)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("never connected: %v", err)
	}
	if _, err := m.Keyframe(ctx, "c", false); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("keyframe: %v", err)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	feedFakeCamera(t, fctx, m, "c")
	if _, _, err := m.NewViewer(ctx, "c", "v=0\r\nbroken"); !errors.Is(err, ErrBadOffer) {
		t.Fatalf("bad offer: %v", err)
	}
	if err := m.CloseViewer("c", "nope"); !errors.Is(err, ErrUnknownViewer) {
		t.Fatalf("close unknown: %v", err)
	}
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: false})
	if st, _ := m.State("c"); st.State != StateDisabled {
		t.Fatalf("state %q, want disabled", st.State)
	}
	if _, _, err := m.NewViewer(ctx, "c", crlf(chromeOffer)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("disabled: %v", err)
	}
}

// TestLoopbackOnlyMachine runs a viewer inside a network namespace that has
// only loopback, with the default ICE settings: the answer must still carry a
// usable candidate, and frames must arrive.
func TestLoopbackOnlyMachine(t *testing.T) {
	if os.Getenv("MEDIA_TEST_IN_NETNS") == "1" {
		loopbackOnlyChild(t)
		return
	}
	requireTool(t, "unshare")
	requireTool(t, "ip")
	cmd := exec.Command("unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
		os.Args[0], "-test.run=^TestLoopbackOnlyMachine$", "-test.v")
	cmd.Env = append(os.Environ(), "MEDIA_TEST_IN_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "Operation not permitted") && os.Getenv("CI") == "" {
			t.Skipf("no user namespaces here: %s", out)
		}
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestLoopbackOnlyMachine") {
		t.Fatalf("child did not pass:\n%s", out)
	}
}

func loopbackOnlyChild(t *testing.T) {
	ifs, err := systemInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	if !needLoopback(ICEConfig{}, ifs) {
		t.Fatal("the namespace has a non-loopback address")
	}
	log, _ := testLogger(t)
	m, err := NewManager(ManagerConfig{}, log) // default ICE: no IncludeLoopback
	if err != nil {
		t.Fatal(err)
	}
	startManager(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: true})
	feedFakeCamera(t, ctx, m, "c")
	cl, err := newWHEPClient(t, m, "c", clientOpts{h264: true})
	if err != nil {
		t.Fatal(err)
	}
	cl.waitFrames(t, 10, 15*time.Second)
}
