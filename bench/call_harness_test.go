//go:build linux

package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// callConfig sizes a run of the call benchmarks: the benchmark's or the
// smoke test's.
type callConfig struct {
	// pairs of robot and agent provisioned; every phase uses the first ones
	pairs int
	// concurrent: n calls held at once, set up at rampRate calls/s,
	// measured over window after settle
	counts   []int
	rampRate int
	settle   time.Duration
	window   time.Duration
	// setups: setupCalls calls at each rate, each held for setupHold
	setupRates []int
	setupCalls int
	setupHold  time.Duration
	// goroutines: churnCalls calls at churnRate, each held for churnHold
	churnCalls int
	churnRate  int
	churnHold  time.Duration
}

// callHarness runs the call phases against one server and one set of
// pairs. Each phase measures once; asked again it returns what it measured.
type callHarness struct {
	cfg callConfig
	rig *callRig
	res callResults
}

// callResults is everything measured, for the metrics and the table.
type callResults struct {
	idle    *idleWindow // agents connected, robots registered, no call
	windows []callWindow
	floors  []relayWindow // the bare relay with the same packets as windows[i]
	setups  []callSetups
	churn   *callChurn
}

// callWindow is n calls held at once, measured over a window.
type callWindow struct {
	n        int
	elapsed  time.Duration
	cpu      time.Duration // this process: the server
	agentCPU time.Duration // the agent process
	sippCPU  time.Duration
	machine  float64 // share of the machine's CPUs busy
	perCall  memory  // heap and stacks over the idle server, per call

	// robot → agent, over the window, from the agents' sequence numbers
	r2aRx, r2aExpected int64
	// agent → robot, over each call's life: sent by the agents (after
	// they went quiet) and forwarded by the bridges to the robots
	a2rSent, a2rForwarded int64
	jitterMs              []float64 // robot → agent, RFC 3550, per call at the window's end
	// udpDrops are datagrams the kernel dropped at the server's and the
	// agents' sockets over the window (full receive buffers)
	udpDrops int64
	setups   []time.Duration
}

func (w *callWindow) cores() float64 { return w.cpu.Seconds() / w.elapsed.Seconds() }

// idleWindow is the server with every agent connected and every robot
// registered, and no call.
type idleWindow struct {
	elapsed, cpu time.Duration
}

func (w *idleWindow) cores() float64 { return w.cpu.Seconds() / w.elapsed.Seconds() }

// overIdle is the share of a core each call costs above the idle server.
func (w *callWindow) overIdle(idle *idleWindow) float64 {
	if idle == nil {
		return w.cores() / float64(w.n)
	}
	return (w.cores() - idle.cores()) / float64(w.n)
}

// callsPerCoreOverIdle is how many such calls one core holds, from the CPU
// above the idle server.
func (w *callWindow) callsPerCoreOverIdle(idle *idleWindow) float64 {
	if per := w.overIdle(idle); per > 0 {
		return 1 / per
	}
	return 0
}

// callsPerCore is how many such calls one core of the server holds.
func (w *callWindow) callsPerCore() float64 {
	if w.cores() <= 0 {
		return 0
	}
	return float64(w.n) / w.cores()
}

func (w *callWindow) r2aLoss() float64 {
	if w.r2aExpected <= 0 {
		return 0
	}
	return 1 - float64(w.r2aRx)/float64(w.r2aExpected)
}

func (w *callWindow) a2rLoss() float64 {
	if w.a2rSent <= 0 {
		return 0
	}
	return 1 - float64(w.a2rForwarded)/float64(w.a2rSent)
}

// callSetups is setupCalls calls at one rate.
type callSetups struct {
	rate     int
	calls    int
	invite   []time.Duration // INVITE → 200 OK at the robot
	agent    []time.Duration // ringing → answered at the agent
	audio    []time.Duration // accept → the robot's first audio packet at the agent
	achieved float64         // 200 OKs per second, first to last
	failed   string
}

// callChurn is calls set up and torn down, and this process's goroutines
// before, at the peak, right after and once settled.
type callChurn struct {
	n, failed                    int
	firstFail                    string
	before, peak, after, settled int
	elapsed                      time.Duration
	callsAfter                   int // calls the hub still holds after
	agentFailures                int
}

func newCallHarness(tb testing.TB, cfg callConfig) *callHarness {
	tb.Helper()
	return &callHarness{cfg: cfg, rig: newCallRig(tb, cfg.pairs)}
}

// idle measures the server with no call, once.
func (h *callHarness) idle(tb testing.TB) *idleWindow {
	tb.Helper()
	if h.res.idle == nil {
		c0, t0 := cpuTime(tb), time.Now()
		time.Sleep(h.cfg.window)
		h.res.idle = &idleWindow{cpu: cpuTime(tb) - c0, elapsed: time.Since(t0)}
	}
	return h.res.idle
}

// concurrent holds n calls, measures a window and hangs them up.
func (h *callHarness) concurrent(tb testing.TB, n int) *callWindow {
	tb.Helper()
	h.idle(tb)
	for i := range h.res.windows {
		if h.res.windows[i].n == n {
			return &h.res.windows[i]
		}
	}
	if n > h.cfg.pairs {
		tb.Fatalf("%d calls need %d robots; the rig has %d", n, n, h.cfg.pairs)
	}
	r := h.rig
	base := liveMemory()
	rate := strconv.Itoa(min(n, h.cfg.rampRate))
	p := r.startSipp(tb, "call.xml", "-m", strconv.Itoa(n), "-l", strconv.Itoa(n), "-r", rate)
	r.waitCalls(tb, n, time.Duration(n/h.cfg.rampRate)*time.Second+30*time.Second)
	time.Sleep(h.cfg.settle)

	w := callWindow{n: n}
	a0 := r.agents.do(tb, agentCmd{Op: "stats"}, 30*time.Second)
	s0, _ := procCPU(p.pid())
	d0 := socketDrops(os.Getpid(), r.agents.pid)
	b0, m0 := machineTicks()
	stopProfile := windowProfile(tb, fmt.Sprintf("calls-%d", n))
	c0, t0 := cpuTime(tb), time.Now()
	time.Sleep(h.cfg.window)
	c1, t1 := cpuTime(tb), time.Now()
	stopProfile()
	b1, m1 := machineTicks()
	d1 := socketDrops(os.Getpid(), r.agents.pid)
	s1, _ := procCPU(p.pid())
	a1 := r.agents.do(tb, agentCmd{Op: "stats"}, 30*time.Second)
	w.elapsed, w.cpu, w.agentCPU, w.sippCPU = t1.Sub(t0), c1-c0, a1.CPU-a0.CPU, s1-s0
	w.udpDrops = d1 - d0
	if m1 > m0 {
		w.machine = float64(b1-b0) / float64(m1-m0)
	}
	before := map[string]callAudioStats{}
	for _, c := range a0.Calls {
		before[c.ID] = c
	}
	for _, c := range a1.Calls {
		b := before[c.ID]
		w.r2aRx += c.Rx - b.Rx
		w.r2aExpected += c.Expected - b.Expected
		w.jitterMs = append(w.jitterMs, c.JitterMs)
	}
	m := liveMemory().sub(base)
	w.perCall = memory{heap: m.heap / int64(n), stacks: m.stacks / int64(n)}
	heapProfile(tb, fmt.Sprintf("calls-%d", n))

	// the agents go quiet; what they sent is then what the bridges forwarded
	r.agents.do(tb, agentCmd{Op: "quiet"}, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	aq := r.agents.do(tb, agentCmd{Op: "stats"}, 30*time.Second)
	for _, c := range aq.Calls {
		w.a2rSent += c.Sent
		if bs, ok := r.srv.Hub.BridgeStats(c.ID); ok {
			w.a2rForwarded += int64(bs.AgentToLeg)
		} else {
			tb.Errorf("no bridge for call %s", c.ID)
		}
	}
	r.agents.do(tb, agentCmd{Op: "hangup", Timeout: time.Minute}, 2*time.Minute)
	if err := p.wait(time.Minute); err != nil {
		tb.Errorf("%d calls: %v", n, err)
	}
	var err error
	if w.setups, err = p.setupTimes(); err != nil {
		tb.Errorf("setup times: %v", err)
	}
	r.agents.do(tb, agentCmd{Op: "setups"}, 30*time.Second) // not these: the setups phase times its own
	if ids := r.serverCallIDs(); len(ids) > 0 {
		tb.Errorf("%d calls left on the server after the hang-up", len(ids))
	}
	h.res.windows = append(h.res.windows, w)
	return &h.res.windows[len(h.res.windows)-1]
}

// setups places calls at a fixed rate, each held briefly, and times each
// setup: INVITE → 200 OK at the robot, ringing → answered at the agent.
func (h *callHarness) setups(tb testing.TB, rate int) *callSetups {
	tb.Helper()
	for i := range h.res.setups {
		if h.res.setups[i].rate == rate {
			return &h.res.setups[i]
		}
	}
	r := h.rig
	s := callSetups{rate: rate, calls: h.cfg.setupCalls}
	r.agents.do(tb, agentCmd{Op: "hold", Hold: h.cfg.setupHold}, 30*time.Second)
	r.agents.do(tb, agentCmd{Op: "setups"}, 30*time.Second)
	limit := strconv.Itoa(max(1, h.cfg.pairs/2)) // a robot's next call comes after its last one ended
	p := r.startSipp(tb, "call.xml", "-m", strconv.Itoa(s.calls), "-l", limit, "-r", strconv.Itoa(rate))
	timeout := time.Duration(s.calls/rate)*time.Second + h.cfg.setupHold + time.Minute
	if err := p.wait(timeout); err != nil {
		s.failed = err.Error()
		tb.Error(err)
	}
	var err error
	if s.invite, err = p.setupTimes(); err != nil {
		tb.Errorf("setup times: %v", err)
	}
	s.achieved = achievedRate(p.file("rtt.csv"))
	// the last hang-ups may still be on their way
	r.agents.do(tb, agentCmd{Op: "hangup", Timeout: time.Minute}, 2*time.Minute)
	rep := r.agents.do(tb, agentCmd{Op: "setups"}, 30*time.Second)
	s.agent, s.audio = rep.Setups, rep.AudioStarts
	r.agents.do(tb, agentCmd{Op: "hold"}, 30*time.Second)
	h.res.setups = append(h.res.setups, s)
	return &h.res.setups[len(h.res.setups)-1]
}

// churn places n calls at a rate, each held briefly, and counts this
// process's goroutines before, at the peak, right after the last call
// ended and once settled.
func (h *callHarness) churn(tb testing.TB) *callChurn {
	tb.Helper()
	if h.res.churn != nil {
		return h.res.churn
	}
	r := h.rig
	c := &callChurn{n: h.cfg.churnCalls}
	r.agents.do(tb, agentCmd{Op: "hold", Hold: h.cfg.churnHold}, 30*time.Second)
	a0 := r.agents.do(tb, agentCmd{Op: "stats"}, 30*time.Second)
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
	limit := strconv.Itoa(max(1, h.cfg.pairs/2))
	p := r.startSipp(tb, "call.xml", "-m", strconv.Itoa(c.n), "-l", limit, "-r", strconv.Itoa(h.cfg.churnRate))
	if err := p.wait(time.Duration(c.n/h.cfg.churnRate)*time.Second + 2*time.Minute); err != nil {
		c.failed++
		c.firstFail = err.Error()
	}
	r.agents.do(tb, agentCmd{Op: "hangup", Timeout: time.Minute}, 2*time.Minute)
	c.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	c.after = runtime.NumGoroutine()
	c.peak = max(c.peak, c.after)
	c.settled = goroutinesDownTo(c.before, 30*time.Second)
	c.callsAfter = len(r.serverCallIDs())
	a1 := r.agents.do(tb, agentCmd{Op: "stats"}, 30*time.Second)
	r.agents.do(tb, agentCmd{Op: "hold"}, 30*time.Second)
	r.agents.do(tb, agentCmd{Op: "setups"}, 30*time.Second)
	c.agentFailures = a1.Failed - a0.Failed
	if a1.Ended-a0.Ended != c.n {
		c.failed += c.n - (a1.Ended - a0.Ended)
		if c.firstFail == "" {
			c.firstFail = fmt.Sprintf("the agents ended %d calls of %d", a1.Ended-a0.Ended, c.n)
		}
	}
	if c.settled > c.before {
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		tb.Logf("%d goroutines more than before %d calls; all stacks (first 16 KiB):\n%.16384s", c.settled-c.before, c.n, stacks)
	}
	h.res.churn = c
	return c
}
