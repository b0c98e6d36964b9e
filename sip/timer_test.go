package sip

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// shortTimers is a server config with a 4 s session interval.
func shortTimers(calls CallHandler) Config {
	return Config{Calls: calls, SessionExpires: 4 * time.Second, MinSE: 2 * time.Second}
}

func answerAndWait(ctx context.Context, c *Call) {
	_ = c.Answer(ctx)
	<-ctx.Done()
}

// TestSippSessionTimerRobotRefreshes: the robot (refresher=uac) sends a
// refresh re-INVITE; the call outlives the first interval and ends with
// the robot's BYE.
func TestSippSessionTimerRobotRefreshes(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		rec := newCallRecorder(answerAndWait)
		ts := startServer(t, shortTimers(rec), robot(1))
		sipp(t, "timer_robot_refresh.xml", ts.udp, tr, append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		waitDone(t, rec.next(t), EndRemoteBye)
		if rec.count() != 1 {
			t.Fatalf("%d calls, want 1", rec.count())
		}
	})
}

// TestSippSessionTimerExpires: the robot should refresh but stays silent:
// BYE when the interval ends.
func TestSippSessionTimerExpires(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		answered := make(chan time.Time, 1)
		rec := newCallRecorder(func(ctx context.Context, c *Call) {
			if c.Answer(ctx) == nil {
				answered <- time.Now()
			}
			<-ctx.Done()
		})
		ts := startServer(t, shortTimers(rec), robot(1))
		sipp(t, "timer_silent.xml", ts.udp, tr, append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		c := rec.next(t)
		waitDone(t, c, EndSessionExpired)
		at := <-answered
		if d := time.Since(at); d < 3500*time.Millisecond || d > 6*time.Second {
			t.Fatalf("hung up %v after the answer, want about 4 s", d)
		}
	})
}

// TestSippSessionTimerServerRefreshes: a robot without timer support gets
// refresher=uas; we re-INVITE every half interval (sipp checks the
// headers and the bumped SDP version), so the call outlives the 4 s
// interval until we hang up after 5 s.
func TestSippSessionTimerServerRefreshes(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		hung := make(chan error, 1)
		rec := newCallRecorder(func(ctx context.Context, c *Call) {
			if err := c.Answer(ctx); err != nil {
				hung <- err
				return
			}
			select {
			case <-time.After(5 * time.Second):
				hung <- c.Hangup(ctx)
			case <-ctx.Done():
				hung <- ctx.Err()
			}
		})
		ts := startServer(t, shortTimers(rec), robot(1))
		sipp(t, "timer_server_refresh.xml", ts.udp, tr, append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
		waitDone(t, rec.next(t), EndLocalBye)
		if err := <-hung; err != nil {
			t.Fatalf("Hangup: %v", err)
		}
	})
}

// TestSippRequireTimer: Require: timer is supported now: 200, not 420.
func TestSippRequireTimer(t *testing.T) {
	rec := newCallRecorder(answerAndWait)
	ts := startServer(t, Config{Calls: rec}, robot(1))
	sipp(t, "timer_require.xml", ts.udp, "u1", append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	waitDone(t, rec.next(t), EndRemoteBye)
}

// TestSippSessionIntervalTooSmall: Session-Expires below MinSE gets 422
// with Min-SE, and no call.
func TestSippSessionIntervalTooSmall(t *testing.T) {
	rec := newCallRecorder(answerAndWait)
	ts := startServer(t, Config{Calls: rec}, robot(1))
	sipp(t, "timer_too_small.xml", ts.udp, "u1", append(mediaPortArgs(t), "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	if n := rec.count(); n != 0 {
		t.Fatalf("handler called %d times", n)
	}
}

func TestNegotiateTimer(t *testing.T) {
	s, err := newCore(Config{}, newFakeDirectory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	off, err := newCore(Config{SessionExpires: -1}, newFakeDirectory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		s        *Server
		hdrs     []string
		interval time.Duration
		we       bool
		small    bool
	}{
		{"no timer support: we refresh", s, nil, 1800 * time.Second, true, false},
		{"supported, no Session-Expires: robot refreshes", s, []string{"Supported: timer"}, 1800 * time.Second, false, false},
		{"shorter asked", s, []string{"Supported: timer", "Session-Expires: 600"}, 600 * time.Second, false, false},
		{"longer asked: ours", s, []string{"Supported: timer", "Session-Expires: 7200;refresher=uac"}, 1800 * time.Second, false, false},
		{"refresher=uas", s, []string{"Supported: timer", "Session-Expires: 300;refresher=uas"}, 300 * time.Second, true, false},
		{"compact forms", s, []string{"k: timer", "x: 300"}, 300 * time.Second, false, false},
		{"Min-SE raises ours", s, []string{"Supported: timer", "Min-SE: 3600"}, 3600 * time.Second, false, false},
		{"too small", s, []string{"Supported: timer", "Session-Expires: 89"}, 0, false, true},
		{"malformed ignored", s, []string{"Session-Expires: soon"}, 1800 * time.Second, true, false},
		{"disabled", off, []string{"Supported: timer", "Session-Expires: 10"}, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := parseTestRequest(t, tc.hdrs...)
			st, small := tc.s.negotiateTimer(req)
			if small != tc.small || (!small && (st.interval != tc.interval || st.weRefresh != tc.we)) {
				t.Fatalf("got %+v small=%v, want interval %v we=%v small=%v", st, small, tc.interval, tc.we, tc.small)
			}
		})
	}
}

// parseTestRequest parses an INVITE with the given extra headers.
func parseTestRequest(t *testing.T, hdrs ...string) *sip.Request {
	t.Helper()
	raw := "INVITE sip:desk@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"From: <sip:robot1@127.0.0.1>;tag=a\r\nTo: <sip:desk@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
	for _, h := range hdrs {
		raw += h + "\r\n"
	}
	msg, err := sip.ParseMessage([]byte(raw + "Content-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Request)
}
