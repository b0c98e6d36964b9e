package sip

import (
	"context"
	"fmt"
	"time"
)

// holdOp is a Hold waiting for the robot's answer to our re-INVITE.
type holdOp struct {
	on    bool
	reply chan error // buffered (1)
}

// Hold puts the call on hold (on) or resumes it: a re-INVITE inside the
// dialog with our SDP (same codec and port, version incremented) saying
// a=sendonly (a=inactive when the robot holds the call too) or, to
// resume, a=sendrecv (a=recvonly while the robot holds it). It returns
// once the robot answered 2xx and got our ACK; the call then emits
// EventHold or EventResume with Local set.
//
// While we hold the call our RTP socket stays open and WriteRTP still
// sends (music on hold), and the RTP timeout is paused: the robot stops
// sending. Holding a held call (or resuming a resumed one) does nothing.
//
// A refusal (491 Request Pending, 488, ...) returns a *StatusError, no
// answer within 32 s or ctx's end returns that error; in every case the
// call goes on as before. 481 (the robot lost the dialog) ends the call
// (EndFailed). ErrReinvitePending: another re-INVITE is under way;
// ErrCallState: the call is not confirmed yet (ringing, or our 200 OK
// waits for its ACK).
func (c *Call) Hold(ctx context.Context, on bool) error {
	what := "resume"
	if on {
		what = "hold"
	}
	cmd := callCmd{kind: cmdHold, on: on, reply: make(chan error, 1)}
	select {
	case c.cmds <- cmd:
	case <-c.done:
		return fmt.Errorf("%s call %s: %w", what, c.id, ErrCallEnded)
	case <-ctx.Done():
		return fmt.Errorf("%s call %s: %w", what, c.id, ctx.Err())
	}
	var err error
	select {
	case err = <-cmd.reply:
	case <-c.done:
		select {
		case err = <-cmd.reply:
		default:
			err = ErrCallEnded
		}
	case <-ctx.Done():
		// the re-INVITE goes on; its outcome still applies to the call
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%s call %s: %w", what, c.id, err)
	}
	return nil
}

// hold starts our hold or resume re-INVITE. Owner goroutine only.
func (c *Call) hold(on bool, reply chan error) {
	switch {
	case c.state != stateConfirmed:
		reply <- ErrCallState
		return
	case c.pend != nil, c.refreshing:
		reply <- ErrReinvitePending
		return
	case on == c.localHold:
		reply <- nil
		return
	}
	// what we want, given whether the robot holds the call (RFC 3264
	// section 8.4): stop receiving, keep sending only if it listens
	want := sendrecv
	if c.lastHeld {
		want = recvonly
	}
	dir := holdDirection(want, on)
	c.log.Info("sip call: sending hold re-INVITE", "hold", on, "sdp_direction", string(dir))
	c.startReinvite(dir, &holdOp{on: on, reply: reply})
}

// holdDone takes the robot's answer to our hold or resume re-INVITE.
// Owner goroutine only.
func (c *Call) holdDone(r refreshResult) {
	op := r.hold
	switch {
	case r.err != nil:
		c.log.Warn("sip call: hold re-INVITE got no answer; call unchanged", "hold", op.on, "error", r.err)
		op.reply <- fmt.Errorf("re-INVITE: %w", r.err)
	case r.res.StatusCode == 481:
		c.log.Warn("sip call: robot lost the dialog (481 to our re-INVITE); call ended")
		c.end(EndFailed)
		op.reply <- &StatusError{Code: 481, Reason: clip(r.res.Reason, 64)}
	case !r.res.IsSuccess():
		c.log.Info("sip call: hold re-INVITE refused; call unchanged", "hold", op.on, "status", r.res.StatusCode)
		op.reply <- &StatusError{Code: r.res.StatusCode, Reason: clip(r.res.Reason, 64)}
	default:
		o, err := parseOffer(r.res.Body())
		if err == nil && (o.codec.Name != c.codec.Name || o.codec.PayloadType != c.codec.PayloadType) {
			err = fmt.Errorf("codec %s/%d is not the call's", clip(o.codec.Name, 16), o.codec.PayloadType)
		}
		c.restartTimerAfter(r.res) // a 2xx to any re-INVITE of ours refreshes the session
		if err != nil {
			// acknowledged already: keep the media as it was
			c.log.Warn("sip call: unusable SDP answer to our hold re-INVITE; media unchanged", "error", err)
			op.reply <- fmt.Errorf("sdp answer: %w", err)
			return
		}
		o.codec = c.codec
		c.localHold = op.on
		c.offer = o
		c.applyDirection(o, r.offered)
		kind := EventResume
		if op.on {
			kind = EventHold
		}
		c.log.Info("sip call "+string(kind)+" by us", "sdp_direction", string(r.offered), "answer", string(o.dir))
		c.emit(CallEvent{Kind: kind, Local: true, At: time.Now()})
		op.reply <- nil
	}
}
