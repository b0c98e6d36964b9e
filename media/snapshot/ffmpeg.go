package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// maxJPEGSize bounds what we read from ffmpeg's stdout: a q:v 5 JPEG of
	// an 8K frame is a few MB, so anything larger is ffmpeg misbehaving.
	maxJPEGSize = 32 << 20
	// maxStderr is how much of ffmpeg's stderr ends up in an error.
	maxStderr = 2 << 10
	// waitDelay bounds how long we wait for ffmpeg's pipes after killing it.
	waitDelay = 2 * time.Second
)

// inputFormat maps a Keyframe codec to ffmpeg's demuxer name.
func inputFormat(codec string) (string, bool) {
	switch codec {
	case CodecH264:
		return "h264", true
	case CodecH265:
		return "hevc", true
	default:
		return "", false
	}
}

// ffmpegArgs is the command line of one decode: one access unit in on
// stdin, one JPEG out on stdout. A tiny probe size and no analysis keep
// start-up short, and one decoder thread avoids frame-threading delay,
// which only matters for streams, not for a single keyframe.
func ffmpegArgs(format string, quality int) []string {
	return []string{
		"-hide_banner", "-nostats", "-loglevel", "error",
		"-threads", "1", "-probesize", "32", "-analyzeduration", "0",
		"-f", format, "-i", "pipe:0",
		"-an", "-frames:v", "1",
		"-f", "image2pipe", "-c:v", "mjpeg", "-q:v", strconv.Itoa(quality),
		"pipe:1",
	}
}

// runFFmpeg decodes kf into a JPEG. The process is killed when ctx ends.
// Errors from ffmpeg itself wrap ErrDecode or ErrInvalidOutput; errors
// caused by ctx wrap the context's error.
func runFFmpeg(ctx context.Context, path string, quality int, kf Keyframe) ([]byte, error) {
	format, ok := inputFormat(kf.Codec)
	if !ok {
		return nil, fmt.Errorf("%w: unknown codec %q", ErrInvalidKeyframe, kf.Codec)
	}
	stdout := &limitedBuffer{max: maxJPEGSize}
	stderr := &tailBuffer{max: maxStderr}
	cmd := exec.CommandContext(ctx, path, ffmpegArgs(format, quality)...)
	cmd.Stdin = bytes.NewReader(kf.AnnexB)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay

	err := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("ffmpeg stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			// not ffmpeg's verdict on the input (could not start, pipe
			// trouble): say so, and keep it out of ErrDecode so that it is
			// not remembered as a property of the keyframe
			return nil, fmt.Errorf("run ffmpeg: %w", err)
		}
		return nil, fmt.Errorf("%w: ffmpeg %v: %s", ErrDecode, err, stderr.text())
	}
	if stdout.overflow {
		return nil, fmt.Errorf("%w: ffmpeg wrote more than %d bytes", ErrInvalidOutput, maxJPEGSize)
	}
	out := stdout.buf.Bytes()
	if err := checkJPEG(out, kf.Width, kf.Height); err != nil {
		if msg := stderr.text(); msg != "(no output)" {
			return nil, fmt.Errorf("%w (ffmpeg said: %s)", err, msg)
		}
		return nil, err
	}
	return out, nil
}

// checkJPEG verifies that b is one complete JPEG (SOI first, EOI last) and,
// when width or height is non-zero, that its frame header has those
// dimensions.
func checkJPEG(b []byte, width, height int) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: ffmpeg produced no image", ErrInvalidOutput)
	}
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return fmt.Errorf("%w: %d bytes that do not start with a JPEG SOI marker", ErrInvalidOutput, len(b))
	}
	if b[len(b)-2] != 0xFF || b[len(b)-1] != 0xD9 {
		return fmt.Errorf("%w: %d bytes that do not end with a JPEG EOI marker (truncated?)", ErrInvalidOutput, len(b))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: parse JPEG header: %v", ErrInvalidOutput, err)
	}
	if (width != 0 && cfg.Width != width) || (height != 0 && cfg.Height != height) {
		return fmt.Errorf("%w: JPEG is %dx%d, keyframe says %dx%d",
			ErrInvalidOutput, cfg.Width, cfg.Height, width, height)
	}
	return nil
}

// limitedBuffer collects up to max bytes and then discards, remembering
// that it did: failing the write would make ffmpeg report a broken pipe
// instead of the real problem.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); len(p) > room {
		l.overflow = true
		if room > 0 {
			l.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return l.buf.Write(p)
}

// tailBuffer keeps the last max bytes written to it: ffmpeg's final words
// are the useful ones.
type tailBuffer struct {
	buf       []byte
	max       int
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

// maxStderrLines is how many distinct lines of ffmpeg's stderr go into an
// error, half from the start (the cause) and half from the end (the
// verdict); ffmpeg repeats itself for every broken slice.
const maxStderrLines = 6

// text is the captured stderr on one line, for an error message: its
// distinct lines, without the decoder addresses ("[h264 @ 0x55…]") that
// make identical lines differ.
func (t *tailBuffer) text() string {
	lines := strings.Split(string(t.buf), "\n")
	if t.truncated && len(lines) > 1 {
		lines = lines[1:] // cut mid-line
	}
	var kept []string
	for _, line := range lines {
		line = strings.Join(strings.Fields(stripAddress(line)), " ")
		if line != "" && !slices.Contains(kept, line) {
			kept = append(kept, line)
		}
	}
	if len(kept) == 0 {
		return "(no output)"
	}
	if len(kept) > maxStderrLines {
		half := maxStderrLines / 2
		kept = append(append(kept[:half:half], "…"), kept[len(kept)-half:]...)
	}
	return strings.Join(kept, "; ")
}

// stripAddress turns "[h264 @ 0x55d23e302280] msg" into "[h264] msg".
func stripAddress(line string) string {
	for {
		at := strings.Index(line, " @ 0x")
		if at < 0 {
			return line
		}
		end := strings.IndexByte(line[at:], ']')
		if end < 0 {
			return line
		}
		line = line[:at] + line[at+end:]
	}
}
