package main

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"
)

// loadOrCreateKey reads a 32-byte secret, creating it (mode 0600) on first
// start, so evidence links survive a restart.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// runRetention applies the retention policy every interval until ctx ends.
func runRetention(ctx context.Context, db *store.DB, objects recorder.ObjectDeleter, pol recorder.Retention, every time.Duration, log *slog.Logger) error {
	if pol.Continuous <= 0 && pol.Evidence <= 0 {
		return nil
	}
	t := time.NewTicker(max(every, time.Minute))
	defer t.Stop()
	for {
		if _, err := recorder.ApplyRetention(ctx, db, objects, pol, time.Now(), log); err != nil && ctx.Err() == nil {
			log.Warn("retention run incomplete; retried next run", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// recordingCollector exports the spool's and the recorder's state.
type recordingCollector struct {
	sp   *spool.Spool
	rec  *recorder.Recorder
	desc map[string]*prometheus.Desc
}

func newRecordingCollector(sp *spool.Spool, rec *recorder.Recorder) *recordingCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &recordingCollector{sp: sp, rec: rec, desc: map[string]*prometheus.Desc{
		"pending":       d("attendant_spool_pending_objects", "Recordings in the spool not yet in the object store."),
		"pending_bytes": d("attendant_spool_pending_bytes", "Bytes in the spool not yet in the object store."),
		"used":          d("attendant_spool_used_bytes", "Bytes the spool holds (pending, being written, quarantined)."),
		"max":           d("attendant_spool_max_bytes", "The spool's bound."),
		"oldest":        d("attendant_spool_oldest_pending_seconds", "Age of the oldest recording waiting for upload."),
		"warning":       d("attendant_spool_filling", "1 while the spool is over 80% full."),
		"uploaded":      d("attendant_spool_uploaded_total", "Recordings uploaded and verified."),
		"failures":      d("attendant_spool_upload_failures_total", "Failed upload attempts."),
		"rejected":      d("attendant_spool_full_rejections_total", "Writes refused because the spool was full."),
		"quarantined":   d("attendant_spool_quarantined_objects", "Spooled files found corrupt and kept aside."),
		"cameras":       d("attendant_recorder_cameras", "Cameras recording (events or continuous)."),
		"segments":      d("attendant_recorder_segments_total", "Continuous segments spooled."),
		"clips":         d("attendant_recorder_clips_total", "Event clips spooled."),
		"dropped":       d("attendant_recorder_dropped_frames_total", "Frames the recorder could not keep up with."),
		"lost":          d("attendant_recorder_lost_total", "Segments or clips that could not be spooled."),
	}}
}

func (c *recordingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.desc {
		ch <- d
	}
}

func (c *recordingCollector) Collect(ch chan<- prometheus.Metric) {
	st, rs := c.sp.Stats(), c.rec.Stats()
	g := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(c.desc[k], prometheus.GaugeValue, v) }
	n := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(c.desc[k], prometheus.CounterValue, v) }
	oldest := 0.0
	if !st.OldestPending.IsZero() {
		oldest = time.Since(st.OldestPending).Seconds()
	}
	warn := 0.0
	if st.Warning {
		warn = 1
	}
	g("pending", float64(st.Pending))
	g("pending_bytes", float64(st.PendingBytes))
	g("used", float64(st.UsedBytes))
	g("max", float64(st.MaxBytes))
	g("oldest", oldest)
	g("warning", warn)
	n("uploaded", float64(st.Uploaded))
	n("failures", float64(st.Failures))
	n("rejected", float64(st.FullRejections))
	g("quarantined", float64(st.Quarantined))
	g("cameras", float64(rs.Cameras))
	n("segments", float64(rs.Segments))
	n("clips", float64(rs.Clips))
	n("dropped", float64(rs.DroppedFrames))
	n("lost", float64(rs.LostSegments))
}
