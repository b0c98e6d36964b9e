package api

import (
	"context"
	"time"

	"github.com/attendant/attendant/store"
)

// CaseEvents hears of cases the API changed (signaling.Hub): closed,
// evidence added, disposition, legal hold, plate.
type CaseEvents interface {
	CaseChanged(c store.Case)
}

// caseChanged tells CaseEvents the case's state after a change committed.
// The request may be over: the case is read on its own context.
func (s *Server) caseChanged(ctx context.Context, id string) {
	if s.caseEvents == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, err := store.Get[store.Case](rctx, s.db.Q(), id)
	if err != nil {
		s.log.Warn("read a changed case to tell the agents", "case", id, "err", err)
		return
	}
	s.caseEvents.CaseChanged(c)
}
