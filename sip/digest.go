package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// maxDigestLen bounds an Authorization value we are willing to parse; real
// ones are a few hundred bytes.
const maxDigestLen = 4096

// Digest holds the parameters of a Digest Authorization (or
// Proxy-Authorization) header value, RFC 7616 with MD5 and qop=auth.
type Digest struct {
	Username, Realm, Nonce, URI, Response string
	Algorithm, CNonce, Opaque, QOP, NC    string
}

// ParseDigest parses an Authorization header value of the Digest scheme.
// Parameter names are case-insensitive; unknown parameters are ignored; a
// known parameter given twice, a missing username, realm, nonce, uri or
// response, or qop without cnonce and an 8-hex-digit nc is an error
// (ErrBadDigest).
func ParseDigest(value string) (Digest, error) {
	var d Digest
	if len(value) > maxDigestLen {
		return d, fmt.Errorf("%w: %d bytes", ErrBadDigest, len(value))
	}
	s := strings.TrimLeft(value, " \t")
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if !strings.EqualFold(s[:i], "Digest") {
		return d, fmt.Errorf("%w: not the Digest scheme", ErrBadDigest)
	}
	if i == len(s) || (s[i] != ' ' && s[i] != '\t') {
		return d, fmt.Errorf("%w: no parameters", ErrBadDigest)
	}
	s = s[i:]
	seen := make(map[string]bool, 10)
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		var name, val string
		var err error
		name, val, s, err = nextParam(s)
		if err != nil {
			return Digest{}, err
		}
		name = strings.ToLower(name)
		field := d.field(name)
		if field == nil {
			continue // unknown parameters are ignored (RFC 7616 section 3.4)
		}
		if seen[name] {
			return Digest{}, fmt.Errorf("%w: %s given twice", ErrBadDigest, name)
		}
		seen[name] = true
		*field = val
	}
	if d.Username == "" || d.Realm == "" || d.Nonce == "" || d.URI == "" || d.Response == "" {
		return Digest{}, fmt.Errorf("%w: missing username, realm, nonce, uri or response", ErrBadDigest)
	}
	if d.QOP != "" && (d.CNonce == "" || !isHex(d.NC, 8)) {
		return Digest{}, fmt.Errorf("%w: qop without cnonce or nc", ErrBadDigest)
	}
	return d, nil
}

// field returns where the parameter called name (lower case) goes.
func (d *Digest) field(name string) *string {
	switch name {
	case "username":
		return &d.Username
	case "realm":
		return &d.Realm
	case "nonce":
		return &d.Nonce
	case "uri":
		return &d.URI
	case "response":
		return &d.Response
	case "algorithm":
		return &d.Algorithm
	case "cnonce":
		return &d.CNonce
	case "opaque":
		return &d.Opaque
	case "qop":
		return &d.QOP
	case "nc":
		return &d.NC
	}
	return nil
}

// nextParam reads `name = token` or `name = "quoted"` from the start of s
// and returns the rest after the separating comma (if any).
func nextParam(s string) (name, val, rest string, err error) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", "", fmt.Errorf("%w: expected a parameter name", ErrBadDigest)
	}
	name, s = s[:i], strings.TrimLeft(s[i:], " \t")
	if s == "" || s[0] != '=' {
		return "", "", "", fmt.Errorf("%w: parameter %q without a value", ErrBadDigest, name)
	}
	s = strings.TrimLeft(s[1:], " \t")
	if s != "" && s[0] == '"' {
		var b strings.Builder
		i = 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
				if i == len(s) {
					break
				}
			}
			if s[i] == '\r' || s[i] == '\n' {
				return "", "", "", fmt.Errorf("%w: line break in %s", ErrBadDigest, name)
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return "", "", "", fmt.Errorf("%w: unterminated quote in %s", ErrBadDigest, name)
		}
		val, s = b.String(), s[i+1:]
	} else {
		i = 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return "", "", "", fmt.Errorf("%w: empty value for %s", ErrBadDigest, name)
		}
		val, s = s[:i], s[i:]
	}
	s = strings.TrimLeft(s, " \t")
	if s != "" && s[0] != ',' {
		return "", "", "", fmt.Errorf("%w: junk after %s", ErrBadDigest, name)
	}
	return name, val, s, nil
}

// isTokenChar reports whether c may appear in an RFC 3261 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// digestResponse computes the response a client with this password must
// send for d (RFC 7616 section 3.4.1; RFC 2069 when d has no qop).
func digestResponse(d Digest, method, password string) string {
	ha1 := md5hex(d.Username + ":" + d.Realm + ":" + password)
	ha2 := md5hex(method + ":" + d.URI)
	if d.QOP == "" {
		return md5hex(ha1 + ":" + d.Nonce + ":" + ha2)
	}
	return md5hex(ha1 + ":" + d.Nonce + ":" + d.NC + ":" + d.CNonce + ":" + d.QOP + ":" + ha2)
}

// checkDigestResponse compares in constant time, so the time taken tells
// nothing of how much of the response was right.
func checkDigestResponse(d Digest, method, password string) bool {
	want := digestResponse(d, method, password)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(d.Response))) == 1
}

// supported reports whether d uses what we offer: MD5 and qop auth (or the
// RFC 2069 form without qop, which old SIP phones still send).
func (d Digest) supported() bool {
	return (d.Algorithm == "" || strings.EqualFold(d.Algorithm, "MD5")) &&
		(d.QOP == "" || strings.EqualFold(d.QOP, "auth"))
}

// nonce layout: 8 bytes issue time (Unix ns), 8 random bytes, 16 bytes of
// HMAC-SHA256 over both. It needs no server state and a restart with a new
// key just makes old nonces stale.
const (
	nonceRaw   = 8 + 8 + 16
	nonceClock = time.Minute // tolerated clock step backwards
)

type nonceState int

const (
	nonceBad   nonceState = iota // not minted with our key
	nonceStale                   // ours, but too old (or from the future)
	nonceFresh
)

type nonces struct {
	key []byte
	ttl time.Duration
}

func newNonces(key []byte, ttl time.Duration) (*nonces, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("nonce key: %w", err)
		}
	}
	return &nonces{key: append([]byte(nil), key...), ttl: ttl}, nil
}

func (n *nonces) mint(now time.Time) string {
	var b [nonceRaw]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:16]) // crypto/rand.Read never fails (Go 1.24+)
	copy(b[16:], n.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n *nonces) check(nonce string, now time.Time) nonceState {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(nonceRaw) {
		return nonceBad
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceRaw || !hmac.Equal(b[16:], n.mac(b[:16])) {
		return nonceBad
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	age := now.Sub(issued)
	if age > n.ttl || age < -nonceClock {
		return nonceStale
	}
	return nonceFresh
}

func (n *nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write(b)
	return m.Sum(nil)[:16]
}

// challenge is a WWW-Authenticate value offering MD5 with qop auth.
func challenge(realm, nonce string, stale bool) string {
	v := `Digest realm="` + realm + `", nonce="` + nonce + `", algorithm=MD5, qop="auth"`
	if stale {
		v += ", stale=true"
	}
	return v
}
