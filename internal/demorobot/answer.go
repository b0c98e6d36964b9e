package demorobot

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// answerer takes the agent's outbound calls: it answers at once in PCMU
// and talks (the tone) until the agent hangs up.
type answerer struct {
	r       *Robot
	dialogs *sipgo.DialogServerCache
	active  atomic.Int32
}

func newAnswerer(r *Robot, contact sip.ContactHeader, cli *sipgo.Client) *answerer {
	return &answerer{r: r, dialogs: sipgo.NewDialogServerCache(cli, contact)}
}

func (a *answerer) busy() bool { return a.active.Load() > 0 }

func (a *answerer) invite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params != nil {
		if _, ok := to.Params.Get("tag"); ok {
			a.reinvite(req, tx)
			return
		}
	}
	if a.active.Load() > 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		return
	}
	dst, err := rtpDestination(req.Body())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := a.dialogs.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	defer dlg.Close()
	a.active.Add(1)
	defer a.active.Add(-1)
	media, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		_ = dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	defer media.Close()
	a.r.mediaPort.Store(int32(media.LocalAddr().(*net.UDPAddr).Port))
	answer := fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=demo robot\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
		rand.Uint32(), media.LocalAddr().(*net.UDPAddr).Port)
	_ = dlg.Respond(180, "Ringing", nil)
	if err := dlg.Respond(200, "OK", []byte(answer), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		a.r.log.Info("demo robot could not answer", "err", err)
		return
	}
	a.r.answered.Add(1)
	a.r.log.Info("demo robot answered the agent's call")
	ctx := dlg.Context()
	talk, stop := context.WithTimeout(ctx, a.r.cfg.TalkFor)
	defer stop()
	go func() { // drain what the agent says
		buf := make([]byte, 1500)
		for talk.Err() == nil {
			_ = media.SetReadDeadline(time.Now().Add(time.Second))
			_, _, _ = media.ReadFrom(buf)
		}
	}()
	a.r.sendTone(talk, ctx, media, dst)
	if ctx.Err() == nil {
		bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = dlg.Bye(bctx)
	}
}

// reinvite answers a re-INVITE inside a call (the agent holds or resumes
// it, or refreshes the session): the same media, the direction mirrored.
func (a *answerer) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	port := a.r.mediaPort.Load()
	if port == 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	dir := "sendrecv"
	body := string(req.Body())
	switch {
	case strings.Contains(body, "a=sendonly"):
		dir = "recvonly"
	case strings.Contains(body, "a=inactive"):
		dir = "inactive"
	case strings.Contains(body, "a=recvonly"):
		dir = "sendonly"
	}
	a.r.mu.Lock()
	a.r.holds = append(a.r.holds, dir)
	a.r.mu.Unlock()
	answer := fmt.Sprintf("v=0\r\no=- 1 %d IN IP4 127.0.0.1\r\ns=demo robot\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=%s\r\n",
		time.Now().Unix(), port, dir)
	res := sip.NewResponseFromRequest(req, 200, "OK", []byte(answer))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	a.r.mu.Lock()
	c := a.r.contact
	a.r.mu.Unlock()
	if c != nil {
		res.AppendHeader(c.Clone())
	}
	_ = tx.Respond(res)
}

func (a *answerer) ack(req *sip.Request, tx sip.ServerTransaction) {
	_ = a.dialogs.ReadAck(req, tx)
}

func (a *answerer) bye(req *sip.Request, tx sip.ServerTransaction) {
	if err := a.dialogs.ReadBye(req, tx); err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}
