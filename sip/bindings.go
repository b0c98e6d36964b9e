package sip

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Binding is a device's registration as the registrar last saw it.
type Binding struct {
	DeviceID, SiteID, Username string
	// Contact is the URI the device registered, as it sent it.
	Contact string
	// Source is the ip:port the REGISTER really came from (behind NAT this
	// differs from Contact); requests to the device go there.
	Source    string
	Transport string // "UDP" or "TCP"
	UserAgent string
	// Expires is when the registration ends (or ended).
	Expires time.Time
	// LastSeen is the time of the last authenticated REGISTER.
	LastSeen time.Time
	// Registered is false once Expires has passed or the device
	// unregistered.
	Registered bool
}

// registry holds one binding per device, behind a mutex: REGISTERs arrive
// on many goroutines and are short.
type registry struct {
	mu       sync.Mutex
	byDevice map[string]*record
	byUser   map[string]string // SIP username → device id
}

type record struct {
	b          Binding // Registered is computed on the way out
	contactKey string
	callID     string
	cseq       uint32
	// last nonce and nonce count accepted, so that a captured REGISTER
	// cannot be replayed while its nonce is fresh
	nonce string
	nc    uint64
}

// contactReq is one Contact of a REGISTER, expiry already settled.
type contactReq struct {
	uri, key string
	expires  time.Duration // 0: remove
}

type regUpdate struct {
	dev       Device
	callID    string
	cseq      uint32
	nonce     string
	nc        uint64
	hasNC     bool
	wildcard  bool         // Contact: * with Expires: 0
	contacts  []contactReq // none: a query
	source    string
	transport string
	userAgent string
	now       time.Time
}

type regResult int

const (
	regOK         regResult = iota
	regReplay               // nonce count not above the last one: re-challenge
	regOutOfOrder           // same Call-ID, CSeq not above the last one
)

func newRegistry() *registry {
	return &registry{byDevice: make(map[string]*record), byUser: make(map[string]string)}
}

// apply performs an authenticated REGISTER. It returns the binding before
// and after it.
func (r *registry) apply(u regUpdate) (prev, b Binding, res regResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.byDevice[u.dev.ID]
	if rec != nil {
		prev = rec.out(u.now)
		if u.hasNC && rec.nonce == u.nonce && u.nc <= rec.nc {
			return prev, prev, regReplay
		}
		// RFC 3261 section 10.3 step 7; only while registered, so a robot that
		// reboots with the same Call-ID is not locked out for long
		if prev.Registered && rec.callID == u.callID && u.cseq <= rec.cseq {
			return prev, prev, regOutOfOrder
		}
	} else {
		rec = &record{}
		r.byDevice[u.dev.ID] = rec
	}
	if rec.b.Username != "" && rec.b.Username != u.dev.Username && r.byUser[rec.b.Username] == u.dev.ID {
		delete(r.byUser, rec.b.Username) // the device's SIP username changed
	}
	r.byUser[u.dev.Username] = u.dev.ID
	rec.b.DeviceID, rec.b.SiteID, rec.b.Username = u.dev.ID, u.dev.SiteID, u.dev.Username
	rec.b.LastSeen = u.now
	rec.callID, rec.cseq = u.callID, u.cseq
	if u.hasNC {
		rec.nonce, rec.nc = u.nonce, u.nc
	}
	if u.wildcard && rec.b.Expires.After(u.now) {
		rec.b.Expires = u.now
	}
	for _, c := range u.contacts {
		switch {
		case c.expires > 0:
			rec.contactKey, rec.b.Contact = c.key, c.uri
			rec.b.Source, rec.b.Transport, rec.b.UserAgent = u.source, u.transport, u.userAgent
			rec.b.Expires = u.now.Add(c.expires)
		case c.key == rec.contactKey && rec.b.Expires.After(u.now):
			rec.b.Expires = u.now
		}
	}
	return prev, rec.out(u.now), regOK
}

func (rec *record) out(now time.Time) Binding {
	b := rec.b
	b.Registered = b.Expires.After(now)
	return b
}

func (r *registry) get(deviceID string, now time.Time) (Binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.byDevice[deviceID]
	if rec == nil {
		return Binding{}, false
	}
	return rec.out(now), true
}

func (r *registry) byUsername(username string, now time.Time) (Binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.byDevice[r.byUser[username]]
	if rec == nil {
		return Binding{}, false
	}
	return rec.out(now), true
}

func (r *registry) all(now time.Time) []Binding {
	r.mu.Lock()
	out := make([]Binding, 0, len(r.byDevice))
	for _, rec := range r.byDevice {
		out = append(out, rec.out(now))
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Binding) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	return out
}
