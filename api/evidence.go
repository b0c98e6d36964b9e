package api

import (
	"archive/zip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

// Recorder records cameras and cuts event clips (recorder.Recorder).
type Recorder interface {
	SetCamera(recorder.CameraConfig)
	RemoveCamera(id string)
	RequestClip(recorder.ClipRequest) error
	SpoolEvidence(key, contentType string, data interface{ Read([]byte) (int, error) }, m recorder.EvidenceMeta) error
}

// DefaultAbnormalTypes is the list a reviewer picks from when none is
// configured.
var DefaultAbnormalTypes = []string{"deliberate-theft", "unpaid-item", "damage", "tailgating", "device-fault", "other"}

// linkTTL is how long an evidence link stays valid.
const linkTTL = 15 * time.Minute

// reviewRoles read evidence of every site and change only dispositions.
var (
	reviewRoles  = []string{store.RoleReviewer, store.RoleSupervisor, store.RoleAdmin}
	handlerRoles = anyRole // who may set a disposition (agents: own sites)
)

type eventCreate struct {
	Body struct {
		SiteID        string     `json:"site_id" minLength:"1" maxLength:"64"`
		Kind          string     `json:"kind" enum:"door-open,payment,customer-entered,customer-left,alarm,manual,other"`
		At            time.Time  `json:"at" doc:"When it happened (RFC 3339)"`
		End           *time.Time `json:"end,omitempty" doc:"For a span: when it ended"`
		CameraIDs     []string   `json:"camera_ids,omitempty" maxItems:"32" doc:"Default: every recording camera of the site"`
		Attribute     string     `json:"attribute,omitempty" maxLength:"200"`
		DeviceID      string     `json:"device_id,omitempty" maxLength:"64"`
		AccessPointID string     `json:"access_point_id,omitempty" maxLength:"64"`
	}
}

type clipStatus struct {
	CameraID string    `json:"camera_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Status   string    `json:"status" enum:"scheduled,from_recordings,not_recorded,not_recording"`
	// Segments is how many continuous-recording segments were copied as
	// evidence (status from_recordings).
	Segments int `json:"segments,omitempty"`
}

type eventView struct {
	ID     string       `json:"id"`
	CaseID string       `json:"case_id"`
	Clips  []clipStatus `json:"clips"`
}

type clipCreate struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		CameraID string    `json:"camera_id" minLength:"1" maxLength:"64"`
		From     time.Time `json:"from"`
		To       time.Time `json:"to"`
	}
}

type recordingsInput struct {
	ID   string `path:"id" maxLength:"64"`
	From string `query:"from" doc:"RFC 3339; default one hour before to"`
	To   string `query:"to" doc:"RFC 3339; default now"`
}

type dispositionInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Disposition  string `json:"disposition" enum:"normal,abnormal"`
		AbnormalType string `json:"abnormal_type,omitempty" maxLength:"64"`
		Remark       string `json:"remark,omitempty" maxLength:"2000"`
	}
}

type holdInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Hold   bool   `json:"hold"`
		Reason string `json:"reason,omitempty" maxLength:"500"`
	}
}

type contentInput struct {
	ID       string `path:"id" maxLength:"64"`
	Download bool   `query:"download"`
	Expires  string `query:"exp" maxLength:"20" doc:"With sig: a link issued by POST /evidence/{id}/link"`
	Sig      string `query:"sig" maxLength:"64"`
}

type linkView struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

type siteReview struct {
	SiteID   string `json:"site_id"`
	Name     string `json:"name"`
	Code     string `json:"code"`
	Kind     string `json:"kind"`
	Pending  int    `json:"pending"`
	Normal   int    `json:"normal"`
	Abnormal int    `json:"abnormal"`
}

type itemsOutput[T any] struct {
	Body struct {
		Items []T `json:"items"`
	}
}

func (s *Server) registerEvidence() {
	op := s.operation(http.MethodPost, "/api/v1/events", "create-event", "events",
		"Report a box event: opens an event case and cuts a clip per camera", caseRoles)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxAdminBody
	huma.Register(s.api, op, s.createEvent)

	op = s.operation(http.MethodPost, "/api/v1/events/{id}/clips", "add-event-clip", "events",
		"Append video to an event: another camera or span", caseRoles)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxAdminBody
	huma.Register(s.api, op, s.addEventClip)

	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/cameras/{id}/recordings", "camera-recordings", "recordings",
		"A camera's continuous recording segments in a time span", anyRole), s.listRecordings)

	op = s.operation(http.MethodGet, "/api/v1/recordings/{id}/content", "recording-content", "recordings",
		"A recording segment's bytes (Range supported)", anyRole)
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusServiceUnavailable)
	huma.Register(s.api, op, s.recordingContent)

	op = s.operation(http.MethodGet, "/api/v1/evidence/{id}/content", "evidence-content", "evidence",
		"An evidence object's bytes (Range supported); with exp and sig, a link from POST /evidence/{id}/link", nil)
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusServiceUnavailable)
	huma.Register(s.api, op, s.evidenceContent)

	op = s.operation(http.MethodPost, "/api/v1/evidence/{id}/link", "evidence-link", "evidence",
		"Issue a short-lived download link", reviewRoles)
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(s.api, op, s.evidenceLink)

	huma.Register(s.api, s.operation(http.MethodPost, "/api/v1/cases/{id}/disposition", "case-disposition", "cases",
		"Mark a case normal or abnormal", handlerRoles), s.setDisposition)
	huma.Register(s.api, s.operation(http.MethodPost, "/api/v1/cases/{id}/hold", "case-hold", "cases",
		"Put a case under legal hold or release it", staffRoles), s.setHold)

	op = s.operation(http.MethodGet, "/api/v1/cases/{id}/verify", "case-verify", "cases",
		"Check the case's evidence chain and every object's hash", reviewRoles)
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusServiceUnavailable)
	huma.Register(s.api, op, s.verifyCase)

	op = s.operation(http.MethodGet, "/api/v1/cases/{id}/export", "case-export", "cases",
		"The case as one ZIP archive with a manifest", reviewRoles)
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusServiceUnavailable)
	huma.Register(s.api, op, s.exportCase)

	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/review/sites", "review-sites", "review",
		"Boxes with their pending, normal and abnormal event counts", anyRole),
		func(ctx context.Context, _ *struct{}) (*itemsOutput[siteReview], error) {
			scope := siteScope(PrincipalFrom(ctx))
			counts, err := store.EventCounts(ctx, s.db.Q(), scope)
			if err != nil {
				return nil, s.storeError("case", err)
			}
			f := store.Filter{Limit: store.MaxPage}
			if scope != nil {
				f.In = map[string][]string{"id": scope}
			}
			sites, _, err := store.List[store.Site](ctx, s.db.Q(), f)
			if err != nil {
				return nil, s.storeError("site", err)
			}
			out := &itemsOutput[siteReview]{}
			out.Body.Items = []siteReview{}
			for _, st := range sites {
				c := counts[st.ID]
				if st.Kind != store.SiteBox && c.Pending+c.Normal+c.Abnormal == 0 {
					continue
				}
				out.Body.Items = append(out.Body.Items, siteReview{st.ID, st.Name, st.Code, st.Kind, c.Pending, c.Normal, c.Abnormal})
			}
			return out, nil
		})
	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/review/abnormal-types", "abnormal-types", "review",
		"The abnormal types a reviewer picks from", anyRole),
		func(ctx context.Context, _ *struct{}) (*itemsOutput[string], error) {
			out := &itemsOutput[string]{}
			out.Body.Items = s.abnormalTypes()
			return out, nil
		})
}

func (s *Server) abnormalTypes() []string {
	if len(s.cfg.AbnormalTypes) > 0 {
		return s.cfg.AbnormalTypes
	}
	return DefaultAbnormalTypes
}

func (s *Server) createEvent(ctx context.Context, in *eventCreate) (*itemOutput[eventView], error) {
	b := in.Body
	p := PrincipalFrom(ctx)
	if !inScope(p, b.SiteID) {
		return nil, errBadRequest("site_id %q: no such site", b.SiteID)
	}
	at := b.At.UTC().Truncate(time.Microsecond)
	end := at
	if b.End != nil {
		end = b.End.UTC().Truncate(time.Microsecond)
	}
	if end.Before(at) {
		return nil, errBadRequest("end %s is before at %s", end.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	if max := s.cfg.MaxEventSpan; end.Sub(at) > max {
		return nil, errBadRequest("an event spans at most %v; append video for longer spans", max)
	}
	if at.After(time.Now().Add(time.Hour)) {
		return nil, errBadRequest("at %s is in the future", at.Format(time.RFC3339))
	}
	now := store.Now()
	c := store.Case{ID: store.NewID(), SiteID: b.SiteID, Kind: store.CaseEvent, EventKind: b.Kind, Status: store.CasePending,
		Attribute: b.Attribute, DeviceID: store.OptionalID(b.DeviceID), AccessPointID: store.OptionalID(b.AccessPointID),
		StartedAt: at, CreatedAt: now, UpdatedAt: now}
	if !end.Equal(at) {
		c.EndedAt = &end
	}
	var cams []store.Camera
	err := s.db.InTx(ctx, func(q store.Q) error {
		if err := requireSite(ctx, q, b.SiteID); err != nil {
			return err
		}
		if err := requireAccessPoint(ctx, q, b.AccessPointID, b.SiteID); err != nil {
			return err
		}
		if b.DeviceID != "" {
			d, err := store.Get[store.Device](ctx, q, b.DeviceID)
			if err != nil || d.SiteID != b.SiteID {
				return errBadRequest("device_id %q: no such device at this site", b.DeviceID)
			}
		}
		var err error
		if cams, err = eventCameras(ctx, q, b.SiteID, b.CameraIDs); err != nil {
			return err
		}
		if err := store.Insert(ctx, q, &c); err != nil {
			return err
		}
		return s.audit(ctx, q, "event.create", "case", c.ID, c.SiteID, map[string]any{"kind": b.Kind, "at": at, "end": end,
			"cameras": len(cams)})
	})
	if err != nil {
		return nil, s.apiError("event", err)
	}
	from, to := at.Add(-s.cfg.PreRoll), end.Add(s.cfg.PostRoll)
	v := eventView{ID: c.ID, CaseID: c.ID, Clips: []clipStatus{}}
	for _, cam := range cams {
		v.Clips = append(v.Clips, s.requestClip(ctx, c, cam, from, to))
	}
	return &itemOutput[eventView]{Body: v}, nil
}

// eventCameras are the cameras named (all of the site, checked), or every
// enabled, recording camera of the site.
func eventCameras(ctx context.Context, q store.Q, siteID string, ids []string) ([]store.Camera, error) {
	f := store.Filter{Eq: map[string]string{"site_id": siteID}, Limit: store.MaxPage}
	if len(ids) > 0 {
		f.In = map[string][]string{"id": ids}
	}
	all, _, err := store.List[store.Camera](ctx, q, f)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		for _, id := range ids {
			if !slices.ContainsFunc(all, func(c store.Camera) bool { return c.ID == id }) {
				return nil, errBadRequest("camera_ids: %q is not a camera of this site", id)
			}
		}
		return all, nil
	}
	return slices.DeleteFunc(all, func(c store.Camera) bool { return !c.Enabled || c.Record == recorder.ModeOff }), nil
}

// requestClip asks the recorder for a clip of the span; a span older than
// the camera's pre-roll ring is copied from its continuous recording, if it
// has one.
func (s *Server) requestClip(ctx context.Context, c store.Case, cam store.Camera, from, to time.Time) clipStatus {
	st := clipStatus{CameraID: cam.ID, From: from, To: to, Status: "scheduled"}
	if s.recorder == nil || !cam.Enabled || cam.Record == recorder.ModeOff {
		st.Status = "not_recording"
		return st
	}
	err := s.recorder.RequestClip(recorder.ClipRequest{CaseID: c.ID, SiteID: c.SiteID, CameraID: cam.ID, From: from, To: to})
	switch {
	case err == nil:
	case errors.Is(err, recorder.ErrBeforeRing) && cam.Record == recorder.ModeContinuous:
		n, cerr := s.clipFromRecordings(ctx, c, cam, from, to)
		st.Status, st.Segments = "from_recordings", n
		if cerr != nil || n == 0 {
			st.Status = "not_recorded"
			if cerr != nil {
				s.log.Error("copy recordings as evidence", "case", c.ID, "camera", cam.ID, "err", cerr)
			}
		}
	case errors.Is(err, recorder.ErrBeforeRing):
		st.Status = "not_recorded"
	default:
		st.Status = "not_recording"
		s.log.Warn("event clip not scheduled", "case", c.ID, "camera", cam.ID, "err", err)
	}
	return st
}

// clipFromRecordings copies the continuous segments that overlap the span
// into the case's evidence, through the spool like any recording.
func (s *Server) clipFromRecordings(ctx context.Context, c store.Case, cam store.Camera, from, to time.Time) (int, error) {
	segs, err := store.ListRecordings(ctx, s.db.Q(), cam.ID, from, to, store.MaxPage)
	if err != nil {
		return 0, err
	}
	for i, seg := range segs {
		rc, _, err := s.objects.Get(ctx, seg.Key, nil)
		if err != nil {
			return i, fmt.Errorf("read %s: %w", seg.Key, err)
		}
		key := recorder.EvidenceKey(c.SiteID, c.ID, "recording-"+shortID(cam.ID), seg.Start, "mp4")
		err = s.recorder.SpoolEvidence(key, seg.MediaType, rc, recorder.EvidenceMeta{CaseID: c.ID, SiteID: c.SiteID,
			Kind: "recording", CameraID: cam.ID, Start: seg.Start, End: seg.End})
		rc.Close()
		if err != nil {
			return i, fmt.Errorf("spool %s: %w", key, err)
		}
	}
	return len(segs), nil
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func (s *Server) addEventClip(ctx context.Context, in *clipCreate) (*itemOutput[clipStatus], error) {
	c, err := s.loadCase(ctx, s.db.Q(), in.ID)
	if err != nil {
		return nil, err
	}
	if c.Kind != store.CaseEvent {
		return nil, errBadRequest("case %s is not an event", c.ID)
	}
	from, to := in.Body.From.UTC(), in.Body.To.UTC()
	if !to.After(from) || to.Sub(from) > s.cfg.MaxEventSpan+s.cfg.PreRoll+s.cfg.PostRoll {
		return nil, errBadRequest("from/to: want from before to, at most %v apart", s.cfg.MaxEventSpan+s.cfg.PreRoll+s.cfg.PostRoll)
	}
	cam, err := s.visibleCamera(ctx, in.Body.CameraID)
	if err != nil {
		return nil, err
	}
	if cam.SiteID != c.SiteID {
		return nil, errBadRequest("camera %q belongs to another site than the event", cam.ID)
	}
	st := s.requestClip(ctx, c.Case, cam, from, to)
	if err := s.db.InTx(ctx, func(q store.Q) error {
		return s.audit(ctx, q, "event.clip", "case", c.ID, c.SiteID, map[string]any{"camera_id": cam.ID, "from": from, "to": to, "status": st.Status})
	}); err != nil {
		return nil, s.storeError("audit", err)
	}
	return &itemOutput[clipStatus]{Body: st}, nil
}

func parseTimeParam(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, errBadRequest("%s: want an RFC 3339 time, got %q", name, v)
	}
	return t.UTC(), nil
}

func (s *Server) listRecordings(ctx context.Context, in *recordingsInput) (*itemsOutput[store.Recording], error) {
	cam, err := s.visibleCamera(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	to, err := parseTimeParam("to", in.To, time.Now().UTC())
	if err != nil {
		return nil, err
	}
	from, err := parseTimeParam("from", in.From, to.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, errBadRequest("from must be before to")
	}
	items, err := store.ListRecordings(ctx, s.db.Q(), cam.ID, from, to, store.MaxPage)
	if err != nil {
		return nil, s.storeError("recording", err)
	}
	out := &itemsOutput[store.Recording]{}
	out.Body.Items = items
	return out, nil
}

func (s *Server) recordingContent(ctx context.Context, in *contentInput) (*huma.StreamResponse, error) {
	rec, err := store.Get[store.Recording](ctx, s.db.Q(), in.ID)
	if err != nil {
		return nil, s.apiError("recording", err)
	}
	if !inScope(PrincipalFrom(ctx), rec.SiteID) {
		return nil, errNotFound("recording", in.ID)
	}
	info, err := s.statObject(ctx, rec.Key)
	if err != nil {
		return nil, err
	}
	return s.serveObject(info, rec.MediaType, in.Download, func(ctx context.Context, whole bool) {
		if !whole {
			return
		}
		s.auditQuietly(ctx, "recording.play", "recording", rec.ID, rec.SiteID, map[string]any{"camera_id": rec.CameraID, "key": rec.Key})
	}), nil
}

// evidenceFor loads an evidence row and its case, in the caller's scope.
func (s *Server) evidenceFor(ctx context.Context, id string) (store.Evidence, store.Case, error) {
	ev, err := store.Get[store.Evidence](ctx, s.db.Q(), id)
	if err != nil {
		return ev, store.Case{}, s.apiError("evidence", err)
	}
	c, err := store.Get[store.Case](ctx, s.db.Q(), ev.CaseID)
	if err != nil {
		return ev, c, s.apiError("evidence", err)
	}
	if p := PrincipalFrom(ctx); p != nil && !inScope(p, c.SiteID) {
		return ev, c, errNotFound("evidence", id)
	}
	return ev, c, nil
}

func (s *Server) evidenceContent(ctx context.Context, in *contentInput) (*huma.StreamResponse, error) {
	p := PrincipalFrom(ctx)
	viaLink := false
	if in.Sig != "" || in.Expires != "" {
		if !s.validLink(in.ID, in.Expires, in.Sig, time.Now()) {
			return nil, newError(http.StatusForbidden, "this link is invalid or has expired")
		}
		viaLink = true
	} else if p == nil {
		return nil, newError(http.StatusUnauthorized, "authentication required: log in or use a link")
	}
	var ev store.Evidence
	var c store.Case
	var err error
	if viaLink {
		ctx = context.WithValue(ctx, principalKey{}, (*Principal)(nil))
	}
	ev, c, err = s.evidenceFor(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if ev.PurgedAt != nil {
		return nil, withCode(newError(http.StatusGone, "retention has deleted this object"), "purged")
	}
	info, err := s.statObject(ctx, ev.Key)
	if err != nil {
		return nil, err
	}
	action := "evidence.play"
	if in.Download {
		action = "evidence.download"
	}
	return s.serveObject(info, ev.MediaType, in.Download, func(ctx context.Context, whole bool) {
		if !whole {
			return
		}
		s.auditQuietly(ctx, action, "case", c.ID, c.SiteID, map[string]any{"evidence_id": ev.ID, "key": ev.Key, "via_link": viaLink})
	}), nil
}

func (s *Server) statObject(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	info, err := s.objects.Stat(ctx, key)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return info, withCode(newError(http.StatusNotFound, "the object is missing from the store"), "object_missing")
	case err != nil:
		s.log.Error("stat object", "key", key, "err", err)
		return info, withCode(newError(http.StatusServiceUnavailable, "object store unavailable"), "store_unavailable")
	}
	return info, nil
}

// serveObject streams an object with http.ServeContent, so Range,
// If-Range and HEAD work as browsers expect for seeking. onServe is told
// whether the request reads from the start (a play or download, audited
// once) or is a seek within one.
func (s *Server) serveObject(info objstore.ObjectInfo, mediaType string, download bool, onServe func(ctx context.Context, whole bool)) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		r, w := humago.Unwrap(hctx)
		rng := r.Header.Get("Range")
		onServe(hctx.Context(), rng == "" || strings.HasPrefix(rng, "bytes=0-"))
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Content-SHA256", info.SHA256)
		if download {
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(info.Key)))
		}
		rs := &objectSeeker{ctx: r.Context(), store: s.objects, key: info.Key, size: info.Size}
		defer rs.Close()
		http.ServeContent(w, r, "", info.ModTime, rs)
		if rs.err != nil {
			s.log.Warn("serve object", "key", info.Key, "err", rs.err)
		}
	}}
}

func (s *Server) auditQuietly(ctx context.Context, action, objectType, objectID, siteID string, detail map[string]any) {
	err := s.db.InTx(ctx, func(q store.Q) error {
		return s.audit(ctx, q, action, objectType, objectID, siteID, detail)
	})
	if err != nil {
		s.log.Error("audit log write failed", "action", action, "object", objectID, "err", err)
	}
}

// objectSeeker reads an object as an io.ReadSeeker for ServeContent,
// opening a ranged read at the current offset on the first Read after a
// Seek.
type objectSeeker struct {
	ctx   context.Context
	store ObjectStore
	key   string
	size  int64
	off   int64
	rc    io.ReadCloser
	err   error
}

func (o *objectSeeker) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	}
	if abs < 0 {
		return 0, errors.New("seek before start")
	}
	if abs != o.off && o.rc != nil {
		_ = o.rc.Close()
		o.rc = nil
	}
	o.off = abs
	return abs, nil
}

func (o *objectSeeker) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.rc == nil {
		rc, _, err := o.store.Get(o.ctx, o.key, &objstore.Range{Offset: o.off, Length: o.size - o.off})
		if err != nil {
			o.err = err
			return 0, err
		}
		o.rc = rc
	}
	n, err := o.rc.Read(p)
	o.off += int64(n)
	if err != nil && err != io.EOF {
		o.err = err
	}
	return n, err
}

func (o *objectSeeker) Close() error {
	if o.rc != nil {
		return o.rc.Close()
	}
	return nil
}

func (s *Server) linkSig(id, exp string) string {
	m := hmac.New(sha256.New, s.cfg.LinkKey)
	m.Write([]byte("evidence-link\n" + id + "\n" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) validLink(id, exp, sig string, now time.Time) bool {
	if len(s.cfg.LinkKey) == 0 || exp == "" || sig == "" {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > unix {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(s.linkSig(id, exp)))
}

func (s *Server) evidenceLink(ctx context.Context, in *idInput) (*itemOutput[linkView], error) {
	ev, c, err := s.evidenceFor(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if ev.PurgedAt != nil {
		return nil, withCode(newError(http.StatusGone, "retention has deleted this object"), "purged")
	}
	exp := time.Now().Add(linkTTL).UTC().Truncate(time.Second)
	link, err := s.objects.PresignGet(ctx, ev.Key, linkTTL)
	kind := "presigned"
	if err != nil {
		if !errors.Is(err, objstore.ErrNotSupported) {
			s.log.Error("presign evidence link", "key", ev.Key, "err", err)
			return nil, withCode(newError(http.StatusServiceUnavailable, "object store unavailable"), "store_unavailable")
		}
		if len(s.cfg.LinkKey) == 0 {
			return nil, newError(http.StatusServiceUnavailable, "links are not configured on this server")
		}
		e := strconv.FormatInt(exp.Unix(), 10)
		link = "/api/v1/evidence/" + url.PathEscape(ev.ID) + "/content?download=1&exp=" + e + "&sig=" + s.linkSig(ev.ID, e)
		kind = "signed"
	}
	if err := s.db.InTx(ctx, func(q store.Q) error {
		return s.audit(ctx, q, "evidence.link", "case", c.ID, c.SiteID, map[string]any{"evidence_id": ev.ID, "key": ev.Key,
			"expires_at": exp, "kind": kind})
	}); err != nil {
		return nil, s.storeError("audit", err)
	}
	return &itemOutput[linkView]{Body: linkView{URL: link, ExpiresAt: exp}}, nil
}

func (s *Server) setDisposition(ctx context.Context, in *dispositionInput) (*itemOutput[caseView], error) {
	b := in.Body
	if b.Disposition == "abnormal" {
		if !slices.Contains(s.abnormalTypes(), b.AbnormalType) {
			return nil, errBadRequest("abnormal_type: want one of %s", strings.Join(s.abnormalTypes(), ", "))
		}
	} else if b.AbnormalType != "" {
		return nil, errBadRequest("abnormal_type is only for abnormal")
	}
	p := PrincipalFrom(ctx)
	var out caseView
	err := s.db.InTx(ctx, func(q store.Q) error {
		v, err := s.loadCase(ctx, q, in.ID)
		if err != nil {
			return err
		}
		c := v.Case
		prev := map[string]any{"disposition": c.Disposition, "abnormal_type": c.AbnormalType}
		now := store.Now()
		c.Disposition, c.AbnormalType, c.Remark = b.Disposition, b.AbnormalType, b.Remark
		c.HandlerID, c.DisposedAt, c.UpdatedAt = store.OptionalID(p.User.ID), &now, now
		if c.Status != store.CaseClosed {
			c.Status, c.ClosedAt = store.CaseClosed, &now
		}
		if err := store.Update(ctx, q, &c); err != nil {
			return err
		}
		v.Case = c
		out = v
		return s.audit(ctx, q, "case.disposition", "case", c.ID, c.SiteID, map[string]any{"disposition": b.Disposition,
			"abnormal_type": b.AbnormalType, "remark": b.Remark, "previous": prev})
	})
	if err != nil {
		return nil, s.apiError("case", err)
	}
	s.caseChanged(ctx, out.ID)
	return &itemOutput[caseView]{Body: out}, nil
}

// legalHolder is an object store with object lock (objstore.S3).
type legalHolder interface {
	Locked() bool
	SetLegalHold(ctx context.Context, key string, on bool) error
}

func (s *Server) setHold(ctx context.Context, in *holdInput) (*itemOutput[caseView], error) {
	var out caseView
	err := s.db.InTx(ctx, func(q store.Q) error {
		v, err := s.loadCase(ctx, q, in.ID)
		if err != nil {
			return err
		}
		if v.LegalHold == in.Body.Hold {
			out = v
			return nil
		}
		// the bucket's own legal hold too, where it has object lock: then
		// not even a store administrator deletes the objects by mistake
		held := 0
		if lh, ok := s.objects.(legalHolder); ok && lh.Locked() {
			for _, ev := range v.Evidence {
				if ev.PurgedAt != nil {
					continue
				}
				if err := lh.SetLegalHold(ctx, ev.Key, in.Body.Hold); err != nil {
					s.log.Error("set legal hold on object", "case", v.ID, "key", ev.Key, "err", err)
					return withCode(newError(http.StatusServiceUnavailable, "object store unavailable: the hold was not changed"), "store_unavailable")
				}
				held++
			}
		}
		v.LegalHold, v.UpdatedAt = in.Body.Hold, store.Now()
		if err := store.Update(ctx, q, &v.Case); err != nil {
			return err
		}
		out = v
		action := "case.hold"
		if !in.Body.Hold {
			action = "case.release"
		}
		return s.audit(ctx, q, action, "case", v.ID, v.SiteID, map[string]any{"reason": in.Body.Reason, "objects_held": held})
	})
	if err != nil {
		return nil, s.apiError("case", err)
	}
	s.caseChanged(ctx, out.ID)
	return &itemOutput[caseView]{Body: out}, nil
}

func (s *Server) verifyCase(ctx context.Context, in *idInput) (*itemOutput[recorder.Report], error) {
	if _, err := s.loadCase(ctx, s.db.Q(), in.ID); err != nil {
		return nil, err
	}
	rep, err := recorder.VerifyCase(ctx, s.db, s.objects, in.ID)
	if err != nil {
		s.log.Error("verify case", "case", in.ID, "err", err)
		return nil, withCode(newError(http.StatusServiceUnavailable, "cannot verify now: "+err.Error()), "store_unavailable")
	}
	s.auditQuietly(ctx, "case.verify", "case", in.ID, "", map[string]any{"ok": rep.OK, "problems": len(rep.Problems)})
	return &itemOutput[recorder.Report]{Body: rep}, nil
}

// exportManifest is manifest.json in a case export.
type exportManifest struct {
	Format     string          `json:"format"`
	ExportedAt time.Time       `json:"exported_at"`
	ExportedBy string          `json:"exported_by"`
	Case       store.Case      `json:"case"`
	Evidence   []exportItem    `json:"evidence"`
	Verify     recorder.Report `json:"verify"`
}

type exportItem struct {
	store.Evidence
	File string `json:"file,omitempty" doc:"Path in the archive; empty when not included"`
	// Error says why an object is not (wholly) in the archive.
	Error string `json:"error,omitempty"`
}

func (s *Server) exportCase(ctx context.Context, in *idInput) (*huma.StreamResponse, error) {
	v, err := s.loadCase(ctx, s.db.Q(), in.ID)
	if err != nil {
		return nil, err
	}
	rep, err := recorder.VerifyCase(ctx, s.db, s.objects, v.ID)
	if err != nil {
		s.log.Error("verify case for export", "case", v.ID, "err", err)
		return nil, withCode(newError(http.StatusServiceUnavailable, "object store unavailable"), "store_unavailable")
	}
	p := PrincipalFrom(ctx)
	s.auditQuietly(ctx, "case.export", "case", v.ID, v.SiteID, map[string]any{"evidence": len(v.Evidence), "verified": rep.OK})
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		_, w := humago.Unwrap(hctx)
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "case-"+v.ID+".zip"))
		w.Header().Set("Cache-Control", "private, no-store")
		zw := zip.NewWriter(w)
		m := exportManifest{Format: "attendant-case-export/1", ExportedAt: time.Now().UTC(), ExportedBy: p.User.Username,
			Case: v.Case, Verify: rep}
		for _, ev := range v.Evidence {
			item := exportItem{Evidence: ev}
			if ev.PurgedAt != nil {
				item.Error = "deleted by retention"
			} else {
				item.File = fmt.Sprintf("evidence/%03d-%s", ev.Seq, path.Base(ev.Key))
				if err := s.zipObject(hctx.Context(), zw, item.File, ev.Key); err != nil {
					// the archive is already streaming: say so in the
					// manifest instead of a status code
					s.log.Error("export case: object", "case", v.ID, "key", ev.Key, "err", err)
					item.Error = "could not read the object: " + err.Error()
				}
			}
			m.Evidence = append(m.Evidence, item)
		}
		if f, err := zw.Create("manifest.json"); err == nil {
			enc := json.NewEncoder(f)
			enc.SetIndent("", "  ")
			_ = enc.Encode(m)
		}
		if err := zw.Close(); err != nil {
			s.log.Warn("export case: finish archive", "case", v.ID, "err", err)
		}
	}}, nil
}

func (s *Server) zipObject(ctx context.Context, zw *zip.Writer, name, key string) error {
	rc, info, err := s.objects.Get(ctx, key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	// media is compressed already: store it as is
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: info.ModTime})
	if err != nil {
		return err
	}
	_, err = io.Copy(f, rc)
	return err
}
