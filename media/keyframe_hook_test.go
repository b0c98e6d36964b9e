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
