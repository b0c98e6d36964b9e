package sip

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

// Tests with baresip (baresip-core 1.0.0) as a real robot on loopback: it
// registers with digest auth, auto-answers our Dial, sends a sine tone,
// DTMF (RFC 4733) and MESSAGE when told over its control channel, and
// hangs up or is hung up.

// messageLog collects Config.OnMessage calls.
type messageLog struct {
	mu   sync.Mutex
	msgs []string // "device content-type body"
}

func (m *messageLog) on(deviceID, contentType string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, deviceID+" "+contentType+" "+string(body))
}

func (m *messageLog) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

// startBaresipRobot starts baresip as robot1 and waits for its binding.
func startBaresipRobot(t *testing.T, ts *testServer, transport string) *testenv.Baresip {
	t.Helper()
	bs := testenv.StartBaresip(t, testenv.BaresipOptions{Registrar: ts.udp, Transport: transport,
		User: "robot1", Password: testPassword})
	waitFor(t, 10*time.Second, "baresip registered", func() bool {
		b, _ := ts.Binding("dev-1")
		return b.Registered
	})
	return bs
}

// pump sends 20 ms packets of silence in the call's codec with our SSRC
// until the call ends and counts what ReadRTP returns; both stop with the
// call.
type pump struct {
	sent, read sync.WaitGroup
	mu         sync.Mutex
	nSent      int
	nRead      int
}

func startPump(c *Call, ssrc uint32) *pump {
	p := &pump{}
	p.sent.Add(1)
	go func() {
		defer p.sent.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		codec := c.Codec()
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = 0xff // µ-law silence
		}
		switch codec.Name {
		case "PCMA":
			for i := range payload {
				payload[i] = 0xd5 // A-law silence
			}
		case "opus":
			payload = []byte{0xf8, 0xff, 0xfe} // one 20 ms Opus silence frame (CELT, fullband)
		}
		step := codec.ClockRate / 50
		for i := 0; ; i++ {
			select {
			case <-c.Done():
				return
			case <-tick.C:
				if c.WriteRTP(rtpPacket(codec.PayloadType, uint16(i), step*uint32(i), ssrc, payload)) == nil {
					p.mu.Lock()
					p.nSent++
					p.mu.Unlock()
				}
			}
		}
	}()
	p.read.Add(1)
	go func() {
		defer p.read.Done()
		buf := make([]byte, 1500)
		for {
			if _, err := c.ReadRTP(buf); err != nil {
				return
			}
			p.mu.Lock()
			p.nRead++
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *pump) counts() (sent, read int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nSent, p.nRead
}

func (p *pump) wait() { p.sent.Wait(); p.read.Wait() }

// baresipReceived reads from baresip's /audio_debug how many RTP packets
// it received from the source with our SSRC.
func baresipReceived(t *testing.T, bs *testenv.Baresip, ssrc uint32) int {
	t.Helper()
	out := bs.Do(t, "audio_debug", "")
	re := regexp.MustCompile(fmt.Sprintf(`member 0x%08x:[^\n]*\n\s*IP=\S+ psent=\d+ rcvd=(\d+)`, ssrc))
	m := re.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// baresipSRCount reads from baresip's /audio_debug the packet count of
// the last SR it got from the source with our SSRC (0: none yet).
func baresipSRCount(t *testing.T, bs *testenv.Baresip, ssrc uint32) int {
	t.Helper()
	out := bs.Do(t, "audio_debug", "")
	re := regexp.MustCompile(fmt.Sprintf(`member 0x%08x:[^\n]*\n\s*IP=\S+ psent=(\d+)`, ssrc))
	m := re.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestBaresipDial: we Dial a registered baresip; it answers by itself,
// RTP flows both ways, its DTMF arrives as events, its MESSAGE reaches
// OnMessage, and its hang-up ends our call.
func TestBaresipDial(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			var msgs messageLog
			ts := startServer(t, Config{OnMessage: msgs.on, RTCPInterval: 300 * time.Millisecond}, robot(1))
			bs := startBaresipRobot(t, ts, transport)
			b, _ := ts.Binding("dev-1")
			if !strings.Contains(b.UserAgent, "baresip") || !strings.EqualFold(b.Transport, transport) {
				t.Fatalf("binding %+v", b)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := ts.Dial(ctx, "dev-1", nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			bs.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
			if c.Codec().Name != "PCMU" || c.Codec().DTMFPayloadType != 101 {
				t.Fatalf("codec %+v", c.Codec())
			}
			const ourSSRC = 0x5eed0001
			p := startPump(c, ourSSRC)
			waitFor(t, 10*time.Second, "RTP both ways", func() bool {
				_, read := p.counts()
				return read >= 50 && baresipReceived(t, bs, ourSSRC) >= 50
			})

			// RTCP both ways: baresip read our SRs (its member entry for our
			// SSRC has our packet count), we read its SR and its report on us
			waitFor(t, 15*time.Second, "RTCP both ways", func() bool {
				st := c.Stats()
				return baresipSRCount(t, bs, ourSSRC) > 0 && st.RTTKnown && st.RemotePacketsSent > 0
			})
			if st := c.Stats(); st.RemotePacketsLost != 0 || st.RemoteHighestSeq == 0 || st.PacketsLost != 0 ||
				st.PacketsReceived == 0 || st.RTT > time.Second {
				t.Fatalf("Stats %+v", st)
			}
			if sent, _ := p.counts(); baresipSRCount(t, bs, ourSSRC) > sent {
				t.Fatalf("baresip saw an SR counting %d packets, we sent %d", baresipSRCount(t, bs, ourSSRC), sent)
			}

			// DTMF: baresip sends RFC 4733 events, one press per digit
			bs.Do(t, "sndcode", "19#*")
			var digits []rune
			timeout := time.After(10 * time.Second)
			for len(digits) < 4 {
				select {
				case ev := <-c.Events():
					if ev.Kind == EventDTMF {
						if ev.Duration <= 0 {
							t.Errorf("DTMF %c with duration %v", ev.Digit, ev.Duration)
						}
						digits = append(digits, ev.Digit)
					}
				case <-timeout:
					t.Fatalf("DTMF: got %q, want 19#*", string(digits))
				}
			}
			if string(digits) != "19#*" {
				t.Fatalf("DTMF %q, want 19#*", string(digits))
			}

			// MESSAGE to its current contact (us), during the call
			const body = `{"display":{"mode":"text","payload":"Please wait"}}`
			bs.Do(t, "message", body)
			waitFor(t, 5*time.Second, "MESSAGE in OnMessage", func() bool {
				return len(msgs.all()) > 0
			})
			if got, want := msgs.all()[0], "dev-1 text/plain "+body; got != want {
				t.Fatalf("OnMessage got %q, want %q", got, want)
			}

			// the robot hangs up
			bs.Do(t, "hangup", "")
			waitDone(t, c, EndRemoteBye)
			bs.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
			p.wait()
			if !eventSeen(c, EventRemoteBye) {
				t.Fatal("no remote-bye event")
			}
		})
	}
}

// TestBaresipHoldAndHangup: we hold the call and resume it (baresip's
// audio direction follows our re-INVITEs), then our Hangup reaches
// baresip as a BYE.
func TestBaresipHoldAndHangup(t *testing.T) {
	ts := startServer(t, Config{}, robot(1))
	bs := startBaresipRobot(t, ts, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ts.Dial(ctx, "dev-1", nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	bs.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
	p := startPump(c, 0x5eed0002)
	waitFor(t, 10*time.Second, "RTP from baresip", func() bool {
		_, read := p.counts()
		return read >= 10
	})
	audioDir := func() string {
		m := regexp.MustCompile(`audio dir=(\w+)`).FindStringSubmatch(bs.Do(t, "audio_debug", ""))
		if m == nil {
			t.Fatal("no audio dir in baresip's audio_debug")
		}
		return m[1]
	}
	if d := audioDir(); d != "sendrecv" {
		t.Fatalf("baresip's audio dir %s before hold", d)
	}

	if err := c.Hold(ctx, true); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	// baresip now only receives: our RTP still reaches it
	if d := audioDir(); d != "recvonly" {
		t.Fatalf("baresip's audio dir %s while held, want recvonly", d)
	}
	before := baresipReceived(t, bs, 0x5eed0002)
	waitFor(t, 5*time.Second, "our RTP reaching baresip while held", func() bool {
		return baresipReceived(t, bs, 0x5eed0002) >= before+10
	})
	if err := c.Hold(ctx, false); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if d := audioDir(); d != "sendrecv" {
		t.Fatalf("baresip's audio dir %s after resume", d)
	}
	_, readBefore := p.counts()
	waitFor(t, 5*time.Second, "RTP from baresip after resume", func() bool {
		_, read := p.counts()
		return read >= readBefore+10
	})
	reinvites := receivedFrom(bs, ts, "INVITE ")
	if len(reinvites) != 3 {
		t.Fatalf("baresip got %d INVITEs from us, want 3", len(reinvites))
	}
	for i, want := range []string{"a=sendrecv", "a=sendonly", "a=sendrecv"} {
		if !strings.Contains(reinvites[i].Body(), want) {
			t.Fatalf("INVITE %d lacks %s:\n%s", i, want, reinvites[i].Body())
		}
	}

	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitDone(t, c, EndLocalBye)
	bs.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
	if got := receivedFrom(bs, ts, "BYE "); len(got) != 1 {
		t.Fatalf("baresip got %d BYEs from us, want 1", len(got))
	}
	p.wait()
	var kinds []string
	for _, ev := range events(t, c) {
		if ev.Kind == EventHold || ev.Kind == EventResume {
			kinds = append(kinds, fmt.Sprintf("%s local=%v", ev.Kind, ev.Local))
		}
	}
	if want := []string{"hold local=true", "resume local=true"}; !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
}

// receivedFrom returns the requests baresip got from our server whose
// start line begins with prefix ("INVITE ", "BYE ").
func receivedFrom(bs *testenv.Baresip, ts *testServer, prefix string) []testenv.SIPMessage {
	var out []testenv.SIPMessage
	for _, m := range bs.SIPTrace() {
		if m.From == ts.udp && strings.HasPrefix(m.StartLine(), prefix) {
			out = append(out, m)
		}
	}
	return out
}

// TestBaresipCallsInOpus: baresip with only its Opus module calls us; the
// call has Opus and RTP flows both ways; we hold and resume its call (a
// re-INVITE as the dialog's UAS).
func TestBaresipCallsInOpus(t *testing.T) {
	const ourSSRC = 0x5eed0005
	type result struct {
		codec   Codec
		read    int
		err     error
		holdErr error
	}
	results := make(chan result, 1)
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		var res result
		defer func() { results <- res }()
		res.codec = c.Codec()
		_ = c.Ring()
		if res.err = c.Answer(ctx); res.err != nil {
			return
		}
		p := startPump(c, ourSSRC)
		for _, on := range []bool{true, false} {
			if err := c.Hold(ctx, on); err != nil && res.holdErr == nil {
				res.holdErr = err
			}
		}
		p.wait()
		_, res.read = p.counts()
	})
	ts := startServer(t, Config{Calls: rec}, robot(1))
	bs := testenv.StartBaresip(t, testenv.BaresipOptions{Registrar: ts.udp, User: "robot1", Password: testPassword,
		Codecs: []string{"opus"}})
	waitFor(t, 10*time.Second, "baresip registered", func() bool {
		b, _ := ts.Binding("dev-1")
		return b.Registered
	})
	bs.Do(t, "dial", "sip:desk@"+ts.udp)
	c := rec.next(t)
	bs.WaitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	waitFor(t, 10*time.Second, "our RTP at baresip", func() bool { return baresipReceived(t, bs, ourSSRC) >= 50 })
	bs.Do(t, "hangup", "")
	waitDone(t, c, EndRemoteBye)
	res := <-results
	if res.err != nil {
		t.Fatalf("Answer: %v", res.err)
	}
	if res.codec.Name != "opus" || res.codec.ClockRate != 48000 || res.codec.Channels != 2 {
		t.Fatalf("codec %+v, want opus/48000/2", res.codec)
	}
	if res.read < 50 {
		t.Fatalf("%d Opus packets from baresip, want >= 50", res.read)
	}
	if res.holdErr != nil {
		t.Fatalf("Hold: %v", res.holdErr)
	}
	var dirs []string
	for _, m := range receivedFrom(bs, ts, "INVITE ") {
		dirs = append(dirs, regexp.MustCompile(`a=(sendonly|sendrecv|recvonly|inactive)`).FindString(m.Body()))
	}
	if want := []string{"a=sendonly", "a=sendrecv"}; !slices.Equal(dirs, want) {
		t.Fatalf("baresip got re-INVITEs %v, want %v", dirs, want)
	}
}
