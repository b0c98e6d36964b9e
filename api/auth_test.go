package api_test

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
)

func TestLoginLogoutAndCookie(t *testing.T) {
	e := newEnv(t, "")
	anon := e.anonymous()
	r := anon.do("POST", "/api/v1/login", map[string]any{"username": "admin", "password": "wrong"})
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "unauthorized", r.json(t)["error"].(map[string]any)["code"])
	r = anon.do("POST", "/api/v1/login", map[string]any{"username": "nobody", "password": "wrong"})
	require.Equal(t, http.StatusUnauthorized, r.status)

	r = anon.do("POST", "/api/v1/login", map[string]any{"username": "admin", "password": adminPassword})
	require.Equal(t, http.StatusOK, r.status)
	body := r.json(t)
	require.Equal(t, "admin", body["user"].(map[string]any)["role"])
	cookie := r.header.Get("Set-Cookie")
	for _, attr := range []string{"attendant_session=att_", "HttpOnly", "SameSite=Strict", "Path=/"} {
		require.Contains(t, cookie, attr)
	}
	require.NotContains(t, string(r.body), "password")

	// The cookie alone authenticates the browser.
	jar, _ := cookiejar.New(nil)
	browser := &client{e: e, http: &http.Client{Jar: jar}}
	r = browser.do("POST", "/api/v1/login", map[string]any{"username": "admin", "password": adminPassword})
	require.Equal(t, 200, r.status)
	require.Equal(t, 200, browser.do("GET", "/api/v1/me", nil).status)
	// A cross-site request riding on that cookie is refused.
	req, _ := http.NewRequest("POST", e.url+"/api/v1/sites", strings.NewReader(`{"name":"evil","kind":"web"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := browser.http.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	r = browser.do("POST", "/api/v1/logout", nil)
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, http.StatusUnauthorized, browser.do("GET", "/api/v1/me", nil).status)

	// Bearer token from the first login still works; garbage does not.
	bearer := &client{e: e, http: http.DefaultClient, token: body["token"].(string)}
	require.Equal(t, 200, bearer.do("GET", "/api/v1/me", nil).status)
	for _, bad := range []string{"att_nope", "garbage", strings.Repeat("a", 10000)} {
		c := &client{e: e, http: http.DefaultClient, token: bad}
		require.Equal(t, 401, c.do("GET", "/api/v1/me", nil).status)
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, "", func(c *api.Config) { c.LoginEvery, c.LoginBurst = time.Hour, 3 })
	anon := e.anonymous()
	for range 3 {
		require.Equal(t, 401, anon.do("POST", "/api/v1/login", map[string]any{"username": "admin", "password": "guess"}).status)
	}
	r := anon.do("POST", "/api/v1/login", map[string]any{"username": "admin", "password": adminPassword})
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	require.Equal(t, "rate_limited", r.json(t)["error"].(map[string]any)["code"])
}

func TestTokensAndDisabledUsers(t *testing.T) {
	f := newFixture(t, "")
	r := f.agent.do("POST", "/api/v1/tokens", map[string]any{"name": "integration", "expires_in_days": 30})
	require.Equal(t, 201, r.status, "%s", r.body)
	tok := r.json(t)
	secret := tok["token"].(string)
	require.True(t, strings.HasPrefix(secret, "att_"))
	api := &client{e: f.env, http: http.DefaultClient, token: secret}
	require.Equal(t, "agent1", api.do("GET", "/api/v1/me", nil).json(t)["username"])
	// The secret is never listed again.
	list := f.agent.do("GET", "/api/v1/tokens", nil)
	require.NotContains(t, string(list.body), secret)
	require.Len(t, list.json(t)["items"].([]any), 1)
	// An agent cannot mint a token for someone else, nor revoke theirs.
	r = f.agent.do("POST", "/api/v1/tokens", map[string]any{"name": "x", "user_id": "someone"})
	require.Equal(t, 403, r.status)
	adminTok := f.admin.do("POST", "/api/v1/tokens", map[string]any{"name": "admin's"}).json(t)
	require.Equal(t, 404, f.agent.do("DELETE", "/api/v1/tokens/"+adminTok["id"].(string), nil).status)

	// Disabling the user ends their sessions and tokens at once.
	r = f.admin.do("PATCH", "/api/v1/users/"+f.agentID, map[string]any{"disabled": true})
	require.Equal(t, 200, r.status, "%s", r.body)
	require.Equal(t, 401, api.do("GET", "/api/v1/me", nil).status)
	require.Equal(t, 401, f.agent.do("GET", "/api/v1/me", nil).status)
	r = f.anonymous().do("POST", "/api/v1/login", map[string]any{"username": "agent1", "password": "agent-password"})
	require.Equal(t, 401, r.status)
	// Re-enabled with a new password, the agent logs in with it.
	r = f.admin.do("PATCH", "/api/v1/users/"+f.agentID, map[string]any{"disabled": false, "password": "new-agent-password"})
	require.Equal(t, 200, r.status, "%s", r.body)
	f.login("agent1", "new-agent-password")
}
