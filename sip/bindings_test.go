package sip

import (
	"testing"
	"time"
)

func TestRegistry(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dev := Device{ID: "d1", SiteID: "s1", Username: "robot1", Password: "secret", Enabled: true}
	c1 := contactReq{uri: "sip:robot1@10.0.0.1:5062", key: "sip:robot1@10.0.0.1:5062"}
	c2 := contactReq{uri: "sip:robot1@10.0.0.2:5062", key: "sip:robot1@10.0.0.2:5062"}
	with := func(c contactReq, d time.Duration) contactReq { c.expires = d; return c }
	upd := func(cseq uint32, nc uint64, at time.Time, cs ...contactReq) regUpdate {
		return regUpdate{
			dev: dev, callID: "call-1", cseq: cseq, nonce: "n1", nc: nc, hasNC: true, contacts: cs,
			source: "192.0.2.7:40000", transport: "UDP", userAgent: "robot/1.0", now: at,
		}
	}

	r := newRegistry()
	if _, ok := r.get("d1", t0); ok {
		t.Fatal("binding before any REGISTER")
	}
	prev, b, res := r.apply(upd(1, 1, t0, with(c1, time.Minute)))
	if res != regOK || prev.Registered || !b.Registered || b.Contact != c1.uri || b.Source != "192.0.2.7:40000" ||
		b.Transport != "UDP" || b.UserAgent != "robot/1.0" || b.SiteID != "s1" ||
		!b.Expires.Equal(t0.Add(time.Minute)) || !b.LastSeen.Equal(t0) {
		t.Fatalf("first register: %+v prev=%+v res=%v", b, prev, res)
	}
	if got, ok := r.get("d1", t0.Add(59*time.Second)); !ok || !got.Registered {
		t.Fatalf("before expiry: %+v", got)
	}
	if got, ok := r.get("d1", t0.Add(time.Minute)); !ok || got.Registered {
		t.Fatalf("at expiry still registered: %+v", got)
	}
	if got, ok := r.byUsername("robot1", t0); !ok || got.DeviceID != "d1" {
		t.Fatalf("byUsername: %+v %v", got, ok)
	}

	// a replayed request (same nonce and nonce count) changes nothing
	if _, _, res := r.apply(upd(2, 1, t0.Add(time.Second), with(c2, time.Hour))); res != regReplay {
		t.Fatalf("replay: res=%v", res)
	}
	// an older CSeq of the same Call-ID is out of order
	if _, _, res := r.apply(upd(1, 2, t0.Add(time.Second), with(c2, time.Hour))); res != regOutOfOrder {
		t.Fatalf("old CSeq: res=%v", res)
	}
	// a new contact replaces the old one
	prev, b, _ = r.apply(upd(2, 2, t0.Add(2*time.Second), with(c2, time.Hour)))
	if !prev.Registered || prev.Contact != c1.uri || b.Contact != c2.uri || !b.Expires.Equal(t0.Add(2*time.Second+time.Hour)) {
		t.Fatalf("refresh: %+v prev=%+v", b, prev)
	}
	// removing a contact that is not bound changes nothing
	_, b, _ = r.apply(upd(3, 3, t0.Add(3*time.Second), with(c1, 0)))
	if !b.Registered || b.Contact != c2.uri {
		t.Fatalf("remove other contact: %+v", b)
	}
	// a query (no contact) changes nothing
	if _, b, _ = r.apply(upd(4, 4, t0.Add(4*time.Second))); !b.Registered {
		t.Fatalf("query: %+v", b)
	}
	// Expires 0 for the bound contact unregisters, keeping what was seen
	prev, b, _ = r.apply(upd(5, 5, t0.Add(5*time.Second), with(c2, 0)))
	if !prev.Registered || b.Registered || b.Contact != c2.uri || !b.LastSeen.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("unregister: %+v prev=%+v", b, prev)
	}
	// after the registration ended, a reused Call-ID with a low CSeq is fine
	// (a robot that rebooted)
	if _, b, res = r.apply(upd(1, 6, t0.Add(6*time.Second), with(c1, time.Minute))); res != regOK || !b.Registered {
		t.Fatalf("re-register after reboot: %+v res=%v", b, res)
	}
	// wildcard unregisters whatever is bound
	u := upd(2, 7, t0.Add(7*time.Second))
	u.wildcard = true
	if _, b, _ = r.apply(u); b.Registered {
		t.Fatalf("wildcard: %+v", b)
	}

	// a changed SIP username moves the lookup
	dev.Username = "robot-one"
	u = upd(3, 8, t0.Add(8*time.Second), with(c1, time.Minute))
	u.dev = dev
	r.apply(u)
	if _, ok := r.byUsername("robot1", t0.Add(8*time.Second)); ok {
		t.Fatal("old username still maps to the device")
	}
	if b, ok := r.byUsername("robot-one", t0.Add(8*time.Second)); !ok || !b.Registered {
		t.Fatalf("new username: %+v %v", b, ok)
	}

	r.apply(regUpdate{dev: Device{ID: "a0", Username: "x"}, contacts: []contactReq{with(c1, time.Minute)}, now: t0})
	all := r.all(t0.Add(8 * time.Second))
	if len(all) != 2 || all[0].DeviceID != "a0" || all[1].DeviceID != "d1" {
		t.Fatalf("all: %+v", all)
	}
}

func TestFailLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := newFailLimiter(2, time.Minute)
	for i := range 2 {
		if l.fail("192.0.2.1", t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("failure %d crossed a limit of 2", i+1)
		}
	}
	if l.blocked("192.0.2.1", t0.Add(2*time.Second)) {
		t.Fatal("blocked at the limit")
	}
	if !l.fail("192.0.2.1", t0.Add(3*time.Second)) {
		t.Fatal("third failure did not cross the limit")
	}
	if l.fail("192.0.2.1", t0.Add(4*time.Second)) {
		t.Fatal("crossed twice in one block")
	}
	if !l.blocked("192.0.2.1", t0.Add(62*time.Second)) || l.blocked("192.0.2.2", t0.Add(5*time.Second)) {
		t.Fatal("block is not per IP or ended early")
	}
	if l.blocked("192.0.2.1", t0.Add(3*time.Second+time.Minute)) {
		t.Fatal("still blocked after the window")
	}
	// failures spread wider than the window never block
	l2 := newFailLimiter(2, time.Minute)
	for i := range 10 {
		if l2.fail("192.0.2.3", t0.Add(time.Duration(i)*40*time.Second)) {
			t.Fatalf("slow failures blocked at %d", i)
		}
	}
	l.sweep(t0.Add(time.Hour))
	l2.sweep(t0.Add(time.Hour))
	if len(l.ips)+len(l2.ips) != 0 {
		t.Fatalf("sweep left %d entries", len(l.ips)+len(l2.ips))
	}
	if off := newFailLimiter(-1, time.Minute); off.fail("x", t0) || off.blocked("x", t0) {
		t.Fatal("disabled limiter blocks")
	}
}
