package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// muxWriteBuffer and muxReadBuffer are the socket buffers asked for each
// shared socket: every viewer's and call's packets go through it, and one
// goroutine reads what all the peers send (100 calls: 5,000 packets a
// second), which the default 208 KiB buffer holds for only tens of
// milliseconds on a busy machine. The kernel caps both at
// net.core.wmem_max and net.core.rmem_max.
const (
	muxWriteBuffer = 4 << 20
	muxReadBuffer  = 4 << 20
)

// sharedMux is one UDP socket per local address for all the PeerConnections
// of a Manager or a Bridger (pion's ICE UDP mux), each socket a batchConn,
// so that packets to many peers leave in few system calls. It is opened by
// the first PeerConnection that needs it and closed when the last one is
// done, so an idle server holds no socket and no goroutine for it.
type sharedMux struct {
	cfg ICEConfig
	ips []net.IP // where to listen; none: no mux, each PeerConnection gathers its own sockets
	log *slog.Logger

	mu    sync.Mutex
	refs  int
	mux   *ice.MultiUDPMuxDefault
	conns []*batchConn
}

func newSharedMux(cfg ICEConfig, ifs []ifaceAddrs, loop bool, log *slog.Logger) *sharedMux {
	return &sharedMux{cfg: cfg, ips: muxIPs(cfg, ifs, loop), log: log}
}

// muxIPs are the local addresses candidates are gathered on, by the same
// rules as newSettingEngine's filters: up interfaces, loopback only when
// loop, the interface and IP filters, no link-local or unspecified address.
func muxIPs(cfg ICEConfig, ifs []ifaceAddrs, loop bool) []net.IP {
	var out []net.IP
	for _, inf := range ifs {
		if !inf.up || (inf.loopback && !loop) {
			continue
		}
		if len(cfg.Interfaces) > 0 && !slices.Contains(cfg.Interfaces, inf.name) && !(loop && inf.loopback) {
			continue
		}
		for _, ip := range inf.ips {
			if ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() || (ip.IsLoopback() && !loop) {
				continue
			}
			if len(cfg.IPs) > 0 && !(loop && ip.IsLoopback()) &&
				!slices.ContainsFunc(cfg.IPs, func(s string) bool { return net.ParseIP(s).Equal(ip) }) {
				continue
			}
			out = append(out, ip)
		}
	}
	return out
}

// settingEngine returns se using the shared mux, and the release to call
// once the PeerConnection built from it is closed. With no address to
// listen on it returns se unchanged.
func (s *sharedMux) settingEngine(se webrtc.SettingEngine) (webrtc.SettingEngine, func(), error) {
	if len(s.ips) == 0 {
		return se, func() {}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mux == nil {
		if err := s.open(); err != nil {
			return se, nil, err
		}
	}
	s.refs++
	se.SetICEUDPMux(s.mux)
	var once sync.Once
	return se, func() { once.Do(s.release) }, nil
}

func (s *sharedMux) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs > 0 || s.mux == nil {
		return
	}
	if err := s.mux.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("close ICE UDP mux", "err", err)
	}
	var datagrams, syscalls, dropped uint64
	for _, c := range s.conns {
		datagrams, syscalls, dropped = datagrams+c.datagrams.Load(), syscalls+c.syscalls.Load(), dropped+c.dropped.Load()
	}
	s.log.Debug("ICE UDP mux closed", "datagrams", datagrams, "sendmmsg_calls", syscalls, "dropped", dropped)
	s.mux, s.conns = nil, nil
}

// open listens on every address (callers hold mu): on the first free port
// of the configured range, or an ephemeral one.
func (s *sharedMux) open() error {
	var conns []*batchConn
	var muxes []ice.UDPMux
	fail := func(err error) error {
		for _, c := range conns {
			_ = c.Close()
		}
		return err
	}
	logger := slogFactory{log: s.log}.NewLogger("udpmux")
	for _, ip := range s.ips {
		uc, err := listenInRange(ip, s.cfg.UDPPortMin, s.cfg.UDPPortMax)
		if err != nil {
			return fail(err)
		}
		if err := uc.SetWriteBuffer(muxWriteBuffer); err != nil {
			s.log.Debug("set UDP send buffer", "err", err)
		}
		if err := uc.SetReadBuffer(muxReadBuffer); err != nil {
			s.log.Debug("set UDP receive buffer", "err", err)
		}
		bc := newBatchConn(uc, batchDelay)
		conns = append(conns, bc)
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: logger, UDPConn: bc}))
	}
	s.mux, s.conns = ice.NewMultiUDPMuxDefault(muxes...), conns
	return nil
}

// listenInRange binds ip to the first free port of min..max, or to an
// ephemeral port when no range is set.
func listenInRange(ip net.IP, min, max uint16) (*net.UDPConn, error) {
	network := "udp4"
	if ip.To4() == nil {
		network = "udp6"
	}
	if min == 0 {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, fmt.Errorf("listen for WebRTC media on %s: %w", ip, err)
		}
		return c, nil
	}
	var last error
	for p := int(min); p <= int(max); p++ {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip, Port: p})
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, fmt.Errorf("listen for WebRTC media on %s, ports %d-%d: %w", ip, min, max, last)
}
