package signaling

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
)

// Dialer calls a registered robot (sip.Server).
type Dialer interface {
	Dial(ctx context.Context, deviceID string, codecs []sip.Codec, opts ...sip.DialOption) (*sip.Call, error)
}

// dialTimeout bounds how long a robot may ring before the agent gives up.
const dialTimeout = 60 * time.Second

// SetDialer sets how agents' outbound calls reach robots.
func (h *Hub) SetDialer(d Dialer) {
	h.dial = func(ctx context.Context, deviceID string, onRinging func()) (Call, error) {
		c, err := d.Dial(ctx, deviceID, nil, sip.OnRinging(onRinging))
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// dialOut calls a robot for an agent: a call case is opened, the agent
// hears "call.dialing" and "call.ringing_out", and once the robot answers
// the call is bridged to the agent's browser like an incoming one.
func (h *Hub) dialOut(ctx context.Context, u store.User, deviceID string, to *conn) error {
	if h.dial == nil {
		return errNoSuchCall
	}
	dev, err := store.Get[store.Device](ctx, h.db.Q(), deviceID)
	if err != nil || !mayTake(u, dev.SiteID) {
		return errNoSuchDevice
	}
	h.mu.Lock()
	busy := h.onCallLocked(u.ID) || h.dialing[u.ID] != nil
	h.mu.Unlock()
	if busy {
		return errBusy
	}
	now := store.Now()
	cs := store.Case{ID: store.NewID(), SiteID: dev.SiteID, Kind: store.CaseCall, Status: store.CaseInProgress,
		DeviceID: store.OptionalID(dev.ID), HandlerID: store.OptionalID(u.ID), Attribute: "outbound call",
		StartedAt: now, CreatedAt: now, UpdatedAt: now}
	err = h.db.InTx(ctx, func(q store.Q) error {
		if err := store.Insert(ctx, q, &cs); err != nil {
			return err
		}
		_, err := h.db.AppendAudit(ctx, q, store.AuditEntry{ActorID: u.ID, ActorName: u.Username, Action: "call.dial",
			ObjectType: "case", ObjectID: cs.ID, SiteID: cs.SiteID, Detail: fmt.Sprintf(`{"device_id":%q}`, dev.ID)})
		return err
	})
	if err != nil {
		h.log.Error("open a case for an outbound call", "err", err)
		return errCallFailure
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
	h.mu.Lock()
	h.dialing[u.ID] = cancel
	h.mu.Unlock()
	info := CallInfo{CaseID: cs.ID, SiteID: dev.SiteID, DeviceID: dev.ID, From: dev.SIPUsername, State: "dialing", AgentID: u.ID, Since: now}
	to.send(Message{Type: TypeDialing, DeviceID: dev.ID, Call: &info})
	go func() {
		defer cancel()
		c, err := h.dial(dctx, dev.ID, func() { to.send(Message{Type: TypeRingingOut, DeviceID: dev.ID, Call: &info}) })
		h.mu.Lock()
		delete(h.dialing, u.ID)
		h.mu.Unlock()
		if err != nil {
			reason := "failed"
			var se *sip.StatusError
			switch {
			case errors.As(err, &se):
				reason = fmt.Sprintf("refused %d", se.Code)
			case errors.Is(err, context.Canceled):
				reason = "cancelled"
			case errors.Is(err, context.DeadlineExceeded):
				reason = "no answer"
			}
			h.log.Info("outbound call not answered", "device", dev.ID, "reason", reason, "err", err)
			to.send(Message{Type: TypeEnded, DeviceID: dev.ID, Reason: reason, Call: &info})
			h.closeOutboundCase(cs.ID, cs.SiteID, reason)
			return
		}
		h.runOutbound(context.WithoutCancel(ctx), c, info, u, to)
	}()
	return nil
}

// runOutbound bridges an answered outbound call and waits for its end.
func (h *Hub) runOutbound(ctx context.Context, c Call, info CallInfo, u store.User, to *conn) {
	info.ID, info.Codec, info.State = c.ID(), c.Codec().Name, "connecting"
	accepted := make(chan struct{})
	close(accepted)
	ac := &activeCall{c: c, info: info, accepted: accepted, outbound: true}
	h.mu.Lock()
	h.calls[c.ID()] = ac
	h.mu.Unlock()
	h.laneCallChanged(info.DeviceID)
	if err := h.accept(ctx, u, c.ID(), to); err != nil {
		h.log.Warn("bridge an outbound call", "call", c.ID(), "err", err)
		_ = c.Hangup(ctx)
	}
	h.waitEvents(ctx, ac)
	<-c.Done()
	h.end(ctx, ac, c.EndReason())
}

func (h *Hub) closeOutboundCase(caseID, siteID, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := store.Now()
	err := h.db.InTx(ctx, func(q store.Q) error {
		if _, err := q.ExecContext(ctx, q.Rebind("UPDATE cases SET ended_at = ?, closed_at = ?, status = ?, attribute = ?, updated_at = ? WHERE id = ?"),
			now, now, store.CaseClosed, "outbound call: "+reason, now, caseID); err != nil {
			return err
		}
		_, err := h.db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "sip", Action: "call.end", ObjectType: "case",
			ObjectID: caseID, SiteID: siteID, Detail: fmt.Sprintf(`{"reason":%q,"answered":false}`, reason)})
		return err
	})
	if err != nil {
		h.log.Error("record an unanswered outbound call", "case", caseID, "err", err)
	}
}

// cancelDial stops the agent's outbound call while it rings.
func (h *Hub) cancelDial(u store.User) error {
	h.mu.Lock()
	cancel := h.dialing[u.ID]
	h.mu.Unlock()
	if cancel == nil {
		return errNoSuchCall
	}
	cancel()
	return nil
}
