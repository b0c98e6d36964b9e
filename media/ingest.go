package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// errStalled ends a session that stopped delivering packets.
var errStalled = errors.New("no packets from camera")

// camera is one configured camera: its ingest, its stream and its viewers.
type camera struct {
	id     string
	log    *slog.Logger
	cfgM   ManagerConfig
	stream *stream

	reconnects atomic.Uint64

	// opMu serializes lifecycle changes: starting and stopping the ingest.
	opMu         sync.Mutex
	ingestCancel context.CancelFunc
	ingestDone   chan struct{}

	mu             sync.Mutex
	cfg            CameraConfig
	state          string
	lastErr        string
	connectedSince time.Time
	viewers        map[string]*viewer
}

func newCamera(id string, mcfg ManagerConfig, log *slog.Logger) *camera {
	log = log.With("camera", id)
	st := newStream(log)
	if hook := mcfg.OnKeyframe; hook != nil {
		st.onKeyframe = func(k *keyframe) {
			if kf, err := k.export(); err == nil {
				hook(id, kf)
			}
		}
	}
	if hook := mcfg.OnAccessUnit; hook != nil {
		st.onAccessUnit = func(au AccessUnit) { hook(id, au) }
	}
	return &camera{
		id: id, log: log, cfgM: mcfg, stream: st,
		state: StateDisabled, viewers: map[string]*viewer{},
	}
}

func (c *camera) config() CameraConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

func (c *camera) setState(state, lastErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = state
	if lastErr != "" || state == StateConnected {
		c.lastErr = lastErr
	}
	if state == StateConnected {
		c.connectedSince = time.Now()
	} else {
		c.connectedSince = time.Time{}
	}
}

// scrub keeps the camera's password out of error text that is shown or logged.
func (c *camera) scrub(err error, cfg CameraConfig) string {
	msg := err.Error()
	if cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "***")
		msg = strings.ReplaceAll(msg, url.QueryEscape(cfg.Password), "***")
	}
	return msg
}

// runIngest keeps the camera connected until ctx ends: one session after
// another, with exponential backoff and jitter between failures.
func (c *camera) runIngest(ctx context.Context, cfg CameraConfig) {
	backoff := c.cfgM.BackoffMin
	var lastMsg string
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.reconnects.Add(1)
		}
		c.setState(StateConnecting, "")
		start := time.Now()
		connected, err := c.session(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		if connected && time.Since(start) >= c.cfgM.StallTimeout {
			backoff = c.cfgM.BackoffMin // it was healthy for a while: retry soon
			lastMsg = ""
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		msg := c.scrub(err, cfg)
		c.setState(StateFailed, msg)
		level := slog.LevelWarn
		if msg == lastMsg {
			level = slog.LevelDebug // the same failure again: do not flood the log
		}
		lastMsg = msg
		c.log.Log(ctx, level, "camera ingest failed", "err", msg, "url", redactURL(cfg.URL),
			"retry_in", wait.Round(time.Millisecond), "attempt", attempt+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, c.cfgM.BackoffMax)
	}
}

func rtspTransport(t string) *gortsplib.Transport {
	var tr gortsplib.Transport
	switch normTransport(t) {
	case TransportAuto:
		return nil // gortsplib tries UDP, then TCP when no packets arrive
	case TransportUDP:
		tr = gortsplib.TransportUDP
	default:
		tr = gortsplib.TransportTCP
	}
	return &tr
}

// session runs one RTSP session: DESCRIBE, SETUP, PLAY, then packets until
// the camera ends it, stalls or ctx ends. connected reports that PLAY worked.
func (c *camera) session(ctx context.Context, cfg CameraConfig) (connected bool, err error) {
	defer func() {
		if r := recover(); r != nil { // a hostile camera must not take the server down
			err = fmt.Errorf("ingest panic: %v", r)
		}
	}()
	u, err := base.ParseURL(cfg.URL)
	if err != nil {
		return false, errors.New("parse camera URL: invalid URL")
	}
	if cfg.Username != "" {
		u.User = url.UserPassword(cfg.Username, cfg.Password)
	}
	timeout := c.cfgM.RTSPTimeout
	client := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Transport: rtspTransport(cfg.Transport),
		ReadTimeout: timeout, WriteTimeout: timeout, UserAgent: "attendant",
		DialContext: func(dctx context.Context, network, address string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(dctx, network, address)
		},
		OnPacketsLost: func(n uint64) { c.stream.lost.Add(n) },
		OnDecodeError: func(err error) { c.log.Debug("camera packet decode error", "err", err) },
		OnTransportSwitch: func(err error) {
			c.log.Info("camera transport switched", "reason", err)
		},
	}
	if err := client.Start2(); err != nil {
		return false, fmt.Errorf("start RTSP client: %w", err)
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, client.Close) // unblocks DESCRIBE/SETUP/PLAY
	defer stop()

	desc, _, err := client.Describe(u)
	if err != nil {
		return false, fmt.Errorf("describe: %w", err)
	}
	info, vm, vf, am, af, err := pickMedias(desc)
	if err != nil {
		return false, err
	}
	medias := []*description.Media{vm}
	if am != nil {
		medias = append(medias, am)
	}
	if err := client.SetupAll(desc.BaseURL, medias); err != nil {
		return false, fmt.Errorf("setup: %w", err)
	}
	codecChanged, err := c.stream.begin(info, time.Now())
	if err != nil {
		return false, err
	}
	if codecChanged {
		c.closeViewers(errors.New("camera codec changed"))
	}

	fail := make(chan error, 1)
	recoverPacket := func() {
		if r := recover(); r != nil {
			select {
			case fail <- fmt.Errorf("panic handling camera packet: %v", r):
			default:
			}
		}
	}
	client.OnPacketRTP(vm, vf, func(p *rtp.Packet) {
		defer recoverPacket()
		c.stream.writeVideo(p, time.Now())
	})
	if am != nil {
		client.OnPacketRTP(am, af, func(p *rtp.Packet) {
			defer recoverPacket()
			c.stream.writeAudio(p, time.Now())
		})
	}
	if _, err := client.Play(nil); err != nil {
		return false, fmt.Errorf("play: %w", err)
	}
	c.setState(StateConnected, "")
	c.log.Info("camera connected", "url", redactURL(cfg.URL), "codec", info.codec, "audio", info.audio)

	ended := make(chan error, 1)
	go func() { ended <- client.Wait() }() // ends with the deferred Close
	tick := time.NewTicker(max(c.cfgM.StallTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case err := <-ended:
			return true, fmt.Errorf("camera stream ended: %w", err)
		case err := <-fail:
			return true, err
		case <-ctx.Done():
			return true, ctx.Err()
		case now := <-tick.C:
			if now.Sub(time.Unix(0, c.stream.lastPacket.Load())) > c.cfgM.StallTimeout {
				return true, fmt.Errorf("%w for %v", errStalled, c.cfgM.StallTimeout)
			}
		}
	}
}

// pickMedias chooses the video (H264 or H265) and, when the camera has it in a
// browser codec, the audio to set up.
func pickMedias(desc *description.Session) (info sessionInfo, vm *description.Media, vf format.Format,
	am *description.Media, af format.Format, err error,
) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			switch f := f.(type) {
			case *format.H264:
				if vm == nil {
					vm, vf = m, f
					info.codec, info.h264PktMode = CodecH264, f.PacketizationMode
					info.sps, info.pps = f.SafeParams()
				}
			case *format.H265:
				if vm == nil {
					vm, vf = m, f
					info.codec = CodecH265
					info.vps, info.sps, info.pps = f.SafeParams()
				}
			case *format.G711:
				if info.audio == "" {
					info.audio = "pcma"
					if f.MULaw {
						info.audio = "pcmu"
					}
					info.audioClock, info.audioChannels = f.SampleRate, f.ChannelCount
					if f.SampleRate == 8000 && f.ChannelCount <= 1 {
						am, af, info.audioForward = m, f, true
					}
				}
			case *format.Opus:
				if info.audio == "" {
					info.audio, info.audioClock, info.audioChannels = "opus", 48000, f.ChannelCount
					am, af, info.audioForward = m, f, true
				}
			case *format.MPEG4Audio, *format.MPEG4AudioLATM:
				if info.audio == "" {
					info.audio = "aac" // reported, not sent: browsers cannot play AAC over WebRTC
				}
			}
		}
	}
	if vm == nil {
		return info, nil, nil, nil, nil, errors.New("camera offers no H264 or H265 video")
	}
	if vm == am {
		am, af, info.audioForward = nil, nil, false
	}
	return info, vm, vf, am, af, nil
}

// closeViewers ends every viewer of the camera (they end asynchronously).
func (c *camera) closeViewers(cause error) []*viewer {
	c.mu.Lock()
	vs := make([]*viewer, 0, len(c.viewers))
	for _, v := range c.viewers {
		vs = append(vs, v)
	}
	c.mu.Unlock()
	for _, v := range vs {
		v.close(cause)
	}
	return vs
}
