package sip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// formatDigest writes d as an Authorization value, quoting every parameter
// but algorithm, qop and nc (the way SIP clients do).
func formatDigest(d Digest) string {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	parts := []string{
		"username=" + q(d.Username), "realm=" + q(d.Realm), "nonce=" + q(d.Nonce),
		"uri=" + q(d.URI), "response=" + q(d.Response),
	}
	if d.Algorithm != "" {
		parts = append(parts, "algorithm="+d.Algorithm)
	}
	if d.CNonce != "" {
		parts = append(parts, "cnonce="+q(d.CNonce))
	}
	if d.Opaque != "" {
		parts = append(parts, "opaque="+q(d.Opaque))
	}
	if d.QOP != "" {
		parts = append(parts, "qop="+d.QOP)
	}
	if d.NC != "" {
		parts = append(parts, "nc="+d.NC)
	}
	return "Digest " + strings.Join(parts, ", ")
}

func TestParseDigest(t *testing.T) {
	full := Digest{
		Username: "robot1", Realm: "attendant", Nonce: "abc", URI: "sip:127.0.0.1:5060",
		Response: "6629fae49393a05397450978507c4ef1", Algorithm: "MD5", CNonce: "0a4f113b",
		Opaque: "xyz", QOP: "auth", NC: "00000001",
	}
	tests := []struct {
		name  string
		in    string
		want  Digest
		isErr bool
	}{
		{name: "typical", in: formatDigest(full), want: full},
		{
			name: "names in any case, tokens, spaces and extra commas",
			in:   `digest  USERNAME = "u" ,, Realm="r",nonce="n", uri="sip:x", response="abc", qop=auth, nc=0000000a, cnonce="c", foo=bar`,
			want: Digest{Username: "u", Realm: "r", Nonce: "n", URI: "sip:x", Response: "abc", QOP: "auth", NC: "0000000a", CNonce: "c"},
		},
		{
			name: "quoted pairs and commas inside quotes",
			in:   `Digest username="a\"b\\c", realm="r,s", nonce="n", uri="sip:x", response="abc"`,
			want: Digest{Username: `a"b\c`, Realm: "r,s", Nonce: "n", URI: "sip:x", Response: "abc"},
		},
		{
			name: "RFC 2069 form without qop",
			in:   `Digest username="u", realm="r", nonce="n", uri="sip:x", response="abc"`,
			want: Digest{Username: "u", Realm: "r", Nonce: "n", URI: "sip:x", Response: "abc"},
		},
		{name: "basic scheme", in: `Basic dXNlcjpwYXNz`, isErr: true},
		{name: "scheme only", in: `Digest`, isErr: true},
		{name: "scheme glued to params", in: `Digestusername="u"`, isErr: true},
		{name: "empty", in: ``, isErr: true},
		{name: "missing response", in: `Digest username="u", realm="r", nonce="n", uri="sip:x"`, isErr: true},
		{name: "duplicate", in: `Digest username="u", username="v", realm="r", nonce="n", uri="sip:x", response="a"`, isErr: true},
		{name: "unterminated quote", in: `Digest username="u, realm="r", nonce="n", uri="sip:x", response="a`, isErr: true},
		{name: "no value", in: `Digest username=, realm="r"`, isErr: true},
		{name: "no equals", in: `Digest username "u"`, isErr: true},
		{name: "junk after value", in: `Digest username="u" x, realm="r", nonce="n", uri="sip:x", response="a"`, isErr: true},
		{name: "qop without nc", in: `Digest username="u", realm="r", nonce="n", uri="sip:x", response="a", qop=auth, cnonce="c"`, isErr: true},
		{name: "bad nc", in: `Digest username="u", realm="r", nonce="n", uri="sip:x", response="a", qop=auth, cnonce="c", nc=1`, isErr: true},
		{name: "too long", in: `Digest username="` + strings.Repeat("u", maxDigestLen) + `"`, isErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDigest(tt.in)
			if tt.isErr {
				if !errors.Is(err, ErrBadDigest) {
					t.Fatalf("ParseDigest(%q) = %+v, %v; want ErrBadDigest", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDigest(%q)\n got %+v, %v\nwant %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDigestResponse(t *testing.T) {
	// RFC 2617 section 3.5: Mufasa / "Circle Of Life"
	d := Digest{
		Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		URI: "/dir/index.html", QOP: "auth", NC: "00000001", CNonce: "0a4f113b",
		Response: "6629fae49393a05397450978507c4ef1",
	}
	if got := digestResponse(d, "GET", "Circle Of Life"); got != d.Response {
		t.Fatalf("response = %s, want %s", got, d.Response)
	}
	if !checkDigestResponse(d, "GET", "Circle Of Life") {
		t.Fatal("check refused the right password")
	}
	d.Response = strings.ToUpper(d.Response) // hex digits in either case
	if !checkDigestResponse(d, "GET", "Circle Of Life") {
		t.Fatal("check refused an upper-case response")
	}
	for _, tc := range []struct{ method, pass string }{{"GET", "circle of life"}, {"POST", "Circle Of Life"}, {"GET", ""}} {
		if checkDigestResponse(d, tc.method, tc.pass) {
			t.Errorf("check accepted %s with password %q", tc.method, tc.pass)
		}
	}
	// RFC 2069 (no qop): MD5(HA1:nonce:HA2)
	old := Digest{Username: "u", Realm: "r", Nonce: "n", URI: "sip:x"}
	want := md5hex(md5hex("u:r:p") + ":n:" + md5hex("REGISTER:sip:x"))
	if got := digestResponse(old, "REGISTER", "p"); got != want {
		t.Fatalf("RFC 2069 response = %s, want %s", got, want)
	}
}

func TestDigestSupported(t *testing.T) {
	for _, tc := range []struct {
		alg, qop string
		want     bool
	}{
		{"", "", true}, {"MD5", "auth", true}, {"md5", "AUTH", true},
		{"MD5-sess", "auth", false}, {"SHA-256", "auth", false}, {"MD5", "auth-int", false},
	} {
		if got := (Digest{Algorithm: tc.alg, QOP: tc.qop}).supported(); got != tc.want {
			t.Errorf("supported(%q, %q) = %v, want %v", tc.alg, tc.qop, got, tc.want)
		}
	}
}

func TestNonces(t *testing.T) {
	n, err := newNonces([]byte("key"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	nonce := n.mint(t0)
	if n.mint(t0) == nonce {
		t.Fatal("two nonces minted at the same time are equal")
	}
	tampered := []byte(nonce)
	tampered[3] ^= 1
	tests := []struct {
		name  string
		nonce string
		at    time.Time
		want  nonceState
	}{
		{"fresh", nonce, t0, nonceFresh},
		{"fresh at ttl", nonce, t0.Add(time.Minute), nonceFresh},
		{"stale after ttl", nonce, t0.Add(time.Minute + time.Nanosecond), nonceStale},
		{"slightly in the future", nonce, t0.Add(-30 * time.Second), nonceFresh},
		{"far in the future", nonce, t0.Add(-2 * time.Minute), nonceStale},
		{"tampered", string(tampered), t0, nonceBad},
		{"other key", other.mint(t0), t0, nonceBad},
		{"garbage", "not-a-nonce", t0, nonceBad},
		{"empty", "", t0, nonceBad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.check(tt.nonce, tt.at); got != tt.want {
				t.Fatalf("check = %v, want %v", got, tt.want)
			}
		})
	}
	if c := challenge("attendant", nonce, true); !strings.Contains(c, `realm="attendant"`) ||
		!strings.Contains(c, `qop="auth"`) || !strings.Contains(c, "algorithm=MD5") || !strings.HasSuffix(c, "stale=true") {
		t.Fatalf("challenge = %s", c)
	}
}

// FuzzParseDigest checks that the parser never panics, that what it accepts
// is complete, and that formatting a parsed value parses back to the same.
func FuzzParseDigest(f *testing.F) {
	f.Add(`Digest username="robot1", realm="attendant", nonce="abc", uri="sip:127.0.0.1", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="x", qop=auth, nc=00000001`)
	f.Add(`Digest username="a\"b", realm="r,s", nonce=n, uri="sip:x", response=r`)
	f.Add(`digest USERNAME = u ,, realm="", nonce="n"`)
	f.Add(`Basic abc`)
	f.Add(`Digest username="\`)
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseDigest(in)
		if err != nil {
			return
		}
		if d.Username == "" || d.Realm == "" || d.Nonce == "" || d.URI == "" || d.Response == "" {
			t.Fatalf("accepted %q without a required field: %+v", in, d)
		}
		for _, v := range []string{d.Algorithm, d.QOP, d.NC} {
			if v != "" && !isToken(v) {
				return // formatDigest writes these unquoted
			}
		}
		out := formatDigest(d)
		if len(out) > maxDigestLen {
			return
		}
		again, err := ParseDigest(out)
		if err != nil || again != d {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", in, again, err, d)
		}
	})
}
