package mux

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/stretchr/testify/require"
)

// Test streams: 4 s at 25 fps, a keyframe every 25 frames (closed GOPs, no
// scene cuts), an access unit delimiter before each frame so that splitting
// the Annex B stream is trivial.
const (
	testFPS       = 25
	testFrameDur  = time.Second / testFPS
	testSeconds   = 4
	testFrames    = testFPS * testSeconds
	testGOPFrames = 25
)

// testBase is the PTS of the first test frame: far from zero, as on a wall
// clock, to catch overflow and origin mistakes.
const testBase = 500_000 * time.Hour

type streamSpec struct {
	codec   string
	bframes int
	size    string // WxH
}

type testStream struct {
	params Params
	frames []Frame // decode order
}

func requireFFmpeg(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("%s not on PATH", tool)
		}
	}
}

// encode makes a test stream with ffmpeg and splits it into frames whose PTS
// come from ffprobe's display order.
func encode(tb testing.TB, spec streamSpec) testStream {
	tb.Helper()
	requireFFmpeg(tb)
	if spec.size == "" {
		spec.size = "320x240"
	}
	dir := tb.TempDir()
	args := []string{"-v", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size=" + spec.size + ":rate=" + strconv.Itoa(testFPS),
		"-t", strconv.Itoa(testSeconds), "-pix_fmt", "yuv420p"}
	var out string
	switch spec.codec {
	case CodecH264:
		out = filepath.Join(dir, "in.h264")
		args = append(args, "-c:v", "libx264", "-g", strconv.Itoa(testGOPFrames),
			"-keyint_min", strconv.Itoa(testGOPFrames), "-sc_threshold", "0",
			"-bf", strconv.Itoa(spec.bframes), "-x264-params", "aud=1:b-pyramid=0", "-f", "h264", out)
	case CodecH265:
		out = filepath.Join(dir, "in.hevc")
		args = append(args, "-c:v", "libx265", "-x265-params",
			"aud=1:keyint="+strconv.Itoa(testGOPFrames)+":min-keyint="+strconv.Itoa(testGOPFrames)+
				":scenecut=0:open-gop=0:log-level=error:bframes="+strconv.Itoa(spec.bframes),
			"-f", "hevc", out)
	default:
		tb.Fatalf("codec %q", spec.codec)
	}
	run(tb, "ffmpeg", args...)
	data, err := os.ReadFile(out)
	require.NoError(tb, err)

	var nalus h264.AnnexB // Annex B framing is the same for H265
	require.NoError(tb, nalus.Unmarshal(data))
	var aus [][][]byte
	for _, n := range nalus {
		if kindOf(spec.codec, n) == kindAUD || len(aus) == 0 {
			aus = append(aus, nil)
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}

	// ffprobe lists frames in display order with the byte position of the
	// access unit they came from; access units are in the file in decode order
	var probe struct {
		Frames []struct {
			PktPos string `json:"pkt_pos"`
		} `json:"frames"`
	}
	require.NoError(tb, json.Unmarshal(run(tb, "ffprobe", "-v", "error",
		"-show_entries", "frame=pkt_pos", "-of", "json", out), &probe))
	require.Len(tb, probe.Frames, len(aus), "frames decoded vs access units split")
	display := make(map[int64]int, len(aus))
	var positions []int64
	for i, f := range probe.Frames {
		pos, err := strconv.ParseInt(f.PktPos, 10, 64)
		require.NoError(tb, err)
		display[pos] = i
		positions = append(positions, pos)
	}
	slices.Sort(positions)

	s := testStream{frames: make([]Frame, len(aus))}
	for i, au := range aus {
		s.frames[i] = Frame{
			PTS:   testBase + time.Duration(display[positions[i]])*testFrameDur,
			Key:   isRandomAccess(spec.codec, au),
			NALUs: au,
		}
	}
	var ok bool
	s.params, ok = ParamsFrom(spec.codec, s.frames[0].NALUs)
	require.True(tb, ok, "parameter sets in the first frame")
	return s
}

// end is the PTS just after the last displayed frame of frames.
func end(frames []Frame) time.Duration {
	var m time.Duration
	for _, f := range frames {
		m = max(m, f.PTS)
	}
	return m + testFrameDur
}

func run(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(tb, cmd.Run(), "%s %s: %s", name, strings.Join(args, " "), stderr.String())
	return stdout.Bytes()
}

// probeResult is what ffprobe says about a file's video stream.
type probeResult struct {
	codec         string
	width, height int
	frames        int           // decoded and kept, with -count_frames
	start         time.Duration // stream start_time
	duration      time.Duration // format duration
}

func ffprobe(tb testing.TB, path string) probeResult {
	tb.Helper()
	var out struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
			StartTime    string `json:"start_time"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	raw := run(tb, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames,start_time:format=duration",
		"-of", "json", path)
	require.NoError(tb, json.Unmarshal(raw, &out), string(raw))
	require.Len(tb, out.Streams, 1, string(raw))
	st := out.Streams[0]
	frames, err := strconv.Atoi(st.NbReadFrames)
	require.NoError(tb, err, string(raw))
	return probeResult{
		codec:    st.CodecName,
		width:    st.Width,
		height:   st.Height,
		frames:   frames,
		start:    seconds(tb, st.StartTime),
		duration: seconds(tb, out.Format.Duration),
	}
}

func seconds(tb testing.TB, s string) time.Duration {
	tb.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(tb, err, "seconds %q", s)
	return time.Duration(f * float64(time.Second))
}

// decodeErrors decodes every frame of path and returns what ffmpeg complains about.
func decodeErrors(tb testing.TB, path string) string {
	tb.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(tb, err, string(out))
	return string(out)
}

// ffprobeCodec is ffprobe's name for a codec of ours.
func ffprobeCodec(codec string) string {
	if codec == CodecH265 {
		return "hevc"
	}
	return codec
}
