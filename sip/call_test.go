package sip

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

// callRecorder is a CallHandler for tests: it runs script for each call
// and keeps the calls.
type callRecorder struct {
	script func(ctx context.Context, c *Call)
	mu     sync.Mutex
	calls  []*Call
	got    chan *Call
}

func newCallRecorder(script func(ctx context.Context, c *Call)) *callRecorder {
	return &callRecorder{script: script, got: make(chan *Call, 16)}
}

func (r *callRecorder) IncomingCall(ctx context.Context, c *Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	r.got <- c
	r.script(ctx, c)
}

func (r *callRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// next waits for the next call.
func (r *callRecorder) next(t *testing.T) *Call {
	t.Helper()
	select {
	case c := <-r.got:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no call reached the handler")
		return nil
	}
}

// waitDone waits for a call to end and checks its reason.
func waitDone(t *testing.T, c *Call, reason string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("call did not end (want %q)", reason)
	}
	if got := c.EndReason(); got != reason {
		t.Fatalf("end reason %q, want %q", got, reason)
	}
}

// rtpPacket builds a PCMU-sized RTP packet.
func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	p := make([]byte, 12, 12+len(payload))
	p[0] = 0x80
	p[1] = pt & 0x7f
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	return append(p, payload...)
}

func sippCallDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	testenv.WriteToneWAV(t, filepath.Join(dir, "tone.wav"), 3)
	return dir
}

func mediaPortArgs(t *testing.T) []string {
	t.Helper()
	return []string{"-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDPPort(t))}
}

func TestSippCall(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		type result struct {
			media, echoed int
			answerErr     error
		}
		results := make(chan result, 1)
		rec := newCallRecorder(func(ctx context.Context, c *Call) {
			var res result
			defer func() { results <- res }()
			if err := c.Ring(); err != nil {
				res.answerErr = err
				return
			}
			_ = c.Ring() // idempotent
			time.Sleep(100 * time.Millisecond)
			if res.answerErr = c.Answer(ctx); res.answerErr != nil {
				return
			}
			// our own stream: sipp echoes it back (-rtp_echo), so ReadRTP
			// sees our SSRC when sipp got it
			const ourSSRC = 0x5eed
			go func() {
				payload := make([]byte, 160)
				for i := range payload {
					payload[i] = 0xff
				}
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-c.Done():
						return
					case <-tick.C:
						_ = c.WriteRTP(rtpPacket(0, uint16(i), uint32(160*i), ourSSRC, payload))
					}
				}
			}()
			buf := make([]byte, 1500)
			for {
				n, err := c.ReadRTP(buf)
				if err != nil {
					return
				}
				if n >= 12 && binary.BigEndian.Uint32(buf[8:]) == ourSSRC {
					res.echoed++
				} else {
					res.media++
				}
			}
		})
		ts := startServer(t, Config{Calls: rec}, robot(1))
		dir := sippCallDir(t)
		sippIn(t, dir, "call.xml", ts.udp, tr, append(mediaPortArgs(t), "-rtp_echo", "-d", "3500",
			"-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		c := rec.next(t)
		waitDone(t, c, EndRemoteBye)
		res := <-results
		if res.answerErr != nil {
			t.Fatalf("answer: %v", res.answerErr)
		}
		t.Logf("media packets %d, echoed %d", res.media, res.echoed)
		if res.media < 50 {
			t.Fatalf("got %d RTP packets from sipp, want > 50", res.media)
		}
		if res.echoed < 25 {
			t.Fatalf("sipp echoed %d of our RTP packets, want > 25", res.echoed)
		}
		if c.Codec() != (Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000, Channels: 1, DTMFPayloadType: 101}) {
			t.Fatalf("codec %+v", c.Codec())
		}
		if c.Device().ID != "dev-1" || c.Device().Password != "" || c.From() != "robot1" || c.ID() == "" {
			t.Fatalf("call identity: id %q device %+v from %q", c.ID(), c.Device(), c.From())
		}
		if !eventSeen(c, EventRemoteBye) {
			t.Fatal("no remote-bye event")
		}
		if err := c.WriteRTP(rtpPacket(0, 1, 1, 1, nil)); !errors.Is(err, ErrCallEnded) {
			t.Fatalf("WriteRTP after the end: %v", err)
		}
		// the call is counted once its goroutine has finished
		st := waitStats(t, ts.Server, func(st ServerStats) bool { return st.CallsEnded[EndRemoteBye] == 1 })
		if st.CallsIn != 1 || st.CallsOut != 0 || st.CallsActive != 0 || len(st.CallsEnded) != 1 {
			t.Fatalf("call counters %+v", st)
		}
		if st.RTPReceived < uint64(res.media+res.echoed) || st.RTPLost != 0 || st.RTPForeign != 0 {
			t.Fatalf("RTP counters %+v, read %d packets", st, res.media+res.echoed)
		}
	})
}

// waitStats polls the server's counters until ok holds.
func waitStats(t *testing.T, s *Server, ok func(ServerStats) bool) ServerStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("server counters never got there: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventSeen drains a call's (closed) event channel looking for kind.
func eventSeen(c *Call, kind EventKind) bool {
	seen := false
	for ev := range c.Events() {
		if ev.Kind == kind {
			seen = true
		}
	}
	return seen
}

// events collects every event of an ended call.
func events(t *testing.T, c *Call) []CallEvent {
	t.Helper()
	var out []CallEvent
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatal("Events not closed after the call ended")
		}
	}
}

func TestSippCancel(t *testing.T) {
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		_ = c.Ring()
		<-ctx.Done() // nobody answers
	})
	ts := startServer(t, Config{Calls: rec}, robot(1))
	sipp(t, "cancel.xml", ts.udp, "u1", append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	c := rec.next(t)
	waitDone(t, c, EndCancelled)
	if !eventSeen(c, EventCancel) {
		t.Fatal("no cancel event")
	}
	if err := c.Answer(context.Background()); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("Answer after CANCEL: %v", err)
	}
}

func TestSippNoCommonCodec(t *testing.T) {
	rec := newCallRecorder(func(ctx context.Context, c *Call) { _ = c.Answer(ctx) })
	ts := startServer(t, Config{Calls: rec}, robot(1))
	sipp(t, "invite_g729.xml", ts.udp, "u1", append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	if n := rec.count(); n != 0 {
		t.Fatalf("handler called %d times for an offer without a common codec", n)
	}
}

func TestSippHold(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		rec := newCallRecorder(func(ctx context.Context, c *Call) {
			_ = c.Ring()
			_ = c.Answer(ctx)
			<-ctx.Done()
		})
		ts := startServer(t, Config{Calls: rec}, robot(1))
		sipp(t, "hold.xml", ts.udp, tr, append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		c := rec.next(t)
		waitDone(t, c, EndRemoteBye)
		if rec.count() != 1 {
			t.Fatalf("%d calls, want 1: a re-INVITE became a new call", rec.count())
		}
		var kinds []EventKind
		for _, ev := range events(t, c) {
			kinds = append(kinds, ev.Kind)
		}
		if want := []EventKind{EventHold, EventResume, EventRemoteBye}; !slices.Equal(kinds, want) {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	})
}

// TestSippHangup: our Hangup sends BYE, sipp answers 200.
func TestSippHangup(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		hung := make(chan error, 1)
		rec := newCallRecorder(func(ctx context.Context, c *Call) {
			_ = c.Ring()
			if err := c.Answer(ctx); err != nil {
				hung <- err
				return
			}
			time.Sleep(200 * time.Millisecond)
			hung <- c.Hangup(ctx)
		})
		ts := startServer(t, Config{Calls: rec}, robot(1))
		sipp(t, "wait_bye.xml", ts.udp, tr, append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		c := rec.next(t)
		waitDone(t, c, EndLocalBye)
		if err := <-hung; err != nil {
			t.Fatalf("Hangup: %v", err)
		}
	})
}

// TestSippRTPTimeout: a robot that sends no RTP is hung up.
func TestSippRTPTimeout(t *testing.T) {
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		_ = c.Answer(ctx)
		<-ctx.Done()
	})
	ts := startServer(t, Config{Calls: rec, RTPTimeout: 500 * time.Millisecond}, robot(1))
	start := time.Now()
	sipp(t, "wait_bye.xml", ts.udp, "u1", append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	c := rec.next(t)
	waitDone(t, c, EndRTPTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("hung up after %v, want about 0.5 s", d)
	}
}

// TestSippShutdown: stopping the server hangs answered calls up.
func TestSippShutdown(t *testing.T) {
	answered := make(chan *Call, 1)
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		if c.Answer(ctx) == nil {
			answered <- c
		}
		<-ctx.Done()
	})
	s, err := NewServer(Config{Addr: "127.0.0.1:0", Calls: rec}, newFakeDirectory(robot(1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	u, _ := s.Addr()
	wait := sippAsync(t, t.TempDir(), "wait_bye.xml", u.String(), "u1",
		append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	var c *Call
	select {
	case c = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no call answered")
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	wait(t) // sipp got the BYE
	waitDone(t, c, EndShutdown)
}

// dtmfScript answers and collects DTMF digits until the call ends.
func dtmfScript(digits chan<- []rune, answered chan<- *Call) func(ctx context.Context, c *Call) {
	return func(ctx context.Context, c *Call) {
		var got []rune
		defer func() { digits <- got }()
		if c.Answer(ctx) != nil {
			return
		}
		if answered != nil {
			answered <- c
		}
		for ev := range c.Events() {
			if ev.Kind == EventDTMF {
				got = append(got, ev.Digit)
			}
		}
	}
}

// TestSippDTMF: sipp plays key 1 as RFC 4733 from its own pcap (end packet
// three times): one event.
func TestSippDTMF(t *testing.T) {
	needPeer(t, "sipp")
	pcap, err := os.ReadFile("/usr/share/sip-tester/dtmf_2833_1.pcap")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sipp's DTMF pcap (package sip-tester): %v", err)
		}
		t.Skipf("sipp's DTMF pcap: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dtmf.pcap"), pcap, 0o600); err != nil {
		t.Fatal(err)
	}
	digits := make(chan []rune, 1)
	rec := newCallRecorder(dtmfScript(digits, nil))
	ts := startServer(t, Config{Calls: rec}, robot(1))
	sippIn(t, dir, "dtmf.xml", ts.udp, "u1", append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	waitDone(t, rec.next(t), EndRemoteBye)
	if got := <-digits; string(got) != "1" {
		t.Fatalf("digits %q, want \"1\"", string(got))
	}
}

// TestDTMFPackets sends RFC 4733 packets by hand to the RTP port of a call
// sipp made: each key once, whatever the retransmissions and losses.
func TestDTMFPackets(t *testing.T) {
	digits := make(chan []rune, 1)
	answered := make(chan *Call, 1)
	rec := newCallRecorder(dtmfScript(digits, answered))
	ts := startServer(t, Config{Calls: rec}, robot(1))
	wait := sippAsync(t, t.TempDir(), "wait_bye.xml", ts.udp, "u1",
		append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	var c *Call
	select {
	case c = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no call answered")
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(c.LocalRTPAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// a stranger on another address of this host: not the robot's, so
	// its packets are dropped however they interleave with the robot's
	stranger, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.UDPAddrFromAddrPort(c.LocalRTPAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	seq := uint16(100)
	sendFrom := func(conn *net.UDPConn, ts uint32, event byte, end bool, dur uint16) {
		flags := byte(10) // volume
		if end {
			flags |= 0x80
		}
		pkt := rtpPacket(101, seq, ts, 0xd7f, []byte{event, flags, byte(dur >> 8), byte(dur)})
		seq++
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	send := func(ts uint32, event byte, end bool, dur uint16) { sendFrom(conn, ts, event, end, dur) }
	// "5": start, updates, end three times
	for _, d := range []uint16{160, 320, 480} {
		send(8000, 5, false, d)
	}
	for range 3 {
		send(8000, 5, true, 640)
	}
	sendFrom(stranger, 12000, 1, true, 320) // "1" from the stranger: dropped
	// "#": end packets only
	for range 3 {
		send(16000, 11, true, 800)
	}
	sendFrom(stranger, 20000, 2, true, 320) // "2" from the stranger: dropped
	// "9": every end packet lost, then "*"
	send(24000, 9, false, 160)
	send(24000, 9, false, 320)
	send(32000, 10, false, 160)
	send(32000, 10, true, 400)
	send(32000, 10, true, 400)
	// an event we do not report (flash) and garbage
	send(40000, 16, true, 160)
	if _, err := conn.Write([]byte{0x80, 101, 0, 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	wait(t)
	if got := <-digits; string(got) != "5#9*" {
		t.Fatalf("digits %q, want \"5#9*\" (none from the stranger)", string(got))
	}
	if n := c.media.foreign.Load(); n != 2 {
		t.Fatalf("%d packets counted from foreign addresses, want the stranger's 2", n)
	}
}

// TestSendMessage: a robot registered with sipp takes a MESSAGE and
// answers 200; a device that is not registered gets an error, bad
// content types never leave.
func TestSendMessage(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1), robot(2))
		oocsf, err := filepath.Abs(filepath.Join("testdata", "message_ooc.xml"))
		if err != nil {
			t.Fatal(err)
		}
		wait := sippAsync(t, t.TempDir(), "message_robot.xml", ts.udp, tr,
			"-oocsf", oocsf, "-s", "robot1", "-au", "robot1", "-ap", testPassword)
		waitFor(t, 5*time.Second, "robot registered", func() bool {
			b, _ := ts.Binding("dev-1")
			return b.Registered
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		status, err := ts.SendMessage(ctx, "dev-1", "application/json", []byte(`{"type":"display","qr":"pay"}`))
		if err != nil || status != 200 {
			t.Fatalf("SendMessage: %d, %v", status, err)
		}
		if _, err := ts.SendMessage(ctx, "dev-2", "application/json", []byte(`{}`)); !errors.Is(err, ErrNotRegistered) {
			t.Fatalf("SendMessage to an unregistered device: %v", err)
		}
		for _, ct := range []string{"", "application/json\r\nX-Evil: 1", "text", "a/b; c", "a/b;c=\"d\r\"", "text/plain\n"} {
			if _, err := ts.SendMessage(ctx, "dev-1", ct, []byte(`{}`)); !errors.Is(err, ErrBadMessage) {
				t.Fatalf("SendMessage with content type %q: %v", ct, err)
			}
		}
		if _, err := ts.SendMessage(ctx, "dev-1", "application/json", nil); !errors.Is(err, ErrBadMessage) {
			t.Fatalf("SendMessage with no body: %v", err)
		}
		wait(t)
	})
}

// withBody replaces the empty body of a request built by client.request.
func withBody(raw, contentType, body string) string {
	raw = strings.TrimSuffix(raw, "Content-Length: 0\r\n\r\n")
	return raw + "Content-Type: " + contentType + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func TestRejectAndStrayDialogRequests(t *testing.T) {
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		// a reason that would inject a header is replaced by the standard one
		_ = c.Reject(486, "Busy\r\nX-Evil: 1")
	})
	ts := startServer(t, Config{Calls: rec}, robot(1))
	c := dialClient(t, "udp", ts.udp, "robot1")
	expectStatus(t, c.register(testPassword), 200)
	desk := "sip:desk@" + ts.udp
	offer := string(sdpOf(append([]string{"v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"}, "m=audio 4000 RTP/AVP 0")...))
	contact := "Contact: <sip:robot1@" + c.local + ">"

	res := c.do(withBody(c.request("INVITE", desk, contact), "application/sdp", offer))
	expectStatus(t, res, 486)
	if res.Reason != "Busy Here" || header(res, "X-Evil") != "" {
		t.Fatalf("reject: %d %q\n%s", res.StatusCode, res.Reason, res)
	}
	waitDone(t, rec.next(t), EndRejected)

	// a body that is not SDP, and SDP that is not SDP
	expectStatus(t, c.do(withBody(c.request("INVITE", desk, contact), "text/plain", "hi")), 415)
	expectStatus(t, c.do(withBody(c.request("INVITE", desk, contact), "application/sdp", "nonsense")), 400)

	// BYE and re-INVITE for a dialog that does not exist
	inDialog := func(raw string) string {
		to := "To: <sip:robot1@" + ts.udp + ">"
		if !strings.Contains(raw, to) {
			t.Fatalf("no %q in\n%s", to, raw)
		}
		return strings.Replace(raw, to, to+";tag=nope", 1)
	}
	expectStatus(t, c.do(inDialog(c.request("BYE", desk))), 481)
	expectStatus(t, c.do(inDialog(withBody(c.request("INVITE", desk, contact), "application/sdp", offer))), 481)
	if n := rec.count(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

// TestSippCallRTPHandler: with SetRTPHandler the robot's audio goes to
// the function on the reading goroutine and nothing queues for ReadRTP;
// nil goes back to ReadRTP.
func TestSippCallRTPHandler(t *testing.T) {
	var pushed atomic.Int64
	readAgain := make(chan int, 1)
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		if c.Ring() != nil || c.Answer(ctx) != nil {
			readAgain <- -1
			return
		}
		c.SetRTPHandler(func(pkt []byte) {
			if len(pkt) >= 12 && pkt[1]&0x7f == 0 {
				pushed.Add(1)
			}
		})
		time.Sleep(time.Second)
		c.SetRTPHandler(nil)
		if len(c.media.in) != 0 {
			t.Errorf("%d packets queued for ReadRTP while a handler was set", len(c.media.in))
		}
		buf := make([]byte, 1500)
		n := 0
		for n < 10 {
			if _, err := c.ReadRTP(buf); err != nil {
				break
			}
			n++
		}
		readAgain <- n
		<-c.Done() // the robot hangs up: returning would hang up first
	})
	ts := startServer(t, Config{Calls: rec}, robot(1))
	dir := sippCallDir(t)
	sippIn(t, dir, "call.xml", ts.udp, "u1", append(mediaPortArgs(t), "-d", "2500",
		"-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	c := rec.next(t)
	waitDone(t, c, EndRemoteBye)
	if n := pushed.Load(); n < 30 {
		t.Fatalf("%d packets through the handler in a second, want >= 30", n)
	}
	if n := <-readAgain; n != 10 {
		t.Fatalf("ReadRTP after SetRTPHandler(nil) read %d packets, want 10", n)
	}
}
