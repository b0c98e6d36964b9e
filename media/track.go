package media

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// binding is what pion tells a track once the connection is up.
type binding struct {
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
}

// sendTrack is a send-only pion track that writes shared packets under a
// header of its own: the shared packet is never modified, and the header is
// reused, so forwarding a packet allocates nothing here.
type sendTrack struct {
	id       string
	streamID string
	kind     webrtc.RTPCodecType
	mime     string

	bound     chan struct{} // closed on the first Bind
	boundOnce sync.Once
	b         atomic.Pointer[binding]

	// written only by the viewer goroutine
	hdr      rtp.Header
	seq      uint16
	tsOffset uint32
	written  uint64
	ready    bool // a write has reached SRTP
	resent   uint64
	// hist is what was sent lately, by sequence number, for NACKs (video
	// only; nil for audio): references to the shared packets, not copies.
	hist []sent
}

// sent is one packet in a track's NACK history.
type sent struct {
	p      *packet
	ts     uint32 // as sent, offset included
	seq    uint16
	resent time.Time // last retransmission
}

// minResendGap keeps a packet from being retransmitted again for a NACK
// repeated before the first retransmission can have arrived.
const minResendGap = 10 * time.Millisecond

// errSRTPNotReady: pion drops writes (returning 0, nil) until SRTP is up,
// which is a moment after the connection state turns connected.
var errSRTPNotReady = errors.New("SRTP not ready")

var _ webrtc.TrackLocal = (*sendTrack)(nil)

func newSendTrack(kind webrtc.RTPCodecType, mime, streamID string) *sendTrack {
	return &sendTrack{
		id: kind.String(), streamID: streamID, kind: kind, mime: mime, bound: make(chan struct{}),
		seq: uint16(rand.Uint32()), tsOffset: rand.Uint32(),
	}
}

// Bind implements webrtc.TrackLocal.
func (t *sendTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.mime) {
			t.b.Store(&binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType)})
			t.boundOnce.Do(func() { close(t.bound) })
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (t *sendTrack) Unbind(webrtc.TrackLocalContext) error {
	t.b.Store(nil)
	return nil
}

// ID implements webrtc.TrackLocal.
func (t *sendTrack) ID() string { return t.id }

// RID implements webrtc.TrackLocal.
func (t *sendTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *sendTrack) StreamID() string { return t.streamID }

// Kind implements webrtc.TrackLocal.
func (t *sendTrack) Kind() webrtc.RTPCodecType { return t.kind }

// write sends p with timestamp ts (plus the track's offset). Sequence numbers
// are the track's own, so they stay contiguous across drops and reconnects.
func (t *sendTrack) write(p *packet, ts uint32) error {
	b := t.b.Load()
	if b == nil {
		return nil
	}
	h := &t.hdr
	h.Version = 2
	h.Padding = false
	h.Extension = false
	h.Extensions = h.Extensions[:0]
	h.CSRC = h.CSRC[:0]
	h.Marker = p.marker
	h.PayloadType = b.pt
	h.SequenceNumber = t.seq
	h.Timestamp = ts + t.tsOffset
	h.SSRC = b.ssrc
	n, err := b.w.WriteRTP(h, p.payload)
	if n == 0 && err == nil && !t.ready {
		return errSRTPNotReady
	}
	t.ready = true
	if t.hist != nil {
		t.hist[int(t.seq)&(len(t.hist)-1)] = sent{p: p, ts: h.Timestamp, seq: t.seq}
	}
	t.seq++
	t.written++
	return err
}

// keepHistory makes the track remember its last n packets (a power of two)
// for retransmission.
func (t *sendTrack) keepHistory(n int) {
	t.hist = make([]sent, n)
}

// resend retransmits the packet sent with sequence number seq, as it was
// sent (same SSRC, sequence number and timestamp: no RTX stream is
// negotiated), unless it has left the history or was just retransmitted.
func (t *sendTrack) resend(seq uint16, now time.Time) error {
	b := t.b.Load()
	if b == nil || t.hist == nil {
		return nil
	}
	e := &t.hist[int(seq)&(len(t.hist)-1)]
	if e.p == nil || e.seq != seq || now.Sub(e.resent) < minResendGap {
		return nil
	}
	e.resent = now
	h := &t.hdr
	h.Version = 2
	h.Marker = e.p.marker
	h.PayloadType = b.pt
	h.SequenceNumber = seq
	h.Timestamp = e.ts
	h.SSRC = b.ssrc
	t.resent++
	_, err := b.w.WriteRTP(h, e.p.payload)
	return err
}
