package sip

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// maxContactLen bounds a Contact URI we store and show.
const maxContactLen = 512

// authVerdict is the outcome of checking a request's digest credentials.
type authVerdict int

const (
	authOK          authVerdict = iota
	authFailed                  // unknown user, wrong password, unsupported: 403, counted
	authDisabled                // right password, disabled device: 403
	authStale                   // right password, old or foreign nonce: 401 stale=true
	authUnavailable             // directory failed: 503
)

// handleRegister is the registrar (RFC 3261 section 10.3) for devices that
// prove their SIP credentials with digest auth.
func (s *Server) handleRegister(req *sip.Request, tx sip.ServerTransaction) {
	now := s.now()
	ip := hostOf(req.Source())
	if s.limiter.blocked(ip, now) {
		s.counters.blocked.Add(1)
		s.respond(req, tx, 403, "Forbidden")
		return
	}
	d, found, err := s.credentials(req, "Authorization")
	if err != nil {
		s.authFailed(ip, now, "", "malformed credentials")
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	if !found {
		s.challenge(req, tx, false)
		return
	}
	dev, verdict := s.authenticate(d, string(req.Method), ip, now)
	switch verdict {
	case authFailed, authDisabled:
		s.respond(req, tx, 403, "Forbidden")
		return
	case authStale:
		s.challenge(req, tx, true)
		return
	case authUnavailable:
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	log := s.log.With("device", dev.ID, "source", req.Source())

	to, cseq, callID := req.To(), req.CSeq(), req.CallID()
	if to == nil || cseq == nil || callID == nil {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	if to.Address.User != dev.Username {
		// a robot may only register its own address of record
		log.Warn("sip register refused: To is not the authenticated user", "to_user", clip(to.Address.User, 64))
		s.respond(req, tx, 403, "Forbidden")
		return
	}
	u := regUpdate{
		dev: dev, callID: string(*callID), cseq: cseq.SeqNo, nonce: d.Nonce,
		source: req.Source(), transport: req.Transport(), userAgent: headerValue(req, "User-Agent", 256),
		now: now,
	}
	if d.QOP != "" {
		u.nc, _ = strconv.ParseUint(d.NC, 16, 64) // ParseDigest checked the 8 hex digits
		u.hasNC = true
	}
	code, reason, extra := s.readContacts(req, &u)
	if code != 0 {
		s.respond(req, tx, code, reason, extra...)
		return
	}
	prev, b, res := s.reg.apply(u)
	switch res {
	case regReplay:
		s.challenge(req, tx, true)
		return
	case regOutOfOrder:
		s.respond(req, tx, 500, "Request Out Of Order", sip.NewHeader("Retry-After", "1"))
		return
	}
	switch {
	case b.Registered && (!prev.Registered || prev.Contact != b.Contact || prev.Source != b.Source):
		// new, or moved (a mobile robot's address changes)
		log.Info("sip device registered", "contact", b.Contact, "transport", b.Transport,
			"user_agent", b.UserAgent, "expires", b.Expires.Sub(now).Round(time.Second))
	case b.Registered:
		log.Debug("sip registration refreshed", "expires", b.Expires.Sub(now).Round(time.Second))
	case prev.Registered:
		log.Info("sip device unregistered")
	}
	var hdrs []sip.Header
	if b.Registered {
		secs := int64(b.Expires.Sub(now).Round(time.Second) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.FormatInt(secs, 10)))
	}
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	s.respond(req, tx, 200, "OK", hdrs...)
}

// readContacts fills u.contacts and u.wildcard from the request, or returns
// the error response to send (code 0: none).
func (s *Server) readContacts(req *sip.Request, u *regUpdate) (code int, reason string, hdrs []sip.Header) {
	def := s.cfg.DefaultExpires
	hdrExpires, hasHdr := time.Duration(-1), false
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32); err == nil {
			hdrExpires, hasHdr = time.Duration(n)*time.Second, true
			def = hdrExpires
		}
	}
	contacts := req.GetHeaders("Contact")
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return 400, "Bad Request", nil
		}
		if c.Address.Wildcard {
			// RFC 3261 section 10.3 step 6: "*" only alone and with Expires: 0
			if len(contacts) != 1 || !hasHdr || hdrExpires != 0 {
				return 400, "Bad Request", nil
			}
			u.wildcard = true
			return 0, "", nil
		}
		exp := def
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				exp = time.Duration(n) * time.Second
			}
		}
		switch {
		case exp == 0:
		case exp < s.cfg.MinExpires:
			return 423, "Interval Too Brief", []sip.Header{
				sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))),
			}
		case exp > s.cfg.MaxExpires:
			exp = s.cfg.MaxExpires
		}
		uri := c.Address.String()
		if len(uri) > maxContactLen {
			return 400, "Bad Request", nil
		}
		u.contacts = append(u.contacts, contactReq{uri: uri, key: contactKey(c.Address), expires: exp})
	}
	return 0, "", nil
}

// contactKey identifies a contact for unregistration: scheme, user, host
// (case-insensitive) and port.
func contactKey(u sip.Uri) string {
	return strings.ToLower(u.Scheme) + ":" + u.User + "@" + strings.ToLower(u.Host) + ":" + strconv.Itoa(u.Port)
}

// credentials returns the request's digest credentials for our realm.
// Credentials of other schemes or realms are ignored (found is false); a
// malformed Digest value is an error.
func (s *Server) credentials(req *sip.Request, header string) (d Digest, found bool, err error) {
	for _, h := range req.GetHeaders(header) {
		v := h.Value()
		d, err := ParseDigest(v)
		if err != nil {
			scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
			if !strings.EqualFold(scheme, "Digest") {
				continue
			}
			return Digest{}, false, err
		}
		if d.Realm == s.cfg.Realm {
			return d, true, nil
		}
	}
	return Digest{}, false, nil
}

// authenticate checks digest credentials against the directory. Unknown
// users and wrong passwords look alike from outside (and take about as
// long); both count towards the IP's failure limit.
func (s *Server) authenticate(d Digest, method, ip string, now time.Time) (Device, authVerdict) {
	user := clip(d.Username, 64)
	if !d.supported() {
		s.authFailed(ip, now, user, "unsupported algorithm or qop")
		return Device{}, authFailed
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LookupTimeout)
	dev, err := s.dir.DeviceBySIPUser(ctx, d.Username)
	cancel()
	switch {
	case errors.Is(err, ErrUnknownDevice):
		checkDigestResponse(d, method, "") // same work as for a known user
		s.authFailed(ip, now, user, "unknown user")
		return Device{}, authFailed
	case err != nil:
		s.log.Error("sip device lookup failed", "user", user, "error", err)
		return Device{}, authUnavailable
	}
	// a device without a SIP password must never register with an empty one
	if dev.Password == "" || !checkDigestResponse(d, method, dev.Password) {
		s.authFailed(ip, now, user, "wrong password")
		return Device{}, authFailed
	}
	if !dev.Enabled {
		s.log.Info("sip request from disabled device refused", "device", dev.ID, "ip", ip)
		return Device{}, authDisabled
	}
	if s.nonces.check(d.Nonce, now) != nonceFresh {
		return Device{}, authStale
	}
	return dev, authOK
}

// authFailed counts a failure and logs it; once per block it logs at Warn.
func (s *Server) authFailed(ip string, now time.Time, user, why string) {
	s.counters.authFailures.Add(1)
	if s.limiter.fail(ip, now) {
		s.log.Warn("sip source blocked after repeated authentication failures",
			"ip", ip, "user", user, "limit", s.cfg.FailLimit, "window", s.cfg.FailWindow)
		return
	}
	s.log.Info("sip authentication failed", "ip", ip, "user", user, "reason", why)
}

func (s *Server) challenge(req *sip.Request, tx sip.ServerTransaction, stale bool) {
	s.respond(req, tx, 401, "Unauthorized",
		sip.NewHeader("WWW-Authenticate", challenge(s.cfg.Realm, s.nonces.mint(s.now()), stale)))
}

// headerValue returns a header's value cut to at most n bytes of valid
// UTF-8 ("" when absent).
func headerValue(req *sip.Request, name string, n int) string {
	h := req.GetHeader(name)
	if h == nil {
		return ""
	}
	return clip(h.Value(), n)
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

// logAttrs is what we log of a request: never its headers, which may hold
// credentials.
func logAttrs(req *sip.Request) []any {
	attrs := []any{slog.String("method", string(req.Method)), slog.String("source", req.Source())}
	if id := req.CallID(); id != nil {
		attrs = append(attrs, slog.String("call_id", clip(string(*id), 128)))
	}
	return attrs
}
