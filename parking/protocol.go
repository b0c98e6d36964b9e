package parking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The webhook protocol (docs/parking.md): attendant POSTs one JSON object
// with an "action" to the configured URL and reads one JSON object back.
// Both share the field names below; unknown fields in an answer are
// ignored so a parking system can send more than we read.

// Actions.
const (
	ActionLookup  = "lookup"
	ActionPayCode = "pay_code"
)

// ProtocolVersion is sent as "version" in every request.
const ProtocolVersion = 1

// Headers attendant sets on every webhook request.
const (
	// HeaderTimestamp is the request's Unix time in seconds.
	HeaderTimestamp = "X-Attendant-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// shared secret, of the timestamp, a dot and the raw body.
	HeaderSignature = "X-Attendant-Signature"
)

// MaxSkew is how far a request's timestamp may be from the receiver's
// clock before Verify refuses it: replaying a captured request later fails.
const MaxSkew = 5 * time.Minute

// MaxPayloadBytes bounds a pay code's payload: the robot display's QR
// payload limit (docs/robot-protocol.md), so the console can send it as is.
const MaxPayloadBytes = 512

// Access point kinds sent as access_point_kind.
const (
	KindEntrance = "entrance"
	KindExit     = "exit"
)

// Request is the body of every webhook call. Plate is normalised.
type Request struct {
	Version         int    `json:"version"`
	Action          string `json:"action"`
	RequestID       string `json:"request_id"`
	Plate           string `json:"plate"`
	SiteID          string `json:"site_id"`
	SiteCode        string `json:"site_code,omitempty"`
	AccessPointID   string `json:"access_point_id,omitempty"`
	AccessPointKind string `json:"access_point_kind,omitempty"`
	DeviceID        string `json:"device_id,omitempty"`
	CaseID          string `json:"case_id,omitempty"`
	AgentID         string `json:"agent_id,omitempty"`
}

// Query says which vehicle, where and for whom; the same for both actions.
type Query struct {
	// Plate as typed; the Client normalises it (NormalizePlate).
	Plate    string
	SiteID   string
	SiteCode string
	// AccessPointID and AccessPointKind (KindEntrance, KindExit or empty)
	// name the lane the robot stands at.
	AccessPointID   string
	AccessPointKind string
	DeviceID        string
	CaseID          string
	AgentID         string
}

// Lookup is what the parking system knows of a plate.
type Lookup struct {
	Found bool `json:"found" doc:"The parking system knows this vehicle"`
	// Plate as the parking system knows it (normalised), when found.
	Plate     string     `json:"plate" doc:"The plate as the parking system knows it"`
	EntryTime *time.Time `json:"entry_time" doc:"When the vehicle entered, if it is inside"`
	ExitTime  *time.Time `json:"exit_time" doc:"When it left, if it has"`
	FeeDue    int64      `json:"fee_due" minimum:"0" doc:"Amount still to pay, in minor units (fen, cents)"`
	Currency  string     `json:"currency" doc:"ISO 4217 code of fee_due, e.g. CNY"`
	Paid      bool       `json:"paid" doc:"The stay is paid"`
	// VehicleClass is the parking system's word: car, truck, police, …
	VehicleClass string  `json:"vehicle_class"`
	Permit       *Permit `json:"permit" doc:"Monthly pass or similar, if any"`
	Whitelisted  bool    `json:"whitelisted" doc:"Let through without payment"`
	Message      string  `json:"message" doc:"The parking system's words for the agent, e.g. why the gate stayed shut"`
	// Photos are the vehicle's entry/exit pictures (found only), checked;
	// not in the JSON: the caller keeps them as evidence and hands out
	// references instead of megabytes of base64.
	Photos []Photo `json:"-"`
	// PhotosDropped counts the photos of the answer left out because they
	// broke the protocol's rules (each logged at debug by the Client).
	PhotosDropped int `json:"photos_dropped" minimum:"0" doc:"Photos the parking system sent that could not be used (not a JPEG, too large, more than 4, …)"`
}

// Permit is a pass that lets a vehicle park (monthly, annual, staff, …).
type Permit struct {
	Kind       string     `json:"kind" doc:"As the parking system names it: monthly, annual, staff, …"`
	ValidUntil *time.Time `json:"valid_until"`
	// Expired and ExpiredDays are worked out by attendant from
	// ValidUntil, so every parking system answers "expired how long" alike.
	Expired     bool `json:"expired"`
	ExpiredDays int  `json:"expired_days" doc:"Whole days since valid_until; 0 while valid or expired less than a day"`
}

// PayCode is a payment the robot display can show as a QR code.
type PayCode struct {
	Issued    bool       `json:"issued" doc:"False when there is nothing to pay or the vehicle is unknown; message says why"`
	Payload   string     `json:"payload" doc:"What the QR code encodes, usually a payment URL (at most 512 bytes)"`
	ExpiresAt *time.Time `json:"expires_at" doc:"After this the code no longer works"`
	Amount    int64      `json:"amount" minimum:"0" doc:"Amount in minor units"`
	Currency  string     `json:"currency"`
	Message   string     `json:"message"`
}

// Field limits for answers; longer text is cut, not refused: a chatty
// parking system must not break the agent's page.
const (
	maxMessageRunes = 500
	maxWordRunes    = 64
)

// wireLookup is a lookup answer as sent; pointers tell "missing" from zero.
type wireLookup struct {
	Found        *bool      `json:"found"`
	Plate        string     `json:"plate"`
	EntryTime    *time.Time `json:"entry_time"`
	ExitTime     *time.Time `json:"exit_time"`
	FeeDue       *int64     `json:"fee_due"`
	Currency     string     `json:"currency"`
	Paid         bool       `json:"paid"`
	VehicleClass string     `json:"vehicle_class"`
	Permit       *struct {
		Kind       string     `json:"kind"`
		ValidUntil *time.Time `json:"valid_until"`
	} `json:"permit"`
	Whitelisted bool            `json:"whitelisted"`
	Message     string          `json:"message"`
	Photos      json.RawMessage `json:"photos"` // parsed apart: a bad photo is dropped, not the answer
}

type wirePayCode struct {
	Issued    *bool      `json:"issued"`
	Payload   string     `json:"payload"`
	ExpiresAt *time.Time `json:"expires_at"`
	Amount    *int64     `json:"amount"`
	Currency  string     `json:"currency"`
	Message   string     `json:"message"`
}

// ParseLookup reads a lookup answer. now dates the permit's expiry.
// Errors wrap ErrMalformed or ErrMissingField. Photos that break the
// rules are dropped and counted in PhotosDropped, never an error.
func ParseLookup(body []byte, now time.Time) (Lookup, error) {
	l, _, err := parseLookup(body, now)
	return l, err
}

// parseLookup is ParseLookup that also says why photos were dropped.
func parseLookup(body []byte, now time.Time) (Lookup, []error, error) {
	var w wireLookup
	if err := json.Unmarshal(body, &w); err != nil {
		return Lookup{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Found == nil {
		return Lookup{}, nil, fmt.Errorf("%w: found", ErrMissingField)
	}
	l := Lookup{Found: *w.Found, Paid: w.Paid, Whitelisted: w.Whitelisted,
		EntryTime: utc(w.EntryTime), ExitTime: utc(w.ExitTime),
		VehicleClass: cleanText(w.VehicleClass, maxWordRunes), Message: cleanText(w.Message, maxMessageRunes)}
	if l.Found {
		if w.Plate == "" {
			return Lookup{}, nil, fmt.Errorf("%w: plate (found is true)", ErrMissingField)
		}
		p, err := NormalizePlate(w.Plate)
		if err != nil {
			return Lookup{}, nil, fmt.Errorf("%w: plate: %v", ErrMalformed, err)
		}
		l.Plate = p
	}
	var err error
	if l.FeeDue, l.Currency, err = amount("fee_due", w.FeeDue, w.Currency); err != nil {
		return Lookup{}, nil, err
	}
	if w.Permit != nil {
		l.Permit = &Permit{Kind: cleanText(w.Permit.Kind, maxWordRunes), ValidUntil: utc(w.Permit.ValidUntil)}
		if u := l.Permit.ValidUntil; u != nil && now.After(*u) {
			l.Permit.Expired = true
			l.Permit.ExpiredDays = int(now.Sub(*u) / (24 * time.Hour))
		}
	}
	var why []error
	if l.Found {
		// a vehicle the parking system does not know has no pictures to show
		l.Photos, l.PhotosDropped, why = parsePhotos(w.Photos)
	}
	return l, why, nil
}

// ParsePayCode reads a pay_code answer. Errors wrap ErrMalformed or
// ErrMissingField.
func ParsePayCode(body []byte) (PayCode, error) {
	var w wirePayCode
	if err := json.Unmarshal(body, &w); err != nil {
		return PayCode{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Issued == nil {
		return PayCode{}, fmt.Errorf("%w: issued", ErrMissingField)
	}
	pc := PayCode{Issued: *w.Issued, Message: cleanText(w.Message, maxMessageRunes)}
	var err error
	if pc.Amount, pc.Currency, err = amount("amount", w.Amount, w.Currency); err != nil {
		return PayCode{}, err
	}
	if !pc.Issued {
		return pc, nil
	}
	switch {
	case w.Payload == "":
		return PayCode{}, fmt.Errorf("%w: payload (issued is true)", ErrMissingField)
	case w.ExpiresAt == nil:
		return PayCode{}, fmt.Errorf("%w: expires_at (issued is true)", ErrMissingField)
	case len(w.Payload) > MaxPayloadBytes:
		return PayCode{}, fmt.Errorf("%w: payload longer than %d bytes", ErrMalformed, MaxPayloadBytes)
	case strings.IndexFunc(w.Payload, unicode.IsControl) >= 0:
		return PayCode{}, fmt.Errorf("%w: payload has control characters", ErrMalformed)
	}
	// The payload goes to the robot unchanged (a signed URL must stay
	// byte for byte), so it is refused above rather than cleaned.
	pc.Payload, pc.ExpiresAt = w.Payload, utc(w.ExpiresAt)
	return pc, nil
}

// amount checks a sum in minor units and its currency: never negative,
// and a non-zero sum needs an ISO 4217 code.
func amount(field string, v *int64, currency string) (int64, string, error) {
	var n int64
	if v != nil {
		n = *v
	}
	if n < 0 {
		return 0, "", fmt.Errorf("%w: %s is negative", ErrMalformed, field)
	}
	if currency == "" {
		if n > 0 {
			return 0, "", fmt.Errorf("%w: currency (%s is not 0)", ErrMissingField, field)
		}
		return n, "", nil
	}
	if len(currency) != 3 || strings.IndexFunc(currency, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return 0, "", fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrMalformed, cleanText(currency, 8))
	}
	return n, currency, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// cleanText drops control characters (the text is shown to agents and
// written to logs) and cuts it to max runes.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return strings.TrimSpace(s)
}

// Sign returns the HeaderSignature value for body sent at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrStale        = errors.New("timestamp outside the allowed skew")
)

// Verify checks a webhook request's timestamp and signature headers
// against body, as a parking system written in Go would (the demo backend
// does). It refuses a timestamp more than MaxSkew from now.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrBadSignature, cleanText(timestamp, 32))
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	got, ok := strings.CutPrefix(signature, "v1=")
	raw, err := hex.DecodeString(got)
	if !ok || err != nil || !hmac.Equal(raw, mac(secret, timestamp, body)) {
		return ErrBadSignature
	}
	return nil
}
