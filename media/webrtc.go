package media

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// nackHistory is how many sent video packets a viewer keeps for
// retransmission on NACK (a power of two): about a second of a 2 Mbit/s
// camera. The history holds references to the shared packets (24 bytes an
// entry), not copies.
const nackHistory = 256

// ifaceAddrs is one network interface and its addresses, so that the
// loopback decision can be tested without the machine's interfaces.
type ifaceAddrs struct {
	name     string
	loopback bool
	up       bool
	ips      []net.IP
}

func systemInterfaces() ([]ifaceAddrs, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	out := make([]ifaceAddrs, 0, len(ifs))
	for _, inf := range ifs {
		ia := ifaceAddrs{name: inf.Name, loopback: inf.Flags&net.FlagLoopback != 0, up: inf.Flags&net.FlagUp != 0}
		addrs, err := inf.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ia.ips = append(ia.ips, n.IP)
			}
		}
		out = append(out, ia)
	}
	return out, nil
}

// needLoopback reports whether loopback candidates must be offered: asked
// for, or no other interface passing the filters has a usable address.
func needLoopback(cfg ICEConfig, ifs []ifaceAddrs) bool {
	if cfg.IncludeLoopback {
		return true
	}
	for _, inf := range ifs {
		if inf.loopback || !inf.up || (len(cfg.Interfaces) > 0 && !slices.Contains(cfg.Interfaces, inf.name)) {
			continue
		}
		for _, ip := range inf.ips {
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
				continue
			}
			if len(cfg.IPs) > 0 && !slices.ContainsFunc(cfg.IPs, func(s string) bool { return net.ParseIP(s).Equal(ip) }) {
				continue
			}
			return false
		}
	}
	return true
}

// newSettingEngine builds the one SettingEngine every viewer shares.
func newSettingEngine(cfg ICEConfig, ifs []ifaceAddrs, log *slog.Logger) (webrtc.SettingEngine, bool, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = slogFactory{log: log}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICETimeouts(cfg.DisconnectedTimeout, cfg.FailedTimeout, 2*time.Second)
	if cfg.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return se, false, fmt.Errorf("set ICE UDP port range: %w", err)
		}
	}
	if rules, err := natRules(cfg.NAT1To1IPs); err != nil {
		return se, false, err
	} else if len(rules) > 0 {
		// the successor of SetNAT1To1IPs(ips, ICECandidateTypeHost)
		if err := se.SetICEAddressRewriteRules(rules...); err != nil {
			return se, false, fmt.Errorf("set NAT 1:1 addresses: %w", err)
		}
	}
	loop := needLoopback(cfg, ifs)
	se.SetIncludeLoopbackCandidate(loop)
	if len(cfg.Interfaces) > 0 {
		loopNames := map[string]bool{}
		for _, inf := range ifs {
			if inf.loopback {
				loopNames[inf.name] = true
			}
		}
		keep := slices.Clone(cfg.Interfaces)
		se.SetInterfaceFilter(func(name string) bool {
			return slices.Contains(keep, name) || (loop && loopNames[name])
		})
	}
	if len(cfg.IPs) > 0 {
		var keep []net.IP
		for _, s := range cfg.IPs {
			ip := net.ParseIP(s)
			if ip == nil {
				return se, false, fmt.Errorf("bad ICE IP filter entry %q", s)
			}
			keep = append(keep, ip)
		}
		se.SetIPFilter(func(ip net.IP) bool {
			return (loop && ip.IsLoopback()) || slices.ContainsFunc(keep, ip.Equal)
		})
	}
	return se, loop, nil
}

// natRules turns "public" and "public/local" entries into host-candidate
// rewrite rules.
func natRules(entries []string) ([]webrtc.ICEAddressRewriteRule, error) {
	var plain []string
	var rules []webrtc.ICEAddressRewriteRule
	for _, e := range entries {
		ext, local, pair := strings.Cut(strings.TrimSpace(e), "/")
		if net.ParseIP(ext) == nil || (pair && net.ParseIP(local) == nil) {
			return nil, fmt.Errorf("bad NAT 1:1 address %q (want IP or public/local)", e)
		}
		if pair {
			rules = append(rules, webrtc.ICEAddressRewriteRule{
				External: []string{ext}, Local: local, AsCandidateType: webrtc.ICECandidateTypeHost,
			})
		} else {
			plain = append(plain, ext)
		}
	}
	if len(plain) > 0 {
		rules = append(rules, webrtc.ICEAddressRewriteRule{External: plain, AsCandidateType: webrtc.ICECandidateTypeHost})
	}
	return rules, nil
}

// newViewerAPI builds the pion API for one viewer: exactly the codecs chosen
// from its offer, NACK and PLI feedback announced, and RTCP sender reports
// (from reports, the manager's, shared by all viewers).
// NACKs are answered by the viewer from its own history (sendTrack.resend),
// not by pion's NACK responder, which copies every packet sent into a
// history of its own: a fifth of the CPU and two thirds of the memory per
// viewer (docs/benchmarks.md).
func newViewerAPI(se webrtc.SettingEngine, reports *rtcpReports, video offerCodec, audio *offerCodec) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(video.params(), webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register video codec %s: %w", video.name, err)
	}
	if audio != nil {
		if err := me.RegisterCodec(audio.params(), webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register audio codec %s: %w", audio.name, err)
		}
	}
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	me.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir := &interceptor.Registry{}
	ir.Add(reports)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir)), nil
}

// gatherAnswer answers the offer with ICE gathering complete, so the answer
// works without trickle.
func gatherAnswer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gather ICE candidates: %w", ctx.Err())
	}
	ld := pc.LocalDescription()
	if ld == nil {
		return "", fmt.Errorf("no local description after gathering")
	}
	return ld.SDP, nil
}

// slogFactory sends pion's logs to slog. Pion's info level is chatty, so it
// goes to debug.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{log: f.log.With("pion", scope)}
}

type slogLeveled struct{ log *slog.Logger }

func (l slogLeveled) logf(level slog.Level, format string, a ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, a...))
	}
}

func (l slogLeveled) Trace(string)                   {}
func (l slogLeveled) Tracef(string, ...any)          {}
func (l slogLeveled) Debug(msg string)               { l.log.Debug(msg) }
func (l slogLeveled) Debugf(format string, a ...any) { l.logf(slog.LevelDebug, format, a...) }
func (l slogLeveled) Info(msg string)                { l.log.Debug(msg) }
func (l slogLeveled) Infof(format string, a ...any)  { l.logf(slog.LevelDebug, format, a...) }
func (l slogLeveled) Warn(msg string)                { l.log.Warn(msg) }
func (l slogLeveled) Warnf(format string, a ...any)  { l.logf(slog.LevelWarn, format, a...) }
func (l slogLeveled) Error(msg string)               { l.log.Error(msg) }
func (l slogLeveled) Errorf(format string, a ...any) { l.logf(slog.LevelError, format, a...) }
