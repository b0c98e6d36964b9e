package democam

import (
	_ "embed" // the demo clip ships inside the binary
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

//go:generate sh gen.sh

// clipH264 is the looped video, made by gen.sh. Read-only.
//
//go:embed clip.h264
var clipH264 []byte

// Properties of the embedded clip, checked when it is parsed.
const (
	ClipWidth  = 640
	ClipHeight = 360
	ClipFPS    = 25
)

// clip is a parsed H264 elementary stream, ready to be looped.
type clip struct {
	sps, pps      []byte
	width, height int
	// aus are the access units in decode order (no B-frames, so also in
	// display order); each IDR carries SPS and PPS, so a reader can start
	// at any keyframe.
	aus [][][]byte
}

// parseClip splits a raw Annex-B H264 stream into access units.
func parseClip(data []byte) (*clip, error) {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("split Annex-B: %w", err)
	}
	c := &clip{}
	var au [][]byte
	auHasVCL := false
	flush := func() {
		if len(au) > 0 {
			c.aus = append(c.aus, au)
		}
		au, auHasVCL = nil, false
	}
	for _, nalu := range nalus {
		if len(nalu) == 0 {
			continue
		}
		typ := h264.NALUType(nalu[0] & 0x1F)
		switch typ {
		case h264.NALUTypeSPS:
			if c.sps == nil {
				c.sps = nalu
			}
		case h264.NALUTypePPS:
			if c.pps == nil {
				c.pps = nalu
			}
		}
		if startsAccessUnit(typ, nalu, auHasVCL) {
			flush()
		}
		switch typ {
		case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
			// not needed on RTP: the marker bit delimits access units
			continue
		case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
			auHasVCL = true
		}
		au = append(au, nalu)
	}
	flush()

	if c.sps == nil || c.pps == nil {
		return nil, errors.New("clip has no SPS or PPS")
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.sps); err != nil {
		return nil, fmt.Errorf("parse SPS: %w", err)
	}
	c.width, c.height = sps.Width(), sps.Height()
	if len(c.aus) == 0 || !h264.IsRandomAccess(c.aus[0]) {
		return nil, errors.New("clip does not start with an IDR frame, so it cannot loop")
	}
	for i, au := range c.aus {
		c.aus[i] = withParams(au, c.sps, c.pps)
	}
	return c, nil
}

// startsAccessUnit tells whether nalu begins a new access unit, given
// whether the current one already has a picture (ITU-T H.264 7.4.1.2.3):
// a delimiter, parameter set or SEI after a picture, or the first slice of
// the next picture (first_mb_in_slice = 0, ue(v) coded as a single 1 bit).
func startsAccessUnit(typ h264.NALUType, nalu []byte, auHasVCL bool) bool {
	switch typ {
	case h264.NALUTypeAccessUnitDelimiter:
		return true
	case h264.NALUTypeSPS, h264.NALUTypePPS, h264.NALUTypeSEI:
		return auHasVCL
	case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
		return auHasVCL && len(nalu) > 1 && nalu[1]&0x80 != 0
	default:
		return false
	}
}

// withParams makes an IDR access unit start with the clip's SPS and PPS,
// in that order, so that every keyframe is decodable on its own.
func withParams(au [][]byte, sps, pps []byte) [][]byte {
	if !h264.IsRandomAccess(au) {
		return au
	}
	out := make([][]byte, 0, len(au)+2)
	out = append(out, sps, pps)
	for _, nalu := range au {
		switch h264.NALUType(nalu[0] & 0x1F) {
		case h264.NALUTypeSPS, h264.NALUTypePPS:
		default:
			out = append(out, nalu)
		}
	}
	return out
}
