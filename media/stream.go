package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/pion/rtp"
)

const (
	// maxPayload keeps re-packetized RTP under common path MTUs with SRTP.
	maxPayload = 1200
	// maxGOPPackets bounds the GOP cache; a longer GOP is not cached and new
	// viewers wait for the next keyframe instead.
	maxGOPPackets = 4096
	// statsWindow is how often fps and bitrate are recomputed.
	statsWindow = 2 * time.Second
)

// sessionInfo describes what one RTSP session of a camera carries.
type sessionInfo struct {
	codec         string // CodecH264 | CodecH265
	h264PktMode   int
	vps, sps, pps []byte // from the SDP, may be nil
	audio         string // "pcmu" | "pcma" | "opus" | "aac" | ""
	audioForward  bool   // audio is in a browser codec and is forwarded
	audioClock    int
	audioChannels int
}

// videoInfo is what a viewer needs to negotiate: the codec and its profile.
type videoInfo struct {
	codec         string
	sps           []byte
	audio         string
	audioForward  bool
	audioClock    int
	audioChannels int
}

// subscriber is the stream's side of one viewer: a bounded queue plus drop
// state that only the producer (the stream, under its lock) touches.
type subscriber struct {
	q      *ring
	wake   chan struct{}
	audio  bool // the viewer negotiated audio
	drops  atomic.Uint64
	shared *atomic.Uint64 // the stream's total of viewer drops

	skipToKey  bool // producer only: drop video until the next keyframe
	countSkips bool // producer only: skipped packets count as drops
}

func newSubscriber(queueLen int, audio bool, shared *atomic.Uint64) *subscriber {
	return &subscriber{q: newRing(queueLen), wake: make(chan struct{}, 1), audio: audio, shared: shared}
}

func (s *subscriber) drop() {
	s.drops.Add(1)
	s.shared.Add(1)
}

// push queues p without ever blocking. Drop, don't block: a slow viewer must
// not stall the camera or the other viewers.
func (s *subscriber) push(p *packet) {
	if p.video {
		if s.skipToKey {
			if !p.keyframe {
				if s.countSkips {
					s.drop()
				}
				return
			}
			s.skipToKey, s.countSkips = false, false
		}
		if !s.q.push(p) {
			s.drop()
			s.skipToKey, s.countSkips = true, true
			return
		}
	} else {
		if !s.audio {
			return
		}
		if !s.q.push(p) {
			s.drop()
			return
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// tsMap maps one track's camera RTP timestamps onto a timeline that stays
// continuous when the camera reconnects with new random timestamps.
type tsMap struct {
	clock    float64
	started  bool
	rebase   bool
	inBase   uint32
	outBase  uint32
	lastOut  uint32
	lastWall time.Time
}

func (m *tsMap) out(in uint32, now time.Time) uint32 {
	if !m.started || m.rebase {
		if m.started {
			gap := uint32(now.Sub(m.lastWall).Seconds() * m.clock)
			m.outBase = m.lastOut + max(gap, 1)
		}
		m.inBase, m.started, m.rebase = in, true, false
	}
	o := m.outBase + (in - m.inBase)
	m.lastOut, m.lastWall = o, now
	return o
}

// keyframe is a cached keyframe access unit.
type keyframe struct {
	codec  string
	au     [][]byte
	width  int
	height int
	seq    uint64
	at     time.Time

	once   sync.Once
	annexB []byte
	err    error
}

func (k *keyframe) export() (Keyframe, error) {
	k.once.Do(func() { k.annexB, k.err = annexB(k.au) })
	if k.err != nil {
		return Keyframe{}, k.err
	}
	return Keyframe{Codec: k.codec, AnnexB: k.annexB, Width: k.width, Height: k.height, Seq: k.seq, At: k.at}, nil
}

// stream is one camera's hub: it turns camera RTP into shared packets, keeps
// the GOP and the last keyframe, and fans packets out to subscribers. Ingest
// callbacks (video and audio may come from two goroutines) take mu; viewers
// only touch their queues.
type stream struct {
	log *slog.Logger
	// onKeyframe is called (under mu) with every new keyframe; may be nil.
	onKeyframe func(*keyframe)
	// onAccessUnit is called (under mu) with every video access unit from
	// the first keyframe on; may be nil.
	onAccessUnit func(AccessUnit)

	lastPacket  atomic.Int64 // unix nanoseconds of the last camera packet
	lost        atomic.Uint64
	viewerDrops atomic.Uint64
	subs        atomic.Pointer[[]*subscriber] // copy-on-write

	mu       sync.Mutex
	info     sessionInfo
	params   paramSets
	dec264   *rtph264.Decoder
	dec265   *rtph265.Decoder
	enc264   *rtph264.Encoder
	enc265   *rtph265.Encoder
	haveKey  bool // this session has had a keyframe; earlier frames are useless
	pending  bool // the H264 decoder holds an unfinished access unit
	pendTS   uint32
	vmap     tsMap
	vpts     int64 // vmap's output extended past uint32 wrap-around, in 90 kHz ticks
	vlast    uint32
	vptsOK   bool
	amap     tsMap
	gop      []*packet
	gopOff   bool // the current GOP outgrew the cache
	kf       *keyframe
	kfSeq    uint64
	kfWait   chan struct{} // closed and replaced at every keyframe
	lastKey  uint32        // RTP time of the last keyframe
	keyValid bool          // lastKey is from this session
	keyInt   float64
	winFrom  time.Time
	winAUs   int
	winB     int
	fps      float64
	kbps     float64
}

func newStream(log *slog.Logger) *stream {
	s := &stream{log: log, kfWait: make(chan struct{})}
	s.subs.Store(&[]*subscriber{})
	return s
}

// begin starts a new camera session. It reports whether the video codec
// changed, in which case existing viewers cannot continue.
func (s *stream) begin(info sessionInfo, now time.Time) (codecChanged bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	codecChanged = s.info.codec != "" && s.info.codec != info.codec
	s.dec264, s.dec265 = nil, nil
	switch info.codec {
	case CodecH264:
		s.dec264 = &rtph264.Decoder{PacketizationMode: info.h264PktMode}
		err = s.dec264.Init()
		if s.enc264 == nil && err == nil {
			s.enc264 = &rtph264.Encoder{PayloadType: 96, PayloadMaxSize: maxPayload, PacketizationMode: 1}
			err = s.enc264.Init()
		}
	case CodecH265:
		s.dec265 = &rtph265.Decoder{}
		err = s.dec265.Init()
		if s.enc265 == nil && err == nil {
			s.enc265 = &rtph265.Encoder{PayloadType: 96, PayloadMaxSize: maxPayload}
			err = s.enc265.Init()
		}
	default:
		err = fmt.Errorf("unsupported video codec %q", info.codec)
	}
	if err != nil {
		return codecChanged, fmt.Errorf("set up %s RTP codec: %w", info.codec, err)
	}
	s.info = info
	s.params.reset(info.codec, info.vps, info.sps, info.pps)
	s.haveKey, s.pending, s.keyValid = false, false, false
	s.vmap.clock, s.vmap.rebase = 90000, true
	s.amap.clock, s.amap.rebase = float64(max(info.audioClock, 1)), true
	s.gop, s.gopOff = nil, false
	s.winFrom, s.winAUs, s.winB, s.fps, s.kbps = now, 0, 0, 0, 0
	s.lastPacket.Store(now.UnixNano())
	return codecChanged, nil
}

// writeVideo takes one camera video RTP packet.
func (s *stream) writeVideo(pkt *rtp.Packet, now time.Time) {
	s.lastPacket.Store(now.UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.winB += len(pkt.Payload)

	var au [][]byte
	var err error
	ts := pkt.Timestamp
	switch {
	case s.dec264 != nil:
		// the decoder also ends an access unit when the timestamp changes
		// (cameras without marker bits); that unit has the previous timestamp
		flushed := s.pending && pkt.Timestamp != s.pendTS
		if flushed {
			ts = s.pendTS
		}
		au, err = s.dec264.Decode(pkt)
		switch {
		case err == nil:
			s.pending, s.pendTS = flushed, pkt.Timestamp
		case errors.Is(err, rtph264.ErrMorePacketsNeeded):
			s.pending, s.pendTS = true, pkt.Timestamp
			return
		case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
			return
		default:
			s.lost.Add(1)
			return
		}
	case s.dec265 != nil:
		au, err = s.dec265.Decode(pkt)
		switch {
		case err == nil:
		case errors.Is(err, rtph265.ErrMorePacketsNeeded), errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
			return
		default:
			s.lost.Add(1)
			return
		}
	default:
		return
	}
	s.handleAU(au, ts, now)
}

func (s *stream) handleAU(au [][]byte, ts uint32, now time.Time) {
	au, key := s.params.process(au)
	if len(au) == 0 {
		return
	}
	if !s.haveKey {
		if !key {
			return // undecodable until the first keyframe
		}
		s.haveKey = true
	}
	out := s.vmap.out(ts, now)
	s.measure(now)
	if key {
		s.keyframe(au, ts, now)
	}
	if s.onAccessUnit != nil {
		s.emitAccessUnit(au, key, out, now)
	}

	var pkts []*rtp.Packet
	var err error
	if s.enc264 != nil && s.info.codec == CodecH264 {
		pkts, err = s.enc264.Encode(au)
	} else {
		pkts, err = s.enc265.Encode(au)
	}
	if err != nil {
		s.log.Debug("re-packetize access unit", "err", err)
		return
	}
	if key {
		s.gop, s.gopOff = make([]*packet, 0, max(64, len(s.gop))), false
	}
	batch := make([]packet, len(pkts)) // one allocation per access unit
	for i, rp := range pkts {
		p := &batch[i]
		*p = packet{payload: rp.Payload, ts: out, marker: rp.Marker, video: true, keyframe: key && i == 0}
		if !s.gopOff && s.haveKey {
			if len(s.gop) < maxGOPPackets {
				s.gop = append(s.gop, p)
			} else {
				s.gop, s.gopOff = nil, true
			}
		}
		s.fanout(p)
	}
}

// emitAccessUnit hands the frame to the access-unit hook with a PTS that
// does not wrap (a uint32 at 90 kHz wraps every 13 hours).
func (s *stream) emitAccessUnit(au [][]byte, key bool, ts uint32, now time.Time) {
	if s.vptsOK {
		s.vpts += int64(int32(ts - s.vlast))
	} else {
		s.vpts, s.vptsOK = int64(ts), true
	}
	s.vlast = ts
	s.onAccessUnit(AccessUnit{
		Codec: s.info.codec, NALUs: au, Key: key, PTS: time.Duration(s.vpts) * time.Second / 90000,
		Wall: now, Width: s.params.width, Height: s.params.height,
	})
}

func (s *stream) measure(now time.Time) {
	s.winAUs++
	if d := now.Sub(s.winFrom); d >= statsWindow {
		s.fps = float64(s.winAUs) / d.Seconds()
		s.kbps = float64(s.winB) * 8 / d.Seconds() / 1000
		s.winFrom, s.winAUs, s.winB = now, 0, 0
	}
}

func (s *stream) keyframe(au [][]byte, ts uint32, now time.Time) {
	if s.keyValid {
		if d := float64(ts-s.lastKey) / 90000; d > 0 && d < 600 {
			s.keyInt = d
		}
	}
	s.lastKey, s.keyValid = ts, true
	s.kfSeq++
	s.kf = &keyframe{codec: s.info.codec, au: au, width: s.params.width, height: s.params.height, seq: s.kfSeq, at: now}
	if s.onKeyframe != nil {
		s.onKeyframe(s.kf)
	}
	close(s.kfWait)
	s.kfWait = make(chan struct{})
}

// writeAudio takes one camera audio RTP packet in a browser codec.
func (s *stream) writeAudio(pkt *rtp.Packet, now time.Time) {
	s.lastPacket.Store(now.UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.winB += len(pkt.Payload)
	if !s.info.audioForward || len(pkt.Payload) == 0 {
		return
	}
	p := &packet{payload: pkt.Payload, ts: s.amap.out(pkt.Timestamp, now), marker: pkt.Marker}
	s.fanout(p)
}

// fanout hands p to every subscriber; it never blocks.
func (s *stream) fanout(p *packet) {
	for _, sub := range *s.subs.Load() {
		sub.push(p)
	}
}

// subscribe adds a subscriber and returns the cached GOP it should send first.
// Both happen under the lock, so no packet is missed or sent twice.
func (s *stream) subscribe(sub *subscriber) []*packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	backlog := s.gop[:len(s.gop):len(s.gop)]
	sub.skipToKey, sub.countSkips = len(backlog) == 0, false
	subs := append(slices.Clone(*s.subs.Load()), sub)
	s.subs.Store(&subs)
	return backlog
}

func (s *stream) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := slices.DeleteFunc(slices.Clone(*s.subs.Load()), func(x *subscriber) bool { return x == sub })
	s.subs.Store(&subs)
}

// videoInfo returns what viewers negotiate against; codec is "" before the
// first session.
func (s *stream) videoInfo() videoInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return videoInfo{
		codec: s.info.codec, sps: s.params.sps, audio: s.info.audio, audioForward: s.info.audioForward,
		audioClock: s.info.audioClock, audioChannels: s.info.audioChannels,
	}
}

// fill copies the stream's figures into st.
func (s *stream) fill(st *CameraState, live bool) {
	s.mu.Lock()
	st.Codec, st.AudioCodec = s.info.codec, s.info.audio
	st.Width, st.Height = s.params.width, s.params.height
	if live {
		st.FPS, st.BitrateKbps, st.KeyframeInterval = round2(s.fps), round2(s.kbps), round2(s.keyInt)
	}
	s.mu.Unlock()
	st.PacketsLost = s.lost.Load()
	st.ViewerDrops = s.viewerDrops.Load()
}

func round2(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}

// keyframeAt returns the cached keyframe, or waits for the next one when fresh
// is set or none is cached yet.
func (s *stream) keyframeAt(ctx context.Context, fresh bool) (Keyframe, error) {
	s.mu.Lock()
	kf, wait := s.kf, s.kfWait
	s.mu.Unlock()
	if kf != nil && !fresh {
		return kf.export()
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return Keyframe{}, fmt.Errorf("wait for keyframe: %w", ctx.Err())
	}
	s.mu.Lock()
	kf = s.kf
	s.mu.Unlock()
	return kf.export()
}
