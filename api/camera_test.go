package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
)

// whepClient is a Go WebRTC viewer, as a browser would be.
type whepClient struct {
	pc      *webrtc.PeerConnection
	packets atomic.Int64
	frames  atomic.Int64
}

func newWHEPClient(t *testing.T) *whepClient {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	require.NoError(t, me.RegisterDefaultCodecs())
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	c := &whepClient{pc: pc}
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	require.NoError(t, err)
	_, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	require.NoError(t, err)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.packets.Add(1)
			if p.Marker {
				c.frames.Add(1)
			}
		}
	})
	return c
}

func (c *whepClient) offer(t *testing.T) string {
	offer, err := c.pc.CreateOffer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(c.pc)
	require.NoError(t, c.pc.SetLocalDescription(offer))
	<-gathered
	return c.pc.LocalDescription().SDP
}

// whep posts an SDP offer as the given client.
func (cl *client) whep(t *testing.T, path string, offer string) (int, string, string) {
	req, err := http.NewRequest("POST", cl.e.url+path, strings.NewReader(offer))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+cl.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header.Get("Location")
}

func waitCameraState(t *testing.T, c *client, id, want string) map[string]any {
	t.Helper()
	var cam map[string]any
	require.Eventually(t, func() bool {
		cam = c.do("GET", "/api/v1/cameras/"+id, nil).json(t)
		return cam["state"] == want
	}, 30*time.Second, 100*time.Millisecond, "camera %s never %s: %v", id, want, cam)
	return cam
}

// TestCameraLiveViewSnapshotAndEvidence runs a real ffmpeg camera through
// the API: state, WHEP live view with a Go WebRTC client, snapshots, and a
// snapshot stored as evidence on a case.
func TestCameraLiveViewSnapshotAndEvidence(t *testing.T) {
	f := newFixture(t, "")
	cam := testenv.FFmpegCamera(t, testenv.CameraOptions{Width: 640, Height: 360})
	id := f.admin.create("/api/v1/cameras", map[string]any{"name": "Gate", "site_id": f.siteA, "url": cam.URL(), "role": "gate"})
	// A camera that never answers does not hold up the other.
	dead := f.admin.create("/api/v1/cameras", map[string]any{"name": "Dead", "site_id": f.siteA,
		"url": "rtsp://127.0.0.1:1/none", "role": "environment"})

	state := waitCameraState(t, f.admin, id, "connected")
	require.Equal(t, "h264", state["codec"])
	require.EqualValues(t, 640, state["width"])
	require.EqualValues(t, 360, state["height"])
	require.NotEqual(t, "connected", f.admin.do("GET", "/api/v1/cameras/"+dead, nil).json(t)["state"])

	// Snapshot: a JPEG of the source's size, cached and fresh.
	for _, q := range []string{"", "?fresh=1"} {
		r := f.agent.do("GET", "/api/v1/cameras/"+id+"/snapshot.jpg"+q, nil)
		require.Equal(t, 200, r.status, "%s", r.body)
		require.Equal(t, "image/jpeg", r.header.Get("Content-Type"))
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(r.body))
		require.NoError(t, err)
		require.Equal(t, 640, cfg.Width)
		require.Equal(t, 360, cfg.Height)
	}
	require.Equal(t, 503, f.admin.do("GET", "/api/v1/cameras/"+dead+"/snapshot.jpg", nil).status)

	// Live view over WHEP.
	viewer := newWHEPClient(t)
	code, answer, location := f.agent.whep(t, "/api/v1/cameras/"+id+"/whep", viewer.offer(t))
	require.Equal(t, 201, code, answer)
	require.True(t, strings.HasPrefix(location, "/api/v1/cameras/"+id+"/whep/"), location)
	require.NoError(t, viewer.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}))
	require.Eventually(t, func() bool { return viewer.frames.Load() >= 25 }, 20*time.Second, 50*time.Millisecond,
		"frames received: %d", viewer.frames.Load())
	require.EqualValues(t, 1, f.admin.do("GET", "/api/v1/cameras/"+id, nil).json(t)["viewers"])
	require.Equal(t, 204, f.agent.do("DELETE", location, nil).status)

	// Bad offers and other sites' cameras are refused.
	code, body, _ := f.agent.whep(t, "/api/v1/cameras/"+id+"/whep", "v=garbage")
	require.Equal(t, 400, code, body)
	other := f.admin.create("/api/v1/cameras", map[string]any{"name": "B", "site_id": f.siteB, "url": cam.URL(), "role": "gate"})
	code, _, _ = f.agent.whep(t, "/api/v1/cameras/"+other+"/whep", newWHEPClient(t).offer(t))
	require.Equal(t, 404, code)
	require.Equal(t, 404, f.agent.do("GET", "/api/v1/cameras/"+other+"/snapshot.jpg", nil).status)

	// A snapshot as evidence on a case, with its hash.
	caseID := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "attribute": "abnormal open"})
	r := f.agent.do("POST", "/api/v1/cases/"+caseID+"/snapshots", map[string]any{"camera_id": id, "role": "id_document"})
	require.Equal(t, 400, r.status, "an ID document comes from an ID-document camera, not the gate camera: %s", r.body)
	r = f.agent.do("POST", "/api/v1/cases/"+caseID+"/snapshots", map[string]any{"camera_id": id, "role": "scene"})
	require.Equal(t, 201, r.status, "%s", r.body)
	ev := r.json(t)
	require.Equal(t, "snapshot-scene", ev["kind"])
	require.Regexp(t, `^sites/`+f.siteA+`/\d{4}/\d{2}/\d{2}/`+caseID+`/snapshot-scene-`, ev["key"])
	rc, info, err := f.objects.Get(context.Background(), ev["key"].(string), nil)
	require.NoError(t, err)
	stored, _ := io.ReadAll(rc)
	rc.Close()
	sum := sha256.Sum256(stored)
	require.Equal(t, hex.EncodeToString(sum[:]), ev["sha256"])
	require.Equal(t, info.SHA256, ev["sha256"])
	got := f.reviewer.do("GET", "/api/v1/cases/"+caseID, nil).json(t)
	require.Len(t, got["evidence"], 1)
	require.Equal(t, 403, f.reviewer.do("POST", "/api/v1/cases/"+caseID+"/snapshots", map[string]any{"camera_id": id, "role": "scene"}).status)
	// a call's case holds at most 4 snapshots of a role (the abnormal-open rule)
	callCase := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call"})
	for i := range 4 {
		r := f.agent.do("POST", "/api/v1/cases/"+callCase+"/snapshots", map[string]any{"camera_id": id, "role": "scene"})
		require.Equal(t, 201, r.status, "snapshot %d: %s", i+1, r.body)
	}
	r = f.agent.do("POST", "/api/v1/cases/"+callCase+"/snapshots", map[string]any{"camera_id": id, "role": "scene"})
	require.Equal(t, 409, r.status, "a 5th scene snapshot: %s", r.body)
	require.Contains(t, string(r.body), "at most 4")

	// Disabled through the API, the ingest stops without a restart.
	require.Equal(t, 200, f.admin.do("PATCH", "/api/v1/cameras/"+id, map[string]any{"enabled": false}).status)
	waitCameraState(t, f.admin, id, "disabled")
	require.Equal(t, 204, f.admin.do("DELETE", "/api/v1/cameras/"+dead, nil).status)
}
