package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// CallHandler takes incoming calls; set Config.Calls. Without one, INVITEs
// are answered 480 as before calls existed.
type CallHandler interface {
	// IncomingCall is called (in its own goroutine) for each INVITE from a
	// registered, enabled device after 100 Trying has been sent and the
	// offer was accepted (a common codec exists, else 488 was sent and the
	// handler is not called). The handler rings (Ring), then Answer()s or
	// Reject()s.
	//
	// Like an http.Handler, the call does not outlive IncomingCall: when it
	// returns, a call still ringing is refused with 480 and an answered one
	// is hung up. ctx ends when the call ends or the server stops.
	IncomingCall(ctx context.Context, c *Call)
}

// CallHandlerFunc adapts a function to a CallHandler.
type CallHandlerFunc func(ctx context.Context, c *Call)

// IncomingCall calls f.
func (f CallHandlerFunc) IncomingCall(ctx context.Context, c *Call) { f(ctx, c) }

// EventKind says what a CallEvent reports.
type EventKind string

// Event kinds.
const (
	EventDTMF      EventKind = "dtmf"       // a key press (RFC 4733), once per press
	EventHold      EventKind = "hold"       // the call was put on hold: by the robot (sendonly or inactive), or by us (Call.Hold; Local set)
	EventResume    EventKind = "resume"     // the call was resumed: by the robot, or by us (Local set)
	EventRemoteBye EventKind = "remote-bye" // the robot hung up
	EventCancel    EventKind = "cancel"     // the robot gave up while ringing
	EventRinging   EventKind = "ringing"    // the robot rang (180/183) before answering our Dial
)

// CallEvent is something that happened in a call.
type CallEvent struct {
	Kind EventKind
	// Digit is the key for EventDTMF: 0-9, *, #, A-D.
	Digit rune
	// Duration is how long the key was held, for EventDTMF.
	Duration time.Duration
	// Local is set for EventHold and EventResume when we held or resumed
	// the call (Call.Hold); unset when the robot did.
	Local bool
	At    time.Time
}

// End reasons, as EndReason returns them.
const (
	EndCancelled  = "cancelled"   // CANCEL while ringing
	EndRemoteBye  = "remote-bye"  // BYE from the robot
	EndLocalBye   = "local-bye"   // we hung up an answered call
	EndRejected   = "rejected"    // Reject, or Hangup before an answer
	EndTimeout    = "timeout"     // no ACK for our 200 OK within 32 s
	EndRTPTimeout = "rtp-timeout" // no RTP from the robot for Config.RTPTimeout
	EndShutdown   = "shutdown"    // the server stopped
	EndFailed     = "failed"      // a response could not be sent
	// EndSessionExpired: the session timer (RFC 4028) ran out without a
	// refresh, or our refresh got 408, 481 or no answer.
	EndSessionExpired = "session-expired"
)

// eventQueueLen bounds a call's undelivered events; beyond it events are
// dropped (and logged), so a handler that ignores Events stalls nothing.
// The hub reads them as they come; 16 holds a burst of keys (DTMF) while
// it is busy, and every call holds the queue (a tenth of a call's memory
// at 64).
const eventQueueLen = 16

// byeTimeout bounds a BYE; a robot gone silent must not hold a call open.
const byeTimeout = 5 * time.Second

// callState is where a call is; only the call's goroutine changes it.
type callState int

const (
	stateRinging   callState = iota // INVITE without a final response
	stateAnswered                   // 200 OK sent, waiting for the ACK
	stateConfirmed                  // ACK received
	stateEnded
)

// Call is one incoming call from a robot. Its methods are safe for
// concurrent use; one goroutine owns its state and does what they ask.
type Call struct {
	s     *Server
	id    string
	dev   Device
	from  string
	codec Codec
	log   *slog.Logger

	dlg    *sipgo.DialogServerSession // incoming calls only
	dlgs   dialogSession              // the dialog, either side: in-dialog requests
	key    string                     // in Server.calls: the dialog id as the UAS of a request sees it
	target sip.Uri                    // the robot's Contact: Request-URI of our in-dialog requests
	out    bool                       // we dialled
	invite *sip.Request               // the INVITE: with our To tag (incoming) or ours (outbound)
	tx     sip.ServerTransaction
	media  *rtpSession
	sdpIP  netip.Addr // for our SDP
	hctx   context.Context
	hstop  context.CancelFunc

	cmds      chan callCmd
	reqs      chan inDialogReq
	acks      chan *sip.Request
	cancelled chan struct{} // closed when the INVITE transaction is cancelled
	cancelOne sync.Once
	final     chan struct{} // closed once the INVITE has its final response
	finalOne  sync.Once
	done      chan struct{}
	events    chan CallEvent
	refreshed chan refreshResult // our session refresh's outcome; buffered (1)
	bg        sync.WaitGroup     // refresh goroutines

	mu        sync.Mutex
	endReason string

	// owned by the call's goroutine
	state       callState
	rang        bool
	offer       offer
	session     uint64
	version     uint64
	pend        *pendingAck
	mediaSince  time.Time // start of the current RTP timeout window
	lastHeld    bool
	timeoutRTP  time.Duration
	checkRTPDur time.Duration
	remoteCSeq  uint32 // last CSeq from the robot in an outbound call
	localHold   bool   // we hold the call (Call.Hold): our SDP says sendonly or inactive

	// session timer (RFC 4028)
	stOffer    sessionTimer // agreed on the INVITE, started by the answer
	st         sessionTimer
	stTimer    *time.Timer // fires to refresh (we refresh) or when the session expires
	stExpires  time.Time
	refreshing bool
}

// dialogSession is what a call needs of sipgo's dialog, UAS or UAC side.
type dialogSession interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	TransactionRequest(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error)
	WriteRequest(req *sip.Request) error
}

// pendingAck is a 2xx to an INVITE waiting for its ACK (RFC 3261 section
// 13.3.1.4): we retransmit it over UDP and give up after 64*T1.
type pendingAck struct {
	res      *sip.Response
	tx       sip.ServerTransaction
	cseq     uint32
	reliable bool
	start    time.Time
	interval time.Duration
	timer    *time.Timer
	initial  bool       // the 200 to the first INVITE
	waiter   chan error // Answer's reply
	// lateOffer: the re-INVITE had no SDP, so our 200 is the offer and the
	// ACK carries the answer.
	lateOffer bool
}

type cmdKind int

const (
	cmdRing cmdKind = iota
	cmdAnswer
	cmdReject
	cmdHangup
	cmdHold
)

type callCmd struct {
	kind   cmdKind
	code   int
	reason string
	ctx    context.Context
	on     bool       // cmdHold: hold (true) or resume
	reply  chan error // buffered: the owner never blocks on it
}

// inDialogReq is a BYE or re-INVITE for the call; done is closed once it
// has been answered.
type inDialogReq struct {
	req  *sip.Request
	tx   sip.ServerTransaction
	done chan struct{}
}

// ID returns the call's id, stable for logs and cases.
func (c *Call) ID() string { return c.id }

// Device returns the calling device as the Directory gave it (without its
// password).
func (c *Call) Device() Device { return c.dev }

// From returns the user part of the caller's From URI.
func (c *Call) From() string { return c.from }

// Codec returns the negotiated codec.
func (c *Call) Codec() Codec { return c.codec }

// LocalRTPAddr returns the address our RTP socket is bound to (RTCP is on
// the next port, or multiplexed on this one when the robot offered
// a=rtcp-mux).
func (c *Call) LocalRTPAddr() netip.AddrPort { return c.media.local }

// Stats returns the call's media figures: our RTP counters and what the
// robot's RTCP reports said (see CallStats). After the call ended they
// stay as they were at its end.
func (c *Call) Stats() CallStats { return c.media.stats.snapshot() }

// Done is closed when the call ends, for any reason.
func (c *Call) Done() <-chan struct{} { return c.done }

// EndReason returns why the call ended ("" while it has not): one of the
// End* constants.
func (c *Call) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endReason
}

// Events returns the call's events: DTMF digits, hold and resume, remote
// BYE, CANCEL. It is closed after the call ends. Events that find it full
// are dropped.
func (c *Call) Events() <-chan CallEvent { return c.events }

// Ring sends 180 Ringing; later calls do nothing.
func (c *Call) Ring() error {
	return c.do(context.Background(), callCmd{kind: cmdRing})
}

// Answer sends 200 OK with our SDP and waits for the robot's ACK. Over UDP
// the 200 is retransmitted until the ACK comes; without one within 32 s
// the call is hung up and Answer returns ErrNoAck. When ctx ends first,
// Answer returns its error but the call goes on.
func (c *Call) Answer(ctx context.Context) error {
	if err := c.do(ctx, callCmd{kind: cmdAnswer}); err != nil {
		return fmt.Errorf("answer call %s: %w", c.id, err)
	}
	return nil
}

// Reject refuses a ringing call with a final response: code 300-699 (480
// when nobody answered, 486 busy, 603 decline); reason "" for the standard
// one.
func (c *Call) Reject(code int, reason string) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("reject call %s: status %d not in 300-699", c.id, code)
	}
	if err := c.do(context.Background(), callCmd{kind: cmdReject, code: code, reason: reason}); err != nil {
		return fmt.Errorf("reject call %s: %w", c.id, err)
	}
	return nil
}

// Hangup ends the call: BYE when answered (along the route set the robot
// gave), 480 when still ringing. It returns when the robot answered the
// BYE or ctx ended; the call has ended either way. Hanging up an ended
// call does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	// not ctx itself for the wait: ending the call ends the handler's
	// context, which must not cut our BYE short (bye bounds itself)
	err := c.do(context.WithoutCancel(ctx), callCmd{kind: cmdHangup, ctx: ctx})
	if errors.Is(err, ErrCallEnded) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hang up call %s: %w", c.id, err)
	}
	return nil
}

// ReadRTP copies the next RTP packet from the robot (header and payload,
// as received) into buf. Only packets of the negotiated codec are
// returned; telephone-events come as Events. It returns io.EOF once the
// call has ended and io.ErrShortBuffer (with the packet cut) when buf is
// too small.
func (c *Call) ReadRTP(buf []byte) (int, error) {
	select {
	case p := <-c.media.in:
		n := copy(buf, p)
		if n < len(p) {
			return n, io.ErrShortBuffer
		}
		return n, nil
	case <-c.done:
		return 0, io.EOF
	}
}

// Context is done when the call ends (or the server stops): for code that
// must react to the end without a goroutine waiting on Done
// (context.AfterFunc).
func (c *Call) Context() context.Context { return c.hctx }

// SetRTPHandler has fn take every audio packet the robot sends (its codec's
// payload type: RFC 4733 events still become EventDTMF), called on the
// call's RTP reading goroutine, instead of queueing them for ReadRTP: no
// copy, no hand-over between goroutines (a bridge forwards from there).
// fn must not block for long and must not keep pkt. nil goes back to
// ReadRTP.
func (c *Call) SetRTPHandler(fn func(pkt []byte)) {
	if fn == nil {
		c.media.handler.Store(nil)
		return
	}
	c.media.handler.Store(&fn)
}

// WriteRTP sends one raw RTP packet to the robot: to the address its RTP
// comes from (symmetric RTP), or the one of its SDP until its first
// packet. While the robot holds the call the packet is dropped.
func (c *Call) WriteRTP(pkt []byte) error {
	select {
	case <-c.done:
		return ErrCallEnded
	default:
	}
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return fmt.Errorf("write rtp: not an RTP packet (%d bytes)", len(pkt))
	}
	return c.media.write(pkt)
}

// do hands a command to the call's goroutine and waits for its reply.
func (c *Call) do(ctx context.Context, cmd callCmd) error {
	cmd.reply = make(chan error, 1)
	select {
	case c.cmds <- cmd:
	case <-c.done:
		return ErrCallEnded
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-cmd.reply:
		return err
	case <-ctx.Done():
		select {
		case err := <-cmd.reply: // the call ended, which ended ctx
			return err
		default:
			return ctx.Err()
		}
	}
}

// emit queues an event; it never blocks.
func (c *Call) emit(ev CallEvent) {
	select {
	case c.events <- ev:
	default:
		c.log.Warn("sip call event dropped: nobody reads Events", "kind", ev.Kind)
	}
}

// run is the call's goroutine: it owns the call's state and answers
// commands, in-dialog requests, ACKs and timers until the call ends.
func (c *Call) run(ctx context.Context) {
	defer c.cleanup()
	check := time.NewTicker(c.checkRTPDur)
	defer check.Stop()
	cancelled := c.cancelled
	for c.state != stateEnded {
		var retrans, session <-chan time.Time
		if c.pend != nil {
			retrans = c.pend.timer.C
		}
		if c.stTimer != nil {
			session = c.stTimer.C
		}
		select {
		case <-ctx.Done():
			c.shutdown()
		case <-cancelled:
			cancelled = nil
			if c.state == stateRinging {
				c.log.Info("sip call cancelled by the robot")
				c.emit(CallEvent{Kind: EventCancel, At: time.Now()})
				c.end(EndCancelled) // sipgo answered 200 to the CANCEL and 487 to the INVITE
			}
		case cmd := <-c.cmds:
			c.command(cmd)
		case r := <-c.reqs:
			c.request(r)
			close(r.done)
		case ack := <-c.acks:
			c.ack(ack)
		case <-retrans:
			c.retransmit()
		case <-check.C:
			c.checkRTP()
		case <-session:
			c.sessionTimerFired()
		case r := <-c.refreshed:
			c.refreshDone(r)
		}
	}
}

func (c *Call) command(cmd callCmd) {
	if c.state == stateEnded {
		cmd.reply <- ErrCallEnded
		return
	}
	switch cmd.kind {
	case cmdRing:
		if c.state != stateRinging || c.rang {
			cmd.reply <- nil
			return
		}
		c.rang = true
		cmd.reply <- c.respondInvite(c.inviteResponse(180, "Ringing", nil))

	case cmdAnswer:
		if c.state != stateRinging {
			cmd.reply <- ErrCallState
			return
		}
		c.answer(cmd.reply)

	case cmdReject:
		if c.state != stateRinging {
			cmd.reply <- ErrCallState
			return
		}
		err := c.respondInvite(c.inviteResponse(cmd.code, reasonPhrase(cmd.code, cmd.reason), nil))
		if c.state != stateEnded {
			c.log.Info("sip call rejected", "status", cmd.code)
			c.end(EndRejected)
		}
		cmd.reply <- err

	case cmdHangup:
		if c.state == stateRinging {
			err := c.respondInvite(c.inviteResponse(480, "Temporarily Unavailable", nil))
			if c.state != stateEnded {
				c.log.Info("sip call refused before answer")
				c.end(EndRejected)
			}
			cmd.reply <- err
			return
		}
		c.log.Info("sip call hung up by us")
		c.end(EndLocalBye)
		cmd.reply <- c.bye(cmd.ctx)

	case cmdHold:
		c.hold(cmd.on, cmd.reply)
	}
}

// answer sends our 200 OK and starts waiting for the ACK.
func (c *Call) answer(reply chan error) {
	c.version++
	our := c.offer.dir.answer()
	body := buildAnswer(c.offer, c.answerParams(our))
	res := c.inviteResponse(200, "OK", body)
	timerHeaders(res, c.stOffer)
	c.dlg.InviteResponse = res // the dialog builds our BYE's From from it
	if err := c.respondInvite(res); err != nil {
		reply <- err
		return
	}
	select {
	case <-c.cancelled:
		// the CANCEL won: sipgo has sent 487 and dropped our 200
		c.emit(CallEvent{Kind: EventCancel, At: time.Now()})
		c.end(EndCancelled)
		reply <- ErrCallEnded
		return
	default:
	}
	c.state = stateAnswered
	c.closeFinal()
	c.applyDirection(c.offer, "")
	c.setPending(res, c.tx, c.invite.CSeq().SeqNo, true, reply, false)
	c.startTimer(c.stOffer)
	c.log.Info("sip call answered", "codec", c.codec.Name, "rtp_local", c.media.local.String(),
		"rtp_remote", c.offer.addr.String(), "direction", string(our))
}

// ourDirection is the direction of our last SDP: the answer to the
// robot's, narrowed while we hold the call.
func (c *Call) ourDirection() direction { return holdDirection(c.offer.dir.answer(), c.localHold) }

// holdDirection narrows our direction d while we hold the call: we stop
// receiving (RFC 3264 section 8.4), sendrecv becomes sendonly and
// recvonly becomes inactive.
func holdDirection(d direction, localHold bool) direction {
	if !localHold {
		return d
	}
	switch d {
	case sendrecv:
		return sendonly
	case recvonly:
		return inactive
	}
	return d
}

func (c *Call) answerParams(our direction) answerParams {
	return answerParams{ip: c.sdpIP, port: int(c.media.local.Port()), session: c.session, version: c.version, dir: our}
}

// applyDirection makes the media follow the robot's SDP o: its offer, or
// its answer to ours when offered is our offer's direction ("" for an
// offer from the robot).
func (c *Call) applyDirection(o offer, offered direction) {
	c.media.setRemote(o.addr)
	// we answer a=rtcp-mux when offered; our own offers never have it
	c.media.setRTCPRemote(o, o.rtcpMux && !c.out)
	our := holdDirection(o.dir.answer(), c.localHold)
	c.media.sending.Store(our == sendrecv || our == sendonly)
	held := o.dir.held()
	if offered == sendonly && o.dir == inactive {
		held = c.lastHeld // the robot may answer our hold with inactive: that is our hold, not its own
	}
	if held != c.lastHeld {
		kind := EventResume
		if held {
			kind = EventHold
		}
		c.log.Info("sip call "+string(kind), "direction", string(o.dir))
		c.emit(CallEvent{Kind: kind, At: time.Now()})
		c.lastHeld = held
	}
	c.mediaSince = time.Now()
}

// setPending starts the 2xx retransmissions and the ACK wait.
func (c *Call) setPending(res *sip.Response, tx sip.ServerTransaction, cseq uint32, initial bool, waiter chan error, late bool) {
	p := &pendingAck{
		res: res, tx: tx, cseq: cseq, initial: initial, waiter: waiter, lateOffer: late,
		reliable: sip.IsReliable(c.invite.Transport()), start: time.Now(), interval: sip.T1,
	}
	if p.reliable {
		p.timer = time.NewTimer(64 * sip.T1) // nothing to retransmit: just wait
	} else {
		p.timer = time.NewTimer(p.interval)
	}
	c.pend = p
}

func (c *Call) retransmit() {
	p := c.pend
	if p.reliable || time.Since(p.start) >= 64*sip.T1 {
		c.pend = nil
		c.log.Warn("sip call: no ACK for our 200 OK; hanging up")
		if p.waiter != nil {
			p.waiter <- ErrNoAck
		}
		c.end(EndTimeout)
		_ = c.bye(context.Background())
		return
	}
	if err := p.tx.Respond(p.res); err != nil {
		c.log.Debug("sip 200 OK retransmission failed", "error", err)
	}
	p.interval = min(2*p.interval, sip.T2)
	p.timer.Reset(p.interval)
}

func (c *Call) ack(ack *sip.Request) {
	p := c.pend
	if p == nil || ack.CSeq() == nil || ack.CSeq().SeqNo != p.cseq {
		return // a retransmitted ACK
	}
	p.timer.Stop()
	c.pend = nil
	if p.lateOffer {
		if o, err := parseOffer(ack.Body()); err == nil && o.codec.Name == c.codec.Name {
			c.offer = o
			c.applyDirection(o, holdDirection(sendrecv, c.localHold))
		} else {
			c.log.Info("sip call: unusable SDP answer in ACK; media unchanged", "error", err)
		}
	}
	if p.initial {
		c.state = stateConfirmed
		c.mediaSince = time.Now()
		if p.waiter != nil {
			p.waiter <- nil
		}
	}
}

// checkRTP hangs up a confirmed call whose robot has sent no RTP for
// RTPTimeout, unless it said it would not send or we asked it not to
// (hold, either side).
func (c *Call) checkRTP() {
	if c.state != stateConfirmed || c.timeoutRTP <= 0 || !c.offer.dir.remoteSends() || c.localHold {
		return
	}
	last := c.mediaSince
	if t := time.Unix(0, c.media.lastRecv.Load()); t.After(last) {
		last = t
	}
	if time.Since(last) < c.timeoutRTP {
		return
	}
	c.log.Warn("sip call: no RTP from the robot; hanging up", "timeout", c.timeoutRTP)
	c.end(EndRTPTimeout)
	_ = c.bye(context.Background())
}

// request answers a BYE or re-INVITE inside the call's dialog.
func (c *Call) request(r inDialogReq) {
	req, tx := r.req, r.tx
	if c.state == stateEnded {
		c.s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err := c.readRequest(req); err != nil {
		c.s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	switch req.Method {
	case sip.BYE:
		c.s.respond(req, tx, 200, "OK")
		if c.state == stateRinging {
			_ = c.respondInvite(c.inviteResponse(487, "Request Terminated", nil))
		}
		c.log.Info("sip call hung up by the robot")
		c.emit(CallEvent{Kind: EventRemoteBye, At: time.Now()})
		c.end(EndRemoteBye)
	case sip.INVITE:
		c.reinvite(req, tx)
	case sip.UPDATE:
		c.update(req, tx)
	default:
		c.s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
	}
}

// readRequest checks the CSeq of a request from the robot in the dialog.
func (c *Call) readRequest(req *sip.Request) error {
	if c.dlg != nil {
		return c.dlg.ReadRequest(req, nil)
	}
	// outbound: sipgo's client dialog compares the robot's CSeq with ours
	n := req.CSeq().SeqNo
	if c.remoteCSeq != 0 && n < c.remoteCSeq {
		return errors.New("cseq out of order")
	}
	c.remoteCSeq = n
	return nil
}

// reinvite answers a re-INVITE: hold, resume or a new address, always
// with the call's codec.
func (c *Call) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	switch {
	case c.state == stateRinging:
		// RFC 3261 section 14.2: an INVITE before the first one's final response
		c.s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "2"))
		return
	case c.pend != nil, c.refreshing:
		c.s.respond(req, tx, 491, "Request Pending")
		return
	}
	st, tooSmall := c.s.negotiateTimer(req)
	if tooSmall {
		c.s.respondTooSmall(req, tx)
		return
	}
	late := len(req.Body()) == 0
	o := c.offer
	if !late {
		var err error
		o, err = parseOffer(req.Body())
		var oe *offerError
		if errors.As(err, &oe) {
			c.refuseOffer(req, tx, oe)
			return
		}
		if o.codec.Name != c.codec.Name || o.codec.PayloadType != c.codec.PayloadType {
			c.refuseOffer(req, tx, &offerError{code: 488, warning: "codec change is not supported",
				err: errors.New("codec change")})
			return
		}
		o.codec = c.codec
	}
	c.version++
	our := holdDirection(o.dir.answer(), c.localHold)
	if late {
		our = holdDirection(sendrecv, c.localHold) // we offer; the ACK answers
	}
	body := buildAnswer(o, c.answerParams(our))
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	c.s.decorate(res, req)
	res.AppendHeader(sip.NewHeader("Contact", c.s.contact(req)))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Supported", c.s.supported()))
	timerHeaders(res, st)
	if err := tx.Respond(res); err != nil {
		c.log.Info("sip re-INVITE response failed", "error", err)
		return
	}
	c.startTimer(st) // a re-INVITE is a refresh (RFC 4028 section 10)
	if !late {
		c.offer = o
		c.applyDirection(o, "")
	}
	c.setPending(res, tx, req.CSeq().SeqNo, false, nil, late)
}

func (c *Call) refuseOffer(req *sip.Request, tx sip.ServerTransaction, oe *offerError) {
	c.log.Info("sip re-INVITE refused", "status", oe.code, "error", oe.err)
	if oe.code == 488 {
		c.s.respond(req, tx, 488, "Not Acceptable Here", warningHeader(oe.warning))
		return
	}
	c.s.respond(req, tx, 400, "Bad Request")
}

// shutdown ends the call because the server stops.
func (c *Call) shutdown() {
	switch c.state {
	case stateRinging:
		_ = c.respondInvite(c.inviteResponse(503, "Service Unavailable", nil))
		c.end(EndShutdown)
	default:
		c.end(EndShutdown)
		_ = c.bye(context.Background()) // best effort: Run waits for it, bounded by byeTimeout
	}
}

// inviteResponse builds a response to the first INVITE, with our To tag.
func (c *Call) inviteResponse(code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(c.invite, code, reason, body)
	c.s.decorate(res, c.invite)
	if code > 100 && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", c.s.contact(c.invite)))
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
		res.AppendHeader(sip.NewHeader("Supported", c.s.supported()))
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	return res
}

// respondInvite sends a response to the first INVITE. A final one closes
// c.final; a failure to send ends the call.
func (c *Call) respondInvite(res *sip.Response) error {
	err := c.tx.Respond(res)
	if res.StatusCode >= 300 {
		c.closeFinal()
	}
	if err != nil {
		select {
		case <-c.cancelled:
			if c.state == stateRinging {
				c.emit(CallEvent{Kind: EventCancel, At: time.Now()})
				c.end(EndCancelled)
				return ErrCallEnded
			}
		default:
		}
		c.log.Warn("sip call: response failed", "status", res.StatusCode, "error", err)
		c.end(EndFailed)
		return fmt.Errorf("send %d: %w", res.StatusCode, err)
	}
	return nil
}

// end marks the call ended: media stops, Done closes, the handler's
// context ends. It sends nothing; the caller sends a BYE when due.
func (c *Call) end(reason string) {
	if c.state == stateEnded {
		return
	}
	c.state = stateEnded
	c.mu.Lock()
	c.endReason = reason
	c.mu.Unlock()
	if c.pend != nil {
		c.pend.timer.Stop()
		if c.pend.waiter != nil {
			c.pend.waiter <- ErrCallEnded
		}
		c.pend = nil
	}
	if c.stTimer != nil {
		c.stTimer.Stop()
		c.stTimer = nil
	}
	close(c.done)
	c.closeFinal()
	c.hstop()
	c.media.close()
	c.log.Info("sip call ended", "reason", reason, "rtp_received", c.media.received.Load(),
		"rtp_dropped", c.media.dropped.Load(), "rtp_foreign", c.media.foreign.Load(),
		"rtcp", c.media.rtcpPackets.Load())
}

// bye sends BYE in the dialog and waits for the answer.
func (c *Call) bye(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// the call has ended, and with it the handler's context: keep only
	// the caller's deadline, if shorter than ours
	timeout := byeTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), 100*time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	req := sip.NewRequest(sip.BYE, *c.target.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", c.s.cfg.UserAgent))
	res, err := c.dlgs.Do(ctx, req)
	if err != nil {
		c.log.Info("sip bye failed", "error", err)
		return fmt.Errorf("send bye: %w", err)
	}
	if res.StatusCode >= 300 {
		c.log.Info("sip bye refused", "status", res.StatusCode)
		return fmt.Errorf("send bye: %d %s", res.StatusCode, clip(res.Reason, 64))
	}
	return nil
}

func (c *Call) closeFinal() { c.finalOne.Do(func() { close(c.final) }) }

// cleanup runs when the call's goroutine returns.
func (c *Call) cleanup() {
	c.bg.Wait() // their context ended with the call
	c.s.removeCall(c)
	close(c.events) // the RTP reader, the only other sender, has stopped
}

// reasonPhrase returns reason when it is safe in a status line, else the
// standard phrase.
func reasonPhrase(code int, reason string) string {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 64 || strings.ContainsAny(reason, "\r\n\x00") {
		return statusText(code)
	}
	return strings.ToValidUTF8(reason, "")
}

func warningHeader(text string) sip.Header {
	// warn-agent is a pseudonym: our host name is nobody's business
	return sip.NewHeader("Warning", `305 attendant "`+strings.ReplaceAll(text, `"`, `'`)+`"`)
}

// statusText returns the standard reason phrase of the codes a handler
// is likely to reject with.
func statusText(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	return "Error"
}
