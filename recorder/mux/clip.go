package mux

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// WriteClip writes a progressive MP4 of frames to w: moov before mdat, so a
// browser starts playing at once. frames[0] must be a keyframe; the clip is
// shown from `from` (>= frames[0].PTS): an edit list hides the frames before
// it, which are still there for the decoder. end is the PTS just after the
// last frame (its duration, as in SegmentWriter.Close). It returns the number
// of bytes written.
//
// from need not be a frame's PTS. A player that follows the edit list then
// shows the frame under from for the rest of its duration; ffmpeg 5.1 drops
// that frame and starts with the next one at 0.
//
// The frames are checked as SegmentWriter checks them, but any bad frame
// fails the clip. Only the sample table is held in memory: payloads are
// built one at a time as they are written.
func WriteClip(w io.Writer, p Params, frames []Frame, from, end time.Duration) (int64, error) {
	codec, err := p.mp4Codec()
	if err != nil {
		return 0, fmt.Errorf("write clip: %w", err)
	}
	if len(frames) == 0 {
		return 0, errors.New("write clip: no frames")
	}
	first := frames[0].PTS
	if from < first {
		return 0, fmt.Errorf("write clip: starts at %v, before its first frame at %v", from, first)
	}
	if end <= from {
		return 0, fmt.Errorf("write clip: ends at %v, not after its start at %v", end, from)
	}
	// pmp4 keeps durations, the edit list and the mdat size in 32 bits
	if ticks(end-first) > math.MaxInt32 {
		return 0, fmt.Errorf("write clip: %v from the first frame is too long", end-first)
	}

	track := newVideoTrack(p)
	samples := make([]pmp4.Sample, len(frames))
	ptrs := make([]*pmp4.Sample, len(frames))
	var payload []byte // reused: pmp4 writes each payload before asking for the next
	var dataSize, prevDTS int64
	for i, f := range frames {
		tm, err := track.add(f)
		if err != nil {
			return 0, fmt.Errorf("write clip: frame %d: %w", i, err)
		}
		if i > 0 {
			samples[i-1].Duration = uint32(tm.dts - prevDTS)
		}
		prevDTS = tm.dts
		size := avccSize(p.Codec, f.NALUs)
		dataSize += int64(size)
		nalus := f.NALUs
		samples[i] = pmp4.Sample{
			PTSOffset:       tm.ptsOffset,
			IsNonSyncSample: !tm.sync,
			PayloadSize:     uint32(size),
			GetPayload: func() ([]byte, error) {
				payload = appendAVCC(payload[:0], p.Codec, nalus)
				return payload, nil
			},
		}
		ptrs[i] = &samples[i]
	}
	// mdat's size and the chunk offsets are 32 bits; leave room for moov
	if dataSize > math.MaxUint32-64<<20 {
		return 0, fmt.Errorf("write clip: %d bytes of video is too large", dataSize)
	}
	var prev uint32
	if n := len(samples); n > 1 {
		prev = samples[n-2].Duration
	}
	samples[len(samples)-1].Duration = track.lastDuration(end, prev)

	pres := pmp4.Presentation{Tracks: []*pmp4.Track{{
		ID:        videoTrackID,
		TimeScale: timescale,
		// negative: the edit list starts the presentation this far into
		// the media, whose time 0 is frames[0]
		TimeOffset: -int32(ticks(from - first)),
		Codec:      codec,
		Samples:    ptrs,
	}}}
	cw := &countingWriter{w: w}
	// pmp4 writes each sample with its own Write call
	bw := bufio.NewWriterSize(cw, 64<<10)
	if err := pres.Marshal(&headerFixer{w: bw}); err != nil {
		return cw.n, fmt.Errorf("write clip: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("write clip: %w", err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
