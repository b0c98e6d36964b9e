package parking_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/parking"
)

var testSecret = []byte("test-secret-0123456789")

func fixedClock() time.Time { return clock }

// newClient is a Client of url, closed when the test ends.
func newClient(t *testing.T, url string, edit ...func(*parking.Config)) *parking.Client {
	t.Helper()
	cfg := parking.Config{URL: url, Secret: testSecret, Now: fixedClock}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := parking.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// demoServer is the demo backend on a real loopback listener.
func demoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(parking.NewDemo(parking.DemoConfig{Secret: testSecret, Now: fixedClock}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDemoLookup(t *testing.T) {
	c := newClient(t, demoServer(t).URL+"/webhook")
	ago := func(d time.Duration) *time.Time { v := clock.Add(-d); return &v }
	pictures := map[string][]byte{}
	tests := []struct {
		typed string
		want  parking.Lookup
	}{
		{"京a 123-45", parking.Lookup{Found: true, Plate: parking.DemoPlateUnpaid, EntryTime: ago(130 * time.Minute),
			FeeDue: 1500, Currency: "CNY", VehicleClass: "car", Message: "Unpaid: ask the driver to scan the pay code"}},
		{"沪B·67890", parking.Lookup{Found: true, Plate: parking.DemoPlatePaid, EntryTime: ago(90 * time.Minute),
			Currency: "CNY", Paid: true, VehicleClass: "car", Message: "Paid: free to leave within 15 minutes of paying"}},
		{"粤C24680", parking.Lookup{Found: true, Plate: parking.DemoPlatePermit, EntryTime: ago(5 * time.Hour),
			Currency: "CNY", VehicleClass: "car", Message: "Monthly pass holder",
			Permit: &parking.Permit{Kind: "monthly", ValidUntil: ago(-20 * 24 * time.Hour)}}},
		{"苏E 13579", parking.Lookup{Found: true, Plate: parking.DemoPlateExpiredPermit, EntryTime: ago(50 * time.Minute),
			FeeDue: 500, Currency: "CNY", VehicleClass: "car", Message: "Monthly pass expired: the stay is charged as a visitor's",
			Permit: &parking.Permit{Kind: "monthly", ValidUntil: ago(73 * time.Hour), Expired: true, ExpiredDays: 3}}},
		{"京A0001警", parking.Lookup{Found: true, Plate: parking.DemoPlateWhitelisted, EntryTime: ago(20 * time.Minute),
			Currency: "CNY", VehicleClass: "police", Whitelisted: true, Message: "Whitelisted vehicle: open the gate"}},
		{"京B99999", parking.Lookup{Message: "No record of this vehicle: a visitor, or a misread plate?"}},
	}
	for _, tc := range tests {
		t.Run(tc.typed, func(t *testing.T) {
			got, err := c.Lookup(context.Background(), parking.Query{Plate: tc.typed, SiteID: "site-1", CaseID: "case-1"})
			require.NoError(t, err)
			if tc.want.Found {
				// every demo vehicle is inside: one entry photo, taken as it entered
				require.Len(t, got.Photos, 1)
				ph := got.Photos[0]
				require.Equal(t, parking.PhotoEntry, ph.Kind)
				require.Equal(t, *tc.want.EntryTime, ph.TakenAt)
				require.Equal(t, "image/jpeg", ph.ContentType)
				cfg, err := jpeg.DecodeConfig(bytes.NewReader(ph.Data))
				require.NoError(t, err)
				require.Equal(t, [2]int{parking.DemoPhotoWidth, parking.DemoPhotoHeight}, [2]int{cfg.Width, cfg.Height})
				require.Equal(t, [2]int{cfg.Width, cfg.Height}, [2]int{ph.Width, ph.Height})
				again, err := c.Lookup(context.Background(), parking.Query{Plate: tc.typed})
				require.NoError(t, err)
				require.Equal(t, ph.Data, again.Photos[0].Data, "the same picture each time")
				pictures[got.Plate] = ph.Data
				got.Photos = nil
			}
			require.Equal(t, tc.want, got)
		})
	}
	for a, pa := range pictures {
		for b, pb := range pictures {
			require.True(t, a == b || !bytes.Equal(pa, pb), "%s and %s have the same picture", a, b)
		}
	}
}

func TestDemoPayCode(t *testing.T) {
	c := newClient(t, demoServer(t).URL)
	ctx := context.Background()
	pc, err := c.PayCode(ctx, parking.Query{Plate: parking.DemoPlateUnpaid})
	require.NoError(t, err)
	require.True(t, pc.Issued)
	require.Equal(t, int64(1500), pc.Amount)
	require.Equal(t, "CNY", pc.Currency)
	require.True(t, strings.HasPrefix(pc.Payload, "https://pay.demo.invalid/p/"), pc.Payload)
	require.Equal(t, clock.Add(10*time.Minute), *pc.ExpiresAt)

	again, err := c.PayCode(ctx, parking.Query{Plate: parking.DemoPlateUnpaid})
	require.NoError(t, err)
	require.NotEqual(t, pc.Payload, again.Payload, "each request issues a new code")

	for plate, msg := range map[string]string{
		parking.DemoPlatePaid:        "Nothing to pay",
		parking.DemoPlatePermit:      "Nothing to pay",
		parking.DemoPlateWhitelisted: "Nothing to pay",
		"ZZ9999":                     "No record of this vehicle",
	} {
		pc, err := c.PayCode(ctx, parking.Query{Plate: plate})
		require.NoError(t, err, plate)
		require.Equal(t, parking.PayCode{Message: msg}, pc, plate)
	}
}

// TestWebhookRequest checks what a parking system receives: the JSON of
// the protocol with every field of the query, and headers it can verify.
func TestWebhookRequest(t *testing.T) {
	type seen struct {
		header http.Header
		body   []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), b}
		_, _ = io.WriteString(w, `{"found":false}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL+"/hook?token=abc")
	_, err := c.Lookup(context.Background(), parking.Query{Plate: "京a-12345", SiteID: "s1", SiteCode: "P01",
		AccessPointID: "ap1", AccessPointKind: parking.KindExit, DeviceID: "d1", CaseID: "c1", AgentID: "u1"})
	require.NoError(t, err)
	s := <-got
	require.NoError(t, parking.Verify(testSecret, s.header.Get(parking.HeaderTimestamp), s.header.Get(parking.HeaderSignature), s.body, clock))
	require.Equal(t, "application/json", s.header.Get("Content-Type"))
	var req map[string]any
	require.NoError(t, json.Unmarshal(s.body, &req))
	require.NotEmpty(t, req["request_id"])
	delete(req, "request_id")
	require.Equal(t, map[string]any{"version": 1.0, "action": "lookup", "plate": "京A12345", "site_id": "s1", "site_code": "P01",
		"access_point_id": "ap1", "access_point_kind": "exit", "device_id": "d1", "case_id": "c1", "agent_id": "u1"}, req)
	require.Equal(t, "http://"+srv.Listener.Addr().String()+"/hook", c.URL(), "no query (may hold a token) in logs")
}

func TestClientErrors(t *testing.T) {
	// release unblocks the slow handler before the server closes (cleanups
	// run last-registered first).
	release := make(chan struct{})
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	handlers := map[string]http.Handler{
		"/500":       answer(http.StatusInternalServerError, `{"error":"database down"}`),
		"/404":       answer(http.StatusNotFound, "not here"),
		"/garbage":   answer(http.StatusOK, "<html>hello</html>"),
		"/missing":   answer(http.StatusOK, `{"plate":"A123"}`),
		"/oversized": answer(http.StatusOK, `{"found":false,"message":"`+strings.Repeat("x", 70<<10)+`"}`),
		"/huge":      answer(http.StatusOK, `{"found":false,"message":"`+strings.Repeat("x", parking.DefaultMaxResponseBytes)+`"}`),
		"/redirect":  http.RedirectHandler("/elsewhere", http.StatusTemporaryRedirect),
		"/slow": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// read the body: only then does net/http watch the
			// connection and cancel r.Context() when the client hangs up
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}),
		"/demo": parking.NewDemo(parking.DemoConfig{Secret: []byte("the-demo-has-another-secret"), Now: fixedClock}),
	}
	mux := http.NewServeMux()
	for p, h := range handlers {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	// A port nobody listens on: listen, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close())

	tests := []struct {
		name, url string
		want      error
		status    int
	}{
		{"server error", srv.URL + "/500", parking.ErrStatus, 500},
		{"not found", srv.URL + "/404", parking.ErrStatus, 404},
		{"redirect not followed", srv.URL + "/redirect", parking.ErrStatus, 307},
		{"bad signature refused by the demo", srv.URL + "/demo", parking.ErrStatus, 401},
		{"garbage JSON", srv.URL + "/garbage", parking.ErrMalformed, 0},
		{"missing field", srv.URL + "/missing", parking.ErrMissingField, 0},
		{"oversized", srv.URL + "/oversized", parking.ErrTooLarge, 0},
		{"timeout", srv.URL + "/slow", parking.ErrTimeout, 0},
		{"unreachable", closed, parking.ErrUnreachable, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// a small limit: over the default (megabytes, for photos)
			// the timeout would not hold under -race
			c := newClient(t, tc.url, func(c *parking.Config) { c.Timeout, c.MaxResponseBytes = 300*time.Millisecond, 64<<10 })
			_, err := c.Lookup(context.Background(), parking.Query{Plate: "A123"})
			require.ErrorIs(t, err, tc.want)
			var se *parking.StatusError
			require.Equal(t, tc.status != 0, errors.As(err, &se), "%v", err)
			if se != nil {
				require.Equal(t, tc.status, se.Code)
			}
			require.NotContains(t, err.Error(), string(testSecret))
		})
	}

	t.Run("over the default limit", func(t *testing.T) {
		c := newClient(t, srv.URL+"/huge", func(c *parking.Config) { c.Timeout = time.Minute })
		_, err := c.Lookup(context.Background(), parking.Query{Plate: "A123"})
		require.ErrorIs(t, err, parking.ErrTooLarge)
	})

	t.Run("invalid plate is never sent", func(t *testing.T) {
		c := newClient(t, closed)
		_, err := c.Lookup(context.Background(), parking.Query{Plate: "A<1>"})
		require.ErrorIs(t, err, parking.ErrInvalidPlate)
		_, err = c.PayCode(context.Background(), parking.Query{Plate: ""})
		require.ErrorIs(t, err, parking.ErrInvalidPlate)
	})

	t.Run("caller gives up", func(t *testing.T) {
		c := newClient(t, srv.URL+"/slow", func(c *parking.Config) { c.Timeout = time.Minute })
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		_, err := c.Lookup(ctx, parking.Query{Plate: "A123"})
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, parking.ErrTimeout)
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]parking.Config{
		"no URL":       {Secret: testSecret},
		"ftp":          {URL: "ftp://host/x", Secret: testSecret},
		"no host":      {URL: "http:///x", Secret: testSecret},
		"short secret": {URL: "http://127.0.0.1/x", Secret: []byte("short")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parking.New(cfg)
			require.Error(t, err)
		})
	}
	_, err := parking.New(parking.Config{URL: "https://user:pw@host/x?key=k", Secret: []byte("s")})
	require.ErrorContains(t, err, "secret")
	_, err = parking.New(parking.Config{URL: "gopher://user:pw@host/x?key=k", Secret: testSecret})
	require.NotContains(t, err.Error(), "pw")
	require.NotContains(t, err.Error(), "key=k")
}

// TestInProcess: the demo served without a listener answers like the one
// on loopback (what `--parking-webhook demo` uses).
func TestInProcess(t *testing.T) {
	demo := parking.NewDemo(parking.DemoConfig{Secret: testSecret, Now: fixedClock})
	inproc := newClient(t, "http://parking-demo.internal/webhook", func(c *parking.Config) { c.Transport = parking.InProcess(demo) })
	loop := newClient(t, demoServer(t).URL)
	for _, plate := range []string{parking.DemoPlateUnpaid, parking.DemoPlateExpiredPermit, "XY123"} {
		a, err := inproc.Lookup(context.Background(), parking.Query{Plate: plate})
		require.NoError(t, err)
		b, err := loop.Lookup(context.Background(), parking.Query{Plate: plate})
		require.NoError(t, err)
		require.Equal(t, b, a, plate)
	}
	wrong := newClient(t, "http://parking-demo.internal/webhook", func(c *parking.Config) {
		c.Transport, c.Secret = parking.InProcess(demo), []byte("a-different-secret-123")
	})
	_, err := wrong.Lookup(context.Background(), parking.Query{Plate: parking.DemoPlateUnpaid})
	var se *parking.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnauthorized, se.Code)
}

func TestDemoFee(t *testing.T) {
	for _, tc := range []struct {
		stay time.Duration
		want int64
	}{
		{0, 0}, {15 * time.Minute, 0}, {15*time.Minute + time.Second, 500}, {time.Hour, 500},
		{time.Hour + time.Second, 1000}, {130 * time.Minute, 1500}, {30 * time.Hour, 5000},
	} {
		require.Equal(t, tc.want, parking.DemoFee(tc.stay), tc.stay.String())
	}
}

// TestDemoRefuses: the demo is a strict peer, like a real parking system
// should be.
func TestDemoRefuses(t *testing.T) {
	srv := demoServer(t)
	post := func(body string, sign func(*http.Request, []byte)) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		require.NoError(t, err)
		sign(req, []byte(body))
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		return res.StatusCode
	}
	signed := func(at time.Time) func(*http.Request, []byte) {
		return func(r *http.Request, b []byte) {
			r.Header.Set(parking.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
			r.Header.Set(parking.HeaderSignature, parking.Sign(testSecret, at, b))
		}
	}
	ok := `{"version":1,"action":"lookup","plate":"京A12345"}`
	require.Equal(t, 200, post(ok, signed(clock)))
	require.Equal(t, 401, post(ok, func(*http.Request, []byte) {}), "unsigned")
	require.Equal(t, 401, post(ok, signed(clock.Add(-time.Hour))), "replayed")
	require.Equal(t, 400, post(`{"action":"refund","plate":"京A12345"}`, signed(clock)), "unknown action")
	require.Equal(t, 400, post(`{"action":"lookup","plate":"<x>"}`, signed(clock)), "bad plate")
	require.Equal(t, 400, post(`not json`, signed(clock)))
	res, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}
