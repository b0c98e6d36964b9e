package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028): the refresher re-INVITEs (or UPDATEs) the
// call every half interval; when the interval ends without a refresh the
// session is dead and we send BYE.

// sessionTimer is what was agreed for a call; interval 0: no timer.
type sessionTimer struct {
	interval  time.Duration
	weRefresh bool
	// peerSupports: the robot said Supported or Require: timer, so our
	// responses carry Require: timer (RFC 4028 section 9).
	peerSupports bool
}

// sessionExpiresHeader is the value of our Session-Expires header.
func (st sessionTimer) header(weAreUAC bool) string {
	refresher := "uac"
	if st.weRefresh != weAreUAC {
		refresher = "uas"
	}
	return strconv.Itoa(int(st.interval/time.Second)) + ";refresher=" + refresher
}

// timersEnabled reports whether we take part in session timers.
func (s *Server) timersEnabled() bool { return s.cfg.SessionExpires > 0 }

// hasOption reports whether a Supported or Require header of m (compact
// forms included) lists option.
func hasOption(m headerGetter, option string, names ...string) bool {
	for _, name := range names {
		for _, h := range m.GetHeaders(name) {
			for _, tok := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(tok), option) {
					return true
				}
			}
		}
	}
	return false
}

func supportsTimer(m headerGetter) bool {
	return hasOption(m, "timer", "Supported", "k", "Require")
}

// headerGetter is a request or a response.
type headerGetter interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

// firstHeader returns the first of the named headers' value ("" if none).
func firstHeader(m headerGetter, names ...string) string {
	for _, n := range names {
		if h := m.GetHeader(n); h != nil {
			return strings.TrimSpace(h.Value())
		}
	}
	return ""
}

// parseSessionExpires reads "delta-seconds[;refresher=uac|uas]"; ok is
// false when absent or malformed.
func parseSessionExpires(v string) (d time.Duration, refresher string, ok bool) {
	if v == "" {
		return 0, "", false
	}
	parts := strings.Split(v, ";")
	n, err := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 32)
	if err != nil || n == 0 {
		return 0, "", false
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	if refresher != "uac" && refresher != "uas" {
		refresher = ""
	}
	return time.Duration(n) * time.Second, refresher, true
}

func parseMinSE(v string) time.Duration {
	v, _, _ = strings.Cut(v, ";")
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0
	}
	return time.Duration(n) * time.Second
}

// negotiateTimer decides the session timer for an INVITE, re-INVITE or
// UPDATE from the robot (the UAC of that transaction). tooSmall: its
// Session-Expires is below our MinSE, answer 422.
func (s *Server) negotiateTimer(req *sip.Request) (st sessionTimer, tooSmall bool) {
	if !s.timersEnabled() {
		return sessionTimer{}, false
	}
	st.peerSupports = supportsTimer(req)
	floor := max(s.cfg.MinSE, parseMinSE(firstHeader(req, "Min-SE")))
	se, refresher, ok := parseSessionExpires(firstHeader(req, "Session-Expires", "x"))
	switch {
	case ok && se < s.cfg.MinSE:
		return st, true
	case ok:
		st.interval = max(min(se, s.cfg.SessionExpires), floor)
	default:
		st.interval = max(s.cfg.SessionExpires, floor)
	}
	switch {
	case !st.peerSupports:
		st.weRefresh = true // it cannot refresh: RFC 4028 section 9
	case refresher == "uas":
		st.weRefresh = true
	default:
		st.weRefresh = false // it supports timers: let it refresh
	}
	return st, false
}

// respondTooSmall answers 422 with our Min-SE.
func (s *Server) respondTooSmall(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 422, "Session Interval Too Small",
		sip.NewHeader("Min-SE", strconv.Itoa(int(s.cfg.MinSE/time.Second))))
}

// timerHeaders adds the session timer headers to our 2xx to a robot's
// INVITE or UPDATE.
func timerHeaders(res *sip.Response, st sessionTimer) {
	if st.interval == 0 {
		return
	}
	res.AppendHeader(sip.NewHeader("Session-Expires", st.header(false)))
	if st.peerSupports {
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
}

// startTimer (re)starts the call's session timer after a successful
// refresh or the answer. Owner goroutine only.
func (c *Call) startTimer(st sessionTimer) {
	c.st = st
	if c.stTimer != nil {
		c.stTimer.Stop()
		c.stTimer = nil
	}
	if st.interval <= 0 {
		return
	}
	c.stExpires = time.Now().Add(st.interval)
	wait := st.interval
	if st.weRefresh {
		wait = st.interval / 2
	}
	c.stTimer = time.NewTimer(wait)
	c.log.Debug("sip session timer started", "interval", st.interval, "we_refresh", st.weRefresh)
}

// sessionTimerFired refreshes the session (when we are the refresher and
// it is time) or ends it (the interval passed without a refresh).
func (c *Call) sessionTimerFired() {
	if c.state == stateEnded {
		return
	}
	left := time.Until(c.stExpires)
	if left > 10*time.Millisecond {
		switch {
		case c.st.weRefresh && c.pend != nil:
			// a re-INVITE of the robot's waits for its ACK: try again soon
			c.stTimer.Reset(min(left, 500*time.Millisecond))
			return
		case c.st.weRefresh && !c.refreshing:
			c.refresh()
		}
		c.stTimer.Reset(left) // the expiry guard, in case the refresh fails
		return
	}
	c.log.Warn("sip call: session expired without a refresh; hanging up", "interval", c.st.interval,
		"we_refresh", c.st.weRefresh)
	c.end(EndSessionExpired)
	_ = c.bye(context.Background())
}

// refreshResult is the outcome of our re-INVITE: a session refresh, or
// a hold or resume (hold set).
type refreshResult struct {
	res     *sip.Response
	err     error
	offered direction // our SDP's direction
	hold    *holdOp
}

// refresh sends a re-INVITE with our last SDP (version bumped) in a
// goroutine of its own; refreshed gets the result. Owner goroutine only.
func (c *Call) refresh() {
	c.log.Debug("sip session refresh sent")
	c.startReinvite(c.ourDirection(), nil)
}

// startReinvite sends a re-INVITE with our last SDP (version bumped) in
// direction dir, in a goroutine of its own; refreshed gets the result
// with hold. One at a time: the caller checks c.refreshing. Owner
// goroutine only.
func (c *Call) startReinvite(dir direction, hold *holdOp) {
	c.version++
	body := buildAnswer(c.offer, c.answerParams(dir))
	req := sip.NewRequest(sip.INVITE, *c.target.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", c.s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Supported", c.s.supported()))
	if c.st.interval > 0 {
		// any re-INVITE of ours refreshes the session (RFC 4028 section 7.4)
		req.AppendHeader(sip.NewHeader("Session-Expires", c.st.header(true)))
		req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(c.s.cfg.MinSE/time.Second))))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	c.refreshing = true
	ctx := c.hctx
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		res, err := c.sendReinvite(ctx, req)
		c.refreshed <- refreshResult{res: res, err: err, offered: dir, hold: hold} // buffered: one at a time
	}()
}

// sendReinvite runs a re-INVITE transaction and ACKs a 2xx (again for
// each retransmitted 2xx, until the transaction ends).
func (c *Call) sendReinvite(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 64*sip.T1)
	defer cancel()
	tx, err := c.dlgs.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				tx.Terminate()
				return res, nil
			}
			ack := sip.NewRequest(sip.ACK, req.Recipient)
			ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
			if err := c.dlgs.WriteRequest(ack); err != nil {
				tx.Terminate()
				return res, fmt.Errorf("ack refresh: %w", err)
			}
			tmpl := ack.Clone()
			tx.OnRetransmission(func(r *sip.Response) {
				if r.IsSuccess() {
					_ = c.s.client.WriteRequest(tmpl.Clone(), func(*sipgo.Client, *sip.Request) error { return nil })
				}
			})
			return res, nil // the transaction absorbs 2xx retransmissions, then ends itself
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("transaction ended")
		case <-ctx.Done():
			tx.Terminate()
			return nil, ctx.Err()
		}
	}
}

// refreshDone takes the result of our refresh re-INVITE: a 2xx restarts
// the timer (with what the robot answered), 408, 481 or no answer end the
// call (RFC 4028 section 10); anything else leaves the timer running, so
// the session expires unless a later refresh works.
func (c *Call) refreshDone(r refreshResult) {
	c.refreshing = false
	if c.state == stateEnded {
		if r.hold != nil {
			r.hold.reply <- ErrCallEnded
		}
		return
	}
	if r.hold != nil {
		c.holdDone(r)
		return
	}
	switch {
	case r.err == nil && r.res.IsSuccess():
		if o, err := parseOffer(r.res.Body()); err == nil && o.codec.Name == c.codec.Name {
			o.codec = c.codec
			c.offer = o
			c.applyDirection(o, r.offered)
		}
		c.log.Debug("sip session refreshed")
		c.restartTimerAfter(r.res)
	case r.err != nil || r.res.StatusCode == 408 || r.res.StatusCode == 481:
		status := 0
		if r.res != nil {
			status = r.res.StatusCode
		}
		c.log.Warn("sip session refresh failed; hanging up", "status", status, "error", r.err)
		c.end(EndSessionExpired)
		if status != 481 {
			_ = c.bye(context.Background())
		}
	default:
		c.log.Info("sip session refresh refused; the session expires unless refreshed", "status", r.res.StatusCode)
	}
}

// restartTimerAfter restarts the session timer after a 2xx to our
// re-INVITE, with what the robot answered.
func (c *Call) restartTimerAfter(res *sip.Response) {
	if c.st.interval <= 0 {
		return
	}
	st := c.st
	if se, refresher, ok := parseSessionExpires(firstHeader(res, "Session-Expires", "x")); ok {
		st.interval = se
		st.weRefresh = refresher != "uas"
	}
	c.startTimer(st)
}

// update answers an UPDATE (RFC 3311): a session refresh without SDP.
// UPDATE with an offer is refused: robots change media with re-INVITE.
func (c *Call) update(req *sip.Request, tx sip.ServerTransaction) {
	if len(req.Body()) > 0 {
		c.s.respond(req, tx, 488, "Not Acceptable Here", warningHeader("UPDATE with SDP is not supported; use re-INVITE"))
		return
	}
	st, tooSmall := c.s.negotiateTimer(req)
	if tooSmall {
		c.s.respondTooSmall(req, tx)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	c.s.decorate(res, req)
	res.AppendHeader(sip.NewHeader("Contact", c.s.contact(req)))
	res.AppendHeader(sip.NewHeader("Supported", c.s.supported()))
	timerHeaders(res, st)
	if err := tx.Respond(res); err != nil {
		c.log.Info("sip UPDATE response failed", "error", err)
		return
	}
	if c.state == stateConfirmed || c.state == stateAnswered {
		c.startTimer(st)
	}
}
