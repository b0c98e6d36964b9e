package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
)

// fakeCall is a robot's call leg without SIP: the test plays the robot.
type fakeCall struct {
	id     string
	dev    sip.Device
	in     chan []byte // robot → server RTP
	events chan sip.CallEvent
	done   chan struct{}

	mu       sync.Mutex
	reason   string
	out      int // server → robot RTP packets
	ssrcs    map[uint32]bool
	lastSeq  uint16
	seqJumps int // server → robot packets not one after the last
	holds    []bool
	rung     atomic.Bool
	answered atomic.Bool
	rejected atomic.Int32
	read     atomic.Uint64 // robot → server packets the hub read
	lost     atomic.Int64  // robot → server packets lost, as the test says
	jitter   atomic.Int64  // and the jitter (a time.Duration)
}

// call makes a robot (a device row of the site) calling in.
func (e *env) call(id string) *fakeCall {
	e.t.Helper()
	f := newFakeCall(id, e.site)
	now := store.Now()
	d := store.Device{ID: f.dev.ID, SiteID: e.site, Name: "Exit lane " + id, Kind: "robot", SIPUsername: "robot-" + id,
		SIPPassword: "x", Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(e.t, store.Insert(context.Background(), e.db.Q(), &d))
	return f
}

func newFakeCall(id, siteID string) *fakeCall {
	return &fakeCall{id: id, dev: sip.Device{ID: "dev-" + id, SiteID: siteID, Username: "robot", Enabled: true},
		in: make(chan []byte, 256), events: make(chan sip.CallEvent, 8), done: make(chan struct{})}
}

func (f *fakeCall) ID() string         { return f.id }
func (f *fakeCall) Device() sip.Device { return f.dev }
func (f *fakeCall) From() string       { return f.dev.Username }
func (f *fakeCall) Codec() sip.Codec {
	return sip.Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000, Channels: 1}
}
func (f *fakeCall) Ring() error                  { f.rung.Store(true); return nil }
func (f *fakeCall) Answer(context.Context) error { f.answered.Store(true); return nil }
func (f *fakeCall) Reject(code int, _ string) error {
	f.rejected.Store(int32(code))
	f.end("rejected")
	return nil
}
func (f *fakeCall) Hangup(context.Context) error { f.end("local-bye"); return nil }
func (f *fakeCall) Done() <-chan struct{}        { return f.done }
func (f *fakeCall) Events() <-chan sip.CallEvent { return f.events }
func (f *fakeCall) EndReason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason
}
func (f *fakeCall) end(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reason == "" {
		f.reason = reason
		close(f.done)
	}
}
func (f *fakeCall) Stats() sip.CallStats {
	return sip.CallStats{PacketsReceived: f.read.Load(), PacketsLost: f.lost.Load(), Jitter: time.Duration(f.jitter.Load())}
}
func (f *fakeCall) ReadRTP(buf []byte) (int, error) {
	select {
	case p := <-f.in:
		f.read.Add(1)
		return copy(buf, p), nil
	case <-f.done:
		return 0, errors.New("call ended")
	}
}
func (f *fakeCall) WriteRTP(b []byte) error {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ssrcs == nil {
		f.ssrcs = map[uint32]bool{}
	}
	if f.out > 0 && p.SequenceNumber != f.lastSeq+1 {
		f.seqJumps++
	}
	f.ssrcs[p.SSRC] = true
	f.lastSeq = p.SequenceNumber
	f.out++
	return nil
}

// Hold records the agent's hold and resume (a re-INVITE for sip.Call).
func (f *fakeCall) Hold(_ context.Context, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds = append(f.holds, on)
	return nil
}

// stream says what the robot received: packets, SSRCs, sequence jumps.
func (f *fakeCall) stream() (n, ssrcs, jumps int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out, len(f.ssrcs), f.seqJumps
}
func (f *fakeCall) sent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.out
}

// env is a hub over a real database behind a real WebSocket endpoint.
type env struct {
	t     testing.TB
	hub   *Hub
	db    *store.DB
	url   string
	users map[string]store.User
	site  string
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	now := store.Now()
	site := store.Site{ID: store.NewID(), Name: "Gate 1", Kind: store.SiteParking, CreatedAt: now, UpdatedAt: now}
	other := store.Site{ID: store.NewID(), Name: "Elsewhere", Kind: store.SiteParking, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, db.Q(), &site))
	require.NoError(t, store.Insert(ctx, db.Q(), &other))
	users := map[string]store.User{}
	for name, sites := range map[string][]string{"amy": {site.ID}, "bob": {site.ID}, "zed": {other.ID}} {
		u := store.User{ID: store.NewID(), Username: name, PasswordHash: "x", Role: store.RoleAgent, SiteIDs: sites, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, store.Insert(ctx, db.Q(), &u))
		users[name] = u
	}
	br, err := media.NewBridger(media.ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}}, nil)
	require.NoError(t, err)
	hub := New(cfg, db, br)
	srv := httptest.NewServer(hub.Handler(func(r *http.Request) (store.User, bool) {
		u, ok := users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		return u, ok
	}))
	t.Cleanup(srv.Close)
	return &env{t: t, hub: hub, db: db, url: "ws" + strings.TrimPrefix(srv.URL, "http"), users: users, site: site.ID}
}

// client is an agent's browser: a WebSocket and, once offered, a pion peer.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	msgs chan Message
	pc   *webrtc.PeerConnection
	got  atomic.Int64 // call audio packets heard
	mic  *webrtc.TrackLocalStaticRTP
	// closeErr is the error that ended the reading, once msgs is closed.
	closeErr error
}

func (e *env) connect(name string) *client {
	e.t.Helper()
	ws, _, err := websocket.Dial(context.Background(), e.url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + name}}})
	require.NoError(e.t, err)
	c := &client{t: e.t, ws: ws, msgs: make(chan Message, 64)}
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.closeErr = err
				return
			}
			var m Message
			if json.Unmarshal(b, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	require.Equal(e.t, TypeWelcome, c.next(TypeWelcome).Type)
	return c
}

func (c *client) send(m Message) {
	b, _ := json.Marshal(m)
	require.NoError(c.t, c.ws.Write(context.Background(), websocket.MessageText, b))
}

// next waits for a message of the type, skipping others.
func (c *client) next(typ string) Message {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("connection closed waiting for %s", typ)
			}
			if m.Type == typ {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s within 10s", typ)
		}
	}
}

// answerOffer plays the browser's part of the WebRTC offer/answer.
func (c *client) answerOffer(offer string) string {
	c.t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	require.NoError(c.t, me.RegisterDefaultCodecs())
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(c.t, err)
	c.t.Cleanup(func() { pc.Close() })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			c.got.Add(1)
		}
	})
	c.mic, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "mic", "agent")
	require.NoError(c.t, err)
	require.NoError(c.t, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}))
	_, err = pc.AddTrack(c.mic)
	require.NoError(c.t, err)
	answer, err := pc.CreateAnswer(nil)
	require.NoError(c.t, err)
	gathered := webrtc.GatheringCompletePromise(pc)
	require.NoError(c.t, pc.SetLocalDescription(answer))
	<-gathered
	c.pc = pc
	return pc.LocalDescription().SDP
}

// talk sends n packets each way: robot → agent and agent → robot.
func talk(t *testing.T, f *fakeCall, c *client, n int) {
	payload := make([]byte, 160)
	for i := range n {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 1}, Payload: payload}
		raw, _ := p.Marshal()
		f.in <- raw
		require.NoError(t, c.mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i),
			Timestamp: uint32(i * 160), SSRC: 2}, Payload: payload}))
		time.Sleep(5 * time.Millisecond)
	}
}

func caseOf(t *testing.T, db *store.DB, id string) store.Case {
	c, err := store.Get[store.Case](context.Background(), db.Q(), id)
	require.NoError(t, err)
	return c
}

// TestCallAnsweredInBrowser: a robot's call rings the agents of its site
// (not the others), the first to accept gets the WebRTC offer, the robot is
// answered with the browser's answer, audio flows both ways, DTMF reaches
// the agent, and the agent's hang-up ends the call and records the case.
func TestCallAnsweredInBrowser(t *testing.T) {
	e := newEnv(t, Config{})
	amy, bob, zed := e.connect("amy"), e.connect("bob"), e.connect("zed")
	f := e.call("call-1")
	handled := make(chan struct{})
	go func() { e.hub.handle(context.Background(), f); close(handled) }()

	ring := amy.next(TypeRinging)
	require.Equal(t, "call-1", ring.Call.ID)
	require.Equal(t, "PCMU", ring.Call.Codec)
	bob.next(TypeRinging)
	require.True(t, f.rung.Load())
	select {
	case m := <-zed.msgs:
		t.Fatalf("an agent of another site was told: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}

	amy.send(Message{Type: TypeAccept, CallID: "call-1"})
	offer := amy.next(TypeOffer)
	require.Contains(t, offer.SDP, "PCMU/8000")
	require.Equal(t, "amy", bob.next(TypeTaken).By)
	bob.send(Message{Type: TypeAccept, CallID: "call-1", Ref: "b1"})
	errMsg := bob.next(TypeError)
	require.Equal(t, "taken", errMsg.Code)
	require.Equal(t, "b1", errMsg.Ref)

	amy.send(Message{Type: TypeAnswer, CallID: "call-1", SDP: amy.answerOffer(offer.SDP)})
	answered := amy.next(TypeAnswered)
	require.Equal(t, "answered", answered.Call.State)
	require.True(t, f.answered.Load(), "the robot is answered once the browser answered")
	c := caseOf(t, e.db, ring.Call.CaseID)
	require.Equal(t, store.CaseInProgress, c.Status)
	require.Equal(t, e.users["amy"].ID, string(c.HandlerID))

	talk(t, f, amy, 100)
	require.Eventually(t, func() bool { return amy.got.Load() >= 80 && f.sent() >= 80 }, 10*time.Second, 20*time.Millisecond,
		"heard by agent %d, by robot %d", amy.got.Load(), f.sent())

	f.events <- sip.CallEvent{Kind: sip.EventDTMF, Digit: '5'}
	require.Equal(t, "5", amy.next(TypeDTMF).Digit)

	amy.send(Message{Type: TypeHangup, CallID: "call-1"})
	require.Equal(t, "local-bye", amy.next(TypeEnded).Reason)
	<-handled
	c = caseOf(t, e.db, ring.Call.CaseID)
	require.NotNil(t, c.EndedAt)
	require.Equal(t, store.CaseInProgress, c.Status, "the agent closes the ticket, not the hang-up")
	require.Empty(t, e.hub.Calls())

	// how the call's audio fared stays on the case
	audit, err := store.ListAudit(context.Background(), e.db.Q(), store.AuditFilter{ObjectID: ring.Call.CaseID, Action: "call.end"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	var detail callEndDetail
	require.NoError(t, json.Unmarshal([]byte(audit[0].Detail), &detail))
	require.Equal(t, "local-bye", detail.Reason)
	require.True(t, detail.Answered)
	require.NotNil(t, detail.Media)
	require.Equal(t, f.read.Load(), detail.Media.RobotPackets)
	require.GreaterOrEqual(t, detail.Media.ToAgent, uint64(80), "the robot's packets went on to the agent")
	require.GreaterOrEqual(t, detail.Media.FromAgent, uint64(80), "the agent's packets went on to the robot")
	require.Nil(t, detail.Media.RTTMS, "no RTCP report from this robot: no round trip")
}

// TestUnansweredCallIsMissed: nobody accepts → 480 and a closed missed-call
// case; a robot giving up while ringing ends it for the agents.
func TestUnansweredCallIsMissed(t *testing.T) {
	e := newEnv(t, Config{RingTimeout: 300 * time.Millisecond})
	amy := e.connect("amy")
	f := e.call("call-2")
	done := make(chan struct{})
	go func() { e.hub.handle(context.Background(), f); close(done) }()
	ring := amy.next(TypeRinging)
	require.Equal(t, "missed", amy.next(TypeEnded).Reason)
	<-done
	require.EqualValues(t, 480, f.rejected.Load())
	c := caseOf(t, e.db, ring.Call.CaseID)
	require.Equal(t, store.CaseClosed, c.Status)
	require.Contains(t, c.Attribute, "missed call")

	g := e.call("call-3")
	go e.hub.handle(context.Background(), g)
	amy.next(TypeRinging)
	g.end("cancelled")
	require.Equal(t, "cancelled", amy.next(TypeEnded).Reason)
}

// TestRingingCallAtShutdown: the server stopping while a call rings ends
// it for the agents and closes its case as missed "(shutdown)", not as if
// the robot had hung up.
func TestRingingCallAtShutdown(t *testing.T) {
	e := newEnv(t, Config{})
	amy := e.connect("amy")
	f := e.call("call-4")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.hub.handle(ctx, f); close(done) }()
	ring := amy.next(TypeRinging)
	stop()
	require.Equal(t, sip.EndShutdown, amy.next(TypeEnded).Reason)
	<-done
	c := caseOf(t, e.db, ring.Call.CaseID)
	require.Equal(t, store.CaseClosed, c.Status)
	require.Equal(t, "missed call (shutdown)", c.Attribute)
}

// TestEndedCallKeepsItsReason: the sip server's ctx for a call also ends
// when the call does; the call's own reason (the robot's BYE) must win over
// "shutdown" however the hub's select picks between the two. (CI once saw
// "shutdown" for a robot's BYE.)
func TestEndedCallKeepsItsReason(t *testing.T) {
	e := newEnv(t, Config{})
	amy := e.connect("amy")
	for i := range 20 {
		f := e.call(fmt.Sprintf("call-bye-%d", i))
		done := make(chan struct{})
		go func() { e.hub.handle(endsWithCall{context.Background(), f}, f); close(done) }()
		amy.next(TypeRinging)
		f.end(sip.EndRemoteBye)
		require.Equal(t, sip.EndRemoteBye, amy.next(TypeEnded).Reason, "call %d", i)
		<-done
	}
}

// endsWithCall is a ctx that ends the instant its call does, so that both
// are ready whenever the hub looks.
type endsWithCall struct {
	context.Context
	f *fakeCall
}

func (c endsWithCall) Done() <-chan struct{} { return c.f.done }
func (c endsWithCall) Err() error {
	select {
	case <-c.f.done:
		return context.Canceled
	default:
		return nil
	}
}

// TestAgentReloadKeepsCall: the agent's WebSocket drops during a call; a
// new connection within the grace gets the call back with a new offer and
// the audio resumes; without one the call is hung up.
func TestAgentReloadKeepsCall(t *testing.T) {
	e := newEnv(t, Config{ReconnectGrace: time.Second})
	amy := e.connect("amy")
	f := e.call("call-4")
	go e.hub.handle(context.Background(), f)
	amy.next(TypeRinging)
	amy.send(Message{Type: TypeAccept, CallID: "call-4"})
	amy.send(Message{Type: TypeAnswer, CallID: "call-4", SDP: amy.answerOffer(amy.next(TypeOffer).SDP)})
	amy.next(TypeAnswered)
	_ = amy.ws.Close(websocket.StatusGoingAway, "reload")
	amy.pc.Close()

	again := e.connect("amy")
	offer := again.next(TypeOffer)
	require.Equal(t, "call-4", offer.CallID)
	again.send(Message{Type: TypeAnswer, CallID: "call-4", SDP: again.answerOffer(offer.SDP)})
	again.next(TypeAnswered)
	talk(t, f, again, 60)
	require.Eventually(t, func() bool { return again.got.Load() >= 40 }, 10*time.Second, 20*time.Millisecond)
	require.Empty(t, f.EndReason(), "the call survived the reload")

	_ = again.ws.Close(websocket.StatusGoingAway, "closed the tab")
	select {
	case <-f.done:
		require.Equal(t, "local-bye", f.EndReason())
	case <-time.After(5 * time.Second):
		t.Fatal("the call outlived the grace")
	}
}

// TestBadMessages: garbage, binary, unknown types and oversized frames get
// a clear error or a close, never a crash; an unauthenticated client is
// refused.
func TestBadMessages(t *testing.T) {
	e := newEnv(t, Config{})
	amy := e.connect("amy")
	require.NoError(t, amy.ws.Write(context.Background(), websocket.MessageText, []byte("{nope")))
	require.Equal(t, "bad_message", amy.next(TypeError).Code)
	require.NoError(t, amy.ws.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3}))
	require.Equal(t, "bad_message", amy.next(TypeError).Code)
	amy.send(Message{Type: "launch.missiles"})
	require.Equal(t, "unknown_type", amy.next(TypeError).Code)
	amy.send(Message{Type: TypePresence, State: "asleep"})
	require.Equal(t, "bad_presence", amy.next(TypeError).Code)
	amy.send(Message{Type: TypeAccept, CallID: "nope"})
	require.Equal(t, "no_such_call", amy.next(TypeError).Code)
	amy.send(Message{Type: TypePing, Ref: "p"})
	require.Equal(t, "p", amy.next(TypePong).Ref)

	_ = amy.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping","sdp":"`+strings.Repeat("x", 100<<10)+`"}`))
	for range amy.msgs { // the server closes the connection
	}
	require.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(amy.closeErr), "%v", amy.closeErr)

	_, res, err := websocket.Dial(context.Background(), e.url, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
}

// fakeRobot is a robot's MESSAGE endpoint.
type fakeRobot struct {
	mu     sync.Mutex
	bodies []string
	status int
}

func (r *fakeRobot) SendMessage(_ context.Context, deviceID, contentType string, body []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status >= 300 {
		return r.status, errors.New("refused")
	}
	r.bodies = append(r.bodies, deviceID+" "+contentType+" "+string(body))
	return 200, nil
}

// TestRobotCommands: the agent on a call commands its robot; each command
// is checked, sent as JSON MESSAGE, answered and recorded on the case with
// the agent and the remark; an abnormal open needs its reason and remark;
// the robot's state updates reach the agent.
func TestRobotCommands(t *testing.T) {
	e := newEnv(t, Config{})
	robot := &fakeRobot{}
	e.hub.SetMessenger(robot)
	amy, bob := e.connect("amy"), e.connect("bob")
	f := e.call("call-5")
	go e.hub.handle(context.Background(), f)
	ring := amy.next(TypeRinging)
	amy.send(Message{Type: TypeAccept, CallID: "call-5"})
	amy.send(Message{Type: TypeAnswer, CallID: "call-5", SDP: amy.answerOffer(amy.next(TypeOffer).SDP)})
	amy.next(TypeAnswered)

	cmd := func(c *client, ref, command, reason string) Message {
		c.send(Message{Type: TypeRobotCommand, Ref: ref, CallID: "call-5", Command: json.RawMessage(command), Reason: reason})
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-c.msgs:
				require.True(t, ok, "connection closed")
				if m.Ref == ref {
					return m
				}
			case <-deadline:
				t.Fatalf("no answer to %s", command)
			}
		}
	}
	ok := cmd(amy, "1", `{"action":"display","mode":"qr","payload":"https://pay.example/123"}`, "")
	require.Equal(t, TypeRobotResult, ok.Type, "%+v", ok)
	require.Equal(t, 200, ok.Status)
	require.Equal(t, TypeRobotResult, cmd(amy, "2", `{"action":"open_gate","abnormal":true,"abnormal_reason":"special-vehicle"}`, "ambulance").Type)
	for _, bad := range []struct{ cmd, reason string }{
		{`{"action":"open_gate","abnormal":true}`, "x"},
		{`{"action":"open_gate","abnormal":true,"abnormal_reason":"special-vehicle"}`, ""},
		{`{"action":"display","mode":"hologram","payload":"x"}`, ""},
		{`{"action":"led","color":"red","prompt":"hi"}`, ""},
		{`{"action":"self_destruct"}`, ""},
		{`{"action":"voice","prompt":"hi","extra":1}`, ""},
		{`"not an object"`, ""},
	} {
		m := cmd(amy, "bad", bad.cmd, bad.reason)
		require.Equal(t, TypeError, m.Type, bad.cmd)
		require.Equal(t, "bad_command", m.Code, bad.cmd)
	}
	require.Equal(t, "not_yours", cmd(bob, "3", `{"action":"open_gate"}`, "").Code)
	robot.mu.Lock()
	require.Len(t, robot.bodies, 2, "only checked commands reach the robot")
	require.Contains(t, robot.bodies[0], "dev-call-5 application/json ")
	require.Contains(t, robot.bodies[1], `"abnormal_reason":"special-vehicle"`)
	robot.status = 486
	robot.mu.Unlock()
	require.Equal(t, "robot_unreachable", cmd(amy, "4", `{"action":"led","color":"green"}`, "").Code)

	audit, err := store.ListAudit(context.Background(), e.db.Q(), store.AuditFilter{ObjectID: ring.Call.CaseID, Limit: 100})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
		if a.Action == "robot.open_gate" {
			require.Equal(t, "amy", a.ActorName)
			require.Contains(t, a.Detail, `"reason":"ambulance"`)
		}
	}
	require.Contains(t, actions, "robot.display")
	require.Contains(t, actions, "robot.open_gate")
	require.Contains(t, actions, "robot.led", "an undelivered command is recorded too")

	e.hub.RobotMessage("dev-call-5", "application/json", []byte(`{"display":{"mode":"text","payload":"Please wait"}}`))
	st := amy.next(TypeRobotState)
	require.JSONEq(t, `{"display":{"mode":"text","payload":"Please wait"}}`, string(st.RobotState))
	e.hub.RobotMessage("dev-call-5", "application/json", []byte(`{broken`))
	f.end("remote-bye")
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`{"action":"open_gate"}`, `{"action":"display","mode":"qr","payload":"x"}`, `{"action":"led","color":"red"}`, `{}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err == nil && c.Action == "" {
			t.Fatal("accepted a command without an action")
		}
	})
}

// TestOutboundCall: an agent calls a robot of their site; they hear it
// ring, and when it answers the call is bridged like an incoming one; a
// robot that refuses ends the attempt with the reason and a closed case;
// robots of other sites cannot be called.
func TestOutboundCall(t *testing.T) {
	e := newEnv(t, Config{})
	amy := e.connect("amy")
	f := e.call("out-1")
	refuse := false
	e.hub.dial = func(ctx context.Context, deviceID string, onRinging func()) (Call, error) {
		onRinging()
		if refuse {
			return nil, &sip.StatusError{Code: 486, Reason: "Busy Here"}
		}
		require.Equal(t, f.dev.ID, deviceID)
		return f, nil
	}
	amy.send(Message{Type: TypeDial, DeviceID: f.dev.ID})
	dialing := amy.next(TypeDialing)
	require.Equal(t, "dialing", dialing.Call.State)
	amy.next(TypeRingingOut)
	offer := amy.next(TypeOffer)
	require.Equal(t, "out-1", offer.CallID)
	amy.send(Message{Type: TypeAnswer, CallID: "out-1", SDP: amy.answerOffer(offer.SDP)})
	amy.next(TypeAnswered)
	require.False(t, f.answered.Load(), "an outbound call is answered by the robot, not by us")
	talk(t, f, amy, 60)
	require.Eventually(t, func() bool { return amy.got.Load() >= 40 && f.sent() >= 40 }, 10*time.Second, 20*time.Millisecond)
	c := caseOf(t, e.db, dialing.Call.CaseID)
	require.Equal(t, e.users["amy"].ID, string(c.HandlerID))
	amy.send(Message{Type: TypeHangup, CallID: "out-1"})
	require.Equal(t, "local-bye", amy.next(TypeEnded).Reason)

	refuse = true
	g := e.call("out-2")
	amy.send(Message{Type: TypeDial, DeviceID: g.dev.ID})
	d2 := amy.next(TypeDialing)
	require.Equal(t, "refused 486", amy.next(TypeEnded).Reason)
	require.Eventually(t, func() bool { return caseOf(t, e.db, d2.Call.CaseID).Status == store.CaseClosed }, 5*time.Second, 20*time.Millisecond)

	zed := e.connect("zed")
	zed.send(Message{Type: TypeDial, DeviceID: g.dev.ID, Ref: "z"})
	require.Equal(t, "no_such_device", zed.next(TypeError).Code)
}

// TestAcceptedButNeverConnected: an agent who accepts but whose browser
// never answers the offer does not leave the robot ringing forever.
func TestAcceptedButNeverConnected(t *testing.T) {
	e := newEnv(t, Config{RingTimeout: 500 * time.Millisecond})
	amy := e.connect("amy")
	f := e.call("call-6")
	done := make(chan struct{})
	go func() { e.hub.handle(context.Background(), f); close(done) }()
	amy.next(TypeRinging)
	amy.send(Message{Type: TypeAccept, CallID: "call-6"})
	amy.next(TypeOffer) // and never answers it
	require.Equal(t, "agent did not connect", amy.next(TypeEnded).Reason)
	<-done
	require.EqualValues(t, 480, f.rejected.Load())
}
