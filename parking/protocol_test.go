package parking_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/parking"
)

var clock = time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)

func TestParseLookup(t *testing.T) {
	until := clock.Add(-3*24*time.Hour - time.Hour)
	entry := time.Date(2026, 1, 15, 13, 50, 0, 0, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name, body string
		want       parking.Lookup
	}{
		{"not found", `{"found":false,"message":"No record"}`, parking.Lookup{Message: "No record"}},
		{"unpaid", `{"found":true,"plate":"京a 12345","entry_time":"2026-01-15T13:50:00+08:00","fee_due":1500,"currency":"CNY","paid":false,"vehicle_class":"car","extra":{"ignored":1}}`,
			parking.Lookup{Found: true, Plate: "京A12345", EntryTime: ptr(entry.UTC()), FeeDue: 1500, Currency: "CNY", VehicleClass: "car"}},
		{"expired permit", `{"found":true,"plate":"苏E13579","permit":{"kind":"monthly","valid_until":"` + until.Format(time.RFC3339) + `"}}`,
			parking.Lookup{Found: true, Plate: "苏E13579", Permit: &parking.Permit{Kind: "monthly", ValidUntil: &until, Expired: true, ExpiredDays: 3}}},
		{"valid permit", `{"found":true,"plate":"粤C24680","permit":{"kind":"monthly","valid_until":"2026-02-01T00:00:00Z"}}`,
			parking.Lookup{Found: true, Plate: "粤C24680", Permit: &parking.Permit{Kind: "monthly", ValidUntil: ptr(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))}}},
		{"control characters cleaned", `{"found":true,"plate":"A123","whitelisted":true,"message":"  open\u0007 the\u001b[31m gate \n"}`,
			parking.Lookup{Found: true, Plate: "A123", Whitelisted: true, Message: "open the[31m gate"}},
		{"long message cut", `{"found":false,"message":"` + strings.Repeat("长", 600) + `"}`,
			parking.Lookup{Message: strings.Repeat("长", 500)}},
		{"zero fee without currency", `{"found":true,"plate":"A123","fee_due":0,"paid":true}`,
			parking.Lookup{Found: true, Plate: "A123", Paid: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parking.ParseLookup([]byte(tc.body), clock)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseLookupRefuses(t *testing.T) {
	tests := []struct {
		name, body string
		want       error
	}{
		{"not JSON", `<html>502 Bad Gateway</html>`, parking.ErrMalformed},
		{"truncated", `{"found":true,"plate":"A1`, parking.ErrMalformed},
		{"array", `[{"found":true}]`, parking.ErrMalformed},
		{"trailing garbage", `{"found":false} x`, parking.ErrMalformed},
		{"found is a string", `{"found":"yes"}`, parking.ErrMalformed},
		{"bad time", `{"found":true,"plate":"A123","entry_time":"yesterday"}`, parking.ErrMalformed},
		{"negative fee", `{"found":true,"plate":"A123","fee_due":-5,"currency":"CNY"}`, parking.ErrMalformed},
		{"fractional fee", `{"found":true,"plate":"A123","fee_due":15.5,"currency":"CNY"}`, parking.ErrMalformed},
		{"bad currency", `{"found":true,"plate":"A123","fee_due":5,"currency":"yuan"}`, parking.ErrMalformed},
		{"bad plate", `{"found":true,"plate":"<script>"}`, parking.ErrMalformed},
		{"empty", ``, parking.ErrMalformed},
		{"null", `null`, parking.ErrMissingField},
		{"empty object", `{}`, parking.ErrMissingField},
		{"found without plate", `{"found":true}`, parking.ErrMissingField},
		{"fee without currency", `{"found":true,"plate":"A123","fee_due":500}`, parking.ErrMissingField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parking.ParseLookup([]byte(tc.body), clock)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestParsePayCode(t *testing.T) {
	exp := time.Date(2026, 1, 15, 8, 10, 0, 0, time.UTC)
	got, err := parking.ParsePayCode([]byte(`{"issued":true,"payload":"https://pay.example/t/8841?sig=a%2Fb","expires_at":"2026-01-15T16:10:00+08:00","amount":1500,"currency":"CNY"}`))
	require.NoError(t, err)
	require.Equal(t, parking.PayCode{Issued: true, Payload: "https://pay.example/t/8841?sig=a%2Fb", ExpiresAt: &exp, Amount: 1500, Currency: "CNY"}, got)

	got, err = parking.ParsePayCode([]byte(`{"issued":false,"message":"Nothing to pay"}`))
	require.NoError(t, err)
	require.Equal(t, parking.PayCode{Message: "Nothing to pay"}, got)

	for name, tc := range map[string]struct {
		body string
		want error
	}{
		"no issued":            {`{"payload":"x"}`, parking.ErrMissingField},
		"issued, no payload":   {`{"issued":true,"expires_at":"2026-01-15T16:10:00Z"}`, parking.ErrMissingField},
		"issued, no expiry":    {`{"issued":true,"payload":"x"}`, parking.ErrMissingField},
		"payload too long":     {`{"issued":true,"expires_at":"2026-01-15T16:10:00Z","payload":"` + strings.Repeat("x", 513) + `"}`, parking.ErrMalformed},
		"payload with newline": {`{"issued":true,"expires_at":"2026-01-15T16:10:00Z","payload":"a\nb"}`, parking.ErrMalformed},
		"negative amount":      {`{"issued":false,"amount":-1,"currency":"CNY"}`, parking.ErrMalformed},
		"garbage":              {`{"issued":tru`, parking.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parking.ParsePayCode([]byte(tc.body))
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestSignVerify(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	body := []byte(`{"action":"lookup","plate":"京A12345"}`)
	sig := parking.Sign(secret, clock, body)
	ts := "1768464000" // clock in Unix seconds
	// computed apart: printf '%s' "$ts.$body" | openssl dgst -sha256 -hmac "$secret"
	require.Equal(t, "v1=271b370af38f7f7f119bc4fc914564a71b0b2425d94e9820b78c89795c69ca42", sig)
	require.NoError(t, parking.Verify(secret, ts, sig, body, clock.Add(time.Minute)))

	tests := []struct {
		name          string
		secret        string
		ts, sig, body string
		now           time.Time
		want          error
	}{
		{"other secret", "another-secret-0123", ts, sig, string(body), clock, parking.ErrBadSignature},
		{"body changed", string(secret), ts, sig, `{"action":"lookup","plate":"京A12346"}`, clock, parking.ErrBadSignature},
		{"timestamp changed", string(secret), "1768464001", sig, string(body), clock, parking.ErrBadSignature},
		{"no v1 prefix", string(secret), ts, strings.TrimPrefix(sig, "v1="), string(body), clock, parking.ErrBadSignature},
		{"not hex", string(secret), ts, "v1=zz", string(body), clock, parking.ErrBadSignature},
		{"no timestamp", string(secret), "", sig, string(body), clock, parking.ErrBadSignature},
		{"replayed later", string(secret), ts, sig, string(body), clock.Add(parking.MaxSkew + time.Second), parking.ErrStale},
		{"from the future", string(secret), ts, sig, string(body), clock.Add(-parking.MaxSkew - time.Second), parking.ErrStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, parking.Verify([]byte(tc.secret), tc.ts, tc.sig, []byte(tc.body), tc.now), tc.want)
		})
	}
}

// FuzzParseLookup: any answer is either refused with one of the parse
// errors or gives a Lookup that keeps the protocol's promises.
func FuzzParseLookup(f *testing.F) {
	for _, s := range []string{
		`{"found":false}`, `{"found":true,"plate":"京A12345","fee_due":1500,"currency":"CNY"}`,
		`{"found":true,"plate":"A1","permit":{"kind":"m","valid_until":"2020-01-01T00:00:00Z"},"message":"\u0000x"}`,
		`{"found":true,"plate":"A1","fee_due":-1}`, `null`, `[]`, `{"found":1e999}`,
		`{"found":true,"plate":"A1","photos":[{"kind":"exit","taken_at":"2026-01-15T13:50:00+08:00","content_type":"image/jpeg","data":"/9j/"}]}`,
		`{"found":true,"plate":"A1","photos":{"kind":"entry"}}`, `{"found":true,"plate":"A1","photos":[1,null,"x",[]]}`,
	} {
		f.Add([]byte(s))
	}
	// a real photo, so the fuzzer starts from a JPEG the parser keeps
	f.Add(lookupWith(f, []any{photoJSON("entry", "2026-01-15T05:50:00Z", "image/jpeg", testJPEG(f, 8, 8))}))
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := parking.ParseLookup(body, clock)
		if err != nil {
			if !errors.Is(err, parking.ErrMalformed) && !errors.Is(err, parking.ErrMissingField) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if l.FeeDue < 0 || (l.FeeDue > 0 && len(l.Currency) != 3) {
			t.Fatalf("fee %d %q", l.FeeDue, l.Currency)
		}
		if l.Found {
			if p, err := parking.NormalizePlate(l.Plate); err != nil || p != l.Plate {
				t.Fatalf("plate %q not normalised: %v", l.Plate, err)
			}
		}
		for _, s := range []string{l.Message, l.VehicleClass, l.Currency} {
			if strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Fatalf("control character in %q", s)
			}
		}
		if l.Permit != nil && (l.Permit.ExpiredDays < 0 || (l.Permit.ExpiredDays > 0 && !l.Permit.Expired)) {
			t.Fatalf("permit %+v", *l.Permit)
		}
		if len(l.Photos) > parking.MaxPhotos || l.PhotosDropped < 0 || (!l.Found && len(l.Photos)+l.PhotosDropped > 0) {
			t.Fatalf("%d photos, %d dropped, found %v", len(l.Photos), l.PhotosDropped, l.Found)
		}
		for _, p := range l.Photos {
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(p.Data))
			if (p.Kind != parking.PhotoEntry && p.Kind != parking.PhotoExit) || p.ContentType != "image/jpeg" ||
				len(p.Data) > parking.MaxPhotoBytes || err != nil || cfg.Width != p.Width || cfg.Height != p.Height ||
				p.Width < 1 || p.Height < 1 || p.Width > parking.MaxPhotoSide || p.Height > parking.MaxPhotoSide ||
				p.TakenAt.Location() != time.UTC {
				t.Fatalf("photo breaks the protocol: %s %s %d bytes %d×%d at %v: %v", p.Kind, p.ContentType, len(p.Data), p.Width, p.Height, p.TakenAt, err)
			}
		}
	})
}

func FuzzParsePayCode(f *testing.F) {
	for _, s := range []string{
		`{"issued":false}`, `{"issued":true,"payload":"https://p/x","expires_at":"2026-01-15T16:10:00Z","amount":1,"currency":"CNY"}`,
		`{"issued":true,"payload":"a\u0000","expires_at":"2026-01-15T16:10:00Z"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pc, err := parking.ParsePayCode(body)
		if err != nil {
			if !errors.Is(err, parking.ErrMalformed) && !errors.Is(err, parking.ErrMissingField) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if pc.Issued && (pc.Payload == "" || len(pc.Payload) > parking.MaxPayloadBytes || pc.ExpiresAt == nil ||
			strings.IndexFunc(pc.Payload, unicode.IsControl) >= 0) {
			t.Fatalf("issued code breaks the protocol: %+v", pc)
		}
		if !pc.Issued && pc.Payload != "" {
			t.Fatalf("payload without a code: %+v", pc)
		}
		if pc.Amount < 0 {
			t.Fatalf("amount %d", pc.Amount)
		}
	})
}

func ptr[T any](v T) *T { return &v }
