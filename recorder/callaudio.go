package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/attendant/attendant/internal/g711"
)

// Call audio is stored in parts of CallAudioConfig.Part, so that a crash
// loses at most the part being filled. A G.711 call is stored as stereo
// 16-bit PCM WAV at 8 kHz, the robot on the left and the agent on the
// right: every browser plays it. An Opus call is stored as the packets
// themselves, one Ogg Opus file per leg and part (callaudio_opus.go): no
// decoder in the server, and every browser plays that too. The call itself
// is never transcoded.

// DefaultCallAudioPart is the length of one call-audio part.
const DefaultCallAudioPart = 10 * time.Second

const (
	callRate = 8000 // G.711
	// jitterMargin is how long after a part's end its late packets are
	// still placed before the part is written.
	jitterMargin = 500 * time.Millisecond
)

// ErrUnsupportedCodec means the call's codec is not recorded (G.711 and
// Opus are).
var ErrUnsupportedCodec = errors.New("codec not recorded: only G.711 (PCMU, PCMA) and Opus")

// CallAudioConfig describes a call to record.
type CallAudioConfig struct {
	CaseID, SiteID, DeviceID string
	// Codec is "PCMU", "PCMA" or "opus".
	Codec string
	// Part is the length of each stored part (default DefaultCallAudioPart).
	Part time.Duration
	// Start is the call's answer time: sample 0 of the recording.
	Start time.Time
}

// CallAudio records one call. Packet is safe to call from the two
// forwarding goroutines; a ticker goroutine writes finished parts.
type CallAudio struct {
	r       *Recorder
	cfg     CallAudioConfig
	decode  func(byte) int16
	silence byte // the codec's zero sample
	part    int  // samples per part
	rate    int  // samples per second (the RTP clock)
	opus    bool // packets kept as they are, per leg (callaudio_opus.go)

	mu      sync.Mutex
	legs    [2]legClock
	parts   map[int]*audioPart
	written int // parts [0, written) are stored
	maxPos  int // one past the last sample placed
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type legClock struct {
	started bool
	pos0    int    // sample position of the first packet
	ts0     uint32 // its RTP timestamp
}

// audioPart holds a part's samples as the call's G.711 bytes (half the
// memory of decoded samples), in blocks of a second allocated as the call
// reaches them, so a call holds what it has said of the part so far, not
// the whole part; store decodes them.
type audioPart struct {
	blocks  [2][][]byte     // per leg (robot, agent): nil until written
	packets [2][]opusPacket // Opus: each leg's packets, as they came
}

// blockSamples is the size of one block of a part: a second of G.711.
const blockSamples = callRate

func (a *CallAudio) newPart() *audioPart {
	p := &audioPart{}
	if !a.opus {
		n := (a.part + blockSamples - 1) / blockSamples
		p.blocks[0], p.blocks[1] = make([][]byte, n), make([][]byte, n)
	}
	return p
}

// block is the block of a leg holding sample i of the part, made (silent)
// when the call first reaches it.
func (a *CallAudio) block(p *audioPart, leg, i int) []byte {
	blk := p.blocks[leg][i/blockSamples]
	if blk == nil {
		blk = bytes.Repeat([]byte{a.silence}, blockSamples)
		p.blocks[leg][i/blockSamples] = blk
	}
	return blk
}

// StartCallAudio begins recording a call; Close it when the call ends.
func (r *Recorder) StartCallAudio(cfg CallAudioConfig) (*CallAudio, error) {
	var dec func(byte) int16
	var silence byte
	rate, opus := callRate, false
	switch cfg.Codec {
	case "PCMU":
		dec, silence = g711.DecodeULaw, 0xFF
	case "PCMA":
		dec, silence = g711.DecodeALaw, 0xD5
	case "opus", "OPUS", "Opus":
		rate, opus = opusRate, true
	default:
		return nil, fmt.Errorf("record call of case %s: %w (%s)", cfg.CaseID, ErrUnsupportedCodec, cfg.Codec)
	}
	if cfg.Part <= 0 {
		cfg.Part = DefaultCallAudioPart
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	a := &CallAudio{r: r, cfg: cfg, decode: dec, silence: silence, part: int(cfg.Part.Seconds() * float64(rate)), rate: rate, opus: opus,
		parts: map[int]*audioPart{}, stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a, nil
}

// Packet places one RTP payload of the robot (fromAgent false) or of the
// agent at its place in the recording, by its RTP timestamp relative to the
// leg's first packet, which is placed by its arrival time.
func (a *CallAudio) Packet(fromAgent bool, ts uint32, payload []byte, at time.Time) {
	leg := 0
	if fromAgent {
		leg = 1
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	lc := &a.legs[leg]
	if !lc.started {
		lc.started, lc.ts0 = true, ts
		lc.pos0 = max(0, int(at.Sub(a.cfg.Start).Seconds()*float64(a.rate)))
	}
	pos := lc.pos0 + int(int32(ts-lc.ts0))
	if pos < a.written*a.part || pos > lc.pos0+24*3600*a.rate {
		return // too late (its part is stored) or nonsense
	}
	if a.opus {
		a.opusPacket(leg, pos, payload)
		return
	}
	// copy in runs that stay inside one block of one part
	for len(payload) > 0 {
		idx, off := pos/a.part, pos%a.part
		pt := a.parts[idx]
		if pt == nil {
			pt = a.newPart()
			a.parts[idx] = pt
		}
		run := min(len(payload), blockSamples-off%blockSamples, a.part-off)
		blk := a.block(pt, leg, off)
		copy(blk[off%blockSamples:], payload[:run])
		payload, pos = payload[run:], pos+run
		a.maxPos = max(a.maxPos, pos)
	}
}

func (a *CallAudio) run() {
	defer close(a.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			a.flush(true)
			return
		case <-t.C:
			a.flush(false)
		}
	}
}

// Close stores what is left; it returns when the last part is spooled.
func (a *CallAudio) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	<-a.done
}

// flush stores the parts that are over (all of them at the end).
func (a *CallAudio) flush(final bool) {
	for {
		a.mu.Lock()
		idx := a.written
		end := (idx + 1) * a.part
		elapsed := int((time.Since(a.cfg.Start) - jitterMargin).Seconds() * float64(a.rate))
		if !final && elapsed < end {
			a.mu.Unlock()
			return
		}
		if final && idx*a.part >= a.maxPos {
			a.mu.Unlock()
			return
		}
		pt := a.parts[idx]
		delete(a.parts, idx)
		n := a.part
		if final && end > a.maxPos {
			n = a.maxPos - idx*a.part
		}
		a.written++
		a.mu.Unlock()
		if pt == nil {
			pt = a.newPart()
		}
		a.store(idx, pt, n)
	}
}

func (a *CallAudio) store(idx int, pt *audioPart, n int) {
	if a.opus {
		a.storeOpus(idx, pt)
		return
	}
	start := a.cfg.Start.Add(time.Duration(idx*a.part) * time.Second / callRate)
	end := start.Add(time.Duration(n) * time.Second / callRate)
	wav := a.partWAV(pt, n)
	key := EvidenceKey(a.cfg.SiteID, a.cfg.CaseID, fmt.Sprintf("call-audio-%03d", idx+1), start, "wav")
	err := a.r.SpoolEvidence(key, "audio/wav", bytes.NewReader(wav), EvidenceMeta{CaseID: a.cfg.CaseID, SiteID: a.cfg.SiteID,
		Kind: "call-audio", DeviceID: a.cfg.DeviceID, Start: start, End: end})
	if err != nil {
		a.r.lost.Add(1)
		a.r.log.Error("cannot spool call audio: this part is lost", "case", a.cfg.CaseID, "part", idx+1, "err", err)
	}
}

// partWAV decodes a part's first n samples into a stereo WAV, a block at
// a time through a 256-entry table (a part is 80,000 samples a leg).
func (a *CallAudio) partWAV(pt *audioPart, n int) []byte {
	var table [256]uint16
	for i := range table {
		table[i] = uint16(a.decode(byte(i)))
	}
	silence := table[a.silence]
	b := wavHeader(n, 44+4*n)
	b = b[:44+4*n]
	out := b[44:]
	for i := 0; i < n; i += blockSamples {
		run := min(blockSamples, n-i)
		l, r := pt.blocks[0][i/blockSamples], pt.blocks[1][i/blockSamples]
		for k := range run {
			ls, rs := silence, silence
			if l != nil {
				ls = table[l[k]]
			}
			if r != nil {
				rs = table[r[k]]
			}
			o := out[4*(i+k):]
			binary.LittleEndian.PutUint16(o, ls)
			binary.LittleEndian.PutUint16(o[2:], rs)
		}
	}
	return b
}

// stereoWAV is a 16-bit PCM WAV, left and right interleaved.
func stereoWAV(left, right []int16) []byte {
	n := len(left)
	b := wavHeader(n, 44+4*n)
	for i := range n {
		b = binary.LittleEndian.AppendUint16(b, uint16(left[i]))
		b = binary.LittleEndian.AppendUint16(b, uint16(right[i]))
	}
	return b
}

// wavHeader is the 44-byte header of a 16-bit stereo WAV of n samples a
// channel, in a slice of capacity size.
func wavHeader(n, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(36+4*n))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint32(b, callRate)
	b = binary.LittleEndian.AppendUint32(b, callRate*4)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(4*n))
	return b
}
