package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBadInput: bad JSON, unknown, missing, wrong-typed and too-long
// fields get 400 with a message that names the problem, and nothing is
// written.
func TestBadInput(t *testing.T) {
	for _, backend := range backendsForAPI(t) {
		t.Run(backend.name, func(t *testing.T) {
			f := newFixture(t, backend.url)
			long := strings.Repeat("x", 201)
			tests := []struct {
				name, method, path string
				body               any
				wantInMessage      string
			}{
				{"malformed json", "POST", "/api/v1/sites", `{"name": "x", "kind":`, "unexpected end of JSON"},
				{"not an object", "POST", "/api/v1/sites", `[1,2]`, "expected object"},
				{"unknown field", "POST", "/api/v1/sites", map[string]any{"name": "x", "kind": "box", "colour": "red"}, "colour"},
				{"missing field", "POST", "/api/v1/sites", map[string]any{"name": "x"}, "kind"},
				{"bad enum", "POST", "/api/v1/sites", map[string]any{"name": "x", "kind": "castle"}, "kind"},
				{"too long", "POST", "/api/v1/sites", map[string]any{"name": long, "kind": "box"}, "name"},
				{"wrong type", "POST", "/api/v1/sites", map[string]any{"name": 5, "kind": "box"}, "name"},
				{"latitude out of range", "POST", "/api/v1/sites", map[string]any{"name": "x", "kind": "box", "latitude": 91}, "latitude"},
				{"device without password", "POST", "/api/v1/devices", map[string]any{"name": "d", "site_id": f.siteA, "sip_username": "new-one"}, "sip_password"},
				{"device of unknown site", "POST", "/api/v1/devices", map[string]any{"name": "d", "site_id": "nope", "sip_username": "new-one", "sip_password": "password-1"}, "site_id"},
				{"device with header injection in username", "POST", "/api/v1/devices", map[string]any{"name": "d", "site_id": f.siteA, "sip_username": "a\r\nVia: x", "sip_password": "password-1"}, "sip_username"},
				{"access point of another site", "POST", "/api/v1/devices", map[string]any{"name": "d", "site_id": f.siteB, "access_point_id": f.apA, "sip_username": "new-two", "sip_password": "password-1"}, "another site"},
				{"camera http url", "POST", "/api/v1/cameras", map[string]any{"name": "c", "site_id": f.siteA, "url": "http://x/y", "role": "gate"}, "rtsp"},
				{"channel camera without channel", "POST", "/api/v1/cameras", map[string]any{"name": "c", "site_id": f.siteA, "url": "rtsp://x/y", "role": "channel"}, "channel"},
				{"short user password", "POST", "/api/v1/users", map[string]any{"username": "bob", "password": "short", "role": "agent"}, "password"},
				{"bad role", "POST", "/api/v1/users", map[string]any{"username": "bob", "password": "long-enough", "role": "king"}, "role"},
				{"patch unknown field", "PATCH", "/api/v1/sites/" + f.siteA, map[string]any{"colour": "red"}, "colour"},
				{"patch too long", "PATCH", "/api/v1/sites/" + f.siteA, map[string]any{"name": long}, "name"},
				{"patch null body", "PATCH", "/api/v1/sites/" + f.siteA, `null`, "expected object"},
				{"patch bad json", "PATCH", "/api/v1/sites/" + f.siteA, `{"name":`, "unexpected end of JSON"},
				{"bad limit", "GET", "/api/v1/sites?limit=100000", nil, "limit"},
			}
			before := counts(t, f)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := f.admin.do(tc.method, tc.path, tc.body)
					require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
					e := r.json(t)["error"].(map[string]any)
					require.Equal(t, "invalid", e["code"])
					require.Contains(t, e["message"], tc.wantInMessage)
				})
			}
			require.Equal(t, before, counts(t, f), "a refused request wrote something")
			site := f.admin.do("GET", "/api/v1/sites/"+f.siteA, nil).json(t)
			require.Equal(t, "A1004 box", site["name"])
		})
	}
}

func TestOversizedBody(t *testing.T) {
	f := newFixture(t, "")
	huge := `{"name":"` + strings.Repeat("x", 200<<10) + `","kind":"box"}`
	r := f.admin.do("POST", "/api/v1/sites", huge)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", r.body)
	require.Equal(t, "too_large", r.json(t)["error"].(map[string]any)["code"])
}

func counts(t *testing.T, f *fixture) map[string]int {
	out := map[string]int{}
	for _, p := range []string{"sites", "devices", "cameras", "users", "access-points"} {
		out[p] = len(f.admin.do("GET", "/api/v1/"+p+"?limit=500", nil).json(t)["items"].([]any))
	}
	return out
}

func TestConflictsAndReferences(t *testing.T) {
	f := newFixture(t, "")
	r := f.admin.do("POST", "/api/v1/devices", map[string]any{"name": "d", "site_id": f.siteA, "sip_username": "robot-a", "sip_password": "password-1"})
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	r = f.admin.do("DELETE", "/api/v1/sites/"+f.siteA, nil)
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Equal(t, 200, f.admin.do("GET", "/api/v1/sites/"+f.siteA, nil).status)
	require.Equal(t, 404, f.admin.do("DELETE", "/api/v1/sites/does-not-exist", nil).status)
	// The last admin stays.
	me := f.admin.do("GET", "/api/v1/me", nil).json(t)
	r = f.admin.do("PATCH", "/api/v1/users/"+me["id"].(string), map[string]any{"role": "agent"})
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Equal(t, http.StatusConflict, f.admin.do("DELETE", "/api/v1/users/"+me["id"].(string), nil).status)
}
