package snapshot

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// requireFFmpeg returns the path of ffmpeg, or skips the test when it is
// missing (fails instead when CI is set: CI must have it).
func requireFFmpeg(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("ffmpeg not found (CI is set, so this is an error; run scripts/test-deps.sh): %v", err)
		}
		tb.Skipf("ffmpeg not found; skipping (run scripts/test-deps.sh to install it): %v", err)
	}
	return path
}

// encodeKeyframe encodes one frame of ffmpeg's testsrc as a raw Annex-B
// access unit (parameter sets + IDR/IRAP) of the given codec and size.
func encodeKeyframe(tb testing.TB, codec string, width, height int) []byte {
	tb.Helper()
	ffmpeg := requireFFmpeg(tb)
	var encoder, format []string
	switch codec {
	case CodecH264:
		encoder, format = []string{"-c:v", "libx264", "-preset", "ultrafast"}, []string{"-f", "h264"}
	case CodecH265:
		encoder = []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"}
		format = []string{"-f", "hevc"}
	default:
		tb.Fatalf("encodeKeyframe: unknown codec %q", codec)
	}
	out := filepath.Join(tb.TempDir(), "kf."+codec)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%dx%d:rate=25", width, height),
		"-frames:v", "1", "-pix_fmt", "yuv420p"}
	args = append(args, encoder...)
	args = append(args, format...)
	args = append(args, out)
	if msg, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		tb.Fatalf("encode %s keyframe: %v: %s", codec, err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		tb.Fatalf("read keyframe: %v", err)
	}
	return data
}

// writeScript writes an executable shell script that stands in for ffmpeg.
func writeScript(tb testing.TB, name, body string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		tb.Fatalf("write script: %v", err)
	}
	return path
}

// slowFFmpeg is real ffmpeg started after a pause, so that concurrent
// requests reliably overlap one decode.
func slowFFmpeg(tb testing.TB, pause string) string {
	tb.Helper()
	ffmpeg := requireFFmpeg(tb)
	return writeScript(tb, "slow-ffmpeg", fmt.Sprintf("%q %s\nexec %q \"$@\"", sleepPath(tb), pause, ffmpeg))
}

// hangingFFmpeg never answers: it writes its pid to pidFile and sleeps.
func hangingFFmpeg(tb testing.TB, pidFile string) string {
	tb.Helper()
	return writeScript(tb, "hang-ffmpeg", fmt.Sprintf("echo $$ > %q\nexec %q 60", pidFile, sleepPath(tb)))
}

func sleepPath(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		tb.Skipf("no sleep command to fake a slow ffmpeg with: %v", err)
	}
	return path
}

// newTestSnapshotter returns a Snapshotter that is closed when the test
// ends, after which no goroutine of it may remain.
func newTestSnapshotter(tb testing.TB, cfg Config) *Snapshotter {
	tb.Helper()
	checkGoroutines(tb)
	s, err := New(cfg, testLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// checkGoroutines fails the test if, once its other cleanups have run,
// more goroutines are left than when it started.
func checkGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				tb.Errorf("goroutine leak: %d before, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func testLogger(tb testing.TB) *slog.Logger {
	if _, ok := tb.(*testing.B); ok {
		// a line per iteration would drown the results
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tbWriter sends log lines to the test log, shown only on failure or -v.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// assertJPEG checks that b is a complete JPEG of the given size.
func assertJPEG(tb testing.TB, b []byte, width, height int) {
	tb.Helper()
	if len(b) < 4 || !bytes.HasPrefix(b, []byte{0xFF, 0xD8}) || !bytes.HasSuffix(b, []byte{0xFF, 0xD9}) {
		tb.Fatalf("not a complete JPEG (%d bytes)", len(b))
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("decode JPEG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != width || got.Y != height {
		tb.Fatalf("JPEG is %dx%d, want %dx%d", got.X, got.Y, width, height)
	}
}
