// Package recorder records what attendant must keep: continuous camera
// segments, event clips with pre-roll, and (through the same index) any
// evidence object, into the object store by way of the local spool, with an
// index the review pages search and a hash chain per case that Verify
// checks.
//
// Frames arrive from media (Feed) on the ingest path and are queued per
// camera; each camera has one goroutine that owns its pre-roll ring, its
// open segment and its pending event clips. Finished objects go to the
// spool, and the spool's OnUploaded (Index) writes the index rows once the
// store has them, so a row always points at a stored object.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"
)

// Recording modes of a camera (store.Camera.Record).
const (
	ModeOff        = "off"
	ModeEvents     = "events"
	ModeContinuous = "continuous"
)

// Defaults for the zero fields of Config.
const (
	DefaultPreRoll       = 10 * time.Second
	DefaultPostRoll      = 10 * time.Second
	DefaultLateEvents    = 5 * time.Second
	DefaultSegment       = 4 * time.Second
	DefaultMaxClip       = 10 * time.Minute
	DefaultQueueFrames   = 1024
	DefaultRingBytes     = 64 << 20
	DefaultClipGrace     = 10 * time.Second
	defaultFragmentEvery = time.Second
)

// Config configures a Recorder.
type Config struct {
	// PreRoll is how much video before an event each clip has, kept in
	// memory per recording camera, aligned to keyframes.
	PreRoll time.Duration
	// PostRoll is how much after the event's end a clip has.
	PostRoll time.Duration
	// LateEvents is how late an event may be reported and still get its
	// whole pre-roll: the ring holds PreRoll + LateEvents.
	LateEvents time.Duration
	// Segment is the length of a continuous recording's segments; each is
	// cut at the first keyframe past it.
	Segment time.Duration
	// MaxClip bounds an event clip's span.
	MaxClip time.Duration
	// ClipGrace is how long past a clip's end the recorder waits for frames
	// from a camera that stalled before it stores what it has.
	ClipGrace time.Duration
	// QueueFrames bounds the frames queued per camera between the ingest
	// and the recorder; RingBytes bounds a camera's pre-roll memory.
	QueueFrames int
	RingBytes   int
	Log         *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.PreRoll, DefaultPreRoll)
	def(&c.PostRoll, DefaultPostRoll)
	def(&c.LateEvents, DefaultLateEvents)
	def(&c.Segment, DefaultSegment)
	def(&c.MaxClip, DefaultMaxClip)
	def(&c.ClipGrace, DefaultClipGrace)
	if c.QueueFrames <= 0 {
		c.QueueFrames = DefaultQueueFrames
	}
	if c.RingBytes <= 0 {
		c.RingBytes = DefaultRingBytes
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats are the recorder's counters, for /metrics.
type Stats struct {
	// Cameras is the number of cameras recording (events or continuous).
	Cameras int
	// Segments and Clips count the objects handed to the spool.
	Segments, Clips int64
	// DroppedFrames counts frames lost because a camera's queue was full
	// (the recorder fell behind); LostSegments counts segments and clips
	// that could not be spooled (spool full or failing).
	DroppedFrames, LostSegments int64
}

// Recorder records cameras into the spool. Create it with New, give it
// cameras with SetCamera and frames with Feed, and Run it.
type Recorder struct {
	cfg   Config
	db    *store.DB
	spool *spool.Spool
	log   *slog.Logger

	segments, clips, dropped, lost atomic.Int64

	calls callFlusher // writes the recorded calls' audio

	mu      sync.Mutex
	cams    map[string]*camWorker
	runCtx  context.Context // nil until Run
	wg      sync.WaitGroup
	stopped bool
}

// New returns a Recorder writing to sp and indexing into db.
func New(cfg Config, db *store.DB, sp *spool.Spool) *Recorder {
	cfg = cfg.withDefaults()
	return &Recorder{cfg: cfg, db: db, spool: sp, log: cfg.Log, cams: map[string]*camWorker{}}
}

// Run runs the camera workers until ctx ends.
func (r *Recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runCtx != nil {
		r.mu.Unlock()
		return errors.New("recorder: already running")
	}
	r.runCtx = ctx
	for _, w := range r.cams {
		r.startLocked(w)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

func (r *Recorder) startLocked(w *camWorker) {
	if r.runCtx == nil || r.stopped || w.started {
		return
	}
	w.started = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		w.run(r.runCtx)
	}()
}

// CameraConfig is what the recorder needs to know of a camera.
type CameraConfig struct {
	ID, SiteID string
	// Mode is ModeOff, ModeEvents or ModeContinuous; a disabled camera is
	// ModeOff.
	Mode string
}

// SetCamera adds a camera or changes its mode. A camera that goes to
// ModeOff finishes its open segment and clips and stops recording.
func (r *Recorder) SetCamera(c CameraConfig) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.cams[c.ID]
	if !ok {
		if c.Mode == ModeOff {
			return
		}
		w = newCamWorker(r, c)
		r.cams[c.ID] = w
		r.startLocked(w)
		return
	}
	w.control(func(w *camWorker) { w.setConfig(c) })
}

// RemoveCamera stops recording a camera; its open segment and clips are
// finished with what they have.
func (r *Recorder) RemoveCamera(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.cams[id]; ok {
		w.control(func(w *camWorker) { w.setConfig(CameraConfig{ID: w.id, SiteID: w.site, Mode: ModeOff}) })
	}
}

// Feed queues one frame of a camera. It never blocks: when the camera's
// queue is full the frame is dropped and counted, and the recording cuts
// at the next keyframe. Call it from media's OnAccessUnit.
func (r *Recorder) Feed(cameraID string, au media.AccessUnit) {
	r.mu.Lock()
	w := r.cams[cameraID]
	r.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.frames <- au:
	default:
		r.dropped.Add(1)
		w.overrun.Store(true)
	}
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	n := 0
	for _, w := range r.cams {
		if w.recording.Load() {
			n++
		}
	}
	r.mu.Unlock()
	return Stats{Cameras: n, Segments: r.segments.Load(), Clips: r.clips.Load(),
		DroppedFrames: r.dropped.Load(), LostSegments: r.lost.Load()}
}

// ClipRequest asks for one clip of a camera for an event case.
type ClipRequest struct {
	CaseID   string
	SiteID   string
	CameraID string
	// From and To are the wall-clock span of the clip.
	From, To time.Time
}

// ErrNotRecording means the camera records nothing (off, disabled or
// unknown), so no clip can be cut from it.
var ErrNotRecording = errors.New("camera is not recording")

// ErrBeforeRing means the span ended before the oldest video the camera's
// pre-roll ring holds: only a continuous recording can still have it.
var ErrBeforeRing = errors.New("span is older than the video kept in memory")

// RequestClip schedules a clip. It returns at once; the clip is cut when
// To has passed (or the camera stalls for ClipGrace) and becomes evidence
// of the case once the store has it.
func (r *Recorder) RequestClip(req ClipRequest) error {
	if !req.To.After(req.From) {
		return fmt.Errorf("clip of camera %s: end %v is not after start %v", req.CameraID, req.To, req.From)
	}
	if req.To.Sub(req.From) > r.cfg.MaxClip {
		req.To = req.From.Add(r.cfg.MaxClip)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.cams[req.CameraID]
	if !ok || !w.recording.Load() {
		return fmt.Errorf("clip of camera %s: %w", req.CameraID, ErrNotRecording)
	}
	if oldest := w.ringStart.Load(); oldest != 0 && req.To.UnixNano() < oldest {
		return fmt.Errorf("clip of camera %s: %w", req.CameraID, ErrBeforeRing)
	}
	w.control(func(w *camWorker) { w.addClip(req) })
	return nil
}

// Config returns the configuration in effect (defaults filled in).
func (r *Recorder) Config() Config { return r.cfg }
