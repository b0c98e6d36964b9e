//go:build linux

package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// table renders the call results as markdown: one row per number of
// calls held, then every figure next to the aim.
func (r *callResults) table(cfg callConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Calls: sipp robots (PCMU, tone.wav looped with rtp_stream) bridged to pion agents in a child process "+
		"(20 ms PCMU from a ticker); every answered call recorded; SQLite and a local object store. "+
		"Window %v after %v of settling.\n\n", cfg.window, cfg.settle)
	if len(r.windows) > 0 && r.idle != nil {
		fmt.Fprintf(&b, "Idle server (%d agents connected, %d robots registered, no call): %.1f %% of a core.\n\n", cfg.pairs, cfg.pairs, r.idle.cores()*100)
		b.WriteString("| calls | server CPU | CPU / call over idle | calls / core over idle | heap / call | stacks / call | loss robot→agent | loss agent→robot (through the server) | jitter robot→agent p50 / max | UDP drops (server, agents) | setup INVITE→200 p50 / max | agent process CPU | sipp CPU | machine busy |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for i := range r.windows {
			w := &r.windows[i]
			fmt.Fprintf(&b, "| %d | %.1f %% | %.2f %% | %.0f | %.0f KiB | %.0f KiB | %s | %s | %s | %d | %s | %.1f %% | %.1f %% | %.0f %% |\n",
				w.n, w.cores()*100, w.overIdle(r.idle)*100, w.callsPerCoreOverIdle(r.idle), kib(w.perCall.heap), kib(w.perCall.stacks),
				lossOf(w.r2aRx, w.r2aExpected), lossOf(w.a2rForwarded, w.a2rSent), jitterOf(w.jitterMs), w.udpDrops,
				setupOf(w.setups), w.agentCPU.Seconds()/w.elapsed.Seconds()*100, w.sippCPU.Seconds()/w.elapsed.Seconds()*100,
				w.machine*100)
		}
		b.WriteString("\n")
	}
	if len(r.floors) > 0 {
		b.WriteString("The floor: the same packets through a bare UDP relay in the server's place (two loopback sockets a call, " +
			"a goroutine reading each, one recvmsg and one sendto per packet; no SIP, SRTP or recording), same run:\n\n")
		b.WriteString("| calls | relay CPU | relay calls / core | received back / sent over the window | server CPU ÷ relay CPU |\n|---:|---:|---:|---:|---:|\n")
		for i := range r.floors {
			f := &r.floors[i]
			ratio := "–"
			if w := r.window(f.n); w != nil && f.cores() > 0 {
				ratio = fmt.Sprintf("%.1f×", w.cores()/f.cores())
			}
			fmt.Fprintf(&b, "| %d | %.1f %% | %.0f | %s | %s |\n", f.n, f.cores()*100, f.callsPerCore(), fmt.Sprintf("%d / %d", f.relayed, f.sent), ratio)
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
		best := w
		for i := range r.windows {
			if c := &r.windows[i]; c.callsPerCoreOverIdle(r.idle) > best.callsPerCoreOverIdle(r.idle) {
				best = c
			}
		}
		cpc := best.callsPerCoreOverIdle(r.idle)
		row("bridged G.711 calls per core of the server, over idle, best row",
			fmt.Sprintf("%.0f at %d calls (%.2f %% of a core per call; %.0f counting the idle server too)", cpc, best.n,
				best.overIdle(r.idle)*100, best.callsPerCore()), "≥ 400", yes(cpc >= 400))
		if f := r.floorOf(best.n); f != nil {
			row(fmt.Sprintf("the machine's floor at %d calls: the same packets through a bare UDP relay, same run", best.n),
				fmt.Sprintf("%.0f calls per core; the server uses %.1f× the relay's CPU", f.callsPerCore(), best.cores()/f.cores()), "", nil)
		}
		worst := 0.0
		for i := range r.windows {
			worst = max(worst, r.windows[i].r2aLoss(), r.windows[i].a2rLoss())
		}
		row(fmt.Sprintf("packet loss, worst direction over %d to %d calls", r.windows[0].n, w.n), fmt.Sprintf("%.3f %%", worst*100), "< 0.5 %", yes(worst < 0.005))
		per := w.perCall.heap + w.perCall.stacks
		row(fmt.Sprintf("memory per call, %d calls (heap after GC + stacks, over the idle server)", w.n),
			fmt.Sprintf("%.0f KB (%.0f KiB heap + %.0f KiB stacks)", float64(per)/1000, kib(w.perCall.heap), kib(w.perCall.stacks)),
			"≤ 250 KB", yes(per <= 250_000))
		row(fmt.Sprintf("interarrival jitter robot→agent (RFC 3550), %d calls: p50 / max over calls", w.n), jitterOf(w.jitterMs),
			"", nil)
	}
	for i := range r.setups {
		s := &r.setups[i]
		if len(s.invite) == 0 {
			row(fmt.Sprintf("call setups at %d/s", s.rate), "no setup timed: "+s.failed, "", yes(false))
			continue
		}
		res := fmt.Sprintf("%.0f / %.0f / %.0f ms; %.1f setups/s achieved", ms(percentile(s.invite, 50)), ms(percentile(s.invite, 99)),
			ms(slices.Max(s.invite)), s.achieved)
		if len(s.agent) > 0 {
			res += fmt.Sprintf("; of which ringing → answered at the agent p50 / p99 %.0f / %.0f ms", ms(percentile(s.agent, 50)),
				ms(percentile(s.agent, 99)))
		}
		if len(s.audio) > 0 {
			res += fmt.Sprintf("; accept → the robot's first audio at the agent p50 / p99 / max %.0f / %.0f / %.0f ms", ms(percentile(s.audio, 50)),
				ms(percentile(s.audio, 99)), ms(slices.Max(s.audio)))
		}
		if len(s.invite) != s.calls || s.failed != "" {
			res += fmt.Sprintf("; **%d of %d timed** %s", len(s.invite), s.calls, s.failed)
		}
		row(fmt.Sprintf("call setup INVITE → 200 OK at the robot, %d calls at %d/s held %v: p50 / p99 / max", s.calls, s.rate,
			cfg.setupHold), res, "", nil)
	}
	var audio []time.Duration
	for i := range r.setups {
		audio = append(audio, r.setups[i].audio...)
	}
	if len(audio) > 0 {
		p99 := percentile(audio, 99)
		row(fmt.Sprintf("audio plays within a second of accepting: accept → the robot's first audio packet at the agent, %d calls of the setup phases, p50 / p99 / max",
			len(audio)), fmt.Sprintf("%.0f / %.0f / %.0f ms", ms(percentile(audio, 50)), ms(p99), ms(slices.Max(audio))), "≤ 1 s",
			yes(p99 <= time.Second))
	}
	if c := r.churn; c != nil {
		row(fmt.Sprintf("goroutines around %d calls (%d/s, held %v; %.0f s): before / peak / right after / settled", c.n,
			cfg.churnRate, cfg.churnHold, c.elapsed.Seconds()),
			fmt.Sprintf("%d / %d / %d / %d; %d calls left on the server; %d failed calls, %d agent errors%s", c.before, c.peak, c.after,
				c.settled, c.callsAfter, c.failed, c.agentFailures, failNote(c.firstFail)),
			"flat", yes(c.settled <= c.before && c.callsAfter == 0 && c.failed == 0))
	}
	return b.String()
}

// window is the calls window of n calls, or nil.
func (r *callResults) window(n int) *callWindow {
	for i := range r.windows {
		if r.windows[i].n == n {
			return &r.windows[i]
		}
	}
	return nil
}

// floorOf is the bare relay's window of n calls, or nil.
func (r *callResults) floorOf(n int) *relayWindow {
	for i := range r.floors {
		if r.floors[i].n == n && r.floors[i].cores() > 0 {
			return &r.floors[i]
		}
	}
	return nil
}

func lossOf(got, want int64) string {
	if want <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f %% (%d of %d)", (1-float64(got)/float64(want))*100, want-got, want)
}

func jitterOf(js []float64) string {
	if len(js) == 0 {
		return "–"
	}
	s := slices.Clone(js)
	slices.Sort(s)
	return fmt.Sprintf("%.1f / %.1f ms", s[(len(s)-1)/2], s[len(s)-1])
}

func setupOf(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f / %.0f ms", ms(percentile(ds, 50)), ms(slices.Max(ds)))
}

func failNote(s string) string {
	if s == "" {
		return ""
	}
	return "; first: " + s
}
