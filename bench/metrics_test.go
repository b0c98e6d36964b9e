//go:build linux

package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used so far, all
// threads included, children excluded.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	d, err := processCPU()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// machineTicks reads the first line of /proc/stat: the clock ticks all CPUs
// spent busy and in all, so that a window can say how loaded the machine
// was (the camera encoder and the viewers share it with the server).
func machineTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0
		}
		if i >= 8 { // guest time is already counted in user time
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// memory is what the process holds live: heap after a full collection and
// goroutine stacks.
type memory struct {
	heap, stacks int64
}

func liveMemory() memory {
	// twice: finalizers queued by the first collection run before the second
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: int64(ms.HeapAlloc), stacks: int64(ms.StackInuse)}
}

func (m memory) sub(o memory) memory {
	return memory{heap: m.heap - o.heap, stacks: m.stacks - o.stacks}
}

// percentile is the nearest-rank percentile (p in 0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// stableGoroutines waits until the goroutine count has not changed for a
// second (at most maxWait) and returns it.
func stableGoroutines(maxWait time.Duration) int {
	deadline := time.Now().Add(maxWait)
	last, since := runtime.NumGoroutine(), time.Now()
	for time.Since(since) < time.Second && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if n := runtime.NumGoroutine(); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// goroutinesDownTo waits until at most target goroutines are left (at most
// maxWait) and returns the count.
func goroutinesDownTo(target int, maxWait time.Duration) int {
	deadline := time.Now().Add(maxWait)
	for {
		n := runtime.NumGoroutine()
		if n <= target || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func kib(b int64) float64 { return float64(b) / 1024 }

// heapProfileEnv names a directory: when set, phases that measure memory
// also write this process's heap profile there (e.g. viewers-100.pprof),
// to see what the per-viewer or per-call figure is made of.
const heapProfileEnv = "ATTENDANT_BENCH_HEAPPROFILE"

// windowProfile starts a CPU profile of this process into the directory
// heapProfileEnv names, as name.cpu.pprof, and returns what stops it: a
// profile of a measuring window alone, without the setup around it
// (go test -cpuprofile covers the whole run). It does nothing when the
// variable is unset.
func windowProfile(tb testing.TB, name string) (stop func()) {
	tb.Helper()
	dir := os.Getenv(heapProfileEnv)
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		tb.Fatalf("CPU profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		tb.Logf("CPU profile of %s not taken: %v", name, err) // -cpuprofile is on
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// heapProfile writes the heap profile of this process as name.pprof, and
// its goroutines grouped by stack as name.goroutines.txt (what a call's
// stacks are made of), into the directory heapProfileEnv names; it does
// nothing when that is unset.
func heapProfile(tb testing.TB, name string) {
	tb.Helper()
	dir := os.Getenv(heapProfileEnv)
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		tb.Fatalf("heap profile: %v", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatalf("heap profile: %v", err)
	}
	g, err := os.Create(filepath.Join(dir, name+".goroutines.txt"))
	if err != nil {
		tb.Fatalf("goroutine profile: %v", err)
	}
	defer g.Close()
	if err := pprof.Lookup("goroutine").WriteTo(g, 1); err != nil {
		tb.Fatalf("goroutine profile: %v", err)
	}
}
