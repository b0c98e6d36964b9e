package media

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// memLeg is a call leg in memory: what the test sends "from the robot"
// and what the bridge sends to it.
type memLeg struct {
	in   chan []byte
	done chan struct{}
	mu   sync.Mutex
	out  []rtp.Packet
	once sync.Once
}

func newMemLeg() *memLeg { return &memLeg{in: make(chan []byte, 64), done: make(chan struct{})} }

func (l *memLeg) ReadRTP(buf []byte) (int, error) {
	select {
	case p := <-l.in:
		return copy(buf, p), nil
	case <-l.done:
		return 0, errors.New("leg ended")
	}
}

func (l *memLeg) WriteRTP(b []byte) error {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return err
	}
	l.mu.Lock()
	l.out = append(l.out, p)
	l.mu.Unlock()
	return nil
}

func (l *memLeg) Done() <-chan struct{} { return l.done }
func (l *memLeg) end()                  { l.once.Do(func() { close(l.done) }) }

func (l *memLeg) received() []rtp.Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]rtp.Packet(nil), l.out...)
}

// agentPeer is the agent's browser as a pion client: it answers the
// bridge's offer, counts the call audio it gets and sends its own.
func agentPeer(t *testing.T, offer string) (*webrtc.PeerConnection, string, *atomic.Int64, *webrtc.TrackLocalStaticRTP) {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	require.NoError(t, me.RegisterDefaultCodecs())
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	var got atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			got.Add(1)
		}
	})
	mic, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "mic", "agent")
	require.NoError(t, err)
	require.NoError(t, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}))
	_, err = pc.AddTrack(mic) // takes the offered sendrecv transceiver
	require.NoError(t, err)
	require.Len(t, pc.GetTransceivers(), 1)
	answer, err := pc.CreateAnswer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(pc)
	require.NoError(t, pc.SetLocalDescription(answer))
	<-gathered
	return pc, pc.LocalDescription().SDP, &got, mic
}

// TestBridgePCMU: a G.711 call leg and a WebRTC agent hear each other,
// with PCMU on both sides (no transcoding): the leg's packets reach the
// agent, and the agent's reach the leg under one SSRC with sequence numbers
// that never jump.
func TestBridgePCMU(t *testing.T) {
	b, err := NewBridger(ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}}, nil)
	require.NoError(t, err)
	leg := newMemLeg()
	defer leg.end()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, offer, err := b.Start(ctx, leg, CallCodec{Name: "PCMU", PayloadType: 0, ClockRate: 8000})
	require.NoError(t, err)
	defer br.Close()
	require.Contains(t, offer, "PCMU/8000")
	require.NotContains(t, offer, "opus")
	_, answer, heard, mic := agentPeer(t, offer)
	require.NoError(t, br.Answer(answer))
	require.Eventually(t, func() bool { return br.Stats().AgentConnected }, 10*time.Second, 20*time.Millisecond)

	payload := make([]byte, 160)
	for i := range 100 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i * 160), SSRC: 42}, Payload: payload}
		raw, _ := p.Marshal()
		leg.in <- raw
		// the agent talks too
		require.NoError(t, mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 7}, Payload: payload}))
		time.Sleep(5 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return heard.Load() >= 90 }, 5*time.Second, 20*time.Millisecond, "agent heard %d", heard.Load())
	require.Eventually(t, func() bool { return len(leg.received()) >= 90 }, 5*time.Second, 20*time.Millisecond)
	out := leg.received()
	for i := 1; i < len(out); i++ {
		require.Equal(t, out[0].SSRC, out[i].SSRC, "one SSRC towards the robot")
		require.Equal(t, uint8(0), out[i].PayloadType)
		require.Equal(t, uint16(1), out[i].SequenceNumber-out[i-1].SequenceNumber, "no sequence jump at %d", i)
	}
	st := br.Stats()
	require.GreaterOrEqual(t, st.LegToAgent, uint64(90))

	// the leg ending closes the bridge
	leg.end()
	done := make(chan struct{})
	go func() { br.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("bridge goroutines still running after the leg ended")
	}
}

func TestBridgeRefusesUnknownCodec(t *testing.T) {
	b, err := NewBridger(ICEConfig{IncludeLoopback: true}, nil)
	require.NoError(t, err)
	_, _, err = b.Start(context.Background(), newMemLeg(), CallCodec{Name: "G729", PayloadType: 18, ClockRate: 8000})
	require.ErrorIs(t, err, ErrCodecNotOffered)
}

// TestRTPRewriterNewSource: when the agent's side restarts (a new SSRC
// with its own numbering), the robot still sees one stream continuing.
func TestRTPRewriterNewSource(t *testing.T) {
	rw := newRTPRewriter(0, 8000)
	var out []rtp.Packet
	for i := range 10 {
		src, seq, ts := uint32(7), uint16(65530+i), uint32(1000+i*160) // wraps
		if i >= 5 {
			src, seq, ts = 9, uint16(300+i), uint32(90000+i*160)
		}
		p := rw.rewrite(&rtp.Packet{Header: rtp.Header{SSRC: src, SequenceNumber: seq, Timestamp: ts, PayloadType: 111}})
		out = append(out, *p)
	}
	for i := 1; i < len(out); i++ {
		require.Equal(t, out[0].SSRC, out[i].SSRC)
		require.Equal(t, uint8(0), out[i].PayloadType)
		require.Equal(t, uint16(1), out[i].SequenceNumber-out[i-1].SequenceNumber, "packet %d", i)
		require.Equal(t, uint32(160), out[i].Timestamp-out[i-1].Timestamp, "packet %d", i)
	}
}

// TestBridgeHandover: the agent's side moves to a new PeerConnection (a
// transfer to another agent, or a reloaded page) while the call goes on:
// until the new answer the old agent keeps the audio, after it the new one
// has it, and the robot sees one stream throughout — same SSRC, sequence
// numbers without a jump.
func TestBridgeHandover(t *testing.T) {
	b, err := NewBridger(ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}}, nil)
	require.NoError(t, err)
	leg := newMemLeg()
	defer leg.end()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, offer, err := b.Start(ctx, leg, CallCodec{Name: "PCMU", PayloadType: 0, ClockRate: 8000})
	require.NoError(t, err)
	_, answer, heard1, mic1 := agentPeer(t, offer)
	require.NoError(t, first.Answer(answer))
	require.Eventually(t, func() bool { return first.Stats().AgentConnected }, 10*time.Second, 20*time.Millisecond)

	payload := make([]byte, 160)
	seq := uint16(5000)
	robotSays := func(n int) {
		for range n {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 42}, Payload: payload}
			seq++
			raw, _ := p.Marshal()
			leg.in <- raw
			time.Sleep(5 * time.Millisecond)
		}
	}
	agentSays := func(mic *webrtc.TrackLocalStaticRTP, ssrc uint32, from, n int) {
		for i := range n {
			require.NoError(t, mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(from + i),
				Timestamp: uint32((from + i) * 160), SSRC: ssrc}, Payload: payload}))
			time.Sleep(5 * time.Millisecond)
		}
	}
	robotSays(40)
	agentSays(mic1, 7, 0, 40)
	require.Eventually(t, func() bool { return heard1.Load() >= 35 && len(leg.received()) >= 35 }, 5*time.Second, 20*time.Millisecond)

	second, offer2, err := b.Handover(ctx, first)
	require.NoError(t, err)
	_, answer2, heard2, mic2 := agentPeer(t, offer2)
	// before the answer, the first agent still has the call
	before1 := heard1.Load()
	robotSays(20)
	require.Eventually(t, func() bool { return heard1.Load() >= before1+15 }, 5*time.Second, 20*time.Millisecond)
	require.Zero(t, heard2.Load(), "the new agent hears nothing before its answer")

	require.NoError(t, second.Answer(answer2))
	first.Close()
	require.Eventually(t, func() bool { return second.Stats().AgentConnected }, 10*time.Second, 20*time.Millisecond)
	sentBefore := len(leg.received())
	robotSays(40)
	agentSays(mic2, 9, 30000, 40) // a new source with its own numbering
	require.Eventually(t, func() bool { return heard2.Load() >= 35 }, 5*time.Second, 20*time.Millisecond, "new agent heard %d", heard2.Load())
	require.Eventually(t, func() bool { return len(leg.received()) >= sentBefore+35 }, 5*time.Second, 20*time.Millisecond)
	// the first agent's microphone no longer reaches the robot
	n := len(leg.received())
	agentSays(mic1, 7, 40, 10)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, n, len(leg.received()), "a replaced agent must not reach the robot")

	out := leg.received()
	for i := 1; i < len(out); i++ {
		require.Equal(t, out[0].SSRC, out[i].SSRC, "one SSRC towards the robot across the handover")
		require.Equal(t, uint16(1), out[i].SequenceNumber-out[i-1].SequenceNumber, "no sequence jump at %d", i)
		require.Equal(t, uint32(160), out[i].Timestamp-out[i-1].Timestamp, "no timestamp jump at %d", i)
	}
	st := second.Stats()
	require.GreaterOrEqual(t, st.LegToAgent, uint64(90), "counters are the call's, across bridges")

	leg.end()
	done := make(chan struct{})
	go func() { second.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("bridge goroutines still running after the leg ended")
	}
	_, _, err = b.Handover(ctx, second)
	require.ErrorIs(t, err, ErrBridgeEnded)
}

// pushLeg is a leg that hands packets to the bridge's function on its own
// goroutine and has a context that ends with it, as sip.Call does.
type pushLeg struct {
	*memLeg
	mu      sync.Mutex
	handler func([]byte)
	ctx     context.Context
	cancel  context.CancelFunc
}

func newPushLeg() *pushLeg {
	ctx, cancel := context.WithCancel(context.Background())
	return &pushLeg{memLeg: newMemLeg(), ctx: ctx, cancel: cancel}
}

func (l *pushLeg) Context() context.Context { return l.ctx }

func (l *pushLeg) end() {
	l.memLeg.end()
	l.cancel()
}

func (l *pushLeg) SetRTPHandler(fn func([]byte)) {
	l.mu.Lock()
	l.handler = fn
	l.mu.Unlock()
}

// push delivers one packet the way the leg's reader would; false when no
// handler is set.
func (l *pushLeg) push(b []byte) bool {
	l.mu.Lock()
	h := l.handler
	l.mu.Unlock()
	if h == nil {
		return false
	}
	h(b)
	return true
}

// TestBridgePushLeg: with a leg that pushes, the bridge forwards from the
// leg's goroutine (no reader of its own: ReadRTP is never called), reuses
// nothing the leg keeps, and lets go of the leg when its context ends —
// with no goroutine of the bridge's waiting for it.
func TestBridgePushLeg(t *testing.T) {
	b, err := NewBridger(ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}}, nil)
	require.NoError(t, err)
	leg := newPushLeg()
	defer leg.end()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, offer, err := b.Start(ctx, leg, CallCodec{Name: "PCMU", PayloadType: 0, ClockRate: 8000})
	require.NoError(t, err)
	_, answer, heard, _ := agentPeer(t, offer)
	require.NoError(t, br.Answer(answer))
	require.Eventually(t, func() bool { return br.Stats().AgentConnected }, 10*time.Second, 20*time.Millisecond)
	var tapped atomic.Int64
	br.SetTap(func(fromAgent bool, p *rtp.Packet) {
		if !fromAgent && len(p.Payload) == 160 {
			tapped.Add(1)
		}
	})
	buf := make([]byte, 1500) // the leg's one read buffer, reused as a reader does
	for i := range 60 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 5}, Payload: make([]byte, 160)}
		n, _ := p.MarshalTo(buf)
		require.True(t, leg.push(buf[:n]), "the bridge set a handler")
		dtmf := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(i), SSRC: 5}, Payload: []byte{1, 0, 0, 160}}
		n, _ = dtmf.MarshalTo(buf)
		leg.push(buf[:n]) // not for the browser
		time.Sleep(5 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return heard.Load() >= 50 }, 5*time.Second, 20*time.Millisecond, "agent heard %d", heard.Load())
	require.EqualValues(t, 60, tapped.Load(), "every audio packet recorded, no event packet")
	require.EqualValues(t, 60, br.Stats().LegToAgent)
	select {
	case <-leg.in:
		t.Fatal("nothing should queue for ReadRTP")
	default:
	}
	leg.end()
	br.Wait()
	require.Eventually(t, func() bool { return !leg.push(buf[:12]) }, 5*time.Second, 10*time.Millisecond, "the handler is removed when the leg ends")
}
