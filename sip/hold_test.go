package sip

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sippReceived returns the bodies of the requests sipp received (from its
// -trace_msg log in dir) whose request line starts with method.
func sippReceived(t *testing.T, dir, method string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "messages.log"))
	if err != nil {
		t.Fatalf("sipp message log: %v", err)
	}
	var bodies []string
	for _, blk := range strings.Split(string(raw), "message received")[1:] {
		_, msg, _ := strings.Cut(blk, ":\n\n") // "[N] bytes :" then the message
		msg = strings.ReplaceAll(msg, "\r\n", "\n")
		if !strings.HasPrefix(msg, method+" ") {
			continue
		}
		_, body, _ := strings.Cut(msg, "\n\n")
		body, _, _ = strings.Cut(body, "\n---------") // the next log entry
		bodies = append(bodies, strings.TrimSpace(body))
	}
	return bodies
}

var (
	sdpOrigin = regexp.MustCompile(`(?m)^o=attendant (\d+) (\d+) `)
	sdpMedia  = regexp.MustCompile(`(?m)^m=audio (\d+) RTP/AVP ([\d ]+?)\r?$`)
)

// TestSippHoldFromUs: we hold a call we dialled and resume it; sipp checks
// the re-INVITEs' directions (sendonly, then sendrecv) and stops its RTP
// while held. The RTP timeout must not fire while we hold.
func TestSippHoldFromUs(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{RTPTimeout: 500 * time.Millisecond}, robot(1))
		dir := sippCallDir(t)
		oocsf, err := filepath.Abs(filepath.Join("testdata", "dial_hold_ooc.xml"))
		if err != nil {
			t.Fatal(err)
		}
		wait := sippAsync(t, dir, "dial_robot.xml", ts.udp, tr, append(mediaPortArgs(t),
			"-oocsf", oocsf, "-d", "10000", "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		waitFor(t, 5*time.Second, "robot registered", func() bool {
			b, _ := ts.Binding("dev-1")
			return b.Registered
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := ts.Dial(ctx, "dev-1", nil)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		p := startPump(c, 0x5eed0003)
		waitFor(t, 5*time.Second, "RTP from sipp", func() bool { _, n := p.counts(); return n >= 10 })

		if err := c.Hold(ctx, true); err != nil {
			t.Fatalf("Hold: %v", err)
		}
		if err := c.Hold(ctx, true); err != nil { // held already: nothing sent
			t.Fatalf("Hold again: %v", err)
		}
		// sipp stopped its RTP; with a 500 ms RTP timeout the call would
		// end if the timeout ran while we hold
		sentBefore, _ := p.counts()
		time.Sleep(1500 * time.Millisecond)
		select {
		case <-c.Done():
			t.Fatalf("call ended while held: %s", c.EndReason())
		default:
		}
		if sent, _ := p.counts(); sent <= sentBefore {
			t.Fatalf("WriteRTP sent nothing while held (%d, %d before)", sent, sentBefore)
		}
		if err := c.Hold(ctx, false); err != nil {
			t.Fatalf("resume: %v", err)
		}
		_, readBefore := p.counts()
		waitFor(t, 5*time.Second, "RTP from sipp after resume", func() bool { _, n := p.counts(); return n >= readBefore+10 })
		if err := c.Hangup(ctx); err != nil {
			t.Fatalf("Hangup: %v", err)
		}
		waitDone(t, c, EndLocalBye)
		p.wait()
		wait(t)

		var got []string
		for _, ev := range events(t, c) {
			if ev.Kind == EventHold || ev.Kind == EventResume {
				if !ev.Local {
					t.Errorf("%s event without Local: the robot did not hold", ev.Kind)
				}
				got = append(got, string(ev.Kind))
			}
		}
		if want := []string{"hold", "resume"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}

		// what sipp received: the offer, then two re-INVITEs with the same
		// session, port and codec, the version one up each time
		invites := sippReceived(t, dir, "INVITE")
		if len(invites) != 3 {
			t.Fatalf("sipp got %d INVITEs, want 3:\n%q", len(invites), invites)
		}
		first := sdpOrigin.FindStringSubmatch(invites[0])
		if first == nil {
			t.Fatalf("no origin in the offer:\n%s", invites[0])
		}
		for i, want := range []string{"a=sendrecv", "a=sendonly", "a=sendrecv"} {
			sdp := invites[i]
			if !regexp.MustCompile(`(?m)^` + want + `\r?$`).MatchString(sdp) {
				t.Errorf("INVITE %d: no %s:\n%s", i, want, sdp)
			}
			o := sdpOrigin.FindStringSubmatch(sdp)
			if o == nil || o[1] != first[1] || o[2] != []string{"1", "2", "3"}[i] {
				t.Errorf("INVITE %d: origin %q, want session %s version %d", i, o, first[1], i+1)
			}
			offerPort := sdpMedia.FindStringSubmatch(invites[0])
			if m := sdpMedia.FindStringSubmatch(sdp); m == nil || offerPort == nil || m[1] != offerPort[1] {
				t.Errorf("INVITE %d: media %q, not the port of the offer %q", i, m, offerPort)
			}
		}
		if m := sdpMedia.FindStringSubmatch(invites[1]); m == nil || m[2] != "0 101" {
			t.Errorf("hold re-INVITE media %q, want the call's PCMU and telephone-event", m)
		}
	})
}

// TestSippHoldRefused: the robot refuses our hold (491) or never answers
// it; Hold returns an error and the call goes on.
func TestSippHoldRefused(t *testing.T) {
	for _, tc := range []struct {
		name, ooc string
		timeout   time.Duration
		check     func(t *testing.T, err error)
	}{
		{"491", "dial_hold491_ooc.xml", 10 * time.Second, func(t *testing.T, err error) {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 491 {
				t.Fatalf("Hold: %v, want a 491 StatusError", err)
			}
		}},
		{"no answer", "dial_hold_silent_ooc.xml", time.Second, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Hold: %v, want DeadlineExceeded", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, Config{}, robot(1))
			wait := dialRobot(t, ts, "u1", tc.ooc, "6000")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := ts.Dial(ctx, "dev-1", nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			hctx, hcancel := context.WithTimeout(ctx, tc.timeout)
			err = c.Hold(hctx, true)
			hcancel()
			tc.check(t, err)
			select {
			case <-c.Done():
				t.Fatalf("call ended: %s", c.EndReason())
			default:
			}
			if err := c.WriteRTP(rtpPacket(0, 1, 160, 0x5eed, make([]byte, 160))); err != nil {
				t.Fatalf("WriteRTP after the refusal: %v", err)
			}
			if err := c.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			waitDone(t, c, EndLocalBye)
			for _, ev := range events(t, c) {
				if ev.Kind == EventHold {
					t.Fatalf("hold event after a refused hold: %+v", ev)
				}
			}
			wait(t)
		})
	}
}

// TestHoldDirection: while we hold, our direction never says we receive.
func TestHoldDirection(t *testing.T) {
	for _, tc := range []struct {
		remote direction // the robot's SDP
		hold   bool
		want   direction
	}{
		{sendrecv, false, sendrecv},
		{sendrecv, true, sendonly},
		{sendonly, false, recvonly}, // the robot holds
		{sendonly, true, inactive},  // both hold
		{recvonly, false, sendonly}, // the robot's answer to our hold
		{recvonly, true, sendonly},
		{inactive, false, inactive},
		{inactive, true, inactive},
	} {
		if got := holdDirection(tc.remote.answer(), tc.hold); got != tc.want {
			t.Errorf("robot %s, we hold %v: %s, want %s", tc.remote, tc.hold, got, tc.want)
		}
	}
}
