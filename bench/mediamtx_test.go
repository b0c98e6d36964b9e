//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mediamtxEnv names a mediamtx binary to measure side by side with the
// server: the reference relay (v1.14.0 uses the same gortsplib
// v4.16.2). It is built outside the repository (docs/benchmarks.md says
// how) and never part of CI; unset, the phase is skipped.
const mediamtxEnv = "ATTENDANT_BENCH_MEDIAMTX"

// refRelay is what was measured of the reference relay: the same camera
// pulled over RTSP/TCP, the same pion viewers joining its WHEP endpoint.
type refRelay struct {
	version string
	idle    *window
	fanout  []fanout // perViewer.heap holds the RSS growth per viewer
	rssIdle int64
}

// mediamtx is a running mediamtx: RTSP, RTMP, HLS and SRT servers off,
// WebRTC on loopback (one UDP port), its API on loopback to tell when the
// camera is ready.
type mediamtx struct {
	pid       int
	whep, api string
	exited    chan struct{}
	out       *syncBuffer
}

// freePort returns a port free on 127.0.0.1 for network ("tcp" or "udp").
func freePort(tb testing.TB, network string) int {
	tb.Helper()
	if network == "udp" {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMediamtx starts bin pulling cameraURL as path "bench" and waits
// until the path is ready. It is stopped at cleanup.
func startMediamtx(tb testing.TB, bin, cameraURL string) *mediamtx {
	tb.Helper()
	dir := tb.TempDir()
	webrtcPort, udpPort, apiPort := freePort(tb, "tcp"), freePort(tb, "udp"), freePort(tb, "tcp")
	conf := fmt.Sprintf(`logLevel: warn
logDestinations: [stdout]
api: yes
apiAddress: 127.0.0.1:%d
metrics: no
pprof: no
playback: no
rtsp: no
rtmp: no
hls: no
srt: no
webrtc: yes
webrtcAddress: 127.0.0.1:%d
webrtcLocalUDPAddress: 127.0.0.1:%d
webrtcLocalTCPAddress: ''
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
paths:
  bench:
    source: %s
    rtspTransport: tcp
    sourceOnDemand: no
`, apiPort, webrtcPort, udpPort, cameraURL)
	confPath := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	m := &mediamtx{
		whep:   fmt.Sprintf("http://127.0.0.1:%d/bench/whep", webrtcPort),
		api:    fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		exited: make(chan struct{}), out: &syncBuffer{},
	}
	cmd := exec.Command(bin, confPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = m.out, m.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start mediamtx (%s=%s): %v", mediamtxEnv, bin, err)
	}
	m.pid = cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		close(m.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-m.exited
		}
		if tb.Failed() {
			tb.Logf("mediamtx output (last 16 KiB):\n%s", tail(m.out.String(), 16<<10))
		}
	})
	m.waitReady(tb, 30*time.Second)
	return m
}

// waitReady polls mediamtx's API until path "bench" has its source ready.
func (m *mediamtx) waitReady(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-m.exited:
			tb.Fatalf("mediamtx exited:\n%s", m.out)
		default:
		}
		resp, err := hc.Get(m.api + "/v3/paths/get/bench")
		if err == nil {
			var st struct {
				Ready bool `json:"ready"`
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.Ready {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatalf("mediamtx path not ready within %v (last: %s):\n%s", timeout, last, m.out)
}

func (m *mediamtx) cpu(tb testing.TB) time.Duration {
	tb.Helper()
	d, err := procCPU(m.pid)
	if err != nil {
		tb.Fatalf("mediamtx CPU: %v", err)
	}
	return d
}

// rss is the process's resident memory (VmRSS).
func (m *mediamtx) rss(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.pid))
	if err != nil {
		tb.Fatalf("mediamtx RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("mediamtx RSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("mediamtx RSS: no VmRSS")
	return 0
}

// mediamtxVersion asks the binary for its version.
func mediamtxVersion(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(string(out))
}

// reference measures mediamtx (bin) serving the harness's camera to the
// viewer process's viewers at each count, as fanout measures the server:
// an idle window (pulling, no viewer), then each count joined, settled and
// measured; its CPU from /proc/PID/stat (10 ms ticks). The server's own
// viewers leave first and mediamtx is stopped at the end.
func (h *harness) reference(tb testing.TB, bin string, counts []int, cfg harnessConfig) *refRelay {
	tb.Helper()
	if h.res.ref != nil {
		return h.res.ref
	}
	h.leave(tb)
	ref := &refRelay{version: mediamtxVersion(bin)}
	m := startMediamtx(tb, bin, h.proc.cameraURL)
	time.Sleep(cfg.settle)
	cpu := func() time.Duration { return m.cpu(tb) }
	idle := h.measureCPU(tb, cfg.window, cpu)
	ref.idle = &idle
	ref.rssIdle = m.rss(tb)
	for _, n := range counts {
		if h.held < n {
			h.proc.do(tb, command{Op: "join", URL: m.whep, N: n - h.held, Concurrency: 10}, 2*time.Minute)
			h.held = n
		}
		time.Sleep(cfg.settle)
		f := fanout{n: n, w: h.measureCPU(tb, cfg.window, cpu)}
		f.w.drops = 0 // the server's counter; mediamtx's are not read
		f.perViewer = memory{heap: (m.rss(tb) - ref.rssIdle) / int64(n)}
		ref.fanout = append(ref.fanout, f)
	}
	h.leave(tb)
	h.res.ref = ref
	return ref
}

// refTable renders the side-by-side table: the server's fan-out rows next
// to mediamtx's at the same viewer counts.
func (r *results) refTable(b *strings.Builder) {
	ref := r.ref
	if ref == nil {
		fmt.Fprintf(b, "mediamtx side by side: not run (set %s to a mediamtx binary).\n\n", mediamtxEnv)
		return
	}
	fmt.Fprintf(b, "Side by side in this run: mediamtx (%s) pulling the same camera over RTSP/TCP and serving the same pion viewers over WHEP; its CPU from /proc/PID/stat, its memory as RSS growth (not comparable with the server's live heap).\n\n", ref.version)
	fmt.Fprintf(b, "| viewers | attendant µs / out pkt over idle | mediamtx µs / out pkt over idle | mediamtx ÷ attendant | attendant viewers / core | mediamtx viewers / core | mediamtx out pkt/s | mediamtx CPU (cores) | mediamtx µs / out pkt | mediamtx RSS / viewer | machine busy (mediamtx window) |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	att := func(n int) *fanout {
		for i := range r.fanout {
			if r.fanout[i].n == n {
				return &r.fanout[i]
			}
		}
		return nil
	}
	idleAtt := "–"
	if r.idle != nil {
		idleAtt = fmt.Sprintf("%.3f cores", r.idle.cores())
	}
	fmt.Fprintf(b, "| 0 (ingest only) | %s | %.3f cores | – | – | – | – | %.3f | – | %.0f MiB RSS in all | %.0f %% |\n",
		idleAtt, ref.idle.cores(), ref.idle.cores(), float64(ref.rssIdle)/(1<<20), ref.idle.machine*100)
	for i := range ref.fanout {
		f := &ref.fanout[i]
		mus := f.overIdleUs(ref.idle)
		aUs, ratio, aVPC := "–", "–", "–"
		if a := att(f.n); a != nil && r.idle != nil {
			u := a.overIdleUs(r.idle)
			aUs, ratio, aVPC = fmt.Sprintf("%.1f", u), fmt.Sprintf("%.2f", mus/u), fmt.Sprintf("%.0f", a.viewersPerCore(r.idle))
		}
		fmt.Fprintf(b, "| %d | %s | %.1f | %s | %s | %.0f | %.0f | %.3f | %.1f | %.0f KiB | %.0f %% |\n",
			f.n, aUs, mus, ratio, aVPC, f.viewersPerCore(ref.idle), f.w.pktRate(), f.w.cores(), f.w.usPerPkt(),
			kib(f.perViewer.heap), f.w.machine*100)
	}
	b.WriteString("\n")
}
