package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/store"
)

// historyEntry is one audit entry of a case as reviewers see it: what was
// done, by whom, when, with the entry's place in the hash-chained log. The
// client address stays in the admin's audit log.
type historyEntry struct {
	Seq       int64           `json:"seq" doc:"Position in the audit log (GET /api/v1/audit for admins)"`
	At        time.Time       `json:"at"`
	ActorID   string          `json:"actor_id" doc:"The user; empty for the system (sip, recorder)"`
	ActorName string          `json:"actor_name"`
	Action    string          `json:"action" doc:"e.g. call.answer, robot.open_gate, evidence.add, evidence.play, case.disposition"`
	Detail    json.RawMessage `json:"detail" doc:"JSON object with the action's details"`
	Hash      string          `json:"hash" doc:"The entry's hash in the audit chain"`
}

type caseHistoryInput struct {
	ID     string `path:"id" maxLength:"64"`
	Cursor int64  `query:"cursor" minimum:"0" doc:"The next value of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"200"`
}

// registerCaseHistory serves a case's audit trail to those who review it.
func (s *Server) registerCaseHistory() {
	op := s.operation(http.MethodGet, "/api/v1/cases/{id}/history", "case-history", "cases",
		"What was done on a case, and who saw its evidence, oldest first", reviewRoles)
	op.Description += " Every audited action on the case: the call (incoming, answered, held, transferred, ended" +
		" with how its audio fared), robot commands, evidence added, played and downloaded, plate and pay code," +
		" disposition, legal hold, verification and export."
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(s.api, op, func(ctx context.Context, in *caseHistoryInput) (*listOutput[historyEntry], error) {
		c, err := store.Get[store.Case](ctx, s.db.Q(), in.ID)
		if err != nil {
			return nil, s.apiError("case", err)
		}
		if !inScope(PrincipalFrom(ctx), c.SiteID) {
			return nil, errNotFound("case", in.ID)
		}
		entries, err := store.ListAudit(ctx, s.db.Q(), store.AuditFilter{ObjectType: "case", ObjectID: c.ID,
			AfterSeq: in.Cursor, Limit: in.Limit})
		if err != nil {
			return nil, s.storeError("audit log", err)
		}
		out := &listOutput[historyEntry]{Body: listBody[historyEntry]{Items: make([]historyEntry, 0, len(entries))}}
		for _, e := range entries {
			detail := json.RawMessage(e.Detail)
			if !json.Valid(detail) {
				detail = json.RawMessage("{}") // every writer marshals JSON; never hand a client broken JSON
			}
			out.Body.Items = append(out.Body.Items, historyEntry{Seq: e.Seq, At: e.At, ActorID: e.ActorID,
				ActorName: e.ActorName, Action: e.Action, Detail: detail, Hash: e.Hash})
		}
		if len(entries) == in.Limit {
			next := strconv.FormatInt(entries[len(entries)-1].Seq, 10)
			out.Body.Next = &next
		}
		return out, nil
	})
}
