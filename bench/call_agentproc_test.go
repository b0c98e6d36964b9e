//go:build linux

package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// The agents of the call benchmark run in a child process (this test
// binary again, as TestCallAgentProcess), so that getrusage in the
// benchmark process measures the server alone: SIP, the signaling hub, the
// bridges (SRTP both ways) and the call recorder. The protocol is the
// viewer process's: one JSON command a line on stdin, one JSON reply each
// on file descriptor 3.

// callAgentProcessEnv marks the child.
const callAgentProcessEnv = "ATTENDANT_BENCH_CALL_AGENTS"

type agentCmd struct {
	Op     string   // "connect", "stats", "quiet", "hangup", "setups"
	URL    string   `json:",omitempty"` // the server's base URL (connect)
	Tokens []string `json:",omitempty"` // one API token per agent (connect)
	// Hold is how long an agent keeps an answered call before it hangs
	// up; 0: until the hangup command (connect, or alone with "hold").
	Hold time.Duration `json:",omitempty"`
	// Timeout bounds hangup's wait for every call to end.
	Timeout time.Duration `json:",omitempty"`
}

type agentReply struct {
	Err string `json:",omitempty"`
	// stats: the CPU this process has used, the calls held now (answered,
	// media connected) and each one's audio counters
	CPU     time.Duration
	Active  int
	Pending int              // ringing, accepted or answered but not yet connected
	Calls   []callAudioStats `json:",omitempty"`
	// Ended counts calls ended since the process started; Failed the
	// protocol errors the agents met (first one in FirstFail).
	Ended     int
	Failed    int
	FirstFail string `json:",omitempty"`
	// setups: ringing → answered of each call answered since the last
	// "setups" command, in the order they were answered
	Setups []time.Duration `json:",omitempty"`
	// setups: accept → the robot's first audio packet at the agent, of
	// each call answered since the last "setups"
	AudioStarts []time.Duration `json:",omitempty"`
}

// callAudioStats is one call's audio as its agent sees it.
type callAudioStats struct {
	ID string
	// Rx packets received from the robot (through the bridge) and
	// Expected, from the sequence numbers: last − first + 1.
	Rx, Expected int64
	// JitterMs is the RFC 3550 interarrival jitter of the robot's packets.
	JitterMs float64
	// Sent packets to the robot (20 ms PCMU from a ticker).
	Sent int64
}

// TestCallAgentProcess is the child process; it skips unless started by
// the call benchmarks.
func TestCallAgentProcess(t *testing.T) {
	if os.Getenv(callAgentProcessEnv) == "" {
		t.Skip("the agent process of the call benchmarks; started by them")
	}
	out := json.NewEncoder(os.NewFile(3, "replies"))
	pool := newAgentPool()
	defer pool.close()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20) // connect carries every token
	for in.Scan() {                        // until the parent closes stdin
		var cmd agentCmd
		var rep agentReply
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			rep.Err = err.Error()
		} else {
			rep = pool.handle(cmd)
		}
		if err := out.Encode(rep); err != nil {
			t.Fatal(err)
		}
	}
}

// agentProc is the parent's handle on the agent process.
type agentProc struct {
	*childProc[agentReply]
}

func startAgentProc(tb testing.TB) *agentProc {
	tb.Helper()
	// at cleanup the child hangs up, closes its agents and exits
	return &agentProc{startChild[agentReply](tb, "TestCallAgentProcess", []string{callAgentProcessEnv + "=1"}, 30*time.Second)}
}

// do sends a command and waits for its reply; an error in the reply fails tb.
func (p *agentProc) do(tb testing.TB, cmd agentCmd, timeout time.Duration) agentReply {
	tb.Helper()
	rep, err := p.try(cmd, timeout)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

func (p *agentProc) try(cmd agentCmd, timeout time.Duration) (agentReply, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return agentReply{}, err
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return agentReply{}, fmt.Errorf("send %s to the agent process: %w", cmd.Op, err)
	}
	select {
	case rep, ok := <-p.replies:
		if !ok {
			<-p.exited
			return rep, errors.New("the agent process ended")
		}
		if rep.Err != "" {
			return rep, fmt.Errorf("agent process, %s: %s", cmd.Op, rep.Err)
		}
		return rep, nil
	case <-time.After(timeout):
		return agentReply{}, fmt.Errorf("the agent process did not answer %s within %v", cmd.Op, timeout)
	}
}
