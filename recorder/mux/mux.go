// Package mux turns H264/H265 access units into MP4 files without
// re-encoding: fragmented segments written while recording (SegmentWriter)
// and progressive clips cut out of recorded frames (WriteClip).
//
// The boxes are built by mediacommon's fmp4 and pmp4 writers; this package
// adds what they leave to the caller: decode times and sample durations,
// validation of the incoming frames, edit lists and append-only output.
// Only a video track exists; its logic lives in videoTrack so that an audio
// track can sit beside it later.
package mux

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// Codec names as used elsewhere in the project (the same values as
// media.CodecH264 and media.CodecH265; not imported, to keep mux a leaf).
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
)

// timescale is the MP4 media timescale of the video track: the RTP video
// clock, so camera timestamps convert without rounding.
const timescale = 90000

// videoTrackID is the MP4 track ID of the video; an audio track would be 2.
const videoTrackID = 1

// defaultFrameDuration is the duration of a lone last frame when nothing
// better is known: one frame at 25 fps.
const defaultFrameDuration = timescale / 25

// maxParamSetSize is the largest parameter set avcC/hvcC can hold: their
// length fields are 16 bits.
const maxParamSetSize = 0xffff

// Frame is one video access unit.
type Frame struct {
	// PTS is the presentation time on a continuous timeline (any origin,
	// may start at a large value).
	PTS time.Duration
	// Key marks a random access point (IDR / IRAP); parameter sets precede it
	// in NALUs. The writers do not trust it: the sync flags in the files come
	// from the NAL unit types, so a wrong flag cannot create a seek point
	// that does not decode.
	Key bool
	// NALUs are the NAL units without start codes; read-only, shared with
	// others: never modified here.
	NALUs [][]byte
}

// Params are the codec parameter sets; SPS/PPS (and VPS for H265) are required.
type Params struct {
	Codec         string
	VPS, SPS, PPS []byte
}

// ParamsFrom finds the parameter sets in a keyframe's NAL units (false if
// missing). The first of each kind wins. The returned Params own copies of
// the bytes, so they do not pin the frame's buffers for the life of a
// recording.
func ParamsFrom(codec string, nalus [][]byte) (Params, bool) {
	if codec != CodecH264 && codec != CodecH265 {
		return Params{}, false
	}
	p := findParams(codec, nalus)
	if !p.complete() {
		return Params{}, false
	}
	return Params{
		Codec: codec,
		VPS:   bytes.Clone(p.VPS),
		SPS:   bytes.Clone(p.SPS),
		PPS:   bytes.Clone(p.PPS),
	}, true
}

// complete reports whether every parameter set the codec needs is present.
func (p Params) complete() bool {
	if len(p.SPS) == 0 || len(p.PPS) == 0 {
		return false
	}
	return p.Codec != CodecH265 || len(p.VPS) > 0
}

// mp4Codec checks p and converts it to mediacommon's description. The checks
// run here, once, so that a writer never fails later on bad parameters.
func (p Params) mp4Codec() (mp4.Codec, error) {
	if p.Codec != CodecH264 && p.Codec != CodecH265 {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedCodec, p.Codec)
	}
	if !p.complete() {
		return nil, fmt.Errorf("%w: %s needs SPS and PPS (and VPS for h265)", ErrBadParams, p.Codec)
	}
	for _, ps := range []struct {
		name string
		nalu []byte
		kind naluKind
	}{{"VPS", p.VPS, kindVPS}, {"SPS", p.SPS, kindSPS}, {"PPS", p.PPS, kindPPS}} {
		if ps.nalu == nil && ps.kind == kindVPS {
			continue // H264 has none
		}
		if got := kindOf(p.Codec, ps.nalu); got != ps.kind {
			return nil, fmt.Errorf("%w: %s is not a %s NAL unit", ErrBadParams, ps.name, p.Codec)
		}
		if len(ps.nalu) > maxParamSetSize {
			return nil, fmt.Errorf("%w: %s of %d bytes is too large", ErrBadParams, ps.name, len(ps.nalu))
		}
	}
	w, h, err := spsSize(p.Codec, p.SPS)
	if err != nil {
		return nil, fmt.Errorf("%w: parse SPS: %v", ErrBadParams, err)
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: SPS gives a %dx%d picture", ErrBadParams, w, h)
	}
	if p.Codec == CodecH265 {
		return &mp4.CodecH265{VPS: p.VPS, SPS: p.SPS, PPS: p.PPS}, nil
	}
	return &mp4.CodecH264{SPS: p.SPS, PPS: p.PPS}, nil
}

// spsSize parses an SPS for the picture size. mediacommon's box writers read
// fixed offsets of the SPS (profile bytes in avcC/hvcC), so the minimum
// lengths are checked too.
func spsSize(codec string, sps []byte) (w, h int, err error) {
	defer func() {
		if r := recover(); r != nil { // a parser bug must not take the recorder down
			err = fmt.Errorf("SPS parser panic: %v", r)
		}
	}()
	if codec == CodecH265 {
		if len(sps) < 13 {
			return 0, 0, fmt.Errorf("%d bytes is too short", len(sps))
		}
		var s h265.SPS
		if err := s.Unmarshal(sps); err != nil {
			return 0, 0, err
		}
		return s.Width(), s.Height(), nil
	}
	if len(sps) < 4 {
		return 0, 0, fmt.Errorf("%d bytes is too short", len(sps))
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, err
	}
	return s.Width(), s.Height(), nil
}

// findParams returns the first VPS, SPS and PPS among nalus, not copied.
func findParams(codec string, nalus [][]byte) Params {
	p := Params{Codec: codec}
	for _, n := range nalus {
		switch kindOf(codec, n) {
		case kindVPS:
			if p.VPS == nil {
				p.VPS = n
			}
		case kindSPS:
			if p.SPS == nil {
				p.SPS = n
			}
		case kindPPS:
			if p.PPS == nil {
				p.PPS = n
			}
		}
	}
	return p
}

// naluKind is what the muxer needs to know about a NAL unit.
type naluKind uint8

const (
	kindOther naluKind = iota
	kindSlice          // coded picture data (VCL)
	kindVPS
	kindSPS
	kindPPS
	kindAUD
)

// kindOf classifies a NAL unit; it never panics on garbage.
func kindOf(codec string, nalu []byte) naluKind {
	if codec == CodecH265 {
		if len(nalu) < 2 { // the H265 header is two bytes
			return kindOther
		}
		switch typ := h265.NALUType((nalu[0] >> 1) & 0x3f); {
		case typ < h265.NALUType_VPS_NUT: // 0..31 are VCL types
			return kindSlice
		case typ == h265.NALUType_VPS_NUT:
			return kindVPS
		case typ == h265.NALUType_SPS_NUT:
			return kindSPS
		case typ == h265.NALUType_PPS_NUT:
			return kindPPS
		case typ == h265.NALUType_AUD_NUT:
			return kindAUD
		}
		return kindOther
	}
	if len(nalu) < 1 {
		return kindOther
	}
	switch typ := h264.NALUType(nalu[0] & 0x1f); {
	case typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeIDR:
		return kindSlice
	case typ == h264.NALUTypeSPS:
		return kindSPS
	case typ == h264.NALUTypePPS:
		return kindPPS
	case typ == h264.NALUTypeAccessUnitDelimiter:
		return kindAUD
	}
	return kindOther
}

// checkNALUs rejects frames the parsers downstream cannot take: they index
// the first bytes of every NAL unit.
func checkNALUs(codec string, nalus [][]byte) error {
	if len(nalus) == 0 {
		return fmt.Errorf("%w: no NAL units", ErrEmptyFrame)
	}
	slice := false
	for i, n := range nalus {
		if len(n) == 0 || (codec == CodecH265 && len(n) < 2) {
			return fmt.Errorf("%w: NAL unit %d has no header", ErrEmptyFrame, i)
		}
		slice = slice || kindOf(codec, n) == kindSlice
	}
	if !slice {
		return fmt.Errorf("%w: no coded slice", ErrEmptyFrame)
	}
	return nil
}

// isRandomAccess tells from the NAL unit types whether decoding can start at
// this frame.
func isRandomAccess(codec string, nalus [][]byte) bool {
	if codec == CodecH265 {
		return h265.IsRandomAccess(nalus)
	}
	return h264.IsRandomAccess(nalus)
}

// appendAVCC appends nalus in MP4 sample form (32-bit length prefixes).
// Access unit delimiters are dropped: MP4 samples delimit access units.
func appendAVCC(dst []byte, codec string, nalus [][]byte) []byte {
	for _, n := range nalus {
		if kindOf(codec, n) == kindAUD {
			continue
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

// avccSize is len(appendAVCC(nil, codec, nalus)) without building it.
func avccSize(codec string, nalus [][]byte) int {
	n := 0
	for _, nalu := range nalus {
		if kindOf(codec, nalu) != kindAUD {
			n += 4 + len(nalu)
		}
	}
	return n
}

// ticks converts a duration to timescale units, rounded to the nearest:
// PTS that came from a 90 kHz RTP clock convert back exactly. It splits
// seconds off first so that large values do not overflow.
func ticks(d time.Duration) int64 {
	sec, rem := d/time.Second, d%time.Second
	return int64(sec)*timescale + (int64(rem)*timescale+int64(time.Second)/2)/int64(time.Second)
}
