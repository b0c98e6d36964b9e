//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/media/snapshot"
)

// harness is one server with one camera and the viewer process, measured
// phase by phase. Each phase runs once; asked again (a benchmark re-run
// with a larger b.N) it returns what it measured the first time.
type harness struct {
	srv   *server
	proc  *viewerProc
	camID string
	whep  string
	held  int           // viewers the viewer process holds now
	base  memory        // camera ingesting, no viewers
	gop   time.Duration // keyframe interval
	res   results
}

// results is everything measured, for the metrics and the table.
type results struct {
	prof   cameraProfile
	cam    media.CameraState // once the camera has run a GOP and a second
	camMem memory            // per camera: ingest started, no viewers
	idle   *window           // no viewers: the ingest alone
	fanout []fanout

	joins   []joinTiming // time to first frame
	joinErr string

	snapCold   time.Duration // the very first snapshot: a decode
	snapCached []time.Duration
	snapFresh  []time.Duration
	snapStats  snapshot.Stats

	churn *churn

	// ref is mediamtx serving the same camera to the same viewers, when
	// ATTENDANT_BENCH_MEDIAMTX names its binary
	ref *refRelay
}

// window is one measurement window of the server's CPU and what left it.
type window struct {
	elapsed   time.Duration
	cpu       time.Duration // this process: user + system
	pkts      int64         // RTP packets received by all viewers
	bytes     int64
	minPkts   int64 // the least any one viewer received
	drops     uint64
	viewers   int
	viewerCPU time.Duration // the viewer process: viewers and camera relay
	machine   float64       // share of the machine's CPUs busy, everything included
}

func (w *window) cores() float64    { return w.cpu.Seconds() / w.elapsed.Seconds() }
func (w *window) pktRate() float64  { return float64(w.pkts) / w.elapsed.Seconds() }
func (w *window) usPerPkt() float64 { return float64(w.cpu.Microseconds()) / float64(w.pkts) }
func (w *window) mbitPerViewer() float64 {
	return float64(w.bytes) * 8 / w.elapsed.Seconds() / float64(w.viewers) / 1e6
}

// fanout is the server with n viewers watching.
type fanout struct {
	n         int
	w         window
	perViewer memory
}

// overIdleUs is the CPU per outgoing packet above what the ingest costs
// alone: the cost of forwarding.
func (f *fanout) overIdleUs(idle *window) float64 {
	return (f.w.cores() - idle.cores()) * 1e6 / f.w.pktRate()
}

// viewersPerCore is how many viewers of this stream one core forwards to,
// from the CPU above idle.
func (f *fanout) viewersPerCore(idle *window) float64 {
	extra := f.w.cores() - idle.cores()
	if extra <= 0 {
		return 0
	}
	return float64(f.n) / extra
}

// churn is viewers joining and leaving, and the goroutines before and after.
type churn struct {
	n, failed           int
	firstFail           string
	before, peak, after int
	viewersAfter        int
	elapsed             time.Duration
}

// harnessConfig sizes a run: the benchmark's or the smoke test's.
type harnessConfig struct {
	prof   cameraProfile
	window time.Duration // CPU measurement window
	settle time.Duration // after viewers join, before measuring
}

func newHarness(tb testing.TB, cfg harnessConfig) *harness {
	tb.Helper()
	h := &harness{camID: "bench", res: results{prof: cfg.prof}}
	h.srv = startServer(tb)
	h.proc = startViewerProc(tb, cfg.prof)
	h.whep = h.srv.whepURL(h.camID)
	h.gop = time.Duration(cfg.prof.GOP) * time.Second / time.Duration(cfg.prof.FPS)
	before := liveMemory()
	h.srv.addCamera(tb, h.camID, h.proc.cameraURL)
	time.Sleep(time.Second) // the rates in the state worth reading
	h.base = h.memoryFullGOP(tb)
	h.res.camMem = h.base.sub(before)
	h.res.cam, _ = h.srv.m.State(h.camID)
	return h
}

// measure runs one window: the CPU this process used, and what the viewers
// received meanwhile.
func (h *harness) measure(tb testing.TB, d time.Duration) window {
	tb.Helper()
	return h.measureCPU(tb, d, func() time.Duration { return cpuTime(tb) })
}

// measureCPU runs one window: the CPU cpu reports (the server under test:
// this process, or a reference relay), and what the viewers received.
func (h *harness) measureCPU(tb testing.TB, d time.Duration, cpu func() time.Duration) window {
	tb.Helper()
	st0, _ := h.srv.m.State(h.camID)
	s0 := h.proc.do(tb, command{Op: "stats"}, 10*time.Second)
	b0, m0 := machineTicks()
	c0, t0 := cpu(), time.Now()
	time.Sleep(d)
	c1, t1 := cpu(), time.Now()
	b1, m1 := machineTicks()
	s1 := h.proc.do(tb, command{Op: "stats"}, 10*time.Second)
	st1, _ := h.srv.m.State(h.camID)
	w := window{
		elapsed: t1.Sub(t0), cpu: c1 - c0,
		pkts: s1.Pkts - s0.Pkts, bytes: s1.Bytes - s0.Bytes,
		drops: st1.ViewerDrops - st0.ViewerDrops, viewers: len(s1.PerViewer),
		viewerCPU: s1.CPU - s0.CPU,
	}
	if m1 > m0 {
		w.machine = float64(b1-b0) / float64(m1-m0)
	}
	if len(s0.PerViewer) == len(s1.PerViewer) {
		for i := range s1.PerViewer {
			if got := s1.PerViewer[i] - s0.PerViewer[i]; i == 0 || got < w.minPkts {
				w.minPkts = got
			}
		}
	}
	return w
}

// memoryFullGOP measures memory just before a keyframe, when the GOP cache
// is at its largest: measured anywhere in the GOP it holds 0 to 2 s of
// video (0 to 500 KB at 2 Mbit/s), which would swamp per-viewer figures.
func (h *harness) memoryFullGOP(tb testing.TB) memory {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*h.gop+10*time.Second)
	defer cancel()
	if _, err := h.srv.m.Keyframe(ctx, h.camID, true); err != nil {
		tb.Fatalf("wait for a keyframe: %v", err)
	}
	time.Sleep(h.gop - 200*time.Millisecond)
	return liveMemory()
}

// leave makes the viewer process close every viewer it holds.
func (h *harness) leave(tb testing.TB) {
	tb.Helper()
	if h.held > 0 {
		h.proc.do(tb, command{Op: "leave"}, time.Minute)
		h.held = 0
	}
}

// idleWindow measures the server with the camera and no viewers.
func (h *harness) idleWindow(tb testing.TB, d time.Duration) *window {
	tb.Helper()
	if h.res.idle == nil {
		h.leave(tb)
		w := h.measure(tb, d)
		h.res.idle = &w
	}
	return h.res.idle
}

// fanout measures the server with n viewers watching (joining the missing
// ones; viewers persist from one fanout to the next).
func (h *harness) fanout(tb testing.TB, n int, cfg harnessConfig) *fanout {
	tb.Helper()
	for i := range h.res.fanout {
		if h.res.fanout[i].n == n {
			return &h.res.fanout[i]
		}
	}
	h.idleWindow(tb, cfg.window)
	if h.held > n {
		h.leave(tb)
	}
	if h.held < n {
		h.proc.do(tb, command{Op: "join", URL: h.whep, N: n - h.held, Concurrency: 10}, 2*time.Minute)
		h.held = n
	}
	time.Sleep(cfg.settle) // start-up GOP bursts and first RTCP exchanges over
	f := fanout{n: n, w: h.measure(tb, cfg.window)}
	m := h.memoryFullGOP(tb).sub(h.base)
	heapProfile(tb, fmt.Sprintf("viewers-%d", n))
	f.perViewer = memory{heap: m.heap / int64(n), stacks: m.stacks / int64(n)}
	h.res.fanout = append(h.res.fanout, f)
	return &h.res.fanout[len(h.res.fanout)-1]
}

// firstFrames has n viewers join one after the other on an otherwise idle
// server, each leaving after its first frame.
func (h *harness) firstFrames(tb testing.TB, n int) []joinTiming {
	tb.Helper()
	if h.res.joins == nil {
		h.leave(tb)
		rep := h.proc.do(tb, command{Op: "churn", URL: h.whep, N: n, Concurrency: 1}, time.Duration(n)*joinTimeout)
		if rep.Failed > 0 {
			h.res.joinErr = fmt.Sprintf("%d of %d joins failed, first: %s", rep.Failed, n, rep.FirstFail)
			tb.Error(h.res.joinErr)
		}
		h.res.joins = rep.Joins
	}
	return h.res.joins
}

// churn has n viewers join (answer, ICE, DTLS, first frame) and leave
// (WHEP DELETE, PeerConnection closed), conc at a time, and counts this
// process's goroutines before, at the peak and after they settle.
func (h *harness) churn(tb testing.TB, n, conc int) *churn {
	tb.Helper()
	if h.res.churn != nil {
		return h.res.churn
	}
	h.leave(tb)
	c := &churn{n: n}
	c.before = stableGoroutines(5 * time.Second)
	c.peak = c.before
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				c.peak = max(c.peak, runtime.NumGoroutine())
			}
		}
	})
	start := time.Now()
	rep := h.proc.do(tb, command{Op: "churn", URL: h.whep, N: n, Concurrency: conc}, 10*time.Minute)
	c.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	c.peak = max(c.peak, runtime.NumGoroutine())
	c.failed, c.firstFail = rep.Failed, rep.FirstFail
	c.after = goroutinesDownTo(c.before, 30*time.Second)
	st, _ := h.srv.m.State(h.camID)
	c.viewersAfter = st.Viewers
	if c.after > c.before {
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		tb.Logf("%d goroutines more than before %d joins and leaves; all stacks (first 16 KiB):\n%.16384s",
			c.after-c.before, n, stacks)
	}
	h.res.churn = c
	return c
}

// snapshots takes the first snapshot (a decode), then cached ones every
// 100 ms, so that new keyframes arrive meanwhile as they would in use, then
// fresh ones back to back (each waits for the next keyframe).
func (h *harness) snapshots(tb testing.TB, cached, fresh int) {
	tb.Helper()
	take := func(fresh bool) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		jpg, err := h.srv.snapshot(ctx, h.camID, fresh)
		d := time.Since(start)
		if err != nil {
			tb.Fatalf("snapshot (fresh %v): %v", fresh, err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(jpg))
		if err != nil || cfg.Width != h.res.prof.Width || cfg.Height != h.res.prof.Height {
			tb.Fatalf("snapshot is not a %dx%d JPEG: %+v, %v", h.res.prof.Width, h.res.prof.Height, cfg, err)
		}
		return d
	}
	if h.res.snapCold == 0 {
		h.res.snapCold = take(false)
	}
	for len(h.res.snapCached) < cached {
		time.Sleep(100 * time.Millisecond)
		h.res.snapCached = append(h.res.snapCached, take(false))
	}
	for len(h.res.snapFresh) < fresh {
		h.res.snapFresh = append(h.res.snapFresh, take(true))
	}
	h.res.snapStats = h.srv.snaps.Stats()
}

// table renders the results as markdown: the fan-out table, then every
// figure next to the aim.
func (r *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Camera: %s; ingest reports %.1f fps, %.0f kbit/s, keyframe every %.1f s.\n\n",
		r.prof, r.cam.FPS, r.cam.BitrateKbps, r.cam.KeyframeInterval)
	if r.idle != nil {
		fmt.Fprintf(&b, "| viewers | out pkt/s | server CPU (cores) | µs CPU / out pkt | µs / out pkt over idle | viewers / core | Mbit/s per viewer | heap / viewer | stacks / viewer | drops | viewer process CPU (cores) | machine busy |\n")
		fmt.Fprintf(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| 0 (ingest only) | – | %.3f | – | – | – | – | – | – | – | %.3f | %.0f %% |\n",
			r.idle.cores(), r.idle.viewerCPU.Seconds()/r.idle.elapsed.Seconds(), r.idle.machine*100)
		for i := range r.fanout {
			f := &r.fanout[i]
			fmt.Fprintf(&b, "| %d | %.0f | %.3f | %.1f | %.1f | %.0f | %.2f | %.0f KiB | %.0f KiB | %d | %.3f | %.0f %% |\n",
				f.n, f.w.pktRate(), f.w.cores(), f.w.usPerPkt(), f.overIdleUs(r.idle), f.viewersPerCore(r.idle),
				f.w.mbitPerViewer(), kib(f.perViewer.heap), kib(f.perViewer.stacks), f.w.drops,
				f.w.viewerCPU.Seconds()/f.w.elapsed.Seconds(), f.w.machine*100)
		}
		b.WriteString("\n")
		r.refTable(&b)
	}
	fmt.Fprintf(&b, "| measure | result | aim | met |\n|---|---|---|---|\n")
	row := func(measure, result, aim string, met *bool) {
		m := ""
		if met != nil {
			m = map[bool]string{true: "yes", false: "**no**"}[*met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", measure, result, aim, m)
	}
	yes := func(ok bool) *bool { return &ok }
	if len(r.fanout) > 0 && r.idle != nil {
		f := &r.fanout[len(r.fanout)-1]
		us := f.overIdleUs(r.idle)
		row(fmt.Sprintf("CPU per outgoing packet, %d viewers (over idle; total)", f.n),
			fmt.Sprintf("%.1f µs (%.1f µs)", us, f.w.usPerPkt()), "≤ 10 µs", yes(us <= 10))
		vpc := f.viewersPerCore(r.idle)
		row(fmt.Sprintf("viewers of this stream per core, from %d viewers", f.n), fmt.Sprintf("%.0f", vpc), "≥ 400", yes(vpc >= 400))
		row(fmt.Sprintf("memory per viewer, %d viewers", f.n),
			fmt.Sprintf("%.0f KiB heap + %.0f KiB stacks", kib(f.perViewer.heap), kib(f.perViewer.stacks)), "", nil)
	}
	row("memory per camera (ingest, a full GOP cached; no viewers)",
		fmt.Sprintf("%.0f KiB heap + %.0f KiB stacks", kib(r.camMem.heap), kib(r.camMem.stacks)), "", nil)
	if len(r.joins) > 0 {
		ff := make([]time.Duration, len(r.joins))
		an := make([]time.Duration, len(r.joins))
		for i, j := range r.joins {
			ff[i], an[i] = j.FirstFrame, j.Answer
		}
		p95 := percentile(ff, 95)
		row(fmt.Sprintf("first frame after the offer, %d joins: p50 / p95 / max", len(ff)),
			fmt.Sprintf("%.0f / %.0f / %.0f ms", ms(percentile(ff, 50)), ms(p95), ms(slices.Max(ff))), "≤ 300 ms", yes(p95 <= 300*time.Millisecond))
		row("of which the WHEP answer (offer posted → 201): p50 / p95",
			fmt.Sprintf("%.1f / %.1f ms", ms(percentile(an, 50)), ms(percentile(an, 95))), "", nil)
		if r.joinErr != "" {
			row("failed joins", r.joinErr, "none", yes(false))
		}
	}
	if r.snapCold > 0 {
		row("snapshot, first request (ffmpeg decode)", fmt.Sprintf("%.0f ms", ms(r.snapCold)), "", nil)
	}
	if len(r.snapCached) > 0 {
		p95 := percentile(r.snapCached, 95)
		row(fmt.Sprintf("snapshot cached, %d requests 100 ms apart: p50 / p95 / max", len(r.snapCached)),
			fmt.Sprintf("%.2f / %.2f / %.0f ms", ms(percentile(r.snapCached, 50)), ms(p95), ms(slices.Max(r.snapCached))),
			"p95 ≤ 50 ms", yes(p95 <= 50*time.Millisecond))
	}
	if len(r.snapFresh) > 0 {
		gop := time.Duration(r.prof.GOP) * time.Second / time.Duration(r.prof.FPS)
		aim := gop + 300*time.Millisecond
		worst := slices.Max(r.snapFresh)
		row(fmt.Sprintf("snapshot fresh, %d back to back: p50 / max", len(r.snapFresh)),
			fmt.Sprintf("%.0f / %.0f ms", ms(percentile(r.snapFresh, 50)), ms(worst)),
			fmt.Sprintf("≤ keyframe interval + 300 ms = %.0f ms", ms(aim)), yes(worst <= aim))
	}
	if s := r.snapStats; s.Decodes > 0 {
		row("snapshotter counters", fmt.Sprintf("%d decodes, %d cache hits, %d joined a running decode, %d warm decodes",
			s.Decodes, s.CacheHits, s.Shared, s.WarmStarted), "", nil)
	}
	if c := r.churn; c != nil {
		row(fmt.Sprintf("goroutines around %d viewer joins + leaves (%d failed, %.0f s): before / peak / after", c.n, c.failed, c.elapsed.Seconds()),
			fmt.Sprintf("%d / %d / %d; camera reports %d viewers after", c.before, c.peak, c.after, c.viewersAfter),
			"flat", yes(c.after <= c.before && c.viewersAfter == 0 && c.failed == 0))
	}
	return b.String()
}
