package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// backlogStep is the timestamp spacing (1 ms at 90 kHz) given to the cached
// GOP sent to a new viewer: the browser shows it at once instead of playing
// it back at its original pace a whole GOP behind live.
const backlogStep = 90

// viewer is one WebRTC (WHEP) session watching one camera. Its goroutine owns
// the session: it waits for the connection, joins the stream, forwards
// packets and tears everything down.
type viewer struct {
	id     string
	log    *slog.Logger
	stream *stream
	sub    *subscriber
	video  *sendTrack
	audio  *sendTrack // nil when no audio was negotiated
	pc     *webrtc.PeerConnection

	audioClock     int
	connectTimeout time.Duration
	ctx            context.Context
	cancel         context.CancelCauseFunc
	done           chan struct{}
	connected      chan struct{} // closed when the connection is up
	connectedOnce  sync.Once
	pli            chan struct{} // the viewer asked for a keyframe (PLI/FIR)
	nacks          chan *rtcp.TransportLayerNack
	lastResync     time.Time
}

// viewerParams is what creating a viewer needs from the manager.
type viewerParams struct {
	id, cameraID   string
	offer          string
	info           videoInfo
	stream         *stream
	se             webrtc.SettingEngine
	reports        *rtcpReports
	queue          int
	connectTimeout time.Duration
	log            *slog.Logger
}

// newViewer negotiates a viewer from a WHEP offer and returns it with the
// SDP answer. The viewer does nothing until start is called.
func newViewer(ctx, parent context.Context, p viewerParams) (*viewer, string, error) {
	o, err := parseOffer(p.offer)
	if err != nil {
		return nil, "", err
	}
	vc, err := chooseVideo(o, p.info.codec, p.info.sps)
	if err != nil {
		return nil, "", err
	}
	ac := chooseAudio(o, p.info)
	api, err := newViewerAPI(p.se, p.reports, vc, ac)
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("create peer connection: %w", err)
	}
	vctx, cancel := context.WithCancelCause(parent)
	v := &viewer{
		id: p.id, log: p.log, stream: p.stream, pc: pc, connectTimeout: p.connectTimeout,
		ctx: vctx, cancel: cancel, done: make(chan struct{}), audioClock: p.info.audioClock,
		connected: make(chan struct{}), pli: make(chan struct{}, 1), nacks: make(chan *rtcp.TransportLayerNack, nackQueue),
		sub:   newSubscriber(p.queue, ac != nil, &p.stream.viewerDrops),
		video: newSendTrack(webrtc.RTPCodecTypeVideo, vc.params().MimeType, "camera-"+p.cameraID),
	}
	v.video.keepHistory(nackHistory)
	if ac != nil {
		// a stream of its own: grouped with the video, Chromium holds the
		// first frames back ~350 ms for lip sync; camera audio is ambient
		v.audio = newSendTrack(webrtc.RTPCodecTypeAudio, ac.params().MimeType, "camera-"+p.cameraID+"-audio")
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.log.Debug("viewer connection state", "state", s.String())
		switch s {
		case webrtc.PeerConnectionStateConnected:
			v.connectedOnce.Do(func() { close(v.connected) })
		case webrtc.PeerConnectionStateFailed:
			v.close(errors.New("ICE or DTLS failed"))
		case webrtc.PeerConnectionStateClosed:
			v.close(errors.New("peer connection closed"))
		}
	})
	answer, err := v.negotiate(ctx, p.offer)
	if err != nil {
		cancel(err)
		return nil, "", errors.Join(err, closePC(pc))
	}
	return v, answer, nil
}

func (v *viewer) negotiate(ctx context.Context, offerSDP string) (string, error) {
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return "", fmt.Errorf("%w: apply offer: %w", ErrBadOffer, err)
	}
	if _, err := v.pc.AddTrack(v.video); err != nil {
		return "", fmt.Errorf("add video track: %w", err)
	}
	if v.audio != nil {
		if _, err := v.pc.AddTrack(v.audio); err != nil {
			return "", fmt.Errorf("add audio track: %w", err)
		}
	}
	return gatherAnswer(ctx, v.pc)
}

func closePC(pc *webrtc.PeerConnection) error {
	if err := pc.Close(); err != nil {
		return fmt.Errorf("close peer connection: %w", err)
	}
	return nil
}

// nackQueue is how many NACK packets wait for the viewer's goroutine; more
// are dropped (the browser asks again).
const nackQueue = 16

// goroutines returns the functions the manager runs (and waits for): the
// forwarding loop and one RTCP reader per sender, which pion needs read for
// reports to work, and which passes keyframe requests and NACKs on to the
// forwarding loop (the only writer of the tracks).
func (v *viewer) goroutines(onDone func()) []func() {
	fs := []func(){func() { v.run(onDone) }}
	for _, s := range v.pc.GetSenders() {
		fs = append(fs, func() {
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					switch p := p.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						select {
						case v.pli <- struct{}{}:
						default:
						}
					case *rtcp.TransportLayerNack:
						select {
						case v.nacks <- p:
						default:
						}
					}
				}
			}
		})
	}
	return fs
}

// resendNacked retransmits the video packets a NACK asks for.
func (v *viewer) resendNacked(n *rtcp.TransportLayerNack) {
	if b := v.video.b.Load(); b == nil || n.MediaSSRC != b.ssrc {
		return
	}
	now := time.Now()
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			if err := v.video.resend(seq, now); err != nil {
				return // the connection is closing
			}
		}
	}
}

// close ends the viewer; its goroutine does the teardown.
func (v *viewer) close(cause error) {
	v.cancel(cause)
}

func (v *viewer) run(onDone func()) {
	defer func() {
		if r := recover(); r != nil { // one broken viewer must not take the server down
			v.log.Error("viewer panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	defer close(v.done)
	defer onDone()
	defer func() {
		if err := closePC(v.pc); err != nil {
			v.log.Debug("close viewer", "err", err)
		}
		v.log.Info("viewer closed", "reason", context.Cause(v.ctx), "sent_video", v.video.written,
			"resent_video", v.video.resent, "drops", v.sub.drops.Load())
	}()

	timer := time.NewTimer(v.connectTimeout)
	select {
	case <-v.connected:
		timer.Stop()
	case <-timer.C:
		v.cancel(errors.New("not connected in time"))
		return
	case <-v.ctx.Done():
		timer.Stop()
		return
	}
	backlog := v.stream.subscribe(v.sub)
	defer v.stream.unsubscribe(v.sub)
	v.log.Info("viewer connected", "backlog_packets", len(backlog))
	v.sendBacklog(backlog)
	v.pump()
}

// resync answers a keyframe request (PLI/FIR): the camera cannot be asked
// for one, so the viewer starts over from the cached GOP. At most once a
// second, and only when a GOP is cached.
func (v *viewer) resync() {
	if time.Since(v.lastResync) < time.Second {
		return
	}
	v.lastResync = time.Now()
	v.stream.unsubscribe(v.sub)
	for v.sub.q.pop() != nil { // the new GOP snapshot covers what was queued
	}
	backlog := v.stream.subscribe(v.sub)
	v.log.Debug("keyframe requested: resending cached GOP", "packets", len(backlog))
	v.sendBacklog(backlog)
}

// sendBacklog sends the cached GOP, squeezed to backlogStep per access unit
// and ending at the last cached timestamp, so live packets follow on.
func (v *viewer) sendBacklog(backlog []*packet) {
	if len(backlog) == 0 {
		return
	}
	aus := 0
	for _, p := range backlog {
		if p.marker {
			aus++
		}
	}
	if !backlog[len(backlog)-1].marker {
		aus++
	}
	last := backlog[len(backlog)-1].ts
	first := last - uint32(aus-1)*backlogStep
	if v.video.written > 0 {
		// keep timestamps rising after what this viewer already got; move
		// audio by as much to keep the two in sync
		want := v.video.hdr.Timestamp + backlogStep
		if got := first + v.video.tsOffset; int32(got-want) < 0 {
			delta := want - got
			v.video.tsOffset += delta
			if v.audio != nil {
				v.audio.tsOffset += uint32(uint64(delta) * uint64(max(v.audioClock, 1)) / 90000)
			}
		}
	}
	k := 0
	for _, p := range backlog {
		v.sendTo(v.video, p, first+uint32(k)*backlogStep)
		if p.marker {
			k++
		}
	}
}

// pump forwards queued packets until the viewer ends.
func (v *viewer) pump() {
	for {
		for p := v.sub.q.pop(); p != nil; p = v.sub.q.pop() {
			v.send(p)
		}
		select {
		case <-v.sub.wake:
		case n := <-v.nacks:
			v.resendNacked(n)
		case <-v.pli:
			v.resync()
		case <-v.ctx.Done():
			return
		}
	}
}

// send writes one packet.
func (v *viewer) send(p *packet) {
	if p.video {
		v.sendTo(v.video, p, p.ts)
	} else if v.audio != nil {
		v.sendTo(v.audio, p, p.ts)
	}
}

// sendTo writes a packet to a track. Until SRTP is up (a moment after the
// connection turns connected) pion drops writes, so the first write waits
// for it. Other write errors only happen while the connection closes, which
// ends the viewer through its state callback.
func (v *viewer) sendTo(t *sendTrack, p *packet, ts uint32) {
	for tries := 0; errors.Is(t.write(p, ts), errSRTPNotReady) && tries < 400; tries++ {
		select {
		case <-v.ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}
