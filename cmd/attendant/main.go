// Command attendant is the server that lets a few remote agents run many
// unattended sites: cameras, robot calls, evidence and the web console.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/demorobot"
	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/media/democam"
	"github.com/attendant/attendant/media/snapshot"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/parking"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/signaling"
	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
	"github.com/attendant/attendant/web"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `attendant: remote attendance for unattended sites

Usage:
  attendant serve [flags]   run the server (attendant serve -h lists the flags)
  attendant verify [flags]  check the audit log and every case's evidence
  attendant version         print the version
  attendant help            show this help

Every serve flag can also be set as an environment variable
ATTENDANT_<FLAG> (e.g. ATTENDANT_HTTP=:9090) or as a key in a YAML file
given with --config. ATTENDANT_ADMIN_PASSWORD sets the first admin's
password on an empty database (otherwise one is generated and printed once).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		cfg, err := parseServeConfig(args[1:], os.Getenv)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "attendant serve: %v\n", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, cfg, stderr); err != nil {
			fmt.Fprintf(stderr, "attendant: %v\n", err)
			return 1
		}
		return 0
	case "verify":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return verifyCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "attendant: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, modified := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if modified {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
	}
	return "dev"
}

func newLogger(cfg serveConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// serve runs the server until ctx ends, then shuts down cleanly.
func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	ver := versionString()
	log.Info("starting attendant", "version", ver, "http", cfg.HTTP, "data", cfg.Data)

	db, err := store.Open(ctx, cfg.DB, cfg.Data, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer db.Close()
	objects, err := objstore.Open(ctx, cfg.Store, cfg.Data, log.With("component", "objstore"))
	if err != nil {
		return fmt.Errorf("open object store %s: %w", objstore.Redact(cfg.Store), err)
	}
	defer objects.Close()

	generated, err := api.EnsureAdmin(ctx, db, os.Getenv("ATTENDANT_ADMIN_PASSWORD"), log)
	if err != nil {
		return err
	}
	if generated != "" {
		// Straight to the terminal, once, never into structured logs.
		fmt.Fprintf(stderr, "\n  First start: log in as admin with password %s\n  (shown only now; change it in the admin pages)\n\n", generated)
	}

	// Recordings go to the local spool first and reach the store in the
	// background; the recorder indexes them once stored (Index).
	var rec *recorder.Recorder
	sp, err := spool.New(spool.Config{Dir: filepath.Join(cfg.Data, "spool"), MaxBytes: cfg.SpoolMaxBytes,
		OnUploaded: func(e spool.Entry, info objstore.ObjectInfo) error { return rec.Index(e, info) },
		Log:        log.With("component", "spool")}, objects)
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	rec = recorder.New(recorder.Config{PreRoll: cfg.PreRoll, PostRoll: cfg.PostRoll, Segment: cfg.Segment,
		Log: log.With("component", "recorder")}, db, sp)
	linkKey, err := loadOrCreateKey(filepath.Join(cfg.Data, "secrets", "link.key"))
	if err != nil {
		return fmt.Errorf("evidence link key: %w", err)
	}

	snapshots, err := snapshot.New(snapshot.Config{FFmpegPath: cfg.FFmpeg}, log.With("component", "snapshot"))
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	defer snapshots.Close()
	lo, hi, _ := parsePortRange(cfg.WebRTCUDPPorts)
	iceCfg := media.ICEConfig{
		NAT1To1IPs:      splitList(cfg.WebRTCPublicIPs),
		Interfaces:      splitList(cfg.WebRTCIfaces),
		IPs:             splitList(cfg.WebRTCIPs),
		IncludeLoopback: cfg.WebRTCLoopback,
		UDPPortMin:      lo,
		UDPPortMax:      hi,
	}
	cameras, err := media.NewManager(media.ManagerConfig{ICE: iceCfg, OnKeyframe: func(cameraID string, kf media.Keyframe) {
		snapshots.Warm(cameraID, snapshot.Keyframe{Codec: kf.Codec, AnnexB: kf.AnnexB, Width: kf.Width, Height: kf.Height, Seq: kf.Seq})
	}, OnAccessUnit: rec.Feed}, log.With("component", "media"))
	if err != nil {
		return fmt.Errorf("start camera hub: %w", err)
	}

	bridger, err := media.NewBridger(iceCfg, log.With("component", "bridge"))
	if err != nil {
		return fmt.Errorf("call bridge: %w", err)
	}
	hub := signaling.New(signaling.Config{RingTimeout: cfg.RingTimeout, CongestedAfter: cfg.CongestedAfter, Recorder: rec, Log: log.With("component", "signaling")}, db, bridger)
	sipServer, err := sip.NewServer(sip.Config{Addr: cfg.SIP, PublicAddr: cfg.SIPPublicAddr, UserAgent: "attendant/" + ver,
		Calls: hub, OnMessage: hub.RobotMessage, TLSAddr: cfg.SIPTLS, TLSCert: cfg.SIPTLSCert, TLSKey: cfg.SIPTLSKey},
		api.SIPDirectory(db), log.With("component", "sip"))
	if err != nil {
		return fmt.Errorf("start SIP on %s: %w", cfg.SIP, err)
	}

	hub.SetMessenger(sipServer)
	hub.SetDialer(sipServer)

	parkingSystem, err := openParking(cfg, log.With("component", "parking"))
	if err != nil {
		return fmt.Errorf("parking system: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := api.New(api.Config{
		Version:       ver,
		SessionTTL:    cfg.SessionTTL,
		SecureCookies: cfg.SecureCookies,
		PreRoll:       cfg.PreRoll,
		PostRoll:      cfg.PostRoll,
		AbnormalTypes: splitList(cfg.AbnormalTypes),
		LinkKey:       linkKey,
		MetricsToken:  cfg.MetricsToken,
	}, api.Deps{
		DB: db, Objects: objects, Cameras: cameras, Snapshots: snapshots, Registrations: sipServer, Recorder: rec,
		Log: log.With("component", "api"), Metrics: reg, Web: web.Handler(), Parking: parkingSystem, CaseEvents: hub,
	})
	if err != nil {
		return err
	}
	reg.MustRegister(api.NewCameraCollector(cameras), newRecordingCollector(sp, rec), newSIPCollector(sipServer))
	srv.Handle("GET /api/v1/ws", hub.Handler(srv.AuthenticateRequest))

	var demo *democam.Server
	var robotPassword string
	if cfg.Demo {
		demo, err = democam.New(democam.Config{Addr: cfg.DemoRTSP}, log.With("component", "democam"))
		if err != nil {
			return fmt.Errorf("start demo camera on %s: %w", cfg.DemoRTSP, err)
		}
		if robotPassword, err = seedDemo(ctx, db, demo.URL(), log); err != nil {
			return fmt.Errorf("create demo site: %w", err)
		}
	}
	if err := srv.LoadCameras(ctx); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP, err)
	}
	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "http", ln.Addr().String())

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := httpServer.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return httpServer.Shutdown(shutdownCtx)
	})
	g.Go(func() error { return sweepTokens(ctx, db, log) })
	g.Go(func() error { return cameras.Run(ctx) })
	g.Go(func() error { return sp.Run(ctx) })
	g.Go(func() error { return rec.Run(ctx) })
	g.Go(func() error {
		return runRetention(ctx, db, objects, recorder.Retention{
			Continuous: time.Duration(cfg.RetainContinuous) * 24 * time.Hour,
			Evidence:   time.Duration(cfg.RetainEvidence) * 24 * time.Hour,
		}, cfg.RetentionInterval, log.With("component", "retention"))
	})
	g.Go(func() error { return sipServer.Run(ctx) })
	if demo != nil {
		g.Go(func() error { return demo.Run(ctx) })
		udp, _ := sipServer.Addr()
		robot := demorobot.New(demorobot.Config{Server: loopbackAddr(udp), Username: demoRobotUser, Password: robotPassword,
			FirstCall: cfg.DemoCallAfter, Log: log.With("component", "demorobot")})
		log.Info("the demo robot will call in: answer it in the console under Calls", "after", cfg.DemoCallAfter,
			"sip_username", demoRobotUser)
		g.Go(func() error { return robot.Run(ctx) })
	}
	return g.Wait()
}

// sweepTokens deletes expired sessions and tokens every hour.
func sweepTokens(ctx context.Context, db *store.DB, log *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := store.DeleteExpiredTokens(ctx, db.Q(), store.Now()); err != nil && ctx.Err() == nil {
			log.Warn("delete expired tokens", "err", err)
		} else if n > 0 {
			log.Info("deleted expired tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// openParking builds the client the gate-call page looks plates up with;
// nil (not configured) when cfg names no parking system. "demo" serves
// the built-in demo backend in this process, without a port.
func openParking(cfg serveConfig, log *slog.Logger) (api.Parking, error) {
	if cfg.ParkingWebhook == "" {
		log.Info("no parking system configured: plate lookup is off (see --parking-webhook)")
		return nil, nil
	}
	secret := []byte(cfg.ParkingWebhookSecret)
	if len(secret) == 0 {
		path := filepath.Join(cfg.Data, "secrets", "parking-webhook.secret")
		var err error
		if secret, err = loadOrCreateTextSecret(path); err != nil {
			return nil, fmt.Errorf("webhook secret %s: %w", path, err)
		}
		if cfg.ParkingWebhook != "demo" {
			log.Info("requests to the parking system are signed with the secret in this file: give it to the parking system", "file", path)
		}
	}
	pc := parking.Config{URL: cfg.ParkingWebhook, Secret: secret, Timeout: cfg.ParkingTimeout, Log: log}
	if cfg.ParkingWebhook == "demo" {
		pc.URL = "http://parking-demo.internal/webhook" // never dialled: InProcess serves it
		pc.Transport = parking.InProcess(parking.NewDemo(parking.DemoConfig{Secret: secret, Log: log}))
		log.Info("built-in demo parking system: look up these plates on the gate-call page",
			"unpaid", parking.DemoPlateUnpaid, "paid", parking.DemoPlatePaid, "monthly_pass", parking.DemoPlatePermit,
			"expired_pass", parking.DemoPlateExpiredPermit, "whitelisted", parking.DemoPlateWhitelisted)
	}
	client, err := parking.New(pc)
	if err != nil {
		return nil, err
	}
	log.Info("parking system configured", "url", client.URL(), "timeout", cfg.ParkingTimeout)
	return client, nil
}

// loadOrCreateTextSecret reads a shared secret an operator copies to
// another system (so text, not bytes), creating a random one (mode 0600)
// on first start. Surrounding whitespace is not part of it.
func loadOrCreateTextSecret(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		secret := bytes.TrimSpace(raw)
		if len(secret) < parking.MinSecretLen {
			return nil, fmt.Errorf("want at least %d characters, the file has %d", parking.MinSecretLen, len(secret))
		}
		return secret, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	secret := rand.Text() // 26 base32 characters: 130 random bits
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return []byte(secret), nil
}
