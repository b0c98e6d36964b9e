// Package snapshot turns a camera's keyframe into a JPEG with ffmpeg.
//
// Starting ffmpeg costs far more than decoding one frame (≈125 of ≈150 ms),
// so the common case is made fast by not starting it: every decoded
// keyframe is remembered per camera, concurrent requests for the same
// keyframe share one ffmpeg run, and Warm decodes new keyframes of cameras
// that somebody is looking at before they are asked for.
package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// Codec names accepted in Keyframe.Codec.
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
)

// Defaults for the zero values of Config.
const (
	DefaultFFmpegPath    = "ffmpeg"
	DefaultQuality       = 5
	DefaultMaxConcurrent = 2
	DefaultCacheSize     = 4
	DefaultWarmWindow    = 30 * time.Second
	DefaultDecodeTimeout = 10 * time.Second
)

// Keyframe is an access unit that decodes on its own: parameter sets + IDR
// (H264) or VPS/SPS/PPS + IRAP (H265), in Annex-B format.
type Keyframe struct {
	// Codec is CodecH264 or CodecH265.
	Codec string
	// AnnexB is the access unit with start codes. The Snapshotter copies it
	// when it starts a decode, so the caller may reuse it after the call.
	AnnexB []byte
	// Width and Height, when non-zero, are checked against the JPEG.
	Width, Height int
	// Seq identifies the keyframe among the keyframes of its camera: the
	// same (camera, Seq) must always mean the same picture.
	Seq uint64
}

// Config configures a Snapshotter. The zero value is usable.
type Config struct {
	// FFmpegPath is the ffmpeg binary, a path or a name looked up in PATH.
	// Default "ffmpeg".
	FFmpegPath string
	// Quality is ffmpeg's mjpeg -q:v, 2 (best) to 31. Default 5.
	Quality int
	// MaxConcurrent bounds the ffmpeg processes running at once. Default 2.
	MaxConcurrent int
	// CacheSize is how many decoded keyframes are remembered per camera.
	// Default 4.
	CacheSize int
	// WarmWindow is how long after a camera's last snapshot request Warm
	// still decodes its new keyframes. Default 30 s.
	WarmWindow time.Duration
	// DecodeTimeout bounds one ffmpeg run whatever the callers' contexts
	// say (Warm has no caller to wait for). Default 10 s.
	DecodeTimeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.FFmpegPath == "" {
		c.FFmpegPath = DefaultFFmpegPath
	}
	if c.Quality == 0 {
		c.Quality = DefaultQuality
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.WarmWindow == 0 {
		c.WarmWindow = DefaultWarmWindow
	}
	if c.DecodeTimeout == 0 {
		c.DecodeTimeout = DefaultDecodeTimeout
	}
	switch {
	case c.Quality < 2 || c.Quality > 31:
		return c, fmt.Errorf("quality %d: must be 2..31", c.Quality)
	case c.MaxConcurrent < 0, c.CacheSize < 0, c.WarmWindow < 0, c.DecodeTimeout < 0:
		return c, errors.New("MaxConcurrent, CacheSize, WarmWindow and DecodeTimeout must not be negative")
	}
	return c, nil
}

// Stats counts what a Snapshotter did since New.
type Stats struct {
	// Decodes is the number of ffmpeg runs started.
	Decodes uint64
	// Failures is the number of ffmpeg runs that gave no JPEG, cancelled
	// ones included.
	Failures uint64
	// CacheHits is the number of JPEG calls answered from the cache.
	CacheHits uint64
	// Shared is the number of JPEG calls that joined a decode already
	// running for the same keyframe.
	Shared uint64
	// WarmStarted and WarmDropped count Warm calls that started a decode
	// and those skipped because every ffmpeg slot was busy.
	WarmStarted, WarmDropped uint64
}

type counters struct {
	decodes, failures, hits, shared, warmStarted, warmDropped atomic.Uint64
}

// Snapshotter makes JPEG snapshots of keyframes. It is safe for concurrent
// use. Close it to stop decodes still running.
type Snapshotter struct {
	cfg    Config
	ffmpeg string // resolved path
	log    *slog.Logger
	// sem holds one token per running ffmpeg process.
	sem chan struct{}

	// ctx parents every decode, so that Close stops them all.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	cams   map[string]*camera

	n counters
}

// camera is the per-camera state, guarded by Snapshotter.mu. A decode
// stores its result only if its camera is still the one in the map, so
// that Forget wins over decodes that were running at the time.
type camera struct {
	lastRequest time.Time
	cache       []entry // most recently used first, at most CacheSize
	flights     map[uint64]*flight
}

// entry is a remembered outcome: a JPEG, or the error ffmpeg gave for the
// keyframe (it would give it again).
type entry struct {
	seq  uint64
	jpeg []byte
	err  error
}

// flight is one ffmpeg run that any number of requests wait for.
type flight struct {
	done chan struct{} // closed once jpeg and err are set
	jpeg []byte
	err  error
	// waiters counts the JPEG calls waiting; when the last one gives up,
	// the decode is cancelled, unless warm: then nobody waits by design.
	waiters int
	warm    bool
	cancel  context.CancelFunc
	// abandoned is set when the flight was cancelled because nobody waits
	// any more: a new request must not join it, but start afresh.
	abandoned bool
}

// New checks that ffmpeg is there and returns a ready Snapshotter.
func New(cfg Config, log *slog.Logger) (*Snapshotter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("snapshot config: %w", err)
	}
	path, err := exec.LookPath(cfg.FFmpegPath)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w: %q (install ffmpeg, e.g. apt-get install ffmpeg, or set its path): %v",
			ErrFFmpegMissing, cfg.FFmpegPath, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Snapshotter{
		cfg:    cfg,
		ffmpeg: path,
		log:    log,
		sem:    make(chan struct{}, cfg.MaxConcurrent),
		ctx:    ctx,
		cancel: cancel,
		cams:   make(map[string]*camera),
	}, nil
}

// JPEG returns the JPEG of kf for camera cameraID. The same (cameraID, Seq)
// is decoded once and served from the cache afterwards; concurrent requests
// for the same keyframe share one decode. ctx bounds the wait: when every
// request waiting for a decode has given up, its ffmpeg is killed.
//
// The returned slice is shared with the cache and other callers: do not
// modify it.
func (s *Snapshotter) JPEG(ctx context.Context, cameraID string, kf Keyframe) ([]byte, error) {
	if err := kf.validate(); err != nil {
		return nil, fmt.Errorf("snapshot camera %s seq %d: %w", cameraID, kf.Seq, err)
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("snapshot camera %s seq %d: %w", cameraID, kf.Seq, ErrClosed)
	}
	cam := s.cams[cameraID]
	if cam == nil {
		cam = &camera{flights: make(map[uint64]*flight)}
		s.cams[cameraID] = cam
	}
	cam.lastRequest = time.Now()
	if e, ok := cam.lookup(kf.Seq); ok {
		s.mu.Unlock()
		s.n.hits.Add(1)
		return e.jpeg, e.err
	}
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("snapshot camera %s seq %d: %w", cameraID, kf.Seq, context.Cause(ctx))
	}
	f := cam.flights[kf.Seq]
	if f != nil && !f.abandoned {
		s.n.shared.Add(1)
	} else {
		f = s.startLocked(cameraID, cam, kf, false)
	}
	f.waiters++
	s.mu.Unlock()

	select {
	case <-f.done:
		return f.jpeg, f.err
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 && !f.warm {
			f.abandoned = true
			f.cancel()
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("snapshot camera %s seq %d: %w", cameraID, kf.Seq, context.Cause(ctx))
	}
}

// Warm decodes kf in the background if camera cameraID had a snapshot
// request within the warm window, so that the next request for a recent
// keyframe is a cache hit. It never blocks: when every ffmpeg slot is busy
// the keyframe is skipped (counted in Stats.WarmDropped).
func (s *Snapshotter) Warm(cameraID string, kf Keyframe) {
	if kf.validate() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	cam := s.cams[cameraID]
	if cam == nil || time.Since(cam.lastRequest) > s.cfg.WarmWindow {
		return
	}
	if _, ok := cam.lookup(kf.Seq); ok {
		return
	}
	if f := cam.flights[kf.Seq]; f != nil && !f.abandoned {
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		// drop, don't wait: the caller is the camera's packet path
		s.n.warmDropped.Add(1)
		s.log.Debug("warm decode skipped, ffmpeg slots busy", "camera", cameraID, "seq", kf.Seq)
		return
	}
	s.n.warmStarted.Add(1)
	s.startLocked(cameraID, cam, kf, true)
}

// Latest answers "the camera's latest picture" for the keyframe kf: the
// JPEG of kf or of the keyframe just before it when that one is decoded
// already (at most one keyframe interval older), so a request does not wait
// on the background decode of a keyframe that has just arrived; otherwise
// it decodes kf.
func (s *Snapshotter) Latest(ctx context.Context, cameraID string, kf Keyframe) ([]byte, error) {
	if kf.Seq > 0 {
		if jpeg, _, ok := s.Recent(cameraID, kf.Seq-1); ok {
			return jpeg, nil
		}
	}
	return s.JPEG(ctx, cameraID, kf)
}

// Recent returns the newest JPEG already decoded for the camera from a
// keyframe with Seq >= minSeq, without waiting for any decode: a "latest
// picture" request may take the previous keyframe's JPEG while the newest
// one is still being decoded in the background.
func (s *Snapshotter) Recent(cameraID string, minSeq uint64) ([]byte, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cam, ok := s.cams[cameraID]
	if !ok {
		return nil, 0, false
	}
	var best entry
	for _, e := range cam.cache {
		if e.err == nil && e.jpeg != nil && e.seq >= minSeq && e.seq > best.seq {
			best = e
		}
	}
	if best.jpeg == nil {
		return nil, 0, false
	}
	cam.lastRequest = time.Now()
	s.n.hits.Add(1)
	return best.jpeg, best.seq, true
}

// Forget drops everything remembered about camera cameraID. Background
// decodes for it are cancelled; requests already waiting still get their
// answer, but it is not cached.
func (s *Snapshotter) Forget(cameraID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cam := s.cams[cameraID]
	if cam == nil {
		return
	}
	delete(s.cams, cameraID)
	for _, f := range cam.flights {
		if f.waiters == 0 {
			f.abandoned = true
			f.cancel()
		}
	}
}

// Close kills running decodes, waits for them to end and makes later JPEG
// calls fail with ErrClosed. It is safe to call more than once.
func (s *Snapshotter) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Stats returns the counters since New.
func (s *Snapshotter) Stats() Stats {
	return Stats{
		Decodes:     s.n.decodes.Load(),
		Failures:    s.n.failures.Load(),
		CacheHits:   s.n.hits.Load(),
		Shared:      s.n.shared.Load(),
		WarmStarted: s.n.warmStarted.Load(),
		WarmDropped: s.n.warmDropped.Load(),
	}
}

// startLocked registers and starts a decode of kf. s.mu must be held.
// A warm decode must already hold an ffmpeg slot; others wait for one.
func (s *Snapshotter) startLocked(cameraID string, cam *camera, kf Keyframe, warm bool) *flight {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DecodeTimeout)
	f := &flight{done: make(chan struct{}), warm: warm, cancel: cancel}
	cam.flights[kf.Seq] = f
	// the decode may outlive the call that started it: keep our own copy
	kf.AnnexB = bytes.Clone(kf.AnnexB)
	s.wg.Add(1)
	go s.decode(ctx, cameraID, cam, kf, f)
	return f
}

// decode runs ffmpeg for one flight and publishes its outcome.
func (s *Snapshotter) decode(ctx context.Context, cameraID string, cam *camera, kf Keyframe, f *flight) {
	defer s.wg.Done()
	defer f.cancel()

	jpg, err := s.runWithSlot(ctx, f.warm, kf)
	if err != nil {
		err = fmt.Errorf("snapshot camera %s seq %d: %w", cameraID, kf.Seq, err)
	}

	s.mu.Lock()
	if cam.flights[kf.Seq] == f { // not replaced after being abandoned
		delete(cam.flights, kf.Seq)
	}
	if s.cams[cameraID] == cam && (err == nil || isKeyframeError(err)) {
		cam.store(entry{seq: kf.Seq, jpeg: jpg, err: err}, s.cfg.CacheSize)
	}
	f.jpeg, f.err = jpg, err
	s.mu.Unlock()
	close(f.done)
}

// runWithSlot takes an ffmpeg slot (a warm decode already has one), runs
// ffmpeg and gives the slot back.
func (s *Snapshotter) runWithSlot(ctx context.Context, haveSlot bool, kf Keyframe) ([]byte, error) {
	if !haveSlot {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			s.n.failures.Add(1)
			return nil, fmt.Errorf("wait for an ffmpeg slot: %w", context.Cause(ctx))
		}
	}
	defer func() { <-s.sem }()

	s.n.decodes.Add(1)
	start := time.Now()
	jpg, err := runFFmpeg(ctx, s.ffmpeg, s.cfg.Quality, kf)
	took := time.Since(start)
	if err != nil {
		s.n.failures.Add(1)
		if ctx.Err() == nil {
			s.log.Warn("snapshot decode failed", "seq", kf.Seq, "codec", kf.Codec, "took", took, "err", err)
		}
		return nil, err
	}
	s.log.Debug("snapshot decoded", "seq", kf.Seq, "codec", kf.Codec, "bytes", len(jpg), "took", took)
	return jpg, nil
}

// isKeyframeError tells whether err is ffmpeg's verdict on the keyframe
// itself, which the same keyframe would get again: such errors are cached
// so that a broken keyframe is not fed to ffmpeg on every request.
func isKeyframeError(err error) bool {
	return errors.Is(err, ErrDecode) || errors.Is(err, ErrInvalidOutput)
}

func (kf Keyframe) validate() error {
	if _, ok := inputFormat(kf.Codec); !ok {
		return fmt.Errorf("%w: unknown codec %q (want %q or %q)", ErrInvalidKeyframe, kf.Codec, CodecH264, CodecH265)
	}
	if len(kf.AnnexB) == 0 {
		return fmt.Errorf("%w: no data", ErrInvalidKeyframe)
	}
	if kf.Width < 0 || kf.Height < 0 {
		return fmt.Errorf("%w: negative size %dx%d", ErrInvalidKeyframe, kf.Width, kf.Height)
	}
	return nil
}

// lookup returns the remembered outcome for seq and marks it recently used.
func (c *camera) lookup(seq uint64) (entry, bool) {
	for i, e := range c.cache {
		if e.seq == seq {
			copy(c.cache[1:i+1], c.cache[:i])
			c.cache[0] = e
			return e, true
		}
	}
	return entry{}, false
}

// store remembers e as the most recently used entry, evicting the least
// recently used one beyond size.
func (c *camera) store(e entry, size int) {
	if size == 0 {
		return
	}
	if len(c.cache) < size {
		c.cache = append(c.cache, entry{})
	}
	copy(c.cache[1:], c.cache[:len(c.cache)-1])
	c.cache[0] = e
}
