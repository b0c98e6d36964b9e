package mux

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParamsFrom(t *testing.T) {
	h264 := encode(t, streamSpec{codec: CodecH264})
	h265 := encode(t, streamSpec{codec: CodecH265})
	key264, key265 := h264.frames[0].NALUs, h265.frames[0].NALUs
	without := func(nalus [][]byte, kind naluKind, codec string) [][]byte {
		var out [][]byte
		for _, n := range nalus {
			if kindOf(codec, n) != kind {
				out = append(out, n)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		codec string
		nalus [][]byte
		ok    bool
	}{
		{"h264 keyframe", CodecH264, key264, true},
		{"h265 keyframe", CodecH265, key265, true},
		{"h264 non-key frame", CodecH264, h264.frames[1].NALUs, false},
		{"h264 without PPS", CodecH264, without(key264, kindPPS, CodecH264), false},
		{"h265 without VPS", CodecH265, without(key265, kindVPS, CodecH265), false},
		{"h265 read as h264", CodecH264, key265, false},
		{"unknown codec", "mjpeg", key264, false},
		{"no NAL units", CodecH264, nil, false},
		{"empty NAL units", CodecH265, [][]byte{{}, {0x40}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := ParamsFrom(tc.codec, tc.nalus)
			require.Equal(t, tc.ok, ok)
			if !ok {
				require.Zero(t, p)
				return
			}
			require.Equal(t, tc.codec, p.Codec)
			_, err := p.mp4Codec()
			require.NoError(t, err)
			// the Params own their bytes
			src := findParams(tc.codec, tc.nalus)
			require.Equal(t, src.SPS, p.SPS)
			require.NotSame(t, &src.SPS[0], &p.SPS[0])
		})
	}
}

func TestNewSegmentWriterParams(t *testing.T) {
	h264 := encode(t, streamSpec{codec: CodecH264})
	h265 := encode(t, streamSpec{codec: CodecH265})
	p4, p5 := h264.params, h265.params
	with := func(p Params, edit func(*Params)) Params {
		edit(&p)
		return p
	}
	for _, tc := range []struct {
		name string
		p    Params
		want error
	}{
		{"h264", p4, nil},
		{"h265", p5, nil},
		{"unknown codec", with(p4, func(p *Params) { p.Codec = "av1" }), ErrUnsupportedCodec},
		{"no codec", with(p4, func(p *Params) { p.Codec = "" }), ErrUnsupportedCodec},
		{"h264 without SPS", with(p4, func(p *Params) { p.SPS = nil }), ErrBadParams},
		{"h264 without PPS", with(p4, func(p *Params) { p.PPS = nil }), ErrBadParams},
		{"h265 without VPS", with(p5, func(p *Params) { p.VPS = nil }), ErrBadParams},
		{"SPS and PPS swapped", with(p4, func(p *Params) { p.SPS, p.PPS = p.PPS, p.SPS }), ErrBadParams},
		{"truncated SPS", with(p4, func(p *Params) { p.SPS = p.SPS[:3] }), ErrBadParams},
		{"garbage SPS", with(p4, func(p *Params) { p.SPS = []byte{0x67, 0xff, 0xff, 0xff, 0xff} }), ErrBadParams},
		{"truncated h265 SPS", with(p5, func(p *Params) { p.SPS = p.SPS[:12] }), ErrBadParams},
		{"h264 params as h265", with(p4, func(p *Params) { p.Codec = CodecH265; p.VPS = p5.VPS }), ErrBadParams},
		{"huge PPS", with(p4, func(p *Params) { p.PPS = append([]byte{0x68}, make([]byte, 70000)...) }), ErrBadParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			sw, err := NewSegmentWriter(&out, tc.p)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				require.Nil(t, sw)
				return
			}
			require.NoError(t, err)
			require.Zero(t, out.Len())
		})
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{time.Second, timescale},
		{40 * time.Millisecond, 3600},
		// a 30 fps frame from a 90 kHz clock: 3000 ticks are 33333333.3 ns
		{33333333 * time.Nanosecond, 3000},
		{33333334 * time.Nanosecond, 3000},
		// a wall-clock PTS, where d*90000 would overflow int64
		{time.Duration(1 << 62), 4611686018*timescale + 38465}, // 0.427387904 s rounds to 38465
	} {
		require.Equal(t, tc.want, ticks(tc.d), "%v", tc.d)
	}
}
