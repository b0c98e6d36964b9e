package parking

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Demo is a tiny parking system for `attendant serve --demo` and tests: an
// http.Handler speaking the webhook protocol, checking signatures, with a
// few seeded vehicles. Their times are relative to each request (entered
// 2 h 10 min ago, whenever asked), so the demo answers the same however
// long the server has run. Its tariff: the first 15 minutes free, then
// 5.00 CNY per hour begun, at most 50.00 per stay. A lookup of a vehicle
// inside sends its entry photo (drawn from the plate: DemoPhotoWidth ×
// DemoPhotoHeight, the same bytes each time). The only state it changes is
// the last pay code issued per vehicle.
type Demo struct {
	secret []byte
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	vehicles map[string]*demoVehicle // by normalised plate; fixed set, so bounded
}

// demoVehicle's times are offsets before (negative) or after now.
type demoVehicle struct {
	entered     time.Duration
	class       string
	paid        time.Duration // 0: never paid; else paid what was due then
	permit      string
	permitUntil time.Duration
	whitelisted bool
	payCode     string // the last code issued, replaced by the next
	photo       []byte // its entry photo, drawn on the first lookup
}

// DemoConfig sets up a Demo.
type DemoConfig struct {
	// Secret is the shared secret requests are signed with.
	Secret []byte
	Log    *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Demo plates: what a newcomer types on the gate-call page.
const (
	DemoPlateUnpaid        = "京A12345" // parked 2 h 10 min, nothing paid: 15.00 CNY due
	DemoPlatePaid          = "沪B67890" // parked 1 h 30 min, paid 10 min ago
	DemoPlatePermit        = "粤C24680" // monthly pass valid 20 more days
	DemoPlateExpiredPermit = "苏E13579" // monthly pass expired 3 days ago, 5.00 CNY due
	DemoPlateWhitelisted   = "京A0001警" // police car, let through
)

// Demo tariff in fen (CNY minor units).
const (
	demoFreeMinutes = 15
	demoPerHour     = 500
	demoCap         = 5000
	demoCodeTTL     = 10 * time.Minute
	demoMaxBody     = 64 << 10
)

// NewDemo returns a demo parking system with its seeded vehicles.
func NewDemo(cfg DemoConfig) *Demo {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	const day = 24 * time.Hour
	return &Demo{secret: append([]byte(nil), cfg.Secret...), log: cfg.Log, now: cfg.Now,
		vehicles: map[string]*demoVehicle{
			DemoPlateUnpaid:        {entered: -130 * time.Minute, class: "car"},
			DemoPlatePaid:          {entered: -90 * time.Minute, class: "car", paid: -10 * time.Minute},
			DemoPlatePermit:        {entered: -5 * time.Hour, class: "car", permit: "monthly", permitUntil: 20 * day},
			DemoPlateExpiredPermit: {entered: -50 * time.Minute, class: "car", permit: "monthly", permitUntil: -3*day - time.Hour},
			DemoPlateWhitelisted:   {entered: -20 * time.Minute, class: "police", whitelisted: true},
		}}
}

// ServeHTTP answers one webhook request.
func (d *Demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		demoError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, demoMaxBody))
	if err != nil {
		demoError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	if err := Verify(d.secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, d.now()); err != nil {
		d.log.Warn("demo parking: request refused", "err", err)
		demoError(w, http.StatusUnauthorized, err.Error())
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		demoError(w, http.StatusBadRequest, "body is not a request")
		return
	}
	plate, err := NormalizePlate(req.Plate)
	if err != nil {
		demoError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.log.Debug("demo parking request", "action", req.Action, "plate", plate, "request_id", req.RequestID)
	switch req.Action {
	case ActionLookup:
		writeJSON(w, d.lookup(plate))
	case ActionPayCode:
		writeJSON(w, d.payCode(plate))
	default:
		demoError(w, http.StatusBadRequest, "unknown action")
	}
}

// lookup answers as wireLookup would be sent.
func (d *Demo) lookup(plate string) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vehicles[plate]
	if !ok {
		return map[string]any{"found": false, "message": "No record of this vehicle: a visitor, or a misread plate?"}
	}
	now := d.now().UTC().Truncate(time.Second)
	fee := d.due(v)
	out := map[string]any{"found": true, "plate": plate, "entry_time": now.Add(v.entered), "vehicle_class": v.class,
		"fee_due": fee, "currency": "CNY", "paid": fee == 0 && v.paid != 0, "whitelisted": v.whitelisted}
	if v.permit != "" {
		out["permit"] = map[string]any{"kind": v.permit, "valid_until": now.Add(v.permitUntil)}
	}
	// every demo vehicle is inside (none has left), so each has an entry photo
	if v.photo == nil {
		p, err := demoPhoto(plate)
		if err != nil {
			d.log.Error("demo parking: draw the entry photo", "plate", plate, "err", err)
		}
		v.photo = p
	}
	if v.photo != nil {
		out["photos"] = []map[string]any{{"kind": PhotoEntry, "taken_at": now.Add(v.entered), "content_type": PhotoContentType,
			"data": base64.StdEncoding.EncodeToString(v.photo)}}
	}
	switch {
	case v.whitelisted:
		out["message"] = "Whitelisted vehicle: open the gate"
	case fee > 0 && v.permit != "":
		out["message"] = "Monthly pass expired: the stay is charged as a visitor's"
	case fee > 0:
		out["message"] = "Unpaid: ask the driver to scan the pay code"
	case v.permit != "":
		out["message"] = "Monthly pass holder"
	default:
		out["message"] = "Paid: free to leave within 15 minutes of paying"
	}
	return out
}

func (d *Demo) payCode(plate string) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vehicles[plate]
	if !ok {
		return map[string]any{"issued": false, "message": "No record of this vehicle"}
	}
	fee := d.due(v)
	if fee == 0 {
		return map[string]any{"issued": false, "amount": 0, "message": "Nothing to pay"}
	}
	v.payCode = rand.Text()
	return map[string]any{"issued": true, "payload": "https://pay.demo.invalid/p/" + v.payCode,
		"expires_at": d.now().UTC().Add(demoCodeTTL).Truncate(time.Second), "amount": fee, "currency": "CNY",
		"message": "Demo pay code: nothing is charged"}
}

// due is the fee still to pay: nothing for whitelisted vehicles and valid
// passes, otherwise the tariff since entry (or since paying, after the
// 15 minutes paying allows to leave).
func (d *Demo) due(v *demoVehicle) int64 {
	if v.whitelisted || (v.permit != "" && v.permitUntil > 0) {
		return 0
	}
	since := v.entered
	if v.paid != 0 {
		since = v.paid
	}
	return DemoFee(-since)
}

// DemoFee is the demo tariff for a stay of d, in fen.
func DemoFee(d time.Duration) int64 {
	if d <= demoFreeMinutes*time.Minute {
		return 0
	}
	hours := int64((d + time.Hour - 1) / time.Hour)
	return min(hours*demoPerHour, demoCap)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v) // a write error means the caller left
}

func demoError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
