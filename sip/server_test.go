package sip

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestRegister(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ts := startServer(t, Config{}, robot(1))
			addr := ts.udp
			if network == "tcp" {
				addr = ts.tcp
			}
			c := dialClient(t, network, addr, "robot1")

			// no credentials: a challenge
			res := c.register("")
			expectStatus(t, res, 401)
			ch := challengeOf(t, res)
			if ch.Realm != "attendant" || ch.QOP != "auth" || ch.Algorithm != "MD5" {
				t.Fatalf("challenge: %+v", ch)
			}
			if strings.Contains(header(res, "WWW-Authenticate"), "stale") {
				t.Fatal("first challenge is stale")
			}

			res = c.register(testPassword, "Expires: 120")
			expectStatus(t, res, 200)
			if got := header(res, "Contact"); !strings.Contains(got, "sip:robot1@"+c.local) || !strings.Contains(got, "expires=120") {
				t.Fatalf("200 Contact = %q", got)
			}
			if header(res, "Server") != "attendant" || header(res, "Date") == "" {
				t.Fatalf("200 without Server or Date:\n%s", res)
			}
			b, ok := ts.Binding("dev-1")
			if !ok || !b.Registered || b.Username != "robot1" || b.SiteID != "site-1" ||
				b.Source != c.local || b.Transport != strings.ToUpper(network) || b.UserAgent != "raw-test/1.0" ||
				b.Contact != "sip:robot1@"+c.local {
				t.Fatalf("binding: %+v", b)
			}
			if left := time.Until(b.Expires); left < 110*time.Second || left > 121*time.Second {
				t.Fatalf("expires in %v, want 120 s", left)
			}
			if all := ts.Bindings(); len(all) != 1 || all[0].DeviceID != "dev-1" {
				t.Fatalf("Bindings: %+v", all)
			}

			// Expires above the maximum is cut to it, the contact parameter
			// wins over the header
			res = c.register(testPassword, "Expires: 30", "X-Pad: 1")
			expectStatus(t, res, 423)
			if header(res, "Min-Expires") != "60" {
				t.Fatalf("423 Min-Expires = %q", header(res, "Min-Expires"))
			}
			res = c.register(testPassword, "Expires: 99999")
			expectStatus(t, res, 200)
			if !strings.Contains(header(res, "Contact"), "expires=3600") {
				t.Fatalf("Contact = %q, want expires=3600", header(res, "Contact"))
			}

			// Expires: 0 unregisters
			res = c.register(testPassword, "Expires: 0")
			expectStatus(t, res, 200)
			if header(res, "Contact") != "" {
				t.Fatalf("Contact after unregister: %q", header(res, "Contact"))
			}
			if b, ok := ts.Binding("dev-1"); !ok || b.Registered {
				t.Fatalf("after unregister: %+v", b)
			}
			if !strings.Contains(ts.logs.String(), "sip device unregistered") {
				t.Fatal("unregister not logged")
			}
		})
	}
}

func TestRegisterContactForms(t *testing.T) {
	ts := startServer(t, Config{}, robot(1))
	c := dialClient(t, "udp", ts.udp, "robot1")
	ruri := "sip:" + ts.udp
	send := func(hdrs ...string) int {
		t.Helper()
		res := c.do(c.request("REGISTER", ruri, hdrs...))
		if res.StatusCode != 401 {
			return res.StatusCode
		}
		auth := "Authorization: " + c.answer(res, "REGISTER", ruri, testPassword)
		return c.do(c.request("REGISTER", ruri, append(hdrs, auth)...)).StatusCode
	}
	contact := "Contact: <sip:robot1@" + c.local + ">"
	tests := []struct {
		name string
		hdrs []string
		want int
		reg  bool
	}{
		{"contact expires parameter wins", []string{contact + ";expires=90", "Expires: 10"}, 200, true},
		{"default expiry", []string{contact}, 200, true},
		{"query without contact", nil, 200, true},
		{"wildcard needs Expires 0", []string{"Contact: *"}, 400, true},
		{"wildcard with others", []string{"Contact: *", contact, "Expires: 0"}, 400, true},
		{"wildcard unregisters", []string{"Contact: *", "Expires: 0"}, 200, false},
		{"too brief in parameter", []string{contact + ";expires=5"}, 423, false},
		{"unsupported extension", []string{contact, "Require: gruu"}, 420, false},
	}
	for _, tt := range tests {
		if got := send(tt.hdrs...); got != tt.want {
			t.Fatalf("%s: status %d, want %d", tt.name, got, tt.want)
		}
		if b, _ := ts.Binding("dev-1"); b.Registered != tt.reg {
			t.Fatalf("%s: registered %v, want %v", tt.name, b.Registered, tt.reg)
		}
	}
	b, _ := ts.Binding("dev-1")
	if left := time.Until(b.Expires); left > 0 {
		t.Fatalf("wildcard left %v", left)
	}
}

func TestRegisterRefusals(t *testing.T) {
	disabled := robot(2)
	disabled.Enabled = false
	noPass := robot(3)
	noPass.Password = ""
	ts := startServer(t, Config{FailLimit: 100}, robot(1), disabled, noPass)

	tests := []struct {
		name, user, pass string
		extra            []string
		want             int
	}{
		{"wrong password", "robot1", "wrong", nil, 403},
		{"unknown user", "nobody", testPassword, nil, 403},
		{"disabled device", "robot2", testPassword, nil, 403},
		{"device without password", "robot3", "", nil, 403},
		{"malformed credentials", "robot1", "", []string{`Authorization: Digest username="robot1", realm="attendant"`}, 400},
		{"credentials for another realm are ignored", "robot1", "", []string{`Authorization: Digest username="robot1", realm="other", nonce="n", uri="sip:x", response="r"`}, 401},
		{"basic auth is ignored", "robot1", "", []string{`Authorization: Basic cm9ib3QxOnMzY3JldA==`}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialClient(t, "udp", ts.udp, tt.user)
			ruri := "sip:" + ts.udp
			contact := "Contact: <sip:" + tt.user + "@" + c.local + ">"
			res := c.do(c.request("REGISTER", ruri, append([]string{contact}, tt.extra...)...))
			if tt.extra == nil {
				expectStatus(t, res, 401)
				auth := "Authorization: " + c.answer(res, "REGISTER", ruri, tt.pass)
				res = c.do(c.request("REGISTER", ruri, contact, auth))
			}
			expectStatus(t, res, tt.want)
		})
	}
	if all := ts.Bindings(); len(all) != 0 {
		t.Fatalf("refused REGISTERs made bindings: %+v", all)
	}

	t.Run("To is another device", func(t *testing.T) {
		c := dialClient(t, "udp", ts.udp, "robot1")
		ruri := "sip:" + ts.udp
		res := c.do(c.request("REGISTER", ruri))
		raw := c.request("REGISTER", ruri, "Contact: <sip:robot1@"+c.local+">",
			"Authorization: "+c.answer(res, "REGISTER", ruri, testPassword))
		raw = strings.Replace(raw, "To: <sip:robot1@", "To: <sip:robot2@", 1)
		expectStatus(t, c.do(raw), 403)
	})

	t.Run("directory down", func(t *testing.T) {
		ts.dir.mu.Lock()
		ts.dir.err = errors.New("database is down")
		ts.dir.mu.Unlock()
		defer func() { ts.dir.mu.Lock(); ts.dir.err = nil; ts.dir.mu.Unlock() }()
		c := dialClient(t, "udp", ts.udp, "robot1")
		res := c.register(testPassword)
		expectStatus(t, res, 503)
		if header(res, "Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	})
}

func TestRegisterStaleNonce(t *testing.T) {
	ts := startServer(t, Config{NonceTTL: time.Minute}, robot(1))
	c := dialClient(t, "udp", ts.udp, "robot1")
	ruri := "sip:" + ts.udp
	contact := "Contact: <sip:robot1@" + c.local + ">"
	sign := func(nonce, pass, nc string) string {
		d := Digest{Username: "robot1", Realm: "attendant", Nonce: nonce, URI: ruri, QOP: "auth", NC: nc, CNonce: "abc"}
		d.Response = digestResponse(d, "REGISTER", pass)
		return "Authorization: " + formatDigest(d)
	}
	other, _ := newNonces(nil, time.Minute)
	for _, tt := range []struct {
		name, nonce string
	}{
		{"expired nonce", ts.nonces.mint(time.Now().Add(-2 * time.Minute))},
		{"nonce of another server (restart)", other.mint(time.Now())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// right password: stale=true, so the client retries without asking
			res := c.do(c.request("REGISTER", ruri, contact, sign(tt.nonce, testPassword, "00000001")))
			expectStatus(t, res, 401)
			if !strings.Contains(header(res, "WWW-Authenticate"), "stale=true") {
				t.Fatalf("no stale=true: %s", header(res, "WWW-Authenticate"))
			}
			fresh := challengeOf(t, res).Nonce
			expectStatus(t, c.do(c.request("REGISTER", ruri, contact, sign(fresh, testPassword, "00000001"))), 200)
			// the same nonce count again is a replay: re-challenged
			res = c.do(c.request("REGISTER", ruri, contact, sign(fresh, testPassword, "00000001")))
			expectStatus(t, res, 401)
			// a higher one is fine
			expectStatus(t, c.do(c.request("REGISTER", ruri, contact, sign(fresh, testPassword, "00000002"))), 200)
			// wrong password with an old nonce: 403, nothing stale about it
			expectStatus(t, c.do(c.request("REGISTER", ruri, contact, sign(tt.nonce, "wrong", "00000001"))), 403)
		})
	}
}

func TestRegisterRateLimit(t *testing.T) {
	ts := startServer(t, Config{FailLimit: 2, FailWindow: time.Minute}, robot(1))
	c := dialClient(t, "udp", ts.udp, "robot1")
	for range 3 {
		expectStatus(t, c.register("wrong"), 403) // each: 401, then 403
	}
	// blocked: 403 at once, even without credentials and with the right password
	expectStatus(t, c.register(""), 403)
	expectStatus(t, c.register(testPassword), 403)
	// another address is not blocked
	other := dialClientFrom(t, "udp", "127.0.0.2", ts.udp, "robot1")
	expectStatus(t, other.register(testPassword), 200)
	logs := ts.logs.String()
	if n := strings.Count(logs, "level=WARN msg=\"sip source blocked"); n != 1 {
		t.Fatalf("%d WARN block lines, want 1:\n%s", n, logs)
	}
	if st := ts.Stats(); st.AuthFailures != 3 || st.Blocked != 2 || st.Registered != 1 {
		t.Fatalf("counters: %d failures (want 3), %d blocked (want 2), %d registered (want 1)", st.AuthFailures, st.Blocked, st.Registered)
	}
}

func TestNAT(t *testing.T) {
	ts := startServer(t, Config{}, robot(1))
	c := dialClient(t, "udp", ts.udp, "robot1")
	_, port, _ := net.SplitHostPort(c.local)
	// a robot behind NAT writes its private address into Via and Contact
	natted := func(raw string) string {
		raw = strings.Replace(raw, "Via: SIP/2.0/UDP "+c.local, "Via: SIP/2.0/UDP 10.1.2.3:5062", 1)
		return strings.Replace(raw, "Contact: <sip:robot1@"+c.local+">", "Contact: <sip:robot1@10.1.2.3:5062>", 1)
	}
	ruri := "sip:" + ts.udp
	res := c.do(natted(c.request("REGISTER", ruri, "Contact: <sip:robot1@"+c.local+">")))
	expectStatus(t, res, 401)
	via := res.Via()
	if got, _ := via.Params.Get("received"); got != "127.0.0.1" {
		t.Fatalf("received = %q", got)
	}
	if got, _ := via.Params.Get("rport"); got != port {
		t.Fatalf("rport = %q, want %s", got, port)
	}
	auth := "Authorization: " + c.answer(res, "REGISTER", ruri, testPassword)
	expectStatus(t, c.do(natted(c.request("REGISTER", ruri, "Contact: <sip:robot1@"+c.local+">", auth))), 200)
	b, _ := ts.Binding("dev-1")
	if b.Contact != "sip:robot1@10.1.2.3:5062" || b.Source != c.local {
		t.Fatalf("binding contact %q source %q; want the private contact and the real source %s", b.Contact, b.Source, c.local)
	}
}

func TestOptions(t *testing.T) {
	ts := startServer(t, Config{PublicAddr: "203.0.113.5:5080"})
	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": ts.udp, "tcp": ts.tcp}[network]
		c := dialClient(t, network, addr, "anyone")
		res := c.do(c.request("OPTIONS", "sip:"+addr, "Accept: application/sdp"))
		expectStatus(t, res, 200)
		if !strings.Contains(header(res, "Allow"), "INVITE") || !strings.Contains(header(res, "Allow"), "REGISTER") ||
			!strings.Contains(header(res, "Accept"), "application/sdp") || res.GetHeader("Supported") == nil {
			t.Fatalf("%s OPTIONS 200 lacks Allow, Accept or Supported:\n%s", network, res)
		}
		want := "<sip:203.0.113.5:5080>"
		if network == "tcp" {
			want = "<sip:203.0.113.5:5080;transport=tcp>"
		}
		if got := header(res, "Contact"); got != want {
			t.Fatalf("Contact = %q, want %q", got, want)
		}
	}
}

func TestInviteAndMessage(t *testing.T) {
	ts := startServer(t, Config{}, robot(1), robot(2))
	robotC := dialClient(t, "udp", ts.udp, "robot1")
	desk := "sip:desk@" + ts.udp
	sdp := []string{"Content-Type: application/sdp"}

	// not registered yet: refused, no call
	expectStatus(t, robotC.do(robotC.request("INVITE", desk, sdp...)), 403)
	expectStatus(t, robotC.do(robotC.request("MESSAGE", desk)), 403)
	stranger := dialClient(t, "udp", ts.udp, "intruder")
	expectStatus(t, stranger.do(stranger.request("INVITE", desk, sdp...)), 403)
	// no ACK sent: still no retransmission of the 403 (Timer G would resend
	// it after 500 ms), so a spoofed source gets one packet per INVITE
	if res, err := stranger.read(1200 * time.Millisecond); err == nil {
		t.Fatalf("403 retransmitted:\n%s", res)
	}

	expectStatus(t, robotC.register(testPassword), 200)
	// registered: a server without a call handler refuses calls (480), messages accepted
	expectStatus(t, robotC.do(robotC.request("INVITE", desk, sdp...)), 480)
	expectStatus(t, robotC.do(robotC.request("MESSAGE", desk, "Content-Type: application/json")), 200)
	// the same From user from another IP is not the registered robot
	spoof := dialClientFrom(t, "udp", "127.0.0.3", ts.udp, "robot1")
	expectStatus(t, spoof.do(spoof.request("INVITE", desk, sdp...)), 403)
	expectStatus(t, spoof.do(spoof.request("MESSAGE", desk)), 403)

	// over TCP a registered robot may call from a new connection (new port)
	tcpC := dialClient(t, "tcp", ts.tcp, "robot2")
	expectStatus(t, tcpC.register(testPassword), 200)
	tcpC2 := dialClient(t, "tcp", ts.tcp, "robot2")
	expectStatus(t, tcpC2.do(tcpC2.request("INVITE", desk, sdp...)), 480)

	expectStatus(t, robotC.do(robotC.request("BYE", desk)), 481)
	res := robotC.do(robotC.request("SUBSCRIBE", desk))
	expectStatus(t, res, 405)
	if !strings.Contains(header(res, "Allow"), "OPTIONS") {
		t.Fatalf("405 without Allow: %s", res)
	}
	logs := ts.logs.String()
	for _, want := range []string{"this server takes no calls", "sip message from device", "caller not registered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestRunLifecycle(t *testing.T) {
	s, err := NewServer(Config{Addr: "127.0.0.1:0"}, newFakeDirectory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, c := s.Addr()
	if u.(*net.UDPAddr).Port != c.(*net.TCPAddr).Port {
		t.Fatalf("udp %v and tcp %v on different ports", u, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, 5*time.Second, "OPTIONS answered", func() bool {
		conn, err := net.Dial("udp", u.String())
		if err != nil {
			return false
		}
		defer conn.Close()
		cl := &client{t: t, conn: conn, network: "udp", local: conn.LocalAddr().String(), server: u.String(), user: "x", callID: "lc"}
		if _, err := conn.Write([]byte(cl.request("OPTIONS", "sip:"+u.String()))); err != nil {
			return false
		}
		res, err := cl.read(200 * time.Millisecond)
		return err == nil && res.StatusCode == 200
	})
	if err := s.Run(ctx); !errors.Is(err, ErrRunTwice) {
		t.Fatalf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// the port is free again
	l, err := net.ListenPacket("udp", u.String())
	if err != nil {
		t.Fatalf("port still bound after Run: %v", err)
	}
	l.Close()

	// Close releases a server that never ran; Close stops a running one
	s2, err := NewServer(Config{Addr: "127.0.0.1:0"}, newFakeDirectory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s3, err := NewServer(Config{Addr: "127.0.0.1:0"}, newFakeDirectory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- s3.Run(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	_ = s3.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestNewServerErrors(t *testing.T) {
	dir := newFakeDirectory()
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"bad addr", Config{Addr: "nonsense"}},
		{"bad port", Config{Addr: "127.0.0.1:99999"}},
		{"realm with a quote", Config{Addr: "127.0.0.1:0", Realm: `a"b`}},
		{"min above max", Config{Addr: "127.0.0.1:0", MinExpires: time.Hour, MaxExpires: time.Minute}},
		{"bad public addr", Config{Addr: "127.0.0.1:0", PublicAddr: "a b:1"}},
		{"port taken", Config{Addr: busy.LocalAddr().String()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewServer(tt.cfg, dir, nil); err == nil {
				s.Close()
				t.Fatal("no error")
			}
		})
	}
	if _, err := NewServer(Config{Addr: "127.0.0.1:0"}, nil, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("nil directory: %v", err)
	}
}

func TestTCPLimits(t *testing.T) {
	ts := startServer(t, Config{MaxTCPConnsPerIP: 2, TCPIdleTimeout: 300 * time.Millisecond})
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ts.tcp)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// one over the per-IP limit: closed at once
	closedSoon := func(c net.Conn, within time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(within))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	if !closedSoon(conns[2], 2*time.Second) {
		t.Fatal("third connection from one IP stayed open")
	}
	// idle ones are closed after the idle timeout
	if !closedSoon(conns[0], 3*time.Second) {
		t.Fatal("idle connection stayed open")
	}
	// and then new connections are admitted again
	waitFor(t, 3*time.Second, "connection slots released", func() bool {
		c := dialClient(t, "tcp", ts.tcp, "x")
		_, err := c.conn.Write([]byte(c.request("OPTIONS", "sip:"+ts.tcp)))
		if err != nil {
			return false
		}
		res, err := c.read(time.Second)
		return err == nil && res.StatusCode == 200
	})
}

func TestContact(t *testing.T) {
	tests := []struct {
		name, host, public, ruri, transport, want string
	}{
		{"bound address", "127.0.0.1", "", "sip:x@192.0.2.1", "UDP", "<sip:127.0.0.1:5060>"},
		{"wildcard: where the peer sent it", "::", "", "sip:x@192.0.2.1:5070", "UDP", "<sip:192.0.2.1:5060>"},
		{"wildcard, IPv6 peer", "0.0.0.0", "", "sip:x@[2001:db8::1]", "TCP", "<sip:[2001:db8::1]:5060;transport=tcp>"},
		{"public address with port", "::", "203.0.113.5:5080", "sip:x@192.0.2.1", "UDP", "<sip:203.0.113.5:5080>"},
		{"public host only", "127.0.0.1", "sip.example.com", "sip:x@192.0.2.1", "UDP", "<sip:sip.example.com:5060>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newCore(Config{PublicAddr: tt.public}, newFakeDirectory(), nil)
			if err != nil {
				t.Fatal(err)
			}
			s.host, s.port = tt.host, "5060"
			var ruri sip.Uri
			if err := sip.ParseUri(tt.ruri, &ruri); err != nil {
				t.Fatal(err)
			}
			req := sip.NewRequest(sip.OPTIONS, ruri)
			req.SetTransport(tt.transport)
			if got := s.contact(req); got != tt.want {
				t.Fatalf("contact = %q, want %q", got, tt.want)
			}
		})
	}
}
