package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives the tests: every
// listener, connection and transaction must be gone once Run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testPassword is every fake device's password; no log line may contain it.
const testPassword = "s3cret-Pa55"

// fakeDirectory is a Directory over a map.
type fakeDirectory struct {
	mu   sync.Mutex
	devs map[string]Device
	err  error // returned for every lookup when set
}

func newFakeDirectory(devs ...Device) *fakeDirectory {
	d := &fakeDirectory{devs: make(map[string]Device)}
	for _, dev := range devs {
		d.devs[dev.Username] = dev
	}
	return d
}

func (d *fakeDirectory) DeviceBySIPUser(ctx context.Context, username string) (Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return Device{}, d.err
	}
	dev, ok := d.devs[username]
	if !ok {
		return Device{}, fmt.Errorf("device %q: %w", username, ErrUnknownDevice)
	}
	return dev, ctx.Err()
}

func robot(n int) Device {
	return Device{
		ID: "dev-" + strconv.Itoa(n), SiteID: "site-1", Username: "robot" + strconv.Itoa(n),
		Password: testPassword, Enabled: true,
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testServer struct {
	*Server
	logs     *logBuffer
	dir      *fakeDirectory
	udp, tcp string // addresses
}

// startServer runs a server on 127.0.0.1 port 0 until the test ends, then
// checks that Run returned nil and that nothing secret was logged.
func startServer(t *testing.T, cfg Config, devs ...Device) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := newFakeDirectory(devs...)
	s, err := NewServer(cfg, dir, log)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		out := logs.String()
		for _, secret := range []string{testPassword, "response=", "Authorization"} {
			if strings.Contains(out, secret) {
				t.Errorf("log contains %q:\n%s", secret, out)
			}
		}
		if t.Failed() || os.Getenv("SIP_TEST_LOG") != "" {
			t.Logf("server log:\n%s", out)
		}
	})
	u, c := s.Addr()
	return &testServer{Server: s, logs: logs, dir: dir, udp: u.String(), tcp: c.String()}
}

// client is a SIP peer on a raw socket that writes requests by hand, to
// test exactly what goes over the wire.
type client struct {
	t       *testing.T
	conn    net.Conn
	network string
	local   string // ip:port
	server  string
	user    string
	callID  string
	cseq    int
	tag     string
	ua      string
}

func dialClient(t *testing.T, network, server, user string) *client {
	return dialClientFrom(t, network, "127.0.0.1", server, user)
}

// dialClientFrom binds the client to a local IP (any of 127.0.0.0/8).
func dialClientFrom(t *testing.T, network, localIP, server, user string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if network == "udp" {
		d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(localIP)}
	} else {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	conn, err := d.Dial(network, server)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, server, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{
		t: t, conn: conn, network: network, local: conn.LocalAddr().String(), server: server,
		user: user, callID: "call-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@test",
		tag: "tag" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10), ua: "raw-test/1.0",
	}
}

// request writes a request with the usual headers plus extra ones (each
// "Name: value"), CSeq counting up per client.
func (c *client) request(method, ruri string, extra ...string) string {
	c.cseq++
	host, port, _ := net.SplitHostPort(c.local)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s:%s;branch=z9hG4bK%d%d;rport\r\n",
		strings.ToUpper(c.network), host, port, time.Now().UnixNano(), c.cseq)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", c.user, c.server, c.tag)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", c.user, c.server)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nUser-Agent: %s\r\n", c.callID, c.cseq, method, c.ua)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// do sends raw and returns the first final response.
func (c *client) do(raw string) *sip.Response {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(raw)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	for {
		res, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("no response to\n%s\nerror: %v", firstLine(raw), err)
		}
		if res.StatusCode >= 200 {
			return res
		}
	}
}

func (c *client) read(timeout time.Duration) (*sip.Response, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65536)
	if c.network == "udp" {
		n, err := c.conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return parseResponse(buf[:n])
	}
	// TCP: read until a whole message without body (our responses have none)
	var got []byte
	for !bytes.Contains(got, []byte("\r\n\r\n")) {
		n, err := c.conn.Read(buf)
		if err != nil {
			return nil, err
		}
		got = append(got, buf[:n]...)
	}
	return parseResponse(got)
}

func parseResponse(b []byte) (*sip.Response, error) {
	msg, err := sip.ParseMessage(b)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", b, err)
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return nil, errors.New("not a response")
	}
	return res, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// register sends REGISTER with the given Contact expiry headers; with
// password set it answers the challenge of the first attempt.
func (c *client) register(password string, extra ...string) *sip.Response {
	c.t.Helper()
	ruri := "sip:" + c.server
	contact := "Contact: <sip:" + c.user + "@" + c.local + ">"
	res := c.do(c.request("REGISTER", ruri, append([]string{contact}, extra...)...))
	if res.StatusCode != 401 || password == "" {
		return res
	}
	auth := c.answer(res, "REGISTER", ruri, password)
	return c.do(c.request("REGISTER", ruri, append([]string{contact, "Authorization: " + auth}, extra...)...))
}

// answer computes an Authorization value for a 401 challenge.
func (c *client) answer(res *sip.Response, method, ruri, password string) string {
	c.t.Helper()
	ch := challengeOf(c.t, res)
	d := Digest{
		Username: c.user, Realm: ch.Realm, Nonce: ch.Nonce, URI: ruri, Algorithm: "MD5",
		QOP: "auth", NC: "00000001", CNonce: "c" + strconv.Itoa(c.cseq),
	}
	d.Response = digestResponse(d, method, password)
	return formatDigest(d)
}

// challengeOf parses the WWW-Authenticate header of a 401 (the parameters
// are those of an Authorization header, so ParseDigest reads them after
// filling in the fields a challenge lacks).
func challengeOf(t *testing.T, res *sip.Response) Digest {
	t.Helper()
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatalf("%d without WWW-Authenticate", res.StatusCode)
	}
	d, err := ParseDigest(h.Value() + `, username="x", uri="x", response="x", cnonce="x", nc=00000001`)
	if err != nil {
		t.Fatalf("challenge %q: %v", h.Value(), err)
	}
	return d
}

func header(res *sip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func expectStatus(t *testing.T, res *sip.Response, code int) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status %d %s, want %d\n%s", res.StatusCode, res.Reason, code, res.String())
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
