package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder/mux"
	"github.com/attendant/attendant/recorder/spool"
)

const (
	// maxFrameGap is the PTS jump that counts as a break in the video (a
	// reconnect): the segment ends and the next starts at a keyframe.
	maxFrameGap = 2 * time.Second
	// clockWindow is how often the wall-clock mapping forgets its minimum,
	// so that drift between the camera's clock and ours is followed.
	clockWindow = 30 * time.Second
	// maxClipBytes splits a long event clip into parts at a keyframe, so a
	// clip's frames held in memory stay bounded.
	maxClipBytes = 256 << 20
	tickEvery    = 250 * time.Millisecond
	// maxClockStep is how far a segment's start may be from the clock
	// mapping before it re-anchors instead of following its predecessor.
	maxClockStep = 250 * time.Millisecond
)

// frame is a frame in the pre-roll ring or a clip.
type frame struct {
	mux.Frame
	size int
}

// camWorker records one camera. Everything but the fields marked otherwise
// is owned by its goroutine (run).
type camWorker struct {
	r  *Recorder
	id string

	frames    chan media.AccessUnit // from Feed
	overrun   atomic.Bool           // Feed dropped a frame
	recording atomic.Bool           // mode is not off
	ringStart atomic.Int64          // wall time (unix ns) of the ring's first frame; 0 when empty
	started   bool                  // under r.mu

	ctlMu   sync.Mutex
	ctl     []func(*camWorker)
	ctlWake chan struct{}

	site, mode string
	params     mux.Params
	haveParams bool
	waitKey    bool // drop frames until a keyframe
	lastPTS    time.Duration
	havePTS    bool
	clock      wallClock
	ring       []frame
	ringBytes  int
	seg        *segment
	// segEndPTS and segEndWall are where the last segment ended, so that a
	// segment that follows it without a break starts exactly there.
	segEndPTS  time.Duration
	segEndWall time.Time
	clips      []*clip
}

func newCamWorker(r *Recorder, c CameraConfig) *camWorker {
	w := &camWorker{r: r, id: c.ID, frames: make(chan media.AccessUnit, r.cfg.QueueFrames), ctlWake: make(chan struct{}, 1),
		waitKey: true}
	w.site, w.mode = c.SiteID, c.Mode
	w.recording.Store(c.Mode != ModeOff)
	return w
}

// control runs fn on the worker's goroutine; it never blocks.
func (w *camWorker) control(fn func(*camWorker)) {
	w.ctlMu.Lock()
	w.ctl = append(w.ctl, fn)
	w.ctlMu.Unlock()
	select {
	case w.ctlWake <- struct{}{}:
	default:
	}
}

func (w *camWorker) run(ctx context.Context) {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.drainControl()
			w.stopRecording("shutdown")
			return
		case au := <-w.frames:
			w.frame(au)
		case <-w.ctlWake:
			w.drainControl()
		case now := <-tick.C:
			w.tick(now)
		}
	}
}

func (w *camWorker) drainControl() {
	w.ctlMu.Lock()
	fns := w.ctl
	w.ctl = nil
	w.ctlMu.Unlock()
	for _, fn := range fns {
		fn(w)
	}
}

func (w *camWorker) setConfig(c CameraConfig) {
	w.site = c.SiteID
	if c.Mode == w.mode {
		return
	}
	old := w.mode
	w.mode = c.Mode
	w.recording.Store(c.Mode != ModeOff)
	w.r.log.Info("camera recording mode", "camera", w.id, "from", old, "to", c.Mode)
	switch c.Mode {
	case ModeOff:
		w.stopRecording("recording turned off")
	case ModeEvents:
		w.closeSegment("recording mode changed")
	}
}

// stopRecording stores what is open and forgets the pre-roll.
func (w *camWorker) stopRecording(why string) {
	w.closeSegment(why)
	for _, c := range w.clips {
		w.finishClip(c, why)
	}
	w.clips = nil
	w.resetRing()
	w.waitKey = true
}

func (w *camWorker) resetRing() {
	clear(w.ring)
	w.ring, w.ringBytes = w.ring[:0], 0
	w.ringStart.Store(0)
}

// brk handles a break in the video (frames dropped, a reconnect, new
// parameter sets): the segment ends and the ring restarts, and clips in
// progress are stored up to the break; they go on from the next keyframe
// as a new part.
func (w *camWorker) brk(why string) {
	w.closeSegment(why)
	for _, c := range w.clips {
		if len(c.frames) > 0 {
			w.splitClip(c, why)
		}
	}
	w.resetRing()
	w.clock = wallClock{}
	w.waitKey = true
	w.havePTS = false
	w.segEndWall = time.Time{}
}

func (w *camWorker) frame(au media.AccessUnit) {
	if w.mode == ModeOff {
		return
	}
	if w.overrun.Swap(false) {
		w.brk("frames dropped: the recorder fell behind")
	}
	if w.havePTS && (au.PTS-w.lastPTS > maxFrameGap || au.PTS < w.lastPTS) {
		w.brk(fmt.Sprintf("video gap of %v", (au.PTS - w.lastPTS).Round(time.Millisecond)))
	}
	if au.Key {
		p, ok := mux.ParamsFrom(au.Codec, au.NALUs)
		if !ok {
			w.r.log.Debug("keyframe without parameter sets", "camera", w.id)
			return
		}
		if w.haveParams && !sameParams(p, w.params) {
			w.brk("codec parameters changed")
		}
		w.params, w.haveParams = p, true
		w.waitKey = false
	}
	if w.waitKey || !w.haveParams {
		return
	}
	w.lastPTS, w.havePTS = au.PTS, true
	w.clock.observe(au.PTS, au.Wall)
	f := frame{Frame: mux.Frame{PTS: au.PTS, Key: au.Key, NALUs: au.NALUs}}
	for _, n := range au.NALUs {
		f.size += len(n)
	}
	w.pushRing(f)
	if w.mode == ModeContinuous {
		w.segmentFrame(f)
	}
	w.clipsFrame(f)
}

func (w *camWorker) tick(now time.Time) {
	// clips whose camera stopped sending: store what there is
	kept := w.clips[:0]
	for _, c := range w.clips {
		if now.After(c.req.To.Add(w.r.cfg.ClipGrace)) {
			w.finishClip(c, "the camera sent no video up to the clip's end")
			continue
		}
		kept = append(kept, c)
	}
	clear(w.clips[len(kept):])
	w.clips = kept
}

// pushRing adds f to the pre-roll ring and drops whole GOPs older than the
// pre-roll (or over the memory bound), so the ring always starts with a
// keyframe at or before now - PreRoll.
func (w *camWorker) pushRing(f frame) {
	w.ring = append(w.ring, f)
	w.ringBytes += f.size
	cutoff := w.clock.wall(f.PTS).Add(-w.r.cfg.PreRoll - w.r.cfg.LateEvents)
	for {
		k := 1 // the second GOP's keyframe
		for k < len(w.ring) && !w.ring[k].Key {
			k++
		}
		if k >= len(w.ring) || (w.clock.wall(w.ring[k].PTS).After(cutoff) && w.ringBytes <= w.r.cfg.RingBytes) {
			break
		}
		for _, g := range w.ring[:k] {
			w.ringBytes -= g.size
		}
		clear(w.ring[:k])
		w.ring = w.ring[k:]
	}
	if cap(w.ring) > 4*len(w.ring)+1024 {
		w.ring = append(make([]frame, 0, 2*len(w.ring)), w.ring...)
	}
	w.ringStart.Store(w.clock.wall(w.ring[0].PTS).UnixNano())
}

// wallClock maps a camera's PTS to wall-clock time: the offset is the
// smallest seen (arrival - PTS), which is the least delayed frame, and it
// is re-learned every clockWindow to follow clock drift.
type wallClock struct {
	ok       bool
	base     int64 // wall unix nanoseconds - PTS nanoseconds
	winMin   int64
	winStart time.Time
}

func (c *wallClock) observe(pts time.Duration, wall time.Time) {
	d := wall.UnixNano() - int64(pts)
	if !c.ok {
		c.ok, c.base, c.winMin, c.winStart = true, d, d, wall
		return
	}
	c.base, c.winMin = min(c.base, d), min(c.winMin, d)
	if wall.Sub(c.winStart) >= clockWindow {
		c.base, c.winMin, c.winStart = c.winMin, math.MaxInt64, wall
	}
}

func (c *wallClock) wall(pts time.Duration) time.Time {
	return time.Unix(0, c.base+int64(pts)).UTC()
}

// segment is an open continuous-recording segment.
type segment struct {
	key       string
	sw        *spool.Writer
	mw        *mux.SegmentWriter
	startPTS  time.Duration
	start     time.Time
	lastFlush time.Duration
	lastPTS   time.Duration
	prevPTS   time.Duration
}

// SegmentKey is where a continuous segment lives: per site, camera and day.
func SegmentKey(siteID, cameraID string, start time.Time) string {
	start = start.UTC()
	return fmt.Sprintf("recordings/%s/%s/%04d/%02d/%02d/%s.mp4", siteID, cameraID, start.Year(), start.Month(), start.Day(),
		start.Format("20060102T150405.000Z"))
}

func (w *camWorker) segmentFrame(f frame) {
	if w.seg != nil && f.Key && f.PTS-w.seg.startPTS >= w.r.cfg.Segment {
		w.commitSegment(f.PTS)
	}
	if w.seg == nil {
		if !f.Key {
			return
		}
		w.openSegment(f)
		if w.seg == nil {
			return
		}
	}
	s := w.seg
	if err := s.mw.WriteFrame(f.Frame); err != nil {
		if frameRejected(err) {
			// the writer is unchanged: lose the frame, not the segment
			w.r.log.Debug("frame not recorded", "camera", w.id, "err", err)
			return
		}
		w.failSegment(err)
		return
	}
	s.prevPTS, s.lastPTS = s.lastPTS, f.PTS
	if f.Key || f.PTS-s.lastFlush >= defaultFragmentEvery {
		if err := s.mw.Flush(); err != nil {
			w.failSegment(err)
			return
		}
		s.lastFlush = f.PTS
	}
}

func (w *camWorker) openSegment(f frame) {
	// A segment that follows the last without a break starts where it
	// ended, unless the clock mapping has moved away from that by more
	// than maxClockStep (camera clock drift): then it re-anchors.
	start := w.clock.wall(f.PTS)
	if !w.segEndWall.IsZero() && f.PTS == w.segEndPTS && start.Sub(w.segEndWall).Abs() < maxClockStep {
		start = w.segEndWall
	}
	key := SegmentKey(w.site, w.id, start)
	sw, err := w.r.spool.Create(key, objstore.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{
		metaKind: kindSegment, metaCamera: w.id, metaSite: w.site, metaStart: formatTime(start),
	}})
	if err != nil {
		w.r.lost.Add(1)
		w.r.log.Error("cannot start a recording segment: video is being lost", "camera", w.id, "key", key, "err", err)
		return
	}
	mw, err := mux.NewSegmentWriter(sw, w.params)
	if err != nil {
		_ = sw.Abort()
		w.r.lost.Add(1)
		w.r.log.Error("cannot start a recording segment", "camera", w.id, "err", err)
		return
	}
	w.seg = &segment{key: key, sw: sw, mw: mw, startPTS: f.PTS, start: start, lastFlush: f.PTS}
}

func (w *camWorker) failSegment(err error) {
	s := w.seg
	w.seg = nil
	_ = s.sw.Abort()
	w.r.lost.Add(1)
	level := "cannot write a recording segment: this segment is lost"
	if errors.Is(err, spool.ErrSpoolFull) {
		level = "spool full: recording segment lost until uploads catch up"
	}
	w.r.log.Error(level, "camera", w.id, "key", s.key, "err", err)
}

// closeSegment stores the open segment up to its last frame.
func (w *camWorker) closeSegment(why string) {
	if w.seg == nil {
		return
	}
	step := 40 * time.Millisecond
	if d := w.seg.lastPTS - w.seg.prevPTS; w.seg.prevPTS != 0 && d > 0 && d < time.Second {
		step = d
	}
	end := w.seg.lastPTS + step
	w.r.log.Debug("segment ends early", "camera", w.id, "why", why)
	w.commitSegment(end)
}

func (w *camWorker) commitSegment(end time.Duration) {
	s := w.seg
	w.seg = nil
	if err := s.mw.Close(end); err != nil {
		w.seg = s
		w.failSegment(err)
		return
	}
	endWall := s.start.Add(end - s.startPTS)
	w.segEndPTS, w.segEndWall = end, endWall
	if err := s.sw.SetMetadata(metaEnd, formatTime(endWall)); err != nil {
		w.seg = s
		w.failSegment(err)
		return
	}
	if _, err := s.sw.Commit(); err != nil {
		w.r.lost.Add(1)
		w.r.log.Error("cannot spool a recording segment: it is lost", "camera", w.id, "key", s.key, "err", err)
		return
	}
	w.r.segments.Add(1)
}

// clip is an event clip being collected.
type clip struct {
	req    ClipRequest
	part   int
	frames []frame
	bytes  int
	params mux.Params
}

func (w *camWorker) addClip(req ClipRequest) {
	c := &clip{req: req}
	w.clips = append(w.clips, c)
	if len(w.ring) == 0 {
		return
	}
	if last := w.ring[len(w.ring)-1]; !w.clock.wall(last.PTS).Before(req.From) {
		w.seedClip(c)
		if !w.clock.wall(last.PTS).Before(req.To) {
			w.finishClip(c, "")
			w.clips = w.clips[:len(w.clips)-1]
		}
	}
}

// seedClip starts a clip from the ring: at the last keyframe at or before
// its start (the edit list trims the rest), or the ring's first frame when
// the ring does not reach back that far.
func (w *camWorker) seedClip(c *clip) {
	start := 0
	for i, f := range w.ring {
		if f.Key && !w.clock.wall(f.PTS).After(c.req.From) {
			start = i
		}
	}
	c.params = w.params
	for _, f := range w.ring[start:] {
		if !w.clock.wall(f.PTS).Before(c.req.To) {
			break
		}
		c.frames = append(c.frames, f)
		c.bytes += f.size
	}
}

func (w *camWorker) clipsFrame(f frame) {
	at := w.clock.wall(f.PTS)
	kept := w.clips[:0]
	for _, c := range w.clips {
		switch {
		case len(c.frames) == 0 && at.Before(c.req.From):
			// not begun
		case len(c.frames) == 0:
			if f.Key || len(w.ring) > 0 {
				w.seedClip(c)
			}
		case !at.Before(c.req.To):
			w.finishClip(c, "")
			continue
		default:
			if f.Key && c.bytes+f.size > maxClipBytes {
				w.splitClip(c, "clip part reached its size bound")
			}
			c.frames = append(c.frames, f)
			c.bytes += f.size
		}
		kept = append(kept, c)
	}
	clear(w.clips[len(kept):])
	w.clips = kept
}

// splitClip stores what a clip has as one part and goes on with the next
// keyframe as the start of the next part.
func (w *camWorker) splitClip(c *clip, why string) {
	last := c.frames[len(c.frames)-1]
	next := w.clock.wall(last.PTS + frameDuration(c.frames))
	w.finishClip(c, why)
	c.req.From = next
	c.part++
	c.frames, c.bytes = nil, 0
}

func frameDuration(fs []frame) time.Duration {
	if n := len(fs); n >= 2 && fs[n-1].PTS > fs[n-2].PTS {
		return fs[n-1].PTS - fs[n-2].PTS
	}
	return 40 * time.Millisecond
}

// finishClip writes the clip's frames as one MP4 into the spool.
func (w *camWorker) finishClip(c *clip, why string) {
	if len(c.frames) == 0 {
		w.r.lost.Add(1)
		w.r.log.Warn("no video for an event clip", "camera", w.id, "case", c.req.CaseID,
			"from", c.req.From, "to", c.req.To, "why", why)
		return
	}
	first, last := c.frames[0], c.frames[len(c.frames)-1]
	fromPTS := first.PTS + max(0, c.req.From.Sub(w.clock.wall(first.PTS)))
	fromPTS = min(fromPTS, last.PTS)
	endPTS := last.PTS + frameDuration(c.frames)
	if toPTS := first.PTS + c.req.To.Sub(w.clock.wall(first.PTS)); toPTS < endPTS && toPTS > fromPTS {
		endPTS = toPTS
	}
	start, end := w.clock.wall(fromPTS), w.clock.wall(endPTS)
	var buf bytes.Buffer
	buf.Grow(c.bytes + 64<<10)
	frames := make([]mux.Frame, len(c.frames))
	for i, f := range c.frames {
		frames[i] = f.Frame
	}
	if _, err := mux.WriteClip(&buf, c.params, frames, fromPTS, endPTS); err != nil {
		w.r.lost.Add(1)
		w.r.log.Error("cannot write an event clip", "camera", w.id, "case", c.req.CaseID, "err", err)
		return
	}
	name := "clip-" + shortID(w.id)
	if c.part > 0 {
		name += fmt.Sprintf("-part%d", c.part+1)
	}
	key := EvidenceKey(c.req.SiteID, c.req.CaseID, name, start, "mp4")
	_, err := w.r.spool.Put(key, &buf, objstore.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{
		metaKind: kindEvidence, metaEvidenceKind: "clip", metaCase: c.req.CaseID, metaCamera: w.id, metaSite: c.req.SiteID,
		metaStart: formatTime(start), metaEnd: formatTime(end),
	}})
	if err != nil {
		w.r.lost.Add(1)
		w.r.log.Error("cannot spool an event clip: it is lost", "camera", w.id, "case", c.req.CaseID, "key", key, "err", err)
		return
	}
	w.r.clips.Add(1)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func sameParams(a, b mux.Params) bool {
	return a.Codec == b.Codec && bytes.Equal(a.VPS, b.VPS) && bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS)
}

// frameRejected tells a frame the segment writer refused, leaving the
// segment as it was, from a segment that broke.
func frameRejected(err error) bool {
	for _, e := range []error{mux.ErrPTSBackwards, mux.ErrEmptyFrame, mux.ErrNeedKeyframe, mux.ErrParamsChanged} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
