package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/attendant/attendant/store"
)

const (
	// maxMessage bounds one client message: SDP answers are a few KiB.
	maxMessage = 64 << 10
	// sendQueue bounds what waits for a slow browser; past it the
	// connection is dropped (the browser reconnects and gets the state).
	sendQueue    = 64
	writeTimeout = 10 * time.Second
)

// Authenticator tells who makes a request (session cookie or bearer
// token); false when nobody valid.
type Authenticator func(r *http.Request) (store.User, bool)

// conn is one browser WebSocket.
type conn struct {
	user   store.User
	ws     *websocket.Conn
	out    chan Message
	cancel context.CancelFunc
	once   sync.Once
}

// send queues m; a browser that does not read is dropped, not waited for.
func (c *conn) send(m Message) {
	select {
	case c.out <- m:
	default:
		c.close(websocket.StatusPolicyViolation, "too slow")
	}
}

func (c *conn) close(code websocket.StatusCode, why string) {
	c.once.Do(func() {
		c.cancel()
		_ = c.ws.Close(code, why)
	})
}

// Handler serves the agents' WebSocket (GET /api/v1/ws). The browser must
// be logged in; the page's origin must be the server's (websocket.Accept
// refuses cross-origin pages).
func (h *Hub) Handler(auth Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := auth(r)
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"log in first"}}` + "\n"))
			return
		}
		if u.Role == store.RoleReviewer {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":"forbidden","message":"reviewers take no calls"}}` + "\n"))
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered
		}
		ws.SetReadLimit(maxMessage)
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		c := &conn{user: u, ws: ws, out: make(chan Message, sendQueue), cancel: cancel}
		defer c.close(websocket.StatusNormalClosure, "")
		go c.writeLoop(ctx)
		h.attach(ctx, c)
		defer h.detach(c)
		h.readLoop(ctx, c)
	})
}

func (c *conn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.out:
			b, err := json.Marshal(m)
			if err != nil {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err = c.ws.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.close(websocket.StatusGoingAway, "write failed")
				return
			}
		}
	}
}

func (h *Hub) readLoop(ctx context.Context, c *conn) {
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			return // closed, too big (the library closes with 1009), or gone
		}
		if typ != websocket.MessageText {
			c.send(Message{Type: TypeError, Code: "bad_message", Error: "messages are JSON text"})
			continue
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			c.send(Message{Type: TypeError, Code: "bad_message", Error: "not a JSON message"})
			continue
		}
		if err := h.dispatch(ctx, c, m); err != nil {
			c.send(Message{Type: TypeError, Ref: m.Ref, CallID: m.CallID, Code: errorCode(err), Error: errorText(err)})
		}
	}
}

var errUnknownType = errors.New("unknown_type")

// errorCode is the stable code of err for clients: the sentinel it wraps.
func errorCode(err error) string {
	for _, e := range []error{errNoSuchCall, errNotYours, errTaken, errBusy, errBridge, errBadSDP, errCallFailure,
		errUnknownType, errBadPresence, errBadCommand, errRobot, errNoSuchDevice, errNoAgent, errTransferPending,
		errNoTransfer, errHoldUnsupported, errNotAnsweredYet, errTransferToSelf, errEvidenceRequired} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "internal"
}

var errBadPresence = errors.New("bad_presence")

func errorText(err error) string {
	switch {
	case errors.Is(err, errNoSuchCall):
		return "no such call (it may have ended)"
	case errors.Is(err, errTaken):
		return "another agent took this call"
	case errors.Is(err, errBusy):
		return "you are on another call"
	case errors.Is(err, errNotYours):
		return "this call is not yours"
	case errors.Is(err, errBadSDP):
		return "the WebRTC answer was not accepted"
	case errors.Is(err, errBridge):
		return "the call's audio could not be set up"
	case errors.Is(err, errCallFailure):
		return "the robot did not take the answer"
	case errors.Is(err, errUnknownType):
		return "unknown message type"
	case errors.Is(err, errBadPresence):
		return "presence is online, away or busy"
	case errors.Is(err, errRobot):
		return "the robot did not take the command"
	case errors.Is(err, errNoSuchDevice):
		return "no such robot (or not one of your sites)"
	case errors.Is(err, errNoAgent):
		return "no free agent to take the call"
	case errors.Is(err, errTransferPending):
		return "a transfer of this call is already under way"
	case errors.Is(err, errNoTransfer):
		return "no transfer of this call is under way"
	case errors.Is(err, errHoldUnsupported):
		return "this call cannot be put on hold"
	case errors.Is(err, errNotAnsweredYet):
		return "the call is not answered yet"
	case errors.Is(err, errTransferToSelf):
		return "the call is yours already"
	}
	return err.Error()
}

func (h *Hub) dispatch(ctx context.Context, c *conn, m Message) error {
	switch m.Type {
	case TypePing:
		c.send(Message{Type: TypePong, Ref: m.Ref})
		return nil
	case TypePresence:
		switch m.State {
		case PresenceOnline, PresenceAway, PresenceBusy:
		default:
			return errBadPresence
		}
		h.setPresence(c.user.ID, m.State)
		return nil
	case TypeAccept:
		return h.accept(ctx, c.user, m.CallID, c)
	case TypeDecline:
		if err := h.cancelTransfer(c.user, m.CallID, true); err != nil && !errors.Is(err, errNoTransfer) && !errors.Is(err, errNotYours) {
			return err
		}
		return nil // an incoming call rings on for the others
	case TypeTransfer:
		return h.transfer(c.user, m.CallID, m.To)
	case TypeCancelTransfer:
		return h.cancelTransfer(c.user, m.CallID, false)
	case TypeHoldCall:
		return h.hold(ctx, c.user, m.CallID, m.State)
	case TypeCalloutList:
		c.send(Message{Type: TypeCalloutList, Ref: m.Ref, Lanes: h.calloutFor(c.user)})
		return nil
	case TypeAgentsList:
		c.send(Message{Type: TypeAgents, Ref: m.Ref, Agents: h.agentsFor(c.user)})
		return nil
	case TypeAnswer:
		return h.answer(ctx, c.user, m.CallID, m.SDP)
	case TypeHangup:
		return h.hangup(ctx, c.user, m.CallID)
	case TypeDial:
		return h.dialOut(ctx, c.user, m.DeviceID, c)
	case TypeCancelDial:
		return h.cancelDial(c.user)
	case TypeRobotCommand:
		status, err := h.robotCommand(ctx, c.user, m)
		if err != nil {
			return err
		}
		c.send(Message{Type: TypeRobotResult, Ref: m.Ref, CallID: m.CallID, Status: status})
		return nil
	}
	return errUnknownType
}

func (h *Hub) setPresence(userID, state string) {
	h.mu.Lock()
	a := h.agents[userID]
	if a == nil {
		h.mu.Unlock()
		return
	}
	a.presence = state
	var ringing []CallInfo
	if state == PresenceOnline && !h.onCallLocked(userID) {
		for _, ac := range h.calls {
			if ac.info.AgentID == "" && mayTake(a.user, ac.info.SiteID) {
				ringing = append(ringing, ac.info)
			}
		}
	}
	h.mu.Unlock()
	for i := range ringing {
		h.sendTo(userID, Message{Type: TypeRinging, Call: &ringing[i]})
	}
}

// attach registers a browser: it gets the welcome with what rings for it,
// and an agent with a call in progress gets the call back.
func (h *Hub) attach(ctx context.Context, c *conn) {
	h.mu.Lock()
	a := h.agents[c.user.ID]
	if a == nil {
		a = &agent{presence: PresenceOnline, conns: map[*conn]struct{}{}}
		h.agents[c.user.ID] = a
	}
	a.user = c.user
	a.conns[c] = struct{}{}
	if a.grace != nil {
		a.grace.Stop()
		a.grace = nil
	}
	var calls []CallInfo
	resume := ""
	// only a browser that comes back alone takes the call back: another
	// open tab of the agent's may still be holding it
	alone := len(a.conns) == 1
	for _, ac := range h.calls {
		switch {
		case ac.info.AgentID == c.user.ID:
			calls = append(calls, ac.info)
			if alone {
				resume = ac.info.ID
			}
		case ac.info.AgentID == "" && mayTake(a.user, ac.info.SiteID):
			calls = append(calls, ac.info)
		}
	}
	welcome := Message{Type: TypeWelcome, Version: ProtocolVersion, Calls: calls, Agent: &AgentInfo{ID: c.user.ID,
		Username: c.user.Username, Role: c.user.Role, Seat: c.user.Seat, Presence: a.presence}}
	h.mu.Unlock()
	c.send(welcome)
	if resume != "" {
		go func() {
			if err := h.accept(ctx, c.user, resume, c); err != nil {
				c.send(Message{Type: TypeError, CallID: resume, Code: errorCode(err), Error: errorText(err)})
			}
		}()
	}
}

// detach forgets a browser. An agent whose last browser went away during
// a call has ReconnectGrace to come back before the call is hung up.
func (h *Hub) detach(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.user.ID]
	if a == nil {
		return
	}
	delete(a.conns, c)
	if len(a.conns) > 0 {
		return
	}
	var callID string
	for _, ac := range h.calls {
		if ac.info.AgentID == c.user.ID {
			callID = ac.info.ID
		}
	}
	if callID == "" {
		delete(h.agents, c.user.ID)
		return
	}
	user := c.user
	a.grace = time.AfterFunc(h.cfg.ReconnectGrace, func() {
		h.mu.Lock()
		still := h.agents[user.ID]
		gone := still == a && len(a.conns) == 0
		if gone {
			delete(h.agents, user.ID)
		}
		h.mu.Unlock()
		if gone {
			h.log.Warn("agent did not come back; hanging up", "agent", user.Username, "call", callID)
			_ = h.hangup(context.Background(), user, callID)
		}
	})
}
