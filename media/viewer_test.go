package media

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordingWriter keeps the headers and first payload bytes it is given.
type recordingWriter struct {
	mu   sync.Mutex
	hdrs []rtp.Header
	nal  []byte
}

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hdrs = append(w.hdrs, *h)
	w.nal = append(w.nal, payload[0])
	return 12 + len(payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *recordingWriter) snapshot() ([]rtp.Header, []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.hdrs), slices.Clone(w.nal)
}

// TestResyncOnPLI: a keyframe request makes the viewer resend the cached GOP
// from its keyframe, with sequence numbers and timestamps still rising.
func TestResyncOnPLI(t *testing.T) {
	s := newTestStream(t)
	cam := newFakeCam(t, 50)
	for range 5 {
		for _, p := range cam.next(t) {
			s.writeVideo(p, time.Now())
		}
	}
	w := &recordingWriter{}
	v, stop := startTestViewer(t, s, w)
	defer stop()
	waitWritten := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if h, _ := w.snapshot(); len(h) >= n {
				return
			}
		}
		t.Fatalf("fewer than %d packets written", n)
	}
	waitWritten(len(s.gop))
	for range 3 {
		for _, p := range cam.next(t) {
			s.writeVideo(p, time.Now())
		}
	}
	waitWritten(len(s.gop))
	before, _ := w.snapshot()
	v.pli <- struct{}{}
	waitWritten(len(before) + len(s.gop))
	hdrs, nals := w.snapshot()
	if nals[len(before)]&0x1f != 24 {
		t.Fatalf("after PLI the first packet is NAL type %d, want the STAP-A with SPS/PPS", nals[len(before)]&0x1f)
	}
	for i := 1; i < len(hdrs); i++ {
		if hdrs[i].SequenceNumber != hdrs[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, hdrs[i].SequenceNumber, hdrs[i-1].SequenceNumber)
		}
		if int32(hdrs[i].Timestamp-hdrs[i-1].Timestamp) < 0 {
			t.Fatalf("packet %d: timestamp went back", i)
		}
	}
}

// TestViewerNeverConnects: a viewer whose peer never completes ICE is closed
// after the connect timeout and leaves nothing behind.
func TestViewerNeverConnects(t *testing.T) {
	m, _ := runManager(t, ManagerConfig{ViewerConnectTimeout: 500 * time.Millisecond})
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feedFakeCamera(t, ctx, m, "c")

	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	// the offer is never followed up: no answer applied, no ICE
	if _, _, err := m.NewViewer(ctx, "c", offer.SDP); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, "c", 2*time.Second, "one viewer", func(s CameraState) bool { return s.Viewers == 1 })
	waitState(t, m, "c", 5*time.Second, "viewer closed", func(s CameraState) bool { return s.Viewers == 0 })
}

// TestUpsert: only connection changes restart an ingest; disabling stops it
// and closes viewers; enabling again reconnects.
func TestUpsert(t *testing.T) {
	cam := startTestCamera(t, camOpts{})
	m, _ := runManager(t, ManagerConfig{})
	cfg := CameraConfig{ID: "c", URL: cam.URL(), Enabled: true}
	m.Upsert(cfg)
	st := waitState(t, m, "c", 10*time.Second, "connected", func(s CameraState) bool { return s.State == StateConnected })
	since := *st.ConnectedSince

	m.Upsert(cfg) // same settings: nothing restarts
	time.Sleep(100 * time.Millisecond)
	if st, _ := m.State("c"); st.State != StateConnected || !st.ConnectedSince.Equal(since) {
		t.Fatalf("an unchanged upsert restarted the ingest: %+v", st)
	}
	cl, err := newWHEPClient(t, m, "c", clientOpts{h264: true})
	if err != nil {
		t.Fatal(err)
	}
	cl.waitFrames(t, 5, 10*time.Second)

	cfg.Transport = TransportAuto // a connection change restarts, viewers stay
	m.Upsert(cfg)
	waitState(t, m, "c", 10*time.Second, "reconnected", func(s CameraState) bool {
		return s.State == StateConnected && s.ConnectedSince != nil && s.ConnectedSince.After(since) && s.Viewers == 1
	})

	cfg.Enabled = false
	m.Upsert(cfg)
	waitState(t, m, "c", 5*time.Second, "disabled, viewers closed", func(s CameraState) bool {
		return s.State == StateDisabled && s.Viewers == 0 && s.ConnectedSince == nil
	})
	cfg.Enabled = true
	m.Upsert(cfg)
	waitState(t, m, "c", 10*time.Second, "connected again", func(s CameraState) bool { return s.State == StateConnected })
	if len(m.States()) != 1 {
		t.Fatalf("states: %v", m.States())
	}
}

// pionSender connects a send-only track of ours to a pion receiver (which
// does not read) on loopback and returns the track once SRTP is up.
func pionSender(t testing.TB) *sendTrack {
	log, _ := testLogger(t)
	cfg, _ := ManagerConfig{ICE: ICEConfig{IncludeLoopback: true}}.withDefaults()
	se, _, err := newSettingEngine(cfg.ICE, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	vc := offerCodec{pt: 102, name: "H264", clock: 90000, fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	api, err := newViewerAPI(se, newRTCPReports(rtcpReportInterval, log), vc, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	connected := make(chan struct{})
	var once sync.Once
	server.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	var cse webrtc.SettingEngine
	cse.SetIncludeLoopbackCandidate(true)
	cse.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	cme := &webrtc.MediaEngine{}
	if err := cme.RegisterCodec(vc.params(), webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	client, err := webrtc.NewAPI(webrtc.WithMediaEngine(cme), webrtc.WithSettingEngine(cse)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(client)
	if err := client.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := server.SetRemoteDescription(*client.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	track := newSendTrack(webrtc.RTPCodecTypeVideo, webrtc.MimeTypeH264, "x")
	if _, err := server.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answer, err := gatherAnswer(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("not connected")
	}
	p := &packet{payload: make([]byte, 1100), video: true, marker: true}
	for track.write(p, 0) != nil { // until SRTP is up
		time.Sleep(5 * time.Millisecond)
	}
	return track
}

// TestPionWriteAllocsReport reports (does not assert) what pion itself
// allocates per forwarded packet behind TrackLocalWriter: the sender-report
// interceptor, SRTP encryption and the UDP write (one socket of its own
// here, not the manager's shared batched one). The receiving
// peer (pion, not reading its track) runs in this process too, so its
// decryption counts as well: an upper bound for the sending side.
func TestPionWriteAllocsReport(t *testing.T) {
	track := pionSender(t)
	p := &packet{payload: make([]byte, 1100), video: true, marker: true}
	ts := uint32(0)
	var werr error
	allocs := testing.AllocsPerRun(2000, func() {
		ts += 3600
		if err := track.write(p, ts); err != nil {
			werr = err
		}
	})
	if werr != nil {
		t.Fatalf("write: %v", werr)
	}
	t.Logf("pion behind TrackLocalWriter (sender reports, SRTP, UDP): %.1f allocations per packet", allocs)
}

// BenchmarkPionWrite is the sending cost of one 1,100-byte packet to one
// viewer through pion: header rewrite, interceptors, SRTP, UDP send.
func BenchmarkPionWrite(b *testing.B) {
	track := pionSender(b)
	p := &packet{payload: make([]byte, 1100), video: true, marker: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := track.write(p, uint32(i)*3600); err != nil {
			b.Fatal(err)
		}
	}
}
