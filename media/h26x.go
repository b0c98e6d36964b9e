package media

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Video codec names, as reported in CameraState.Codec and Keyframe.Codec.
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
)

type naluClass uint8

const (
	naluOther naluClass = iota
	naluVCL             // a coded slice that is not a random access point
	naluIRAP            // IDR (H264) or IRAP (H265) slice
	naluVPS
	naluSPS
	naluPPS
	naluAUD
	naluInvalid // too short to carry a header
)

// classifyNALU tells what a NAL unit is; it never panics on garbage.
func classifyNALU(codec string, nalu []byte) naluClass {
	if codec == CodecH265 {
		if len(nalu) < 2 {
			return naluInvalid
		}
		switch typ := (nalu[0] >> 1) & 0x3f; {
		case typ >= 16 && typ <= 23:
			return naluIRAP
		case typ <= 15:
			return naluVCL
		case typ == 32:
			return naluVPS
		case typ == 33:
			return naluSPS
		case typ == 34:
			return naluPPS
		case typ == 35:
			return naluAUD
		}
		return naluOther
	}
	if len(nalu) < 1 {
		return naluInvalid
	}
	switch nalu[0] & 0x1f {
	case 5:
		return naluIRAP
	case 1:
		return naluVCL
	case 7:
		return naluSPS
	case 8:
		return naluPPS
	case 9:
		return naluAUD
	}
	return naluOther
}

// paramSets keeps the latest parameter sets of one video stream and makes
// every keyframe self-contained. It is owned by the stream (under its lock).
type paramSets struct {
	codec         string
	vps, sps, pps []byte
	width, height int
}

// reset starts a new camera session: parameter sets from the SDP (possibly
// nil) replace what an earlier session left.
func (p *paramSets) reset(codec string, vps, sps, pps []byte) {
	*p = paramSets{codec: codec}
	if len(vps) > 0 {
		p.vps = bytes.Clone(vps)
	}
	if len(sps) > 0 {
		p.setSPS(sps)
	}
	if len(pps) > 0 {
		p.pps = bytes.Clone(pps)
	}
}

func (p *paramSets) setSPS(sps []byte) {
	p.sps = bytes.Clone(sps)
	p.width, p.height = spsSize(p.codec, sps)
}

// maxDimension bounds a believable picture size; garbage SPS can parse into
// absurd sizes.
const maxDimension = 16384

// spsSize returns the picture size in an SPS, or zeros when it cannot be parsed.
func spsSize(codec string, sps []byte) (w, h int) {
	defer func() {
		if recover() != nil { // a parser bug must not take the ingest down
			w, h = 0, 0
		}
		if w <= 0 || h <= 0 || w > maxDimension || h > maxDimension {
			w, h = 0, 0
		}
	}()
	if codec == CodecH265 {
		var s h265.SPS
		if s.Unmarshal(sps) != nil {
			return 0, 0
		}
		return s.Width(), s.Height()
	}
	var s h264.SPS
	if s.Unmarshal(sps) != nil {
		return 0, 0
	}
	return s.Width(), s.Height()
}

// complete reports whether the parameter sets a decoder needs are known.
func (p *paramSets) complete() bool {
	if p.sps == nil || p.pps == nil {
		return false
	}
	return p.codec != CodecH265 || p.vps != nil
}

// process drops empty NAL units and access unit delimiters, remembers
// parameter sets and puts them in front of an IRAP access unit that lacks
// any of them. key reports an IRAP access unit a decoder can start at.
// The input is not modified; the result may share it.
func (p *paramSets) process(au [][]byte) (out [][]byte, key bool) {
	var hasVPS, hasSPS, hasPPS, irap, drop bool
	for _, nalu := range au {
		switch classifyNALU(p.codec, nalu) {
		case naluInvalid, naluAUD:
			drop = true
		case naluIRAP:
			irap = true
		case naluVPS:
			hasVPS = true
			if !bytes.Equal(nalu, p.vps) {
				p.vps = bytes.Clone(nalu)
			}
		case naluSPS:
			hasSPS = true
			if !bytes.Equal(nalu, p.sps) {
				p.setSPS(nalu)
			}
		case naluPPS:
			hasPPS = true
			if !bytes.Equal(nalu, p.pps) {
				p.pps = bytes.Clone(nalu)
			}
		}
	}
	if p.codec != CodecH265 {
		hasVPS = true
	}
	prepend := irap && (!hasVPS || !hasSPS || !hasPPS)
	if !drop && !prepend {
		return au, irap && p.complete()
	}
	out = make([][]byte, 0, len(au)+3)
	if prepend {
		// rebuild the head in decoding order (VPS, SPS, PPS): a PPS can only
		// be parsed after its SPS
		for _, ps := range [][]byte{p.vps, p.sps, p.pps} {
			if ps != nil {
				out = append(out, ps)
			}
		}
	}
	for _, nalu := range au {
		switch classifyNALU(p.codec, nalu) {
		case naluInvalid, naluAUD:
		case naluVPS, naluSPS, naluPPS:
			if !prepend {
				out = append(out, nalu)
			}
		default:
			out = append(out, nalu)
		}
	}
	return out, irap && p.complete()
}

// h264Profile returns profile_idc, the constraint flags and level_idc of an
// H264 SPS.
func h264Profile(sps []byte) (profile, constraints, level byte, ok bool) {
	if len(sps) < 4 {
		return 0, 0, 0, false
	}
	return sps[1], sps[2], sps[3], true
}

// annexB joins an access unit into an Annex-B byte stream.
func annexB(au [][]byte) ([]byte, error) {
	b, err := h264.AnnexB(au).Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal Annex-B: %w", err)
	}
	return b, nil
}
