package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jmoiron/sqlx"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

// caseView is a case with its evidence.
type caseView struct {
	store.Case
	Evidence []store.Evidence `json:"evidence"`
}

type caseCreate struct {
	Body struct {
		SiteID        string `json:"site_id" minLength:"1" maxLength:"64"`
		Kind          string `json:"kind,omitempty" enum:"call,event,chat,video,manual" default:"manual"`
		Attribute     string `json:"attribute,omitempty" maxLength:"200" doc:"e.g. customer entered box"`
		DeviceID      string `json:"device_id,omitempty" maxLength:"64"`
		AccessPointID string `json:"access_point_id,omitempty" maxLength:"64"`
	}
}

type caseList struct {
	PageParams
	SiteID       string `query:"site_id" maxLength:"64"`
	Kind         string `query:"kind" enum:"call,event,chat,video,manual"`
	EventKind    string `query:"event_kind" maxLength:"32"`
	Status       string `query:"status" enum:"pending,in_progress,closed"`
	Disposition  string `query:"disposition" enum:"none,normal,abnormal"`
	AbnormalType string `query:"abnormal_type" maxLength:"64"`
	HandlerID    string `query:"handler_id" maxLength:"64"`
	DeviceID     string `query:"device_id" maxLength:"64"`
	CameraID     string `query:"camera_id" maxLength:"64" doc:"Cases with evidence from this camera"`
	From         string `query:"from" doc:"Started at or after (RFC 3339)"`
	To           string `query:"to" doc:"Started before (RFC 3339)"`
}

// filter turns the search parameters into a store filter.
func (in *caseList) caseFilter() (store.Filter, error) {
	f := in.filter()
	f.Desc = true
	f.Eq = map[string]string{"site_id": in.SiteID, "kind": in.Kind, "status": in.Status, "event_kind": in.EventKind,
		"abnormal_type": in.AbnormalType, "handler_id": in.HandlerID, "device_id": in.DeviceID}
	switch in.Disposition {
	case "none":
		f.Conds = append(f.Conds, store.Cond{SQL: "disposition = ''"})
	case "normal", "abnormal":
		f.Eq["disposition"] = in.Disposition
	}
	if in.CameraID != "" {
		f.Conds = append(f.Conds, store.Cond{SQL: "id IN (SELECT case_id FROM evidence WHERE camera_id = ?)", Args: []any{in.CameraID}})
	}
	for _, b := range []struct {
		name, val, op string
	}{{"from", in.From, ">="}, {"to", in.To, "<"}} {
		if b.val == "" {
			continue
		}
		t, err := parseTimeParam(b.name, b.val, time.Time{})
		if err != nil {
			return f, err
		}
		f.Conds = append(f.Conds, store.Cond{SQL: "started_at " + b.op + " ?", Args: []any{t}})
	}
	return f, nil
}

type snapshotCreate struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		CameraID string `json:"camera_id" minLength:"1" maxLength:"64"`
		Role     string `json:"role" enum:"scene,id_document" doc:"What the snapshot shows: the scene, or an ID document"`
		Fresh    bool   `json:"fresh,omitempty" doc:"Wait for the next keyframe"`
	}
}

// caseRoles may open cases and add evidence; reviewers only read.
var caseRoles = []string{store.RoleAgent, store.RoleSupervisor, store.RoleAdmin}

func (s *Server) registerCases() {
	op := s.operation(http.MethodPost, "/api/v1/cases", "create-case", "cases", "Open a case (manual entry, event, …)", caseRoles)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxAdminBody
	huma.Register(s.api, op, func(ctx context.Context, in *caseCreate) (*itemOutput[caseView], error) {
		b := in.Body
		if !inScope(PrincipalFrom(ctx), b.SiteID) {
			return nil, errBadRequest("site_id %q: no such site", b.SiteID)
		}
		now := store.Now()
		c := store.Case{ID: store.NewID(), SiteID: b.SiteID, Kind: orDefault(b.Kind, store.CaseManual),
			Status: store.CasePending, Attribute: b.Attribute, DeviceID: store.OptionalID(b.DeviceID),
			AccessPointID: store.OptionalID(b.AccessPointID), StartedAt: now, CreatedAt: now, UpdatedAt: now}
		err := s.db.InTx(ctx, func(q store.Q) error {
			if err := requireSite(ctx, q, b.SiteID); err != nil {
				return err
			}
			if err := requireAccessPoint(ctx, q, b.AccessPointID, b.SiteID); err != nil {
				return err
			}
			if err := store.Insert(ctx, q, &c); err != nil {
				return err
			}
			return s.audit(ctx, q, "case.create", "case", c.ID, c.SiteID, map[string]any{"kind": c.Kind})
		})
		if err != nil {
			return nil, s.apiError("case", err)
		}
		return &itemOutput[caseView]{Body: caseView{Case: c, Evidence: []store.Evidence{}}}, nil
	})

	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/cases", "list-cases", "cases", "List cases, newest first", anyRole),
		func(ctx context.Context, in *caseList) (*listOutput[store.Case], error) {
			f, err := in.caseFilter()
			if err != nil {
				return nil, err
			}
			if scope := siteScope(PrincipalFrom(ctx)); scope != nil {
				f.In = map[string][]string{"site_id": scope}
			}
			items, next, err := store.List[store.Case](ctx, s.db.Q(), f)
			if err != nil {
				return nil, s.storeError("case", err)
			}
			out := &listOutput[store.Case]{Body: listBody[store.Case]{Items: items}}
			if next != "" {
				out.Body.Next = &next
			}
			return out, nil
		})

	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/cases/{id}", "get-case", "cases", "A case with its evidence", anyRole),
		func(ctx context.Context, in *idInput) (*itemOutput[caseView], error) {
			v, err := s.loadCase(ctx, s.db.Q(), in.ID)
			if err != nil {
				return nil, err
			}
			return &itemOutput[caseView]{Body: v}, nil
		})

	huma.Register(s.api, s.operation(http.MethodPost, "/api/v1/cases/{id}/close", "close-case", "cases",
		"Close a case (the agent's \"close ticket\"), with a remark", caseRoles), s.closeCase)

	op = s.operation(http.MethodPost, "/api/v1/cases/{id}/snapshots", "case-snapshot", "cases",
		"Take a camera snapshot as evidence on a case", caseRoles)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxAdminBody
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusServiceUnavailable)
	huma.Register(s.api, op, s.caseSnapshot)
	s.registerAbnormalOpens()
	s.registerCaseHistory()
}

func (s *Server) loadCase(ctx context.Context, q store.Q, id string) (caseView, error) {
	c, err := store.Get[store.Case](ctx, q, id)
	if err != nil {
		return caseView{}, s.apiError("case", err)
	}
	if !inScope(PrincipalFrom(ctx), c.SiteID) {
		return caseView{}, errNotFound("case", id)
	}
	ev, err := store.CaseEvidence(ctx, q, id)
	if err != nil {
		return caseView{}, s.storeError("evidence", err)
	}
	return caseView{Case: c, Evidence: ev}, nil
}

func (s *Server) caseSnapshot(ctx context.Context, in *snapshotCreate) (*itemOutput[store.Evidence], error) {
	c, err := s.loadCase(ctx, s.db.Q(), in.ID)
	if err != nil {
		return nil, err
	}
	if c.Status == store.CaseClosed {
		return nil, newError(http.StatusConflict, "case is closed")
	}
	cam, err := s.visibleCamera(ctx, in.Body.CameraID)
	if err != nil {
		return nil, err
	}
	if cam.SiteID != c.SiteID {
		return nil, errBadRequest("camera %q belongs to another site than the case", cam.ID)
	}
	// an ID document is photographed by the ID-document camera; the scene by
	// any other (the abnormal-open rule names both)
	if (in.Body.Role == "id_document") != (cam.Role == "id_document") {
		return nil, errBadRequest("%s snapshots come from a camera with role %s; camera %q has role %s",
			in.Body.Role, map[bool]string{true: "id_document", false: "environment, gate or channel"}[in.Body.Role == "id_document"], cam.ID, cam.Role)
	}
	kind := "snapshot-" + in.Body.Role
	if c.Kind == store.CaseCall {
		var n int
		err := sqlx.GetContext(ctx, s.db.Q(), &n, s.db.Q().Rebind("SELECT COUNT(*) FROM evidence WHERE case_id = ? AND kind = ?"), c.ID, kind)
		if err != nil {
			return nil, s.storeError("evidence", err)
		}
		if n >= maxCallSnapshots {
			return nil, withCode(newError(http.StatusConflict, fmt.Sprintf("a call's case holds at most %d %s snapshots", maxCallSnapshots, in.Body.Role)), "too_many_snapshots")
		}
	}
	var (
		jpeg []byte
		key  string
		at   time.Time
	)
	for fresh := in.Body.Fresh; ; fresh = true {
		var kf media.Keyframe
		jpeg, kf, err = s.snapshot(ctx, cam.ID, fresh)
		if err != nil {
			return nil, err
		}
		at = kf.At.UTC().Truncate(time.Microsecond)
		if at.IsZero() {
			at = store.Now()
		}
		key = recorder.EvidenceKey(c.SiteID, c.ID, kind+"-"+cam.ID[len(cam.ID)-8:], at, "jpg")
		var taken int
		if err := sqlx.GetContext(ctx, s.db.Q(), &taken, s.db.Q().Rebind("SELECT COUNT(*) FROM evidence WHERE object_key = ?"), key); err != nil {
			return nil, s.storeError("evidence", err)
		}
		if taken == 0 || fresh {
			break
		}
		// this keyframe's picture is on the case already (a second photo
		// within one keyframe interval): wait for the next keyframe
	}
	p := PrincipalFrom(ctx)
	ev, _, err := s.addEvidence(ctx, c.Case, newEvidence{
		Row: store.Evidence{CaseID: c.ID, Key: key, Kind: kind, MediaType: "image/jpeg",
			CameraID: store.OptionalID(cam.ID), TakenBy: store.OptionalID(p.User.ID), Start: at, End: at},
		Data:     jpeg,
		Metadata: map[string]string{"case": c.ID, "camera": cam.ID, "taken-by": p.User.ID},
	})
	if errors.Is(err, errObjectStore) {
		s.log.Error("store snapshot", "case", c.ID, "key", key, "err", err)
		return nil, withCode(newError(http.StatusServiceUnavailable, "object store unavailable; the snapshot was not saved"), "store_unavailable")
	}
	if err != nil {
		return nil, s.storeError("evidence", err)
	}
	s.caseChanged(ctx, c.ID)
	return &itemOutput[store.Evidence]{Body: ev}, nil
}

// maxCallSnapshots bounds the snapshots of one role on a call's case: an
// abnormal open at an exit takes 1–4 of the ID document and 1–4 of the
// scene (signaling checks the lower bound before the gate opens).
const maxCallSnapshots = 4

type closeInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Remark string `json:"remark,omitempty" maxLength:"2000"`
	}
}

// closeCase ends the agent's work on a case: status closed, the remark
// kept, the agent as handler if none. Closing a closed case is a no-op.
func (s *Server) closeCase(ctx context.Context, in *closeInput) (*itemOutput[caseView], error) {
	p := PrincipalFrom(ctx)
	var out caseView
	err := s.db.InTx(ctx, func(q store.Q) error {
		v, err := s.loadCase(ctx, q, in.ID)
		if err != nil {
			return err
		}
		out = v
		if v.Status == store.CaseClosed {
			return nil
		}
		now := store.Now()
		v.Status, v.ClosedAt, v.UpdatedAt = store.CaseClosed, &now, now
		if in.Body.Remark != "" {
			v.Remark = in.Body.Remark
		}
		if v.HandlerID == "" {
			v.HandlerID = store.OptionalID(p.User.ID)
		}
		if err := store.Update(ctx, q, &v.Case); err != nil {
			return err
		}
		out = v
		return s.audit(ctx, q, "case.close", "case", v.ID, v.SiteID, map[string]any{"remark": in.Body.Remark})
	})
	if err != nil {
		return nil, s.apiError("case", err)
	}
	s.caseChanged(ctx, out.ID)
	return &itemOutput[caseView]{Body: out}, nil
}
