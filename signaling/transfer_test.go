package signaling

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/store"
)

// answeredBy rings the call and has c accept and answer it.
func answeredBy(t *testing.T, e *env, f *fakeCall, c *client, others ...*client) CallInfo {
	t.Helper()
	ring := c.next(TypeRinging)
	for _, o := range others {
		o.next(TypeRinging)
	}
	c.send(Message{Type: TypeAccept, CallID: f.id})
	offer := c.next(TypeOffer)
	c.send(Message{Type: TypeAnswer, CallID: f.id, SDP: c.answerOffer(offer.SDP)})
	c.next(TypeAnswered)
	return *ring.Call
}

// robotTalks sends n robot packets continuing from seq.
func robotTalks(f *fakeCall, from, n int) {
	payload := make([]byte, 160)
	for i := range n {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(from + i), Timestamp: uint32((from + i) * 160), SSRC: 1}, Payload: payload}
		raw, _ := p.Marshal()
		f.in <- raw
		time.Sleep(5 * time.Millisecond)
	}
}

func agentTalks(t *testing.T, c *client, ssrc uint32, from, n int) {
	payload := make([]byte, 160)
	for i := range n {
		require.NoError(t, c.mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(from + i),
			Timestamp: uint32((from + i) * 160), SSRC: ssrc}, Payload: payload}))
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTransferToAgent: amy hands her call to bob. Until bob answers amy
// keeps it; then bob hears the robot and the robot hears bob in the same
// stream as before (one SSRC, no sequence jump), amy is told and hears
// nothing more, and the case names bob as its handler with the transfer
// audited.
func TestTransferToAgent(t *testing.T) {
	e := newEnv(t, Config{})
	amy, bob := e.connect("amy"), e.connect("bob")
	f := e.call("t-1")
	handled := make(chan struct{})
	go func() { e.hub.handle(context.Background(), f); close(handled) }()
	info := answeredBy(t, e, f, amy, bob)
	talk(t, f, amy, 40)
	require.Eventually(t, func() bool { return amy.got.Load() >= 30 && f.sent() >= 30 }, 10*time.Second, 20*time.Millisecond)

	// the agents amy could hand it to
	amy.send(Message{Type: TypeAgentsList, Ref: "l1"})
	list := amy.next(TypeAgents)
	require.Equal(t, "l1", list.Ref)
	names := map[string]string{}
	for _, a := range list.Agents {
		names[a.Username] = a.Presence
	}
	require.Equal(t, map[string]string{"amy": PresenceBusy, "bob": PresenceOnline}, names, "zed is of another site and not connected")

	amy.send(Message{Type: TypeTransfer, CallID: f.id, To: e.users["bob"].ID})
	require.Equal(t, "bob", amy.next(TypeTransferring).By)
	ring := bob.next(TypeRinging)
	require.Equal(t, "transfer", ring.Call.State)
	require.Equal(t, "amy", ring.Call.TransferFrom)
	require.Equal(t, info.CaseID, ring.Call.CaseID)

	bob.send(Message{Type: TypeAccept, CallID: f.id})
	offer := bob.next(TypeOffer)
	bobAnswer := bob.answerOffer(offer.SDP)
	// amy still has the call until bob's answer
	before := amy.got.Load()
	robotTalks(f, 100, 20)
	require.Eventually(t, func() bool { return amy.got.Load() >= before+15 }, 5*time.Second, 20*time.Millisecond)
	require.Zero(t, bob.got.Load())

	bob.send(Message{Type: TypeAnswer, CallID: f.id, SDP: bobAnswer})
	require.Equal(t, "bob", amy.next(TypeTransferred).By)
	answered := bob.next(TypeAnswered)
	require.Equal(t, e.users["bob"].ID, answered.Call.AgentID)
	require.Equal(t, "amy", answered.Call.TransferFrom)

	sentBefore := f.sent()
	robotTalks(f, 200, 40)
	agentTalks(t, bob, 77, 5000, 40)
	require.Eventually(t, func() bool { return bob.got.Load() >= 30 && f.sent() >= sentBefore+30 }, 10*time.Second, 20*time.Millisecond,
		"bob heard %d, robot got %d more", bob.got.Load(), f.sent()-sentBefore)
	amyHeard := amy.got.Load()
	n := f.sent()
	agentTalks(t, amy, 2, 200, 10)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, n, f.sent(), "amy no longer reaches the robot")
	require.Equal(t, amyHeard, amy.got.Load(), "amy no longer hears the robot")
	_, ssrcs, jumps := f.stream()
	require.Equal(t, 1, ssrcs, "the robot sees one stream")
	require.Zero(t, jumps, "no sequence jump towards the robot")

	// amy cannot hang up bob's call any more; bob can
	amy.send(Message{Type: TypeHangup, CallID: f.id, Ref: "h"})
	require.Equal(t, "not_yours", amy.next(TypeError).Code)
	c := caseOf(t, e.db, info.CaseID)
	require.Equal(t, e.users["bob"].ID, string(c.HandlerID))
	audit, err := store.ListAudit(context.Background(), e.db.Q(), store.AuditFilter{ObjectID: info.CaseID})
	require.NoError(t, err)
	found := false
	for _, a := range audit {
		if a.Action == "call.transfer" {
			found = true
			require.Equal(t, "bob", a.ActorName)
			require.Contains(t, a.Detail, `"from":"amy"`)
		}
	}
	require.True(t, found, "the transfer is audited on the case")
	bob.send(Message{Type: TypeHangup, CallID: f.id})
	bob.next(TypeEnded)
	<-handled
}

// TestTransferDeclinedAndQueued: a declined transfer leaves the call with
// amy; one offered to every free agent is taken by the first to accept;
// busy agents and agents of other sites are not offered it; the call
// ending during a transfer tells everyone.
func TestTransferDeclinedAndQueued(t *testing.T) {
	e := newEnv(t, Config{RingTimeout: 2 * time.Second})
	amy, bob, zed := e.connect("amy"), e.connect("bob"), e.connect("zed")
	f := e.call("t-2")
	go e.hub.handle(context.Background(), f)
	answeredBy(t, e, f, amy, bob)

	amy.send(Message{Type: TypeTransfer, CallID: f.id, To: e.users["amy"].ID, Ref: "self"})
	require.Equal(t, "transfer_to_self", amy.next(TypeError).Code)
	amy.send(Message{Type: TypeTransfer, CallID: f.id, To: e.users["zed"].ID, Ref: "z"})
	require.Equal(t, "no_such_agent", amy.next(TypeError).Code, "zed may not take this site's calls")
	bob.send(Message{Type: TypeTransfer, CallID: f.id, Ref: "b"})
	require.Equal(t, "not_yours", bob.next(TypeError).Code)

	amy.send(Message{Type: TypeTransfer, CallID: f.id, To: e.users["bob"].ID})
	bob.next(TypeRinging)
	amy.send(Message{Type: TypeTransfer, CallID: f.id, Ref: "twice"})
	require.Equal(t, "transfer_pending", amy.next(TypeError).Code)
	bob.send(Message{Type: TypeDecline, CallID: f.id})
	failed := amy.next(TypeTransferFailed)
	require.True(t, strings.HasPrefix(failed.Reason, "declined"), failed.Reason)
	bob.next(TypeTaken)

	// to anyone: bob is the only free agent of the site
	amy.send(Message{Type: TypeTransfer, CallID: f.id})
	require.Equal(t, "", amy.next(TypeTransferring).By)
	require.Equal(t, "transfer", bob.next(TypeRinging).Call.State)
	select {
	case m := <-zed.msgs:
		t.Fatalf("an agent of another site was offered the transfer: %+v", m)
	case <-time.After(100 * time.Millisecond):
	}
	// nobody answers within the ring time: amy keeps the call
	require.Equal(t, "no answer", amy.next(TypeTransferFailed).Reason)
	talk(t, f, amy, 20)
	before := amy.got.Load()
	robotTalks(f, 500, 20)
	require.Eventually(t, func() bool { return amy.got.Load() >= before+15 }, 5*time.Second, 20*time.Millisecond)

	// the robot hangs up while a transfer rings
	amy.send(Message{Type: TypeTransfer, CallID: f.id})
	bob.next(TypeRinging)
	f.end("remote-bye")
	require.Equal(t, "remote-bye", bob.next(TypeEnded).Reason)
	require.Equal(t, "remote-bye", amy.next(TypeEnded).Reason)
}

// TestAgentHold: the agent holds and resumes the robot; the leg is asked
// to (a re-INVITE for SIP), the state is confirmed and audited; only the
// call's agent may.
func TestAgentHold(t *testing.T) {
	e := newEnv(t, Config{})
	amy, bob := e.connect("amy"), e.connect("bob")
	f := e.call("h-1")
	go e.hub.handle(context.Background(), f)
	info := answeredBy(t, e, f, amy, bob)

	amy.send(Message{Type: TypeHoldCall, CallID: f.id, State: "hold"})
	m := amy.next(TypeHold)
	require.Equal(t, "hold", m.State)
	require.Equal(t, "agent", m.By)
	bob.send(Message{Type: TypeHoldCall, CallID: f.id, State: "resume", Ref: "b"})
	require.Equal(t, "not_yours", bob.next(TypeError).Code)
	amy.send(Message{Type: TypeHoldCall, CallID: f.id, State: "sideways", Ref: "x"})
	require.Equal(t, "bad_command", amy.next(TypeError).Code)
	amy.send(Message{Type: TypeHoldCall, CallID: f.id, State: "resume"})
	require.Equal(t, "resume", amy.next(TypeHold).State)
	f.mu.Lock()
	require.Equal(t, []bool{true, false}, f.holds)
	f.mu.Unlock()
	audit, err := store.ListAudit(context.Background(), e.db.Q(), store.AuditFilter{ObjectID: info.CaseID})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	require.Contains(t, actions, "call.hold")
	require.Contains(t, actions, "call.resume")
}
