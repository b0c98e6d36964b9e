package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// handleInvite routes an INVITE: in-dialog ones (re-INVITEs) to their
// call, new ones from registered devices to the call handler; anyone
// else gets 403.
func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// match the dialog first: sipgo's ReadInvite would make a second call of a hold
		s.inDialog(req, tx)
		return
	}
	b, ok := s.registeredCaller(req)
	if !ok {
		// Debug: SIP scanners send these by the thousand
		s.log.Debug("sip call refused: caller not registered", logAttrs(req)...)
		s.respond(req, tx, 403, "Forbidden")
		// no retransmissions of the 403 until an ACK: over UDP a spoofed
		// source would get about ten of them for one INVITE. A caller that
		// lost the 403 retransmits its INVITE and gets a new one.
		tx.Terminate()
		return
	}
	if s.cfg.Calls == nil {
		s.log.Info("sip call from device refused: this server takes no calls (no call handler configured)",
			append(logAttrs(req), "device", b.DeviceID)...)
		s.respond(req, tx, 480, "Temporarily Unavailable")
		return
	}
	s.newCall(req, tx, b)
}

// newCall sets a call up and blocks until the INVITE has its final
// response: sipgo ends the transaction when the handler returns.
func (s *Server) newCall(req *sip.Request, tx sip.ServerTransaction, b Binding) {
	log := s.log.With("device", b.DeviceID, "sip_call_id", callIDOf(req))
	if err := tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil)); err != nil {
		return
	}
	st, tooSmall := s.negotiateTimer(req)
	if tooSmall {
		log.Info("sip call refused: session interval too small", "session_expires", clip(firstHeader(req, "Session-Expires", "x"), 32))
		s.respondTooSmall(req, tx)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.LookupTimeout)
	dev, err := s.dir.DeviceBySIPUser(ctx, b.Username)
	cancel()
	switch {
	case errors.Is(err, ErrUnknownDevice):
		log.Info("sip call refused: device no longer exists")
		s.respond(req, tx, 403, "Forbidden")
		return
	case err != nil:
		log.Error("sip device lookup failed", "error", err)
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	case !dev.Enabled:
		log.Info("sip call refused: device disabled")
		s.respond(req, tx, 403, "Forbidden")
		return
	}
	dev.Password = "" // the handler has no use for it
	if ct := req.ContentType(); len(req.Body()) > 0 && (ct == nil || !strings.EqualFold(mediaType(ct.Value()), "application/sdp")) {
		s.respond(req, tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
		return
	}
	o, err := parseOffer(req.Body())
	if err != nil {
		var oe *offerError
		errors.As(err, &oe)
		log.Info("sip call refused: sdp offer", "status", oe.code, "error", err)
		if oe.code == 488 {
			s.respond(req, tx, 488, "Not Acceptable Here", warningHeader(oe.warning))
		} else {
			s.respond(req, tx, 400, "Bad Request")
		}
		return
	}
	localIP := s.localIP(req)
	c := &Call{
		s: s, id: uuid.NewString(), dev: dev, from: clip(req.From().Address.User, 64), codec: o.codec,
		tx: tx, offer: o, sdpIP: s.sdpIP(localIP), session: uint64(time.Now().UnixNano() / 1000),
		cmds: make(chan callCmd), reqs: make(chan inDialogReq), acks: make(chan *sip.Request, 4),
		cancelled: make(chan struct{}), final: make(chan struct{}), done: make(chan struct{}),
		events: make(chan CallEvent, eventQueueLen), refreshed: make(chan refreshResult, 1),
		timeoutRTP: s.cfg.RTPTimeout, checkRTPDur: time.Second, stOffer: st,
	}
	c.log = log.With("call", c.id)
	if c.timeoutRTP > 0 {
		c.checkRTPDur = min(max(c.timeoutRTP/5, 50*time.Millisecond), time.Second)
	}
	bindIP := netip.IPv4Unspecified()
	if ip, err := netip.ParseAddr(s.host); err == nil {
		bindIP = ip
	}
	c.media, err = newRTPSession(bindIP, s.cfg.RTPPortMin, s.cfg.RTPPortMax, o.codec, s.cfg.RTCPInterval, c.log, c.emit)
	if err != nil {
		log.Error("sip call refused: no rtp port", "error", err)
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	if ip, err := netip.ParseAddr(hostOf(req.Source())); err == nil {
		c.media.allow(ip) // symmetric RTP from the signalling address (NAT)
	}
	c.media.setRemote(o.addr)
	c.media.setRTCPRemote(o, o.rtcpMux)

	var contact sip.ContactHeader
	if _, err := sip.ParseAddressValue(strings.Trim(s.contact(req), "<>"), &contact.Address, &contact.Params); err != nil {
		c.media.close()
		s.respond(req, tx, 500, "Server Internal Error")
		return
	}
	ua := &sipgo.DialogUA{Client: s.client, ContactHDR: contact, RewriteContact: true}
	c.dlg, err = ua.ReadInvite(req, tx)
	if err != nil {
		c.media.close()
		log.Info("sip call refused: bad INVITE", "error", err)
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	c.invite = c.dlg.InviteRequest
	c.dlgs, c.key = c.dlg, c.dlg.ID
	if ct := req.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	} else {
		c.target = sip.Uri{Scheme: "sip", User: req.From().Address.User, Host: hostOf(req.Source())}
	}
	if !tx.OnCancel(func(*sip.Request) {
		// runs inside the transaction's state machine: only signal
		c.cancelOne.Do(func() { close(c.cancelled) })
	}) {
		c.media.close()
		return // cancelled or gone before we got here
	}

	// the call's lifetime is bounded by the server's, not by this handler
	c.hctx, c.hstop = context.WithCancel(s.ctx)
	if !s.addCall(c) {
		c.hstop()
		c.media.close()
		s.respond(req, tx, 503, "Service Unavailable")
		return
	}
	c.log.Info("sip call from device", "codec", o.codec.Name, "payload_type", o.codec.PayloadType,
		"dtmf", o.codec.DTMFPayloadType, "rtp_local", c.media.local.String(), "rtp_remote", o.addr.String())
	go func() {
		defer s.callOwners.Done()
		c.run(s.ctx)
	}()
	go func() {
		defer s.callHandlers.Done()
		s.runHandler(c)
	}()
	<-c.final
}

// runHandler calls the handler and ends the call when it returns.
func (s *Server) runHandler(c *Call) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("sip call handler panicked", "panic", r, "stack", string(debug.Stack()))
		}
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		_ = c.Hangup(ctx)
	}()
	s.cfg.Calls.IncomingCall(c.hctx, c)
}

// inDialog hands a BYE or re-INVITE to its call.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) {
	c := s.callFor(req)
	if c == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	r := inDialogReq{req: req, tx: tx, done: make(chan struct{})}
	select {
	case c.reqs <- r:
		<-r.done
	case <-c.done:
		if req.Method == sip.BYE {
			s.respond(req, tx, 200, "OK") // both hung up at once
			return
		}
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
	}
}

// handleBye takes BYEs and UPDATEs: in a call's dialog, or 481.
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	s.inDialog(req, tx)
}

// handleAck passes the ACK of a 2xx to its call; stray ACKs need no answer.
func (s *Server) handleAck(req *sip.Request, _ sip.ServerTransaction) {
	c := s.callFor(req)
	if c == nil {
		return
	}
	select {
	case c.acks <- req:
	default: // a burst of retransmitted ACKs: one is enough
	}
}

func (s *Server) callFor(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	return s.calls[id]
}

// addCall registers a call by dialog id; false once the server stops.
func (s *Server) addCall(c *Call) bool {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if s.callsClosed || s.ctx.Err() != nil {
		return false
	}
	s.calls[c.key] = c
	s.callOwners.Add(1)
	if c.out {
		s.counters.callsOut++
	} else {
		s.counters.callsIn++
		s.callHandlers.Add(1)
	}
	return true
}

// removeCall forgets an ended call and adds it to the counters.
func (s *Server) removeCall(c *Call) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	if s.calls[c.key] == c {
		delete(s.calls, c.key)
		s.countEndedLocked(c)
	}
}

// stopCalls ends every call (s.ctx has ended: each call sends 503 or BYE)
// and waits for their goroutines, while the sockets are still open.
func (s *Server) stopCalls() {
	s.callsMu.Lock()
	s.callsClosed = true
	s.callsMu.Unlock()
	s.callOwners.Wait()
}

// localIP is the IP of ours the robot reached: the listener's, or on a
// wildcard listener the one the kernel routes to the robot from.
func (s *Server) localIP(req *sip.Request) netip.Addr {
	return s.localIPFor(req.Source())
}

// localIPFor is localIP for a peer at addr (host:port).
func (s *Server) localIPFor(addr string) netip.Addr {
	if ip, err := netip.ParseAddr(s.host); err == nil && !ip.IsUnspecified() {
		return ip
	}
	// no packet is sent: connecting a UDP socket only picks a route
	if conn, err := net.Dial("udp", addr); err == nil {
		defer conn.Close()
		if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				return ip.Unmap()
			}
		}
	}
	return netip.IPv4Unspecified()
}

// sdpIP is the address in our SDP: PublicAddr's when it is an IP.
func (s *Server) sdpIP(local netip.Addr) netip.Addr {
	if s.cfg.PublicAddr != "" {
		h, _, _ := splitHostPortDefault(s.cfg.PublicAddr)
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip
		}
	}
	return local
}

// mediaType returns the type/subtype of a Content-Type value.
func mediaType(v string) string {
	t, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(t)
}

func callIDOf(req *sip.Request) string {
	if id := req.CallID(); id != nil {
		return clip(string(*id), 128)
	}
	return ""
}
