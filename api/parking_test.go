package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/parking"
)

const parkingSecret = "parking-test-secret-0123456789"

// parkingPeer is the demo parking system on a real loopback listener,
// keeping the last request it was sent so tests see what attendant told it.
type parkingPeer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	last parking.Request
}

func startParkingPeer(t *testing.T, secret string) *parkingPeer {
	t.Helper()
	p := &parkingPeer{}
	demo := parking.NewDemo(parking.DemoConfig{Secret: []byte(secret)})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req parking.Request
		if json.Unmarshal(body, &req) == nil {
			p.mu.Lock()
			p.last = req
			p.mu.Unlock()
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		demo.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *parkingPeer) lastRequest() parking.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func parkingClient(t *testing.T, url, secret string, timeout time.Duration) *parking.Client {
	t.Helper()
	c, err := parking.New(parking.Config{URL: url, Secret: []byte(secret), Timeout: timeout})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestCasePlateLookupAndPayCode(t *testing.T) {
	for _, b := range backendsForAPI(t) {
		t.Run(b.name, func(t *testing.T) {
			peer := startParkingPeer(t, parkingSecret)
			f := newFixtureOn(newEnvWith(t, apitest.Options{DB: b.url, Parking: parkingClient(t, peer.srv.URL+"/webhook", parkingSecret, 0)}))
			caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call", "device_id": f.deviceA})

			// The agent types the plate loosely; it is normalised, looked up, stored.
			r := f.agent.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{"plate": "京a 123-45"})
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var got struct {
				parking.Lookup
				CasePlate string `json:"case_plate"`
			}
			require.NoError(t, json.Unmarshal(r.body, &got))
			require.Equal(t, parking.DemoPlateUnpaid, got.CasePlate)
			l := got.Lookup
			require.True(t, l.Found)
			require.Equal(t, parking.DemoPlateUnpaid, l.Plate)
			require.Equal(t, int64(1500), l.FeeDue, "2 h 10 min at 5.00 CNY per hour begun after 15 free minutes")
			require.Equal(t, "CNY", l.Currency)
			require.False(t, l.Paid)
			require.NotNil(t, l.EntryTime)
			require.NotEmpty(t, l.Message)
			require.NotContains(t, string(r.body), parkingSecret)

			// What the parking system was told: the case, its lane, the agent.
			sent := peer.lastRequest()
			require.Equal(t, parking.Request{Version: 1, Action: "lookup", RequestID: sent.RequestID, Plate: parking.DemoPlateUnpaid,
				SiteID: f.siteA, SiteCode: "A1004", AccessPointID: f.apA, DeviceID: f.deviceA, CaseID: caseA, AgentID: f.agentID}, sent,
				"the lane is a door, so no entrance/exit kind")

			c := f.agent.do("GET", "/api/v1/cases/"+caseA, nil).json(t)
			require.Equal(t, parking.DemoPlateUnpaid, c["plate"])

			// Pay code for the stored plate.
			r = f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			code := r.json(t)
			require.Equal(t, parking.DemoPlateUnpaid, code["plate"])
			require.Equal(t, true, code["issued"])
			require.Equal(t, 1500.0, code["amount"])
			payload := code["payload"].(string)
			require.True(t, strings.HasPrefix(payload, "https://pay.demo.invalid/p/"), payload)
			require.NotEmpty(t, code["expires_at"])
			require.Equal(t, "pay_code", peer.lastRequest().Action)

			// A plate the parking system does not know is an answer, stored too.
			r = f.supervisor.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{"plate": "京B99999"})
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			require.Equal(t, false, r.json(t)["found"])
			require.Equal(t, "京B99999", f.agent.do("GET", "/api/v1/cases/"+caseA, nil).json(t)["plate"])
			r = f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			require.Equal(t, map[string]any{"issued": false, "payload": "", "expires_at": nil, "amount": 0.0, "currency": "",
				"message": "No record of this vehicle", "plate": "京B99999"}, r.json(t))

			// A pay code for a plate the page names (not stored), as the
			// console sends it: {"plate": …}.
			r = f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", map[string]any{"plate": "苏e-13579"})
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			code = r.json(t)
			require.Equal(t, parking.DemoPlateExpiredPermit, code["plate"])
			require.Equal(t, 500.0, code["amount"])
			require.Equal(t, "京B99999", f.agent.do("GET", "/api/v1/cases/"+caseA, nil).json(t)["plate"])
			r = f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", map[string]any{})
			require.Equal(t, http.StatusOK, r.status, "an empty body is the case's plate: %s", r.body)
			require.Equal(t, "京B99999", r.json(t)["plate"])

			// The audit log has who, which case, the plate and the result;
			// not the secret, not the pay link.
			audit := f.admin.do("GET", "/api/v1/audit?object_id="+caseA, nil)
			require.Equal(t, http.StatusOK, audit.status)
			var entries []map[string]any
			for _, it := range audit.json(t)["items"].([]any) {
				e := it.(map[string]any)
				if a := e["action"].(string); a == "case.plate" || a == "case.pay_code" {
					entries = append(entries, e)
				}
			}
			require.Len(t, entries, 6)
			detail := func(i int) map[string]any {
				var d map[string]any
				require.NoError(t, json.Unmarshal([]byte(entries[i]["detail"].(string)), &d))
				return d
			}
			require.Equal(t, "case.plate", entries[0]["action"])
			require.Equal(t, "agent1", entries[0]["actor_name"])
			require.Equal(t, f.siteA, entries[0]["site_id"])
			require.Equal(t, map[string]any{"plate": parking.DemoPlateUnpaid, "found": true, "paid": false, "fee_due": 1500.0,
				"currency": "CNY", "whitelisted": false}, detail(0))
			require.Equal(t, "case.pay_code", entries[1]["action"])
			d := detail(1)
			require.Equal(t, true, d["issued"])
			require.Equal(t, 1500.0, d["amount"])
			require.Equal(t, "supervisor1", entries[2]["actor_name"])
			require.Equal(t, map[string]any{"plate": "京B99999", "found": false}, detail(2))
			require.NotContains(t, string(audit.body), parkingSecret)
			require.NotContains(t, string(audit.body), payload)
			require.Equal(t, true, f.admin.do("GET", "/api/v1/audit/verify", nil).json(t)["ok"])
		})
	}
}

func TestCasePlateRules(t *testing.T) {
	peer := startParkingPeer(t, parkingSecret)
	f := newFixtureOn(newEnvWith(t, apitest.Options{Parking: parkingClient(t, peer.srv.URL, parkingSecret, 0)}))
	caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
	caseB := f.admin.create("/api/v1/cases", map[string]any{"site_id": f.siteB})
	plate := map[string]any{"plate": parking.DemoPlatePermit}

	t.Run("roles and site scope", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			c      *client
			caseID string
			want   int
		}{
			{"anonymous", f.anonymous(), caseA, http.StatusUnauthorized},
			{"reviewer reads only", f.reviewer, caseA, http.StatusForbidden},
			{"agent of another site", f.agent, caseB, http.StatusNotFound},
			{"supervisor of another site", f.supervisor, caseB, http.StatusNotFound},
			{"no such case", f.admin, "0190f0e0-0000-7000-8000-000000000000", http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, tc.want, tc.c.do("POST", "/api/v1/cases/"+tc.caseID+"/plate", plate).status)
				require.Equal(t, tc.want, tc.c.do("POST", "/api/v1/cases/"+tc.caseID+"/pay-code", nil).status)
			})
		}
		r := f.admin.do("POST", "/api/v1/cases/"+caseB+"/plate", plate)
		require.Equal(t, http.StatusOK, r.status, "admins work on every site: %s", r.body)
		require.Equal(t, parking.DemoPlatePermit, r.json(t)["case_plate"])
	})

	t.Run("invalid plate is 422 and changes nothing", func(t *testing.T) {
		before := len(f.admin.do("GET", "/api/v1/audit?limit=500", nil).json(t)["items"].([]any))
		for _, p := range []string{"", "<script>", "A\n1", "京", strings.Repeat("A", 200), "A1🚗"} {
			r := f.agent.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{"plate": p})
			require.Equal(t, http.StatusUnprocessableEntity, r.status, "%q: %s", p, r.body)
			require.Equal(t, "invalid_plate", r.json(t)["error"].(map[string]any)["code"])
		}
		require.Equal(t, "", f.agent.do("GET", "/api/v1/cases/"+caseA, nil).json(t)["plate"])
		r := f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", map[string]any{"plate": "A<1>"})
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
		require.Len(t, f.admin.do("GET", "/api/v1/audit?limit=500", nil).json(t)["items"].([]any), before)
		require.Equal(t, http.StatusBadRequest, f.agent.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{"plate": 12345}).status)
		require.Equal(t, http.StatusBadRequest, f.agent.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{}).status)
	})

	t.Run("pay code needs a plate", func(t *testing.T) {
		r := f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", nil)
		require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
		require.Equal(t, "no_plate", r.json(t)["error"].(map[string]any)["code"])
	})

	t.Run("lane kind and robot sent", func(t *testing.T) {
		exit := f.admin.create("/api/v1/access-points", map[string]any{"site_id": f.siteB, "name": "Exit 1", "kind": "exit"})
		robot := f.admin.create("/api/v1/devices", map[string]any{"name": "Exit robot", "site_id": f.siteB, "access_point_id": exit,
			"sip_username": "robot-exit", "sip_password": devicePassword})
		c := f.admin.create("/api/v1/cases", map[string]any{"site_id": f.siteB, "kind": "call", "device_id": robot})
		require.Equal(t, http.StatusOK, f.admin.do("POST", "/api/v1/cases/"+c+"/plate", map[string]any{"plate": "沪B 67890"}).status)
		sent := peer.lastRequest()
		require.Equal(t, exit, sent.AccessPointID)
		require.Equal(t, parking.KindExit, sent.AccessPointKind)
		require.Equal(t, robot, sent.DeviceID)
		require.Equal(t, parking.DemoPlatePaid, sent.Plate)
	})

	t.Run("closed case", func(t *testing.T) {
		c := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
		require.Equal(t, http.StatusOK, f.agent.do("POST", "/api/v1/cases/"+c+"/plate", plate).status)
		require.Equal(t, http.StatusOK, f.agent.do("POST", "/api/v1/cases/"+c+"/close", map[string]any{"remark": "done"}).status)
		require.Equal(t, http.StatusConflict, f.agent.do("POST", "/api/v1/cases/"+c+"/plate", map[string]any{"plate": "京A12345"}).status)
		require.Equal(t, http.StatusConflict, f.agent.do("POST", "/api/v1/cases/"+c+"/pay-code", nil).status)
		require.Equal(t, parking.DemoPlatePermit, f.agent.do("GET", "/api/v1/cases/"+c, nil).json(t)["plate"])
	})
}

// switchParking sends each call to the client of the parking system a
// test chose: every client talks to a real peer (or a closed port).
type switchParking struct {
	cur atomic.Pointer[parking.Client]
}

func (s *switchParking) Lookup(ctx context.Context, q parking.Query) (parking.Lookup, error) {
	return s.cur.Load().Lookup(ctx, q)
}

func (s *switchParking) PayCode(ctx context.Context, q parking.Query) (parking.PayCode, error) {
	return s.cur.Load().PayCode(ctx, q)
}

func TestParkingSystemFailures(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>ok</html>") })
	mux.HandleFunc("/incomplete", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"plate":"A1"}`) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so net/http notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.Handle("/demo", parking.NewDemo(parking.DemoConfig{Secret: []byte(parkingSecret)}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close())

	sw := &switchParking{}
	sw.cur.Store(parkingClient(t, srv.URL+"/demo", parkingSecret, 0))
	f := newFixtureOn(newEnvWith(t, apitest.Options{Parking: sw}))
	caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
	require.Equal(t, http.StatusOK, f.agent.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{"plate": parking.DemoPlateUnpaid}).status)

	require.Equal(t, 1.0, metricValue(t, f.agent.e.url, `attendant_parking_requests_total{action="lookup",outcome="ok"}`))
	outcomes := map[string]float64{}
	for _, tc := range []struct {
		name, url, secret, msg, outcome string
	}{
		{"server error", srv.URL + "/500", parkingSecret, "the parking system answered HTTP 500", "http_error"},
		{"wrong secret", srv.URL + "/demo", "not-the-parking-secret", "the parking system answered HTTP 401", "http_error"},
		{"garbage", srv.URL + "/garbage", parkingSecret, "the parking system's answer could not be read", "bad_answer"},
		{"missing field", srv.URL + "/incomplete", parkingSecret, "the parking system's answer could not be read", "bad_answer"},
		{"timeout", srv.URL + "/slow", parkingSecret, "the parking system did not answer in time", "timeout"},
		{"unreachable", closed, parkingSecret, "the parking system cannot be reached", "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw.cur.Store(parkingClient(t, tc.url, tc.secret, 300*time.Millisecond))
			for _, call := range []struct {
				path string
				body any
			}{
				{"/plate", map[string]any{"plate": "粤C24680"}}, {"/pay-code", nil},
			} {
				r := f.agent.do("POST", "/api/v1/cases/"+caseA+call.path, call.body)
				require.Equal(t, http.StatusBadGateway, r.status, "%s: %s", call.path, r.body)
				e := r.json(t)["error"].(map[string]any)
				require.Equal(t, "parking_error", e["code"])
				require.Equal(t, tc.msg, e["message"])
				require.NotContains(t, string(r.body), srv.URL, "the webhook's address stays in the log")
			}
			require.Equal(t, parking.DemoPlateUnpaid, f.agent.do("GET", "/api/v1/cases/"+caseA, nil).json(t)["plate"],
				"a failed lookup leaves the stored plate")
			outcomes[tc.outcome]++
			for _, action := range []string{"lookup", "pay_code"} {
				series := fmt.Sprintf(`attendant_parking_requests_total{action=%q,outcome=%q}`, action, tc.outcome)
				require.Equal(t, outcomes[tc.outcome], metricValue(t, f.agent.e.url, series), "operators see the failure")
			}
		})
	}
}

func TestParkingNotConfigured(t *testing.T) {
	f := newFixture(t, "")
	caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
	for _, path := range []string{"/plate", "/pay-code"} {
		r := f.agent.do("POST", "/api/v1/cases/"+caseA+path, map[string]any{"plate": "京A12345"})
		require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
		require.Equal(t, map[string]any{"code": "parking_not_configured", "message": "parking system not configured"}, r.json(t)["error"])
	}
	// Still listed in the OpenAPI document: the endpoints exist.
	doc := f.anonymous().do("GET", "/api/v1/openapi.json", nil)
	require.Contains(t, string(doc.body), `"/api/v1/cases/{id}/plate"`)
	require.Contains(t, string(doc.body), `"/api/v1/cases/{id}/pay-code"`)
}

var _ api.Parking = (*parking.Client)(nil)

// TestPayCodeOnceInFlight: pay-code requests for the same case and plate
// while one is with the parking system (a double click; the agent and a
// supervisor at once) share its answer: one code, one request to the
// parking system, one audit entry.
func TestPayCodeOnceInFlight(t *testing.T) {
	release := make(chan struct{})
	var payCodes atomic.Int32
	demo := parking.NewDemo(parking.DemoConfig{Secret: []byte(parkingSecret)})
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req parking.Request
		if json.Unmarshal(body, &req) == nil && req.Action == "pay_code" {
			payCodes.Add(1)
			<-release
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		demo.ServeHTTP(w, r)
	}))
	t.Cleanup(peer.Close)
	f := newFixtureOn(newEnvWith(t, apitest.Options{Parking: parkingClient(t, peer.URL, parkingSecret, 30*time.Second)}))
	caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
	require.Equal(t, http.StatusOK, f.agent.do("POST", "/api/v1/cases/"+caseA+"/plate", map[string]any{"plate": parking.DemoPlateUnpaid}).status)

	type answer struct {
		status  int
		payload string
		err     error
	}
	post := func(c *client, sent chan<- struct{}) answer {
		req, err := http.NewRequest("POST", c.e.url+"/api/v1/cases/"+caseA+"/pay-code", nil)
		if err != nil {
			return answer{err: err}
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }}))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return answer{err: err}
		}
		defer res.Body.Close()
		var body struct{ Payload string }
		err = json.NewDecoder(res.Body).Decode(&body)
		return answer{status: res.StatusCode, payload: body.Payload, err: err}
	}
	clients := []*client{f.agent, f.agent, f.supervisor}
	answers := make([]answer, len(clients))
	var wg sync.WaitGroup
	first := make(chan struct{})
	wg.Go(func() { answers[0] = post(clients[0], first) })
	<-first
	require.Eventually(t, func() bool { return payCodes.Load() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the first request is with the parking system")
	for i := 1; i < len(clients); i++ {
		sent := make(chan struct{})
		wg.Go(func() { answers[i] = post(clients[i], sent) })
		<-sent
	}
	// the followers' requests are written; the first returns once the
	// server has them waiting on it
	require.Eventually(t, func() bool {
		n, err := readMetric(f.agent.e.url, "attendant_parking_pay_code_requests_in_flight")
		return err == nil && n == float64(len(clients))
	}, 10*time.Second, 10*time.Millisecond, "every pay-code request reaches the server")
	close(release)
	wg.Wait()
	for i, a := range answers {
		require.NoError(t, a.err, "request %d", i)
		require.Equal(t, http.StatusOK, a.status, "request %d", i)
		require.Equal(t, answers[0].payload, a.payload, "request %d gets the same code", i)
	}
	require.NotEmpty(t, answers[0].payload)
	require.EqualValues(t, 1, payCodes.Load(), "one request to the parking system")
	require.Equal(t, 1.0, metricValue(t, f.agent.e.url, `attendant_parking_requests_total{action="pay_code",outcome="ok"}`))
	require.Zero(t, metricValue(t, f.agent.e.url, "attendant_parking_pay_code_requests_in_flight"))
	audit := f.admin.do("GET", "/api/v1/audit?object_id="+caseA+"&action=case.pay_code", nil)
	require.Equal(t, http.StatusOK, audit.status)
	n := 0
	for _, it := range audit.json(t)["items"].([]any) {
		if it.(map[string]any)["action"] == "case.pay_code" {
			n++
		}
	}
	require.Equal(t, 1, n, "one audit entry")

	// Once it has returned, asking again is a new request: a fresh code.
	r := f.agent.do("POST", "/api/v1/cases/"+caseA+"/pay-code", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.EqualValues(t, 2, payCodes.Load())
}

// metricValue reads one series from the server's /metrics (0 when absent).
func metricValue(t *testing.T, baseURL, series string) float64 {
	t.Helper()
	v, err := readMetric(baseURL, series)
	require.NoError(t, err)
	return v
}

// readMetric is metricValue for conditions polled off the test goroutine.
func readMetric(baseURL, series string) (float64, error) {
	res, err := http.Get(baseURL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, nil
}
