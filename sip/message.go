package sip

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// maxMessageBody bounds a MESSAGE body: RFC 3428 section 8 keeps MESSAGE
// small (below 1300 bytes over UDP; we allow a little more over TCP).
const maxMessageBody = 8 << 10

// SendMessage sends a SIP MESSAGE (RFC 3428) to a registered device, at
// the address its REGISTER came from, and returns the device's final
// status code. Robots take control commands this way (JSON bodies).
func (s *Server) SendMessage(ctx context.Context, deviceID string, contentType string, body []byte) (status int, err error) {
	b, ok := s.reg.get(deviceID, s.now())
	if !ok || !b.Registered {
		return 0, fmt.Errorf("send message to %q: %w", clip(deviceID, 64), ErrNotRegistered)
	}
	if !validContentType(contentType) {
		return 0, fmt.Errorf("send message to %s: content type %q: %w", b.DeviceID, clip(contentType, 64), ErrBadMessage)
	}
	limit := maxMessageBody
	if strings.EqualFold(b.Transport, "udp") {
		limit = 1300
	}
	if len(body) == 0 || len(body) > limit {
		return 0, fmt.Errorf("send message to %s: %d-byte body (1..%d): %w", b.DeviceID, len(body), limit, ErrBadMessage)
	}
	req, err := s.requestTo(b, sip.MESSAGE)
	if err != nil {
		return 0, fmt.Errorf("send message to %s: %w", b.DeviceID, err)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.SetBody(body)

	res, err := s.client.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("send message to %s: %w", b.DeviceID, err)
	}
	s.log.Info("sip message to device", "device", b.DeviceID, "content_type", contentType,
		"bytes", len(body), "status", res.StatusCode)
	return res.StatusCode, nil
}

// requestTo starts a request outside any dialog to a registered device:
// to its registered Contact, sent where its REGISTER came from, from
// "attendant" with a new tag.
func (s *Server) requestTo(b Binding, method sip.RequestMethod) (*sip.Request, error) {
	var uri sip.Uri
	if err := sip.ParseUri(b.Contact, &uri); err != nil || uri.Host == "" || strings.ContainsAny(uri.Host, badHostChars) {
		return nil, fmt.Errorf("contact %q unusable", clip(b.Contact, 128))
	}
	// a clean Request-URI: no headers or parameters the robot put there
	target := sip.Uri{Scheme: "sip", User: uri.User, Host: uri.Host, Port: uri.Port}
	if tr, ok := uri.UriParams.Get("transport"); ok && isToken(tr) {
		target.UriParams = sip.NewParams()
		target.UriParams.Add("transport", tr)
	}
	req := sip.NewRequest(method, target)
	req.SetTransport(b.Transport)
	req.SetDestination(b.Source) // where the robot really is (NAT)
	host := s.host
	if s.cfg.PublicAddr != "" {
		host, _, _ = splitHostPortDefault(s.cfg.PublicAddr)
	}
	from := sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "attendant", Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: b.Username, Host: uri.Host}}
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	return req, nil
}

// validContentType accepts "type/subtype" with optional ";name=value"
// parameters made of token characters: nothing that could end the header.
func validContentType(v string) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for i := range len(v) {
		if v[i] < 0x20 || v[i] >= 0x7f { // CR and LF above all
			return false
		}
	}
	mt, params, _ := strings.Cut(v, ";")
	typ, sub, ok := strings.Cut(strings.TrimSpace(mt), "/")
	if !ok || !isMIMEToken(typ) || !isMIMEToken(sub) {
		return false
	}
	if params == "" {
		return true
	}
	for _, p := range strings.Split(params, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !isMIMEToken(k) || !isMIMEToken(strings.Trim(val, `"`)) {
			return false
		}
	}
	return true
}

// isMIMEToken reports whether s is a non-empty RFC 3261 token.
func isMIMEToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-.!%*_+`'~", r):
		default:
			return false
		}
	}
	return true
}
