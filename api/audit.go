package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/store"
)

type auditList struct {
	After      int64  `query:"cursor" minimum:"0" doc:"The next value of the previous page"`
	Limit      int    `query:"limit" minimum:"1" maximum:"500" default:"100"`
	ActorID    string `query:"actor_id" maxLength:"64"`
	Action     string `query:"action" maxLength:"64"`
	ObjectType string `query:"object_type" maxLength:"64"`
	ObjectID   string `query:"object_id" maxLength:"64"`
}

type auditVerifyOutput struct {
	Body struct {
		OK       bool                 `json:"ok"`
		Entries  int64                `json:"entries"`
		Problems []store.AuditProblem `json:"problems"`
	}
}

func (s *Server) registerAudit() {
	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/audit", "list-audit", "audit",
		"Read the append-only audit log", adminOnly),
		func(ctx context.Context, in *auditList) (*listOutput[store.AuditEntry], error) {
			items, err := store.ListAudit(ctx, s.db.Q(), store.AuditFilter{
				AfterSeq: in.After, Limit: in.Limit, ActorID: in.ActorID, Action: in.Action,
				ObjectType: in.ObjectType, ObjectID: in.ObjectID,
			})
			if err != nil {
				return nil, s.storeError("audit log", err)
			}
			out := &listOutput[store.AuditEntry]{Body: listBody[store.AuditEntry]{Items: items}}
			if len(items) == in.Limit {
				next := strconv.FormatInt(items[len(items)-1].Seq, 10)
				out.Body.Next = &next
			}
			return out, nil
		})

	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/audit/verify", "verify-audit", "audit",
		"Check the audit log's hash chain", adminOnly),
		func(ctx context.Context, _ *struct{}) (*auditVerifyOutput, error) {
			problems, n, err := store.VerifyAudit(ctx, s.db.Q())
			if err != nil {
				return nil, s.storeError("audit log", err)
			}
			out := &auditVerifyOutput{}
			out.Body.OK, out.Body.Entries, out.Body.Problems = len(problems) == 0, n, problems
			if problems == nil {
				out.Body.Problems = []store.AuditProblem{}
			}
			return out, nil
		})
}
