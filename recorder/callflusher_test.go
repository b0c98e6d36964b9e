package recorder_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/recorder"
)

// TestCallAudioOneFlusher: however many calls are recorded, one goroutine
// writes their audio, and it is gone once the last call is closed; every
// call's audio is still written while the others go on.
func TestCallAudioOneFlusher(t *testing.T) {
	rec, up := startRecorder(t, recorder.Config{})
	before := settledGoroutines()
	start := time.Now().UTC()
	calls := make([]*recorder.CallAudio, 20)
	for i := range calls {
		a, err := rec.StartCallAudio(recorder.CallAudioConfig{CaseID: fmt.Sprintf("case%d", i), SiteID: "site", DeviceID: "robot",
			Codec: "PCMU", Part: time.Minute, Start: start})
		require.NoError(t, err)
		calls[i] = a
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before+1, "one flusher for 20 calls")
	payload := bytes.Repeat([]byte{0x7f}, 160)
	for i, a := range calls {
		a.Packet(false, 0, payload, start)
		if i < len(calls)-1 {
			a.Close()
		}
	}
	require.Eventually(t, func() bool { return len(up.segments()) == len(calls)-1 }, 10*time.Second, 20*time.Millisecond,
		"the closed calls are stored while one goes on")
	calls[len(calls)-1].Close()
	require.Eventually(t, func() bool { return len(up.segments()) == len(calls) }, 10*time.Second, 20*time.Millisecond)
	// polled here, not with require.Eventually: that runs its condition on
	// a goroutine of its own
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before, "the flusher stops with the last call")
}

// settledGoroutines is the goroutine count once it stops changing (the
// spool and recorder started by startRecorder start theirs in the
// background).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}
