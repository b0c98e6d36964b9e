// Package signaling is the real-time hub between agents' browsers and the
// live things they handle. This first part rings agents for robot calls and
// bridges the accepted call's audio into the agent's browser: presence, call
// offers, accept, the WebRTC offer/answer, hang-up, DTMF and hold, and a
// browser that reconnects during a call gets the call back.
//
// Browsers speak JSON over one WebSocket (docs/protocol.md). The hub
// composes sip (the call leg), media (the bridge) and store (the case).
package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
)

// Call is an incoming robot call; *sip.Call is one.
type Call interface {
	ID() string
	Device() sip.Device
	From() string
	Codec() sip.Codec
	Ring() error
	Answer(ctx context.Context) error
	Reject(code int, reason string) error
	Hangup(ctx context.Context) error
	Done() <-chan struct{}
	EndReason() string
	Events() <-chan sip.CallEvent
	ReadRTP(buf []byte) (int, error)
	WriteRTP(pkt []byte) error
	Stats() sip.CallStats
}

// CallRecorder records a call's audio (recorder.Recorder).
type CallRecorder interface {
	StartCallAudio(recorder.CallAudioConfig) (*recorder.CallAudio, error)
}

// Bridger bridges a call leg to an agent's browser (media.Bridger).
type Bridger interface {
	Start(ctx context.Context, leg media.CallLeg, codec media.CallCodec) (*media.Bridge, string, error)
	// Handover makes a new agent side for the call prev carries; it takes
	// over when its answer is applied (a reload, a transfer).
	Handover(ctx context.Context, prev *media.Bridge) (*media.Bridge, string, error)
}

// Defaults for Config.
const (
	DefaultRingTimeout    = 30 * time.Second
	DefaultReconnectGrace = 20 * time.Second
)

// Config configures a Hub.
type Config struct {
	// RingTimeout: nobody accepts within it → the call is refused 480 and
	// its case is a missed call.
	RingTimeout time.Duration
	// ReconnectGrace is how long an answered call waits for its agent's
	// browser to come back after its WebSocket dropped.
	ReconnectGrace time.Duration
	// CongestedAfter: a vehicle waiting this long at a lane puts the lane
	// on the call-out list (DefaultCongestedAfter).
	CongestedAfter time.Duration
	// QualityEvery is how often an answered call's agent gets call.quality
	// (DefaultQualityEvery).
	QualityEvery time.Duration
	// Recorder, when set, records both sides of every answered call.
	Recorder CallRecorder
	Log      *slog.Logger
}

// Hub rings agents and bridges calls. Its methods are safe for concurrent
// use; its state is guarded by one mutex and never held across I/O.
type Hub struct {
	cfg     Config
	db      *store.DB
	bridger Bridger
	log     *slog.Logger

	messenger RobotMessenger
	dial      func(ctx context.Context, deviceID string, onRinging func()) (Call, error)

	mu          sync.Mutex
	agents      map[string]*agent // by user id
	calls       map[string]*activeCall
	robotStates map[string]json.RawMessage    // last state per device
	dialing     map[string]context.CancelFunc // agent id → outbound call ringing
	lanes       map[string]*laneWait          // device id → vehicle waiting
}

type agent struct {
	user     store.User
	presence string
	conns    map[*conn]struct{}
	grace    *time.Timer // running while an agent with a call has no connection
}

// activeCall is a call the hub knows; fields under Hub.mu.
type activeCall struct {
	c        Call
	info     CallInfo
	bridge   *media.Bridge
	audio    *recorder.CallAudio // nil when not recorded
	answered bool
	outbound bool          // we called the robot: its INVITE was ours
	accepted chan struct{} // closed when an agent accepted
	answerCh chan struct{} // closed when the robot was answered
	ended    bool
	transfer *pendingTransfer // an agent is handing the call to another
}

// New returns a hub.
func New(cfg Config, db *store.DB, bridger Bridger) *Hub {
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = DefaultRingTimeout
	}
	if cfg.ReconnectGrace <= 0 {
		cfg.ReconnectGrace = DefaultReconnectGrace
	}
	if cfg.CongestedAfter <= 0 {
		cfg.CongestedAfter = DefaultCongestedAfter
	}
	if cfg.QualityEvery <= 0 {
		cfg.QualityEvery = DefaultQualityEvery
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, db: db, bridger: bridger, log: cfg.Log, agents: map[string]*agent{}, calls: map[string]*activeCall{},
		robotStates: map[string]json.RawMessage{}, dialing: map[string]context.CancelFunc{}, lanes: map[string]*laneWait{}}
}

// SetMessenger sets how robot commands reach robots (the SIP server, made
// after the hub because it hands the hub its calls).
func (h *Hub) SetMessenger(m RobotMessenger) { h.messenger = m }

// mayTake says whether u may be offered calls of siteID.
func mayTake(u store.User, siteID string) bool {
	switch u.Role {
	case store.RoleAdmin:
		return true
	case store.RoleAgent, store.RoleSupervisor:
		return slices.Contains(u.SiteIDs, siteID)
	}
	return false
}

// IncomingCall takes a robot's call: it opens a call case, rings the agents
// who may take it and waits until the call ends. It is the sip.CallHandler.
func (h *Hub) IncomingCall(ctx context.Context, c *sip.Call) { h.handle(ctx, c) }

func (h *Hub) handle(ctx context.Context, c Call) {
	dev := c.Device()
	now := store.Now()
	cs := store.Case{ID: store.NewID(), SiteID: dev.SiteID, Kind: store.CaseCall, Status: store.CasePending,
		DeviceID: store.OptionalID(dev.ID), StartedAt: now, CreatedAt: now, UpdatedAt: now}
	err := h.db.InTx(ctx, func(q store.Q) error {
		if err := store.Insert(ctx, q, &cs); err != nil {
			return err
		}
		_, err := h.db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "sip", Action: "call.incoming", ObjectType: "case",
			ObjectID: cs.ID, SiteID: cs.SiteID, Detail: fmt.Sprintf(`{"call_id":%q,"device_id":%q}`, c.ID(), dev.ID)})
		return err
	})
	if err != nil {
		h.log.Error("cannot open a case for a call; refusing it", "call", c.ID(), "err", err)
		_ = c.Reject(503, "Service Unavailable")
		return
	}
	ac := &activeCall{c: c, accepted: make(chan struct{}), answerCh: make(chan struct{}), info: CallInfo{ID: c.ID(), CaseID: cs.ID, SiteID: dev.SiteID,
		DeviceID: dev.ID, From: c.From(), Codec: c.Codec().Name, State: "ringing", Since: now}}
	h.mu.Lock()
	h.calls[c.ID()] = ac
	h.mu.Unlock()
	if err := c.Ring(); err != nil {
		h.log.Warn("ring robot", "call", c.ID(), "err", err)
	}
	h.broadcastRinging(ac)
	h.laneCallChanged(dev.ID)
	log := h.log.With("call", c.ID(), "case", cs.ID, "device", dev.ID)
	log.Info("call ringing")

	// this goroutine also forwards the robot's events (DTMF, hold) to the
	// agent: a call has enough goroutines of pion's and sip's
	reason := ""
	timer := time.NewTimer(h.cfg.RingTimeout)
	defer timer.Stop()
	accepted, answered, timeout := ac.accepted, (<-chan struct{})(nil), timer.C
	events := c.Events()
	var quality <-chan time.Time // ticks once answered
	var meter qualityMeter
wait:
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			h.forwardEvent(ac, ev)
		case <-quality:
			h.sendQuality(ac, &meter)
		case <-accepted:
			// the agent's browser must connect too, or the robot would ring on
			timer.Reset(h.cfg.RingTimeout)
			accepted, answered = nil, ac.answerCh
		case <-answered:
			answered, timeout = nil, nil
			tick := time.NewTicker(h.cfg.QualityEvery)
			defer tick.Stop()
			quality = tick.C
		case <-timeout:
			reason = "missed"
			if answered != nil {
				reason = "agent did not connect"
			}
			if err := c.Reject(480, "Temporarily Unavailable"); err != nil {
				log.Warn("refuse a call nobody answered", "reason", reason, "err", err)
			}
			break wait
		case <-c.Done():
			break wait
		case <-ctx.Done():
			// ctx also ends when the call does: then its own reason stands
			select {
			case <-c.Done():
			default:
				reason = sip.EndShutdown // the server stops: the case says so, not "ended"
			}
			break wait
		}
	}
	if reason == "" {
		reason = c.EndReason()
	}
	h.end(ctx, ac, reason)
}

// end tidies up after a call: the bridge, the agents' views, the case.
func (h *Hub) end(ctx context.Context, ac *activeCall, reason string) {
	h.mu.Lock()
	ac.ended = true
	delete(h.calls, ac.info.ID)
	br, answered, audio := ac.bridge, ac.answered, ac.audio
	ac.bridge = nil
	var transferRung []string
	if tr := ac.transfer; tr != nil {
		tr.finished = true
		tr.timer.Stop()
		if tr.bridge != nil {
			tr.bridge.Close()
		}
		transferRung = tr.rung
		ac.transfer = nil
	}
	agentID := ac.info.AgentID
	h.mu.Unlock()
	var quality *callQuality
	if answered {
		quality = newCallQuality(ac.c.Stats(), br)
	}
	if br != nil {
		br.Close()
	}
	if audio != nil {
		audio.Close() // the last part is spooled: indexed on the case within seconds
	}
	if reason == "" {
		reason = "ended"
	}
	h.broadcast(func(a *agent) bool {
		return mayTake(a.user, ac.info.SiteID) || a.user.ID == agentID || slices.Contains(transferRung, a.user.ID)
	}, Message{Type: TypeEnded, CallID: ac.info.ID, Reason: reason})
	now := store.Now()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := h.db.InTx(dctx, func(q store.Q) error {
		// only the call's own columns: the agent may be closing the ticket
		// at the same moment
		stmt := "UPDATE cases SET ended_at = ?, updated_at = ? WHERE id = ?"
		args := []any{now, now, ac.info.CaseID}
		if !answered {
			// nobody spoke to the robot: nothing is left to do on this case
			stmt = "UPDATE cases SET ended_at = ?, updated_at = ?, status = ?, closed_at = ?, attribute = ? WHERE id = ?"
			args = []any{now, now, store.CaseClosed, now, "missed call (" + reason + ")", ac.info.CaseID}
		}
		if _, err := q.ExecContext(dctx, q.Rebind(stmt), args...); err != nil {
			return err
		}
		detail, err := json.Marshal(callEndDetail{CallID: ac.info.ID, Reason: reason, Answered: answered, Media: quality})
		if err != nil {
			return err
		}
		_, err = h.db.AppendAudit(dctx, q, store.AuditEntry{ActorName: "sip", Action: "call.end", ObjectType: "case",
			ObjectID: ac.info.CaseID, SiteID: ac.info.SiteID, Detail: string(detail)})
		return err
	})
	if err != nil {
		h.log.Error("record the end of a call", "call", ac.info.ID, "case", ac.info.CaseID, "err", err)
	} else {
		h.caseChangedByID(dctx, ac.info.CaseID)
	}
	h.laneCallChanged(ac.info.DeviceID)
	attrs := []any{"call", ac.info.ID, "reason", reason, "answered", answered}
	if quality != nil {
		attrs = append(attrs, "robot_packets", quality.RobotPackets, "robot_lost", quality.RobotLost,
			"robot_jitter_ms", quality.RobotJitterMS, "to_agent", quality.ToAgent, "from_agent", quality.FromAgent)
	}
	h.log.Info("call ended", attrs...)
}

// forwardEvent passes one of the robot's call events to the call's agent.
func (h *Hub) forwardEvent(ac *activeCall, ev sip.CallEvent) {
	if ev.Local {
		return // our own hold: the hub confirmed it to the agent already
	}
	var m Message
	switch ev.Kind {
	case sip.EventDTMF:
		m = Message{Type: TypeDTMF, CallID: ac.info.ID, Digit: string(ev.Digit)}
	case sip.EventHold:
		m = Message{Type: TypeHold, CallID: ac.info.ID, State: "hold", By: "robot"}
	case sip.EventResume:
		m = Message{Type: TypeHold, CallID: ac.info.ID, State: "resume", By: "robot"}
	default:
		return
	}
	h.mu.Lock()
	agentID := ac.info.AgentID
	h.mu.Unlock()
	if agentID != "" {
		h.sendTo(agentID, m)
	}
}

// waitEvents forwards the call's events to its agent until it ends.
func (h *Hub) waitEvents(ctx context.Context, ac *activeCall) {
	events := ac.c.Events()
	tick := time.NewTicker(h.cfg.QualityEvery) // the robot answered already
	defer tick.Stop()
	var meter qualityMeter
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			h.forwardEvent(ac, ev)
		case <-tick.C:
			h.sendQuality(ac, &meter)
		case <-ac.c.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

func (h *Hub) broadcastRinging(ac *activeCall) {
	info := ac.info
	h.broadcast(func(a *agent) bool {
		return a.presence == PresenceOnline && mayTake(a.user, info.SiteID) && !h.onCallLocked(a.user.ID)
	},
		Message{Type: TypeRinging, Call: &info})
}

// onCallLocked reports whether the agent has a call; h.mu is held.
func (h *Hub) onCallLocked(agentID string) bool {
	for _, ac := range h.calls {
		if ac.info.AgentID == agentID {
			return true
		}
	}
	return false
}

// broadcast sends m to every connection of the agents that match.
func (h *Hub) broadcast(match func(*agent) bool, m Message) {
	h.mu.Lock()
	var targets []*conn
	for _, a := range h.agents {
		if match(a) {
			for c := range a.conns {
				targets = append(targets, c)
			}
		}
	}
	h.mu.Unlock()
	for _, c := range targets {
		c.send(m)
	}
}

func (h *Hub) sendTo(agentID string, m Message) {
	h.broadcast(func(a *agent) bool { return a.user.ID == agentID }, m)
}

// errors a client gets, as codes
var (
	errNoSuchCall   = errors.New("no_such_call")
	errNotYours     = errors.New("not_yours")
	errTaken        = errors.New("taken")
	errBusy         = errors.New("busy")
	errBridge       = errors.New("bridge_failed")
	errBadSDP       = errors.New("bad_sdp")
	errCallFailure  = errors.New("call_failed")
	errNoSuchDevice = errors.New("no_such_device")
)

// accept gives the call to the agent and sends the WebRTC offer to the
// browser that asked (to, or all the agent's browsers when nil).
func (h *Hub) accept(ctx context.Context, u store.User, callID string, to *conn) error {
	h.mu.Lock()
	ac, ok := h.calls[callID]
	switch {
	case !ok || ac.ended:
		h.mu.Unlock()
		return errNoSuchCall
	case !mayTake(u, ac.info.SiteID):
		h.mu.Unlock()
		return errNoSuchCall
	case ac.info.AgentID != "" && ac.info.AgentID != u.ID && ac.transfer != nil:
		return h.acceptTransferLocked(ctx, u, ac, to)
	case ac.info.AgentID != "" && ac.info.AgentID != u.ID:
		h.mu.Unlock()
		return errTaken
	case ac.info.AgentID == "" && h.onCallLocked(u.ID):
		h.mu.Unlock()
		return errBusy
	}
	first := ac.info.AgentID == ""
	ac.info.AgentID, ac.info.State = u.ID, "connecting"
	old := ac.bridge
	ac.bridge = nil
	h.mu.Unlock()
	if first {
		close(ac.accepted)
		h.broadcast(func(a *agent) bool { return a.user.ID != u.ID && mayTake(a.user, ac.info.SiteID) },
			Message{Type: TypeTaken, CallID: callID, By: u.Username})
	}
	codec := ac.c.Codec()
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var (
		br    *media.Bridge
		offer string
		err   error
	)
	if old != nil {
		// the agent came back (reload): the new page gets a new side of the
		// same bridge, so the robot's stream goes on unchanged
		br, offer, err = h.bridger.Handover(bctx, old)
		old.Close()
	} else {
		br, offer, err = h.bridger.Start(bctx, ac.c, media.CallCodec{Name: codec.Name, PayloadType: codec.PayloadType,
			ClockRate: codec.ClockRate, Channels: codec.Channels})
	}
	if err != nil {
		h.log.Error("bridge a call to an agent", "call", callID, "err", err)
		return errBridge
	}
	h.mu.Lock()
	if ac.ended {
		h.mu.Unlock()
		br.Close()
		return errNoSuchCall
	}
	ac.bridge = br
	if ac.audio == nil && h.cfg.Recorder != nil {
		a, err := h.cfg.Recorder.StartCallAudio(recorder.CallAudioConfig{CaseID: ac.info.CaseID, SiteID: ac.info.SiteID,
			DeviceID: ac.info.DeviceID, Codec: codec.Name, Start: time.Now()})
		if err != nil {
			h.log.Warn("call not recorded", "call", callID, "err", err)
		}
		ac.audio = a
	}
	if audio := ac.audio; audio != nil {
		br.SetTap(func(fromAgent bool, p *rtp.Packet) { audio.Packet(fromAgent, p.Timestamp, p.Payload, time.Now()) })
	}
	h.mu.Unlock()
	h.mu.Lock()
	state := h.robotStates[ac.info.DeviceID]
	h.mu.Unlock()
	m := Message{Type: TypeOffer, CallID: callID, SDP: offer, Call: ptr(ac.snapshot(h)), RobotState: state}
	if to != nil {
		to.send(m)
	} else {
		h.sendTo(u.ID, m)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (ac *activeCall) snapshot(h *Hub) CallInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return ac.info
}

// answer applies the browser's answer and, the first time, answers the
// robot's INVITE.
func (h *Hub) answer(ctx context.Context, u store.User, callID, sdp string) error {
	h.mu.Lock()
	ac, ok := h.calls[callID]
	if !ok || ac.ended {
		h.mu.Unlock()
		return errNoSuchCall
	}
	if tr := ac.transfer; tr != nil && tr.taker == u.ID && tr.bridge != nil && ac.info.AgentID != u.ID {
		return h.answerTransferLocked(ctx, u, ac, sdp)
	}
	if ac.info.AgentID != u.ID || ac.bridge == nil {
		h.mu.Unlock()
		return errNotYours
	}
	br, answered := ac.bridge, ac.answered
	h.mu.Unlock()
	if err := br.Answer(sdp); err != nil {
		return errBadSDP
	}
	if !answered {
		actx, cancel := context.WithTimeout(ctx, 35*time.Second)
		defer cancel()
		if ac.outbound {
			// the robot answered our INVITE already
		} else if err := ac.c.Answer(actx); err != nil {
			h.log.Warn("answer the robot", "call", callID, "err", err)
			return errCallFailure
		}
		now := store.Now()
		err := h.db.InTx(ctx, func(q store.Q) error {
			c, err := store.Get[store.Case](ctx, q, ac.info.CaseID)
			if err != nil {
				return err
			}
			c.HandlerID, c.Status, c.UpdatedAt = store.OptionalID(u.ID), store.CaseInProgress, now
			if err := store.Update(ctx, q, &c); err != nil {
				return err
			}
			_, err = h.db.AppendAudit(ctx, q, store.AuditEntry{ActorID: u.ID, ActorName: u.Username, Action: "call.answer",
				ObjectType: "case", ObjectID: c.ID, SiteID: c.SiteID, Detail: fmt.Sprintf(`{"call_id":%q}`, callID)})
			return err
		})
		if err != nil {
			h.log.Error("record the answer of a call", "call", callID, "err", err)
		} else {
			h.caseChangedByID(ctx, ac.info.CaseID)
		}
	}
	h.mu.Lock()
	if !ac.answered && ac.answerCh != nil {
		close(ac.answerCh)
	}
	ac.answered, ac.info.State = true, "answered"
	info := ac.info
	h.mu.Unlock()
	h.sendTo(u.ID, Message{Type: TypeAnswered, CallID: callID, Call: &info})
	return nil
}

// ownCallLocked returns the live call callID when it is u's; h.mu is held.
func (h *Hub) ownCallLocked(u store.User, callID string) (*activeCall, error) {
	ac, ok := h.calls[callID]
	if !ok || ac.ended {
		return nil, errNoSuchCall
	}
	if ac.info.AgentID != u.ID {
		return nil, errNotYours
	}
	return ac, nil
}

func (h *Hub) hangup(ctx context.Context, u store.User, callID string) error {
	h.mu.Lock()
	ac, err := h.ownCallLocked(u, callID)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := ac.c.Hangup(hctx); err != nil {
		h.log.Warn("hang up", "call", callID, "err", err)
	}
	return nil
}

// Calls lists the calls the hub holds now (for the API and tests).
func (h *Hub) Calls() []CallInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]CallInfo, 0, len(h.calls))
	for _, ac := range h.calls {
		out = append(out, ac.info)
	}
	return out
}

// BridgeStats returns the audio counters of a call's bridge.
func (h *Hub) BridgeStats(callID string) (media.BridgeStats, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ac, ok := h.calls[callID]
	if !ok || ac.bridge == nil {
		return media.BridgeStats{}, false
	}
	return ac.bridge.Stats(), true
}
