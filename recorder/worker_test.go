package recorder_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/g711"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"

	"github.com/attendant/attendant/internal/testenv"
)

// testFrames encodes 2 s of 25 fps H264 (a keyframe a second) with ffmpeg
// and splits it into access units.
func testFrames(t *testing.T) [][][]byte {
	t.Helper()
	testenv.LookTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "v.h264")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0", "-x264-params", "aud=1", "-f", "h264", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var nalus h264.AnnexB
	require.NoError(t, nalus.Unmarshal(raw))
	var aus [][][]byte
	for _, n := range nalus {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			aus = append(aus, nil)
			continue
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	require.Len(t, aus, 50)
	return aus
}

type uploads struct {
	mu      sync.Mutex
	entries []spool.Entry
	store   objstore.Store
}

func (u *uploads) segments() []spool.Entry {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]spool.Entry(nil), u.entries...)
}

// startRecorder runs a recorder over a local store, recording the spool's
// uploads instead of indexing them (no database needed).
func startRecorder(t *testing.T, cfg recorder.Config) (*recorder.Recorder, *uploads) {
	t.Helper()
	objects, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	up := &uploads{store: objects}
	sp, err := spool.New(spool.Config{Dir: t.TempDir(), OnUploaded: func(e spool.Entry, _ objstore.ObjectInfo) error {
		up.mu.Lock()
		up.entries = append(up.entries, e)
		up.mu.Unlock()
		return nil
	}}, objects)
	require.NoError(t, err)
	db, err := store.Open(context.Background(), "", t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	rec := recorder.New(cfg, db, sp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = sp.Run(ctx); done <- struct{}{} }()
	go func() { _ = rec.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return rec, up
}

// feed gives the recorder n frames from the clip starting at pts, paced
// only by the channel (wall = base + pts).
func feed(rec *recorder.Recorder, cam string, aus [][][]byte, from, n int, pts time.Duration, base time.Time) time.Duration {
	for i := range n {
		au := aus[(from+i)%len(aus)]
		key := h264.IsRandomAccess(au)
		rec.Feed(cam, media.AccessUnit{Codec: "h264", NALUs: au, Key: key, PTS: pts, Wall: base.Add(pts)})
		pts += 40 * time.Millisecond
		time.Sleep(time.Millisecond) // let the worker keep up: this is not the overrun test
	}
	return pts
}

func parseMeta(t *testing.T, e spool.Entry, k string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, e.Metadata[k])
	require.NoError(t, err, "%s=%q", k, e.Metadata[k])
	return v
}

// TestCameraGapCutsSegment: when the camera goes away and comes back (a
// jump in its timeline), the open segment ends at the last frame before the
// gap and the next starts at the first keyframe after it: no segment spans
// the gap, and each is contiguous with its neighbour on its side.
func TestCameraGapCutsSegment(t *testing.T) {
	aus := testFrames(t)
	rec, up := startRecorder(t, recorder.Config{Segment: time.Second})
	rec.SetCamera(recorder.CameraConfig{ID: "cam", SiteID: "site", Mode: recorder.ModeContinuous})
	base := time.Now().Add(-time.Minute).UTC()
	pts := feed(rec, "cam", aus, 0, 75, 10*time.Second, base) // 3 s
	gapAt := base.Add(pts)
	feed(rec, "cam", aus, 0, 76, pts+5*time.Second, base) // 5 s later: the camera was gone
	rec.RemoveCamera("cam")                               // store what is open
	require.Eventually(t, func() bool { return len(up.segments()) >= 5 }, 10*time.Second, 20*time.Millisecond)
	segs := up.segments()
	slices.SortFunc(segs, func(a, b spool.Entry) int { return parseMeta(t, a, "start").Compare(parseMeta(t, b, "start")) })
	var before, after int
	var prevEnd time.Time
	for i, e := range segs {
		start, end := parseMeta(t, e, "start"), parseMeta(t, e, "end")
		require.True(t, end.After(start))
		if !end.After(gapAt.Add(time.Millisecond)) {
			before++
		} else {
			after++
			require.False(t, start.Before(gapAt.Add(5*time.Second)), "segment %d starts inside the gap", i)
		}
		if i > 0 && start.Sub(gapAt).Abs() > 6*time.Second {
			require.InDelta(t, 0, start.Sub(prevEnd).Seconds(), 0.001, "segment %d follows its predecessor", i)
		}
		prevEnd = end
		require.Equal(t, "cam", e.Metadata["camera"])
	}
	require.GreaterOrEqual(t, before, 2)
	require.GreaterOrEqual(t, after, 2)
}

// TestStalledCameraClip: a clip whose camera stops sending is stored with
// the video it has once ClipGrace has passed, not held forever.
func TestStalledCameraClip(t *testing.T) {
	aus := testFrames(t)
	rec, up := startRecorder(t, recorder.Config{PreRoll: time.Second, ClipGrace: 300 * time.Millisecond})
	rec.SetCamera(recorder.CameraConfig{ID: "cam", SiteID: "site", Mode: recorder.ModeEvents})
	base := time.Now().Add(-2 * time.Second).UTC()
	pts := feed(rec, "cam", aus, 0, 50, 0, base) // wall: base .. base+2s
	from := base.Add(time.Second)
	require.NoError(t, rec.RequestClip(recorder.ClipRequest{CaseID: "case", SiteID: "site", CameraID: "cam",
		From: from, To: base.Add(pts + 2*time.Second)}))
	require.Eventually(t, func() bool { return len(up.segments()) == 1 }, 10*time.Second, 20*time.Millisecond)
	e := up.segments()[0]
	require.Equal(t, "clip", e.Metadata["evidence-kind"])
	require.Equal(t, "case", e.Metadata["case"])
	start, end := parseMeta(t, e, "start"), parseMeta(t, e, "end")
	require.InDelta(t, 0, start.Sub(from).Seconds(), 0.05)
	require.InDelta(t, 0, end.Sub(base.Add(pts)).Seconds(), 0.05, "ends with the last frame")
	require.Equal(t, int64(1), rec.Stats().Clips)
}

// TestOverrunIsCountedAndRecovers: frames fed faster than the recorder
// takes them are dropped and counted, never block the caller, and the
// recording resumes at the next keyframe.
func TestOverrunIsCountedAndRecovers(t *testing.T) {
	aus := testFrames(t)
	rec, up := startRecorder(t, recorder.Config{Segment: time.Second, QueueFrames: 2})
	rec.SetCamera(recorder.CameraConfig{ID: "cam", SiteID: "site", Mode: recorder.ModeContinuous})
	base := time.Now().UTC()
	pts := time.Duration(0)
	for i := range 2000 { // no pause: the queue overflows
		au := aus[i%len(aus)]
		rec.Feed("cam", media.AccessUnit{Codec: "h264", NALUs: au, Key: h264.IsRandomAccess(au), PTS: pts, Wall: base.Add(pts)})
		pts += 40 * time.Millisecond
	}
	require.Positive(t, rec.Stats().DroppedFrames)
	feed(rec, "cam", aus, 0, 100, pts, base)
	rec.RemoveCamera("cam")
	require.Eventually(t, func() bool { return len(up.segments()) > 0 }, 10*time.Second, 20*time.Millisecond)
	for _, e := range up.segments() {
		require.Positive(t, e.Size)
		require.True(t, bytes.HasPrefix([]byte(e.Key), []byte("recordings/site/cam/")), e.Key)
	}
}

// TestCallAudioParts: both sides of a G.711 call are stored as stereo WAV
// parts (robot left, agent right), each a piece of evidence with its span;
// the agent, who started talking later, is placed later.
func TestCallAudioParts(t *testing.T) {
	rec, up := startRecorder(t, recorder.Config{})
	// the call starts now and the packets are placed by their times, all
	// before Close: no part is due for writing by the clock meanwhile
	start := time.Now().UTC()
	a, err := rec.StartCallAudio(recorder.CallAudioConfig{CaseID: "case", SiteID: "site", DeviceID: "robot", Codec: "PCMU",
		Part: 2 * time.Second, Start: start})
	require.NoError(t, err)
	loud := bytes.Repeat([]byte{0x00}, 160) // µ-law full scale
	for i := range 250 {                    // 5 s of robot
		a.Packet(false, uint32(1000+i*160), loud, start.Add(time.Duration(i)*20*time.Millisecond))
	}
	for i := range 100 { // 2 s of agent, starting at 1 s
		a.Packet(true, uint32(777+i*160), loud, start.Add(time.Second+time.Duration(i)*20*time.Millisecond))
	}
	a.Close()
	_, err = rec.StartCallAudio(recorder.CallAudioConfig{Codec: "G729"})
	require.ErrorIs(t, err, recorder.ErrUnsupportedCodec)

	require.Eventually(t, func() bool { return len(up.segments()) == 3 }, 10*time.Second, 20*time.Millisecond)
	total := time.Duration(0)
	parts := up.segments()
	// uploads finish in any order: look at the parts in call order
	slices.SortFunc(parts, func(a, b spool.Entry) int { return parseMeta(t, a, "start").Compare(parseMeta(t, b, "start")) })
	for i, e := range parts {
		require.Equal(t, "call-audio", e.Metadata["evidence-kind"])
		require.Equal(t, "audio/wav", e.ContentType)
		s, en := parseMeta(t, e, "start"), parseMeta(t, e, "end")
		total += en.Sub(s)
		rc, _, err := up.store.Get(context.Background(), e.Key, nil)
		require.NoError(t, err)
		wav, _ := io.ReadAll(rc)
		rc.Close()
		samples := (len(wav) - 44) / 4
		require.Equal(t, int(en.Sub(s).Seconds()*8000), samples, "part %d", i)
		right := func(k int) int16 { return int16(binary.LittleEndian.Uint16(wav[44+4*k+2:])) }
		left := func(k int) int16 { return int16(binary.LittleEndian.Uint16(wav[44+4*k:])) }
		require.NotZero(t, left(samples/2), "robot on the left, part %d", i)
		switch i {
		case 0:
			require.Zero(t, right(4000), "the agent is silent in the first second")
			require.NotZero(t, right(12000))
		case 2:
			require.Zero(t, right(samples-1), "the agent stopped at 3 s")
		}
	}
	require.Equal(t, 5*time.Second, total)
}

// TestCallAudioJitter: a robot on a 4G link delivers its packets late,
// out of order and some twice; the recording places each by its RTP
// timestamp, so it is sample for sample the recording of the same packets
// in order.
func TestCallAudioJitter(t *testing.T) {
	record := func(order []int, arrival func(i int) time.Duration) []byte {
		rec, up := startRecorder(t, recorder.Config{})
		start := time.Now().UTC()
		a, err := rec.StartCallAudio(recorder.CallAudioConfig{CaseID: "case", SiteID: "site", DeviceID: "robot", Codec: "PCMU",
			Part: time.Minute, Start: start})
		require.NoError(t, err)
		for _, i := range order {
			payload := make([]byte, 160)
			for k := range payload {
				payload[k] = byte(i*7 + k) // every packet different
			}
			a.Packet(false, uint32(5000+i*160), payload, start.Add(arrival(i)))
		}
		a.Close()
		require.Eventually(t, func() bool { return len(up.segments()) == 1 }, 10*time.Second, 20*time.Millisecond)
		rc, _, err := up.store.Get(context.Background(), up.segments()[0].Key, nil)
		require.NoError(t, err)
		defer rc.Close()
		wav, err := io.ReadAll(rc)
		require.NoError(t, err)
		return wav
	}
	const n = 150 // 3 s
	inOrder := make([]int, n)
	for i := range inOrder {
		inOrder[i] = i
	}
	want := record(inOrder, func(i int) time.Duration { return time.Duration(i) * 20 * time.Millisecond })

	// jitter up to 120 ms (the first packet late too), reordered within
	// it, every 10th packet duplicated
	rng := rand.New(rand.NewPCG(4, 4))
	delay := make([]time.Duration, n)
	for i := range delay {
		delay[i] = time.Duration(i)*20*time.Millisecond + time.Duration(rng.IntN(120))*time.Millisecond
	}
	var jittered []int
	for i := range n {
		jittered = append(jittered, i)
		if i%10 == 0 {
			jittered = append(jittered, i)
		}
	}
	slices.SortStableFunc(jittered, func(a, b int) int { return cmp.Compare(delay[a], delay[b]) })
	require.NotEqual(t, inOrder, slices.Compact(slices.Clone(jittered)), "the test must reorder")
	got := record(jittered, func(i int) time.Duration { return delay[i] })
	// the call's audio is anchored where its first packet arrived: the
	// jittered one starts later by that packet's lateness, no more
	first := jittered[0]
	shift := int((delay[first] - time.Duration(first)*20*time.Millisecond).Seconds() * 8000)
	left := func(wav []byte, k int) int16 { return int16(binary.LittleEndian.Uint16(wav[44+4*k:])) }
	require.Equal(t, (len(want)-44)/4+shift, (len(got)-44)/4, "lengths differ by more than the first packet's lateness")
	for k := range n * 160 {
		if left(want, k) != left(got, k+shift) {
			t.Fatalf("sample %d (packet %d) differs: %d in order, %d jittered", k, k/160, left(want, k), left(got, k+shift))
		}
	}
}

// TestCallAudioLive: during a real-time call each part is written as the
// call goes and committed when it is over, before the call ends; the last,
// shorter part gets its true length; a packet older than the jitter margin
// is dropped rather than rewriting what is stored.
func TestCallAudioLive(t *testing.T) {
	rec, up := startRecorder(t, recorder.Config{})
	start := time.Now().UTC()
	a, err := rec.StartCallAudio(recorder.CallAudioConfig{CaseID: "case", SiteID: "site", DeviceID: "robot", Codec: "PCMU",
		Part: 2 * time.Second, Start: start})
	require.NoError(t, err)
	loud := bytes.Repeat([]byte{0x00}, 160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	const packets = 175 // 3.5 s
	for i := range packets {
		<-tick.C
		a.Packet(false, uint32(i*160), loud, time.Now())
		if i >= 50 { // the agent from 1 s
			a.Packet(true, uint32(9000+i*160), loud, time.Now())
		}
	}
	// before Close: the first part was committed while the call went on
	require.Eventually(t, func() bool { return len(up.segments()) == 1 }, 10*time.Second, 20*time.Millisecond,
		"the first part is stored while the call goes on")
	a.Packet(false, uint32(10*160), bytes.Repeat([]byte{0x80}, 160), time.Now()) // 3 s late
	a.Close()
	require.Eventually(t, func() bool { return len(up.segments()) == 2 }, 10*time.Second, 20*time.Millisecond)
	parts := up.segments()
	slices.SortFunc(parts, func(a, b spool.Entry) int { return parseMeta(t, a, "start").Compare(parseMeta(t, b, "start")) })
	var total time.Duration
	for i, e := range parts {
		rc, _, err := up.store.Get(context.Background(), e.Key, nil)
		require.NoError(t, err)
		wav, _ := io.ReadAll(rc)
		rc.Close()
		s, en := parseMeta(t, e, "start"), parseMeta(t, e, "end")
		total += en.Sub(s)
		samples := (len(wav) - 44) / 4
		require.Equal(t, int(en.Sub(s).Seconds()*8000), samples, "part %d: header end and length agree", i)
		require.Equal(t, uint32(len(wav)-8), binary.LittleEndian.Uint32(wav[4:]), "part %d: RIFF size", i)
		require.Equal(t, uint32(len(wav)-44), binary.LittleEndian.Uint32(wav[40:]), "part %d: data size", i)
		left := func(k int) int16 { return int16(binary.LittleEndian.Uint16(wav[44+4*k:])) }
		right := func(k int) int16 { return int16(binary.LittleEndian.Uint16(wav[44+4*k+2:])) }
		if i == 0 {
			require.Equal(t, 16000, samples)
			require.NotZero(t, left(1000), "the robot from the start")
			require.Equal(t, g711.DecodeULaw(0x00), left(10*160+5), "the late packet did not overwrite stored audio")
			require.Zero(t, right(4000), "the agent silent in the first second")
			require.NotZero(t, right(12000))
		}
	}
	require.InDelta(t, 3.5, total.Seconds(), 0.1, "the call's length")
}
