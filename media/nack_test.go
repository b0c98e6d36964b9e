package media

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// nackClient is a pion viewer without interceptors (so that nothing but the
// test sends NACKs) that keeps every video packet it receives by sequence
// number.
type nackClient struct {
	pc *webrtc.PeerConnection

	mu       sync.Mutex
	ssrc     uint32
	order    []uint16            // sequence numbers in arrival order, repeats included
	payloads map[uint16][][]byte // every copy received of each sequence number
}

func newNACKClient(t *testing.T, m *Manager, camID string) *nackClient {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
		},
		PayloadType: 102,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// the packets were not really lost: without this SRTP would drop the
	// retransmissions as replays
	se.DisableSRTPReplayProtection(true)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &nackClient{pc: pc, payloads: map[uint16][][]byte{}}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.ssrc = p.SSRC
			c.order = append(c.order, p.SequenceNumber)
			c.payloads[p.SequenceNumber] = append(c.payloads[p.SequenceNumber], bytes.Clone(p.Payload))
			c.mu.Unlock()
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, answer, err := m.NewViewer(ctx, camID, pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains([]byte(answer), []byte("a=rtcp-fb:102 nack\r\n")) {
		t.Fatalf("the answer does not offer NACK for the video:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond (under the client's lock) until it holds.
func (c *nackClient) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestNACKRetransmits: a viewer that reports packets lost (RTCP generic
// NACK, as a browser does) gets them again, with the sequence number and
// payload they first had; a NACK for packets long gone is not answered.
// Loopback loses nothing, so the client pretends.
func TestNACKRetransmits(t *testing.T) {
	m, _ := runManager(t, ManagerConfig{})
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feedFakeCamera(t, ctx, m, "c")
	waitState(t, m, "c", 5*time.Second, "a codec", func(s CameraState) bool { return s.Codec != "" })

	c := newNACKClient(t, m, "c")
	c.waitFor(t, "40 video packets", func() bool { return len(c.order) >= 40 })

	c.mu.Lock()
	ssrc := c.ssrc
	lost := []uint16{c.order[20], c.order[21], c.order[25]}
	gone := c.order[0] - 2*nackHistory // before anything was sent: never in the history
	c.mu.Unlock()
	nack := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(append(lost, gone))}
	if err := c.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "the NACKed packets again", func() bool {
		for _, seq := range lost {
			if len(c.payloads[seq]) < 2 {
				return false
			}
		}
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, seq := range lost {
		copies := c.payloads[seq]
		if len(copies) != 2 || !bytes.Equal(copies[0], copies[1]) {
			t.Errorf("sequence %d: %d copies, payloads equal: %v", seq, len(copies), len(copies) == 2 && bytes.Equal(copies[0], copies[1]))
		}
	}
	if n := len(c.payloads[gone]); n != 0 {
		t.Errorf("sequence %d, never sent, arrived %d times", gone, n)
	}
}
