package media

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestLiveH264 runs the whole path with real peers: ffmpeg as the camera,
// pion as the browser. It covers start-up at the cached keyframe, audio,
// keyframe snapshots, a stuck viewer next to a healthy one, the camera dying
// and coming back under the same viewer, and closing.
func TestLiveH264(t *testing.T) {
	cam := startTestCamera(t, camOpts{audio: "pcmu"})
	m, _ := runManager(t, ManagerConfig{})
	m.Upsert(CameraConfig{ID: "gate", URL: cam.URL(), Enabled: true})
	st := waitState(t, m, "gate", 15*time.Second, "connected with a picture size", func(s CameraState) bool {
		return s.State == StateConnected && s.Width > 0
	})
	if st.Codec != CodecH264 || st.Width != 640 || st.Height != 360 || st.AudioCodec != "pcmu" {
		t.Fatalf("state %+v: want h264 640x360 with pcmu", st)
	}
	if st.ConnectedSince == nil {
		t.Fatal("connected_since missing")
	}

	// cached keyframe: parameter sets first
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kf, err := m.Keyframe(ctx, "gate", false)
	if err != nil {
		t.Fatal(err)
	}
	if kf.Codec != CodecH264 || kf.Width != 640 || kf.Height != 360 || !bytes.HasPrefix(kf.AnnexB, []byte{0, 0, 0, 1, 0x67}) {
		t.Fatalf("keyframe %s %dx%d starts % x", kf.Codec, kf.Width, kf.Height, kf.AnnexB[:min(8, len(kf.AnnexB))])
	}
	fresh, err := m.Keyframe(ctx, "gate", true)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Seq <= kf.Seq {
		t.Fatalf("fresh keyframe seq %d, cached %d", fresh.Seq, kf.Seq)
	}

	// a stuck viewer and a healthy one
	stuck, err := newWHEPClient(t, m, "gate", clientOpts{h264: true, pcmu: true, noRead: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = stuck
	cl, err := newWHEPClient(t, m, "gate", clientOpts{h264: true, pcmu: true})
	if err != nil {
		t.Fatal(err)
	}
	cl.waitFrames(t, 30, 15*time.Second)
	types := nalTypes(false, cl.firstPayload())
	if !slices.Contains(types, 7) || !slices.Contains(types, 8) {
		t.Fatalf("first video packet carries NAL types %v, want SPS (7) and PPS (8)", types)
	}
	if cl.audioPkts.Load() == 0 {
		t.Fatal("no audio packets")
	}
	if st, _ := m.State("gate"); st.Viewers != 2 || st.FPS <= 0 || st.BitrateKbps <= 0 {
		t.Fatalf("state %+v: want 2 viewers, fps and bitrate", st)
	}

	// the camera dies and comes back: the same viewer resumes
	cam.stopFFmpeg()
	waitState(t, m, "gate", 15*time.Second, "not connected", func(s CameraState) bool { return s.State != StateConnected })
	before := cl.frames.Load()
	cam.startFFmpeg()
	waitState(t, m, "gate", 20*time.Second, "reconnected", func(s CameraState) bool {
		return s.State == StateConnected && s.Reconnects >= 1
	})
	cl.waitFrames(t, before+30, 15*time.Second)
	if g := cl.seqGaps.Load(); g != 0 {
		t.Errorf("%d sequence gaps across the reconnect", g)
	}
	if b := cl.tsBack.Load(); b != 0 {
		t.Errorf("video timestamps went back %d times", b)
	}

	if err := m.CloseViewer("gate", cl.session); err != nil {
		t.Fatal(err)
	}
	if err := m.CloseViewer("gate", cl.session); !errors.Is(err, ErrUnknownViewer) {
		t.Fatalf("second close: %v", err)
	}
	waitState(t, m, "gate", 5*time.Second, "one viewer left", func(s CameraState) bool { return s.Viewers == 1 })
	m.Remove("gate")
	if _, ok := m.State("gate"); ok {
		t.Fatal("removed camera still has a state")
	}
}
