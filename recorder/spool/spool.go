// Package spool keeps recordings (camera segments, call audio, snapshots)
// on local disk until the object store has them, so that an outage of the
// store loses nothing and a crash (kill -9) loses at most what was still
// being written.
//
// A recording is written to the spool first (Create, Write, Commit; or Put)
// and uploaded in the background by Run, oldest first, with retry and
// capped backoff for as long as the store is down. Each committed entry is
// a data file and a small JSON sidecar (key, size, SHA-256, content type,
// metadata) in Config.Dir, both synced and renamed into place, so a crash
// leaves either a complete queued entry or a temporary file that New
// deletes. After an upload the SHA-256 the store reports must equal the
// spool's before the local files go.
//
// The spool is bounded by Config.MaxBytes: past 80% it logs a warning (once
// per crossing) and says so in Stats; when full it refuses new data with
// ErrSpoolFull, counting the refusals, and never drops what it accepted.
//
// One Spool owns its directory: two Spools (or processes) must not share
// one.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/attendant/attendant/objstore"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxBytes       = 8 << 30
	DefaultWorkers        = 2
	DefaultRetryMin       = 500 * time.Millisecond
	DefaultRetryMax       = 30 * time.Second
	DefaultStaleUploadAge = time.Hour
	DefaultProbeEvery     = 2 * time.Second
)

// warnPercent is the fill level that logs a warning; rearmPercent is where
// it must fall back to before the next crossing warns again, so a spool
// hovering at the threshold does not flood the log.
const (
	warnPercent  = 80
	rearmPercent = 70
)

// Config configures New.
type Config struct {
	// Dir is the spool directory, created if missing (e.g. DATA/spool).
	Dir string
	// MaxBytes bounds the bytes held: queued entries, open Writers and
	// quarantined files. 0 means DefaultMaxBytes.
	MaxBytes int64
	// Workers is the number of parallel uploads; 0 means DefaultWorkers.
	Workers int
	// RetryMin and RetryMax bound the backoff between attempts (doubling,
	// with jitter); 0 means DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// StaleUploadAge is how old an incomplete multipart upload must be for
	// the periodic bucket-wide sweep (and the one when Run starts) to abort
	// it, if the Uploader is a StaleUploadAborter; 0 means
	// DefaultStaleUploadAge. Sweeps after an outage need no age: they abort
	// only uploads begun before the failures and not still being sent.
	StaleUploadAge time.Duration
	// ProbeEvery is how often, while uploads fail, the spool asks a Pinger
	// uploader whether the store is back; when it is, every entry waiting
	// out its backoff is tried at once. 0 means DefaultProbeEvery.
	ProbeEvery time.Duration
	// OnUploaded, if set, is called from an upload worker after an entry is
	// in the store and verified, before its local files are removed: a
	// crash in between calls it again for the same entry after restart, so
	// index idempotently (by key and SHA-256). It should return quickly.
	// An error (say the database is down) counts as a failed attempt: the
	// entry stays and is retried with backoff.
	OnUploaded func(Entry, objstore.ObjectInfo) error
	// Log receives the spool's logs; nil discards them.
	Log *slog.Logger
}

// Uploader is what the spool needs of an object store; objstore.Store has
// it.
type Uploader interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error)
	Stat(ctx context.Context, key string) (objstore.ObjectInfo, error)
}

// Pinger is implemented by uploaders that can tell cheaply whether the
// store answers (objstore.Store). After an outage the spool then retries
// as soon as the store is back, not when each entry's backoff (up to
// RetryMax) ends.
type Pinger interface {
	Ping(ctx context.Context) error
}

// StaleUploadAborter is implemented by uploaders that can abort the
// incomplete multipart uploads of the whole bucket (objstore.S3). The spool
// calls it when Run starts and every StaleUploadAge, for uploads left by a
// crash; and, unless the uploader is also an IncompleteUploadAborter, as
// soon as the store is back after failed uploads, for those the failure
// broke.
type StaleUploadAborter interface {
	AbortStaleUploads(ctx context.Context, olderThan time.Duration) (int, error)
}

// IncompleteUploadAborter is implemented by uploaders that can abort the
// incomplete multipart uploads under a key prefix begun more than
// olderThan ago. The spool prefers it for the uploads an outage broke and
// those a crashed run left for the entries it recovered, because MinIO
// lists a bucket's incomplete uploads from memory: after a restart of the
// server only a listing by prefix still finds those begun before.
type IncompleteUploadAborter interface {
	AbortIncompleteUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error)
}

var (
	_ Uploader           = objstore.Store(nil)
	_ StaleUploadAborter = (*objstore.S3)(nil)
)

// Entry describes a committed object.
type Entry struct {
	Key    string
	Size   int64
	SHA256 string // hex
	// SpooledAt is when it was committed, in UTC.
	SpooledAt time.Time
	// ContentType and Metadata are as given to Create or Put.
	ContentType string
	Metadata    map[string]string
}

// Stats is a snapshot of the spool's state, for metrics and /readyz.
type Stats struct {
	// Pending and PendingBytes are the committed entries not yet uploaded.
	Pending      int
	PendingBytes int64
	// OldestPending is when the oldest pending entry was spooled; zero
	// when none is.
	OldestPending time.Time
	// Writing and WritingBytes are the open Writers and what they hold.
	Writing      int
	WritingBytes int64
	// Quarantined and QuarantinedBytes are entries found corrupt, kept in
	// Dir for an operator and never uploaded.
	Quarantined      int
	QuarantinedBytes int64
	// UsedBytes counts against MaxBytes.
	UsedBytes, MaxBytes int64
	// Warning is set once UsedBytes crosses 80% of MaxBytes, and cleared
	// when it falls below 70%.
	Warning bool
	// Uploaded and UploadedBytes count the entries uploaded and verified.
	Uploaded      int64
	UploadedBytes int64
	// Failures counts failed upload attempts.
	Failures int64
	// FullRejections counts the Create, Write and Put calls refused with
	// ErrSpoolFull.
	FullRejections int64
	// LastError is the last upload error, at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
}

// Spool is a durable local queue of objects uploaded in the background.
// Its methods are safe for concurrent use.
type Spool struct {
	dir        string
	up         Uploader
	aborter    StaleUploadAborter      // nil when up is not one
	keyAborter IncompleteUploadAborter // nil when up is not one
	pinger     Pinger                  // nil when up is not one
	probeEvery time.Duration
	createdAt  time.Time
	log        *slog.Logger
	maxBytes   int64
	workers    int
	retryMin   time.Duration
	retryMax   time.Duration
	staleAge   time.Duration
	onUploaded func(Entry, objstore.ObjectInfo) error

	// wake tells a waiting worker that an entry may be ready; sweep tells
	// the janitor that a sweep is asked for.
	wake  chan struct{}
	sweep chan struct{}

	mu               sync.Mutex
	running          bool
	queue            []*item // oldest first
	queuedKeys       map[string]int
	pendingBytes     int64
	writers          int
	writingBytes     int64
	quarantined      int
	quarantinedBytes int64
	uploaded         int64
	uploadedBytes    int64
	failures         int64
	fullRejections   int64
	lastErr          string
	lastErrAt        time.Time
	warned           bool // above warnPercent, logged
	fullLogged       bool // a refusal was logged since the last rearm
	// streakFails counts failed attempts since the last success, the first
	// of them at streakStart; streakPutErr is set when one was the store's
	// error (not a verification), which may have left parts behind, and
	// streakKeys holds the keys of those.
	streakFails  int
	streakStart  time.Time
	streakPutErr bool
	streakKeys   map[string]struct{}
	// back is closed (and replaced) when a probe finds the store back: the
	// workers pausing after a failure go on at once.
	back chan struct{}
	// sweepAll and sweepKeys ask the janitor to abort the incomplete
	// uploads (of the bucket, of a key prefix) begun before a time.
	sweepAll  time.Time
	sweepKeys map[string]time.Time
}

// item is a queued entry.
type item struct {
	id string
	sc sidecar
	// recovered is set for entries found by New: the previous process may
	// have uploaded them already.
	recovered bool
	attempts  int
	notBefore time.Time // backoff after a failed attempt
	inflight  bool
	started   time.Time // of the attempt in flight
}

// New opens the spool in cfg.Dir, creating it if needed. It re-queues the
// entries a previous run left (a crash or a shutdown before they were
// uploaded) and deletes the temporary files of writes that were never
// committed. Nothing is uploaded until Run.
func New(cfg Config, up Uploader) (*Spool, error) {
	if cfg.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if up == nil {
		return nil, errors.New("spool: no uploader")
	}
	if cfg.MaxBytes < 0 || cfg.Workers < 0 || cfg.RetryMin < 0 || cfg.RetryMax < 0 || cfg.StaleUploadAge < 0 || cfg.ProbeEvery < 0 {
		return nil, errors.New("spool: negative limit in config")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", cfg.Dir, err)
	}
	s := &Spool{
		dir:        dir,
		up:         up,
		log:        cfg.Log,
		maxBytes:   cmpOr(cfg.MaxBytes, DefaultMaxBytes),
		workers:    cmpOr(cfg.Workers, DefaultWorkers),
		retryMin:   cmpOr(cfg.RetryMin, DefaultRetryMin),
		retryMax:   cmpOr(cfg.RetryMax, DefaultRetryMax),
		staleAge:   cmpOr(cfg.StaleUploadAge, DefaultStaleUploadAge),
		probeEvery: cmpOr(cfg.ProbeEvery, DefaultProbeEvery),
		back:       make(chan struct{}),
		onUploaded: cfg.OnUploaded,
		wake:       make(chan struct{}, 1),
		sweep:      make(chan struct{}, 1),
		queuedKeys: make(map[string]int),
		streakKeys: make(map[string]struct{}),
		sweepKeys:  make(map[string]time.Time),
		createdAt:  time.Now(),
	}
	if s.retryMax < s.retryMin {
		s.retryMax = s.retryMin
	}
	if a, ok := up.(StaleUploadAborter); ok {
		s.aborter = a
	}
	if a, ok := up.(IncompleteUploadAborter); ok {
		s.keyAborter = a
	}
	if p, ok := up.(Pinger); ok {
		s.pinger = p
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("spool", dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	return s, nil
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// load scans the directory: complete entries are queued (oldest first),
// temporary files and uncommitted data removed, corrupt entries
// quarantined.
func (s *Spool) load() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	type files struct {
		dataSize            int64
		hasData, hasSidecar bool
	}
	found := map[string]*files{}
	var removedTemp, foreign int
	quarantinedIDs := map[string]bool{}
	for _, de := range des {
		id, ext, ok := splitName(de.Name())
		if !ok || !de.Type().IsRegular() {
			foreign++
			continue
		}
		path := filepath.Join(s.dir, de.Name())
		switch ext {
		case extPart, extSidecarTmp:
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove unfinished %s: %w", de.Name(), err)
			}
			removedTemp++
			continue
		case extData + extCorrupt, extSidecar + extCorrupt:
			if fi, err := de.Info(); err == nil && ext == extData+extCorrupt {
				s.quarantinedBytes += fi.Size()
			}
			quarantinedIDs[id] = true
			continue
		}
		f := found[id]
		if f == nil {
			f = &files{}
			found[id] = f
		}
		switch ext {
		case extData:
			fi, err := de.Info()
			if err != nil {
				return fmt.Errorf("stat %s: %w", de.Name(), err)
			}
			f.hasData, f.dataSize = true, fi.Size()
		case extSidecar:
			f.hasSidecar = true
		}
	}
	s.quarantined = len(quarantinedIDs)

	var removedOrphans int
	for id, f := range found {
		switch {
		case f.hasData && !f.hasSidecar:
			// committed data without its sidecar: Commit never finished, or
			// an upload finished and removed the sidecar first
			if err := os.Remove(filepath.Join(s.dir, id+extData)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove uncommitted %s: %w", id+extData, err)
			}
			removedOrphans++
		case !f.hasData:
			s.quarantineFiles(id, errors.New("the data file is missing"), 0)
		default:
			sc, err := readSidecar(s.dir, id)
			if err == nil && sc.Size != f.dataSize {
				err = fmt.Errorf("the data file holds %d bytes, the sidecar says %d", f.dataSize, sc.Size)
			}
			if err != nil {
				s.quarantineFiles(id, err, f.dataSize)
				continue
			}
			s.queue = append(s.queue, &item{id: id, sc: sc, recovered: true})
			s.queuedKeys[sc.Key]++
			s.pendingBytes += sc.Size
		}
	}
	slices.SortFunc(s.queue, func(a, b *item) int {
		if c := a.sc.SpooledAt.Compare(b.sc.SpooledAt); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	if len(s.queue) > 0 || removedTemp > 0 || removedOrphans > 0 {
		s.log.Info("recovered spool", "queued", len(s.queue), "queued_bytes", s.pendingBytes,
			"removed_unfinished", removedTemp, "removed_uncommitted", removedOrphans)
	}
	if s.quarantined > 0 {
		s.log.Error("spool holds quarantined entries that will not be uploaded; inspect and remove the *.corrupt files",
			"count", s.quarantined, "bytes", s.quarantinedBytes)
	}
	if foreign > 0 {
		s.log.Debug("spool directory holds files that are not the spool's; left alone", "count", foreign)
	}
	if ev := s.fillLocked(); ev != fillNone {
		s.logFill(ev, s.usedLocked())
	}
	return nil
}

// quarantineFiles renames an entry's files to *.corrupt and counts them.
// The caller must not hold s.mu.
func (s *Spool) quarantineFiles(id string, reason error, size int64) {
	var errs []error
	for _, ext := range []string{extData, extSidecar} {
		p := filepath.Join(s.dir, id+ext)
		if err := os.Rename(p, p+extCorrupt); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.log.Error("quarantined a corrupt spool entry: it will not be uploaded; the files are kept as *.corrupt",
		"id", id, "reason", reason, "rename_err", errors.Join(errs...))
	s.mu.Lock()
	s.quarantined++
	s.quarantinedBytes += size
	s.mu.Unlock()
}

// Create starts a new spooled object under key. Write its bytes, then
// Commit to queue it for upload or Abort to drop it; only committed
// objects are uploaded. It returns ErrSpoolFull when the spool is full,
// and an error wrapping objstore.ErrInvalidKey or ErrInvalidMetadata for a
// key or options the store would refuse.
func (s *Spool) Create(key string, opts objstore.PutOptions, options ...CreateOption) (*Writer, error) {
	// objstore's own rules: an object it would refuse must not be queued
	// only to fail every upload attempt.
	if err := objstore.CheckPut(key, 0, opts); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", key, err)
	}
	if err := s.admit(key); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", key, err)
	}
	id := newID(time.Now(), rand.Uint64())
	f, err := os.OpenFile(filepath.Join(s.dir, id+extPart), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		s.closeWriter(0)
		return nil, fmt.Errorf("spool: create %s: %w", key, err)
	}
	return newWriter(s, id, key, opts, f, options...), nil
}

// Put spools the whole of r under key: Create, copy, Commit. On an error
// (ErrSpoolFull included) nothing is spooled.
func (s *Spool) Put(key string, r io.Reader, opts objstore.PutOptions) (Entry, error) {
	w, err := s.Create(key, opts)
	if err != nil {
		return Entry{}, err
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				_ = w.Abort()
				return Entry{}, err // names the key already
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = w.Abort()
			return Entry{}, fmt.Errorf("spool: put %s: read: %w", key, rerr)
		}
	}
	return w.Commit()
}

// Stats returns a snapshot of the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Pending:          len(s.queue),
		PendingBytes:     s.pendingBytes,
		Writing:          s.writers,
		WritingBytes:     s.writingBytes,
		Quarantined:      s.quarantined,
		QuarantinedBytes: s.quarantinedBytes,
		UsedBytes:        s.usedLocked(),
		MaxBytes:         s.maxBytes,
		Warning:          s.warned,
		Uploaded:         s.uploaded,
		UploadedBytes:    s.uploadedBytes,
		Failures:         s.failures,
		FullRejections:   s.fullRejections,
		LastError:        s.lastErr,
		LastErrorAt:      s.lastErrAt,
	}
	if len(s.queue) > 0 {
		st.OldestPending = s.queue[0].sc.SpooledAt
	}
	return st
}

func (s *Spool) usedLocked() int64 {
	return s.pendingBytes + s.writingBytes + s.quarantinedBytes
}

// admit registers a new Writer unless the spool is full.
func (s *Spool) admit(key string) error {
	s.mu.Lock()
	if used := s.usedLocked(); used >= s.maxBytes {
		s.refuseLocked(key, 0, used)
		return ErrSpoolFull
	}
	s.writers++
	s.mu.Unlock()
	return nil
}

// reserve accounts n more bytes to an open Writer unless that would pass
// MaxBytes.
func (s *Spool) reserve(key string, n int64) error {
	s.mu.Lock()
	used := s.usedLocked()
	if used+n > s.maxBytes {
		s.refuseLocked(key, n, used)
		return ErrSpoolFull
	}
	s.writingBytes += n
	ev := s.fillLocked()
	s.mu.Unlock()
	s.logFill(ev, used+n)
	return nil
}

// refuseLocked counts a refusal and logs the first of a full period; it
// releases s.mu.
func (s *Spool) refuseLocked(key string, n, used int64) {
	s.fullRejections++
	first := !s.fullLogged
	s.fullLogged = true
	count := s.fullRejections
	s.mu.Unlock()
	if first {
		s.log.Error("spool full: refusing new data until uploads make room; nothing spooled is dropped",
			"key", key, "bytes", n, "used_bytes", used, "max_bytes", s.maxBytes, "refused_total", count)
	}
}

// unreserve returns n bytes reserved by a Writer that did not write them.
func (s *Spool) unreserve(n int64) {
	s.mu.Lock()
	s.writingBytes -= n
	ev := s.fillLocked()
	used := s.usedLocked()
	s.mu.Unlock()
	s.logFill(ev, used)
}

// closeWriter forgets an aborted Writer and the n bytes it held.
func (s *Spool) closeWriter(n int64) {
	s.mu.Lock()
	s.writers--
	s.writingBytes -= n
	ev := s.fillLocked()
	used := s.usedLocked()
	s.mu.Unlock()
	s.logFill(ev, used)
}

// enqueue turns a committed Writer's bytes into a queued entry.
func (s *Spool) enqueue(it *item) {
	s.mu.Lock()
	s.writers--
	s.writingBytes -= it.sc.Size
	s.pendingBytes += it.sc.Size
	s.queue = append(s.queue, it)
	s.queuedKeys[it.sc.Key]++
	s.mu.Unlock()
	s.signal()
}

// signal wakes one waiting worker, if any.
func (s *Spool) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

type fillEvent int

const (
	fillNone  fillEvent = iota
	fillWarn            // crossed warnPercent upwards
	fillRearm           // fell below rearmPercent
)

// fillLocked notes a crossing of the warning level; the caller logs it
// with logFill once s.mu is released.
func (s *Spool) fillLocked() fillEvent {
	used := s.usedLocked()
	switch {
	case !s.warned && used*100 >= s.maxBytes*warnPercent:
		s.warned = true
		return fillWarn
	case s.warned && used*100 < s.maxBytes*rearmPercent:
		s.warned, s.fullLogged = false, false
		return fillRearm
	}
	return fillNone
}

func (s *Spool) logFill(ev fillEvent, used int64) {
	switch ev {
	case fillWarn:
		s.log.Warn("SPOOL FILLING UP: the object store is not keeping up or is down; new recordings will be refused when it is full",
			"used_bytes", used, "max_bytes", s.maxBytes, "percent", used*100/max(s.maxBytes, 1))
	case fillRearm:
		s.log.Info("spool has room again", "used_bytes", used, "max_bytes", s.maxBytes)
	}
}
