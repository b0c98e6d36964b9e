// Package api is attendant's HTTP API under /api/v1, plus the operational
// endpoints (/healthz, /readyz, /metrics). The OpenAPI document at
// /api/v1/openapi.json is generated from the handlers' Go types by huma, so
// the code and the document cannot drift apart.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/store"
)

// Config holds the API's settings.
type Config struct {
	// Version is reported in the OpenAPI document.
	Version string
	// SessionTTL is how long a browser login lasts.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure (behind HTTPS).
	SecureCookies bool
	// LoginEvery and LoginBurst rate-limit login attempts per client
	// address and per user name.
	LoginEvery time.Duration
	LoginBurst int
	// PreRoll and PostRoll extend an event's clips before and after it;
	// MaxEventSpan bounds an event's own span.
	PreRoll, PostRoll time.Duration
	MaxEventSpan      time.Duration
	// AbnormalTypes is the list a reviewer picks from (default
	// DefaultAbnormalTypes).
	AbnormalTypes []string
	// LinkKey signs evidence links when the store cannot presign (the
	// local directory). Empty: no such links.
	LinkKey []byte
	// MetricsToken, when set, is the bearer token /metrics asks for: the
	// figures name cameras and tell call volumes, not for anyone who can
	// reach the console's port. Empty: /metrics is open.
	MetricsToken string
}

func (c *Config) defaults() {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.LoginEvery <= 0 {
		c.LoginEvery = 6 * time.Second
	}
	if c.LoginBurst <= 0 {
		c.LoginBurst = 10
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.PreRoll <= 0 {
		c.PreRoll = 10 * time.Second
	}
	if c.PostRoll <= 0 {
		c.PostRoll = 10 * time.Second
	}
	if c.MaxEventSpan <= 0 {
		c.MaxEventSpan = 10 * time.Minute
	}
}

// ObjectStore is what the API needs of the object store.
type ObjectStore interface {
	Ping(ctx context.Context) error
	Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error)
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
	Stat(ctx context.Context, key string) (objstore.ObjectInfo, error)
	PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error)
}

// Deps are the parts of the server the API drives.
type Deps struct {
	DB        *store.DB
	Objects   ObjectStore
	Cameras   CameraHub
	Snapshots Snapshotter
	// Registrations shows devices' SIP registrations.
	Registrations Registrations
	// Recorder cuts event clips; nil means events get none.
	Recorder Recorder
	Log      *slog.Logger
	// Metrics receives the API's metrics and is served at /metrics.
	Metrics *prometheus.Registry
	// Web, when not nil, serves every path the API does not.
	Web http.Handler
	// Parking looks plates up; nil means not configured (503).
	Parking Parking
	// CaseEvents, when set, hears of every case the API changed (the
	// signaling hub pushes them to the agents concerned).
	CaseEvents CaseEvents
}

// Server serves the API. Build it with New.
type Server struct {
	cfg           Config
	db            *store.DB
	objects       ObjectStore
	cameras       CameraHub
	snapshots     Snapshotter
	registrations Registrations
	recorder      Recorder
	caseEvents    CaseEvents
	log           *slog.Logger
	limiter       *auth.Limiter
	mux           *http.ServeMux
	api           huma.API

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	payCodes       singleflight.Group // pay-code requests in flight, by case and plate
	parkingMetrics *parkingMetrics
}

// New builds the API.
func New(cfg Config, d Deps) (*Server, error) {
	cfg.defaults()
	useErrorModel()
	if d.DB == nil || d.Objects == nil || d.Cameras == nil || d.Snapshots == nil || d.Registrations == nil || d.Log == nil || d.Metrics == nil {
		return nil, errors.New("api: every dependency but Web is required")
	}
	reg, web := d.Metrics, d.Web
	s := &Server{
		cfg:           cfg,
		db:            d.DB,
		objects:       d.Objects,
		cameras:       d.Cameras,
		snapshots:     d.Snapshots,
		caseEvents:    d.CaseEvents,
		registrations: d.Registrations,
		recorder:      d.Recorder,
		log:           d.Log,
		limiter:       auth.NewLimiter(cfg.LoginEvery, cfg.LoginBurst),
		mux:           http.NewServeMux(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "attendant_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	if err := reg.Register(s.httpRequests); err != nil {
		return nil, err
	}
	if err := reg.Register(s.httpDuration); err != nil {
		return nil, err
	}
	var err error
	if s.parkingMetrics, err = newParkingMetrics(reg); err != nil {
		return nil, err
	}

	hc := huma.DefaultConfig("attendant API", cfg.Version)
	hc.OpenAPIPath = "/api/v1/openapi"
	// The docs UI and schema links load from the internet; the document
	// itself is what integrators need.
	hc.DocsPath, hc.SchemasPath, hc.CreateHooks = "", "", nil
	hc.Info.Description = "Admin and console API of attendant. Authenticate with POST /api/v1/login " +
		"(session cookie) or an API token as `Authorization: Bearer`."
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer"},
		"cookie": {Type: "apiKey", In: "cookie", Name: sessionCookie},
	}
	s.api = humago.New(s.mux, hc)
	s.api.UseMiddleware(s.authenticate)

	s.registerAuth()
	s.registerSites()
	s.registerAccessPoints()
	s.registerDevices()
	s.registerCameras()
	s.registerCameraLive()
	s.registerCases()
	s.registerParking(d.Parking)
	s.registerEvidence()
	s.registerUsers()
	s.registerTokens()
	s.registerAudit()

	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", metricsAuth(cfg.MetricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	s.mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, newError(http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path))
	}))
	if web != nil {
		s.mux.Handle("/", web)
	}
	return s, nil
}

// Handle serves pattern with h on the API's mux, behind the same metrics,
// recovery and cross-origin protection (e.g. the signaling WebSocket).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// API exposes the huma API so later packages can add operations.
func (s *Server) API() huma.API { return s.api }

// Handler returns the root handler with metrics, panic recovery and
// cross-origin protection (browsers' Sec-Fetch-Site/Origin: a page on
// another site cannot make a logged-in browser change anything).
func (s *Server) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, newError(http.StatusForbidden, "cross-origin request refused"))
	}))
	return s.observe(cop.Handler(s.mux))
}

func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					writeJSONError(rec, newError(http.StatusInternalServerError, "internal error"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.httpRequests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
			s.httpDuration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flush,
// hijack for WebSockets).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "store": "ok"}
	ready := true
	if err := s.db.Ping(ctx); err != nil {
		checks["database"], ready = "unreachable", false
		s.log.Warn("readiness: database unreachable", "err", err)
	}
	if err := s.objects.Ping(ctx); err != nil {
		checks["store"], ready = "unreachable", false
		s.log.Warn("readiness: object store unreachable", "err", err)
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks})
}
