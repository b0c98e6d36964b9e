package recorder

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// opusRate is Opus's RTP clock (RFC 7587): 48 kHz whatever the audio.
const opusRate = 48000

// opusSilence is a 20 ms Opus frame of silence (CELT, fullband, mono; the
// frame libopus itself emits for digital silence). Gaps in a leg (packets
// lost, or the robot's discontinuous transmission) are filled with it so
// that the file keeps the call's timing.
var opusSilence = []byte{0xF8, 0xFF, 0xFE}

// oggPreSkip is the pre-skip pion's oggwriter writes in the Ogg Opus header.
const oggPreSkip = 3840

// opusPacket is one Opus RTP payload at its sample position in the call.
type opusPacket struct {
	pos     int
	payload []byte
}

// opusPacket keeps a copy of payload (the forwarding path reuses its
// buffer) in the part its position falls in. a.mu is held.
func (a *CallAudio) opusPacket(leg, pos int, payload []byte) {
	if len(payload) == 0 {
		return
	}
	idx := pos / a.part
	pt := a.parts[idx]
	if pt == nil {
		pt = a.newPart()
		a.parts[idx] = pt
	}
	pt.packets[leg] = append(pt.packets[leg], opusPacket{pos: pos, payload: bytes.Clone(payload)})
	a.maxPos = max(a.maxPos, pos+opusSamples(payload))
}

// storeOpus writes each leg's packets of a part as an Ogg Opus file, in
// timestamp order, duplicates dropped and gaps filled with silence.
func (a *CallAudio) storeOpus(idx int, pt *audioPart) {
	for leg, name := range []string{"robot", "agent"} {
		pkts := pt.packets[leg]
		if len(pkts) == 0 {
			continue
		}
		slices.SortStableFunc(pkts, func(x, y opusPacket) int { return cmp.Compare(x.pos, y.pos) })
		pkts = slices.CompactFunc(pkts, func(x, y opusPacket) bool { return x.pos == y.pos })
		ogg, samples, err := oggOpus(pkts)
		if err != nil {
			a.r.lost.Add(1)
			a.r.log.Error("cannot write call audio (Opus): this part is lost", "case", a.cfg.CaseID, "part", idx+1, "leg", name, "err", err)
			continue
		}
		start := a.cfg.Start.Add(time.Duration(pkts[0].pos) * time.Second / opusRate)
		end := start.Add(time.Duration(samples) * time.Second / opusRate)
		key := EvidenceKey(a.cfg.SiteID, a.cfg.CaseID, fmt.Sprintf("call-audio-%03d-%s", idx+1, name), start, "ogg")
		err = a.r.SpoolEvidence(key, "audio/ogg", bytes.NewReader(ogg), EvidenceMeta{CaseID: a.cfg.CaseID, SiteID: a.cfg.SiteID,
			Kind: "call-audio", DeviceID: a.cfg.DeviceID, Start: start, End: end})
		if err != nil {
			a.r.lost.Add(1)
			a.r.log.Error("cannot spool call audio: this part is lost", "case", a.cfg.CaseID, "part", idx+1, "leg", name, "err", err)
		}
	}
}

// oggOpus muxes packets (sorted, one per position) into an Ogg Opus
// stream, filling gaps with silence frames; it returns the stream and the
// number of samples (48 kHz) it plays.
func oggOpus(pkts []opusPacket) ([]byte, int, error) {
	var buf bytes.Buffer
	w, err := oggwriter.NewWith(&buf, opusRate, 2)
	if err != nil {
		return nil, 0, fmt.Errorf("ogg writer: %w", err)
	}
	ssrc := rand.Uint32()
	write := func(ts int, payload []byte) error {
		return w.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, Timestamp: uint32(ts)}, Payload: payload})
	}
	// the writer's header asks players to skip 3840 samples (80 ms, RFC
	// 7845's advice); let them skip silence, not the call's first words
	for i := range oggPreSkip / 960 {
		if err := write(i*960, opusSilence); err != nil {
			return nil, 0, fmt.Errorf("ogg pre-skip: %w", err)
		}
	}
	pos := pkts[0].pos
	for _, p := range pkts {
		for pos+960 <= p.pos { // a gap of at least one 20 ms frame
			if err := write(pos, opusSilence); err != nil {
				return nil, 0, fmt.Errorf("ogg silence: %w", err)
			}
			pos += 960
		}
		if err := write(p.pos, p.payload); err != nil {
			continue // not Opus (the robot's garbage): a gap, filled by what follows
		}
		pos = max(pos, p.pos+opusSamples(p.payload))
	}
	if err := w.Close(); err != nil {
		return nil, 0, fmt.Errorf("ogg close: %w", err)
	}
	return buf.Bytes(), pos - pkts[0].pos, nil
}

// opusSamples is how many 48 kHz samples an Opus packet plays (RFC 6716
// section 3.1: the TOC byte's configuration and frame count); 960 (20 ms)
// when the packet cannot say.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 960
	}
	toc := p[0]
	cfg := toc >> 3
	var frame int // samples per frame at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[cfg%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[cfg%4]
	}
	frames := 1
	switch toc & 0x3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 960
		}
		frames = int(p[1] & 0x3F)
	}
	if n := frame * frames; n > 0 && n <= 5760 { // at most 120 ms
		return n
	}
	return 960
}
