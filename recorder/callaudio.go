package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/attendant/attendant/recorder/spool"
	"sync"
	"sync/atomic"
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
// forwarding goroutines; the Recorder's call flusher (one goroutine for
// all calls) writes what is ready every quarter second, Close the rest.
type CallAudio struct {
	r       *Recorder
	cfg     CallAudioConfig
	decode  func(byte) int16
	table   [256]uint16 // decode, as the WAV's little-endian samples
	silence byte        // the codec's zero sample
	cur     *partWriter // the part being written (under flushMu)
	part    int         // samples per part
	rate    int         // samples per second (the RTP clock)
	opus    bool        // packets kept as they are, per leg (callaudio_opus.go)

	mu      sync.Mutex
	legs    [2]legClock
	parts   map[int]*audioPart
	written int // parts [0, written) are stored
	// streamed: samples of part `written` already written to the spool
	// (G.711); later packets for them are too late
	streamed int
	maxPos   int // one past the last sample placed
	closed   bool

	// flushMu: one flush at a time, the flusher's or Close's; finished
	// once Close has stored the last part
	flushMu  sync.Mutex
	finished bool
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

// blockSamples is the size of one block of a part: a quarter second of
// G.711 (the ticker's period), so that little more than the jitter margin
// waits in memory.
const blockSamples = callRate / 4

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
		parts: map[int]*audioPart{}}
	if dec != nil {
		for i := range a.table {
			a.table[i] = uint16(dec(byte(i)))
		}
	}
	r.calls.add(a)
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
	if pos < a.written*a.part+a.streamed || pos > lc.pos0+24*3600*a.rate {
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

// tick writes what is ready; the flusher calls it every quarter second.
func (a *CallAudio) tick() {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	if !a.finished {
		a.flush(false)
	}
}

// Close stores what is left; it returns when the last part is spooled.
func (a *CallAudio) Close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.r.calls.remove(a)
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	if !a.finished {
		a.flush(true)
		a.finished = true
	}
}

// callFlusher is the one goroutine that writes every recorded call's
// audio into the spool, every quarter second: a goroutine and a timer per
// call was one of the many goroutines a call holds (issue 4's memory aim).
// It runs while there are calls and stops with the last one.
type callFlusher struct {
	mu    sync.Mutex
	calls map[*CallAudio]struct{}
	stop  chan struct{} // closed when the last call is removed; nil: not running
}

// flushWorkers is how many calls are written at once: a part's commit
// syncs files and indexes the part, and one slow call must not hold up
// the others' quarter-second writes.
const flushWorkers = 4

func (f *callFlusher) add(a *CallAudio) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[*CallAudio]struct{}{}
	}
	f.calls[a] = struct{}{}
	if f.stop == nil {
		f.stop = make(chan struct{})
		go f.run(f.stop)
	}
}

func (f *callFlusher) remove(a *CallAudio) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.calls, a)
	if len(f.calls) == 0 && f.stop != nil {
		close(f.stop)
		f.stop = nil
	}
}

func (f *callFlusher) run(stop <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var batch []*CallAudio
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		f.mu.Lock()
		batch = batch[:0]
		for a := range f.calls {
			batch = append(batch, a)
		}
		f.mu.Unlock()
		if len(batch) <= 1 {
			for _, a := range batch {
				a.tick()
			}
			continue
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(flushWorkers, len(batch)) {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(batch)); i = next.Add(1) - 1 {
					batch[i].tick()
				}
			})
		}
		wg.Wait()
		clear(batch)
	}
}

// flush stores the parts that are over (all of them at the end): G.711
// is streamed as it comes (stream); an Opus part is muxed whole.
func (a *CallAudio) flush(final bool) {
	if !a.opus {
		a.stream(final)
		return
	}
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
		a.written++
		a.mu.Unlock()
		if pt != nil { // a part nobody spoke in has no file
			a.storeOpus(idx, pt)
		}
	}
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

// partWriter is the spool object a G.711 part is being written to
// (guarded by CallAudio.flushMu).
type partWriter struct {
	idx  int
	w    *spool.Writer // nil when the part could not be spooled
	lost bool
}

// stream writes G.711 parts into the spool as the call goes: every whole
// block that is older than jitterMargin is decoded and written, so a call
// holds under a second of audio in memory, not a part. A part is committed
// when it is over (the last one, shorter, when the call ends: its header
// is patched to its length).
func (a *CallAudio) stream(final bool) {
	for {
		a.mu.Lock()
		idx := a.written
		start, end := idx*a.part, (idx+1)*a.part
		if final && start >= a.maxPos {
			a.mu.Unlock()
			return
		}
		ready := int((time.Since(a.cfg.Start) - jitterMargin).Seconds() * callRate)
		if final {
			ready = a.maxPos
		}
		done := ready >= end
		upto := min(ready, end) - start // samples of this part to write now
		if !done && !final {
			upto = upto / blockSamples * blockSamples // whole blocks while it is open
		}
		from := a.streamed
		if upto <= from && !done {
			a.mu.Unlock()
			return
		}
		upto = max(upto, from)
		// take the blocks out: they are written outside the lock, and no
		// packet may land in them any more
		var blocks [2][][]byte
		if pt := a.parts[idx]; pt != nil {
			for leg := range 2 {
				for b := from / blockSamples; b*blockSamples < upto; b++ {
					blocks[leg] = append(blocks[leg], pt.blocks[leg][b])
					pt.blocks[leg][b] = nil
				}
			}
		}
		a.streamed = upto
		if done || final {
			delete(a.parts, idx)
			a.written++
			a.streamed = 0
		}
		a.mu.Unlock()
		a.writePart(idx, from, upto, blocks, done || final)
	}
}

// writePart writes samples [from, upto) of part idx (blocks holds the
// blocks from from's on, nil where silent) and commits the part when last.
func (a *CallAudio) writePart(idx, from, upto int, blocks [2][][]byte, last bool) {
	start := a.cfg.Start.Add(time.Duration(idx*a.part) * time.Second / callRate)
	if a.cur == nil || a.cur.idx != idx {
		a.cur = &partWriter{idx: idx}
		key := EvidenceKey(a.cfg.SiteID, a.cfg.CaseID, fmt.Sprintf("call-audio-%03d", idx+1), start, "wav")
		w, err := a.r.createEvidence(key, "audio/wav", EvidenceMeta{CaseID: a.cfg.CaseID, SiteID: a.cfg.SiteID,
			Kind: "call-audio", DeviceID: a.cfg.DeviceID, Start: start, End: start.Add(a.cfg.Part)})
		if err == nil {
			_, err = w.Write(wavHeader(a.part, 44)) // patched if the call ends first
		}
		if err != nil {
			a.lose(idx, err)
			if w != nil {
				_ = w.Abort()
			}
		} else {
			a.cur.w = w
		}
	}
	cur := a.cur
	if cur.w != nil && upto > from {
		if _, err := cur.w.Write(a.decodeRange(from, upto, blocks)); err != nil {
			_ = cur.w.Abort()
			cur.w = nil
			a.lose(idx, err)
		}
	}
	if !last {
		return
	}
	a.cur = nil
	if cur.w == nil {
		return
	}
	err := error(nil)
	if upto < a.part {
		err = cur.w.WriteAt(wavHeader(upto, 44), 0)
	}
	if err == nil {
		err = cur.w.SetMetadata(metaEnd, formatTime(start.Add(time.Duration(upto)*time.Second/callRate)))
	}
	if err == nil {
		_, err = cur.w.Commit()
	} else {
		_ = cur.w.Abort()
	}
	if err != nil {
		a.lose(idx, err)
	}
}

// decodeRange decodes samples [from, upto) of a part, from blocks (the
// part's blocks from from's on), as interleaved 16-bit stereo.
func (a *CallAudio) decodeRange(from, upto int, blocks [2][][]byte) []byte {
	silence := a.table[a.silence]
	out := make([]byte, 4*(upto-from))
	for i := from; i < upto; i++ {
		b, k := i/blockSamples-from/blockSamples, i%blockSamples
		ls, rs := silence, silence
		if b < len(blocks[0]) && blocks[0][b] != nil {
			ls = a.table[blocks[0][b][k]]
		}
		if b < len(blocks[1]) && blocks[1][b] != nil {
			rs = a.table[blocks[1][b][k]]
		}
		o := out[4*(i-from):]
		binary.LittleEndian.PutUint16(o, ls)
		binary.LittleEndian.PutUint16(o[2:], rs)
	}
	return out
}

// lose counts a part that cannot be stored, once.
func (a *CallAudio) lose(idx int, err error) {
	if a.cur != nil && a.cur.idx == idx {
		if a.cur.lost {
			return
		}
		a.cur.lost = true
	}
	a.r.lost.Add(1)
	a.r.log.Error("cannot spool call audio: this part is lost", "case", a.cfg.CaseID, "part", idx+1, "err", err)
}
