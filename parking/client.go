// Package parking talks to the parking system that owns the vehicles'
// data (entries, fees, passes) through a configurable webhook, and
// contains a small demo backend speaking the same protocol. The protocol
// is in docs/parking.md. It imports nothing else of attendant.
package parking

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout = 5 * time.Second
	// DefaultMaxResponseBytes leaves room for MaxPhotos photos of
	// MaxPhotoBytes in base64 (2.7 MiB), a parking system that escapes
	// "/" as "\/" or breaks lines, and the rest of the answer; it still
	// bounds what one lookup holds in memory.
	DefaultMaxResponseBytes = 4 << 20
	// MinSecretLen is the shortest shared secret New accepts.
	MinSecretLen = 16
)

// Config sets up a Client.
type Config struct {
	// URL is the webhook every request is POSTed to (http or https).
	URL string
	// Secret is shared with the parking system, which checks each
	// request's signature with it. At least MinSecretLen bytes. Never logged.
	Secret []byte
	// Timeout bounds one request from connecting to the last byte of the
	// answer (default DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes bounds an answer (default DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// Transport carries the requests; nil means a clone of
	// http.DefaultTransport. InProcess(handler) serves them in memory.
	Transport http.RoundTripper
	// Log receives a debug line per call; errors are returned, for the
	// caller to log with its context. nil discards.
	Log *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Client calls the parking system's webhook. It is safe for concurrent use.
type Client struct {
	url     string
	display string // URL without credentials or query, for logs and errors
	secret  []byte
	timeout time.Duration
	max     int64
	http    *http.Client
	log     *slog.Logger
	now     func() time.Time
}

// New checks cfg and returns a ready Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("parking webhook URL %q: want http:// or https:// with a host", RedactURL(cfg.URL))
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("parking webhook secret: want at least %d bytes", MinSecretLen)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{
		url: cfg.URL, display: RedactURL(cfg.URL), secret: append([]byte(nil), cfg.Secret...),
		timeout: cfg.Timeout, max: cfg.MaxResponseBytes, log: cfg.Log, now: cfg.Now,
		http: &http.Client{
			Transport: cfg.Transport,
			// A redirect would resend the signed body elsewhere (307/308)
			// or drop it (301/302): treat it as the error status it is here.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// URL is the webhook's address without credentials or query, for logs.
func (c *Client) URL() string { return c.display }

// Lookup asks what the parking system knows of q.Plate. A plate it does
// not know is a Lookup with Found false, not an error.
func (c *Client) Lookup(ctx context.Context, q Query) (Lookup, error) {
	body, plate, err := c.call(ctx, ActionLookup, q)
	if err != nil {
		return Lookup{}, err
	}
	l, dropped, err := parseLookup(body, c.now())
	if err != nil {
		return Lookup{}, fmt.Errorf("parking lookup of %s: %w", plate, err)
	}
	for _, why := range dropped { // at most MaxPhotos+1 lines
		// debug, not warn: the agent still gets the lookup, and a parking
		// system that always sends a bad photo must not flood the log
		c.log.Debug("parking photo dropped", "plate", plate, "case", q.CaseID, "why", why)
	}
	return l, nil
}

// PayCode asks the parking system for a code the driver can pay with. A
// refusal (nothing due, unknown vehicle) is a PayCode with Issued false.
func (c *Client) PayCode(ctx context.Context, q Query) (PayCode, error) {
	body, plate, err := c.call(ctx, ActionPayCode, q)
	if err != nil {
		return PayCode{}, err
	}
	pc, err := ParsePayCode(body)
	if err != nil {
		return PayCode{}, fmt.Errorf("parking pay code for %s: %w", plate, err)
	}
	return pc, nil
}

// call POSTs one signed request and returns the 2xx answer's body and the
// normalised plate.
func (c *Client) call(ctx context.Context, action string, q Query) ([]byte, string, error) {
	plate, err := NormalizePlate(q.Plate)
	if err != nil {
		return nil, "", err
	}
	req := Request{Version: ProtocolVersion, Action: action, RequestID: rand.Text(), Plate: plate,
		SiteID: q.SiteID, SiteCode: q.SiteCode, AccessPointID: q.AccessPointID, AccessPointKind: q.AccessPointKind,
		DeviceID: q.DeviceID, CaseID: q.CaseID, AgentID: q.AgentID}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, plate, fmt.Errorf("parking %s: encode request: %w", action, err)
	}
	log := c.log.With("action", action, "plate", plate, "request_id", req.RequestID, "case", q.CaseID)
	start := c.now()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, plate, fmt.Errorf("parking %s: build request: %w", action, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "attendant-parking/1")
	hr.Header.Set(HeaderTimestamp, strconv.FormatInt(start.Unix(), 10))
	hr.Header.Set(HeaderSignature, Sign(c.secret, start, body))

	answer, err := c.do(ctx, hr)
	if err != nil {
		log.Debug("parking system call failed", "err", err) // the caller logs the error it returns
		return nil, plate, fmt.Errorf("parking %s of %s at %s: %w", action, plate, c.display, err)
	}
	log.Debug("parking system answered", "bytes", len(answer), "took", c.now().Sub(start))
	return answer, plate, nil
}

// do sends hr and reads a 2xx answer of at most c.max bytes, classifying
// every failure as one of the package's errors.
func (c *Client) do(ctx context.Context, hr *http.Request) ([]byte, error) {
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, c.max+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, &StatusError{Code: res.StatusCode, Body: cleanText(string(raw), 200)}
	}
	if int64(len(raw)) > c.max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.max)
	}
	return raw, nil
}

// transportError tells a timeout (ours) from the caller giving up (their
// context) from a connection that failed.
func (c *Client) transportError(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w after %v: %v", ErrTimeout, c.timeout, err)
	case ctx.Err() != nil:
		// the caller went away (the agent's request was cancelled)
		return fmt.Errorf("parking request abandoned: %w", ctx.Err())
	}
	return fmt.Errorf("%w: %v", ErrUnreachable, err)
}

// RedactURL is rawURL without user info, query and fragment, which may
// hold credentials: for logs and errors.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}
