//go:build linux

package bench

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"
)

// outageResult is the spool through an outage of the object store.
type outageResult struct {
	cams, fps int
	down      time.Duration // from Stop until Start returned: the store unreachable
	recorded  time.Duration // feeding, from the first frame to the last

	peakPending      int
	peakPendingBytes int64
	peakUsedBytes    int64
	maxBytes         int64
	firstUpload      time.Duration // from the store's return to the first upload indexed
	drain            time.Duration // from the store's return until nothing spooled before it waits
	drainErr         string

	segments       int     // index rows of the phase's cameras
	lostSeconds    float64 // Σ over cameras: (last end - first start) - Σ segment durations
	gapSeconds     float64 // Σ of the holes between consecutive segments
	worstCamLost   float64
	lostSegments   int64
	droppedFrames  int64
	fullRejections int64
	failures       int64 // failed upload attempts
}

// outage records outageCams cameras continuously in real time, stops MinIO
// for cfg.outage, starts it again, and follows the spool: how much it
// holds at the peak, how long after the store's return it takes to upload
// what waited, and whether the index has every second of video.
func (h *recHarness) outage(tb testing.TB) *outageResult {
	tb.Helper()
	if h.res.outage != nil {
		return h.res.outage
	}
	cfg := h.cfg
	src := h.outSrc
	res := &outageResult{cams: cfg.outageCams, fps: src.prof.FPS}
	var mu sync.Mutex
	var upAt, firstUpload time.Time
	r := newRig(tb, h.minio, rigConfig{bucket: "outage", rec: recorder.Config{Segment: cfg.segment}, retryMax: cfg.retryMax,
		onIndexed: func(_ spool.Entry, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if !upAt.IsZero() && firstUpload.IsZero() {
				firstUpload = at
			}
		}})
	defer r.stop()
	ids := cameraIDs("out", cfg.outageCams)
	r.addCameras(ids, recorder.ModeContinuous)
	feedStart := time.Now()
	f := startFeeder(src, r.rec, ids)
	defer f.Stop()

	// sample the spool every 100 ms for its peak
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			st := r.spool.Stats()
			mu.Lock()
			res.peakPending = max(res.peakPending, st.Pending)
			res.peakPendingBytes = max(res.peakPendingBytes, st.PendingBytes)
			res.peakUsedBytes = max(res.peakUsedBytes, st.UsedBytes)
			res.maxBytes = st.MaxBytes
			mu.Unlock()
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	time.Sleep(cfg.outageSettle)
	downAt := time.Now()
	h.minio.Stop(tb)
	time.Sleep(time.Until(downAt.Add(cfg.outage)))
	h.minio.Start(tb)
	mu.Lock()
	upAt = time.Now()
	mu.Unlock()
	res.down = upAt.Sub(downAt)

	// drained: nothing spooled before the store came back still waits
	deadline := upAt.Add(10*time.Minute + cfg.outage)
	for {
		st := r.spool.Stats()
		if st.Pending == 0 || !st.OldestPending.Before(upAt) {
			res.drain = time.Since(upAt)
			break
		}
		if time.Now().After(deadline) {
			res.drainErr = "not drained"
			tb.Errorf("outage: the spool still holds %d entries (%d bytes) from before the store came back, %v after", st.Pending,
				st.PendingBytes, time.Since(upAt).Round(time.Second))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(cfg.outageAfter)
	f.Stop()
	res.recorded = time.Since(feedStart)
	for _, id := range ids {
		r.rec.RemoveCamera(id)
	}
	// the recorder's queues and the last segments, uploaded and indexed
	time.Sleep(500 * time.Millisecond)
	if err := r.drain(tb, 5*time.Minute); err != nil {
		tb.Error(err)
	}
	close(stopSampling)
	sampler.Wait()
	mu.Lock()
	if !firstUpload.IsZero() {
		res.firstUpload = firstUpload.Sub(upAt)
	}
	mu.Unlock()

	st, rs := r.spool.Stats(), r.rec.Stats()
	res.lostSegments, res.droppedFrames = rs.LostSegments, rs.DroppedFrames
	res.fullRejections, res.failures = st.FullRejections, st.Failures
	for _, id := range ids {
		recs := listAllRecordings(tb, r.db, id, feedStart.Add(-time.Minute), time.Now().Add(time.Minute))
		lost, gaps := lostSeconds(recs)
		res.segments += len(recs)
		res.lostSeconds += lost
		res.gapSeconds += gaps
		res.worstCamLost = max(res.worstCamLost, lost)
	}
	h.res.outage = res
	return res
}

// listAllRecordings pages through a camera's index rows in [from, to).
func listAllRecordings(tb testing.TB, db *store.DB, camID string, from, to time.Time) []store.Recording {
	tb.Helper()
	var out []store.Recording
	for {
		page, err := store.ListRecordings(context.Background(), db.Q(), camID, from, to, store.MaxPage)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < store.MaxPage {
			return out
		}
		from = page[len(page)-1].End
	}
}

// lostSeconds is the span of a camera's segments (first start to last end)
// minus the sum of their durations, and the sum of the holes between
// consecutive segments (the same unless segments overlap).
func lostSeconds(recs []store.Recording) (lost, gaps float64) {
	if len(recs) == 0 {
		return 0, 0
	}
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b store.Recording) int { return a.Start.Compare(b.Start) })
	var sum time.Duration
	end := recs[0].Start
	for _, r := range recs {
		sum += r.End.Sub(r.Start)
		if r.Start.After(end) {
			gaps += r.Start.Sub(end).Seconds()
		}
		if r.End.After(end) {
			end = r.End
		}
	}
	return (end.Sub(recs[0].Start) - sum).Seconds(), gaps
}
