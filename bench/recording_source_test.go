//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/recorder"
)

// H264 NAL unit types the source cares about.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
	naluAUD = 9
)

// source is the video every recording benchmark feeds: a clip encoded once
// by ffmpeg before anything is measured, split into access units the way
// media hands them to the recorder (AUDs dropped, parameter sets in front
// of every keyframe), and looped.
type source struct {
	prof     cameraProfile
	aus      []sourceAU
	bytes    int64 // NAL unit bytes of one pass of the clip
	frameDur time.Duration
}

type sourceAU struct {
	nalus [][]byte
	size  int
	key   bool
}

// encodeSource encodes secs seconds of testsrc2 with x264 (ultrafast,
// zerolatency, one AUD per access unit) into a raw H264 file and splits it.
func encodeSource(tb testing.TB, prof cameraProfile, secs int) *source {
	tb.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		// as testenv does: CI must have it
		if os.Getenv("CI") != "" {
			tb.Fatal("ffmpeg not found (CI is set, so this is an error; run scripts/test-deps.sh)")
		}
		tb.Skip("ffmpeg not found; skipping (run scripts/test-deps.sh to install it)")
	}
	half, err := halfRate(prof.Bitrate)
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), "source.h264")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", prof.Width, prof.Height, prof.FPS), "-t", strconv.Itoa(secs),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", strconv.Itoa(prof.GOP),
		"-b:v", prof.Bitrate, "-maxrate", prof.Bitrate, "-bufsize", half, "-x264-params", "aud=1",
		"-f", "h264", "-y", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("encode the source clip: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := splitAccessUnits(data)
	if err != nil {
		tb.Fatalf("split the source clip: %v", err)
	}
	src.prof = prof
	src.frameDur = time.Second / time.Duration(prof.FPS)
	if want := secs * prof.FPS; len(src.aus) != want {
		tb.Fatalf("the source clip has %d access units, want %d", len(src.aus), want)
	}
	return src
}

// splitAccessUnits cuts an Annex-B H264 stream at its access unit
// delimiters.
func splitAccessUnits(data []byte) (*source, error) {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(data); err != nil {
		return nil, err
	}
	src := &source{}
	var cur sourceAU
	var sps, pps []byte
	flush := func() {
		if len(cur.nalus) == 0 {
			return
		}
		if cur.key && !hasNALU(cur.nalus, naluSPS) && sps != nil && pps != nil {
			// as media does: a keyframe always carries its parameter sets
			cur.nalus = append([][]byte{sps, pps}, cur.nalus...)
			cur.size += len(sps) + len(pps)
		}
		src.aus = append(src.aus, cur)
		src.bytes += int64(cur.size)
		cur = sourceAU{}
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case naluAUD:
			flush()
			continue
		case naluSPS:
			sps = n
		case naluPPS:
			pps = n
		case naluIDR:
			cur.key = true
		}
		cur.nalus = append(cur.nalus, n)
		cur.size += len(n)
	}
	flush()
	if len(src.aus) == 0 || !src.aus[0].key {
		return nil, fmt.Errorf("%d access units, the first not a keyframe", len(src.aus))
	}
	return src, nil
}

func hasNALU(nalus [][]byte, typ byte) bool {
	for _, n := range nalus {
		if n[0]&0x1f == typ {
			return true
		}
	}
	return false
}

// halfRate halves an ffmpeg rate such as "2M" or "500k" (x264's -bufsize).
func halfRate(rate string) (string, error) {
	num, unit := rate, ""
	if i := strings.IndexAny(rate, "kKmM"); i >= 0 {
		num, unit = rate[:i], rate[i:]
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return "", fmt.Errorf("bitrate %q: want a number with an optional k or M", rate)
	}
	if strings.EqualFold(unit, "m") {
		v, unit = v*1000, "k"
	}
	return strconv.FormatFloat(v/2, 'f', -1, 64) + unit, nil
}

// gopFrames is the keyframe interval of the clip in frames.
func (s *source) gopFrames() int {
	for i := 1; i < len(s.aus); i++ {
		if s.aus[i].key {
			return i
		}
	}
	return len(s.aus)
}

// accessUnit is frame k of a camera whose loop starts off frames into the
// clip. The NAL units are copied into one fresh buffer, as the RTP
// depacketizer hands the recorder fresh buffers for every frame: the
// pre-roll ring then holds memory of its own, as it does in the server.
func (s *source) accessUnit(k int64, off int, pts0 time.Duration, now time.Time) media.AccessUnit {
	au := &s.aus[(int(k%int64(len(s.aus)))+off)%len(s.aus)]
	buf := make([]byte, 0, au.size)
	nalus := make([][]byte, len(au.nalus))
	for i, n := range au.nalus {
		start := len(buf)
		buf = append(buf, n...)
		nalus[i] = buf[start:len(buf):len(buf)]
	}
	return media.AccessUnit{Codec: media.CodecH264, NALUs: nalus, Key: au.key, PTS: pts0 + time.Duration(k)*s.frameDur,
		Wall: now, Width: s.prof.Width, Height: s.prof.Height}
}

// feedCam is one simulated camera of a feeder.
type feedCam struct {
	id  string
	off int // where in the clip its loop starts, so keyframes do not all coincide
}

// feeder plays the source to the recorder in real time for a set of
// cameras: one goroutine for all of them, one frame per camera per frame
// interval, catching up in a burst when it was late (as a camera's frames
// arrive after a stall).
type feeder struct {
	src  *source
	rec  *recorder.Recorder
	cams []feedCam

	frames atomic.Int64 // access units fed, all cameras
	bytes  atomic.Int64 // their NAL unit bytes

	stop chan struct{}
	wg   sync.WaitGroup
}

// startFeeder starts feeding the cameras ids; Stop ends it.
func startFeeder(src *source, rec *recorder.Recorder, ids []string) *feeder {
	f := &feeder{src: src, rec: rec, stop: make(chan struct{})}
	for i, id := range ids {
		// spread the cameras' keyframes over the GOP
		f.cams = append(f.cams, feedCam{id: id, off: (i * 7) % len(src.aus)})
	}
	f.wg.Go(f.run)
	return f
}

func (f *feeder) run() {
	const pts0 = time.Hour // any origin: cameras' clocks start anywhere
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var k int64
	for {
		due := int64(time.Since(start)/f.src.frameDur) + 1
		for ; k < due; k++ {
			now := time.Now()
			for _, c := range f.cams {
				au := f.src.accessUnit(k, c.off, pts0, now)
				f.rec.Feed(c.id, au)
				f.frames.Add(1)
				f.bytes.Add(int64(auSize(au)))
			}
		}
		timer.Reset(time.Until(start.Add(time.Duration(k) * f.src.frameDur)))
		select {
		case <-f.stop:
			return
		case <-timer.C:
		}
	}
}

// Stop stops feeding and waits for the goroutine.
func (f *feeder) Stop() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

func auSize(au media.AccessUnit) int {
	n := 0
	for _, b := range au.NALUs {
		n += len(b)
	}
	return n
}

// cameraIDs names n cameras of a phase.
func cameraIDs(phase string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-cam%02d", phase, i)
	}
	return ids
}
