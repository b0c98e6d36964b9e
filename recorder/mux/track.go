package mux

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// videoTrack places frames on the MP4 timelines of one video track: it
// checks them, computes decode times and composition offsets. SegmentWriter
// and WriteClip share it; what they do with the payloads differs.
//
// Both timelines start at 0 at the first frame: presentation time is
// PTS - firstPTS, decode time is DTS - firstDTS. The H264 DTS extractor gives
// the first frame DTS = PTS; the H265 one puts it earlier when frames are
// reordered, and the composition offsets of later frames may then be
// negative (allowed by the version 1 trun and ctts boxes mediacommon writes).
type videoTrack struct {
	params Params

	// only the one for params.Codec is used. They are plain values so that
	// a rejected frame can be undone by copying them back.
	dts264 h264.DTSExtractor
	dts265 h265.DTSExtractor

	started    bool
	firstPTS   time.Duration
	firstDTS   int64 // as returned by the extractor, in timescale units
	lastKeyPTS time.Duration
	maxPTS     time.Duration
	lastRawDTS int64 // as returned by the extractor
	lastDTS    int64 // relative to firstDTS
	frames     int
}

// timing is where one frame lies on the track, in timescale units.
type timing struct {
	dts       int64 // decode time from the first frame's
	ptsOffset int32 // presentation time minus decode time
	sync      bool
}

func newVideoTrack(p Params) *videoTrack {
	t := &videoTrack{params: p}
	t.dts264.Initialize()
	t.dts265.Initialize()
	return t
}

// add checks f and places it after the frames added so far. On error the
// track is left as it was: the caller may drop the frame and go on.
func (t *videoTrack) add(f Frame) (timing, error) {
	codec := t.params.Codec
	if err := checkNALUs(codec, f.NALUs); err != nil {
		return timing{}, err
	}
	sync := isRandomAccess(codec, f.NALUs)
	if !t.started && !sync {
		return timing{}, ErrNeedKeyframe
	}
	if t.started && f.PTS <= t.lastKeyPTS {
		return timing{}, fmt.Errorf("%w: frame at %v is not after the keyframe at %v",
			ErrPTSBackwards, f.PTS, t.lastKeyPTS)
	}
	if sync {
		if err := t.checkParams(f.NALUs); err != nil {
			return timing{}, err
		}
	}

	firstPTS := t.firstPTS
	au := f.NALUs
	if !t.started {
		firstPTS = f.PTS
		au = t.withParams(au)
	}
	pts := ticks(f.PTS - firstPTS)
	// a frame is decoded before it is shown (the extractors keep DTS <= PTS),
	// so it cannot be shown before the previous frame was decoded
	if t.started && pts <= t.lastRawDTS {
		return timing{}, fmt.Errorf("%w: frame at %v is not after the previous frame's decode time",
			ErrPTSBackwards, f.PTS)
	}

	saved264, saved265 := t.dts264, t.dts265
	undo := func() { t.dts264, t.dts265 = saved264, saved265 }
	dts, err := t.extractDTS(au, pts)
	if err != nil {
		undo()
		return timing{}, fmt.Errorf("compute decode time of frame at %v: %w", f.PTS, err)
	}
	firstDTS := t.firstDTS
	if !t.started {
		firstDTS = dts
	}
	rel := dts - firstDTS
	if t.started {
		switch step := rel - t.lastDTS; {
		case step <= 0:
			undo()
			return timing{}, fmt.Errorf("%w: decode time of frame at %v does not advance",
				ErrPTSBackwards, f.PTS)
		case step > math.MaxUint32: // sample durations are 32 bits
			undo()
			return timing{}, fmt.Errorf("frame at %v comes %.0f s after the previous one, too long for one sample",
				f.PTS, float64(step)/timescale)
		}
	}
	off := pts - rel
	if off < math.MinInt32 || off > math.MaxInt32 {
		undo()
		return timing{}, fmt.Errorf("frame at %v is displayed too far from its decode time", f.PTS)
	}

	if !t.started {
		t.started = true
		t.firstPTS = f.PTS
		t.firstDTS = dts
		t.maxPTS = f.PTS
	}
	if sync {
		t.lastKeyPTS = f.PTS
	}
	t.maxPTS = max(t.maxPTS, f.PTS)
	t.lastRawDTS = dts
	t.lastDTS = rel
	t.frames++
	return timing{dts: rel, ptsOffset: int32(off), sync: sync}, nil
}

// checkParams compares the parameter sets a keyframe carries with the
// track's. A keyframe without them is taken to use the track's.
func (t *videoTrack) checkParams(nalus [][]byte) error {
	found := findParams(t.params.Codec, nalus)
	for _, ps := range []struct {
		name       string
		got, track []byte
	}{{"VPS", found.VPS, t.params.VPS}, {"SPS", found.SPS, t.params.SPS}, {"PPS", found.PPS, t.params.PPS}} {
		if ps.got != nil && !bytes.Equal(ps.got, ps.track) {
			return fmt.Errorf("%w: keyframe carries a different %s", ErrParamsChanged, ps.name)
		}
	}
	return nil
}

// withParams prepends the track's parameter sets to the first frame when it
// lacks them: the DTS extractors need the SPS (and PPS) in band, and some
// cameras send them only in the SDP. Only the extractor sees the result.
func (t *videoTrack) withParams(nalus [][]byte) [][]byte {
	if findParams(t.params.Codec, nalus).complete() {
		return nalus
	}
	au := make([][]byte, 0, len(nalus)+3)
	if t.params.Codec == CodecH265 {
		au = append(au, t.params.VPS)
	}
	au = append(au, t.params.SPS, t.params.PPS)
	return append(au, nalus...)
}

// extractDTS runs mediacommon's DTS extractor, which parses slice headers:
// garbage from a camera must give an error, not a crash.
func (t *videoTrack) extractDTS(au [][]byte, pts int64) (dts int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("DTS extractor panic: %v", r)
		}
	}()
	if t.params.Codec == CodecH265 {
		return t.dts265.Extract(au, pts)
	}
	return t.dts264.Extract(au, pts)
}

// lastDuration is the duration of the last frame in decode order, so that
// the presentation ends at end. When end is not after every frame, the
// latest frame shown lasts prev (the previous sample's duration) or 1/25 s.
// With reordered frames the last frame decoded is not the last shown, so the
// duration is what is left between its decode time and the end.
func (t *videoTrack) lastDuration(end time.Duration, prev uint32) uint32 {
	if prev == 0 {
		prev = defaultFrameDuration
	}
	last := ticks(end - t.firstPTS)
	if end <= t.maxPTS {
		last = ticks(t.maxPTS-t.firstPTS) + int64(prev)
	}
	if d := last - t.lastDTS; d > 0 && d <= math.MaxUint32 {
		return uint32(d)
	}
	return prev
}
