package media

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeCam makes the RTP a camera would send: H264 access units of a GOP
// (IDR without in-band parameter sets, as many cameras send, then P frames),
// 25 fps.
type fakeCam struct {
	enc   *rtph264.Encoder
	ts    uint32
	frame int
	gop   int
}

func newFakeCam(t testing.TB, gop int) *fakeCam {
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: 1400}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	return &fakeCam{enc: enc, ts: 12345, gop: gop}
}

// next returns the packets of the next access unit.
func (c *fakeCam) next(t testing.TB) []*rtp.Packet {
	var au [][]byte
	if c.frame%c.gop == 0 {
		au = [][]byte{slice(5000, 0x65, 0x88)} // IDR, 4-5 packets
	} else {
		au = [][]byte{slice(900, 0x41, 0x9a)} // P frame, 1 packet
	}
	c.frame++
	pkts, err := c.enc.Encode(au)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		p.Timestamp = c.ts
	}
	c.ts += 3600
	return pkts
}

func newTestStream(t testing.TB) *stream {
	s := newStream(slog.New(slog.DiscardHandler))
	_, err := s.begin(sessionInfo{codec: CodecH264, h264PktMode: 1, sps: testSPS264, pps: testPPS264}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func drain(sub *subscriber) []*packet {
	var out []*packet
	for p := sub.q.pop(); p != nil; p = sub.q.pop() {
		out = append(out, p)
	}
	return out
}

func TestStreamKeyframesAndGOP(t *testing.T) {
	s := newTestStream(t)
	cam := newFakeCam(t, 10)
	now := time.Now()
	for range 13 { // one GOP and 3 frames of the next
		for _, p := range cam.next(t) {
			s.writeVideo(p, now)
		}
		now = now.Add(40 * time.Millisecond)
	}
	var drops = s.viewerDrops.Load()
	sub := newSubscriber(64, false, &s.viewerDrops)
	backlog := s.subscribe(sub)
	// the backlog is the second GOP: a keyframe (SPS+PPS aggregated, then the IDR) and 2 P frames
	if len(backlog) == 0 || !backlog[0].keyframe {
		t.Fatalf("backlog of %d packets does not start at a keyframe", len(backlog))
	}
	if typ := backlog[0].payload[0] & 0x1f; typ != 24 {
		t.Fatalf("first packet NAL type %d, want STAP-A with the parameter sets", typ)
	}
	if got := nalTypes(false, backlog[0].payload); len(got) < 2 || got[0] != 7 || got[1] != 8 {
		t.Fatalf("first packet carries %v, want SPS and PPS first", got)
	}
	markers := 0
	for _, p := range backlog {
		if len(p.payload) > maxPayload {
			t.Fatalf("payload of %d bytes", len(p.payload))
		}
		if p.marker {
			markers++
		}
	}
	if markers != 3 {
		t.Fatalf("backlog has %d access units, want 3", markers)
	}
	// live packets follow in the queue
	for _, p := range cam.next(t) {
		s.writeVideo(p, now)
	}
	if got := drain(sub); len(got) != 1 || got[0].keyframe {
		t.Fatalf("live: %d packets", len(got))
	}
	kf, err := s.keyframeAt(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if kf.Seq != 2 || kf.Width != 640 || kf.Height != 360 || kf.AnnexB[4] != 0x67 {
		t.Fatalf("keyframe seq %d %dx%d", kf.Seq, kf.Width, kf.Height)
	}
	var st CameraState
	s.fill(&st, true)
	if st.KeyframeInterval != 0.4 || st.ViewerDrops != drops {
		t.Fatalf("state %+v", st)
	}
}

func TestStreamWaitsForFirstKeyframe(t *testing.T) {
	s := newTestStream(t)
	sub := newSubscriber(64, false, &s.viewerDrops)
	s.subscribe(sub)
	cam := newFakeCam(t, 5)
	cam.frame = 1 // start mid-GOP
	now := time.Now()
	for range 6 {
		for _, p := range cam.next(t) {
			s.writeVideo(p, now)
		}
	}
	got := drain(sub)
	if len(got) == 0 || !got[0].keyframe {
		t.Fatalf("first of %d packets is not a keyframe", len(got))
	}
	if d := sub.drops.Load(); d != 0 {
		t.Fatalf("waiting for the first keyframe counted %d drops", d)
	}
}

func TestStreamFreshKeyframeWaits(t *testing.T) {
	s := newTestStream(t)
	cam := newFakeCam(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan Keyframe, 1)
	go func() {
		kf, err := s.keyframeAt(ctx, true)
		if err != nil {
			t.Error(err)
		}
		got <- kf
	}()
	time.Sleep(20 * time.Millisecond)
	for range 4 {
		for _, p := range cam.next(t) {
			s.writeVideo(p, time.Now())
		}
	}
	if kf := <-got; kf.Seq == 0 {
		t.Fatal("no keyframe")
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := s.keyframeAt(short, true); err == nil {
		t.Fatal("fresh keyframe without a keyframe arriving")
	}
}

func TestStreamTimestampsAcrossReconnect(t *testing.T) {
	s := newTestStream(t)
	sub := newSubscriber(256, false, &s.viewerDrops)
	s.subscribe(sub)
	cam := newFakeCam(t, 5)
	now := time.Now()
	for range 5 {
		for _, p := range cam.next(t) {
			s.writeVideo(p, now)
		}
		now = now.Add(40 * time.Millisecond)
	}
	// the camera reconnects 2 s later with new random timestamps
	now = now.Add(2 * time.Second)
	if _, err := s.begin(sessionInfo{codec: CodecH264, h264PktMode: 1, sps: testSPS264, pps: testPPS264}, now); err != nil {
		t.Fatal(err)
	}
	cam2 := newFakeCam(t, 5)
	cam2.ts = 4000000000
	for range 5 {
		for _, p := range cam2.next(t) {
			s.writeVideo(p, now)
		}
		now = now.Add(40 * time.Millisecond)
	}
	pkts := drain(sub)
	for i := 1; i < len(pkts); i++ {
		d := int32(pkts[i].ts - pkts[i-1].ts)
		if d < 0 || d > 3*90000 {
			t.Fatalf("packet %d: timestamp step %d", i, d)
		}
	}
}

func TestSubscriberDropsToKeyframe(t *testing.T) {
	var shared countingDrops
	sub := newSubscriber(4, true, &shared.n)
	key := &packet{video: true, keyframe: true}
	p := &packet{video: true}
	audio := &packet{}
	for _, x := range []*packet{key, p, p, p} {
		sub.push(x)
	}
	sub.push(p)     // full: dropped, now skipping to the next keyframe
	sub.push(audio) // still full: dropped
	drain(sub)
	sub.push(p)     // skipped (counted)
	sub.push(audio) // audio is not held back by the video skip
	sub.push(key)
	sub.push(p)
	got := drain(sub)
	if len(got) != 3 || got[0] != audio || got[1] != key || got[2] != p {
		t.Fatalf("got %d packets after the drop", len(got))
	}
	if d := sub.drops.Load(); d != 3 || shared.n.Load() != 3 {
		t.Fatalf("drops %d (shared %d), want 3", d, shared.n.Load())
	}
}

// TestSlowViewerDoesNotBlock: a viewer whose writes block forever never
// slows the camera or another viewer.
func TestSlowViewerDoesNotBlock(t *testing.T) {
	s := newTestStream(t)
	block := make(chan struct{})
	stuck := &blockingWriter{block: block}
	fast := &marshalWriter{}
	vStuck, stopStuck := startTestViewer(t, s, stuck)
	vFast, stopFast := startTestViewer(t, s, fast)
	ref := newSubscriber(1<<16, true, &s.viewerDrops) // counts what the stream emits
	s.subscribe(ref)
	cam := newFakeCam(t, 25)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			for _, p := range cam.next(t) {
				s.writeVideo(p, time.Now())
			}
			for vFast.sub.q.len() > 256 { // pace the test camera to the fast viewer, not the stuck one
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the camera side blocked")
	}
	for vFast.sub.q.len() > 0 {
		time.Sleep(time.Millisecond)
	}
	stopFast()
	if vStuck.sub.drops.Load() == 0 {
		t.Fatal("the stuck viewer dropped nothing")
	}
	if d := vFast.sub.drops.Load(); d != 0 {
		t.Fatalf("the fast viewer dropped %d", d)
	}
	if sent := ref.q.len(); fast.count != sent {
		t.Fatalf("fast viewer wrote %d of %d packets", fast.count, sent)
	}
	close(block)
	stopStuck()
}

type countingDrops struct{ n atomic.Uint64 }

// marshalWriter stands in for pion's SRTP writer: it marshals the packet into
// a reused buffer, as the real one does before encrypting.
type marshalWriter struct {
	buf   [1500]byte
	count int
	bytes int
}

func (w *marshalWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf[:])
	if err != nil {
		return 0, err
	}
	n += copy(w.buf[n:], payload)
	w.count++
	w.bytes += n
	return n, nil
}

func (w *marshalWriter) Write(b []byte) (int, error) { return len(b), nil }

type blockingWriter struct {
	block chan struct{}
	mu    sync.Mutex
	n     int
}

func (w *blockingWriter) WriteRTP(*rtp.Header, []byte) (int, error) {
	<-w.block
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
	return 1, nil
}

func (w *blockingWriter) Write(b []byte) (int, error) { return len(b), nil }

// startTestViewer runs a viewer's forwarding loop against a fake writer,
// without WebRTC.
func startTestViewer(t testing.TB, s *stream, w webrtc.TrackLocalWriter) (*viewer, func()) {
	v := newTestViewer(s, w, 512)
	done := make(chan struct{})
	backlog := s.subscribe(v.sub)
	go func() {
		defer close(done)
		defer s.unsubscribe(v.sub)
		v.sendBacklog(backlog)
		v.pump()
	}()
	return v, func() {
		v.cancel(nil)
		<-done
	}
}

func newTestViewer(s *stream, w webrtc.TrackLocalWriter, queue int) *viewer {
	ctx, cancel := context.WithCancelCause(context.Background())
	v := &viewer{
		log: slog.New(slog.DiscardHandler), stream: s, ctx: ctx, cancel: cancel,
		sub:   newSubscriber(queue, true, &s.viewerDrops),
		video: newSendTrack(webrtc.RTPCodecTypeVideo, webrtc.MimeTypeH264, "t"),
		audio: newSendTrack(webrtc.RTPCodecTypeAudio, webrtc.MimeTypePCMU, "t"),
		pli:   make(chan struct{}, 1), audioClock: 8000,
	}
	v.video.b.Store(&binding{w: w, ssrc: 1111, pt: 102})
	v.audio.b.Store(&binding{w: w, ssrc: 2222, pt: 0})
	return v
}

// TestForwardAllocs: from the stream to a viewer's queue, through the viewer's
// header rewrite to the RTP marshal, forwarding a packet allocates nothing.
// (Pion's SRTP and interceptors behind TrackLocalWriter are not measured.)
func TestForwardAllocs(t *testing.T) {
	s := newTestStream(t)
	w := &marshalWriter{}
	var vs []*viewer
	for range 10 {
		v := newTestViewer(s, w, 512)
		s.subscribe(v.sub)
		vs = append(vs, v)
	}
	pkts := make([]*packet, 256)
	for i := range pkts {
		pkts[i] = &packet{payload: make([]byte, 1100), ts: uint32(i * 3600), marker: true, video: i%4 != 3, keyframe: i%50 == 0}
	}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		p := pkts[i%len(pkts)]
		i++
		s.fanout(p) // stream → 10 queues
		for _, v := range vs {
			for q := v.sub.q.pop(); q != nil; q = v.sub.q.pop() {
				v.send(q) // rewrite the header, marshal
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%.2f allocations per forwarded packet (10 viewers), want 0", allocs)
	}
	if w.count == 0 {
		t.Fatal("nothing written")
	}
	// the header each viewer writes is its own
	if h := vs[0].video.hdr; h.SSRC != 1111 || h.PayloadType != 102 {
		t.Fatalf("header %+v", h)
	}
}

// ingestAllocs reports (not asserts) the allocations per camera packet on the
// ingest side: depacketize, re-packetize, GOP cache; once per packet, not per
// viewer.
func TestIngestAllocsReport(t *testing.T) {
	s := newTestStream(t)
	cam := newFakeCam(t, 50)
	var pkts []*rtp.Packet
	for range 100 {
		pkts = append(pkts, cam.next(t)...)
	}
	i := 0
	allocs := testing.AllocsPerRun(len(pkts), func() {
		s.writeVideo(pkts[i%len(pkts)], time.Now())
		i++
	})
	t.Logf("ingest: %.1f allocations per camera packet", allocs)
}
