package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/testenv"
)

type backend struct{ name, url string }

// backendsForAPI: the API's write paths run on both databases.
func backendsForAPI(t *testing.T) []backend {
	return []backend{{"sqlite", ""}, {"postgres", testenv.Postgres(t)}}
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t, "")
	r := e.anonymous().do("GET", "/api/v1/openapi.json", nil)
	require.Equal(t, 200, r.status)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.body, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	for path, methods := range map[string][]string{
		"/api/v1/login":         {"post"},
		"/api/v1/sites":         {"get", "post"},
		"/api/v1/sites/{id}":    {"get", "patch", "delete"},
		"/api/v1/devices":       {"get", "post"},
		"/api/v1/cameras/{id}":  {"get", "patch", "delete"},
		"/api/v1/users":         {"get", "post"},
		"/api/v1/tokens":        {"get", "post"},
		"/api/v1/access-points": {"get", "post"},
		"/api/v1/audit/verify":  {"get"},
	} {
		for _, m := range methods {
			require.Contains(t, doc.Paths[path], m, "%s %s documented", m, path)
		}
	}
	require.NotContains(t, string(r.body), `"sip_password":{"type":"string"}`+"x")
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, "")
	anon := e.anonymous()
	require.Equal(t, 200, anon.do("GET", "/healthz", nil).status)
	r := anon.do("GET", "/readyz", nil)
	require.Equal(t, 200, r.status, "%s", r.body)
	require.Equal(t, true, r.json(t)["ready"])
	anon.do("GET", "/api/v1/sites", nil)
	res, err := http.Get(e.url + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	require.Contains(t, string(raw), `attendant_http_requests_total{code="401",method="GET",route="GET /api/v1/sites"}`)

	require.NoError(t, e.db.Close())
	r = anon.do("GET", "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "unreachable", r.json(t)["checks"].(map[string]any)["database"])
}

// TestMetricsToken: with --metrics-token, /metrics wants that bearer
// token; the health checks stay open for load balancers.
func TestMetricsToken(t *testing.T) {
	const token = "scrape-token-0123456789"
	e := newEnv(t, "", func(c *api.Config) { c.MetricsToken = token })
	get := func(auth string) (int, http.Header, string) {
		req, err := http.NewRequest("GET", e.url+"/metrics", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic " + token, token, "Bearer " + token + "x"} {
		code, h, body := get(auth)
		require.Equal(t, http.StatusUnauthorized, code, "Authorization %q", auth)
		require.Contains(t, h.Get("WWW-Authenticate"), "Bearer")
		require.Contains(t, body, `"unauthorized"`)
		require.NotContains(t, body, "attendant_")
	}
	admin := e.login("admin", adminPassword)
	require.Equal(t, http.StatusUnauthorized, admin.do("GET", "/metrics", nil).status, "a login is not the scrape token")
	code, _, body := get("Bearer " + token)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "attendant_http_requests_total")
	anon := e.anonymous()
	require.Equal(t, http.StatusOK, anon.do("GET", "/healthz", nil).status)
	require.Equal(t, http.StatusOK, anon.do("GET", "/readyz", nil).status)
}

func TestUnknownAPIPathIsJSON404(t *testing.T) {
	e := newEnv(t, "")
	r := e.anonymous().do("GET", "/api/v1/nothing-here", nil)
	require.Equal(t, 404, r.status)
	require.Equal(t, "not_found", r.json(t)["error"].(map[string]any)["code"])
}

func TestPatchKeepsWhatIsNotSent(t *testing.T) {
	f := newFixture(t, "")
	r := f.admin.do("PATCH", "/api/v1/sites/"+f.siteA, map[string]any{"tariff": "5 yuan/hour"})
	require.Equal(t, 200, r.status, "%s", r.body)
	site := r.json(t)
	require.Equal(t, "5 yuan/hour", site["tariff"])
	require.Equal(t, "A1004", site["code"])
	require.Equal(t, 31.2, site["latitude"])
	// The device keeps its password when it is not sent.
	r = f.admin.do("PATCH", "/api/v1/devices/"+f.deviceA, map[string]any{"name": "Box intercom"})
	require.Equal(t, 200, r.status, "%s", r.body)
	require.Equal(t, true, r.json(t)["has_sip_password"])
	require.Equal(t, f.apA, r.json(t)["access_point_id"])
}

func TestPagingAndAuditTrail(t *testing.T) {
	for _, backend := range backendsForAPI(t) {
		t.Run(backend.name, func(t *testing.T) {
			e := newEnv(t, backend.url)
			admin := e.login("admin", adminPassword)
			var created []string
			for i := range 12 {
				created = append(created, admin.create("/api/v1/sites", map[string]any{"name": fmt.Sprintf("Lot %02d", i), "kind": "parking"}))
			}
			var seen []string
			path := "/api/v1/sites?limit=5"
			for {
				body := admin.do("GET", path, nil).json(t)
				for _, it := range body["items"].([]any) {
					seen = append(seen, it.(map[string]any)["id"].(string))
				}
				next, ok := body["next"].(string)
				if !ok {
					require.Nil(t, body["next"])
					break
				}
				path = "/api/v1/sites?limit=5&cursor=" + next
			}
			require.Equal(t, created, seen)

			r := admin.do("GET", "/api/v1/audit?action=site.create", nil).json(t)
			require.Len(t, r["items"].([]any), 12)
			entry := r["items"].([]any)[0].(map[string]any)
			require.Equal(t, "admin", entry["actor_name"])
			require.Equal(t, "127.0.0.1", entry["remote_addr"])
			v := admin.do("GET", "/api/v1/audit/verify", nil).json(t)
			require.Equal(t, true, v["ok"], "%v", v)
		})
	}
}
