package mux

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"
)

// appendOnly is an io.Writer that is not an io.Seeker, as the spool file.
type appendOnly struct{ bytes.Buffer }

func TestSegmentWriter(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec streamSpec
	}{
		{"h264", streamSpec{codec: CodecH264}},
		{"h264 b-frames", streamSpec{codec: CodecH264, bframes: 2}},
		{"h265", streamSpec{codec: CodecH265}},
		{"h265 b-frames", streamSpec{codec: CodecH265, bframes: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := encode(t, tc.spec)
			before := hashFrames(s.frames)

			var out appendOnly
			sw, err := NewSegmentWriter(&out, s.params)
			require.NoError(t, err)
			require.Zero(t, out.Len(), "nothing written before the first frame")
			const flushEvery = 10
			for i, f := range s.frames {
				require.NoError(t, sw.WriteFrame(f), "frame %d", i)
				if i%flushEvery == flushEvery-1 {
					require.NoError(t, sw.Flush())
				}
			}
			require.Equal(t, len(s.frames), sw.Frames())
			require.Equal(t, end(s.frames)-testFrameDur-testBase, sw.Duration())
			require.NoError(t, sw.Close(end(s.frames)))
			require.ErrorIs(t, sw.Close(end(s.frames)), ErrClosed)
			require.ErrorIs(t, sw.WriteFrame(s.frames[0]), ErrClosed)
			require.Equal(t, before, hashFrames(s.frames), "frames must not be modified")

			// mediacommon reads it back: one fragment per Flush, decode time from 0
			init, parts := readSegment(t, out.Bytes())
			require.Equal(t, uint32(timescale), init.Tracks[0].TimeScale)
			// every Flush writes all but the held frame, which Close writes alone
			require.Len(t, parts, len(s.frames)/flushEvery+1)
			require.Zero(t, parts[0].Tracks[0].BaseTime)
			require.False(t, parts[0].Tracks[0].Samples[0].IsNonSyncSample)
			var total uint64
			var minOffset int32
			samples := 0
			for _, p := range parts {
				require.Equal(t, total, p.Tracks[0].BaseTime, "fragments follow each other")
				for _, sa := range p.Tracks[0].Samples {
					total += uint64(sa.Duration)
					minOffset = min(minOffset, sa.PTSOffset)
					samples++
				}
			}
			require.Equal(t, len(s.frames), samples)
			require.Equal(t, uint64(testSeconds*timescale), total)

			path := filepath.Join(t.TempDir(), "seg.mp4")
			require.NoError(t, os.WriteFile(path, out.Bytes(), 0o600))
			pr := ffprobe(t, path)
			t.Logf("ffprobe: %+v", pr)
			require.Equal(t, ffprobeCodec(tc.spec.codec), pr.codec)
			require.Equal(t, 320, pr.width)
			require.Equal(t, 240, pr.height)
			require.Equal(t, testFrames, pr.frames)
			// The presentation starts at 0. With reordered H265 frames the
			// composition offsets go negative and ffmpeg then delays every
			// frame by the largest negative offset instead of trusting them.
			require.Equal(t, time.Duration(-minOffset)*time.Second/timescale, pr.start)
			require.InDelta(t, float64(testSeconds*time.Second), float64(pr.duration), float64(testFrameDur))
			require.Empty(t, decodeErrors(t, path))
		})
	}
}

func TestSegmentWriterErrors(t *testing.T) {
	s := encode(t, streamSpec{codec: CodecH264})
	other := encode(t, streamSpec{codec: CodecH264, size: "352x288"})
	// with B-frames the DTS extractor parses slice headers
	b := encode(t, streamSpec{codec: CodecH264, bframes: 2})
	f, fb := s.frames, b.frames
	at := func(fr Frame, pts time.Duration) Frame {
		fr.PTS = pts
		return fr
	}
	aud := []byte{0x09, 0xf0}
	sei := []byte{0x06, 0x05, 0x01, 0x00, 0x80}

	type step struct {
		frame Frame
		want  error // nil: accepted; errAny: any error
	}
	ok := func(frames ...Frame) []step {
		steps := make([]step, len(frames))
		for i, fr := range frames {
			steps[i] = step{frame: fr}
		}
		return steps
	}
	cat := func(parts ...[]step) []step {
		var all []step
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}

	for _, tc := range []struct {
		name   string
		params Params
		steps  []step
	}{
		{"first frame not key", s.params, cat(
			[]step{
				{f[1], ErrNeedKeyframe},
				// the NAL unit types decide, not the Key flag
				{Frame{PTS: f[1].PTS, Key: true, NALUs: f[1].NALUs}, ErrNeedKeyframe},
			},
			ok(f[:50]...),
		)},
		{"params change", s.params, cat(
			ok(f[:25]...),
			// a keyframe of another resolution, at the next PTS
			[]step{{at(other.frames[0], f[25].PTS), ErrParamsChanged}},
			ok(f[25:50]...),
		)},
		{"pts backwards", s.params, cat(
			ok(f[:30]...),
			[]step{
				{at(f[30], f[0].PTS-time.Second), ErrPTSBackwards},
				{at(f[30], f[25].PTS), ErrPTSBackwards}, // same as the last keyframe
				{at(f[50], f[25].PTS), ErrPTSBackwards}, // a keyframe at the same time
				{at(f[30], f[28].PTS), ErrPTSBackwards}, // before the previous frame
				{at(f[30], f[29].PTS), ErrPTSBackwards}, // same as the previous frame
			},
			ok(f[30:50]...),
		)},
		{"gap too long for a sample", s.params, cat(
			ok(f[:10]...),
			[]step{{at(f[10], f[9].PTS+14*time.Hour), errAny}},
			ok(f[10:50]...),
		)},
		{"empty", s.params, cat(
			[]step{{Frame{PTS: f[0].PTS, Key: true}, ErrEmptyFrame}},
			ok(f[:10]...),
			[]step{
				{Frame{PTS: f[10].PTS}, ErrEmptyFrame},
				{Frame{PTS: f[10].PTS, NALUs: [][]byte{}}, ErrEmptyFrame},
				{Frame{PTS: f[10].PTS, NALUs: [][]byte{{}}}, ErrEmptyFrame},
				{Frame{PTS: f[10].PTS, NALUs: append([][]byte{{}}, f[10].NALUs...)}, ErrEmptyFrame},
				{Frame{PTS: f[10].PTS, NALUs: [][]byte{aud, sei}}, ErrEmptyFrame},
			},
			ok(f[10:50]...),
		)},
		{"unparsable slice", b.params, cat(
			ok(fb[:10]...),
			[]step{{Frame{PTS: fb[10].PTS, NALUs: [][]byte{{0x41}}}, errAny}},
			ok(fb[10:50]...),
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out appendOnly
			sw, err := NewSegmentWriter(&out, tc.params)
			require.NoError(t, err)
			var accepted []Frame
			for i, st := range tc.steps {
				size, frames := out.Len(), sw.Frames()
				err := sw.WriteFrame(st.frame)
				switch {
				case st.want == nil:
					require.NoError(t, err, "step %d", i)
					accepted = append(accepted, st.frame)
				case st.want == errAny:
					require.Error(t, err, "step %d", i)
				default:
					require.ErrorIs(t, err, st.want, "step %d", i)
				}
				if err != nil {
					t.Logf("step %d: %v", i, err)
					require.Equal(t, size, out.Len(), "a rejected frame writes nothing")
					require.Equal(t, frames, sw.Frames())
					if size > 0 {
						readSegment(t, out.Bytes()) // what is written still parses
					}
				}
				if i%7 == 6 {
					require.NoError(t, sw.Flush())
				}
			}
			require.NoError(t, sw.Close(end(accepted)))

			_, parts := readSegment(t, out.Bytes())
			samples := 0
			for _, p := range parts {
				samples += len(p.Tracks[0].Samples)
			}
			require.Equal(t, len(accepted), samples)
			path := filepath.Join(t.TempDir(), "seg.mp4")
			require.NoError(t, os.WriteFile(path, out.Bytes(), 0o600))
			require.Equal(t, len(accepted), ffprobe(t, path).frames)
			require.Empty(t, decodeErrors(t, path))
		})
	}
}

// errAny marks a step that must fail, with no particular error.
var errAny = errors.New("any error")

func TestSegmentWriterLastDuration(t *testing.T) {
	s := encode(t, streamSpec{codec: CodecH264})
	f := s.frames
	for _, tc := range []struct {
		name   string
		frames []Frame
		end    time.Duration
		want   uint32 // duration of the last sample
	}{
		{"end after the last frame", f[:10], f[9].PTS + 100*time.Millisecond, 9000},
		{"end at the last frame: previous duration", f[:10], f[9].PTS, 3600},
		{"end before the last frame: previous duration", f[:10], f[0].PTS, 3600},
		{"lone frame, no end: 1/25 s", f[:1], f[0].PTS, timescale / 25},
		{"lone frame", f[:1], f[0].PTS + 10*time.Millisecond, 900},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out appendOnly
			sw, err := NewSegmentWriter(&out, s.params)
			require.NoError(t, err)
			for _, fr := range tc.frames {
				require.NoError(t, sw.WriteFrame(fr))
			}
			require.NoError(t, sw.Close(tc.end))
			_, parts := readSegment(t, out.Bytes())
			last := parts[len(parts)-1].Tracks[0].Samples
			require.Equal(t, tc.want, last[len(last)-1].Duration)
		})
	}
}

func TestSegmentWriterNoFrames(t *testing.T) {
	s := encode(t, streamSpec{codec: CodecH264})
	var out appendOnly
	sw, err := NewSegmentWriter(&out, s.params)
	require.NoError(t, err)
	require.NoError(t, sw.Flush())
	require.NoError(t, sw.Close(time.Second))
	require.Zero(t, out.Len())
	require.Zero(t, sw.Duration())
	require.ErrorIs(t, sw.Flush(), ErrClosed)
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	limit int
	n     int
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		n := w.limit - w.n
		w.n = w.limit
		return n, errDiskFull
	}
	w.n += len(p)
	return len(p), nil
}

func TestSegmentWriterBrokenOutput(t *testing.T) {
	s := encode(t, streamSpec{codec: CodecH264})
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{"init fails", 10},
		{"fragment fails", 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw, err := NewSegmentWriter(&failingWriter{limit: tc.limit}, s.params)
			require.NoError(t, err)
			var failed error
			for _, fr := range s.frames[:10] {
				if failed = sw.WriteFrame(fr); failed != nil {
					break
				}
				if failed = sw.Flush(); failed != nil {
					break
				}
			}
			require.ErrorIs(t, failed, errDiskFull)
			// the output is broken: everything after says so
			require.ErrorIs(t, sw.WriteFrame(s.frames[10]), errDiskFull)
			require.ErrorIs(t, sw.Flush(), errDiskFull)
			require.ErrorIs(t, sw.Close(time.Hour), errDiskFull)
			require.ErrorIs(t, sw.Close(time.Hour), ErrClosed)
		})
	}
}

func readSegment(t *testing.T, b []byte) (fmp4.Init, fmp4.Parts) {
	t.Helper()
	var init fmp4.Init
	require.NoError(t, init.Unmarshal(bytes.NewReader(b)))
	var parts fmp4.Parts
	require.NoError(t, parts.Unmarshal(b))
	return init, parts
}

func hashFrames(frames []Frame) [32]byte {
	h := sha256.New()
	for _, f := range frames {
		for _, n := range f.NALUs {
			h.Write(n)
		}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// BenchmarkSegmentWriter measures one frame: B/op and allocs/op are per
// frame, including a fragment flushed every 25 frames (one per second).
func BenchmarkSegmentWriter(b *testing.B) {
	s := encode(b, streamSpec{codec: CodecH264})
	var size int
	for _, f := range s.frames {
		size += avccSize(CodecH264, f.NALUs)
	}
	b.SetBytes(int64(size / len(s.frames)))
	b.ReportAllocs()

	sw, err := NewSegmentWriter(io.Discard, s.params)
	require.NoError(b, err)
	loop := end(s.frames) - testBase // the stream repeats, later each time
	b.ResetTimer()
	for i := range b.N {
		f := s.frames[i%len(s.frames)]
		f.PTS += time.Duration(i/len(s.frames)) * loop
		if err := sw.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
		if i%testGOPFrames == testGOPFrames-1 {
			if err := sw.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	require.NoError(b, sw.Close(time.Duration(b.N)*testFrameDur+testBase))
}
