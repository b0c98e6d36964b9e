//go:build linux

package bench

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// benchConfig is the stream: 720p at 2 Mbit/s, a keyframe every 2 s.
var benchConfig = harnessConfig{
	prof:   cameraProfile{Width: 1280, Height: 720, FPS: 25, GOP: 50, Bitrate: "2M"},
	window: 5 * time.Second,
	settle: 2 * time.Second,
}

// Sizes of the phases.
const (
	firstFrameJoins = 20
	cachedSnapshots = 50
	freshSnapshots  = 5
	churnJoins      = 1000
	churnConcurrent = 10
)

var viewerCounts = []int{1, 10, 50, 100}

// BenchmarkCamera measures one camera end to end: the CPU of this process
// (the server: ingest, fan-out, SRTP, sends, WHEP; the camera and the
// viewers run in a child process) per packet sent to viewers at 1 to 100
// viewers, memory per camera and per viewer, time to first frame, snapshot
// latency and goroutines around 1,000 joins and leaves. Each phase measures
// once whatever b.N is; run it with -benchtime 1x:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/
//
// It prints a markdown table at the end (docs/benchmarks.md).
func BenchmarkCamera(b *testing.B) {
	h := newHarness(b, benchConfig)
	b.Run("idle", func(b *testing.B) {
		w := h.idleWindow(b, benchConfig.window)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(w.cores()*100, "%cpu")
		b.ReportMetric(kib(h.res.camMem.heap), "KiB-heap/camera")
		b.ReportMetric(kib(h.res.camMem.stacks), "KiB-stack/camera")
	})
	for _, n := range viewerCounts {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			f := h.fanout(b, n, benchConfig)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(f.w.pktRate(), "outpkt/s")
			b.ReportMetric(f.w.cores()*100, "%cpu")
			b.ReportMetric(f.w.usPerPkt(), "us-cpu/outpkt")
			b.ReportMetric(f.overIdleUs(h.res.idle), "us-cpu-over-idle/outpkt")
			b.ReportMetric(f.viewersPerCore(h.res.idle), "viewers/core")
			b.ReportMetric(kib(f.perViewer.heap), "KiB-heap/viewer")
			b.ReportMetric(kib(f.perViewer.stacks), "KiB-stack/viewer")
			b.ReportMetric(float64(f.w.drops), "drops")
			if f.w.minPkts == 0 {
				b.Errorf("a viewer received nothing in the window")
			}
		})
	}
	b.Run("mediamtx", func(b *testing.B) {
		bin := os.Getenv(mediamtxEnv)
		if bin == "" {
			b.Skipf("set %s to a mediamtx binary (v1.14.0, built outside the repository: docs/benchmarks.md) to measure it side by side", mediamtxEnv)
		}
		ref := h.reference(b, bin, viewerCounts, benchConfig)
		f := &ref.fanout[len(ref.fanout)-1]
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(f.w.usPerPkt(), "us-cpu/outpkt")
		b.ReportMetric(f.overIdleUs(ref.idle), "us-cpu-over-idle/outpkt")
		b.ReportMetric(f.viewersPerCore(ref.idle), "viewers/core")
	})
	b.Run("first_frame", func(b *testing.B) {
		js := h.firstFrames(b, firstFrameJoins)
		ff := make([]time.Duration, len(js))
		for i, j := range js {
			ff[i] = j.FirstFrame
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(ms(percentile(ff, 50)), "ms-p50")
		b.ReportMetric(ms(percentile(ff, 95)), "ms-p95")
	})
	b.Run("goroutines", func(b *testing.B) {
		c := h.churn(b, churnJoins, churnConcurrent)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(c.before), "goroutines-before")
		b.ReportMetric(float64(c.after), "goroutines-after")
		b.ReportMetric(float64(c.failed), "failed-joins")
	})
	b.Run("snapshot", func(b *testing.B) {
		h.snapshots(b, cachedSnapshots, freshSnapshots)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(ms(h.res.snapCold), "ms-first")
		b.ReportMetric(ms(percentile(h.res.snapCached, 50)), "ms-cached-p50")
		b.ReportMetric(ms(percentile(h.res.snapCached, 95)), "ms-cached-p95")
		b.ReportMetric(ms(percentile(h.res.snapFresh, 50)), "ms-fresh-p50")
		b.ReportMetric(ms(percentile(h.res.snapFresh, 100)), "ms-fresh-max")
	})
	// once per run of BenchmarkCamera: it has sub-benchmarks, so the testing
	// package calls it once (per -count)
	fmt.Println()
	fmt.Println(h.res.table())
}

// TestHarnessSmoke checks that the harness works, not how fast anything is:
// a small camera, two viewers for two seconds, packets flowing, positive
// figures, a first frame, a few joins and leaves and a snapshot.
func TestHarnessSmoke(t *testing.T) {
	cfg := harnessConfig{
		prof:   cameraProfile{Width: 640, Height: 360, FPS: 25, GOP: 25, Bitrate: "500k"},
		window: 2 * time.Second,
		settle: 500 * time.Millisecond,
	}
	h := newHarness(t, cfg)
	idle := h.idleWindow(t, time.Second)
	f := h.fanout(t, 2, cfg)
	if f.w.pkts <= 0 || f.w.minPkts <= 0 {
		t.Errorf("packets in the window: %d in all, %d to the least served viewer; want both > 0", f.w.pkts, f.w.minPkts)
	}
	if f.w.cpu <= 0 || idle.cpu <= 0 || f.w.usPerPkt() <= 0 {
		t.Errorf("CPU: %v with viewers, %v idle, %.1f µs per packet; want all > 0", f.w.cpu, idle.cpu, f.w.usPerPkt())
	}
	for _, j := range h.firstFrames(t, 2) {
		if j.Answer <= 0 || j.FirstFrame < j.Answer {
			t.Errorf("join timing %+v: want 0 < answer ≤ first frame", j)
		}
	}
	if c := h.churn(t, 4, 2); c.failed > 0 || c.before <= 0 {
		t.Errorf("churn: %+v", c)
	}
	h.snapshots(t, 1, 0)
	if bin := os.Getenv(mediamtxEnv); bin != "" { // opt-in: mediamtx is not in CI
		if ref := h.reference(t, bin, []int{2}, cfg); ref.fanout[0].w.minPkts <= 0 {
			t.Errorf("mediamtx: a viewer received nothing in the window")
		}
	}
	t.Logf("\n%s", h.res.table())
}
