//go:build linux

package bench

import (
	"fmt"
	"testing"

	"github.com/attendant/attendant/internal/testenv"
)

// cameraProfile is what the simulated camera sends.
type cameraProfile struct {
	Width, Height int
	FPS           int
	GOP           int    // keyframe interval in frames
	Bitrate       string // x264 -b:v and -maxrate (bufsize half), e.g. "2M"
}

func (p cameraProfile) String() string {
	return fmt.Sprintf("H264 %dx%d %d fps, GOP %d, %s", p.Width, p.Height, p.FPS, p.GOP, p.Bitrate)
}

// startCamera starts the simulated camera (testenv: ffmpeg publishing to an
// in-process RTSP relay). It runs in the viewer process, so that neither the
// encoder nor the relay is billed to the server under test.
func startCamera(t testing.TB, p cameraProfile) *testenv.Camera {
	return testenv.FFmpegCamera(t, testenv.CameraOptions{
		Width: p.Width, Height: p.Height, FPS: p.FPS, GOP: p.GOP,
		Bitrate: p.Bitrate, Source: "testsrc2",
	})
}
