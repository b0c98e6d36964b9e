package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attendant test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestTLS: a robot played by a sipgo user agent over TLS (sipp 3.6.1 from
// Debian is built without TLS) registers with digest, calls in (we answer,
// then hang up: the BYE comes back on its TLS connection), takes a
// MESSAGE, and gets called by Dial.
func TestTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	answered := make(chan *Call, 1)
	rec := newCallRecorder(func(ctx context.Context, c *Call) {
		if c.Answer(ctx) == nil {
			answered <- c
		}
		<-ctx.Done()
	})
	ts := startServer(t, Config{Calls: rec, TLSAddr: "127.0.0.1:0", TLSCert: certPath, TLSKey: keyPath}, robot(1))
	server := ts.TLSAddr().String()

	// the robot
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("robot1"),
		sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	robotSrv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	byes := make(chan struct{}, 4)
	messages := make(chan string, 4)
	robotSrv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		byes <- struct{}{}
	})
	robotSrv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		messages <- string(req.Body())
	})
	robotSrv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 200, "OK", sdpOf("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-",
			"c=IN IP4 127.0.0.1", "t=0 0", "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"))
		res.To().Params.Add("tag", "robot-tag")
		res.AppendHeader(sip.NewHeader("Contact", "<sip:robot1@127.0.0.1:5999;transport=tls>"))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		_ = tx.Respond(res)
	})
	robotSrv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	uri := func(s string) sip.Uri {
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	contact := "<sip:robot1@127.0.0.1:5999;transport=tls>"

	// REGISTER with digest
	reg := sip.NewRequest(sip.REGISTER, uri("sip:"+server+";transport=tls"))
	regFrom := &sip.FromHeader{Address: uri("sip:robot1@" + server), Params: sip.NewParams()}
	regFrom.Params.Add("tag", "reg1")
	reg.AppendHeader(regFrom)
	reg.AppendHeader(&sip.ToHeader{Address: uri("sip:robot1@" + server)})
	reg.AppendHeader(sip.NewHeader("Contact", contact))
	reg.AppendHeader(sip.NewHeader("Expires", "120"))
	reg.SetTransport("TLS")
	res, err := cli.Do(ctx, reg)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	res, err = cli.DoDigestAuth(ctx, reg, res, sipgo.DigestAuth{Username: "robot1", Password: testPassword})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER with digest: %v %v", res, err)
	}
	b, _ := ts.Binding("dev-1")
	if !b.Registered || !strings.EqualFold(b.Transport, "tls") {
		t.Fatalf("binding over TLS: %+v", b)
	}

	// a call from the robot, hung up by us
	dua := &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{Address: uri("sip:robot1@127.0.0.1:5999;transport=tls")}}
	inv := sip.NewRequest(sip.INVITE, uri("sip:desk@"+server+";transport=tls"))
	invFrom := &sip.FromHeader{Address: uri("sip:robot1@" + server), Params: sip.NewParams()}
	invFrom.Params.Add("tag", "inv1")
	inv.AppendHeader(invFrom)
	inv.AppendHeader(&sip.ToHeader{Address: uri("sip:desk@" + server)})
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(sdpOf("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		"m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"))
	inv.SetTransport("TLS")
	dlg, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatalf("INVITE: %v", err)
	}
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("INVITE answer: %v", err)
	}
	if ct := dlg.InviteResponse.Contact(); ct == nil || !strings.Contains(ct.Value(), "transport=tls") ||
		!strings.Contains(ct.Value(), server) {
		t.Fatalf("our Contact over TLS: %v", dlg.InviteResponse.Contact())
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	var c *Call
	select {
	case c = <-answered:
	case <-ctx.Done():
		t.Fatal("call not answered")
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatalf("Hangup over TLS: %v", err)
	}
	<-byes
	waitDone(t, c, EndLocalBye)

	// a MESSAGE to the robot, on its TLS connection
	if status, err := ts.SendMessage(ctx, "dev-1", "application/json", []byte(`{"tls":true}`)); err != nil || status != 200 {
		t.Fatalf("SendMessage over TLS: %d %v", status, err)
	}
	if got := <-messages; got != `{"tls":true}` {
		t.Fatalf("message %q", got)
	}

	// and a call to the robot
	out, err := ts.Dial(ctx, "dev-1", nil)
	if err != nil {
		t.Fatalf("Dial over TLS: %v", err)
	}
	if err := out.Hangup(ctx); err != nil {
		t.Fatalf("Hangup of the dialled call: %v", err)
	}
	<-byes
	waitDone(t, out, EndLocalBye)
}
