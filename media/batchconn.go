package media

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Batching: every RTP packet to every viewer used to be one sendto(2), and
// that system call was two thirds of the server's CPU per forwarded packet
// (docs/benchmarks.md). A batchConn queues datagrams and hands them to the
// kernel many at a time with sendmmsg(2).
const (
	// batchSize is how many datagrams one sendmmsg carries at most.
	batchSize = 64
	// batchDelay bounds how long a datagram waits for its batch to fill:
	// the latency batching adds. A camera frame fanned out to many viewers
	// fills batches at once; a lone audio packet waits this long.
	batchDelay = time.Millisecond
	// maxFreeBatches bounds the empty batches kept for reuse; more are
	// only needed while the sender is held up, and go to the collector.
	maxFreeBatches = 4
)

// batchIO is what x/net's ipv4 and ipv6 packet conns offer: sendmmsg and
// recvmmsg.
type batchIO interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// Reads: one goroutine (the ICE UDP mux's) reads what every peer sends;
// recvmmsg hands it all the datagrams waiting at once.
const (
	readBatchSize = 16
	// readBufSize is pion's receive MTU: no datagram it accepts is longer.
	readBufSize = 8192
)

// batchConn is a UDP socket whose writes are copied into a batch and sent
// with sendmmsg when the batch is full or batchDelay after its first
// datagram, whichever comes first. Batches leave in the order they were
// filled, so the datagrams of one sender keep their order. Reads go straight
// to the socket. It implements net.PacketConn and pion/ice's
// AddrPortReaderWriter (allocation-free reads and writes in the UDP mux).
type batchConn struct {
	conn  *net.UDPConn
	bio   batchIO
	delay time.Duration

	// reads: datagrams received by the last recvmmsg, handed out one by one
	rmu         sync.Mutex
	rmsgs       []ipv4.Message
	rn, rnext   int
	readBatches atomic.Uint64 // recvmmsg calls, for tests and logs

	mu     sync.Mutex
	cur    *msgBatch   // being filled
	full   []*msgBatch // waiting to be sent, oldest first
	free   []*msgBatch
	timer  *time.Timer
	armed  bool // timer runs for a batch being filled
	closed bool

	sendMu sync.Mutex // one sender at a time, so batches leave in order

	// counters, for tests and logs
	datagrams, syscalls, dropped atomic.Uint64
}

// msgBatch is one sendmmsg's worth of datagrams with buffers and addresses
// of its own, reused from batch to batch.
type msgBatch struct {
	msgs  []ipv4.Message
	addrs []net.UDPAddr
	n     int
}

// newMsgBatch returns an empty batch. Its buffers grow to the datagrams
// they carry (about 200 bytes for G.711, 1,250 for video) and stay so.
func newMsgBatch() *msgBatch {
	b := &msgBatch{msgs: make([]ipv4.Message, batchSize), addrs: make([]net.UDPAddr, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{nil}
		b.addrs[i].IP = make(net.IP, 0, net.IPv6len)
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

func newBatchConn(conn *net.UDPConn, delay time.Duration) *batchConn {
	c := &batchConn{conn: conn, delay: delay, cur: newMsgBatch(), rmsgs: make([]ipv4.Message, readBatchSize)}
	for i := range c.rmsgs {
		c.rmsgs[i].Buffers = [][]byte{make([]byte, readBufSize)}
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && a.IP != nil {
		c.bio = ipv6.NewPacketConn(conn)
	} else {
		c.bio = ipv4.NewPacketConn(conn)
	}
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.timer.Stop()
	return c
}

// WriteToAddrPort queues b for addr; it never blocks on the network, only,
// when a batch fills, on sending it.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	bt := c.cur
	m := &bt.msgs[bt.n]
	m.Buffers[0] = append(m.Buffers[0][:0], b...)
	ua := &bt.addrs[bt.n]
	ip := addr.Addr().Unmap()
	if ip.Is4() {
		a4 := ip.As4()
		ua.IP = append(ua.IP[:0], a4[:]...)
	} else {
		a16 := ip.As16()
		ua.IP = append(ua.IP[:0], a16[:]...)
	}
	ua.Port, ua.Zone = int(addr.Port()), ip.Zone()
	bt.n++
	send := false
	if bt.n == len(bt.msgs) {
		c.full = append(c.full, bt)
		c.cur = c.freeBatch()
		send = true
	} else if !c.armed {
		c.armed = true
		c.timer.Reset(c.delay)
	}
	c.mu.Unlock()
	if send {
		c.sendFull()
	}
	return len(b), nil
}

// WriteTo implements net.PacketConn.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("not a UDP address")}
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// freeBatch returns an empty batch; callers hold mu.
func (c *batchConn) freeBatch() *msgBatch {
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free = c.free[:n-1]
		return b
	}
	return newMsgBatch()
}

// onTimer sends the batch being filled, however full.
func (c *batchConn) onTimer() {
	c.mu.Lock()
	c.armed = false
	if c.cur.n > 0 {
		c.full = append(c.full, c.cur)
		c.cur = c.freeBatch()
	}
	c.mu.Unlock()
	c.sendFull()
}

// sendFull sends every queued batch, oldest first.
func (c *batchConn) sendFull() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	for {
		c.mu.Lock()
		if len(c.full) == 0 {
			c.mu.Unlock()
			return
		}
		bt := c.full[0]
		copy(c.full, c.full[1:])
		c.full[len(c.full)-1] = nil
		c.full = c.full[:len(c.full)-1]
		c.mu.Unlock()

		c.send(bt)

		c.mu.Lock()
		bt.n = 0
		if len(c.free) < maxFreeBatches {
			c.free = append(c.free, bt)
		}
		c.mu.Unlock()
	}
}

// send hands a batch to the kernel. sendmmsg stops at the first datagram
// that fails (an unreachable address, say); that one is dropped, as a lone
// sendto's error would be ignored by pion, and the rest go on.
func (c *batchConn) send(bt *msgBatch) {
	ms := bt.msgs[:bt.n]
	c.datagrams.Add(uint64(len(ms)))
	for len(ms) > 0 {
		c.syscalls.Add(1)
		n, err := c.bio.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				c.dropped.Add(uint64(len(ms)))
				return
			}
			c.dropped.Add(1)
			n = 1
		}
		ms = ms[n:]
	}
}

// Close sends what is queued and closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.timer.Stop()
	if c.cur.n > 0 {
		c.full = append(c.full, c.cur)
		c.cur = newMsgBatch()
	}
	c.mu.Unlock()
	c.sendFull()
	return c.conn.Close()
}

// ReadFromAddrPort implements pion/ice's AddrPortReaderWriter: the next
// datagram of the last recvmmsg, or of a new one when they are used up.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rnext >= c.rn {
		n, err := c.bio.ReadBatch(c.rmsgs, 0)
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		c.readBatches.Add(1)
		c.rn, c.rnext = n, 0
	}
	m := &c.rmsgs[c.rnext]
	c.rnext++
	ua, ok := m.Addr.(*net.UDPAddr)
	if !ok {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: errors.New("no UDP source address")}
	}
	ap := ua.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) // x/net gives IPv4 in 16 bytes
	if m.N > len(b) {
		return 0, ap, io.ErrShortBuffer
	}
	return copy(b, m.Buffers[0][:m.N]), ap, nil
}

// ReadFrom implements net.PacketConn.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.ReadFromAddrPort(b)
	if !a.IsValid() {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(a), err
}

// LocalAddr implements net.PacketConn.
func (c *batchConn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// SetDeadline implements net.PacketConn.
func (c *batchConn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (c *batchConn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline implements net.PacketConn; it bounds the sendmmsg calls.
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
