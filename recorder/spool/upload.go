package spool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/attendant/attendant/objstore"
)

// Run uploads queued entries, oldest first, with Config.Workers in
// parallel, until ctx ends; then it returns nil. A failed upload is retried
// with capped, jittered backoff, forever: while the store is down the
// spool grows. Each entry waits out its own backoff, so that one the store
// keeps refusing cannot hold up the rest; the versions of one key still go
// up in the order they were spooled. An upload that ctx interrupts leaves
// its entry queued for the next Run. Run may be called again after it
// returns, but not twice at once (ErrRunning).
func (s *Spool) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	pending, bytes := len(s.queue), s.pendingBytes
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	s.log.Info("spool uploading", "pending", pending, "pending_bytes", bytes, "workers", s.workers)

	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() { s.worker(ctx) })
	}
	if s.aborter != nil || s.keyAborter != nil {
		wg.Go(func() { s.janitor(ctx) })
	}
	if s.pinger != nil {
		wg.Go(func() { s.prober(ctx) })
	}
	wg.Wait()
	return nil
}

func (s *Spool) worker(ctx context.Context) {
	for {
		it := s.next(ctx)
		if it == nil {
			return
		}
		info, err := s.upload(ctx, it)
		if err == nil && s.onUploaded != nil {
			if ierr := s.onUploaded(it.sc.entry(), info); ierr != nil {
				// in the store but not indexed: retry; the next attempt
				// finds the object by Stat and does not upload it again
				err = fmt.Errorf("index uploaded %s: %w", it.sc.Key, ierr)
			}
		}
		switch {
		case err == nil:
			s.finish(it, info)
		case ctx.Err() != nil:
			// shutting down: not a failure, the entry stays queued
			s.release(it)
			return
		case errors.Is(err, errCorrupt):
			s.quarantine(it, err)
		default:
			pause, back := s.fail(it, err)
			if !s.pause(ctx, pause, back) {
				return
			}
		}
	}
}

// next waits for the oldest entry that is ready and marks it in flight; it
// returns nil when ctx ends.
func (s *Spool) next(ctx context.Context) *item {
	for ctx.Err() == nil {
		now := time.Now()
		s.mu.Lock()
		it, wait, more := s.pickLocked(now)
		s.mu.Unlock()
		if it != nil {
			if more {
				s.signal() // another worker may take the next one
			}
			return it
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
	return nil
}

// pickLocked returns the oldest queued entry that is not in flight, not
// backing off, and not preceded by an older entry of the same key (so a
// key's versions reach the store in order), marked in flight. Otherwise it
// returns how long until an entry's backoff ends (0: none is backing off).
// more reports whether another entry is ready too.
func (s *Spool) pickLocked(now time.Time) (picked *item, wait time.Duration, more bool) {
	var olderOfKey map[string]bool
	for _, it := range s.queue {
		if k := it.sc.Key; s.queuedKeys[k] > 1 {
			if olderOfKey[k] {
				continue
			}
			if olderOfKey == nil {
				olderOfKey = make(map[string]bool)
			}
			olderOfKey[k] = true
		}
		switch {
		case it.inflight:
		case it.notBefore.After(now):
			if d := it.notBefore.Sub(now); wait == 0 || d < wait {
				wait = d
			}
		case picked == nil:
			picked = it
		default:
			more = true
		}
		if more {
			break
		}
	}
	if picked != nil {
		picked.inflight = true
		picked.started = now
		return picked, 0, more
	}
	return nil, wait, false
}

// upload puts one entry in the store and checks what the store reports.
func (s *Spool) upload(ctx context.Context, it *item) (objstore.ObjectInfo, error) {
	sc := &it.sc
	f, err := os.Open(filepath.Join(s.dir, it.id+extData))
	if errors.Is(err, os.ErrNotExist) {
		return objstore.ObjectInfo{}, fmt.Errorf("%w: the data file is missing", errCorrupt)
	}
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("open spooled %s: %w", sc.Key, err)
	}
	defer f.Close()

	// Check the local copy first: a disk that changed it is not the
	// store's fault, and retrying would never help.
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("read spooled %s: %w", sc.Key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != sc.Size || sum != sc.SHA256 {
		return objstore.ObjectInfo{}, fmt.Errorf("%w: the data file holds %d bytes with sha256 %s, spooled were %d with %s",
			errCorrupt, n, sum, sc.Size, sc.SHA256)
	}

	// An earlier attempt (or the run before a crash) may have stored it
	// even though it did not hear back: do not store it twice (with object
	// lock each Put is a new version).
	if it.recovered || it.attempts > 0 {
		if info, err := s.up.Stat(ctx, sc.Key); err == nil && info.SHA256 == sc.SHA256 && info.Size == sc.Size {
			return info, nil
		}
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("read spooled %s: %w", sc.Key, err)
	}
	// the *os.File itself, so the store can seek and read it in parts
	info, err := s.up.Put(ctx, sc.Key, f, sc.Size, sc.putOptions())
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("upload: %w", err)
	}
	if info.SHA256 != sc.SHA256 || info.Size != sc.Size {
		return objstore.ObjectInfo{}, fmt.Errorf("upload %s: %w: sha256 %q and size %d, spooled were %s and %d",
			sc.Key, errVerify, info.SHA256, info.Size, sc.SHA256, sc.Size)
	}
	return info, nil
}

// finish reports an uploaded entry and removes it from the spool.
func (s *Spool) finish(it *item, info objstore.ObjectInfo) {
	e := it.sc.entry()
	// the sidecar first: a crash in between leaves data without a sidecar,
	// which New removes, never a sidecar without data
	var rmErr error
	for _, ext := range []string{extSidecar, extData} {
		if err := os.Remove(filepath.Join(s.dir, it.id+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			rmErr = errors.Join(rmErr, err)
		}
	}

	now := time.Now()
	s.mu.Lock()
	s.removeLocked(it)
	s.uploaded++
	s.uploadedBytes += e.Size
	outage := s.streakFails > 0 && s.streakPutErr
	streak, since := s.streakFails, now.Sub(s.streakStart)
	sweep := s.requestSweepsLocked(it)
	s.streakFails, s.streakPutErr = 0, false
	clear(s.streakKeys)
	ev := s.fillLocked()
	used := s.usedLocked()
	s.mu.Unlock()

	s.logFill(ev, used)
	if outage {
		s.log.Info("uploads work again", "failed_attempts", streak, "after", since.Round(time.Millisecond))
	}
	if sweep {
		select {
		case s.sweep <- struct{}{}:
		default:
		}
	}
	if rmErr != nil {
		s.log.Error("uploaded, but cannot remove the spooled files; they will be uploaded again after a restart",
			"key", e.Key, "err", rmErr)
	}
	s.log.Debug("uploaded", "key", e.Key, "size", e.Size, "sha256", e.SHA256, "attempts", it.attempts+1)
}

// fail records a failed attempt, sets the entry's backoff and returns how
// long the worker should pause, and what ends the pause early (the store
// found back).
func (s *Spool) fail(it *item, err error) (time.Duration, <-chan struct{}) {
	now := time.Now()
	s.mu.Lock()
	it.inflight = false
	it.attempts++
	retryIn := s.backoff(it.attempts)
	it.notBefore = now.Add(retryIn)
	s.failures++
	s.lastErr, s.lastErrAt = err.Error(), now
	if s.streakFails == 0 {
		s.streakStart = now
	}
	s.streakFails++
	verify := errors.Is(err, errVerify)
	if !verify {
		s.streakPutErr = true
		s.streakKeys[it.sc.Key] = struct{}{}
	}
	pause := s.backoff(s.streakFails)
	attempts, pending, back := it.attempts, len(s.queue), s.back
	s.mu.Unlock()

	args := []any{"key", it.sc.Key, "attempt", attempts, "retry_in", retryIn.Round(time.Millisecond), "pending", pending, "err", err}
	if verify {
		s.log.Error("upload not verified: the store reports other content than was spooled; will retry", args...)
	} else {
		s.log.Warn("upload failed; will retry", args...)
	}
	return pause, back
}

// pause waits d, or until the store is found back or ctx ends; it reports
// whether ctx is still live.
func (s *Spool) pause(ctx context.Context, d time.Duration, back <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-back:
	case <-t.C:
	}
	return true
}

// prober asks the store every probeEvery, while uploads fail, whether it
// answers again; the first time it does after it did not (or after the
// failures began), the waiting entries are tried at once instead of after
// their backoff. A store that answers pings but refuses uploads gets that
// once per failure streak, then the usual backoff.
func (s *Spool) prober(ctx context.Context) {
	t := time.NewTicker(s.probeEvery)
	defer t.Stop()
	armed := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		outage := s.streakFails > 0 && s.streakPutErr
		s.mu.Unlock()
		if !outage {
			armed = true
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, s.probeEvery)
		err := s.pinger.Ping(pctx)
		cancel()
		switch {
		case err != nil:
			armed = true
		case armed:
			armed = false
			s.storeBack()
		}
	}
}

// storeBack ends every entry's backoff and wakes the workers.
func (s *Spool) storeBack() {
	s.mu.Lock()
	waiting := 0
	for _, it := range s.queue {
		if !it.inflight && !it.notBefore.IsZero() {
			it.notBefore = time.Time{}
			waiting++
		}
	}
	close(s.back)
	s.back = make(chan struct{})
	s.mu.Unlock()
	s.log.Info("the object store answers again: retrying the waiting uploads now", "waiting", waiting)
	s.signal()
}

// release puts an entry whose upload was interrupted back, untouched.
func (s *Spool) release(it *item) {
	s.mu.Lock()
	it.inflight = false
	s.mu.Unlock()
}

// quarantine takes a corrupt entry out of the queue, keeping its files.
func (s *Spool) quarantine(it *item, err error) {
	s.mu.Lock()
	s.removeLocked(it)
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
	var size int64
	if fi, serr := os.Stat(filepath.Join(s.dir, it.id+extData)); serr == nil {
		size = fi.Size()
	}
	s.quarantineFiles(it.id, fmt.Errorf("%s: %w", it.sc.Key, err), size)
}

// removeLocked takes an entry out of the queue.
func (s *Spool) removeLocked(it *item) {
	if i := slices.Index(s.queue, it); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
	}
	s.pendingBytes -= it.sc.Size
	if k := it.sc.Key; s.queuedKeys[k] > 1 {
		s.queuedKeys[k]--
		defer s.signal() // the key's next version may go now
	} else {
		delete(s.queuedKeys, k)
	}
}

// backoff returns the pause after the n-th failure in a row: RetryMin
// doubling up to RetryMax, between half and all of it at random so that
// workers failing together do not retry together.
func (s *Spool) backoff(n int) time.Duration {
	d := s.retryMin
	for i := 1; i < n && d < s.retryMax; i++ {
		d *= 2
	}
	d = min(d, s.retryMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// ctxReader stops reading once ctx is done, so that hashing a large entry
// does not hold up a shutdown.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
