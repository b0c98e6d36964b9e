// Package demorobot is the simulated gate robot of `attendant serve
// --demo`: it registers with the server's SIP registrar like a real robot
// (digest auth), reports a vehicle waiting at its lane (so the call-out
// list has an entry), calls in, talks (a PCMU tone) until the agent hangs up
// or a while has passed, answers robot commands (MESSAGE) with 200 and
// reports its new state (display, gate), answers the agent's outbound
// calls, and calls again later, so a newcomer can try the gate-call page.
package demorobot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"github.com/attendant/attendant/internal/g711"
)

// Config configures a robot.
type Config struct {
	// Server is the SIP server's UDP address (host:port).
	Server string
	// Username and Password are the robot device's SIP credentials.
	Username, Password string
	// FirstCall is when after start it calls the first time; Pause how
	// long it waits after a call before the next; TalkFor how long it stays
	// on a call at most.
	FirstCall, Pause, TalkFor time.Duration
	// Plate is the plate of the vehicle the robot "sees" (the parking demo
	// backend knows 京A12345: a fee is due).
	Plate string
	Log   *slog.Logger
}

// Robot is a simulated robot. Run it; Calls counts its answered calls.
type Robot struct {
	cfg      Config
	log      *slog.Logger
	answered atomic.Int64
	rtpOut   atomic.Int64
	commands atomic.Int64

	mu       sync.Mutex
	received []string // last commands' bodies
	state    robotState
	send     func(ctx context.Context, body []byte) error // set by Run
	holds    []string                                     // directions answered to re-INVITEs
	contact  *sip.ContactHeader

	mediaPort atomic.Int32 // the call's RTP port, for re-INVITEs
}

// Holds returns the directions the robot answered re-INVITEs with
// ("recvonly" when the agent held the call, "sendrecv" on resume).
func (r *Robot) Holds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.holds...)
}

// robotState is what the robot reports (docs/robot-protocol.md).
type robotState struct {
	Display struct {
		Mode    string `json:"mode"`
		Payload string `json:"payload,omitempty"`
	} `json:"display"`
	Gate    string `json:"gate"`
	LED     string `json:"led,omitempty"`
	Plate   string `json:"plate,omitempty"`
	Vehicle struct {
		Present bool       `json:"present"`
		Since   *time.Time `json:"since,omitempty"`
		Plate   string     `json:"plate,omitempty"`
	} `json:"vehicle"`
}

// maxReceived bounds the commands Commands returns.
const maxReceived = 32

// New returns a robot.
func New(cfg Config) *Robot {
	if cfg.FirstCall <= 0 {
		cfg.FirstCall = 20 * time.Second
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 90 * time.Second
	}
	if cfg.TalkFor <= 0 {
		cfg.TalkFor = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Plate == "" {
		cfg.Plate = "京A12345"
	}
	r := &Robot{cfg: cfg, log: cfg.Log}
	r.state.Display.Mode, r.state.Gate = "face", "closed"
	return r
}

// Commands returns the bodies of the last commands the robot received,
// oldest first.
func (r *Robot) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.received...)
}

// command applies an agent's command to the robot's state, as a real robot
// would, and reports the new state.
func (r *Robot) command(ctx context.Context, body []byte) {
	var cmd struct {
		Action  string `json:"action"`
		Mode    string `json:"mode"`
		Payload string `json:"payload"`
		Color   string `json:"color"`
	}
	if json.Unmarshal(body, &cmd) != nil {
		return
	}
	r.mu.Lock()
	r.received = append(r.received, string(body))
	if len(r.received) > maxReceived {
		r.received = r.received[len(r.received)-maxReceived:]
	}
	changed := true
	switch cmd.Action {
	case "open_gate":
		// the car drives through: the lane is free again
		r.state.Gate = "open"
		r.state.Vehicle.Present, r.state.Vehicle.Since, r.state.Vehicle.Plate, r.state.Plate = false, nil, "", ""
		r.state.Display.Mode, r.state.Display.Payload = "text", "Goodbye"
	case "display":
		r.state.Display.Mode, r.state.Display.Payload = cmd.Mode, cmd.Payload
	case "led":
		r.state.LED = cmd.Color
	default:
		changed = false
	}
	r.mu.Unlock()
	if changed {
		r.report(ctx)
	}
}

// vehicleArrives sets the state of a car waiting at the closed gate.
func (r *Robot) vehicleArrives(ctx context.Context) {
	now := time.Now().UTC()
	r.mu.Lock()
	r.state.Gate = "closed"
	r.state.Vehicle.Present, r.state.Vehicle.Since, r.state.Vehicle.Plate, r.state.Plate = true, &now, r.cfg.Plate, r.cfg.Plate
	r.state.Display.Mode, r.state.Display.Payload = "text", "Please wait: calling the service centre"
	r.mu.Unlock()
	r.report(ctx)
}

// report sends the robot's state to the server (MESSAGE, JSON).
func (r *Robot) report(ctx context.Context) {
	r.mu.Lock()
	body, err := json.Marshal(r.state)
	send := r.send
	r.mu.Unlock()
	if err != nil || send == nil {
		return
	}
	if err := send(ctx, body); err != nil {
		r.log.Debug("demo robot state not delivered", "err", err)
	}
}

// Stats are what the robot did: calls answered by an agent, RTP packets
// sent, commands received.
func (r *Robot) Stats() (answered, rtpSent, commands int64) {
	return r.answered.Load(), r.rtpOut.Load(), r.commands.Load()
}

// Run registers and calls in until ctx ends.
func (r *Robot) Run(ctx context.Context) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo robot: listen: %w", err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("attendant-demo-robot"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		conn.Close()
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		return err
	}
	contact := sip.ContactHeader{Address: sip.Uri{User: r.cfg.Username, Host: "127.0.0.1", Port: port}}
	dialogs := sipgo.NewDialogClientCache(cli, contact)
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		r.commands.Add(1)
		r.log.Info("demo robot got a command", "body", string(req.Body()))
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		go r.command(ctx, req.Body())
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go func() { _ = srv.ServeUDP(conn) }()
	defer conn.Close()

	host, p, err := net.SplitHostPort(r.cfg.Server)
	if err != nil {
		return fmt.Errorf("demo robot: server address %q: %w", r.cfg.Server, err)
	}
	serverPort, _ := strconv.Atoi(p)
	server := sip.Uri{Host: host, Port: serverPort}
	r.mu.Lock()
	r.send = func(ctx context.Context, body []byte) error { return r.message(ctx, cli, server, body) }
	r.contact = &contact
	r.mu.Unlock()
	answering := newAnswerer(r, contact, cli)
	srv.OnInvite(answering.invite)
	srv.OnAck(answering.ack)
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := dialogs.ReadBye(req, tx); err == nil {
			return
		}
		answering.bye(req, tx)
	})

	wait := r.cfg.FirstCall
	nextRegister := time.Time{}
	for {
		if time.Now().After(nextRegister) {
			if err := r.register(ctx, cli, server, contact); err != nil {
				r.log.Warn("demo robot could not register; retrying", "err", err)
				wait = 10 * time.Second
			} else {
				nextRegister = time.Now().Add(4 * time.Minute)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(wait, time.Until(nextRegister))):
		}
		if time.Now().After(nextRegister) {
			continue // re-register first
		}
		if answering.busy() {
			wait = 5 * time.Second // on the agent's call: try later
			continue
		}
		r.vehicleArrives(ctx)
		if err := r.call(ctx, dialogs, server); err != nil && ctx.Err() == nil {
			r.log.Info("demo robot call ended", "result", err)
		}
		wait = r.cfg.Pause
	}
}

// message sends the server a MESSAGE from the robot (its state).
func (r *Robot) message(ctx context.Context, cli *sipgo.Client, server sip.Uri, body []byte) error {
	me := sip.Uri{User: r.cfg.Username, Host: server.Host, Port: server.Port}
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{User: "service", Host: server.Host, Port: server.Port})
	params := sip.NewParams()
	params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(&sip.FromHeader{Address: me, Params: params})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: "service", Host: server.Host, Port: server.Port}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/json"))
	req.SetBody(body)
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := cli.Do(mctx, req)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("state: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

func (r *Robot) register(ctx context.Context, cli *sipgo.Client, server sip.Uri, contact sip.ContactHeader) error {
	to := sip.Uri{User: r.cfg.Username, Host: server.Host, Port: server.Port}
	req := sip.NewRequest(sip.REGISTER, server)
	req.AppendHeader(&sip.ToHeader{Address: to})
	params := sip.NewParams()
	params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(&sip.FromHeader{Address: to, Params: params})
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := cli.Do(rctx, req)
	if err != nil {
		return err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		res, err = cli.DoDigestAuth(rctx, req, res, sipgo.DigestAuth{Username: r.cfg.Username, Password: r.cfg.Password})
		if err != nil {
			return err
		}
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("register: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// call dials the service centre and talks until hung up or TalkFor.
func (r *Robot) call(ctx context.Context, dialogs *sipgo.DialogClientCache, server sip.Uri) error {
	media, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer media.Close()
	mport := media.LocalAddr().(*net.UDPAddr).Port
	r.mediaPort.Store(int32(mport))
	defer r.mediaPort.Store(0)
	offer := fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=demo robot\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
		rand.Uint32(), mport)
	to := sip.Uri{User: "service", Host: server.Host, Port: server.Port}
	params := sip.NewParams()
	params.Add("tag", sip.GenerateTagN(8))
	from := &sip.FromHeader{Address: sip.Uri{User: r.cfg.Username, Host: server.Host, Port: server.Port}, Params: params}
	dlg, err := dialogs.Invite(ctx, to, []byte(offer), from, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		return err
	}
	defer dlg.Close()
	r.log.Info("demo robot is calling", "to", to.String())
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := dlg.WaitAnswer(wctx, sipgo.AnswerOptions{Username: r.cfg.Username, Password: r.cfg.Password}); err != nil {
		return fmt.Errorf("not answered: %w", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		return err
	}
	r.answered.Add(1)
	dst, err := rtpDestination(dlg.InviteResponse.Body())
	if err != nil {
		_ = dlg.Bye(ctx)
		return err
	}
	talk, stop := context.WithTimeout(ctx, r.cfg.TalkFor)
	defer stop()
	go func() { // drain what the agent says
		buf := make([]byte, 1500)
		for talk.Err() == nil {
			_ = media.SetReadDeadline(time.Now().Add(time.Second))
			_, _, _ = media.ReadFrom(buf)
		}
	}()
	r.sendTone(talk, dlg.Context(), media, dst)
	if dlg.Context().Err() != nil {
		return errors.New("the agent hung up")
	}
	return dlg.Bye(context.WithoutCancel(ctx))
}

// sendTone sends a 440 Hz PCMU tone, a packet every 20 ms, until either
// context ends.
func (r *Robot) sendTone(talk, dialog context.Context, conn net.PacketConn, dst net.Addr) {
	tone := make([]byte, 8000)
	for i := range tone {
		tone[i] = g711.EncodeULaw(int16(6000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()),
		Timestamp: rand.Uint32()}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-talk.Done():
			return
		case <-dialog.Done():
			return
		case <-t.C:
		}
		off := (i * 160) % len(tone)
		pkt.Payload = tone[off : off+160]
		b, err := pkt.Marshal()
		if err == nil {
			if _, err := conn.WriteTo(b, dst); err == nil {
				r.rtpOut.Add(1)
			}
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
	}
}

// rtpDestination reads the audio address of an SDP answer.
func rtpDestination(body []byte) (net.Addr, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("answer SDP: %w", err)
	}
	host := ""
	if s.ConnectionInformation != nil && s.ConnectionInformation.Address != nil {
		host = s.ConnectionInformation.Address.Address
	}
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		if m.ConnectionInformation != nil && m.ConnectionInformation.Address != nil {
			host = m.ConnectionInformation.Address.Address
		}
		return net.ResolveUDPAddr("udp4", net.JoinHostPort(host, strconv.Itoa(m.MediaName.Port.Value)))
	}
	return nil, errors.New("answer SDP has no audio")
}
