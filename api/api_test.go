package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const adminPassword = "admin-password-1"

// env is a running server on a real loopback listener.
type env struct {
	t       *testing.T
	url     string
	db      *store.DB
	objects objstore.Store
	sip     *sip.Server
	srv     *apitest.Server
}

type envOption func(*api.Config)

func newEnv(t *testing.T, dbURL string, opts ...envOption) *env {
	t.Helper()
	cfg := api.Config{LoginEvery: time.Millisecond, LoginBurst: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	return newEnvWith(t, apitest.Options{DB: dbURL, Config: cfg})
}

// newEnvWith starts a server with the options given (the admin password
// and fast logins are set here).
func newEnvWith(t *testing.T, o apitest.Options) *env {
	t.Helper()
	o.AdminPassword = adminPassword
	if o.Config.LoginEvery == 0 {
		o.Config.LoginEvery, o.Config.LoginBurst = time.Millisecond, 1000
	}
	srv := apitest.Start(t, o)
	return &env{t: t, url: srv.URL, db: srv.DB, objects: srv.Objects, sip: srv.SIP, srv: srv}
}

// client is one caller: a bearer token or a cookie jar.
type client struct {
	e     *env
	token string
	http  *http.Client
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func (e *env) anonymous() *client { return &client{e: e, http: http.DefaultClient} }

func (e *env) login(username, password string) *client {
	e.t.Helper()
	c := e.anonymous()
	r := c.do("POST", "/api/v1/login", map[string]any{"username": username, "password": password})
	require.Equal(e.t, http.StatusOK, r.status, "login %s: %s", username, r.body)
	c.token = r.json(e.t)["token"].(string)
	require.NotEmpty(e.t, c.token)
	return c
}

func (c *client) do(method, path string, body any) response {
	c.e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(c.e.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.e.url+path, rd)
	require.NoError(c.e.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	require.NoError(c.e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(c.e.t, err)
	return response{status: res.StatusCode, body: raw, header: res.Header}
}

// create POSTs and returns the new id.
func (c *client) create(path string, body any) string {
	c.e.t.Helper()
	r := c.do("POST", path, body)
	require.Equal(c.e.t, http.StatusCreated, r.status, "POST %s: %s", path, r.body)
	id, ok := r.json(c.e.t)["id"].(string)
	require.True(c.e.t, ok, "id is a string: %s", r.body)
	return id
}

// fixture is a populated server: two sites, one of everything, and a
// user of every role; the agent and supervisor work for site A only.
type fixture struct {
	*env
	admin, supervisor, agent, reviewer                    *client
	siteA, siteB, apA, deviceA, deviceB, cameraA, agentID string
}

const devicePassword = "s3cret-device-pw"
const cameraPassword = "cam-pass-9"

func newFixture(t *testing.T, dbURL string) *fixture {
	return newFixtureOn(newEnv(t, dbURL))
}

// newFixtureOn populates a server started by the caller.
func newFixtureOn(e *env) *fixture {
	f := &fixture{env: e, admin: e.login("admin", adminPassword)}
	f.siteA = f.admin.create("/api/v1/sites", map[string]any{"name": "A1004 box", "kind": "box", "code": "A1004", "latitude": 31.2, "longitude": 121.4})
	f.siteB = f.admin.create("/api/v1/sites", map[string]any{"name": "North lot", "kind": "parking"})
	f.apA = f.admin.create("/api/v1/access-points", map[string]any{"site_id": f.siteA, "name": "Door", "kind": "door"})
	f.deviceA = f.admin.create("/api/v1/devices", map[string]any{"name": "Intercom", "site_id": f.siteA, "sip_username": "robot-a", "sip_password": devicePassword, "kind": "intercom", "access_point_id": f.apA})
	f.deviceB = f.admin.create("/api/v1/devices", map[string]any{"name": "North exit", "site_id": f.siteB, "sip_username": "robot-b", "sip_password": devicePassword})
	f.cameraA = f.admin.create("/api/v1/cameras", map[string]any{"name": "Channel 1", "site_id": f.siteA, "url": "rtsp://viewer:" + cameraPassword + "@127.0.0.1:8554/ch1", "role": "channel", "channel": 1})
	for _, role := range []string{"agent", "supervisor", "reviewer"} {
		id := f.admin.create("/api/v1/users", map[string]any{"username": role + "1", "password": role + "-password", "role": role, "display_name": role, "site_ids": []string{f.siteA}})
		if role == "agent" {
			f.agentID = id
		}
	}
	f.agent = e.login("agent1", "agent-password")
	f.supervisor = e.login("supervisor1", "supervisor-password")
	f.reviewer = e.login("reviewer1", "reviewer-password")
	return f
}
