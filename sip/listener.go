package sip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// bindTries bounds the search for a port free on both UDP and TCP.
const bindTries = 20

// tcpWriteTimeout bounds one write to a TCP peer, so a peer that stops
// reading cannot hold a transaction forever.
const tcpWriteTimeout = 10 * time.Second

// listen binds UDP and TCP on the same address. With port 0 it binds UDP
// on a free port first, then TCP on that port, and tries another port if
// TCP's is taken.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = bindTries
	}
	var errs []error
	for range tries {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		errs = append(errs, err)
		_ = udp.Close()
	}
	return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, errors.Join(errs...))
}

// limitListener closes TCP connections beyond a total and a per-IP limit,
// gives every connection an idle timeout and a write timeout, and keeps
// accepting through temporary errors (sipgo stops serving on any Accept
// error).
type limitListener struct {
	net.Listener
	idle        time.Duration
	max, perIP  int
	log         *slog.Logger
	mu          sync.Mutex
	total       int
	byIP        map[string]int
	conns       map[*limitConn]struct{}
	closed      chan struct{}
	closeOnce   sync.Once
	closeResult error
}

func newLimitListener(l net.Listener, idle time.Duration, max, perIP int, log *slog.Logger) *limitListener {
	return &limitListener{
		Listener: l, idle: idle, max: max, perIP: perIP, log: log,
		byIP: make(map[string]int), conns: make(map[*limitConn]struct{}),
		closed: make(chan struct{}),
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			// EMFILE and friends: wait and retry like net/http does
			l.log.Warn("sip tcp accept failed; retrying", "error", err, "backoff", backoff)
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		lc := &limitConn{Conn: c, l: l, ip: hostOf(c.RemoteAddr().String())}
		if !l.admit(lc) {
			l.log.Debug("sip tcp connection refused: too many", "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		return lc, nil
	}
}

// closeConns closes every connection still open, so that no reader
// goroutine outlives the server whatever the transport layer kept.
func (l *limitListener) closeConns() {
	l.mu.Lock()
	conns := make([]*limitConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.closeResult = l.Listener.Close()
	})
	return l.closeResult
}

func (l *limitListener) admit(c *limitConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byIP[c.ip] >= l.perIP {
		return false
	}
	l.total++
	l.byIP[c.ip]++
	l.conns[c] = struct{}{}
	return true
}

func (l *limitListener) release(c *limitConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	l.total--
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *limitConn) Read(b []byte) (int, error) {
	if c.l.idle > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.l.idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *limitConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// hostOf returns the host of "host:port", or s itself when it has no port.
func hostOf(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}
