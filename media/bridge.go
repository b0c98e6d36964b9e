package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// CallCodec is the audio codec of a call leg, carried unchanged to the
// agent's browser: G.711 stays G.711.
type CallCodec struct {
	Name        string // "PCMU" | "PCMA" | "opus"
	PayloadType uint8
	ClockRate   uint32
	Channels    uint16
}

func (c CallCodec) mimeType() (string, error) {
	switch strings.ToUpper(c.Name) {
	case "PCMU":
		return webrtc.MimeTypePCMU, nil
	case "PCMA":
		return webrtc.MimeTypePCMA, nil
	case "OPUS":
		return webrtc.MimeTypeOpus, nil
	}
	return "", fmt.Errorf("%w: call codec %q", ErrCodecNotOffered, c.Name)
}

// CallLeg is the far side of a bridged call (a SIP call's RTP): raw RTP
// packets in and out, with the leg's own codec and payload type.
type CallLeg interface {
	// ReadRTP reads the next RTP packet from the far side into buf.
	ReadRTP(buf []byte) (int, error)
	// WriteRTP sends one RTP packet to the far side.
	WriteRTP(pkt []byte) error
	// Done is closed when the leg ends.
	Done() <-chan struct{}
}

// BridgeStats counts what crossed a bridge.
type BridgeStats struct {
	// LegToAgent and AgentToLeg count RTP packets forwarded each way.
	LegToAgent, AgentToLeg uint64
	// AgentConnected is set once the agent's WebRTC connection is up.
	AgentConnected bool
}

// Bridger connects call legs to agents' browsers over WebRTC. Create it
// once with NewBridger; it is safe for concurrent use.
type Bridger struct {
	se      webrtc.SettingEngine
	reports *rtcpReports // RTCP reports of every call from one goroutine
	log     *slog.Logger
}

// NewBridger returns a Bridger gathering ICE candidates as cfg says (the
// same settings as camera viewers).
func NewBridger(cfg ICEConfig, log *slog.Logger) (*Bridger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifs, err := systemInterfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	if cfg.DisconnectedTimeout == 0 {
		cfg.DisconnectedTimeout = 5 * time.Second
	}
	if cfg.FailedTimeout == 0 {
		cfg.FailedTimeout = 15 * time.Second
	}
	// Each call's PeerConnection keeps sockets of its own: the shared
	// batched socket camera viewers use (sharedMux) was measured for calls
	// and did not pay (docs/benchmarks.md, issue 4): a lone 20 ms audio
	// packet waits for the batch timer, which a loaded machine runs late
	// (jitter), and pion's mux adds a goroutine hop and an 8 KiB buffer per
	// queued packet on the receive side.
	se, _, err := newSettingEngine(cfg, ifs, log)
	if err != nil {
		return nil, err
	}
	return &Bridger{se: se, reports: newRTCPReports(rtcpReportInterval, log), log: log}, nil
}

// Bridge is one call leg bridged to one agent's PeerConnection. The
// server makes the offer (Start or Handover) and takes the browser's answer
// (Answer). Packets robot→agent keep their sequence numbers and timestamps
// (pion sets the SSRC and payload type of the browser's negotiation);
// agent→robot packets get one SSRC and continuous sequence numbers and
// timestamps for the whole call, so the robot sees one stream even when the
// agent's side is replaced (a reload, a transfer to another agent).
type Bridge struct {
	share *legShare
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	log   *slog.Logger

	connected atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	closed chan struct{} // closed when Close is done
}

// legShare is what the bridges of one call leg share: one reader of the
// leg, the agent→robot rewriter and the counters. Only the active bridge
// carries audio; a bridge made by Handover becomes active when its answer
// is applied, so the leg is never read by two bridges at once.
type legShare struct {
	leg   CallLeg
	codec CallCodec

	active         atomic.Pointer[Bridge]
	tap            atomic.Pointer[func(fromAgent bool, p *rtp.Packet)]
	toAgent, toLeg atomic.Uint64

	inPkt rtp.Packet // forward's, reused

	writeMu sync.Mutex // rewriter + buffer: during a switch two bridges may write
	rw      *rtpRewriter
	buf     [1500]byte

	mu   sync.Mutex
	refs int // bridges not closed; the pump stops at 0

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start creates the agent's PeerConnection for leg and returns the bridge
// and the SDP offer (ICE gathered, no trickle) to send to the browser.
// Media flows once Answer is given the browser's answer.
func (b *Bridger) Start(ctx context.Context, leg CallLeg, codec CallCodec) (*Bridge, string, error) {
	if _, err := codec.mimeType(); err != nil {
		return nil, "", err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &legShare{leg: leg, codec: codec, rw: newRTPRewriter(codec.PayloadType, codec.ClockRate), ctx: sctx, cancel: cancel}
	br, offer, err := b.newBridge(ctx, s)
	if err != nil {
		cancel()
		return nil, "", err
	}
	s.active.Store(br)
	pushes, _ := leg.(PushLeg)
	if pushes != nil {
		// the leg's own reader forwards: no goroutine and no hand-over here
		pushes.SetRTPHandler(s.forward)
	} else {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.pump()
		}()
	}
	if cl, ok := leg.(interface{ Context() context.Context }); ok {
		// the leg's end closes the share, the share's end lets go of the
		// leg: no goroutine waits for either (a call has enough of those)
		stopLeg := context.AfterFunc(cl.Context(), s.closeAll)
		context.AfterFunc(sctx, func() {
			stopLeg()
			if pushes != nil {
				pushes.SetRTPHandler(nil)
			}
		})
		return br, offer, nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-leg.Done():
			s.closeAll()
		case <-sctx.Done():
		}
		if pushes != nil {
			pushes.SetRTPHandler(nil)
		}
	}()
	return br, offer, nil
}

// Handover makes a new agent PeerConnection for the call prev carries and
// returns it with its offer. prev keeps carrying the call until the new
// bridge's Answer is applied; then the new one does, with the same stream
// towards the robot, and the caller closes prev. prev may already be
// closed (its browser went away) as long as the call goes on.
func (b *Bridger) Handover(ctx context.Context, prev *Bridge) (*Bridge, string, error) {
	s := prev.share
	if s.ctx.Err() != nil {
		return nil, "", ErrBridgeEnded
	}
	return b.newBridge(ctx, s)
}

// ErrBridgeEnded: the call leg a bridge was for has ended.
var ErrBridgeEnded = errors.New("media: the bridged call has ended")

func (b *Bridger) newBridge(ctx context.Context, s *legShare) (*Bridge, string, error) {
	codec := s.codec
	mime, err := codec.mimeType()
	if err != nil {
		return nil, "", err
	}
	channels := codec.Channels
	if channels == 0 {
		channels = 1
	}
	params := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: codec.ClockRate, Channels: channels},
		PayloadType:        webrtc.PayloadType(codec.PayloadType),
	}
	if mime == webrtc.MimeTypeOpus {
		params.SDPFmtpLine = "minptime=10;useinbandfec=1"
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(params, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, "", fmt.Errorf("register call codec %s: %w", codec.Name, err)
	}
	ir := &interceptor.Registry{}
	ir.Add(b.reports)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(b.se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("new agent peer connection: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(params.RTPCodecCapability, "audio", "call")
	if err != nil {
		_ = pc.Close()
		return nil, "", fmt.Errorf("new call track: %w", err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		_ = pc.Close()
		return nil, "", fmt.Errorf("add call track: %w", err)
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		_ = pc.Close()
		return nil, "", ErrBridgeEnded
	}
	s.refs++
	s.mu.Unlock()
	bctx, cancel := context.WithCancel(s.ctx)
	br := &Bridge{share: s, pc: pc, track: track, log: b.log, ctx: bctx, cancel: cancel, closed: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			br.connected.Store(true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			br.connected.Store(false)
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		br.wg.Add(1)
		go func() {
			defer br.wg.Done()
			br.agentToLeg(tr)
		}()
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		gathered := webrtc.GatheringCompletePromise(pc)
		if err = pc.SetLocalDescription(offer); err == nil {
			select {
			case <-gathered:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	}
	if err != nil {
		br.Close()
		return nil, "", fmt.Errorf("make the agent's offer: %w", err)
	}
	// a closed share (the leg ended) closes its bridges; AfterFunc, not a
	// goroutine waiting for it: a call holds enough of those
	context.AfterFunc(bctx, br.Close)
	return br, pc.LocalDescription().SDP, nil
}

// Answer applies the browser's answer; from then on this bridge carries
// the call (for a bridge made by Handover, the previous one stops).
func (br *Bridge) Answer(sdp string) error {
	if err := br.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	br.share.active.Store(br)
	return nil
}

// SetTap has fn called with every packet forwarded, robot's (fromAgent
// false) and agent's (with the bridge's continuous numbering), to record
// the call. It is the call's: bridges made by Handover keep it. It runs on
// the forwarding path: it must not block or keep p.
func (br *Bridge) SetTap(fn func(fromAgent bool, p *rtp.Packet)) {
	br.share.tap.Store(&fn)
}

// Stats returns the call's counters (all its bridges) and whether this
// bridge's agent is connected.
func (br *Bridge) Stats() BridgeStats {
	s := br.share
	return BridgeStats{LegToAgent: s.toAgent.Load(), AgentToLeg: s.toLeg.Load(), AgentConnected: br.connected.Load()}
}

// Close ends this agent's side; the leg is left to its owner. When it was
// the last bridge of the leg, the leg's reader stops (after the leg's next
// packet, or when the leg ends).
func (br *Bridge) Close() {
	br.once.Do(func() {
		br.cancel()
		_ = br.pc.Close()
		s := br.share
		s.mu.Lock()
		s.refs--
		last := s.refs == 0
		s.mu.Unlock()
		if last {
			s.cancel()
		}
		close(br.closed)
	})
}

// Wait blocks until the bridge's goroutines have ended (after Close or the
// leg's end), and the leg's reader too once every bridge of the leg is
// closed.
func (br *Bridge) Wait() {
	<-br.closed
	br.wg.Wait()
	if br.share.ctx.Err() != nil {
		br.share.wg.Wait()
	}
}

func (s *legShare) closeAll() { s.cancel() }

// PushLeg is a call leg that can hand each packet to a function on its
// own reading goroutine (sip.Call): the bridge then forwards from there,
// without a goroutine of its own or a copy per packet.
type PushLeg interface {
	SetRTPHandler(fn func(pkt []byte))
}

// pump reads a leg that cannot push and forwards its audio.
func (s *legShare) pump() {
	buf := make([]byte, 1500)
	for {
		n, err := s.leg.ReadRTP(buf)
		if err != nil || s.ctx.Err() != nil {
			return
		}
		s.forward(buf[:n])
	}
}

// forward writes one packet of the leg to the active bridge's track. It is
// called from one goroutine at a time (the pump, or the leg's reader).
func (s *legShare) forward(b []byte) {
	pkt := &s.inPkt
	if s.ctx.Err() != nil || pkt.Unmarshal(b) != nil || pkt.PayloadType != s.codec.PayloadType {
		return // RFC 4733 events and garbage are not for the browser
	}
	if tap := s.tap.Load(); tap != nil {
		(*tap)(false, pkt)
	}
	br := s.active.Load()
	if br == nil || br.ctx.Err() != nil {
		return // between agents (a reload): the recording still has it
	}
	if err := br.track.WriteRTP(pkt); err != nil {
		return
	}
	s.toAgent.Add(1)
}

// agentToLeg forwards the browser's audio to the leg, while this bridge
// is the active one, with the call's own SSRC and continuous sequence
// numbers and timestamps.
func (br *Bridge) agentToLeg(tr *webrtc.TrackRemote) {
	s := br.share
	// one buffer and packet for the call's life: ReadRTP would allocate a
	// buffer per packet
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if s.active.Load() != br || pkt.Unmarshal(buf[:n]) != nil {
			continue // a handover not answered yet, or already replaced
		}
		if err := s.writeLeg(&pkt); err != nil && br.ctx.Err() != nil {
			return
		}
	}
}

func (s *legShare) writeLeg(pkt *rtp.Packet) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	out := s.rw.rewrite(pkt)
	if tap := s.tap.Load(); tap != nil {
		(*tap)(true, out)
	}
	n, err := out.MarshalTo(s.buf[:])
	if err != nil {
		return err
	}
	if err := s.leg.WriteRTP(s.buf[:n]); err != nil {
		return err
	}
	s.toLeg.Add(1)
	return nil
}

// rtpRewriter gives packets from a source that may change (a new
// PeerConnection after a reconnect) one SSRC and sequence and timestamp
// lines without jumps.
type rtpRewriter struct {
	ssrc    uint32
	pt      uint8
	tsStep  uint32
	started bool
	inSSRC  uint32
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
}

func newRTPRewriter(pt uint8, clockRate uint32) *rtpRewriter {
	// a new source continues one 20 ms packet after the last one sent
	return &rtpRewriter{ssrc: rand.Uint32(), pt: pt, tsStep: max(clockRate/50, 1)}
}

func (r *rtpRewriter) rewrite(p *rtp.Packet) *rtp.Packet {
	if !r.started || p.SSRC != r.inSSRC {
		if r.started {
			// continue one step after the last packet sent
			r.seqOff = r.lastSeq + 1 - p.SequenceNumber
			r.tsOff = r.lastTS + r.tsStep - p.Timestamp
		} else {
			r.seqOff, r.tsOff = 0, 0
		}
		r.started, r.inSSRC = true, p.SSRC
	}
	p.SSRC = r.ssrc
	p.PayloadType = r.pt
	p.SequenceNumber += r.seqOff
	p.Timestamp += r.tsOff
	p.Extension, p.Extensions = false, nil
	r.lastSeq, r.lastTS = p.SequenceNumber, p.Timestamp
	return p
}
