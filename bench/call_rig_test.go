//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/store"
)

// callRig is the server under test (apitest: the whole server in this
// process, SQLite and a local object store, SIP on 127.0.0.1:0, every
// answered call recorded) with pairs of a robot and an agent: pair i is a
// site of its own with device robot<i> and agent agent<i>, so that robot
// i's calls ring agent i alone. (With every robot and agent in one site
// each call would ring every free agent: the benchmark would measure that
// herd, not the calls.)
type callRig struct {
	srv    *apitest.Server
	agents *agentProc
	dir    string // sipp's working directory: scenarios, users.csv, tone.wav
	sipp   string // the binary
	sipSrv string // the server's SIP address
	pairs  int
}

// sippScenarios are written to the rig's directory.
var sippScenarios = map[string]string{
	// register one robot (-s, -au, -ap: sipp 3.6 takes no injected field
	// inside [authentication])
	"register.xml": `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register the robots">
` + testenv.SippRegister(3600) + `</scenario>
`,
	// a registered robot calls (PCMU), times INVITE → 200 OK as rtd
	// "setup", streams tone.wav in a loop and waits for the agent's BYE
	"call.xml": `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="robot call held until the agent hangs up">
` + testenv.SippCallPCMU("[field0]", `start_rtd="setup"`, `rtd="setup"`) + `  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`,
}

func newCallRig(tb testing.TB, pairs int) *callRig {
	tb.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		tb.Skip("sipp not installed (make test installs sip-tester)")
	}
	r := &callRig{sipp: bin, dir: tb.TempDir(), pairs: pairs}
	r.srv = apitest.Start(tb, apitest.Options{AdminPassword: "bench-admin-pass"})
	udp, _ := r.srv.SIP.Addr()
	r.sipSrv = udp.String()
	for name, body := range sippScenarios {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	testenv.WriteToneWAV(tb, filepath.Join(r.dir, "tone.wav"), 2)
	tokens, err := r.provision(context.Background())
	if err != nil {
		tb.Fatalf("provision %d robots and agents: %v", pairs, err)
	}
	r.agents = startAgentProc(tb)
	r.agents.do(tb, agentCmd{Op: "connect", URL: r.srv.URL, Tokens: tokens}, 2*time.Minute)
	r.register(tb)
	return r
}

// provision inserts the pairs' sites, devices, agents and the agents' API
// tokens, and writes users.csv for sipp.
func (r *callRig) provision(ctx context.Context) ([]string, error) {
	db := r.srv.DB
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	tokens := make([]string, r.pairs)
	err := db.InTx(ctx, func(q store.Q) error {
		now := store.Now()
		for i := range r.pairs {
			site := store.Site{ID: store.NewID(), Name: fmt.Sprintf("Lane %d", i), Kind: store.SiteParking, CreatedAt: now, UpdatedAt: now}
			user, pass := robotCredentials(i)
			dev := store.Device{ID: store.NewID(), SiteID: site.ID, Name: "Robot " + user, Kind: "robot", SIPUsername: user,
				SIPPassword: pass, Enabled: true, CreatedAt: now, UpdatedAt: now}
			agent := store.User{ID: store.NewID(), Username: fmt.Sprintf("agent%d", i), PasswordHash: "x", Role: store.RoleAgent,
				SiteIDs: []string{site.ID}, CreatedAt: now, UpdatedAt: now}
			secret, hash := auth.NewSecret()
			tok := store.Token{ID: store.NewID(), SecretHash: hash, UserID: agent.ID, Kind: store.TokenAPI, Name: "bench", CreatedAt: now}
			err := errors.Join(store.Insert(ctx, q, &site), store.Insert(ctx, q, &dev), store.Insert(ctx, q, &agent),
				store.Insert(ctx, q, &tok))
			if err != nil {
				return err
			}
			tokens[i] = secret
			fmt.Fprintf(&csv, "%s;%s\n", user, pass)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tokens, os.WriteFile(filepath.Join(r.dir, "users.csv"), []byte(csv.String()), 0o600)
}

// register registers every robot once, 16 sipp runs at a time (Expires
// 3600: the longest run ends well within it).
func (r *callRig) register(tb testing.TB) {
	tb.Helper()
	errs := make([]error, r.pairs)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range r.pairs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			user, pass := robotCredentials(i)
			for range 3 { // a port sipp was given may be taken meanwhile
				p, err := r.launchSipp(tb, "register.xml", "-m", "1", "-s", user, "-au", user, "-ap", pass)
				if err == nil {
					err = p.wait(30 * time.Second)
				}
				if errs[i] = err; err == nil {
					return
				}
				errs[i] = fmt.Errorf("register %s: %w", user, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
}

// robotCredentials are robot i's SIP username and password.
func robotCredentials(i int) (user, pass string) {
	return fmt.Sprintf("robot%d", i), fmt.Sprintf("robot-secret-%d", i)
}

// sippRun is one sipp process.
type sippRun struct {
	cmd    *exec.Cmd
	name   string // the scenario file
	output *syncBuffer
	exited chan struct{}
	err    error
}

// startSipp runs sipp with a scenario of the rig's directory, users.csv
// injected and the given options. Its RTP goes from 127.0.0.1 too.
func (r *callRig) startSipp(tb testing.TB, scenario string, args ...string) *sippRun {
	tb.Helper()
	p, err := r.launchSipp(tb, scenario, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// launchSipp is startSipp for any goroutine: it returns its error.
func (r *callRig) launchSipp(tb testing.TB, scenario string, args ...string) (*sippRun, error) {
	sipPort, err := freeUDPPorts(1)
	if err != nil {
		return nil, err
	}
	rtpPort, err := freeUDPPorts(4) // sipp binds -mp and -mp+2 (and their RTCP)
	if err != nil {
		return nil, err
	}
	all := append([]string{"-sf", scenario, r.sipSrv, "-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-t", "u1",
		"-inf", "users.csv", "-nostdin", "-mi", "127.0.0.1", "-mp", strconv.Itoa(rtpPort), "-max_recv_loops", "10000",
		"-trace_err", "-trace_rtt", "-rtt_freq", "1"}, args...)
	p := &sippRun{cmd: exec.Command(r.sipp, all...), name: scenario, output: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Dir = r.dir
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, nil
}

// wait waits for sipp to end; sipp fails when a call failed.
func (p *sippRun) wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		if p.err != nil {
			return fmt.Errorf("sipp %s: %w (errors: %s)", p.name, p.err, p.errors())
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("sipp %s still running after %v", p.name, timeout)
	}
}

func (p *sippRun) pid() int { return p.cmd.Process.Pid }

// file is one of the files sipp writes next to the scenario for its pid.
func (p *sippRun) file(suffix string) string {
	return filepath.Join(p.cmd.Dir, fmt.Sprintf("%s_%d_%s", strings.TrimSuffix(p.name, ".xml"), p.pid(), suffix))
}

// errors is the start of sipp's error log, if any.
func (p *sippRun) errors() string {
	b, err := os.ReadFile(p.file("errors.log"))
	if err != nil {
		return "none logged"
	}
	return tail(string(b), 2<<10)
}

// setupTimes reads the rtd "setup" of every call: INVITE sent → 200 OK
// received, as the robot saw it.
func (p *sippRun) setupTimes() ([]time.Duration, error) {
	f, err := os.Open(p.file("rtt.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// date_ms;response_time_ms;rtd_name
		fields := strings.Split(strings.TrimSpace(sc.Text()), ";")
		if len(fields) < 3 || fields[2] != "setup" {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		out = append(out, time.Duration(v*float64(time.Millisecond)))
	}
	return out, sc.Err()
}

// freeUDPPorts is the first of n consecutive UDP ports free on 127.0.0.1
// now (for sipp, which cannot be told to pick its own). Another process
// may take one before sipp binds it: callers retry.
func freeUDPPorts(n int) (int, error) {
	for range 100 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		base := c.LocalAddr().(*net.UDPAddr).Port
		held := []net.PacketConn{c}
		for i := 1; i < n; i++ {
			if c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(base+i)); err == nil {
				held = append(held, c)
			}
		}
		for _, c := range held {
			c.Close()
		}
		if len(held) == n {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free UDP ports", n)
}

// socketDrops sums the drops the kernel counted (a full receive buffer)
// on the UDP sockets the given processes hold now. Not every socket in the
// namespace: sipp 3.6 never reads the socket the agents' audio reaches,
// whose drops say nothing of the server.
func socketDrops(pids ...int) int64 {
	inodes := map[string]bool{}
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			l, err := os.Readlink(filepath.Join(dir, e.Name()))
			if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	var drops int64
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
			fields := strings.Fields(line)
			if len(fields) < 13 || !inodes[fields[9]] {
				continue
			}
			n, _ := strconv.ParseInt(fields[12], 10, 64)
			drops += n
		}
	}
	return drops
}

// serverCallIDs are the IDs of the calls the hub holds now, sorted.
func (r *callRig) serverCallIDs() []string {
	var ids []string
	for _, c := range r.srv.Hub.Calls() {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// waitCalls polls the agent process until n calls are held (answered,
// media connected) and none is pending.
func (r *callRig) waitCalls(tb testing.TB, n int, timeout time.Duration) agentReply {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := r.agents.do(tb, agentCmd{Op: "stats"}, 30*time.Second)
		if st.Active >= n && st.Pending == 0 {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d calls held and %d pending after %v, want %d held (agent failures %d, first: %s)",
				st.Active, st.Pending, timeout, n, st.Failed, st.FirstFail)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// achievedRate is the 200 OKs per second of a sipp run, from the dates of
// its first and last setup in its rtt.csv.
func achievedRate(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var first, last float64
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Split(strings.TrimSpace(line), ";")
		if len(f) < 3 || f[2] != "setup" {
			continue
		}
		d, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if n == 0 {
			first = d
		}
		last = d
		n++
	}
	if n < 2 || last <= first {
		return 0
	}
	return float64(n-1) / ((last - first) / 1000)
}
