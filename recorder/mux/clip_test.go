package mux

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	amp4 "github.com/abema/go-mp4"
	"github.com/stretchr/testify/require"
)

func TestWriteClip(t *testing.T) {
	for _, spec := range []streamSpec{
		{codec: CodecH264},
		{codec: CodecH264, bframes: 2},
		{codec: CodecH265},
		{codec: CodecH265, bframes: 3},
	} {
		s := encode(t, spec)
		// the second and third GOPs (frames 25..74 in decode and display order)
		frames := s.frames[25:75]
		first := frames[0].PTS
		for _, tc := range []struct {
			name      string
			from, end time.Duration
			shown     int // frames displayed
		}{
			{"from mid-GOP", first + 13*testFrameDur, first + 50*testFrameDur, 37},
			// frame 12 would show for 10 ms; ffmpeg 5.1 drops a frame that
			// starts before the edit and shows frame 13 at 0
			{"from between frames", first + 13*testFrameDur - 10*time.Millisecond, first + 50*testFrameDur, 37},
			{"from the keyframe", first, first + 50*testFrameDur, 50},
			{"end at the last frame", first + 13*testFrameDur, first + 49*testFrameDur, 37},
		} {
			t.Run(spec.codec+" "+strconv.Itoa(spec.bframes)+" b-frames "+tc.name, func(t *testing.T) {
				before := hashFrames(frames)
				var out bytes.Buffer
				n, err := WriteClip(&out, s.params, frames, tc.from, tc.end)
				require.NoError(t, err)
				require.Equal(t, int64(out.Len()), n)
				require.Equal(t, before, hashFrames(frames), "frames must not be modified")

				want := tc.end - tc.from
				if tc.end <= end(frames)-testFrameDur {
					want = end(frames) - tc.from // the last frame lasts as long as the one before
				}
				hdr := readClipHeader(t, out.Bytes())
				require.Equal(t, ticks(tc.from-first), int64(hdr.mediaTime), "edit list starts at from")
				require.Equal(t, want.Milliseconds(), int64(hdr.segmentDuration), "edit list lasts the clip")
				require.Equal(t, want.Milliseconds(), int64(hdr.movieDuration))
				require.Equal(t, ticks(end(frames)-first), int64(hdr.mediaDuration), "mdhd holds every sample")

				path := filepath.Join(t.TempDir(), "clip.mp4")
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o600))
				pr := ffprobe(t, path)
				t.Logf("ffprobe: %+v", pr)
				require.Equal(t, ffprobeCodec(spec.codec), pr.codec)
				require.Equal(t, 320, pr.width)
				require.Equal(t, 240, pr.height)
				require.Zero(t, pr.start, "the clip starts at from")
				require.InDelta(t, float64(want), float64(pr.duration), float64(testFrameDur))
				// ffmpeg 5.1 applies the edit list: frames before from are
				// decoded but not output, so not counted
				require.Equal(t, tc.shown, pr.frames)
				shown := shownFrames(t, path)
				require.Len(t, shown, tc.shown)
				require.Zero(t, shown[0], "first frame shown at 0")
				require.Empty(t, decodeErrors(t, path))
			})
		}
	}
}

func TestWriteClipErrors(t *testing.T) {
	s := encode(t, streamSpec{codec: CodecH264})
	other := encode(t, streamSpec{codec: CodecH264, size: "352x288"})
	f := s.frames
	withOther := append(append([]Frame{}, f[:25]...), other.frames[0])
	withOther[25].PTS = f[25].PTS
	for _, tc := range []struct {
		name      string
		params    Params
		frames    []Frame
		from, end time.Duration
		want      error // errAny: any error
	}{
		{"no frames", s.params, nil, f[0].PTS, f[0].PTS + time.Second, errAny},
		{"bad params", Params{Codec: "vp8"}, f[:25], f[0].PTS, f[25].PTS, ErrUnsupportedCodec},
		{"first frame not key", s.params, f[1:25], f[1].PTS, f[25].PTS, ErrNeedKeyframe},
		{"from before the first frame", s.params, f[:25], f[0].PTS - time.Millisecond, f[25].PTS, errAny},
		{"end not after from", s.params, f[:25], f[10].PTS, f[10].PTS, errAny},
		{"params change", s.params, withOther, f[0].PTS, f[26].PTS, ErrParamsChanged},
		{"empty frame", s.params, append(f[:3:3], Frame{PTS: f[3].PTS}), f[0].PTS, f[4].PTS, ErrEmptyFrame},
		{"too long", s.params, f[:25], f[0].PTS, f[0].PTS + 7*time.Hour, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := WriteClip(&out, tc.params, tc.frames, tc.from, tc.end)
			t.Log(err)
			if tc.want == errAny {
				require.Error(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
			require.Zero(t, n)
			require.Zero(t, out.Len())
		})
	}

	t.Run("broken output", func(t *testing.T) {
		w := &failingWriter{limit: 5000}
		n, err := WriteClip(w, s.params, f[:25], f[0].PTS, f[25].PTS)
		require.ErrorIs(t, err, errDiskFull)
		require.Equal(t, int64(w.n), n)
	})
}

// clipHeader holds the durations of a clip's moov, each in its own timescale.
type clipHeader struct {
	movieDuration   uint32 // mvhd, movie timescale (ms)
	segmentDuration uint32 // elst, movie timescale
	mediaTime       int32  // elst, media timescale
	mediaDuration   uint32 // mdhd, media timescale
}

func readClipHeader(t *testing.T, b []byte) clipHeader {
	t.Helper()
	var h clipHeader
	_, err := amp4.ReadBoxStructure(bytes.NewReader(b), func(rh *amp4.ReadHandle) (any, error) {
		switch rh.BoxInfo.Type {
		case amp4.BoxTypeMoov(), amp4.BoxTypeTrak(), amp4.BoxTypeEdts(), amp4.BoxTypeMdia():
			return rh.Expand()
		case amp4.BoxTypeMvhd(), amp4.BoxTypeElst(), amp4.BoxTypeMdhd():
			box, _, err := rh.ReadPayload()
			if err != nil {
				return nil, err
			}
			switch box := box.(type) {
			case *amp4.Mvhd:
				require.Equal(t, uint32(1000), box.Timescale)
				h.movieDuration = box.DurationV0
			case *amp4.Elst:
				require.Len(t, box.Entries, 1)
				h.segmentDuration = box.Entries[0].SegmentDurationV0
				h.mediaTime = box.Entries[0].MediaTimeV0
			case *amp4.Mdhd:
				h.mediaDuration = box.DurationV0
			}
		}
		return nil, nil
	})
	require.NoError(t, err)
	return h
}

// shownFrames returns the presentation times ffprobe decodes from path.
func shownFrames(t *testing.T, path string) []time.Duration {
	t.Helper()
	var out struct {
		Frames []struct {
			PTSTime string `json:"pts_time"`
		} `json:"frames"`
	}
	raw := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time", "-of", "json", path)
	require.NoError(t, json.Unmarshal(raw, &out))
	pts := make([]time.Duration, len(out.Frames))
	for i, f := range out.Frames {
		pts[i] = seconds(t, f.PTSTime)
	}
	return pts
}
