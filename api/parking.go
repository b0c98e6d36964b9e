package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/parking"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

// Parking is the parking system that owns the vehicles' data, reached
// through its webhook (parking.Client). Deps.Parking nil means none is
// configured: the endpoints answer 503.
type Parking interface {
	Lookup(ctx context.Context, q parking.Query) (parking.Lookup, error)
	PayCode(ctx context.Context, q parking.Query) (parking.PayCode, error)
}

type plateInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		// No length bound here: every wrong plate, too long included, is
		// the 422 of NormalizePlate, so the page has one error to show.
		Plate string `json:"plate" doc:"As typed; normalised to upper case without spaces, dashes or dots, 2-12 letters (any script) and digits"`
	}
}

// plateResult is the lookup as the parking system answered, plus the
// plate now stored on the case (lookup's plate is the parking system's)
// and the vehicle's photos, now evidence of the case.
type plateResult struct {
	parking.Lookup
	CasePlate string       `json:"case_plate" doc:"The normalised plate, now stored on the case"`
	Photos    []platePhoto `json:"photos" doc:"The vehicle's entry/exit photos the parking system sent, kept as evidence of the case"`
	// PhotosError is a partial failure: the lookup stands (200), photos
	// holds what was kept before it.
	PhotosError *ErrorDetail `json:"photos_error,omitempty" doc:"Only when photos the parking system sent could not be kept (code store_unavailable or internal); the lookup itself succeeded"`
}

// platePhoto is a vehicle photo kept as evidence, as the page shows it.
type platePhoto struct {
	EvidenceID string    `json:"evidence_id"`
	Kind       string    `json:"kind" enum:"entry,exit"`
	TakenAt    time.Time `json:"taken_at"`
	ContentURL string    `json:"content_url" doc:"The JPEG: the evidence content endpoint, read with the session"`
}

// vehiclePhotoKind is the evidence kind of a parking photo kind:
// vehicle-photo-entry, vehicle-photo-exit.
func vehiclePhotoKind(kind string) string { return "vehicle-photo-" + kind }

type plateOutput struct{ Body plateResult }

type payCodeInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body *struct {
		Plate string `json:"plate,omitempty" doc:"The plate to ask for (normalised, not stored); empty = the case's"`
	}
}

// payCodeResult is the pay code and the plate it was asked for.
type payCodeResult struct {
	parking.PayCode
	Plate string `json:"plate" doc:"The plate the code was asked for, normalised"`
}

type payCodeOutput struct{ Body payCodeResult }

// registerParking adds plate lookup and pay codes to cases. p may be nil.
func (s *Server) registerParking(p Parking) {
	op := s.operation(http.MethodPost, "/api/v1/cases/{id}/plate", "case-plate", "cases",
		"Enter the case's vehicle plate and look it up in the parking system", caseRoles)
	op.MaxBodyBytes = maxAdminBody
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity,
		http.StatusBadGateway, http.StatusServiceUnavailable)
	op.Description += " The plate is stored on the case only when the parking system answered (found or not)." +
		" The vehicle's photos it sent are kept as evidence of the case, each once."
	huma.Register(s.api, op, func(ctx context.Context, in *plateInput) (*plateOutput, error) {
		c, q, err := s.parkingQuery(ctx, p, in.ID)
		if err != nil {
			return nil, err
		}
		if q.Plate, err = parking.NormalizePlate(in.Body.Plate); err != nil {
			return nil, errInvalidPlate(err)
		}
		var l parking.Lookup
		err = s.parkingMetrics.observe("lookup", func() (err error) {
			l, err = p.Lookup(ctx, q)
			return err
		})
		if err != nil {
			return nil, s.parkingError(c.ID, err)
		}
		err = s.db.InTx(ctx, func(tx store.Q) error {
			// Closed while the parking system was asked? Then leave it be.
			if _, err := s.openCase(ctx, tx, c.ID); err != nil {
				return err
			}
			if err := store.SetCasePlate(ctx, tx, c.ID, q.Plate, store.Now()); err != nil {
				return err
			}
			return s.audit(ctx, tx, "case.plate", "case", c.ID, c.SiteID, lookupAuditDetail(q.Plate, l))
		})
		if err != nil {
			return nil, s.apiError("case", err)
		}
		out := plateResult{Lookup: l, CasePlate: q.Plate, Photos: []platePhoto{}}
		if l.Found && len(l.Photos) > 0 {
			out.Photos, out.PhotosError = s.keepVehiclePhotos(ctx, c, l.Photos)
		}
		s.caseChanged(ctx, c.ID)
		return &plateOutput{Body: out}, nil
	})

	op = s.operation(http.MethodPost, "/api/v1/cases/{id}/pay-code", "case-pay-code", "cases",
		"Ask the parking system for a pay code for the case's plate, to show as a QR code on the robot", caseRoles)
	op.MaxBodyBytes = maxAdminBody
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity,
		http.StatusBadGateway, http.StatusServiceUnavailable)
	huma.Register(s.api, op, func(ctx context.Context, in *payCodeInput) (*payCodeOutput, error) {
		c, q, err := s.parkingQuery(ctx, p, in.ID)
		if err != nil {
			return nil, err
		}
		if in.Body != nil && in.Body.Plate != "" {
			if q.Plate, err = parking.NormalizePlate(in.Body.Plate); err != nil {
				return nil, errInvalidPlate(err)
			}
		}
		if q.Plate == "" {
			return nil, withCode(newError(http.StatusConflict, "the case has no plate yet: enter one first"), "no_plate")
		}
		// One request to the parking system per case and plate at a time:
		// a double click, or the agent and a supervisor on the same case,
		// get the same code instead of two codes for one fee. Detached
		// from the first caller's cancellation, since others wait on it;
		// the parking client's timeout bounds it.
		dctx := context.WithoutCancel(ctx)
		s.parkingMetrics.payCodesInFlight.Inc()
		defer s.parkingMetrics.payCodesInFlight.Dec()
		v, err, _ := s.payCodes.Do(c.ID+"\x00"+q.Plate, func() (any, error) {
			var pc parking.PayCode
			err := s.parkingMetrics.observe("pay_code", func() (err error) {
				pc, err = p.PayCode(dctx, q)
				return err
			})
			if err != nil {
				return nil, s.parkingError(c.ID, err)
			}
			// The payload is left out of the audit: it may be a bearer link
			// to pay with.
			detail := map[string]any{"plate": q.Plate, "issued": pc.Issued, "amount": pc.Amount, "currency": pc.Currency}
			if pc.ExpiresAt != nil {
				detail["expires_at"] = pc.ExpiresAt
			}
			if err := s.db.InTx(dctx, func(tx store.Q) error {
				return s.audit(dctx, tx, "case.pay_code", "case", c.ID, c.SiteID, detail)
			}); err != nil {
				return nil, s.storeError("audit log", err)
			}
			return pc, nil
		})
		if err != nil {
			return nil, err
		}
		return &payCodeOutput{Body: payCodeResult{PayCode: v.(parking.PayCode), Plate: q.Plate}}, nil
	})
}

// keepVehiclePhotos keeps a lookup's photos as evidence of the case, each
// once (by SHA-256): looking the plate up again adds nothing. The first
// failure ends it, logged, and is told in photos_error: the lookup is
// answered all the same, since the agent at the gate needs the fee more
// than the picture.
func (s *Server) keepVehiclePhotos(ctx context.Context, c store.Case, photos []parking.Photo) ([]platePhoto, *ErrorDetail) {
	p := PrincipalFrom(ctx)
	out := make([]platePhoto, 0, len(photos))
	for _, ph := range photos {
		kind := vehiclePhotoKind(ph.Kind)
		sum := sha256.Sum256(ph.Data)
		// named after its content, so two lookups racing store one object
		key := recorder.EvidenceKey(c.SiteID, c.ID, kind+"-"+hex.EncodeToString(sum[:6]), ph.TakenAt, "jpg")
		ev, added, err := s.addEvidence(ctx, c, newEvidence{
			Row: store.Evidence{CaseID: c.ID, Key: key, Kind: kind, MediaType: ph.ContentType,
				TakenBy: store.OptionalID(p.User.ID), Start: ph.TakenAt, End: ph.TakenAt},
			Data:     ph.Data,
			Metadata: map[string]string{"case": c.ID, "source": "parking-system", "taken-by": p.User.ID},
			Once:     true,
		})
		if err != nil {
			s.log.Error("keep the parking system's vehicle photo", "case", c.ID, "kind", kind, "key", key, "err", err)
			if errors.Is(err, errObjectStore) {
				return out, &ErrorDetail{Code: "store_unavailable", Message: "object store unavailable; the vehicle's photos were not saved"}
			}
			return out, &ErrorDetail{Code: "internal", Message: "internal error; the vehicle's photos were not saved"}
		}
		if added {
			s.log.Debug("vehicle photo kept", "case", c.ID, "evidence", ev.ID, "kind", kind, "bytes", ev.Size)
		}
		out = append(out, platePhoto{EvidenceID: ev.ID, Kind: ph.Kind, TakenAt: ev.Start, ContentURL: evidenceContentPath(ev.ID)})
	}
	return out, nil
}

// parkingQuery checks that the caller may work on the open case id and
// says where its vehicle is; the plate is the one stored on the case.
func (s *Server) parkingQuery(ctx context.Context, p Parking, id string) (store.Case, parking.Query, error) {
	if p == nil {
		return store.Case{}, parking.Query{}, withCode(newError(http.StatusServiceUnavailable, "parking system not configured"), "parking_not_configured")
	}
	c, err := s.openCase(ctx, s.db.Q(), id)
	if err != nil {
		return c, parking.Query{}, err
	}
	lane, err := store.CaseLaneOf(ctx, s.db.Q(), c.ID)
	if err != nil {
		return c, parking.Query{}, s.storeError("case", err)
	}
	q := parking.Query{Plate: c.Plate, SiteID: c.SiteID, SiteCode: lane.SiteCode, AccessPointID: lane.AccessPointID,
		DeviceID: string(c.DeviceID), CaseID: c.ID, AgentID: PrincipalFrom(ctx).User.ID}
	if lane.AccessPointKind == parking.KindEntrance || lane.AccessPointKind == parking.KindExit {
		q.AccessPointKind = lane.AccessPointKind
	}
	return c, q, nil
}

// openCase is a case the caller may see (404 otherwise) that is not
// closed (409).
func (s *Server) openCase(ctx context.Context, q store.Q, id string) (store.Case, error) {
	c, err := store.Get[store.Case](ctx, q, id)
	if err != nil {
		return c, s.apiError("case", err)
	}
	if !inScope(PrincipalFrom(ctx), c.SiteID) {
		return c, errNotFound("case", id)
	}
	if c.Status == store.CaseClosed {
		return c, newError(http.StatusConflict, "case is closed")
	}
	return c, nil
}

// errInvalidPlate is 422, not the usual 400: the request is well formed,
// the plate in it is not one, and the page shows that next to the field.
func errInvalidPlate(err error) error {
	return &ErrorBody{status: http.StatusUnprocessableEntity,
		Detail: ErrorDetail{Code: "invalid_plate", Message: err.Error()}}
}

// parkingError is what the agent is told when the parking system failed:
// 502 and which way it failed; the whole error (URL without credentials,
// plate, the system's own words) goes to the log.
func (s *Server) parkingError(caseID string, err error) error {
	if errors.Is(err, parking.ErrInvalidPlate) {
		return errInvalidPlate(err)
	}
	_, msg := parkingFailure(err)
	s.log.Warn("parking system call failed", "case", caseID, "err", err)
	return withCode(newError(http.StatusBadGateway, msg), "parking_error")
}

// parkingFailure names how a call to the parking system failed: a short
// outcome for metrics and the words for the agent.
func parkingFailure(err error) (outcome, msg string) {
	var se *parking.StatusError
	switch {
	case errors.Is(err, parking.ErrInvalidPlate):
		return "invalid_plate", "the parking system refused the plate"
	case errors.Is(err, parking.ErrTimeout):
		return "timeout", "the parking system did not answer in time"
	case errors.Is(err, parking.ErrUnreachable):
		return "unreachable", "the parking system cannot be reached"
	case errors.As(err, &se):
		return "http_error", fmt.Sprintf("the parking system answered HTTP %d", se.Code)
	case errors.Is(err, parking.ErrTooLarge), errors.Is(err, parking.ErrMalformed), errors.Is(err, parking.ErrMissingField):
		return "bad_answer", "the parking system's answer could not be read"
	case errors.Is(err, context.Canceled):
		return "cancelled", "the request was cancelled"
	}
	return "error", "the parking system failed"
}

// parkingMetrics tell operators how the parking integration is doing: a
// plate lookup that fails leaves a driver at a shut gate.
type parkingMetrics struct {
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	payCodesInFlight prometheus.Gauge
}

func newParkingMetrics(reg prometheus.Registerer) (*parkingMetrics, error) {
	m := &parkingMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_parking_requests_total", Help: "Requests to the parking system by action and outcome.",
		}, []string{"action", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "attendant_parking_request_duration_seconds", Help: "How long the parking system took to answer, by action.",
			Buckets: prometheus.DefBuckets,
		}, []string{"action"}),
		payCodesInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attendant_parking_pay_code_requests_in_flight",
			Help: "Pay-code requests being served; those for a case and plate already with the parking system wait for its answer.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.payCodesInFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register parking metrics: %w", err)
		}
	}
	return m, nil
}

// observe times and counts one call to the parking system.
func (m *parkingMetrics) observe(action string, call func() error) error {
	start := time.Now()
	err := call()
	m.duration.WithLabelValues(action).Observe(time.Since(start).Seconds())
	outcome := "ok"
	if err != nil {
		outcome, _ = parkingFailure(err)
	}
	m.requests.WithLabelValues(action, outcome).Inc()
	return err
}

// lookupAuditDetail is a lookup's result in a few words for the audit log.
func lookupAuditDetail(plate string, l parking.Lookup) map[string]any {
	d := map[string]any{"plate": plate, "found": l.Found}
	if !l.Found {
		return d
	}
	d["paid"], d["fee_due"], d["whitelisted"] = l.Paid, l.FeeDue, l.Whitelisted
	if l.Currency != "" {
		d["currency"] = l.Currency
	}
	if l.Plate != plate {
		d["known_as"] = l.Plate
	}
	if l.Permit != nil {
		d["permit"], d["permit_expired_days"] = l.Permit.Kind, l.Permit.ExpiredDays
		if !l.Permit.Expired {
			delete(d, "permit_expired_days")
		}
	}
	return d
}
