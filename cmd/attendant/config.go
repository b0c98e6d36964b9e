package main

import (
	"flag"
	"fmt"
	"github.com/attendant/attendant/signaling"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/attendant/attendant/parking"
)

// serveConfig is everything `attendant serve` is told. Each field is a
// flag, an environment variable ATTENDANT_<FLAG> and a key of the optional
// YAML file, in that order of precedence.
type serveConfig struct {
	HTTP          string
	Data          string
	DB            string
	Store         string
	LogFormat     string
	LogLevel      string
	SessionTTL    time.Duration
	SecureCookies bool
	ConfigFile    string

	SIP             string
	SIPPublicAddr   string
	FFmpeg          string
	Demo            bool
	DemoRTSP        string
	WebRTCPublicIPs string
	WebRTCIfaces    string
	WebRTCIPs       string
	WebRTCLoopback  bool
	WebRTCUDPPorts  string

	PreRoll           time.Duration
	PostRoll          time.Duration
	Segment           time.Duration
	SpoolMaxBytes     int64
	AbnormalTypes     string
	RetainContinuous  int
	RetainEvidence    int
	RetentionInterval time.Duration
	RingTimeout       time.Duration
	CongestedAfter    time.Duration
	DemoCallAfter     time.Duration
	SIPTLS            string
	SIPTLSCert        string
	SIPTLSKey         string

	// ParkingWebhook is the parking system's URL, "demo" or "" (none);
	// see checkParking.
	ParkingWebhook       string
	ParkingWebhookSecret string
	ParkingTimeout       time.Duration

	// MetricsToken guards /metrics (empty: open).
	MetricsToken string
}

// minMetricsToken keeps a guessable token out: /metrics has no rate limit.
const minMetricsToken = 16

func newServeFlags(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.HTTP, "http", ":8080", "HTTP listen address")
	fs.StringVar(&cfg.Data, "data", "./data", "data directory: embedded database and local object store")
	fs.StringVar(&cfg.DB, "db", "", "database URL: empty = SQLite under --data; postgres://user:pass@host/db")
	fs.StringVar(&cfg.Store, "store", "", "object store URL: empty = directory under --data; s3://KEY:SECRET@host:port/bucket (HTTPS) or s3+http://… (plain HTTP)")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&cfg.SessionTTL, "session-ttl", 12*time.Hour, "how long a browser login lasts")
	fs.BoolVar(&cfg.SecureCookies, "secure-cookies", false, "mark the session cookie Secure (set when served over HTTPS)")
	fs.StringVar(&cfg.ConfigFile, "config", "", "optional YAML file with the same keys as these flags")
	fs.StringVar(&cfg.SIP, "sip", ":5060", "SIP listen address, UDP and TCP (robots register and call here)")
	fs.StringVar(&cfg.SIPTLS, "sip-tls", "", "SIP over TLS listen address, e.g. :5061 (needs --sip-tls-cert and --sip-tls-key)")
	fs.StringVar(&cfg.SIPTLSCert, "sip-tls-cert", "", "PEM certificate (chain) for SIP over TLS")
	fs.StringVar(&cfg.SIPTLSKey, "sip-tls-key", "", "PEM private key for SIP over TLS")
	fs.StringVar(&cfg.SIPPublicAddr, "sip-public-addr", "", "host[:port] announced in SIP Contact headers behind NAT (empty = the listener's)")
	fs.StringVar(&cfg.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary used to decode snapshots")
	fs.BoolVar(&cfg.Demo, "demo", false, "start a built-in simulated camera and a demo site that shows it")
	fs.StringVar(&cfg.DemoRTSP, "demo-rtsp", "127.0.0.1:8554", "listen address of the demo camera's RTSP server")
	fs.StringVar(&cfg.WebRTCPublicIPs, "webrtc-public-ips", "", "comma-separated public IPs to announce in ICE (NAT 1:1)")
	fs.StringVar(&cfg.WebRTCIfaces, "webrtc-interfaces", "", "comma-separated network interfaces to gather ICE candidates on (empty = all)")
	fs.StringVar(&cfg.WebRTCIPs, "webrtc-ips", "", "comma-separated local IPs to gather ICE candidates on (empty = all)")
	fs.BoolVar(&cfg.WebRTCLoopback, "webrtc-loopback", false, "also offer loopback ICE candidates (automatic when the machine has no other address)")
	fs.StringVar(&cfg.WebRTCUDPPorts, "webrtc-udp-ports", "", "UDP port range for WebRTC media, e.g. 50000-50100 (empty = ephemeral)")
	fs.DurationVar(&cfg.PreRoll, "preroll", 10*time.Second, "video kept in memory per recording camera and put before each event")
	fs.DurationVar(&cfg.PostRoll, "postroll", 10*time.Second, "video recorded after an event's end")
	fs.DurationVar(&cfg.Segment, "segment", 4*time.Second, "length of continuous recording segments (cut at the next keyframe)")
	fs.Int64Var(&cfg.SpoolMaxBytes, "spool-max-bytes", 8<<30, "bound of the local spool that holds recordings until the object store has them")
	fs.StringVar(&cfg.AbnormalTypes, "abnormal-types", "", "comma-separated abnormal types reviewers pick from (empty = built-in list)")
	fs.IntVar(&cfg.RetainContinuous, "retain-continuous-days", 30, "days continuous recordings are kept (0 = forever)")
	fs.IntVar(&cfg.RetainEvidence, "retain-evidence-days", 365, "days case evidence is kept unless on legal hold (0 = forever)")
	fs.DurationVar(&cfg.RetentionInterval, "retention-interval", time.Hour, "how often the retention job runs")
	fs.DurationVar(&cfg.DemoCallAfter, "demo-call-after", 20*time.Second, "with --demo: when the demo robot first calls in (then 90 s after each call)")
	fs.DurationVar(&cfg.RingTimeout, "ring-timeout", 30*time.Second, "a robot call nobody accepts within this is refused (480) and recorded as missed")
	fs.DurationVar(&cfg.CongestedAfter, "congested-after", signaling.DefaultCongestedAfter, "a vehicle waiting this long at a lane puts the lane on the agents' call-out list")
	fs.StringVar(&cfg.ParkingWebhook, "parking-webhook", "", "parking system webhook URL for plate lookup and pay codes; demo = the built-in demo backend (the default with --demo); off or empty = none")
	fs.StringVar(&cfg.ParkingWebhookSecret, "parking-webhook-secret", "", "shared secret that signs webhook requests (empty = generated once into DATA/secrets/parking-webhook.secret)")
	fs.DurationVar(&cfg.ParkingTimeout, "parking-timeout", parking.DefaultTimeout, "how long one parking-system request may take")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", "", "bearer token /metrics asks for (Prometheus: authorization.credentials); empty = /metrics is open to whoever reaches --http")
	return fs
}

// envName is the environment variable for a flag: --log-format is
// ATTENDANT_LOG_FORMAT.
func envName(flagName string) string {
	return "ATTENDANT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseServeConfig applies defaults, then the YAML file, then the
// environment, then the command line.
func parseServeConfig(args []string, getenv func(string) string) (serveConfig, error) {
	var cfg serveConfig
	fs := newServeFlags(&cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	file := cfg.ConfigFile
	if file == "" {
		file = getenv(envName("config"))
	}
	fromFile := map[string]string{}
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return cfg, fmt.Errorf("parse config file %s: %w", file, err)
		}
		for k, v := range m {
			if fs.Lookup(k) == nil || k == "config" {
				return cfg, fmt.Errorf("config file %s: unknown key %q", file, k)
			}
			fromFile[k] = fmt.Sprint(v)
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || explicit[f.Name] {
			return
		}
		val, ok := getenv(envName(f.Name)), true
		if val == "" {
			val, ok = fromFile[f.Name]
		}
		if !ok || val == "" {
			return
		}
		if setErr := fs.Set(f.Name, val); setErr != nil {
			err = fmt.Errorf("%s: %w", f.Name, setErr)
		}
	})
	if err != nil {
		return cfg, err
	}
	if _, _, err := parsePortRange(cfg.WebRTCUDPPorts); err != nil {
		return cfg, fmt.Errorf("webrtc-udp-ports: %w", err)
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		return cfg, fmt.Errorf("log-format: want text or json, got %q", cfg.LogFormat)
	}
	if err := checkParking(&cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkParking settles the parking settings: --demo brings the demo
// parking system unless one is named, "off" turns it off even then, and a
// URL must be one. After it, ParkingWebhook is a URL, "demo" or "".
func checkParking(cfg *serveConfig) error {
	switch cfg.ParkingWebhook {
	case "":
		if cfg.Demo {
			cfg.ParkingWebhook = "demo"
		}
	case "off":
		cfg.ParkingWebhook = ""
	case "demo":
	default:
		u, err := url.Parse(cfg.ParkingWebhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("parking-webhook: want an http:// or https:// URL, demo or off, got %q", parking.RedactURL(cfg.ParkingWebhook))
		}
	}
	if s := cfg.ParkingWebhookSecret; s != "" && len(s) < parking.MinSecretLen {
		return fmt.Errorf("parking-webhook-secret: want at least %d characters", parking.MinSecretLen)
	}
	if s := cfg.MetricsToken; s != "" && len(s) < minMetricsToken {
		return fmt.Errorf("metrics-token: want at least %d characters", minMetricsToken)
	}
	if cfg.ParkingTimeout <= 0 || cfg.ParkingTimeout > time.Minute {
		return fmt.Errorf("parking-timeout: want more than 0 and at most 1m, got %v", cfg.ParkingTimeout)
	}
	return nil
}

// parsePortRange reads "MIN-MAX"; empty means 0, 0 (ephemeral).
func parsePortRange(s string) (uint16, uint16, error) {
	if s == "" {
		return 0, 0, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("want MIN-MAX, got %q", s)
	}
	min, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	max, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || min == 0 || min > max {
		return 0, 0, fmt.Errorf("want MIN-MAX with 0 < MIN <= MAX <= 65535, got %q", s)
	}
	return uint16(min), uint16(max), nil
}

// splitList reads a comma-separated flag.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
