package media

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// clientOpts selects what a test WHEP client offers.
type clientOpts struct {
	h264     bool
	h265     bool
	pcmu     bool
	opus     bool
	noRead   bool // never read the received tracks (a stuck viewer)
	h264FMTP string
}

// whepClient is a pion peer that plays the browser: it offers, gets the
// answer from the manager and counts what it receives.
type whepClient struct {
	pc      *webrtc.PeerConnection
	session string

	frames    atomic.Int64 // video access units (marker bits)
	videoPkts atomic.Int64
	audioPkts atomic.Int64
	seqGaps   atomic.Int64 // video sequence numbers not following the previous one
	tsBack    atomic.Int64 // video timestamps going backwards

	mu         sync.Mutex
	first      []byte // payload of the first video packet
	videoCodec string
}

func newWHEPClient(t testing.TB, m *Manager, camID string, o clientOpts) (*whepClient, error) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	reg := func(mime string, clock uint32, ch uint16, fmtp string, pt webrtc.PayloadType, kind webrtc.RTPCodecType) {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clock, Channels: ch, SDPFmtpLine: fmtp},
			PayloadType:        pt,
		}, kind); err != nil {
			t.Fatal(err)
		}
	}
	if o.h265 {
		reg(webrtc.MimeTypeH265, 90000, 0, "", 49, webrtc.RTPCodecTypeVideo)
	}
	if o.h264 {
		fmtp := o.h264FMTP
		if fmtp == "" {
			fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		}
		reg(webrtc.MimeTypeH264, 90000, 0, fmtp, 102, webrtc.RTPCodecTypeVideo)
	}
	if o.opus {
		reg(webrtc.MimeTypeOpus, 48000, 2, "minptime=10;useinbandfec=1", 111, webrtc.RTPCodecTypeAudio)
	}
	if o.pcmu {
		reg(webrtc.MimeTypePCMU, 8000, 0, "", 0, webrtc.RTPCodecTypeAudio)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &whepClient{pc: pc}
	t.Cleanup(func() { _ = pc.Close() })
	recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, recv); err != nil {
		t.Fatal(err)
	}
	if o.pcmu || o.opus {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, recv); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if o.noRead {
			return
		}
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		if video {
			c.mu.Lock()
			c.videoCodec = tr.Codec().MimeType
			c.mu.Unlock()
		}
		var last rtp.Packet
		started := false
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if !video {
				c.audioPkts.Add(1)
				continue
			}
			c.videoPkts.Add(1)
			if !started {
				c.mu.Lock()
				c.first = append([]byte(nil), p.Payload...)
				c.mu.Unlock()
			} else {
				if p.SequenceNumber != last.SequenceNumber+1 {
					c.seqGaps.Add(1)
				}
				if int32(p.Timestamp-last.Timestamp) < 0 {
					c.tsBack.Add(1)
				}
			}
			if p.Marker {
				c.frames.Add(1)
			}
			started = true
			last.SequenceNumber, last.Timestamp = p.SequenceNumber, p.Timestamp
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
	id, answer, err := m.NewViewer(ctx, camID, pc.LocalDescription().SDP)
	if err != nil {
		return nil, err
	}
	c.session = id
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return c, nil
}

func (c *whepClient) firstPayload() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// waitFrames waits until the client has received at least n frames.
func (c *whepClient) waitFrames(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c.frames.Load() >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("client got %d frames, want %d", c.frames.Load(), n)
}

// nalTypes lists the NAL unit types in the first RTP payload of a keyframe
// (single NAL unit or aggregation packet).
func nalTypes(h265 bool, payload []byte) []int {
	if len(payload) < 2 {
		return nil
	}
	if !h265 {
		typ := int(payload[0] & 0x1f)
		if typ != 24 {
			if typ == 28 { // FU-A: the fragmented unit's type
				return []int{int(payload[1] & 0x1f)}
			}
			return []int{typ}
		}
		var out []int
		for b := payload[1:]; len(b) > 2; {
			n := int(b[0])<<8 | int(b[1])
			if n == 0 || len(b) < 2+n {
				break
			}
			out = append(out, int(b[2]&0x1f))
			b = b[2+n:]
		}
		return out
	}
	typ := int(payload[0]>>1) & 0x3f
	if typ != 48 {
		if typ == 49 && len(payload) > 2 {
			return []int{int(payload[2] & 0x3f)}
		}
		return []int{typ}
	}
	var out []int
	for b := payload[2:]; len(b) > 3; {
		n := int(b[0])<<8 | int(b[1])
		if n == 0 || len(b) < 2+n {
			break
		}
		out = append(out, int(b[2]>>1)&0x3f)
		b = b[2+n:]
	}
	return out
}
