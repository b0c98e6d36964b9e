package sip

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// dialRobot starts sipp as a registered robot whose incoming calls run
// the out-of-call scenario ooc, for about ms milliseconds; it returns once
// the robot is registered.
func dialRobot(t *testing.T, ts *testServer, tr, ooc, ms string) func(t *testing.T) int {
	t.Helper()
	oocsf, err := filepath.Abs(filepath.Join("testdata", ooc))
	if err != nil {
		t.Fatal(err)
	}
	wait := sippAsync(t, sippCallDir(t), "dial_robot.xml", ts.udp, tr, append(mediaPortArgs(t),
		"-oocsf", oocsf, "-d", ms, "-s", "robot1", "-au", "robot1", "-ap", testPassword)...)
	waitFor(t, 5*time.Second, "robot registered", func() bool {
		b, _ := ts.Binding("dev-1")
		return b.Registered
	})
	return wait
}

// TestSippDial: we call a registered sipp robot; it rings, answers PCMU,
// plays RTP, and we hang up.
func TestSippDial(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1))
		wait := dialRobot(t, ts, tr, "dial_answer_ooc.xml", "4000")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rang := make(chan struct{})
		c, err := ts.Dial(ctx, "dev-1", nil, OnRinging(func() { close(rang) }))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		select {
		case <-rang:
		default:
			t.Fatal("OnRinging not called before the answer")
		}
		if c.Codec() != (Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000, Channels: 1, DTMFPayloadType: 101}) {
			t.Fatalf("codec %+v", c.Codec())
		}
		if c.Device().ID != "dev-1" || c.Device().Password != "" {
			t.Fatalf("device %+v", c.Device())
		}
		got := 0
		buf := make([]byte, 1500)
		deadline := time.Now().Add(1500 * time.Millisecond)
		for i := 0; time.Now().Before(deadline); i++ {
			if err := c.WriteRTP(rtpPacket(0, uint16(i), uint32(160*i), 0x5eed, make([]byte, 160))); err != nil {
				t.Fatalf("WriteRTP: %v", err)
			}
			if n, err := c.ReadRTP(buf); err != nil || n < 12 {
				t.Fatalf("ReadRTP: %d, %v", n, err)
			}
			got++
		}
		if got < 20 {
			t.Fatalf("%d RTP packets from the robot, want > 20", got)
		}
		if err := c.Hangup(ctx); err != nil {
			t.Fatalf("Hangup: %v", err)
		}
		waitDone(t, c, EndLocalBye)
		evs := events(t, c)
		if len(evs) == 0 || evs[0].Kind != EventRinging {
			t.Fatalf("events %+v, want ringing first", evs)
		}
		wait(t)
		st := waitStats(t, ts.Server, func(st ServerStats) bool { return st.CallsEnded[EndLocalBye] == 1 })
		if st.CallsOut != 1 || st.CallsIn != 0 || st.CallsActive != 0 || st.RTPReceived < uint64(got) {
			t.Fatalf("counters %+v after one dialled call, %d packets read", st, got)
		}
	})
}

// TestSippDialBusy: a robot that answers 486 makes Dial fail with it.
func TestSippDialBusy(t *testing.T) {
	ts := startServer(t, Config{}, robot(1))
	wait := dialRobot(t, ts, "u1", "dial_busy_ooc.xml", "1500")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := ts.Dial(ctx, "dev-1", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("Dial: %v, want a 486 StatusError", err)
	}
	wait(t)
}

// TestSippDialCancel: ctx ends while the robot rings: CANCEL (sipp fails
// without one), and Dial returns ctx's error.
func TestSippDialCancel(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1))
		wait := dialRobot(t, ts, tr, "dial_ring_ooc.xml", "2000")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ringing, stop := context.WithCancel(ctx)
		_, err := ts.Dial(ringing, "dev-1", nil, OnRinging(stop))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial: %v, want context.Canceled", err)
		}
		wait(t)
	})
}

func TestDialRefused(t *testing.T) {
	ts := startServer(t, Config{}, robot(1))
	ctx := context.Background()
	if _, err := ts.Dial(ctx, "dev-1", nil); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Dial to an unregistered device: %v", err)
	}
	for _, c := range []Codec{
		{Name: "G729", PayloadType: 18, ClockRate: 8000, Channels: 1},
		{Name: "PCMU", PayloadType: 70, ClockRate: 8000, Channels: 1},
		{Name: "PCMU", PayloadType: 0, ClockRate: 8000, Channels: 1, DTMFPayloadType: 0x7f + 1},
		{Name: "opus", PayloadType: 111, ClockRate: 48000, Channels: 1},
	} {
		if _, err := ts.Dial(ctx, "dev-1", []Codec{c}); !errors.Is(err, ErrBadCodec) {
			t.Fatalf("Dial with %+v: %v", c, err)
		}
	}
}
