// Package apitest runs the whole API in-process for tests, wired as
// cmd/attendant wires it: a real database, object store, spool, recorder,
// camera hub, snapshotter, SIP server and signaling hub, behind a real
// loopback HTTP listener.
package apitest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/media/snapshot"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/signaling"
	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
)

// Options shape the server.
type Options struct {
	// DB is the database URL; empty = SQLite in a temp dir.
	DB string
	// AdminPassword is the first admin's password.
	AdminPassword string
	// Config is the API's configuration.
	Config api.Config
	// Web serves the pages; nil for API-only tests.
	Web http.Handler
	// Store is the object store URL (objstore.Open); empty = a local
	// directory in a temp dir.
	Store string
	// Recorder configures the recorder (pre-roll, segment length, …).
	Recorder recorder.Config
	// SpoolDir is the spool's directory; empty = a temp dir. A test that
	// restarts the server passes the same one.
	SpoolDir string
	// Parking is the parking system plates are looked up in; nil = none.
	Parking api.Parking
}

// Server is a running API with its parts.
type Server struct {
	URL      string
	DB       *store.DB
	Objects  objstore.Store
	SIP      *sip.Server
	API      *api.Server
	Cameras  *media.Manager
	Spool    *spool.Spool
	Recorder *recorder.Recorder
	Hub      *signaling.Hub
}

// Start runs the server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(ctx, o.DB, t.TempDir(), log)
	must(err)
	t.Cleanup(func() { db.Close() })
	objects, err := objstore.Open(ctx, o.Store, t.TempDir(), log)
	must(err)
	t.Cleanup(func() { objects.Close() })
	_, err = api.EnsureAdmin(ctx, db, o.AdminPassword, log)
	must(err)

	runCtx, cancel := context.WithCancel(ctx)
	var running []chan error
	run := func(fn func(context.Context) error) {
		done := make(chan error, 1)
		go func() { done <- fn(runCtx) }()
		running = append(running, done)
	}
	t.Cleanup(func() {
		cancel()
		for _, done := range running {
			<-done
		}
	})
	var rec *recorder.Recorder
	spoolDir := o.SpoolDir
	if spoolDir == "" {
		spoolDir = t.TempDir()
	}
	sp, err := spool.New(spool.Config{Dir: spoolDir, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second, Log: log,
		OnUploaded: func(e spool.Entry, info objstore.ObjectInfo) error { return rec.Index(e, info) }}, objects)
	must(err)
	rcfg := o.Recorder
	rcfg.Log = log
	rec = recorder.New(rcfg, db, sp)
	run(sp.Run)
	run(rec.Run)
	cameras, err := media.NewManager(media.ManagerConfig{ICE: media.ICEConfig{IncludeLoopback: true}, OnAccessUnit: rec.Feed}, log)
	must(err)
	run(cameras.Run)
	snaps, err := snapshot.New(snapshot.Config{}, log)
	must(err)
	t.Cleanup(snaps.Close)
	// one address, as a server usually has: every extra one is a socket, a
	// read buffer and a goroutine per call
	bridger, err := media.NewBridger(media.ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}}, log)
	must(err)
	hub := signaling.New(signaling.Config{Recorder: rec, Log: log}, db, bridger)
	sipSrv, err := sip.NewServer(sip.Config{Addr: "127.0.0.1:0", Calls: hub, OnMessage: hub.RobotMessage}, api.SIPDirectory(db), log)
	must(err)
	run(sipSrv.Run)

	if len(o.Config.LinkKey) == 0 {
		o.Config.LinkKey = []byte("apitest-link-key-0123456789abcdef")
	}
	srv, err := api.New(o.Config, api.Deps{DB: db, Objects: objects, Cameras: cameras, Snapshots: snaps,
		Registrations: sipSrv, Recorder: rec, Log: log, Metrics: prometheus.NewRegistry(), Web: o.Web, Parking: o.Parking, CaseEvents: hub})
	must(err)
	must(srv.LoadCameras(ctx))
	srv.Handle("GET /api/v1/ws", hub.Handler(srv.AuthenticateRequest))
	hub.SetMessenger(sipSrv)
	hub.SetDialer(sipSrv)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &Server{URL: hs.URL, DB: db, Objects: objects, SIP: sipSrv, API: srv, Cameras: cameras, Spool: sp, Recorder: rec, Hub: hub}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
