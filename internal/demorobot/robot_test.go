package demorobot

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/sip"
)

// TestRobotCallsIn: the demo robot registers with the real SIP server
// (digest), reports a vehicle waiting, calls in, its tone arrives, and it
// takes the server's hang-up; commands reach it, get 200 and change the
// state it reports; the server's own call to it is answered with audio.
func TestRobotCallsIn(t *testing.T) {
	var heard atomic.Int64
	states := make(chan string, 16)
	calls := make(chan *sip.Call, 4)
	dir := sip.DirectoryFunc(func(_ context.Context, user string) (sip.Device, error) {
		if user != "demo-robot" {
			return sip.Device{}, sip.ErrUnknownDevice
		}
		return sip.Device{ID: "dev1", SiteID: "site1", Username: user, Password: "demo-pass", Enabled: true}, nil
	})
	srv, err := sip.NewServer(sip.Config{Addr: "127.0.0.1:0", OnMessage: func(device, ct string, body []byte) {
		if device == "dev1" && ct == "application/json" {
			states <- string(body)
		}
	}, Calls: sip.CallHandlerFunc(func(ctx context.Context, c *sip.Call) {
		calls <- c
		if c.Ring() != nil || c.Answer(ctx) != nil {
			return
		}
		buf := make([]byte, 1500)
		for {
			if _, err := c.ReadRTP(buf); err != nil {
				return
			}
			heard.Add(1)
		}
	})}, dir, testLog())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(ctx) }()
	udp, _ := srv.Addr()

	robot := New(Config{Server: udp.String(), Username: "demo-robot", Password: "demo-pass",
		FirstCall: 100 * time.Millisecond, Pause: time.Hour, TalkFor: time.Minute, Log: testLog()})
	robotDone := make(chan error, 1)
	go func() { robotDone <- robot.Run(ctx) }()

	var c *sip.Call
	select {
	case c = <-calls:
	case <-time.After(15 * time.Second):
		t.Fatal("the robot did not call")
	}
	require.Equal(t, "dev1", c.Device().ID)
	var st robotState
	require.NoError(t, json.Unmarshal([]byte(<-states), &st))
	require.True(t, st.Vehicle.Present, "a vehicle waits before the robot calls")
	require.Equal(t, "京A12345", st.Vehicle.Plate)
	require.NotNil(t, st.Vehicle.Since)
	require.Equal(t, "PCMU", c.Codec().Name)
	require.Eventually(t, func() bool { return heard.Load() >= 25 }, 10*time.Second, 20*time.Millisecond, "tone packets %d", heard.Load())

	// the agent holds and resumes: re-INVITEs inside the robot's dialog
	require.NoError(t, c.Hold(ctx, true))
	require.NoError(t, c.Hold(ctx, false))
	require.Equal(t, []string{"recvonly", "sendrecv"}, robot.Holds())

	status, err := srv.SendMessage(ctx, "dev1", "application/json", []byte(`{"action":"open_gate"}`))
	require.NoError(t, err)
	require.Equal(t, 200, status)

	select {
	case s := <-states:
		require.NoError(t, json.Unmarshal([]byte(s), &st))
		require.Equal(t, "open", st.Gate)
		require.False(t, st.Vehicle.Present, "the car drove through")
	case <-time.After(5 * time.Second):
		t.Fatal("no state after open_gate")
	}
	require.Equal(t, []string{`{"action":"open_gate"}`}, robot.Commands())

	require.NoError(t, c.Hangup(ctx))
	require.Eventually(t, func() bool {
		_, sent, cmds := robot.Stats()
		return cmds == 1 && sent > 0
	}, 5*time.Second, 20*time.Millisecond)
	answered, _, _ := robot.Stats()
	require.EqualValues(t, 1, answered)

	// the agent calls the robot (the call-out list's "call")
	out, err := srv.Dial(ctx, "dev1", nil)
	require.NoError(t, err)
	buf := make([]byte, 1500)
	for i := range 25 {
		_, err := out.ReadRTP(buf)
		require.NoError(t, err, "tone packet %d", i)
	}
	require.NoError(t, out.Hangup(ctx))
	require.Eventually(t, func() bool { a, _, _ := robot.Stats(); return a == 2 }, 5*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-robotDone)
	if err := <-srvDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// testLog shows the robot's and the server's logs with go test -v only.
func testLog() *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
