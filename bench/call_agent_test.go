//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/internal/g711"
	"github.com/attendant/attendant/signaling"
)

// agentPool is the agent process's agents: each a browser as far as the
// server can tell, one WebSocket and, during a call, one PeerConnection
// that plays 20 ms of PCMU every 20 ms and counts what the robot sends.
type agentPool struct {
	api *webrtc.API

	mu     sync.Mutex
	agents []*callAgent
	hold   time.Duration
	setups []time.Duration // ringing → answered, since the last "setups"
	// audio: accept → the robot's first packet at the agent, since the
	// last "setups" (the agent accepts as it rings)
	audio  []time.Duration
	ended  int
	failed int
	first  string
}

func newAgentPool() *agentPool {
	return &agentPool{}
}

func (p *agentPool) handle(cmd agentCmd) agentReply {
	var rep agentReply
	var err error
	switch cmd.Op {
	case "connect":
		p.mu.Lock()
		p.hold = cmd.Hold
		p.mu.Unlock()
		err = p.connect(cmd.URL, cmd.Tokens)
	case "hold":
		p.mu.Lock()
		p.hold = cmd.Hold
		p.mu.Unlock()
	case "stats":
		rep, err = p.stats()
	case "quiet":
		for _, a := range p.snapshot() {
			if c := a.current(); c != nil {
				c.stopTalking()
			}
		}
	case "hangup":
		err = p.hangup(cmd.Timeout)
	case "setups":
		p.mu.Lock()
		rep.Setups, p.setups = p.setups, nil
		rep.AudioStarts, p.audio = p.audio, nil
		p.mu.Unlock()
	default:
		err = fmt.Errorf("unknown command %q", cmd.Op)
	}
	if err != nil {
		rep.Err = err.Error()
	}
	return rep
}

func (p *agentPool) snapshot() []*callAgent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*callAgent(nil), p.agents...)
}

func (p *agentPool) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed++
	if p.first == "" {
		p.first = err.Error()
	}
}

// connect opens one agent per token, 16 at a time, each up to its welcome.
func (p *agentPool) connect(base string, tokens []string) error {
	if p.api == nil {
		api, err := newAgentAPI()
		if err != nil {
			return err
		}
		p.api = api
	}
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws"
	errs := make([]error, len(tokens))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, tok := range tokens {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a, err := dialAgent(p, wsURL, tok)
			if err != nil {
				errs[i] = err
				return
			}
			p.mu.Lock()
			p.agents = append(p.agents, a)
			p.mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *agentPool) stats() (agentReply, error) {
	var rep agentReply
	var err error
	if rep.CPU, err = processCPU(); err != nil {
		return rep, err
	}
	for _, a := range p.snapshot() {
		c := a.current()
		switch {
		case c == nil:
		case c.connected.Load() && c.answered.Load():
			rep.Active++
			rep.Calls = append(rep.Calls, c.audioStats())
		default:
			rep.Pending++
		}
	}
	p.mu.Lock()
	rep.Ended, rep.Failed, rep.FirstFail = p.ended, p.failed, p.first
	p.mu.Unlock()
	return rep, nil
}

// hangup has every agent on a call hang up and waits until no call is left.
func (p *agentPool) hangup(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	agents := p.snapshot()
	for _, a := range agents {
		if c := a.current(); c != nil {
			a.send(signaling.Message{Type: signaling.TypeHangup, CallID: c.id})
		}
	}
	for {
		left := 0
		for _, a := range agents {
			if a.current() != nil {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d calls still up %v after the hang-up", left, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *agentPool) close() {
	_ = p.hangup(10 * time.Second)
	for _, a := range p.snapshot() {
		a.close()
	}
}

// newAgentAPI is a browser's WebRTC: PCMU, the default interceptors
// (RTCP reports, NACK), loopback only.
func newAgentAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1},
		PayloadType:        0,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// callAgent is one agent's browser: it accepts every call it is rung for
// (it is rung only when free), answers the offer, talks, and hangs up
// after the pool's hold or when told.
type callAgent struct {
	pool *agentPool
	ws   *websocket.Conn
	done chan struct{} // the reader has ended

	mu    sync.Mutex
	cur   *agentCall
	rings map[string]time.Time // call id → when it rang
}

func dialAgent(p *agentPool, wsURL, token string) (*callAgent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("dial the signaling WebSocket: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	_, b, err := ws.Read(ctx)
	var m signaling.Message
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err == nil && m.Type != signaling.TypeWelcome {
		err = fmt.Errorf("first message %q, want welcome", m.Type)
	}
	if err != nil {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	a := &callAgent{pool: p, ws: ws, done: make(chan struct{}), rings: map[string]time.Time{}}
	go a.read()
	return a, nil
}

func (a *callAgent) current() *agentCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

func (a *callAgent) send(m signaling.Message) {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.ws.Write(ctx, websocket.MessageText, b); err != nil {
		a.pool.fail(fmt.Errorf("send %s: %w", m.Type, err))
	}
}

func (a *callAgent) close() {
	_ = a.ws.Close(websocket.StatusNormalClosure, "")
	<-a.done
	if c := a.current(); c != nil {
		c.close()
	}
}

// read handles the server's messages one after the other, as a page does.
func (a *callAgent) read() {
	defer close(a.done)
	for {
		_, b, err := a.ws.Read(context.Background())
		if err != nil {
			return
		}
		var m signaling.Message
		if err := json.Unmarshal(b, &m); err != nil {
			a.pool.fail(fmt.Errorf("bad message: %w", err))
			continue
		}
		a.handle(m)
	}
}

func (a *callAgent) handle(m signaling.Message) {
	switch m.Type {
	case signaling.TypeRinging:
		a.mu.Lock()
		busy := a.cur != nil
		if !busy {
			a.rings[m.Call.ID] = time.Now()
		}
		a.mu.Unlock()
		if !busy {
			a.send(signaling.Message{Type: signaling.TypeAccept, CallID: m.Call.ID})
		}
	case signaling.TypeOffer:
		a.mu.Lock()
		accepted, fresh := a.rings[m.CallID]
		a.mu.Unlock()
		var firstAudio func(time.Time)
		if fresh { // not a second offer for a call already timed
			firstAudio = func(at time.Time) {
				a.pool.mu.Lock()
				a.pool.audio = append(a.pool.audio, at.Sub(accepted))
				a.pool.mu.Unlock()
			}
		}
		c, answer, err := newAgentCall(a.pool.api, m.CallID, m.SDP, firstAudio)
		if err != nil {
			a.pool.fail(fmt.Errorf("answer the offer of %s: %w", m.CallID, err))
			a.send(signaling.Message{Type: signaling.TypeHangup, CallID: m.CallID})
			return
		}
		a.mu.Lock()
		old := a.cur
		a.cur = c
		a.mu.Unlock()
		if old != nil {
			old.close()
		}
		a.send(signaling.Message{Type: signaling.TypeAnswer, CallID: m.CallID, SDP: answer})
	case signaling.TypeAnswered:
		now := time.Now()
		a.mu.Lock()
		c := a.cur
		rang, ok := a.rings[m.CallID]
		delete(a.rings, m.CallID)
		a.mu.Unlock()
		if c == nil || c.id != m.CallID {
			return
		}
		c.answered.Store(true)
		a.pool.mu.Lock()
		if ok {
			a.pool.setups = append(a.pool.setups, now.Sub(rang))
		}
		hold := a.pool.hold
		a.pool.mu.Unlock()
		if hold > 0 {
			time.AfterFunc(hold, func() { a.send(signaling.Message{Type: signaling.TypeHangup, CallID: m.CallID}) })
		}
	case signaling.TypeEnded:
		a.mu.Lock()
		c := a.cur
		if c != nil && c.id == m.CallID {
			a.cur = nil
		} else {
			c = nil
		}
		delete(a.rings, m.CallID)
		a.mu.Unlock()
		if c == nil {
			return
		}
		c.close()
		a.pool.mu.Lock()
		a.pool.ended++
		a.pool.mu.Unlock()
		// free again: a call of this agent's robot may be waiting
		a.send(signaling.Message{Type: signaling.TypePresence, State: signaling.PresenceOnline})
	case signaling.TypeError:
		if m.Code != "no_such_call" && m.Code != "not_yours" { // a hang-up racing the robot's BYE
			a.pool.fail(fmt.Errorf("server error %s: %s (call %s)", m.Code, m.Error, m.CallID))
		}
	}
}

// agentCall is one call's PeerConnection at the agent.
type agentCall struct {
	id        string
	pc        *webrtc.PeerConnection
	mic       *webrtc.TrackLocalStaticRTP
	connected atomic.Bool
	answered  atomic.Bool
	sent      atomic.Int64
	quiet     chan struct{}
	quietOnce sync.Once
	wg        sync.WaitGroup

	mu sync.Mutex
	rx rxStats
}

// newAgentCall answers the offer; firstAudio, if not nil, is called with
// the time the robot's first packet arrives.
func newAgentCall(api *webrtc.API, id, offer string, firstAudio func(time.Time)) (*agentCall, string, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	c := &agentCall{id: id, pc: pc, quiet: make(chan struct{})}
	c.mic, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "mic", "agent")
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	up := make(chan struct{})
	var upOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			c.connected.Store(true)
			upOnce.Do(func() { close(up) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.wg.Add(1)
		defer c.wg.Done()
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			if firstAudio != nil {
				firstAudio(now)
				firstAudio = nil
			}
			c.mu.Lock()
			c.rx.add(p.SequenceNumber, p.Timestamp, now)
			c.mu.Unlock()
		}
	})
	answer, err := func() (string, error) {
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			return "", err
		}
		if _, err := pc.AddTrack(c.mic); err != nil {
			return "", err
		}
		ans, err := pc.CreateAnswer(nil)
		if err != nil {
			return "", err
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(ans); err != nil {
			return "", err
		}
		select {
		case <-gathered:
		case <-time.After(10 * time.Second):
			return "", errors.New("ICE gathering did not complete")
		}
		return pc.LocalDescription().SDP, nil
	}()
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-up:
			c.talk()
		case <-c.quiet:
		}
	}()
	return c, answer, nil
}

// agentTone is 20 ms of a 440 Hz tone in µ-law: what the agent says.
var agentTone = func() []byte {
	b := make([]byte, 160)
	for i := range b {
		b[i] = g711.EncodeULaw(int16(6000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	return b
}()

// talk writes one PCMU packet every 20 ms until quiet.
func (c *agentCall) talk() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	seq, ts, ssrc := uint16(rand.Uint32()), rand.Uint32(), rand.Uint32()
	for {
		select {
		case <-c.quiet:
			return
		case <-t.C:
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: agentTone}
		if err := c.mic.WriteRTP(&p); err == nil {
			c.sent.Add(1)
		}
		seq++
		ts += 160
	}
}

func (c *agentCall) stopTalking() { c.quietOnce.Do(func() { close(c.quiet) }) }

func (c *agentCall) close() {
	c.stopTalking()
	_ = c.pc.Close()
	c.wg.Wait()
}

func (c *agentCall) audioStats() callAudioStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return callAudioStats{ID: c.id, Rx: c.rx.n, Expected: c.rx.expected(), JitterMs: c.rx.jitter / 8, Sent: c.sent.Load()}
}

// rxStats counts a stream's packets and its RFC 3550 interarrival jitter
// (in timestamp units: 1/8 ms at 8 kHz).
type rxStats struct {
	n           int64
	first, last int64 // extended sequence numbers
	cycles      int64
	lastSeq     uint16
	prevTS      uint32
	prevAt      time.Time
	jitter      float64
}

func (r *rxStats) add(seq uint16, ts uint32, at time.Time) {
	if r.n == 0 {
		r.first, r.last, r.lastSeq = int64(seq), int64(seq), seq
	} else {
		if seq < r.lastSeq && r.lastSeq-seq > 0x8000 {
			r.cycles += 1 << 16
		}
		if ext := r.cycles + int64(seq); ext > r.last {
			r.last = ext
			r.lastSeq = seq
		}
		// D = (arrival j − arrival i) − (sent j − sent i), in timestamp units
		d := at.Sub(r.prevAt).Seconds()*8000 - float64(int32(ts-r.prevTS))
		r.jitter += (math.Abs(d) - r.jitter) / 16
	}
	r.prevTS, r.prevAt = ts, at
	r.n++
}

func (r *rxStats) expected() int64 {
	if r.n == 0 {
		return 0
	}
	return r.last - r.first + 1
}
