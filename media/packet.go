package media

import "sync/atomic"

// packet is one RTP payload shared by every viewer of a stream. It is never
// modified after the stream publishes it; viewers write their own header.
type packet struct {
	payload  []byte
	ts       uint32 // stream timestamp, continuous across reconnects
	marker   bool
	video    bool
	keyframe bool // first packet of a keyframe access unit (parameter sets first)
}

// ring is a bounded single-producer single-consumer queue of packets. The
// stream (under its lock) is the only producer, the viewer goroutine the only
// consumer, so push and pop need no lock and never allocate.
type ring struct {
	buf  []*packet
	mask uint64
	head atomic.Uint64 // next slot to pop; written by the consumer
	tail atomic.Uint64 // next slot to push; written by the producer
}

func newRing(size int) *ring {
	size = nextPow2(size)
	return &ring{buf: make([]*packet, size), mask: uint64(size - 1)}
}

// push adds p; it returns false when the ring is full.
func (r *ring) push(p *packet) bool {
	t := r.tail.Load()
	if t-r.head.Load() == uint64(len(r.buf)) {
		return false
	}
	r.buf[t&r.mask] = p
	r.tail.Store(t + 1)
	return true
}

// pop removes the oldest packet; nil when empty.
func (r *ring) pop() *packet {
	h := r.head.Load()
	if h == r.tail.Load() {
		return nil
	}
	p := r.buf[h&r.mask]
	r.buf[h&r.mask] = nil // let the packet go once every viewer is done with it
	r.head.Store(h + 1)
	return p
}

// len returns the number of queued packets.
func (r *ring) len() int {
	return int(r.tail.Load() - r.head.Load())
}
