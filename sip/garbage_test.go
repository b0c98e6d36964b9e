package sip

import (
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestGarbage throws junk at both transports: nothing crashes, nothing
// secret is logged (startServer checks), valid requests are still
// answered, and the goroutines go back to where they were.
func TestGarbage(t *testing.T) {
	ts := startServer(t, Config{TCPIdleTimeout: 2 * time.Second}, robot(1))
	ping := func(network, addr string) {
		t.Helper()
		c := dialClient(t, network, addr, "robot1")
		expectStatus(t, c.do(c.request("OPTIONS", "sip:"+addr)), 200)
		c.conn.Close()
	}
	ping("udp", ts.udp)
	ping("tcp", ts.tcp)
	runtime.GC()
	baseline := runtime.NumGoroutine()

	c := dialClient(t, "udp", ts.udp, "robot1")
	register := c.request("REGISTER", "sip:"+ts.udp, "Contact: <sip:robot1@"+c.local+">",
		`Authorization: Digest username="robot1", realm="attendant", nonce="abc", uri="sip:x", response="0123456789abcdef0123456789abcdef"`)
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	junk := [][]byte{
		random(1), random(17), random(1400), random(60000),
		[]byte("\r\n\r\n"), []byte("\x00\x00\x00"),
		[]byte(register[:strings.Index(register, "response=")+15]),                         // truncated inside Authorization
		[]byte(strings.Replace(register, "Content-Length: 0", "Content-Length: 99999", 1)), // body never comes
		[]byte(strings.Replace(register, "CSeq: 1 REGISTER", "CSeq: -1 REGISTER", 1)),
		[]byte(strings.Replace(register, "Via: ", "Xia: ", 1)), // no Via
		[]byte(strings.Replace(register, "SIP/2.0\r\n", "SIP/9.9\r\n", 1)),
		[]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nX-Big: " + strings.Repeat("a", 70000) + "\r\n\r\n"),
		[]byte("INVITE sip:x SIP/2.0\r\n" + strings.Repeat("Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n", 2000) + "\r\n"),
		[]byte("OPTIONS sip:x SIP/2.0\r\nContact: <sip:a@b;" + strings.Repeat(";p", 3000) + ">\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnope\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\n\r\n"), // a stray response
	}

	udp, err := net.Dial("udp", ts.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, j := range junk {
		if len(j) > 65000 {
			j = j[:65000]
		}
		_, _ = udp.Write(j) // a too-big datagram may be refused locally; fine
	}

	var wg sync.WaitGroup
	for i, j := range junk {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", ts.tcp)
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write(j)
			if i%2 == 0 {
				// half of them hang up at once, the others wait to be dropped
				// (bad framing) or to time out (incomplete message)
				return
			}
			_, _ = conn.Read(make([]byte, 4096))
		}()
	}
	// a slow sender trickling a header never completes a message
	slow, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	for range 3 {
		if _, err := slow.Write([]byte("X")); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()

	ping("udp", ts.udp)
	ping("tcp", ts.tcp)
	if b, _ := ts.Binding("dev-1"); b.Registered {
		t.Fatal("garbage registered the device")
	}
	slow.Close()
	waitFor(t, 10*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= baseline+2
	})
}

// fakeTx records responses instead of sending them.
type fakeTx struct {
	mu   sync.Mutex
	sent []*sip.Response
	done chan struct{}
}

func (tx *fakeTx) Terminate()                         {}
func (tx *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (tx *fakeTx) Done() <-chan struct{}              { return tx.done }
func (tx *fakeTx) Err() error                         { return nil }
func (tx *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (tx *fakeTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (tx *fakeTx) Respond(res *sip.Response) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.sent = append(tx.sent, res)
	return nil
}

var _ sip.ServerTransaction = (*fakeTx)(nil)

// FuzzHandlers feeds whatever sipgo parses into our request handlers: every
// request gets exactly one final response, and nothing panics.
func FuzzHandlers(f *testing.F) {
	s, err := newCore(Config{FailLimit: -1}, newFakeDirectory(robot(1)), nil)
	if err != nil {
		f.Fatal(err)
	}
	s.host, s.port = "127.0.0.1", "5060"
	c := &client{network: "udp", local: "127.0.0.1:5062", server: "127.0.0.1:5060", user: "robot1", callID: "fuzz"}
	contact := "Contact: <sip:robot1@127.0.0.1:5062>"
	d := Digest{Username: "robot1", Realm: "attendant", Nonce: s.nonces.mint(time.Now()), URI: "sip:127.0.0.1:5060",
		QOP: "auth", NC: "00000001", CNonce: "x"}
	d.Response = digestResponse(d, "REGISTER", testPassword)
	for _, seed := range []string{
		c.request("REGISTER", "sip:127.0.0.1:5060", contact),
		c.request("REGISTER", "sip:127.0.0.1:5060", contact+";expires=0", "Authorization: "+formatDigest(d)),
		c.request("REGISTER", "sip:127.0.0.1:5060", "Contact: *", "Expires: 0", "Authorization: "+formatDigest(d)),
		c.request("INVITE", "sip:desk@127.0.0.1:5060", contact),
		c.request("MESSAGE", "sip:desk@127.0.0.1:5060"),
		c.request("OPTIONS", "sip:127.0.0.1:5060", "Require: x"),
		c.request("BYE", "sip:desk@127.0.0.1:5060"),
		c.request("PUBLISH", "sips:desk@[::1]:5061;transport=tls"),
	} {
		f.Add([]byte(seed))
	}
	handlers := map[sip.RequestMethod]func(*sip.Request, sip.ServerTransaction){
		sip.REGISTER: s.handleRegister, sip.OPTIONS: s.handleOptions, sip.INVITE: s.handleInvite,
		sip.MESSAGE: s.handleMessage, sip.BYE: s.handleNoDialog, sip.CANCEL: s.handleNoDialog,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Via() == nil || req.CSeq() == nil || req.IsAck() {
			return // sipgo's transaction layer answers these itself (400) or not at all
		}
		req.SetSource("127.0.0.1:5062")
		req.SetTransport("UDP")
		h := handlers[req.Method]
		if h == nil {
			h = s.handleUnknown
		}
		tx := &fakeTx{done: make(chan struct{})}
		s.handle(h)(req, tx)
		if len(tx.sent) != 1 || tx.sent[0].StatusCode < 200 || tx.sent[0].StatusCode > 699 {
			t.Fatalf("%s got %d responses: %v", req.Method, len(tx.sent), tx.sent)
		}
		if tx.sent[0].Reason == "Server Internal Error" { // what handle answers to a panic
			t.Fatalf("%s: handler panicked", req.Method)
		}
		_ = tx.sent[0].String()
	})
}
