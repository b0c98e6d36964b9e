//go:build linux

package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

// recConfig sizes a run of the recording benchmarks: the benchmark's or
// the smoke test's.
type recConfig struct {
	prof     cameraProfile // the source clip, encoded once
	clipSecs int           // its length; the feeder loops it
	segment  time.Duration // recorder.Config.Segment

	// recording: N cameras in continuous mode, CPU over a window after a
	// settling time; memory once the pre-roll ring is full (memAfter after
	// the cameras start).
	counts   []int
	settle   time.Duration
	window   time.Duration
	memAfter time.Duration
	// maxFor is how long one camera is fed as fast as it records.
	maxFor time.Duration

	// event clips: eventCams cameras in events mode, events clips each
	// eventEvery apart.
	eventCams         int
	events            int
	eventEvery        time.Duration
	preRoll, postRoll time.Duration

	// presigned range requests: ranges GETs of rangeSize bytes out of an
	// object of rangeObject bytes.
	ranges      int
	rangeSize   int64
	rangeObject int64

	// verification: a case of verifyObjects objects of verifyObjSize bytes
	// (10 s of G.711 each), and a case of one object of the same total.
	verifyObjects int
	verifyObjSize int
	verifyRuns    int

	// outage: outageCams cameras recording continuously, the store
	// stopped for outage after outageSettle; recording goes on for
	// outageAfter once the spool has caught up.
	outageCams   int
	outageFPS    int // 0: the source's
	outageSettle time.Duration
	outage       time.Duration
	outageAfter  time.Duration
	// retryMax is the spool's RetryMax in the outage; 0 is its default
	// (as in cmd/attendant).
	retryMax time.Duration
}

// recBenchConfig is the issue's: 720p, 25 fps, 2 Mbit/s, a keyframe
// every 2 s; 4 s segments; 20 events on 4 cameras with 2 s pre-roll and
// 1 s post-roll; a 1-hour call; 50 cameras through a 60 s outage (10 min
// with ATTENDANT_BENCH_LONG=1).
func recBenchConfig() recConfig {
	c := recConfig{
		prof:     cameraProfile{Width: 1280, Height: 720, FPS: 25, GOP: 50, Bitrate: "2M"},
		clipSecs: 10,
		segment:  4 * time.Second,

		counts:   []int{1, 10, 50},
		settle:   3 * time.Second,
		window:   10 * time.Second,
		memAfter: 18 * time.Second, // 10 s pre-roll + 5 s late-event margin + a GOP, and a second
		maxFor:   5 * time.Second,

		eventCams:  4,
		events:     20,
		eventEvery: 1500 * time.Millisecond,
		preRoll:    2 * time.Second,
		postRoll:   time.Second,

		ranges:      200,
		rangeSize:   64 << 10,
		rangeObject: 4 << 20,

		verifyObjects: 360,
		verifyObjSize: 80_000,
		verifyRuns:    3,

		outageCams:   50,
		outageSettle: 10 * time.Second,
		outage:       60 * time.Second,
		outageAfter:  5 * time.Second,
	}
	if os.Getenv("ATTENDANT_BENCH_LONG") == "1" {
		c.outage = 10 * time.Minute
	}
	return c
}

// recHarness runs the recording phases against one MinIO and one source
// clip. Each phase measures once; asked again it returns what it measured.
type recHarness struct {
	cfg    recConfig
	src    *source
	outSrc *source // the outage's, when its frame rate differs
	minio  *testenv.MinIOServer
	pid    int // MinIO's, for its CPU; 0 if not found
	res    recResults
}

func newRecHarness(tb testing.TB, cfg recConfig) *recHarness {
	tb.Helper()
	h := &recHarness{cfg: cfg}
	// encode before anything runs, so that ffmpeg is gone when measuring
	h.src = encodeSource(tb, cfg.prof, cfg.clipSecs)
	h.outSrc = h.src
	if cfg.outageFPS > 0 && cfg.outageFPS != cfg.prof.FPS {
		p := cfg.prof
		p.FPS, p.GOP = cfg.outageFPS, cfg.outageFPS*cfg.prof.GOP/cfg.prof.FPS
		h.outSrc = encodeSource(tb, p, cfg.clipSecs)
	}
	h.minio = testenv.MinIO(tb)
	h.pid = minioPID(h.minio.Endpoint)
	h.res.prof = cfg.prof
	h.res.srcKbps = float64(h.src.bytes) * 8 / 1000 / float64(cfg.clipSecs)
	h.res.gop = h.src.gopFrames()
	return h
}

// BenchmarkRecording measures the recorder of issue 5 in this process,
// against a real MinIO on loopback: CPU and memory per camera recording
// continuously at 1 to 50 cameras (frames copied, never re-encoded), one
// camera's maximum throughput, event → clips in storage, time to first
// byte of presigned range requests, verification of a 1-hour call, and
// the spool through an outage of the store. Each phase measures once
// whatever b.N is; run it with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkRecording -benchtime 1x ./bench/
//
// It prints a markdown table at the end (docs/benchmarks.md).
func BenchmarkRecording(b *testing.B) {
	cfg := recBenchConfig()
	h := newRecHarness(b, cfg)
	for _, n := range cfg.counts {
		b.Run(fmt.Sprintf("cameras=%d", n), func(b *testing.B) {
			w := h.recording(b, n)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(w.cpu.cores()*100, "%cpu")
			b.ReportMetric(w.cpu.cores()*100/float64(n), "%cpu/camera")
			b.ReportMetric(w.spooledMBps(), "MB/s-spooled")
			b.ReportMetric(float64(w.uploaded), "segments-uploaded")
			b.ReportMetric(float64(w.dropped), "dropped-frames")
			b.ReportMetric(kib(w.perCam.heap), "KiB-heap/camera")
		})
	}
	b.Run("max_throughput", func(b *testing.B) {
		m := h.maxThroughput(b)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(m.fps, "frames/s")
		b.ReportMetric(m.mbps(), "MB/s")
		b.ReportMetric(m.camerasPerCore(h.src), "cameras/core")
	})
	b.Run("event_clips", func(b *testing.B) {
		e := h.eventClips(b)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(ms(percentile(e.latencies(), 50)), "ms-p50")
		b.ReportMetric(ms(percentile(e.latencies(), 95)), "ms-p95")
	})
	b.Run("range_ttfb", func(b *testing.B) {
		rs := h.rangeTTFB(b)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(ms(percentile(rs[0].ttfb, 50)), "ms-p50")
		b.ReportMetric(ms(percentile(rs[0].ttfb, 95)), "ms-p95")
	})
	b.Run("verify", func(b *testing.B) {
		vs := h.verify(b)
		b.ReportMetric(0, "ns/op")
		for _, v := range vs {
			b.ReportMetric(v.median().Seconds(), "s-"+v.metric)
		}
	})
	b.Run("outage", func(b *testing.B) {
		o := h.outage(b)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(o.lostSeconds, "lost-s")
		b.ReportMetric(mib(o.peakPendingBytes), "MiB-peak-pending")
		b.ReportMetric(o.drain.Seconds(), "s-drain")
	})
	// once per run: it has sub-benchmarks, so the testing package calls it
	// once (per -count)
	fmt.Println()
	fmt.Println(h.res.table(cfg))
}

// TestRecordingBenchSmoke checks that the recording harness works, not how
// fast anything is: every phase, small, produces its figures without an
// error.
func TestRecordingBenchSmoke(t *testing.T) {
	cfg := recConfig{
		prof:     cameraProfile{Width: 320, Height: 240, FPS: 25, GOP: 25, Bitrate: "300k"},
		clipSecs: 2,
		segment:  time.Second,

		counts: []int{2},
		settle: 300 * time.Millisecond,
		window: 2 * time.Second,
		maxFor: time.Second,

		eventCams:  2,
		events:     2,
		eventEvery: 500 * time.Millisecond,
		preRoll:    time.Second,
		postRoll:   500 * time.Millisecond,

		ranges:      10,
		rangeSize:   16 << 10,
		rangeObject: 256 << 10,

		verifyObjects: 10,
		verifyObjSize: 8_000,
		verifyRuns:    1,

		outageCams:   2,
		outageSettle: 1500 * time.Millisecond,
		outage:       3 * time.Second,
		outageAfter:  500 * time.Millisecond,
		retryMax:     time.Second,
	}
	h := newRecHarness(t, cfg)

	w := h.recording(t, 2)
	if w.cpu.self <= 0 || w.frames <= 0 || w.spooledBytes <= 0 || w.uploaded <= 0 {
		t.Errorf("recording window: CPU %v, %d frames fed, %d bytes spooled, %d segments uploaded; want all > 0",
			w.cpu.self, w.frames, w.spooledBytes, w.uploaded)
	}
	if m := h.maxThroughput(t); m.frames <= 0 || m.fps <= 0 || m.cpu.self <= 0 {
		t.Errorf("max throughput: %+v", m)
	}
	if e := h.eventClips(t); len(e.latencies()) != cfg.events || e.missing > 0 {
		t.Errorf("event clips: %d events complete of %d, %d clips missing", len(e.latencies()), cfg.events, e.missing)
	}
	for _, r := range h.rangeTTFB(t) {
		if len(r.ttfb) != cfg.ranges {
			t.Errorf("range requests %s: %d timed of %d", r.name, len(r.ttfb), cfg.ranges)
		}
	}
	for _, v := range h.verify(t) {
		if !v.ok || len(v.runs) != cfg.verifyRuns || v.bytes <= 0 {
			t.Errorf("verify %s: ok %v, %d runs, %d bytes", v.name, v.ok, len(v.runs), v.bytes)
		}
	}
	if o := h.outage(t); o.segments <= 0 || o.drain <= 0 || o.peakPending <= 0 {
		t.Errorf("outage: %d segments indexed, drained in %v, peak %d pending; want all > 0", o.segments, o.drain, o.peakPending)
	}
	t.Logf("\n%s", h.res.table(cfg))
}
