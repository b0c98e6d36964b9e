package mux

import (
	"bytes"
	"io"
	"os/exec"
	"testing"
	"time"
)

// fuzzSep separates NAL units in fuzz inputs (an Annex B start code).
var fuzzSep = []byte{0, 0, 1}

// FuzzWriteFrame feeds arbitrary NAL units to ParamsFrom, SegmentWriter and
// WriteClip: nothing may panic, whatever a camera sends.
func FuzzWriteFrame(f *testing.F) {
	// real streams give the seeds, and a valid start to which the fuzzed
	// frames are appended, so the DTS extractors parse them
	real := map[bool]testStream{}
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		real[false] = encode(f, streamSpec{codec: CodecH264, bframes: 2})
		real[true] = encode(f, streamSpec{codec: CodecH265, bframes: 3})
		for _, h265 := range []bool{false, true} {
			s := real[h265]
			for i := range 4 {
				f.Add(h265, bytes.Join(s.frames[i].NALUs, fuzzSep), bytes.Join(s.frames[i+1].NALUs, fuzzSep))
			}
		}
	}
	f.Add(false, []byte{0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88}, []byte{0x41, 0x9a})
	f.Add(true, []byte{0x40, 0x01, 0, 0, 1, 0x42, 0x01, 0, 0, 1, 0x44, 0x01, 0, 0, 1, 0x26, 0x01}, []byte{0x02, 0x01})
	f.Add(false, []byte{}, []byte{0, 0, 1})

	f.Fuzz(func(t *testing.T, h265 bool, a, b []byte) {
		codec := CodecH264
		if h265 {
			codec = CodecH265
		}
		nalusA, nalusB := bytes.Split(a, fuzzSep), bytes.Split(b, fuzzSep)

		p, ok := ParamsFrom(codec, nalusA)
		var frames []Frame
		if s, found := real[h265]; !ok && found {
			p = s.params
			frames = append(frames, s.frames[0])
		}
		for _, nalus := range [][][]byte{nalusA, nalusB, nalusA, nalusB} {
			frames = append(frames, Frame{Key: true, NALUs: nalus})
		}
		for i := range frames {
			frames[i].PTS = time.Hour + time.Duration(i)*testFrameDur
		}
		end := frames[len(frames)-1].PTS + testFrameDur

		sw, err := NewSegmentWriter(io.Discard, p)
		if err != nil {
			return
		}
		for i, fr := range frames {
			_ = sw.WriteFrame(fr)
			if i == 2 {
				_ = sw.Flush()
			}
		}
		_ = sw.Close(end)
		_, _ = WriteClip(io.Discard, p, frames, frames[0].PTS, end)
	})
}
