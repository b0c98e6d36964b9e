package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRoleMatrix calls every endpoint as every role and checks the
// status: an agent cannot manage users, a reviewer cannot change anything,
// nobody unauthenticated gets in.
func TestRoleMatrix(t *testing.T) {
	f := newFixture(t, "")
	anon := f.anonymous()
	callers := map[string]*client{"anonymous": anon, "agent": f.agent, "supervisor": f.supervisor, "reviewer": f.reviewer, "admin": f.admin}

	// body returns a fresh, valid body per call so that each allowed
	// create succeeds on its own.
	type endpoint struct {
		method, path string
		body         func(n int) any
		// want maps role → status; missing roles get 403, anonymous 401.
		want map[string]int
	}
	all := func(code int) map[string]int {
		return map[string]int{"agent": code, "supervisor": code, "reviewer": code, "admin": code}
	}
	adminOnly := func(code int) map[string]int { return map[string]int{"admin": code} }
	unique := func(prefix string, n int) string { return fmt.Sprintf("%s-%d", prefix, n) }

	caseID := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
	reviewers := map[string]int{"supervisor": 200, "reviewer": 200, "admin": 200}
	handlers := map[string]int{"agent": 201, "supervisor": 201, "admin": 201}
	endpoints := []endpoint{
		{"GET", "/api/v1/me", nil, all(200)},
		{"POST", "/api/v1/events", func(int) any {
			return map[string]any{"site_id": f.siteA, "kind": "door-open", "at": time.Now().UTC().Format(time.RFC3339)}
		}, handlers},
		{"GET", "/api/v1/cases?kind=event&disposition=none", nil, all(200)},
		{"GET", "/api/v1/cases/" + caseID, nil, all(200)},
		{"GET", "/api/v1/cases/" + caseID + "/verify", nil, reviewers},
		{"GET", "/api/v1/cases/" + caseID + "/export", nil, reviewers},
		{"GET", "/api/v1/cases/" + caseID + "/history", nil, reviewers},
		{"POST", "/api/v1/cases/" + caseID + "/disposition", func(int) any { return map[string]any{"disposition": "normal"} }, all(200)},
		{"POST", "/api/v1/cases/" + caseID + "/hold", func(int) any { return map[string]any{"hold": true} }, map[string]int{"supervisor": 200, "admin": 200}},
		{"GET", "/api/v1/cameras/" + f.cameraA + "/recordings", nil, all(200)},
		{"GET", "/api/v1/review/sites", nil, all(200)},
		{"POST", "/api/v1/cases/" + caseID + "/close", func(int) any { return map[string]any{"remark": "done"} }, map[string]int{"agent": 200, "supervisor": 200, "admin": 200}},
		{"GET", "/api/v1/review/abnormal-types", nil, all(200)},
		{"GET", "/api/v1/sites", nil, all(200)},
		{"GET", "/api/v1/sites/" + f.siteA, nil, all(200)},
		{"POST", "/api/v1/sites", func(n int) any { return map[string]any{"name": unique("s", n), "kind": "web"} }, adminOnly(201)},
		{"PATCH", "/api/v1/sites/" + f.siteA, func(int) any { return map[string]any{"notes": "x"} }, adminOnly(200)},
		{"GET", "/api/v1/access-points", nil, all(200)},
		{"POST", "/api/v1/access-points", func(n int) any { return map[string]any{"site_id": f.siteA, "name": unique("ap", n), "kind": "exit"} }, adminOnly(201)},
		{"GET", "/api/v1/devices", nil, all(200)},
		{"GET", "/api/v1/devices/" + f.deviceA, nil, all(200)},
		{"POST", "/api/v1/devices", func(n int) any {
			return map[string]any{"name": "d", "site_id": f.siteA, "sip_username": unique("dev", n), "sip_password": "password-1"}
		}, adminOnly(201)},
		{"PATCH", "/api/v1/devices/" + f.deviceA, func(int) any { return map[string]any{"phone": "123"} }, adminOnly(200)},
		{"GET", "/api/v1/cameras", nil, all(200)},
		{"GET", "/api/v1/cameras/" + f.cameraA, nil, all(200)},
		{"POST", "/api/v1/cameras", func(n int) any {
			return map[string]any{"name": unique("c", n), "site_id": f.siteA, "url": "rtsp://127.0.0.1/x", "role": "environment"}
		}, adminOnly(201)},
		{"GET", "/api/v1/users", nil, map[string]int{"supervisor": 200, "admin": 200}},
		{"GET", "/api/v1/users/" + f.agentID, nil, map[string]int{"supervisor": 200, "admin": 200}},
		{"POST", "/api/v1/users", func(n int) any {
			return map[string]any{"username": unique("u", n), "password": "password-1", "role": "agent"}
		}, adminOnly(201)},
		{"PATCH", "/api/v1/users/" + f.agentID, func(int) any { return map[string]any{"seat": "7"} }, adminOnly(200)},
		{"GET", "/api/v1/tokens", nil, all(200)},
		{"POST", "/api/v1/tokens", func(n int) any { return map[string]any{"name": unique("t", n)} }, all(201)},
		{"GET", "/api/v1/audit", nil, adminOnly(200)},
		{"GET", "/api/v1/audit/verify", nil, adminOnly(200)},
		{"DELETE", "/api/v1/cameras/" + f.cameraA, nil, adminOnly(204)},
	}
	n := 0
	for _, ep := range endpoints {
		for _, role := range []string{"anonymous", "agent", "supervisor", "reviewer", "admin"} {
			t.Run(ep.method+" "+strings.TrimPrefix(ep.path, "/api/v1/")+" as "+role, func(t *testing.T) {
				want, ok := ep.want[role]
				switch {
				case role == "anonymous":
					want = http.StatusUnauthorized
				case !ok:
					want = http.StatusForbidden
				}
				var body any
				if ep.body != nil {
					n++
					body = ep.body(n)
				}
				r := callers[role].do(ep.method, ep.path, body)
				require.Equal(t, want, r.status, "%s", r.body)
				if want >= 400 {
					e := r.json(t)["error"].(map[string]any)
					require.NotEmpty(t, e["code"])
					require.NotEmpty(t, e["message"])
				}
			})
		}
	}
}

// TestSecretsNeverReturned scans every response that could carry a device
// or camera secret.
func TestSecretsNeverReturned(t *testing.T) {
	f := newFixture(t, "")
	for _, c := range []*client{f.admin, f.agent, f.supervisor, f.reviewer} {
		for _, path := range []string{"/api/v1/devices", "/api/v1/devices/" + f.deviceA, "/api/v1/cameras", "/api/v1/cameras/" + f.cameraA, "/api/v1/audit"} {
			r := c.do("GET", path, nil)
			for _, secret := range []string{devicePassword, cameraPassword, "password_hash", "argon2"} {
				require.NotContains(t, string(r.body), secret, "GET %s", path)
			}
		}
	}
	r := f.admin.do("PATCH", "/api/v1/devices/"+f.deviceA, map[string]any{"sip_password": "another-secret"})
	require.Equal(t, 200, r.status, "%s", r.body)
	require.NotContains(t, string(r.body), "another-secret")
	require.Equal(t, true, r.json(t)["has_sip_password"])

	cam := f.admin.do("GET", "/api/v1/cameras/"+f.cameraA, nil).json(t)
	require.Equal(t, "rtsp://127.0.0.1:8554/ch1", cam["url"], "credentials are moved out of the URL")
	require.Equal(t, "viewer", cam["username"])
	require.Equal(t, true, cam["has_password"])
	require.Equal(t, "", f.agent.do("GET", "/api/v1/cameras/"+f.cameraA, nil).json(t)["username"], "only admins see camera credentials")
}

// TestSiteScoping: an agent of site A sees nothing of site B, and the ids
// of B's records do not even exist for them.
func TestSiteScoping(t *testing.T) {
	f := newFixture(t, "")
	for _, path := range []string{"/api/v1/sites", "/api/v1/devices"} {
		items := f.agent.do("GET", path, nil).json(t)["items"].([]any)
		require.Len(t, items, 1, path)
		all := f.admin.do("GET", path, nil).json(t)["items"].([]any)
		require.Len(t, all, 2, path)
	}
	require.Equal(t, 404, f.agent.do("GET", "/api/v1/sites/"+f.siteB, nil).status)
	require.Equal(t, 404, f.agent.do("GET", "/api/v1/devices/"+f.deviceB, nil).status)
	require.Equal(t, 200, f.agent.do("GET", "/api/v1/devices/"+f.deviceA, nil).status)
	// Reviewers read everything.
	require.Equal(t, 200, f.reviewer.do("GET", "/api/v1/devices/"+f.deviceB, nil).status)
	// Filter by site within the scope.
	items := f.admin.do("GET", "/api/v1/devices?site_id="+f.siteB, nil).json(t)["items"].([]any)
	require.Len(t, items, 1)
}
