package media

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// whepPage plays camera "cam" over WHEP and keeps the connection in window.pc.
const whepPage = `<!doctype html><html><body><video id="v" autoplay muted playsinline></video><script>
(async () => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.ontrack = e => {
    if (e.track.kind !== 'video') return;
    const v = document.getElementById('v');
    v.srcObject = e.streams[0] || new MediaStream([e.track]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => { if (pc.iceGatheringState === 'complete') r();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); }; setTimeout(r, 3000); });
  window.offeredAt = performance.now();
  const res = await fetch('/whep', {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
  if (res.status !== 201) { window.whepError = res.status + ' ' + await res.text(); return; }
  await pc.setRemoteDescription({type: 'answer', sdp: await res.text()});
  const poll = setInterval(async () => {
    (await pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video' && r.framesDecoded > 0 && !window.firstFrameAt) {
        window.firstFrameAt = performance.now(); clearInterval(poll);
      }
    });
  }, 10);
})();
</script></body></html>`

// statsJS returns the decoded frames, size and codec of the video receiver.
const statsJS = `(async () => {
  if (window.whepError) return {error: window.whepError};
  if (!window.pc) return {};
  const out = {firstFrameMs: window.firstFrameAt ? window.firstFrameAt - window.offeredAt : 0};
  (await window.pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') { out.frames = r.framesDecoded || 0; out.width = r.frameWidth || 0; out.codecId = r.codecId; }
    if (r.type === 'inbound-rtp' && r.kind === 'audio') { out.audio = r.packetsReceived || 0; }
  });
  return out;
})()`

type browserStats struct {
	Error  string `json:"error"`
	Frames int    `json:"frames"`
	Width  int    `json:"width"`
	Audio  int    `json:"audio"`
	// FirstFrameMs is from sending the offer to the first frame decoded
	// (polled every 10 ms).
	FirstFrameMs float64 `json:"firstFrameMs"`
}

// TestChromiumPlaysCamera: headless Chromium negotiates with the manager
// (its real H264 offer), decodes frames at the camera's size and plays G.711.
func TestChromiumPlaysCamera(t *testing.T) {
	chromium := requireTool(t, "chromium")
	cam := startTestCamera(t, camOpts{audio: "pcmu"})
	// short ICE timeouts: a browser that vanishes is noticed quickly
	m, _ := runManager(t, ManagerConfig{ICE: ICEConfig{DisconnectedTimeout: time.Second, FailedTimeout: 2 * time.Second}})
	m.Upsert(CameraConfig{ID: "cam", URL: cam.URL(), Enabled: true})
	waitState(t, m, "cam", 15*time.Second, "connected", func(s CameraState) bool { return s.State == StateConnected })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, whepPage)
	})
	mux.HandleFunc("POST /whep", func(w http.ResponseWriter, r *http.Request) {
		offer, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		_, answer, err := m.NewViewer(r.Context(), "cam", string(offer))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	var st browserStats
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		st, err = chromedp.Run(ctx, chromedp.Evaluate[browserStats](statsJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("getStats: %v", err)
		}
		if st.Error != "" {
			t.Fatalf("WHEP: %s", st.Error)
		}
		if st.Frames >= 25 && st.Audio > 0 {
			break
		}
	}
	if st.Frames < 25 || st.Width != 640 || st.Audio == 0 {
		t.Fatalf("Chromium stats %+v, want 25 frames of width 640 and audio", st)
	}
	ff, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.firstFrameAt - window.offeredAt`))
	if err == nil {
		st.FirstFrameMs = ff
	}
	t.Logf("Chromium decoded %d frames, first decoded %.0f ms after the offer was sent; %d audio packets", st.Frames, st.FirstFrameMs, st.Audio)
	if s, _ := m.State("cam"); s.Viewers != 1 {
		t.Fatalf("viewers %d", s.Viewers)
	}
	// the browser vanishes (killed, no DTLS close): ICE fails and the viewer goes
	acancel()
	waitState(t, m, "cam", 20*time.Second, "viewer gone", func(s CameraState) bool { return s.Viewers == 0 })
}
