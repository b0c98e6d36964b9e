package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// defaultDialCodecs is what Dial offers when given no codecs: PCMU, then
// PCMA, with telephone-event 101.
func defaultDialCodecs() []Codec {
	return []Codec{
		{Name: "PCMU", PayloadType: 0, ClockRate: 8000, Channels: 1, DTMFPayloadType: 101},
		{Name: "PCMA", PayloadType: 8, ClockRate: 8000, Channels: 1, DTMFPayloadType: 101},
	}
}

// DialOption tunes Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	onRinging func()
}

// OnRinging calls f once when the robot rings (180 or 183), before Dial
// returns. It runs on Dial's goroutine and must not block.
func OnRinging(f func()) DialOption {
	return func(o *dialOptions) { o.onRinging = f }
}

// StatusError is a final response refusing a request we sent: Dial returns
// it (wrapped) when the robot answers 300-699.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return strconv.Itoa(e.Code) + " " + e.Reason
}

// Dial calls a registered device: an INVITE with our SDP offer (codecs in
// order of preference, PCMU and PCMA with telephone-event 101 when empty) to its registered
// Contact, sent to the address its REGISTER came from. It returns once
// the robot answered and got our ACK; the Call then works as an incoming
// one (ReadRTP, WriteRTP, Events, Hangup, Done; Codec from the answer),
// but has no handler: the caller hangs it up. A 180 or 183 emits
// EventRinging (and calls OnRinging).
//
// A final response 300-699 returns a *StatusError. When ctx ends before
// the answer, Dial sends CANCEL and returns ctx's error.
func (s *Server) Dial(ctx context.Context, deviceID string, codecs []Codec, opts ...DialOption) (*Call, error) {
	var o dialOptions
	for _, f := range opts {
		f(&o)
	}
	c, err := s.dial(ctx, deviceID, codecs, o)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", clip(deviceID, 64), err)
	}
	return c, nil
}

func (s *Server) dial(ctx context.Context, deviceID string, codecs []Codec, o dialOptions) (*Call, error) {
	if len(codecs) == 0 {
		codecs = defaultDialCodecs()
	}
	for _, c := range codecs {
		if err := c.validForOffer(); err != nil {
			return nil, err
		}
	}
	b, ok := s.reg.get(deviceID, s.now())
	if !ok || !b.Registered {
		return nil, ErrNotRegistered
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	dev, err := s.dir.DeviceBySIPUser(lctx, b.Username)
	cancel()
	switch {
	case err != nil:
		return nil, fmt.Errorf("device lookup: %w", err)
	case !dev.Enabled:
		return nil, ErrDeviceDisabled
	}
	dev.Password = ""

	req, err := s.requestTo(b, sip.INVITE)
	if err != nil {
		return nil, err
	}
	localIP := s.localIPFor(b.Source)
	bindIP := netip.IPv4Unspecified()
	if ip, err := netip.ParseAddr(s.host); err == nil {
		bindIP = ip
	}
	rtp, rtcp, err := listenRTP(bindIP, s.cfg.RTPPortMin, s.cfg.RTPPortMax)
	if err != nil {
		return nil, err
	}
	closeRTP := func() { _ = rtp.Close(); _ = rtcp.Close() }
	localRTP := rtp.LocalAddr().(*net.UDPAddr).AddrPort()

	c := &Call{
		s: s, id: uuid.NewString(), dev: dev, from: b.Username, out: true,
		sdpIP: s.sdpIP(localIP), session: uint64(time.Now().UnixNano() / 1000), version: 1,
		cmds: make(chan callCmd), reqs: make(chan inDialogReq), acks: make(chan *sip.Request, 4),
		cancelled: make(chan struct{}), final: make(chan struct{}), done: make(chan struct{}),
		events: make(chan CallEvent, eventQueueLen), refreshed: make(chan refreshResult, 1),
		timeoutRTP: s.cfg.RTPTimeout, checkRTPDur: time.Second, state: stateConfirmed,
	}
	c.log = s.log.With("device", dev.ID, "call", c.id, "direction", "outbound")
	if c.timeoutRTP > 0 {
		c.checkRTPDur = min(max(c.timeoutRTP/5, 50*time.Millisecond), time.Second)
	}
	c.closeFinal()

	var contact sip.ContactHeader
	if _, err := sip.ParseAddressValue(strings.Trim(s.contactVia(localIP.String(), b.Transport), "<>"), &contact.Address, &contact.Params); err != nil {
		closeRTP()
		return nil, fmt.Errorf("our contact: %w", err)
	}
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	if s.timersEnabled() {
		req.AppendHeader(sip.NewHeader("Supported", s.supported()))
		req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(int(s.cfg.SessionExpires/time.Second))))
		req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(s.cfg.MinSE/time.Second))))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(buildOffer(codecs, answerParams{ip: c.sdpIP, port: int(localRTP.Port()),
		session: c.session, version: c.version, dir: sendrecv}))

	ua := &sipgo.DialogUA{Client: s.client, ContactHDR: contact, RewriteContact: true}
	dlg, err := ua.WriteInvite(ctx, req)
	if err != nil {
		closeRTP()
		return nil, fmt.Errorf("send invite: %w", err)
	}
	c.log.Info("sip call to device", "rtp_local", localRTP.String())
	rang := false
	err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if (res.StatusCode == 180 || res.StatusCode == 183) && !rang {
			rang = true
			c.log.Info("sip call ringing", "status", res.StatusCode)
			c.emit(CallEvent{Kind: EventRinging, At: time.Now()})
			if o.onRinging != nil {
				o.onRinging()
			}
		}
		return nil
	}})
	if err != nil {
		closeRTP()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			c.log.Info("sip call refused by the device", "status", de.Res.StatusCode)
			return nil, &StatusError{Code: de.Res.StatusCode, Reason: clip(de.Res.Reason, 64)}
		}
		if res := dlg.InviteResponse; res != nil && res.IsSuccess() {
			// answered as we cancelled: confirm and hang up at once
			c.log.Info("sip call answered after cancel; hanging up")
			bctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			if dlg.Ack(bctx) == nil {
				_ = dlg.Bye(bctx)
			}
			cancel()
		} else {
			c.log.Info("sip call not answered", "error", err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	res := dlg.InviteResponse
	// confirm first: the robot retransmits its 200 until it has our ACK
	if err := dlg.Ack(context.WithoutCancel(ctx)); err != nil {
		closeRTP()
		return nil, fmt.Errorf("send ack: %w", err)
	}
	ans, codec, err := parseDialAnswer(res.Body(), codecs)
	if err != nil {
		closeRTP()
		c.log.Info("sip call: unusable answer; hanging up", "error", err)
		bctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		_ = dlg.Bye(bctx)
		cancel()
		return nil, err
	}
	c.codec, c.offer = codec, ans
	c.media = startRTPSession(rtp, rtcp, codec, s.cfg.RTCPInterval, c.log, c.emit)
	if ip, err := netip.ParseAddr(hostOf(b.Source)); err == nil {
		c.media.allow(ip)
	}
	c.invite, c.dlgs = req, dlg
	if ct := res.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	} else {
		c.target = req.Recipient
	}
	remoteTag, _ := res.To().Params.Get("tag")
	localTag, _ := req.From().Params.Get("tag")
	c.key = sip.DialogIDMake(string(*req.CallID()), localTag, remoteTag)
	c.hctx, c.hstop = context.WithCancel(s.ctx)
	if !s.addCall(c) {
		c.hstop()
		c.media.close()
		bctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		_ = dlg.Bye(bctx)
		cancel()
		return nil, ErrServerClosed
	}
	c.applyDirection(ans, sendrecv)
	c.startTimer(s.dialTimer(res))
	c.mediaSince = time.Now()
	c.log.Info("sip call answered by the device", "codec", codec.Name, "payload_type", codec.PayloadType,
		"rtp_remote", ans.addr.String())
	go func() {
		defer s.callOwners.Done()
		c.run(s.ctx)
	}()
	return c, nil
}

// dialTimer is the session timer of a call we made, from the robot's 2xx.
// Without Session-Expires there (a robot without timers) we refresh with
// the interval we asked for (RFC 4028 section 7.2).
func (s *Server) dialTimer(res *sip.Response) sessionTimer {
	if !s.timersEnabled() {
		return sessionTimer{}
	}
	st := sessionTimer{peerSupports: supportsTimer(res)}
	se, refresher, ok := parseSessionExpires(firstHeader(res, "Session-Expires", "x"))
	if !ok {
		st.interval, st.weRefresh = s.cfg.SessionExpires, true
		return st
	}
	st.interval = max(se, s.cfg.MinSE)
	st.weRefresh = refresher != "uas" // uac: us, the INVITE's sender
	return st
}

// validForOffer checks a codec Dial is asked to offer.
func (c Codec) validForOffer() error {
	ok := false
	for _, p := range codecPreference() {
		if strings.EqualFold(p.name, c.Name) && p.rate == c.ClockRate && p.channels == c.Channels {
			ok = true
		}
	}
	switch {
	case !ok:
		return fmt.Errorf("%w: codec %s/%d/%d not supported", ErrBadCodec, clip(c.Name, 16), c.ClockRate, c.Channels)
	case c.PayloadType > 127 || (c.PayloadType >= 64 && c.PayloadType <= 95):
		return fmt.Errorf("%w: payload type %d", ErrBadCodec, c.PayloadType)
	case c.DTMFPayloadType != 0 && (c.DTMFPayloadType < 96 || c.DTMFPayloadType > 127 || c.DTMFPayloadType == c.PayloadType):
		return fmt.Errorf("%w: telephone-event payload type %d", ErrBadCodec, c.DTMFPayloadType)
	}
	return nil
}

// buildOffer writes our SDP offer: one audio stream with the codecs in
// order and a telephone-event for each clock rate that has one.
func buildOffer(codecs []Codec, p answerParams) []byte {
	ipv := "IP4"
	if p.ip.Is6() && !p.ip.Is4In6() {
		ipv = "IP6"
	}
	ip := p.ip.Unmap().String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=attendant %d %d IN %s %s\r\ns=attendant\r\nc=IN %s %s\r\nt=0 0\r\n",
		p.session, p.version, ipv, ip, ipv, ip)
	var pts []string
	dtmf := make(map[uint8]uint32) // telephone-event payload type: clock rate
	var dtmfOrder []uint8
	for _, c := range codecs {
		pts = append(pts, strconv.Itoa(int(c.PayloadType)))
		if c.DTMFPayloadType != 0 {
			if _, ok := dtmf[c.DTMFPayloadType]; !ok {
				dtmf[c.DTMFPayloadType] = c.ClockRate
				dtmfOrder = append(dtmfOrder, c.DTMFPayloadType)
			}
		}
	}
	for _, pt := range dtmfOrder {
		pts = append(pts, strconv.Itoa(int(pt)))
	}
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", p.port, strings.Join(pts, " "))
	for _, c := range codecs {
		if c.Channels > 1 {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d/%d\r\n", c.PayloadType, c.Name, c.ClockRate, c.Channels)
		} else {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PayloadType, c.Name, c.ClockRate)
		}
		if strings.EqualFold(c.Name, "opus") {
			fmt.Fprintf(&b, "a=fmtp:%d minptime=10;useinbandfec=1\r\n", c.PayloadType)
		}
	}
	for _, pt := range dtmfOrder {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\n", pt, dtmf[pt], pt)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", p.dir)
	return []byte(b.String())
}

// parseDialAnswer reads the robot's SDP answer to our offer: the codec
// must be one we offered, with the payload type we gave it.
func parseDialAnswer(body []byte, offered []Codec) (offer, Codec, error) {
	ans, err := parseOffer(body)
	if err != nil {
		return offer{}, Codec{}, fmt.Errorf("sdp answer: %w", err)
	}
	for _, c := range offered {
		if strings.EqualFold(c.Name, ans.codec.Name) && c.PayloadType == ans.codec.PayloadType {
			got := c
			got.Name = ans.codec.Name
			if ans.codec.DTMFPayloadType != c.DTMFPayloadType {
				got.DTMFPayloadType = 0 // not the telephone-event we offered
			}
			ans.codec = got
			return ans, got, nil
		}
	}
	return offer{}, Codec{}, fmt.Errorf("sdp answer: codec %s/%d was not offered", clip(ans.codec.Name, 16), ans.codec.PayloadType)
}
