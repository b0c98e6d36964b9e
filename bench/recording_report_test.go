//go:build linux

package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// table renders the recording results as markdown: the per-camera-count
// table, then every figure next to the aim.
func (r *recResults) table(cfg recConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Source: %s, %d s looped; %.0f kbit/s of video, keyframe every %d frames. Store: MinIO on loopback; database: SQLite.\n\n",
		r.prof, cfg.clipSecs, r.srcKbps, r.gop)
	if len(r.windows) > 0 {
		b.WriteString("| cameras | fps / camera | Mbit/s in / camera | server CPU | CPU / camera | CPU / camera over harness | cameras / core | MB/s into spool | segments spooled / uploaded | waiting at end | dropped frames | lost segments | heap / camera | MinIO CPU | machine busy |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		if hw := r.harness; hw != nil {
			fmt.Fprintf(&b, "| 0 (feeder for %d, nothing records) | %.1f | %.2f | %.1f %% | – | – | – | – | – | – | – | – | – | %.1f %% | %.0f %% |\n",
				hw.n, hw.fpsPerCam(), hw.inMbitPerCam(), hw.cpu.cores()*100, hw.cpu.minioCores()*100, hw.cpu.machine*100)
		}
		for i := range r.windows {
			w := &r.windows[i]
			over := w.overHarness(r.harness)
			perCore := "–"
			if over > 0 {
				perCore = fmt.Sprintf("%.0f", 1/over)
			}
			fmt.Fprintf(&b, "| %d | %.1f | %.2f | %.1f %% | %.2f %% | %.2f %% | %s | %.2f | %d / %d | %d | %d | %d | %.0f KiB | %.1f %% | %.0f %% |\n",
				w.n, w.fpsPerCam(), w.inMbitPerCam(), w.cpu.cores()*100, w.cpu.cores()*100/float64(w.n), over*100, perCore,
				w.spooledMBps(), w.segments, w.uploaded, w.pendingEnd, w.dropped, w.lost, kib(w.perCam.heap),
				w.cpu.minioCores()*100, w.cpu.machine*100)
		}
		b.WriteString("\n")
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
	if n := len(r.windows); n > 0 {
		w := &r.windows[n-1]
		row(fmt.Sprintf("CPU per recorded camera, %d cameras (over the feeder; total)", w.n),
			fmt.Sprintf("%.2f %% of a core (%.2f %%)", w.overHarness(r.harness)*100, w.cpu.cores()*100/float64(w.n)), "", nil)
		row(fmt.Sprintf("recording throughput, %d cameras in real time", w.n),
			fmt.Sprintf("%.1f MB/s into the spool, %d segments uploaded in %.0f s, %d frames dropped", w.spooledMBps(), w.uploaded,
				w.cpu.elapsed.Seconds(), w.dropped), "", nil)
		row(fmt.Sprintf("memory per recorded camera, %d cameras (pre-roll ring full)", w.n),
			fmt.Sprintf("%.1f MiB heap + %.0f KiB stacks", mib(w.perCam.heap), kib(w.perCam.stacks)), "", nil)
	}
	if m := r.max; m != nil {
		row("one camera as fast as it records (frames copied, muxed, spooled, uploaded, indexed)",
			fmt.Sprintf("%.0f frames/s = %.1f MB/s = %.0f× real time; all uploaded %.1f s after the last frame", m.fps, m.mbps(),
				m.fps/float64(r.prof.FPS), m.drain.Seconds()), "", nil)
		row("CPU per recorded frame, everything included → real-time cameras per core",
			fmt.Sprintf("%.0f µs → %.0f", float64(m.cpuPerFrame().Microseconds()), float64(time.Second)/float64(max(m.cpuPerFrame(), 1))/float64(r.prof.FPS)),
			"", nil)
	}
	if e := r.events; e != nil {
		lat := e.latencies()
		if len(lat) > 0 {
			p95 := percentile(lat, 95)
			row(fmt.Sprintf("event → all %d clips in storage and indexed, %d events: p50 / p95 / max", e.cams, len(lat)),
				fmt.Sprintf("%.0f / %.0f / %.0f ms", ms(percentile(lat, 50)), ms(p95), ms(slices.Max(lat))), "p95 ≤ 2 s",
				yes(p95 <= 2*time.Second && e.missing == 0))
		}
		if e.missing > 0 {
			row("event clips never indexed", fmt.Sprint(e.missing), "none", yes(false))
		}
		cut, queue, upload, index := e.stages()
		if len(cut) > 0 {
			st := func(d []time.Duration) string {
				return fmt.Sprintf("%.0f / %.0f", ms(percentile(d, 50)), ms(percentile(d, 95)))
			}
			row("of which, per clip (ms, p50 / p95): span end → spooled; waiting to upload; upload; upload → index row",
				fmt.Sprintf("%s; %s; %s; %s", st(cut), st(queue), st(upload), st(index)), "", nil)
		}
	}
	for _, t := range r.ttfb {
		if len(t.ttfb) == 0 {
			continue
		}
		p95 := percentile(t.ttfb, 95)
		measure := fmt.Sprintf("range request, %.0f KiB of a %s object, time to first byte, %s, %d sequential: p50 / p95 / max",
			kib(cfg.rangeSize), size(cfg.rangeObject), t.name, len(t.ttfb))
		result := fmt.Sprintf("%.1f / %.1f / %.1f ms (whole response p50 %.1f ms)", ms(percentile(t.ttfb, 50)), ms(p95),
			ms(slices.Max(t.ttfb)), ms(percentile(t.total, 50)))
		if t.aim {
			row(measure, result, "p95 ≤ 300 ms on loopback", yes(p95 <= 300*time.Millisecond))
		} else {
			row(measure, result, "", nil)
		}
	}
	for _, v := range r.verify {
		med := v.median()
		result := fmt.Sprintf("%.3f s (%.0f MB/s)", med.Seconds(), float64(v.bytes)/1e6/med.Seconds())
		if len(v.runs) > 1 {
			result = fmt.Sprintf("%.3f s median of %d, max %.3f s (%.0f MB/s)", med.Seconds(), len(v.runs), slices.Max(v.runs).Seconds(),
				float64(v.bytes)/1e6/med.Seconds())
		}
		aim := "≤ 2 s"
		if !v.ok {
			result += "; **verification failed**"
		}
		row(fmt.Sprintf("verify a 1-hour call, %s (%.1f MB)", v.name, float64(v.bytes)/1e6), result, aim, yes(med <= 2*time.Second && v.ok))
	}
	if o := r.outage; o != nil {
		row(fmt.Sprintf("outage: %d cameras at %d fps, the store down for", o.cams, o.fps),
			fmt.Sprintf("%.1f s (recording for %.0f s in all)", o.down.Seconds(), o.recorded.Seconds()), "", nil)
		row("spool at its peak: entries waiting / bytes waiting (of the bound)",
			fmt.Sprintf("%d / %.0f MiB (%.0f MiB used of %.0f MiB)", o.peakPending, mib(o.peakPendingBytes), mib(o.peakUsedBytes), mib(o.maxBytes)), "", nil)
		drain := fmt.Sprintf("first upload after %.1f s, backlog gone after %.1f s", o.firstUpload.Seconds(), o.drain.Seconds())
		if o.drainErr != "" {
			drain += " — " + o.drainErr
		}
		row("after the store returns", drain, "", nil)
		lost := fmt.Sprintf("%.2f s over %d cameras (worst camera %.2f s); %d segments indexed", o.lostSeconds, o.cams, o.worstCamLost, o.segments)
		if d := o.gapSeconds - o.lostSeconds; d > 0.001 || d < -0.001 {
			lost += fmt.Sprintf("; holes between segments %.2f s", o.gapSeconds)
		}
		row("lost seconds: Σ (last segment end − first start − Σ segment durations)", lost, "0", yes(o.lostSeconds < 0.001 && o.gapSeconds < 0.001))
		row("lost segments / dropped frames / spool full refusals / failed upload attempts",
			fmt.Sprintf("%d / %d / %d / %d", o.lostSegments, o.droppedFrames, o.fullRejections, o.failures), "0 / 0 / 0 / –",
			yes(o.lostSegments == 0 && o.droppedFrames == 0 && o.fullRejections == 0))
	}
	return b.String()
}

// size is a byte count in MiB, or in KiB below one MiB.
func size(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", kib(b))
	}
	return fmt.Sprintf("%.0f MiB", mib(b))
}
