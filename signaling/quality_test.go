package signaling

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/sip"
)

func TestQualityMeter(t *testing.T) {
	ms := time.Millisecond
	var m qualityMeter
	for _, tc := range []struct {
		name           string
		received       uint64
		lost           int64
		jitter, rtt    time.Duration
		level          string
		loss, jitterMS float64
		rttMS          float64 // 0: unknown
	}{
		{"nothing yet", 0, 0, 0, 0, QualitySilent, 0, 0, 0},
		{"clean", 250, 0, 4 * ms, 0, QualityGood, 0, 4, 0},
		{"a little loss", 500, 2, 12 * ms, 80 * ms, QualityGood, 0.008, 12, 80},
		{"some loss", 750, 7, 12 * ms, 80 * ms, QualityFair, 0.0196, 12, 80},
		{"jittery", 1000, 7, 45 * ms, 0, QualityFair, 0, 45, 0},
		{"bad", 1100, 50, 20 * ms, 0, QualityPoor, 0.3007, 20, 0},
		{"very jittery", 1350, 50, 90 * ms, 0, QualityPoor, 0, 90, 0},
		{"duplicates count loss back", 1600, 48, 5 * ms, 0, QualityGood, 0, 5, 0},
		{"robot went quiet", 1600, 48, 5 * ms, 0, QualitySilent, 0, 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := m.next(sip.CallStats{PacketsReceived: tc.received, PacketsLost: tc.lost, Jitter: tc.jitter, RTT: tc.rtt, RTTKnown: tc.rtt > 0})
			require.Equal(t, tc.level, q.Level)
			require.InDelta(t, tc.loss, q.Loss, 1e-4)
			require.Equal(t, tc.jitterMS, q.JitterMS)
			if tc.rttMS == 0 {
				require.Nil(t, q.RTTMS)
			} else {
				require.Equal(t, tc.rttMS, *q.RTTMS)
			}
		})
	}
}

// TestCallQualityToAgent: while a call is answered its agent hears every
// QualityEvery how the robot's line is doing: silent before the robot
// talks, good while its packets come, poor once they are lost.
func TestCallQualityToAgent(t *testing.T) {
	e := newEnv(t, Config{QualityEvery: 100 * time.Millisecond})
	amy := e.connect("amy")
	f := e.call("call-q")
	handled := make(chan struct{})
	go func() { e.hub.handle(context.Background(), f); close(handled) }()
	amy.next(TypeRinging)
	amy.send(Message{Type: TypeAccept, CallID: "call-q"})
	amy.send(Message{Type: TypeAnswer, CallID: "call-q", SDP: amy.answerOffer(amy.next(TypeOffer).SDP)})
	amy.next(TypeAnswered)

	quality := func(level string) LinkQuality {
		t.Helper()
		for {
			m := amy.next(TypeQuality)
			require.Equal(t, "call-q", m.CallID)
			require.NotNil(t, m.Quality)
			if m.Quality.Level == level {
				return *m.Quality
			}
		}
	}
	quality(QualitySilent)

	stop := make(chan struct{})
	talking := make(chan struct{})
	go func() { // the robot talks until told to stop
		defer close(talking)
		payload := make([]byte, 160)
		for i := 0; ; i++ {
			p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 1}, Payload: payload}
			raw, _ := p.Marshal()
			select {
			case f.in <- raw:
			case <-stop:
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	good := quality(QualityGood)
	require.Zero(t, good.Loss)
	f.lost.Add(1000)
	f.jitter.Store(int64(70 * time.Millisecond))
	poor := quality(QualityPoor)
	require.Greater(t, poor.Loss, 0.5)
	require.Equal(t, 70.0, poor.JitterMS)
	close(stop)
	<-talking

	amy.send(Message{Type: TypeHangup, CallID: "call-q"})
	amy.next(TypeEnded)
	<-handled
}
