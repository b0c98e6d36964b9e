package spool

import (
	"context"
	"time"
)

// sweepTimeout bounds one sweep of incomplete uploads.
const sweepTimeout = time.Minute

// requestSweepsLocked asks, after the successful upload of it, for the
// sweeps of incomplete multipart uploads that are due, and reports whether
// it asked for any:
//
//   - after a streak of failed uploads (an outage), for the uploads it
//     broke: of the keys that failed if the uploader can sweep a prefix,
//     else of the whole bucket;
//   - for an entry recovered from an earlier run, for the upload of its key
//     that a crash may have cut off.
//
// Only uploads begun before the failures (before this Spool, for a
// recovered entry) and before every upload still in flight are aborted, so
// that no upload of ours is cut off; an upload by someone else that has
// run since before the outage would be, and be retried by its owner.
func (s *Spool) requestSweepsLocked(it *item) bool {
	inflight := time.Time{}
	for _, o := range s.queue {
		if o.inflight && (inflight.IsZero() || o.started.Before(inflight)) {
			inflight = o.started
		}
	}
	bound := func(t time.Time) time.Time {
		if !inflight.IsZero() && inflight.Before(t) {
			return inflight
		}
		return t
	}
	asked := false
	if s.streakFails > 0 && s.streakPutErr {
		cutoff := bound(s.streakStart)
		switch {
		case s.keyAborter != nil:
			for k := range s.streakKeys {
				s.addKeySweepLocked(k, cutoff)
			}
			asked = len(s.streakKeys) > 0
		case s.aborter != nil:
			if cutoff.After(s.sweepAll) {
				s.sweepAll = cutoff
			}
			asked = true
		}
	}
	if it.recovered && s.keyAborter != nil {
		s.addKeySweepLocked(it.sc.Key, bound(s.createdAt))
		asked = true
	}
	return asked
}

func (s *Spool) addKeySweepLocked(key string, cutoff time.Time) {
	if cutoff.After(s.sweepKeys[key]) {
		s.sweepKeys[key] = cutoff
	}
}

// janitor aborts incomplete multipart uploads: the bucket's old ones when
// Run starts and every staleAge, and those asked for by
// requestSweepsLocked as soon as they are.
func (s *Spool) janitor(ctx context.Context) {
	var tick <-chan time.Time
	if s.aborter != nil {
		s.abortStale(ctx, s.staleAge)
		t := time.NewTicker(s.staleAge)
		defer t.Stop()
		tick = t.C
	}
	var retry <-chan time.Time // set while failed sweeps wait
	if !s.runSweeps(ctx) {     // asked for before this Run
		retry = time.After(s.retryMax)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			s.abortStale(ctx, s.staleAge)
			continue
		case <-s.sweep:
		case <-retry:
		}
		retry = nil
		if !s.runSweeps(ctx) && ctx.Err() == nil {
			retry = time.After(s.retryMax)
		}
	}
}

// runSweeps runs the sweeps asked for; those that fail are asked for again.
// It reports whether all succeeded.
func (s *Spool) runSweeps(ctx context.Context) bool {
	s.mu.Lock()
	all, keys := s.sweepAll, s.sweepKeys
	s.sweepAll, s.sweepKeys = time.Time{}, make(map[string]time.Time)
	s.mu.Unlock()

	ok := true
	var failedAll time.Time
	failedKeys := map[string]time.Time{}
	if !all.IsZero() && !s.abortStale(ctx, time.Since(all)) {
		failedAll, ok = all, false
	}
	for k, cutoff := range keys {
		if ctx.Err() != nil || !s.abortKey(ctx, k, time.Since(cutoff)) {
			failedKeys[k], ok = cutoff, false
		}
	}
	if !ok {
		s.mu.Lock()
		if failedAll.After(s.sweepAll) {
			s.sweepAll = failedAll
		}
		for k, cutoff := range failedKeys {
			s.addKeySweepLocked(k, cutoff)
		}
		s.mu.Unlock()
	}
	return ok
}

// abortStale aborts the bucket's incomplete uploads begun more than
// olderThan ago and reports whether it could.
func (s *Spool) abortStale(ctx context.Context, olderThan time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	n, err := s.aborter.AbortStaleUploads(ctx, olderThan)
	return s.swept(ctx, "", olderThan, n, err)
}

// abortKey aborts the incomplete uploads under prefix begun more than
// olderThan ago and reports whether it could.
func (s *Spool) abortKey(ctx context.Context, prefix string, olderThan time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	n, err := s.keyAborter.AbortIncompleteUploads(ctx, prefix, olderThan)
	return s.swept(ctx, prefix, olderThan, n, err)
}

func (s *Spool) swept(ctx context.Context, prefix string, olderThan time.Duration, n int, err error) bool {
	if n > 0 {
		s.log.Info("aborted incomplete multipart uploads", "prefix", prefix, "count", n, "older_than", olderThan.Round(time.Millisecond))
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot abort incomplete multipart uploads; will try again", "prefix", prefix, "err", err)
		}
		return false
	}
	return true
}
