package signaling

import (
	"context"
	"slices"

	"github.com/attendant/attendant/store"
)

// CaseChanged pushes a case's new state (case.updated) to the agents it
// concerns: the agent on its call, its handler, and the supervisors and
// admins of its site. It is the API's CaseEvents.
func (h *Hub) CaseChanged(c store.Case) {
	h.mu.Lock()
	var onCall []string
	for _, ac := range h.calls {
		if ac.info.CaseID == c.ID && ac.info.AgentID != "" {
			onCall = append(onCall, ac.info.AgentID)
		}
	}
	h.mu.Unlock()
	h.broadcast(func(a *agent) bool {
		switch {
		case !mayTake(a.user, c.SiteID):
			return false // never another site's case
		case slices.Contains(onCall, a.user.ID), a.user.ID == string(c.HandlerID):
			return true
		}
		return a.user.Role == store.RoleSupervisor || a.user.Role == store.RoleAdmin
	}, Message{Type: TypeCaseUpdated, Case: &c})
}

// caseChangedByID pushes a case the hub itself changed (answered, ended,
// transferred).
func (h *Hub) caseChangedByID(ctx context.Context, id string) {
	c, err := store.Get[store.Case](ctx, h.db.Q(), id)
	if err != nil {
		h.log.Warn("read a changed case to tell the agents", "case", id, "err", err)
		return
	}
	h.CaseChanged(c)
}
