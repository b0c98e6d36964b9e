package media

import (
	"sync"
	"testing"
	"time"
)

// TestOnKeyframeHook: every new keyframe reaches the hook, as Annex-B with
// increasing sequence numbers, so snapshots can be kept warm.
func TestOnKeyframeHook(t *testing.T) {
	cam := startTestCamera(t, camOpts{keyFrames: 10})
	var (
		mu   sync.Mutex
		seqs []uint64
	)
	m, _ := runManager(t, ManagerConfig{OnKeyframe: func(id string, kf Keyframe) {
		if id != "cam1" || len(kf.AnnexB) == 0 || kf.Codec != CodecH264 {
			t.Errorf("hook got camera %q codec %q with %d bytes", id, kf.Codec, len(kf.AnnexB))
		}
		mu.Lock()
		seqs = append(seqs, kf.Seq)
		mu.Unlock()
	}})
	m.Upsert(CameraConfig{ID: "cam1", URL: cam.URL(), Enabled: true})
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(seqs)
		got := append([]uint64(nil), seqs...)
		mu.Unlock()
		if n >= 3 {
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Fatalf("keyframe sequence not increasing: %v", got)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d keyframes reached the hook", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOnAccessUnitHook: the recorder's feed starts at a keyframe that
// carries its parameter sets, and its PTS advances frame by frame.
func TestOnAccessUnitHook(t *testing.T) {
	cam := startTestCamera(t, camOpts{keyFrames: 10})
	aus := make(chan AccessUnit, 4096)
	m, _ := runManager(t, ManagerConfig{OnAccessUnit: func(id string, au AccessUnit) {
		select {
		case aus <- au:
		default:
			t.Error("test queue full")
		}
	}})
	m.Upsert(CameraConfig{ID: "cam1", URL: cam.URL(), Enabled: true})
	next := func() AccessUnit {
		select {
		case au := <-aus:
			return au
		case <-time.After(20 * time.Second):
			t.Fatal("no access unit within 20s")
			return AccessUnit{}
		}
	}
	first := next()
	if !first.Key || first.Codec != CodecH264 || first.Width == 0 {
		t.Fatalf("first access unit: key %v codec %q width %d, want a sized H264 keyframe", first.Key, first.Codec, first.Width)
	}
	types := map[byte]bool{}
	for _, n := range first.NALUs {
		types[n[0]&0x1f] = true
	}
	if !types[7] || !types[8] || !types[5] {
		t.Fatalf("first keyframe NAL types %v, want SPS, PPS and IDR", types)
	}
	prev := first
	for range 50 {
		au := next()
		if d := au.PTS - prev.PTS; d <= 0 || d > time.Second {
			t.Fatalf("PTS step %v between consecutive frames", d)
		}
		if au.Wall.Before(prev.Wall) {
			t.Fatalf("wall clock went backwards")
		}
		prev = au
	}
}
