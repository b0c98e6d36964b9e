package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/sync/errgroup"
)

const (
	allowMethods = "INVITE, ACK, CANCEL, BYE, UPDATE, OPTIONS, MESSAGE, REGISTER"
	acceptTypes  = "application/sdp, application/json, text/plain"
)

// supported is our Supported header: RFC 4028 session timers unless
// disabled; no 100rel.
func (s *Server) supported() string {
	if s.timersEnabled() {
		return "timer"
	}
	return ""
}

// Server is the SIP listener and registrar. Create it with NewServer and
// serve with Run.
type Server struct {
	cfg     Config
	dir     Directory
	log     *slog.Logger
	now     func() time.Time
	nonces  *nonces
	limiter *failLimiter
	reg     *registry

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client // BYE and MESSAGE
	udp    net.PacketConn
	tcp    *limitListener
	tls    *limitListener // nil without Config.TLSAddr
	tlsCfg *tls.Config
	// host and port bound, for our Contact; tlsPort for transport=tls
	host, port, tlsPort string

	// ctx is what handlers work under; it ends with Run's context or Close.
	ctx    context.Context
	cancel context.CancelFunc

	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// inflight counts running handlers so that Run returns only after the
	// last one; gate stops new ones from starting once Run is stopping.
	gate     sync.RWMutex
	stopping bool
	inflight sync.WaitGroup

	// calls by dialog id; callsClosed refuses new ones once Run stops.
	// callOwners counts the calls' goroutines, callHandlers the
	// CallHandler goroutines.
	callsMu      sync.Mutex
	calls        map[string]*Call
	callsClosed  bool
	callOwners   sync.WaitGroup
	callHandlers sync.WaitGroup

	counters serverCounters
}

// NewServer binds UDP and TCP on cfg.Addr and returns a server ready to
// Run. Run releases the sockets when it returns; call Close instead if the
// server will not run.
func NewServer(cfg Config, dir Directory, log *slog.Logger) (*Server, error) {
	s, err := newCore(cfg, dir, log)
	if err != nil {
		return nil, err
	}
	lib := newLibLogger(s.log)
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(s.cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(lib)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(lib)),
	)
	if err != nil {
		return nil, fmt.Errorf("new sip user agent: %w", err)
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(lib))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("new sip server: %w", err), s.ua.Close())
	}
	// NAT: rport asks the robot to answer to where our request came from
	s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(lib), sipgo.WithClientNAT())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("new sip client: %w", err), s.ua.Close())
	}
	s.srv.OnRegister(s.handle(s.handleRegister))
	s.srv.OnOptions(s.handle(s.handleOptions))
	s.srv.OnInvite(s.handle(s.handleInvite))
	s.srv.OnMessage(s.handle(s.handleMessage))
	s.srv.OnAck(s.handleAck)
	s.srv.OnBye(s.handle(s.handleBye))
	s.srv.OnUpdate(s.handle(s.handleBye))
	s.srv.OnCancel(s.handle(s.handleNoDialog))
	s.srv.OnNoRoute(s.handle(s.handleUnknown))

	udp, tcp, err := listen(s.cfg.Addr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("new sip server: %w", err), s.ua.Close())
	}
	s.udp = udp
	s.tcp = newLimitListener(tcp, s.cfg.TCPIdleTimeout, s.cfg.MaxTCPConns, s.cfg.MaxTCPConnsPerIP, s.log)
	s.host, s.port, _ = net.SplitHostPort(tcp.Addr().String())
	if s.cfg.TLSAddr != "" {
		if err := s.listenTLS(); err != nil {
			return nil, errors.Join(err, s.closeListeners(), s.ua.Close())
		}
	}
	return s, nil
}

// listenTLS loads the certificate and binds the TLS listener.
func (s *Server) listenTLS() error {
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("new sip server: tls certificate: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.TLSAddr)
	if err != nil {
		return fmt.Errorf("new sip server: listen tls %s: %w", s.cfg.TLSAddr, err)
	}
	// the limits and idle timeout work on the TCP connection under TLS,
	// so they bound the handshake too
	s.tls = newLimitListener(ln, s.cfg.TCPIdleTimeout, s.cfg.MaxTCPConns, s.cfg.MaxTCPConnsPerIP, s.log)
	s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	_, s.tlsPort, _ = net.SplitHostPort(ln.Addr().String())
	return nil
}

// newCore builds what the request handlers need, without sockets.
func newCore(cfg Config, dir Directory, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if dir == nil {
		return nil, fmt.Errorf("%w: nil directory", ErrBadConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n, err := newNonces(cfg.NonceKey, cfg.NonceTTL)
	if err != nil {
		return nil, fmt.Errorf("new sip server: %w", err)
	}
	s := &Server{
		cfg: cfg, dir: dir, log: log, now: time.Now, nonces: n,
		limiter: newFailLimiter(cfg.FailLimit, cfg.FailWindow),
		reg:     newRegistry(),
		calls:   make(map[string]*Call),
	}
	// handlers work under s.ctx; Run and Close end it
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Addr returns the bound UDP and TCP addresses (same port).
func (s *Server) Addr() (udp, tcp net.Addr) {
	return s.udp.LocalAddr(), s.tcp.Addr()
}

// TLSAddr returns the bound TLS address, nil without Config.TLSAddr.
func (s *Server) TLSAddr() net.Addr {
	if s.tls == nil {
		return nil
	}
	return s.tls.Addr()
}

// Binding returns the device's registration as last seen; Registered is
// false once it expired or the device unregistered. ok is false for a
// device that never registered since the server started.
func (s *Server) Binding(deviceID string) (Binding, bool) {
	return s.reg.get(deviceID, s.now())
}

// Bindings returns every device's registration, by device id.
func (s *Server) Bindings() []Binding {
	return s.reg.all(s.now())
}

// Run serves UDP and TCP until ctx ends (then it returns nil) or a listener
// fails. It waits for running handlers and closes the sockets and every
// TCP connection before it returns.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrRunTwice
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()

	s.log.Info("sip listening", "udp", s.udp.LocalAddr().String(), "tcp", s.tcp.Addr().String(),
		"tls", s.tlsPort, "realm", s.cfg.Realm)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// sipgo returns nil both when the socket closes and on a read error
		err := s.srv.ServeUDP(s.udp)
		switch {
		case err != nil:
			return fmt.Errorf("serve sip udp: %w", err)
		case gctx.Err() == nil && s.ctx.Err() == nil: // not stopped by Run or Close
			return errors.New("serve sip udp: socket read failed")
		}
		return nil
	})
	g.Go(func() error {
		err := s.srv.ServeTCP(s.tcp)
		if gctx.Err() == nil && s.ctx.Err() == nil {
			return fmt.Errorf("serve sip tcp: %w", err)
		}
		return nil
	})
	if s.tls != nil {
		g.Go(func() error {
			err := s.srv.ServeTLS(tls.NewListener(s.tls, s.tlsCfg))
			if gctx.Err() == nil && s.ctx.Err() == nil {
				return fmt.Errorf("serve sip tls: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		t := time.NewTicker(max(s.cfg.FailWindow, time.Second))
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case now := <-t.C:
				s.limiter.sweep(now)
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		s.cancel()    // lookups in flight give up, calls end
		s.stopCalls() // BYEs go out while the sockets are open
		return s.closeListeners()
	})
	err := g.Wait()

	s.gate.Lock()
	s.stopping = true
	s.gate.Unlock()
	s.inflight.Wait()
	s.callHandlers.Wait() // their contexts ended with s.ctx
	err = errors.Join(err, s.ua.Close())
	s.tcp.closeConns()
	if s.tls != nil {
		s.tls.closeConns()
	}
	s.log.Info("sip stopped")
	if err != nil {
		return fmt.Errorf("sip server: %w", err)
	}
	return nil
}

// Close releases the sockets of a server that is not going to Run, or
// stops a running one (Run then returns nil).
func (s *Server) Close() error {
	s.cancel() // first: a running Run then takes the closed sockets for a stop
	if s.started.Load() {
		return nil // Run closes everything
	}
	return errors.Join(s.closeListeners(), s.ua.Close())
}

func (s *Server) closeListeners() error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.udp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close sip udp: %w", err))
		}
		if err := s.tcp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close sip tcp: %w", err))
		}
		if s.tls != nil {
			if err := s.tls.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close sip tls: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// handle wraps a request handler: no new handlers once Run is stopping, a
// panic answers 500 instead of taking the process down, and unsupported
// required extensions get 420.
func (s *Server) handle(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.gate.RLock()
		if s.stopping {
			s.gate.RUnlock()
			return
		}
		s.inflight.Add(1)
		s.gate.RUnlock()
		defer s.inflight.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("sip handler panicked", append(logAttrs(req), "panic", r, "stack", string(debug.Stack()))...)
				s.respond(req, tx, 500, "Server Internal Error")
			}
		}()
		if req.Method != sip.CANCEL && req.Method != sip.ACK {
			if bad := s.unsupported(req); bad != "" {
				// RFC 3261 section 8.2.2.3
				s.respond(req, tx, 420, "Bad Extension", sip.NewHeader("Unsupported", clip(bad, 256)))
				return
			}
		}
		h(req, tx)
	}
}

// unsupported returns the options of req's Require headers we do not
// support, comma-separated ("" when none).
func (s *Server) unsupported(req *sip.Request) string {
	var bad []string
	for _, h := range req.GetHeaders("Require") {
		for _, tok := range strings.Split(h.Value(), ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" || (strings.EqualFold(tok, "timer") && s.timersEnabled()) {
				continue
			}
			bad = append(bad, tok)
		}
	}
	return strings.Join(bad, ", ")
}

// handleOptions answers capability queries and keep-alive pings from
// anyone.
func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 200, "OK",
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", acceptTypes),
		sip.NewHeader("Supported", s.supported()),
		sip.NewHeader("Contact", s.contact(req)),
	)
}

// handleMessage accepts SIP MESSAGE from registered devices and hands the
// body to Config.OnMessage.
func (s *Server) handleMessage(req *sip.Request, tx sip.ServerTransaction) {
	b, ok := s.registeredCaller(req)
	if !ok {
		s.log.Debug("sip message refused: sender not registered", logAttrs(req)...)
		s.respond(req, tx, 403, "Forbidden")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = clip(h.Value(), 128)
	}
	s.log.Debug("sip message from device", append(logAttrs(req),
		"device", b.DeviceID, "content_type", ct, "bytes", len(req.Body()))...)
	s.respond(req, tx, 200, "OK")
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(b.DeviceID, ct, bytes.Clone(req.Body()))
	}
}

func (s *Server) handleNoDialog(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) handleUnknown(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
}

// registeredCaller returns the binding of the device a request is from:
// its From user must be registered now, and the request must come from the
// IP the device registered from (symmetric signalling; the port may differ
// over TCP, where every connection has a new one).
func (s *Server) registeredCaller(req *sip.Request) (Binding, bool) {
	from := req.From()
	if from == nil || from.Address.User == "" {
		return Binding{}, false
	}
	b, ok := s.reg.byUsername(from.Address.User, s.now())
	if !ok || !b.Registered || hostOf(b.Source) != hostOf(req.Source()) {
		return Binding{}, false
	}
	return b, true
}

// contact is our Contact URI for a response to req: the public address
// when configured, else the listener's (or, on a wildcard listener, the
// host the request was sent to).
func (s *Server) contact(req *sip.Request) string {
	// the address the peer reached us at; sipgo keeps an IPv6 host's brackets
	return s.contactVia(strings.Trim(req.Recipient.Host, "[]"), req.Transport())
}

// contactVia is our Contact for a transport, reached at host (used when
// we listen on a wildcard address).
func (s *Server) contactVia(reached, transport string) string {
	host, port := s.host, s.port
	tlsT := strings.EqualFold(transport, "tls")
	if tlsT {
		port = s.tlsPort
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if reached != "" && !strings.ContainsAny(reached, badHostChars+"[]") {
			host = reached
		}
	}
	if s.cfg.PublicAddr != "" {
		h, p, _ := splitHostPortDefault(s.cfg.PublicAddr) // checked by withDefaults
		host = h
		if p != 0 && !tlsT { // PublicAddr's port is the UDP/TCP one
			port = strconv.Itoa(p)
		}
	}
	uri := "sip:" + net.JoinHostPort(host, port)
	if t := strings.ToLower(transport); t != "udp" {
		uri += ";transport=" + t
	}
	return "<" + uri + ">"
}

// respond sends a final response built from req with our Server header and
// the received parameter RFC 3261 section 18.2.1 asks for.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	s.decorate(res, req)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", append(logAttrs(req), "code", code, "error", err)...)
	}
}

// decorate adds our Server header and the received parameter RFC 3261
// section 18.2.1 asks for to a response to req.
func (s *Server) decorate(res *sip.Response, req *sip.Request) {
	if via := res.Via(); via != nil {
		if src := hostOf(req.Source()); !via.Params.Has("received") && via.Host != src {
			via.Params.Add("received", src)
		}
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
}
