package sip

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Device is what the registrar needs to know of a robot or intercom.
type Device struct {
	ID, SiteID         string
	Username, Password string // SIP digest credentials
	Enabled            bool
}

// Directory looks devices up by SIP username. The caller implements it over
// the database; it returns ErrUnknownDevice (wrapped or not) when there is
// no such device.
type Directory interface {
	DeviceBySIPUser(ctx context.Context, username string) (Device, error)
}

// DirectoryFunc adapts a function to a Directory.
type DirectoryFunc func(ctx context.Context, username string) (Device, error)

// DeviceBySIPUser calls f.
func (f DirectoryFunc) DeviceBySIPUser(ctx context.Context, username string) (Device, error) {
	return f(ctx, username)
}

// Config configures the SIP listener and registrar. The zero value of each
// field means its default.
type Config struct {
	// Addr is "host:port", served on UDP and TCP alike (default ":5060").
	// Port 0 picks a port free on both.
	Addr string
	// TLSAddr, when set, is "host:port" of a SIP over TLS listener
	// (usually ":5061"), with the certificate chain and key in the PEM
	// files TLSCert and TLSKey. Registrations and calls work over it as
	// over TCP; our Contact then says transport=tls.
	TLSAddr, TLSCert, TLSKey string
	// Realm is the digest realm (default "attendant").
	Realm string
	// PublicAddr is host[:port] to put in our Contact when behind NAT; empty
	// means the listener's own address.
	PublicAddr string

	// MinExpires, MaxExpires and DefaultExpires bound registrations
	// (defaults 60 s, 3600 s, 600 s). A shorter request is refused with 423,
	// a longer one is shortened to MaxExpires.
	MinExpires, MaxExpires, DefaultExpires time.Duration

	// FailLimit authentication failures from one source IP within
	// FailWindow are tolerated; beyond that the IP gets 403 without a
	// challenge until FailWindow has passed (defaults 5 and 1 min; a
	// negative FailLimit disables the limit).
	FailLimit  int
	FailWindow time.Duration

	// UserAgent is our Server/User-Agent header (default "attendant").
	UserAgent string

	// NonceTTL is how long a digest nonce is accepted before the client is
	// re-challenged with stale=true (default 5 min).
	NonceTTL time.Duration
	// NonceKey signs nonces (HMAC-SHA256). Empty: a random key per server,
	// so nonces die with the process (clients then get stale=true). Set it
	// when several processes share one address.
	NonceKey []byte
	// LookupTimeout bounds one Directory lookup (default 3 s).
	LookupTimeout time.Duration

	// TCPIdleTimeout closes a TCP connection that sent nothing for this long
	// (default MaxExpires + 1 min: a registered client refreshes sooner).
	TCPIdleTimeout time.Duration
	// MaxTCPConns and MaxTCPConnsPerIP bound open TCP connections, in all
	// and from one IP (defaults 1024 and 32); further ones are closed at once.
	MaxTCPConns, MaxTCPConnsPerIP int

	// Calls takes incoming calls from registered devices. Nil: INVITEs get
	// 480 Temporarily Unavailable.
	Calls CallHandler
	// OnMessage, when set, gets the body of every MESSAGE a registered
	// device sends (robot state updates), after the 200. It runs on the
	// SIP transaction's goroutine: it must not block.
	OnMessage func(deviceID, contentType string, body []byte)
	// RTPTimeout hangs up an answered call when the robot sent no RTP for
	// this long, except while it holds the call (default 30 s; negative:
	// never).
	RTPTimeout time.Duration
	// RTPPortMin and RTPPortMax bound the UDP ports of calls' media: an
	// even port for RTP and the next one for RTCP (both 0: any free port).
	RTPPortMin, RTPPortMax int
	// RTCPInterval is how often each call sends an RTCP report (SR/RR
	// with SDES CNAME) to the robot, randomised to 0.5..1.5 times
	// (default 5 s; negative: no RTCP of ours). The robot's reports are
	// read either way (Call.Stats).
	RTCPInterval time.Duration

	// SessionExpires is the session interval of RFC 4028 session timers
	// (default 1800 s; negative: no session timers, and Require: timer
	// gets 420). A robot may ask for less, down to MinSE (default 90 s);
	// below that it gets 422. A call not refreshed within the interval is
	// hung up with EndSessionExpired. Both are whole seconds.
	SessionExpires, MinSE time.Duration
}

// withDefaults returns cfg with every zero field set to its default, or an
// error when a field is invalid.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Addr == "" {
		cfg.Addr = ":5060"
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return cfg, fmt.Errorf("%w: addr %q: %v", ErrBadConfig, cfg.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return cfg, fmt.Errorf("%w: addr %q: bad port", ErrBadConfig, cfg.Addr)
	}
	if cfg.TLSAddr != "" {
		if _, p, err := net.SplitHostPort(cfg.TLSAddr); err != nil {
			return cfg, fmt.Errorf("%w: tls addr %q: %v", ErrBadConfig, cfg.TLSAddr, err)
		} else if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return cfg, fmt.Errorf("%w: tls addr %q: bad port", ErrBadConfig, cfg.TLSAddr)
		}
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return cfg, fmt.Errorf("%w: tls addr %q needs TLSCert and TLSKey", ErrBadConfig, cfg.TLSAddr)
		}
	}
	if cfg.Realm == "" {
		cfg.Realm = "attendant"
	}
	if !isToken(cfg.Realm) {
		// the realm goes into a quoted string and into HA1: keep it plain
		return cfg, fmt.Errorf("%w: realm %q: use letters, digits and .-_", ErrBadConfig, cfg.Realm)
	}
	if cfg.PublicAddr != "" {
		if _, _, err := splitHostPortDefault(cfg.PublicAddr); err != nil {
			return cfg, fmt.Errorf("%w: public addr %q: %v", ErrBadConfig, cfg.PublicAddr, err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.MinExpires, 60*time.Second)
	def(&cfg.MaxExpires, time.Hour)
	def(&cfg.DefaultExpires, 10*time.Minute)
	def(&cfg.FailWindow, time.Minute)
	def(&cfg.NonceTTL, 5*time.Minute)
	def(&cfg.LookupTimeout, 3*time.Second)
	def(&cfg.TCPIdleTimeout, cfg.MaxExpires+time.Minute)
	if cfg.MinExpires < time.Second || cfg.MaxExpires < cfg.MinExpires ||
		cfg.DefaultExpires < cfg.MinExpires || cfg.DefaultExpires > cfg.MaxExpires {
		return cfg, fmt.Errorf("%w: expires: want 1s <= min (%v) <= default (%v) <= max (%v)",
			ErrBadConfig, cfg.MinExpires, cfg.DefaultExpires, cfg.MaxExpires)
	}
	if cfg.FailLimit == 0 {
		cfg.FailLimit = 5
	}
	if cfg.FailWindow < 0 || cfg.NonceTTL < 0 || cfg.LookupTimeout < 0 || cfg.TCPIdleTimeout < 0 {
		return cfg, fmt.Errorf("%w: negative duration", ErrBadConfig)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "attendant"
	}
	if cfg.MaxTCPConns == 0 {
		cfg.MaxTCPConns = 1024
	}
	if cfg.MaxTCPConnsPerIP == 0 {
		cfg.MaxTCPConnsPerIP = 32
	}
	def(&cfg.RTPTimeout, 30*time.Second)
	def(&cfg.RTCPInterval, 5*time.Second)
	switch {
	case cfg.RTPPortMin == 0 && cfg.RTPPortMax == 0:
	case cfg.RTPPortMin < 1024 || cfg.RTPPortMax > 65535 || cfg.RTPPortMax-cfg.RTPPortMin < 1+cfg.RTPPortMin%2:
		return cfg, fmt.Errorf("%w: rtp ports %d-%d: want 1024 <= min < max <= 65535 with an even/odd pair inside",
			ErrBadConfig, cfg.RTPPortMin, cfg.RTPPortMax)
	}
	def(&cfg.SessionExpires, 1800*time.Second)
	def(&cfg.MinSE, 90*time.Second)
	if cfg.SessionExpires > 0 && (cfg.MinSE < time.Second || cfg.SessionExpires < cfg.MinSE) {
		return cfg, fmt.Errorf("%w: session timers: want 1s <= MinSE (%v) <= SessionExpires (%v)",
			ErrBadConfig, cfg.MinSE, cfg.SessionExpires)
	}
	cfg.SessionExpires = cfg.SessionExpires.Truncate(time.Second)
	cfg.MinSE = cfg.MinSE.Truncate(time.Second)
	if cfg.MaxTCPConns < 0 || cfg.MaxTCPConnsPerIP < 0 {
		return cfg, fmt.Errorf("%w: negative TCP connection limit", ErrBadConfig)
	}
	return cfg, nil
}

// badHostChars may not appear in a host we write into a header.
const badHostChars = " \t\r\n<>;,\"@"

// splitHostPortDefault splits "host[:port]"; port is 0 when absent.
func splitHostPortDefault(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// no port: a bare host or IPv6 literal
		h := s
		if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
		if h == "" || strings.ContainsAny(h, badHostChars) {
			return "", 0, fmt.Errorf("bad host")
		}
		return h, 0, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || host == "" || strings.ContainsAny(host, badHostChars) {
		return "", 0, fmt.Errorf("bad host or port")
	}
	return host, int(p), nil
}
