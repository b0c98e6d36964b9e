//go:build linux

package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"
)

// clipTiming follows one event clip from the end of its span to its index
// row.
type clipTiming struct {
	to       time.Time // the span's end: the clip can be cut from then on
	spooled  time.Time // committed to the spool (cut, muxed, synced)
	putStart time.Time // the upload that succeeded
	putEnd   time.Time
	indexed  time.Time // the evidence row written
}

// eventResult is events × cameras clips.
type eventResult struct {
	cams    int
	events  [][]*clipTiming // per event, per camera
	missing int             // clips never indexed
}

// latencies are, per event whose clips all arrived, the time from the
// span's end until the last of its cameras' evidence rows exists.
func (e *eventResult) latencies() []time.Duration {
	var out []time.Duration
	for _, clips := range e.events {
		var last time.Duration
		ok := true
		for _, c := range clips {
			if c.indexed.IsZero() {
				ok = false
				break
			}
			last = max(last, c.indexed.Sub(c.to))
		}
		if ok {
			out = append(out, last)
		}
	}
	return out
}

// stages are the clips' times in each step: span end → spooled, waiting in
// the spool queue, the upload, and upload → index row.
func (e *eventResult) stages() (cut, queue, upload, index []time.Duration) {
	for _, clips := range e.events {
		for _, c := range clips {
			if c.indexed.IsZero() || c.putStart.IsZero() {
				continue
			}
			cut = append(cut, c.spooled.Sub(c.to))
			queue = append(queue, c.putStart.Sub(c.spooled))
			upload = append(upload, c.putEnd.Sub(c.putStart))
			index = append(index, c.indexed.Sub(c.putEnd))
		}
	}
	return cut, queue, upload, index
}

// eventClips records cameras in events mode in real time and fires events
// one after the other, each asking every camera for a clip from
// at - pre-roll to at + post-roll (as POST /api/v1/events does, case row
// first), and times each clip through the spool, the upload and the index.
func (h *recHarness) eventClips(tb testing.TB) *eventResult {
	tb.Helper()
	if h.res.events != nil {
		return h.res.events
	}
	ctx := context.Background()
	cfg := h.cfg
	var mu sync.Mutex
	clips := map[string]*clipTiming{} // case/camera
	lookup := func(md map[string]string) *clipTiming {
		return clips[md["case"]+"/"+md["camera"]]
	}
	r := newRig(tb, h.minio, rigConfig{
		bucket: "events",
		rec:    recorder.Config{PreRoll: cfg.preRoll, PostRoll: cfg.postRoll, Segment: cfg.segment},
		onPut: func(_ string, md map[string]string, start, end time.Time, err error) {
			mu.Lock()
			defer mu.Unlock()
			if c := lookup(md); c != nil && err == nil {
				c.putStart, c.putEnd = start, end
			}
		},
		onIndexed: func(e spool.Entry, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if c := lookup(e.Metadata); c != nil {
				c.spooled, c.indexed = e.SpooledAt, at
			}
		},
	})
	defer r.stop()
	ids := make([]string, cfg.eventCams)
	for i := range ids {
		ids[i] = store.NewID()
		if err := insertCamera(ctx, r.db, ids[i], recorder.ModeEvents); err != nil {
			tb.Fatal(err)
		}
	}
	r.addCameras(ids, recorder.ModeEvents)
	f := startFeeder(h.src, r.rec, ids)
	defer f.Stop()
	// the rings hold the pre-roll (from a keyframe before it) before the
	// first event
	time.Sleep(cfg.preRoll + time.Duration(h.src.gopFrames())*h.src.frameDur + 500*time.Millisecond)

	res := &eventResult{cams: len(ids)}
	caseIDs := make([]string, cfg.events)
	t0 := time.Now()
	for i := range cfg.events {
		at := t0.Add(time.Duration(i) * cfg.eventEvery)
		time.Sleep(time.Until(at))
		at = time.Now()
		caseID, err := insertCase(ctx, r.db, store.CaseEvent, at)
		if err != nil {
			tb.Fatal(err)
		}
		caseIDs[i] = caseID
		from, to := at.Add(-cfg.preRoll), at.Add(cfg.postRoll)
		row := make([]*clipTiming, len(ids))
		mu.Lock()
		for j, cam := range ids {
			row[j] = &clipTiming{to: to}
			clips[caseID+"/"+cam] = row[j]
		}
		mu.Unlock()
		res.events = append(res.events, row)
		for _, cam := range ids {
			if err := r.rec.RequestClip(recorder.ClipRequest{CaseID: caseID, SiteID: benchSite, CameraID: cam, From: from, To: to}); err != nil {
				tb.Fatalf("event %d: %v", i, err)
			}
		}
	}
	// every clip indexed, or a minute past the last span
	deadline := time.Now().Add(cfg.postRoll + time.Minute)
	for {
		mu.Lock()
		res.missing = 0
		for _, row := range res.events {
			for _, c := range row {
				if c.indexed.IsZero() {
					res.missing++
				}
			}
		}
		mu.Unlock()
		if res.missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.Stop()
	// the rows the hook saw are the database's
	for i, id := range caseIDs {
		rows, err := store.CaseEvidence(ctx, r.db.Q(), id)
		if err != nil {
			tb.Fatal(err)
		}
		if len(rows) != len(ids) {
			tb.Errorf("event %d: %d evidence rows, want %d", i, len(rows), len(ids))
		}
	}
	if res.missing > 0 {
		tb.Errorf("%d of %d event clips were not indexed within a minute", res.missing, cfg.events*len(ids))
	}
	h.res.events = res
	return res
}
