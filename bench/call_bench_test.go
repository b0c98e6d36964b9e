//go:build linux

package bench

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// callBenchConfig is the issue's: 10 to 200 G.711 calls held at once,
// 200 setups at each of three rates, 1,000 calls around the goroutine
// count (10,000 with ATTENDANT_BENCH_LONG=1).
func callBenchConfig() callConfig {
	c := callConfig{
		pairs:  200,
		counts: []int{10, 50, 100, 200}, rampRate: 50,
		settle: 2 * time.Second, window: 10 * time.Second,
		setupRates: []int{10, 25, 50}, setupCalls: 200, setupHold: time.Second,
		churnCalls: 1000, churnRate: 25, churnHold: time.Second,
	}
	if os.Getenv("ATTENDANT_BENCH_LONG") == "1" {
		c.churnCalls = 10_000
	}
	return c
}

// BenchmarkCalls measures robot calls end to end: sipp robots register
// with digest and call the whole server (apitest: SIP, the signaling hub,
// the WebRTC bridges, the call recorder) in this process; pion agents in a
// child process accept, answer and talk back. It reports the server's CPU
// and memory per call at 10 to 200 calls held, packet loss both ways and
// jitter, the same packets through a bare UDP relay (the machine's
// floor), setup times at fixed rates, and the goroutines around 1,000
// calls.
// Each phase measures once whatever b.N is; run it with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkCalls -benchtime 1x ./bench/
//
// It prints a markdown table at the end (docs/benchmarks.md).
func BenchmarkCalls(b *testing.B) {
	cfg := callBenchConfig()
	h := newCallHarness(b, cfg)
	for _, n := range cfg.counts {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			w := h.concurrent(b, n)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(w.cores()*100, "%cpu")
			b.ReportMetric(w.overIdle(h.res.idle)*100, "%cpu-over-idle/call")
			b.ReportMetric(w.callsPerCoreOverIdle(h.res.idle), "calls/core-over-idle")
			b.ReportMetric(kib(w.perCall.heap+w.perCall.stacks), "KiB/call")
			b.ReportMetric(w.r2aLoss()*100, "%loss-robot-agent")
			b.ReportMetric(w.a2rLoss()*100, "%loss-agent-robot")
		})
		b.Run(fmt.Sprintf("floor=%d", n), func(b *testing.B) {
			f := h.floor(b, n)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(f.cores()*100, "%cpu")
			b.ReportMetric(f.callsPerCore(), "calls/core")
		})
	}
	for _, rate := range cfg.setupRates {
		b.Run(fmt.Sprintf("setups=%d/s", rate), func(b *testing.B) {
			s := h.setups(b, rate)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(percentile(s.invite, 50)), "ms-p50")
			b.ReportMetric(ms(percentile(s.invite, 99)), "ms-p99")
			b.ReportMetric(s.achieved, "setups/s")
		})
	}
	b.Run("goroutines", func(b *testing.B) {
		c := h.churn(b)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(c.before), "goroutines-before")
		b.ReportMetric(float64(c.after), "goroutines-after")
		b.ReportMetric(float64(c.settled), "goroutines-settled")
		b.ReportMetric(float64(c.failed), "failed-calls")
	})
	// once per run: it has sub-benchmarks, so the testing package calls it
	// once (per -count)
	fmt.Println()
	fmt.Println(h.res.table(cfg))
}

// TestCallBenchSmoke checks that the call harness works, not how fast
// anything is: two calls held with audio both ways, a few timed setups and
// a few calls set up and torn down, each phase producing its figures.
func TestCallBenchSmoke(t *testing.T) {
	cfg := callConfig{
		pairs:  4,
		counts: []int{2}, rampRate: 10,
		settle: 500 * time.Millisecond, window: 2 * time.Second,
		setupRates: []int{5}, setupCalls: 4, setupHold: 300 * time.Millisecond,
		churnCalls: 6, churnRate: 5, churnHold: 300 * time.Millisecond,
	}
	h := newCallHarness(t, cfg)
	w := h.concurrent(t, 2)
	if w.cpu <= 0 || w.perCall.heap <= 0 || h.res.idle.cpu <= 0 {
		t.Errorf("window: CPU %v, heap per call %d; want both > 0", w.cpu, w.perCall.heap)
	}
	if w.r2aRx <= 0 || w.a2rForwarded <= 0 || len(w.jitterMs) != 2 {
		t.Errorf("audio: %d packets robot → agent, %d agent → robot, jitter of %d calls; want packets both ways, 2 calls",
			w.r2aRx, w.a2rForwarded, len(w.jitterMs))
	}
	if f := h.floor(t, 2); f.cpu <= 0 || f.relayed <= 0 {
		t.Errorf("bare relay: CPU %v, %d packets relayed; want both > 0", f.cpu, f.relayed)
	}
	if s := h.setups(t, 5); len(s.invite) != cfg.setupCalls || len(s.agent) != cfg.setupCalls || len(s.audio) != cfg.setupCalls {
		t.Errorf("setups: %d timed at the robot, %d at the agents, %d to first audio; want %d", len(s.invite), len(s.agent), len(s.audio),
			cfg.setupCalls)
	}
	if c := h.churn(t); c.failed > 0 || c.before <= 0 || c.callsAfter > 0 {
		t.Errorf("churn: %+v", *c)
	}
	t.Logf("\n%s", h.res.table(cfg))
}
