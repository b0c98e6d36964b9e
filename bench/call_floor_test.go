//go:build linux

package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The floor of the call benchmark: what this machine charges for the
// packets alone. A bare relay in the benchmark process moves the same
// traffic as n bridged calls — per call two UDP sockets on loopback, 50
// packets/s of 172 bytes each way, one goroutine reading each socket and
// writing to the other's latched peer (the system calls the server makes:
// one recvmsg and one sendto per packet and hop) — with no SIP, no SRTP,
// no recording. Its peers run in a child process (this test binary again,
// TestRelayPeerProcess). The server's CPU divided by the relay's, in the
// same run, says how much the server adds to the packets' own cost, which
// a noisy shared machine cannot say in absolute terms.

// relayPeerProcessEnv marks the child.
const relayPeerProcessEnv = "ATTENDANT_BENCH_RELAY_PEERS"

type relayPeerCmd struct {
	Op    string   // "flood" (start sending to Addrs), "stats"
	Addrs []string `json:",omitempty"` // the relay's sockets: robot side, agent side, per call
}

type relayPeerReply struct {
	Err            string `json:",omitempty"`
	CPU            time.Duration
	Sent, Received int64
}

// relayWindow is the bare relay carrying n calls' packets over a window.
type relayWindow struct {
	n             int
	elapsed, cpu  time.Duration
	sent, relayed int64 // by the peers, over the window; relayed: received back through the relay
}

func (w *relayWindow) cores() float64 { return w.cpu.Seconds() / w.elapsed.Seconds() }

// callsPerCore is how many calls' packets one core relays.
func (w *relayWindow) callsPerCore() float64 {
	if w.cores() <= 0 {
		return 0
	}
	return float64(w.n) / w.cores()
}

// floor measures the bare relay with n calls' packets, once per n.
func (h *callHarness) floor(tb testing.TB, n int) *relayWindow {
	tb.Helper()
	for i := range h.res.floors {
		if h.res.floors[i].n == n {
			return &h.res.floors[i]
		}
	}
	relay, err := startBareRelay(n)
	if err != nil {
		tb.Fatal(err)
	}
	defer relay.close()
	peers := startChild[relayPeerReply](tb, "TestRelayPeerProcess", []string{relayPeerProcessEnv + "=1"}, 10*time.Second)
	do := func(cmd relayPeerCmd) relayPeerReply {
		tb.Helper()
		b, err := json.Marshal(cmd)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := peers.stdin.Write(append(b, '\n')); err != nil {
			tb.Fatalf("relay peers, %s: %v", cmd.Op, err)
		}
		select {
		case rep, ok := <-peers.replies:
			if !ok || rep.Err != "" {
				tb.Fatalf("relay peers, %s: ended or failed: %q", cmd.Op, rep.Err)
			}
			return rep
		case <-time.After(30 * time.Second):
			tb.Fatalf("relay peers did not answer %s", cmd.Op)
		}
		return relayPeerReply{}
	}
	do(relayPeerCmd{Op: "flood", Addrs: relay.addrs()})
	time.Sleep(h.cfg.settle)
	p0 := do(relayPeerCmd{Op: "stats"})
	c0, t0 := cpuTime(tb), time.Now()
	time.Sleep(h.cfg.window)
	c1, t1 := cpuTime(tb), time.Now()
	p1 := do(relayPeerCmd{Op: "stats"})
	w := relayWindow{n: n, elapsed: t1.Sub(t0), cpu: c1 - c0, sent: p1.Sent - p0.Sent, relayed: p1.Received - p0.Received}
	if w.relayed <= 0 {
		tb.Errorf("bare relay, %d calls: no packet came through", n)
	}
	h.res.floors = append(h.res.floors, w)
	return &h.res.floors[len(h.res.floors)-1]
}

// bareRelay is n pairs of loopback sockets; each socket latches the peer
// it hears from, and what it hears goes out of its pair's other socket to
// that socket's peer.
type bareRelay struct {
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

func startBareRelay(n int) (*bareRelay, error) {
	r := &bareRelay{}
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	for range 2 * n {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(lo))
		if err != nil {
			r.close()
			return nil, fmt.Errorf("bare relay: %w", err)
		}
		r.conns = append(r.conns, c)
	}
	for i := 0; i < len(r.conns); i += 2 {
		var peers [2]atomic.Pointer[netip.AddrPort]
		for side := range 2 {
			in, out := r.conns[i+side], r.conns[i+1-side]
			here, there := &peers[side], &peers[1-side]
			r.wg.Go(func() { relayLoop(in, out, here, there) })
		}
	}
	return r, nil
}

func relayLoop(in, out *net.UDPConn, here, there *atomic.Pointer[netip.AddrPort]) {
	buf := make([]byte, 1500)
	for {
		n, src, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if p := here.Load(); p == nil || *p != src {
			here.Store(&src)
		}
		if dst := there.Load(); dst != nil {
			_, _ = out.WriteToUDPAddrPort(buf[:n], *dst)
		}
	}
}

func (r *bareRelay) addrs() []string {
	a := make([]string, len(r.conns))
	for i, c := range r.conns {
		a[i] = c.LocalAddr().String()
	}
	return a
}

func (r *bareRelay) close() {
	for _, c := range r.conns {
		c.Close()
	}
	r.wg.Wait()
}

// TestRelayPeerProcess is the bare relay's peers: for each relay socket a
// socket of its own that sends it a 172-byte packet every 20 ms and counts
// what comes back. It skips unless started by the call benchmarks.
func TestRelayPeerProcess(t *testing.T) {
	if os.Getenv(relayPeerProcessEnv) == "" {
		t.Skip("the bare relay's peers in the call benchmarks; started by them")
	}
	out := json.NewEncoder(os.NewFile(3, "replies"))
	var sent, received atomic.Int64
	var conns []*net.UDPConn
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		close(stop)
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() { // until the parent closes stdin
		var cmd relayPeerCmd
		var rep relayPeerReply
		err := json.Unmarshal(in.Bytes(), &cmd)
		switch {
		case err != nil:
		case cmd.Op == "flood" && conns == nil:
			for _, a := range cmd.Addrs {
				dst, perr := netip.ParseAddrPort(a)
				if perr != nil {
					err = perr
					break
				}
				c, lerr := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
				if lerr != nil {
					err = lerr
					break
				}
				conns = append(conns, c)
				wg.Go(func() {
					buf := make([]byte, 1500)
					for {
						if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
							return
						}
						received.Add(1)
					}
				})
				wg.Go(func() {
					pkt := make([]byte, 172)
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := c.WriteToUDPAddrPort(pkt, dst); err == nil {
								sent.Add(1)
							}
						}
					}
				})
			}
		case cmd.Op == "stats":
			rep.Sent, rep.Received = sent.Load(), received.Load()
			rep.CPU, err = processCPU()
		default:
			err = errors.New("unknown or repeated command " + cmd.Op)
		}
		if err != nil {
			rep.Err = err.Error()
		}
		if err := out.Encode(rep); err != nil {
			t.Fatal(err)
		}
	}
}
