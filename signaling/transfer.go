package signaling

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/store"
)

// pendingTransfer is an answered call on its way from one agent to
// another (or to whoever of the site takes it first). Fields under Hub.mu.
type pendingTransfer struct {
	from     store.User
	to       string // user id; "" offers it to every free agent of the site
	rung     []string
	taker    string        // who accepted it
	bridge   *media.Bridge // the taker's side, carrying the call once answered
	timer    *time.Timer
	finished bool
}

var (
	errNoAgent         = errors.New("no_such_agent")
	errTransferPending = errors.New("transfer_pending")
	errNoTransfer      = errors.New("no_transfer")
	errHoldUnsupported = errors.New("hold_unsupported")
	errNotAnsweredYet  = errors.New("not_answered")
	errTransferToSelf  = errors.New("transfer_to_self")
)

// transfer offers the agent's answered call to another agent (to, a user
// id) or, with to empty, to every free agent who may take the site's calls.
// The robot notices nothing: its stream goes on from the same SSRC.
func (h *Hub) transfer(u store.User, callID, to string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ac, ok := h.calls[callID]
	switch {
	case !ok || ac.ended:
		return errNoSuchCall
	case ac.info.AgentID != u.ID:
		return errNotYours
	case !ac.answered || ac.bridge == nil:
		return errNotAnsweredYet
	case ac.transfer != nil:
		return errTransferPending
	case to == u.ID:
		return errTransferToSelf
	}
	var targets []string
	for id, a := range h.agents {
		free := a.presence == PresenceOnline && len(a.conns) > 0 && !h.onCallLocked(id) && mayTake(a.user, ac.info.SiteID)
		if id == u.ID || !free {
			continue
		}
		if to == "" || to == id {
			targets = append(targets, id)
		}
	}
	if len(targets) == 0 {
		return errNoAgent
	}
	tr := &pendingTransfer{from: u, to: to, rung: targets}
	ac.transfer = tr
	tr.timer = time.AfterFunc(h.cfg.RingTimeout, func() { h.endTransfer(ac, tr, "no answer") })
	info := ac.info
	info.State, info.TransferFrom = "transfer", u.Username
	toName := ""
	if to != "" {
		toName = h.agents[to].user.Username
	}
	go func() {
		for _, id := range targets {
			h.sendTo(id, Message{Type: TypeRinging, Call: &info})
		}
		h.sendTo(u.ID, Message{Type: TypeTransferring, CallID: callID, By: toName})
	}()
	return nil
}

// cancelTransfer: the agent who asked takes the transfer back (declined
// false), or the one it was offered to declines it.
func (h *Hub) cancelTransfer(u store.User, callID string, declined bool) error {
	h.mu.Lock()
	ac, ok := h.calls[callID]
	if !ok || ac.ended {
		h.mu.Unlock()
		return errNoSuchCall
	}
	tr := ac.transfer
	if tr == nil {
		h.mu.Unlock()
		return errNoTransfer
	}
	reason := "cancelled"
	mine := tr.from.ID == u.ID
	if declined {
		reason = "declined by " + u.Username
		mine = tr.to == u.ID || (tr.to == "" && tr.taker == u.ID)
	}
	h.mu.Unlock()
	if !mine {
		if declined && tr.to == "" && slices.Contains(tr.rung, u.ID) {
			return nil // declining a transfer offered to all: the others still ring
		}
		return errNotYours
	}
	h.endTransfer(ac, tr, reason)
	return nil
}

// endTransfer gives up a pending transfer: the first agent keeps the call.
func (h *Hub) endTransfer(ac *activeCall, tr *pendingTransfer, reason string) {
	h.mu.Lock()
	if tr.finished || ac.transfer != tr {
		h.mu.Unlock()
		return
	}
	tr.finished = true
	ac.transfer = nil
	tr.timer.Stop()
	br := tr.bridge
	h.mu.Unlock()
	if br != nil {
		br.Close()
	}
	for _, id := range tr.rung {
		h.sendTo(id, Message{Type: TypeTaken, CallID: ac.info.ID, Reason: "transfer " + reason})
	}
	h.sendTo(tr.from.ID, Message{Type: TypeTransferFailed, CallID: ac.info.ID, Reason: reason})
}

// acceptTransfer is call.accept from an agent a transfer rings for: the
// agent gets an offer for a new bridge; the call moves when it answers.
// h.mu is held on entry and released.
func (h *Hub) acceptTransferLocked(ctx context.Context, u store.User, ac *activeCall, to *conn) error {
	tr := ac.transfer
	switch {
	case !slices.Contains(tr.rung, u.ID):
		h.mu.Unlock()
		return errTaken
	case tr.taker != "" && tr.taker != u.ID:
		h.mu.Unlock()
		return errTaken
	}
	first := tr.taker == ""
	tr.taker = u.ID
	prev, old := ac.bridge, tr.bridge
	tr.bridge = nil
	info := ac.info
	h.mu.Unlock()
	if first {
		for _, id := range tr.rung {
			if id != u.ID {
				h.sendTo(id, Message{Type: TypeTaken, CallID: info.ID, By: u.Username})
			}
		}
	}
	if old != nil {
		old.Close() // the taker's page reloaded before answering
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	br, offer, err := h.bridger.Handover(bctx, prev)
	if err != nil {
		h.log.Error("bridge a transferred call", "call", info.ID, "err", err)
		return errBridge
	}
	h.mu.Lock()
	if ac.ended || ac.transfer != tr {
		h.mu.Unlock()
		br.Close()
		return errNoSuchCall
	}
	tr.bridge = br
	state := h.robotStates[info.DeviceID]
	h.mu.Unlock()
	info.State, info.TransferFrom = "connecting", tr.from.Username
	m := Message{Type: TypeOffer, CallID: info.ID, SDP: offer, Call: &info, RobotState: state}
	if to != nil {
		to.send(m)
	} else {
		h.sendTo(u.ID, m)
	}
	return nil
}

// answerTransferLocked applies the taker's answer and moves the call to
// it: the first agent's side closes, the case changes hands. h.mu is held
// on entry and released.
func (h *Hub) answerTransferLocked(ctx context.Context, u store.User, ac *activeCall, sdp string) error {
	tr := ac.transfer
	br := tr.bridge
	h.mu.Unlock()
	if err := br.Answer(sdp); err != nil {
		return errBadSDP
	}
	h.mu.Lock()
	if ac.ended || ac.transfer != tr || tr.finished {
		h.mu.Unlock()
		return errNoSuchCall
	}
	tr.finished = true
	tr.timer.Stop()
	ac.transfer = nil
	old := ac.bridge
	ac.bridge = br
	ac.info.AgentID, ac.info.State, ac.info.TransferFrom = u.ID, "answered", tr.from.Username
	info := ac.info
	h.mu.Unlock()
	if old != nil {
		old.Close()
	}
	now := store.Now()
	err := h.db.InTx(ctx, func(q store.Q) error {
		res, err := q.ExecContext(ctx, q.Rebind("UPDATE cases SET handler_id = ?, updated_at = ? WHERE id = ?"), u.ID, now, info.CaseID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("case %s not found", info.CaseID)
		}
		_, err = h.db.AppendAudit(ctx, q, store.AuditEntry{ActorID: u.ID, ActorName: u.Username, Action: "call.transfer",
			ObjectType: "case", ObjectID: info.CaseID, SiteID: info.SiteID,
			Detail: fmt.Sprintf(`{"call_id":%q,"from":%q,"from_id":%q,"to":%q}`, info.ID, tr.from.Username, tr.from.ID, u.Username)})
		return err
	})
	if err != nil {
		h.log.Error("record a call transfer", "call", info.ID, "err", err)
	} else {
		h.caseChangedByID(ctx, info.CaseID)
	}
	h.log.Info("call transferred", "call", info.ID, "from", tr.from.Username, "to", u.Username)
	h.sendTo(tr.from.ID, Message{Type: TypeTransferred, CallID: info.ID, By: u.Username})
	h.sendTo(u.ID, Message{Type: TypeAnswered, CallID: info.ID, Call: &info})
	return nil
}

// Holder is a call leg the agent can put on hold (sip.Call): a re-INVITE
// inside the dialog, sendonly to hold and sendrecv to resume.
type Holder interface {
	Hold(ctx context.Context, on bool) error
}

// hold puts the robot on hold for its agent, or resumes it.
func (h *Hub) hold(ctx context.Context, u store.User, callID, state string) error {
	on := false
	switch state {
	case "hold":
		on = true
	case "resume":
	default:
		return errBadCommand
	}
	h.mu.Lock()
	ac, err := h.ownCallLocked(u, callID)
	if err == nil && !ac.answered {
		err = errNotAnsweredYet
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	hl, ok := ac.c.(Holder)
	if !ok {
		return errHoldUnsupported
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := hl.Hold(hctx, on); err != nil {
		h.log.Warn("hold", "call", callID, "on", on, "err", err)
		return fmt.Errorf("%w: %w", errCallFailure, err)
	}
	h.mu.Lock()
	ac.info.Held = on
	info := ac.info
	h.mu.Unlock()
	h.appendCallAudit(ctx, u, info, "call."+state, fmt.Sprintf(`{"call_id":%q}`, callID))
	h.sendTo(u.ID, Message{Type: TypeHold, CallID: callID, State: state, By: "agent"})
	return nil
}

func (h *Hub) appendCallAudit(ctx context.Context, u store.User, info CallInfo, action, detail string) {
	err := h.db.InTx(ctx, func(q store.Q) error {
		_, err := h.db.AppendAudit(ctx, q, store.AuditEntry{ActorID: u.ID, ActorName: u.Username, Action: action,
			ObjectType: "case", ObjectID: info.CaseID, SiteID: info.SiteID, Detail: detail})
		return err
	})
	if err != nil {
		h.log.Error("audit a call action", "action", action, "call", info.ID, "err", err)
	}
}

// agentsFor lists the agents connected now who share a site with u (all
// of them for an admin): who to transfer to, and who is busy.
func (h *Hub) agentsFor(u store.User) []AgentInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []AgentInfo
	for id, a := range h.agents {
		if len(a.conns) == 0 {
			continue
		}
		shared := u.Role == store.RoleAdmin || slices.ContainsFunc(a.user.SiteIDs, func(s string) bool { return mayTake(u, s) })
		if !shared && a.user.Role != store.RoleAdmin {
			continue
		}
		presence := a.presence
		if h.onCallLocked(id) {
			presence = PresenceBusy
		}
		out = append(out, AgentInfo{ID: id, Username: a.user.Username, Role: a.user.Role, Seat: a.user.Seat, Presence: presence,
			SiteIDs: a.user.SiteIDs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}
