package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jmoiron/sqlx"

	"github.com/attendant/attendant/store"
)

// abnormalOpen is one abnormal gate opening: the agent's robot command as
// the audit log holds it, with the snapshots on its case.
type abnormalOpen struct {
	Seq            int64     `json:"seq" doc:"The audit record's sequence number"`
	At             time.Time `json:"at"`
	CaseID         string    `json:"case_id"`
	SiteID         string    `json:"site_id"`
	DeviceID       string    `json:"device_id"`
	CallID         string    `json:"call_id"`
	AgentID        string    `json:"agent_id"`
	Agent          string    `json:"agent"`
	Reason         string    `json:"reason" doc:"special-vehicle, special-person or non-motor-vehicle"`
	Remark         string    `json:"remark"`
	RobotStatus    int       `json:"robot_status" doc:"The robot's SIP answer (200: done)"`
	Error          string    `json:"error,omitempty" doc:"Why the command did not reach the robot"`
	IDSnapshots    int       `json:"id_snapshots" doc:"ID-document snapshots on the case"`
	SceneSnapshots int       `json:"scene_snapshots" doc:"Scene snapshots on the case"`
}

type abnormalOpenList struct {
	Before int64  `query:"cursor" minimum:"0" doc:"The next value of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"100"`
	SiteID string `query:"site_id" maxLength:"64"`
	From   string `query:"from" doc:"RFC 3339; opened at or after"`
	To     string `query:"to" doc:"RFC 3339; opened before"`
}

// openGateDetail is what signaling audits for robot.open_gate.
type openGateDetail struct {
	CallID   string `json:"call_id"`
	DeviceID string `json:"device_id"`
	Command  struct {
		Abnormal       bool   `json:"abnormal"`
		AbnormalReason string `json:"abnormal_reason"`
	} `json:"command"`
	Reason      string `json:"reason"`
	RobotStatus int    `json:"robot_status"`
	Error       string `json:"error"`
}

func (s *Server) registerAbnormalOpens() {
	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/abnormal-opens", "list-abnormal-opens", "cases",
		"Every abnormal gate opening, newest first, with its reason, remark, agent and snapshots", anyRole),
		func(ctx context.Context, in *abnormalOpenList) (*listOutput[abnormalOpen], error) {
			q := s.db.Q()
			conds := []string{"action = 'robot.open_gate'", `detail LIKE '%"abnormal":true%'`}
			var args []any
			if in.Before > 0 {
				conds, args = append(conds, "seq < ?"), append(args, in.Before)
			}
			if in.SiteID != "" {
				conds, args = append(conds, "site_id = ?"), append(args, in.SiteID)
			}
			if scope := siteScope(PrincipalFrom(ctx)); scope != nil {
				if len(scope) == 0 {
					return &listOutput[abnormalOpen]{Body: listBody[abnormalOpen]{Items: []abnormalOpen{}}}, nil
				}
				conds = append(conds, "site_id IN (?"+strings.Repeat(", ?", len(scope)-1)+")")
				for _, id := range scope {
					args = append(args, id)
				}
			}
			for _, b := range []struct{ name, val, op string }{{"from", in.From, ">="}, {"to", in.To, "<"}} {
				if b.val == "" {
					continue
				}
				t, err := parseTimeParam(b.name, b.val, time.Time{})
				if err != nil {
					return nil, err
				}
				conds, args = append(conds, "at "+b.op+" ?"), append(args, t)
			}
			var rows []store.AuditEntry
			err := sqlx.SelectContext(ctx, q, &rows, q.Rebind("SELECT * FROM audit_log WHERE "+strings.Join(conds, " AND ")+
				" ORDER BY seq DESC LIMIT "+strconv.Itoa(in.Limit)), args...)
			if err != nil {
				return nil, s.storeError("audit log", err)
			}
			items := make([]abnormalOpen, 0, len(rows))
			for _, r := range rows {
				var d openGateDetail
				if json.Unmarshal([]byte(r.Detail), &d) != nil || !d.Command.Abnormal {
					continue
				}
				o := abnormalOpen{Seq: r.Seq, At: r.At, CaseID: r.ObjectID, SiteID: r.SiteID, DeviceID: d.DeviceID, CallID: d.CallID,
					AgentID: r.ActorID, Agent: r.ActorName, Reason: d.Command.AbnormalReason, Remark: d.Reason,
					RobotStatus: d.RobotStatus, Error: d.Error}
				var counts []struct {
					Kind string `db:"kind"`
					N    int    `db:"n"`
				}
				err := sqlx.SelectContext(ctx, q, &counts, q.Rebind("SELECT kind, COUNT(*) AS n FROM evidence WHERE case_id = ? AND kind IN (?, ?) GROUP BY kind"),
					r.ObjectID, "snapshot-id_document", "snapshot-scene")
				if err != nil {
					return nil, s.storeError("evidence", err)
				}
				for _, c := range counts {
					if c.Kind == "snapshot-id_document" {
						o.IDSnapshots = c.N
					} else {
						o.SceneSnapshots = c.N
					}
				}
				items = append(items, o)
			}
			out := &listOutput[abnormalOpen]{Body: listBody[abnormalOpen]{Items: items}}
			if len(rows) == in.Limit {
				next := strconv.FormatInt(rows[len(rows)-1].Seq, 10)
				out.Body.Next = &next
			}
			return out, nil
		})
}
