package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
)

func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// wsAgent is an agent's browser: the signaling WebSocket and a pion peer.
type wsAgent struct {
	t     *testing.T
	ws    *websocket.Conn
	msgs  chan map[string]any
	heard atomic.Int64
}

func dialAgent(t *testing.T, baseURL, token string) *wsAgent {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(baseURL, "http")+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.CloseNow() })
	a := &wsAgent{t: t, ws: ws, msgs: make(chan map[string]any, 64)}
	go func() {
		defer close(a.msgs)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				a.msgs <- m
			}
		}
	}()
	return a
}

func (a *wsAgent) next(typ string, within time.Duration) map[string]any {
	a.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-a.msgs:
			require.True(a.t, ok, "connection closed waiting for %s", typ)
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			a.t.Fatalf("no %s within %v", typ, within)
		}
	}
}

func (a *wsAgent) send(m map[string]any) {
	b, _ := json.Marshal(m)
	require.NoError(a.t, a.ws.Write(context.Background(), websocket.MessageText, b))
}

// answer plays the browser's part of the call's WebRTC offer/answer.
func (a *wsAgent) answer(offer string) string {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	require.NoError(a.t, me.RegisterDefaultCodecs())
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(a.t, err)
	a.t.Cleanup(func() { pc.Close() })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			a.heard.Add(1)
		}
	})
	require.NoError(a.t, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}))
	answer, err := pc.CreateAnswer(nil)
	require.NoError(a.t, err)
	gathered := webrtc.GatheringCompletePromise(pc)
	require.NoError(a.t, pc.SetLocalDescription(answer))
	<-gathered
	return pc.LocalDescription().SDP
}

// TestRobotCallAnsweredByAgent: a sipp robot registers with its device's
// credentials and calls; the agent of its site is rung over the WebSocket,
// accepts, answers the WebRTC offer, hears the robot's PCMU tone through the
// bridge; the robot hangs up; the call's case has the agent and its end.
func TestRobotCallAnsweredByAgent(t *testing.T) {
	sippBin := testenv.LookTool(t, "sipp")
	sipPort := freeUDP(t)
	sipAddr := "127.0.0.1:" + strconv.Itoa(sipPort)
	s := startServerSIP(t, sipAddr)
	admin := loginToken(t, s.url, "admin", "admin-pass-123")
	_, site := call(t, "POST", s.url+"/api/v1/sites", admin, map[string]any{"name": "North exit", "kind": "parking"})
	siteID := site["id"].(string)
	code, dev := call(t, "POST", s.url+"/api/v1/devices", admin, map[string]any{"name": "Exit robot", "site_id": siteID,
		"sip_username": "robot7", "sip_password": "robot-secret-7"})
	require.Equal(t, 201, code, "%v", dev)
	code, _ = call(t, "POST", s.url+"/api/v1/users", admin, map[string]any{"username": "amy", "password": "amy-password",
		"role": "agent", "site_ids": []string{siteID}})
	require.Equal(t, 201, code)
	agent := dialAgent(t, s.url, loginToken(t, s.url, "amy", "amy-password"))
	agent.next("welcome", 5*time.Second)

	dir := t.TempDir()
	testenv.WriteToneWAV(t, filepath.Join(dir, "tone.wav"), 3)
	scenario, err := filepath.Abs("../../sip/testdata/call.xml")
	require.NoError(t, err)
	sipp := exec.Command(sippBin, "-sf", scenario, sipAddr, "-i", "127.0.0.1", "-p", strconv.Itoa(freeUDP(t)), "-t", "u1",
		"-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-d", "3500", "-s", "robot7", "-au", "robot7", "-ap", "robot-secret-7",
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(freeUDP(t)))
	sipp.Dir = dir
	sippDone := make(chan error, 1)
	var sippOut strings.Builder
	sipp.Stdout, sipp.Stderr = &sippOut, &sippOut
	require.NoError(t, sipp.Start())
	go func() { sippDone <- sipp.Wait() }()
	t.Cleanup(func() { _ = sipp.Process.Kill() })

	ring := agent.next("call.ringing", 15*time.Second)
	callInfo := ring["call"].(map[string]any)
	require.Equal(t, "PCMU", callInfo["codec"])
	require.Equal(t, dev["id"], callInfo["device_id"])
	callID := callInfo["id"].(string)
	agent.send(map[string]any{"type": "call.accept", "call_id": callID})
	offer := agent.next("call.offer", 10*time.Second)
	require.Contains(t, offer["sdp"], "PCMU/8000", "the agent gets the robot's codec: no transcoding")
	agent.send(map[string]any{"type": "call.answer", "call_id": callID, "sdp": agent.answer(offer["sdp"].(string))})
	agent.next("call.answered", 10*time.Second)
	require.Eventually(t, func() bool { return agent.heard.Load() >= 50 }, 10*time.Second, 20*time.Millisecond,
		"the agent hears the robot (%d packets)", agent.heard.Load())
	ended := agent.next("call.ended", 15*time.Second)
	require.Equal(t, "remote-bye", ended["reason"])
	select {
	case err := <-sippDone:
		require.NoError(t, err, "sipp: %s", sippOut.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("sipp did not finish: %s", sippOut.String())
	}

	require.Eventually(t, func() bool {
		res, err := http.Get(s.url + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		m := string(b)
		return strings.Contains(m, `attendant_sip_calls_ended_total{reason="remote-bye"} 1`+"\n") &&
			strings.Contains(m, `attendant_sip_calls_total{direction="in"} 1`+"\n") &&
			strings.Contains(m, "attendant_sip_calls_active 0\n") &&
			strings.Contains(m, "attendant_sip_registered_devices 1\n") &&
			!strings.Contains(m, "attendant_sip_rtp_received_packets_total 0\n")
	}, 10*time.Second, 50*time.Millisecond, "operators see the call in /metrics")

	caseID := callInfo["case_id"].(string)
	var cs map[string]any
	require.Eventually(t, func() bool {
		_, cs = call(t, "GET", s.url+"/api/v1/cases/"+caseID, admin, nil)
		return len(cs["evidence"].([]any)) >= 1
	}, 15*time.Second, 100*time.Millisecond, "the call's audio is on the case within seconds of the hang-up")
	require.Equal(t, "call", cs["kind"])
	require.Equal(t, "in_progress", cs["status"], "open until the agent closes the ticket")
	require.NotEmpty(t, cs["handler_id"])
	require.NotNil(t, cs["ended_at"])

	// how the call's audio fared is on the case's audit trail
	code, audit := call(t, "GET", s.url+"/api/v1/audit?action=call.end&object_id="+caseID, admin, nil)
	require.Equal(t, 200, code, "%v", audit)
	items := audit["items"].([]any)
	require.Len(t, items, 1)
	var detail map[string]any
	require.NoError(t, json.Unmarshal([]byte(items[0].(map[string]any)["detail"].(string)), &detail))
	require.Equal(t, "remote-bye", detail["reason"])
	media := detail["media"].(map[string]any)
	require.GreaterOrEqual(t, media["robot_packets"].(float64), 100.0, "3 s of the robot's tone: %v", media)
	require.Zero(t, media["robot_lost"], "nothing is lost on loopback: %v", media)
	require.GreaterOrEqual(t, media["to_agent"].(float64), 100.0, "the tone went on to the agent: %v", media)

	// the recording: stereo WAV, the robot's tone on the left, its hash verified
	ev := cs["evidence"].([]any)[0].(map[string]any)
	require.Equal(t, "call-audio", ev["kind"])
	req, _ := http.NewRequest("GET", s.url+"/api/v1/evidence/"+ev["id"].(string)+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	wav, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	sum := sha256.Sum256(wav)
	require.Equal(t, ev["sha256"], hex.EncodeToString(sum[:]))
	require.Equal(t, "RIFF", string(wav[:4]))
	loud := 0
	for i := 44; i+4 <= len(wav); i += 4 {
		if v := int16(binary.LittleEndian.Uint16(wav[i:])); v > 1000 || v < -1000 {
			loud++
		}
	}
	require.Greater(t, loud, 8000, "about a second or more of the robot's tone is in the recording")
	_, v := call(t, "GET", s.url+"/api/v1/cases/"+caseID+"/verify", admin, nil)
	require.Equal(t, true, v["ok"], "%v", v)

	// the agent closes the ticket
	code, closed := call(t, "POST", s.url+"/api/v1/cases/"+caseID+"/close", loginToken(t, s.url, "amy", "amy-password"),
		map[string]any{"remark": "paid at the kiosk"})
	require.Equal(t, 200, code, "%v", closed)
	require.Equal(t, "closed", closed["status"])
}

func startServerSIP(t *testing.T, sipAddr string) *server {
	t.Helper()
	// startServer passes --sip 127.0.0.1:0 first; a later flag wins
	return startServer(t, []string{"ATTENDANT_ADMIN_PASSWORD=admin-pass-123"}, "--data", t.TempDir(), "--sip", sipAddr)
}

func loginToken(t *testing.T, url, user, pass string) string {
	t.Helper()
	code, login := call(t, "POST", url+"/api/v1/login", "", map[string]any{"username": user, "password": pass})
	require.Equal(t, 200, code, "%v", login)
	return login["token"].(string)
}

// TestDemoRobotCallsIn: with --demo a simulated robot registers and calls
// in; the admin's console is rung and hears it.
func TestDemoRobotCallsIn(t *testing.T) {
	s := startServer(t, []string{"ATTENDANT_ADMIN_PASSWORD=admin-pass-123"}, "--data", t.TempDir(), "--demo",
		"--demo-rtsp", "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)), "--demo-call-after", "1s")
	agent := dialAgent(t, s.url, loginToken(t, s.url, "admin", "admin-pass-123"))
	agent.next("welcome", 5*time.Second)
	ring := agent.next("call.ringing", 20*time.Second)
	callID := ring["call"].(map[string]any)["id"].(string)
	agent.send(map[string]any{"type": "call.accept", "call_id": callID})
	offer := agent.next("call.offer", 10*time.Second)
	agent.send(map[string]any{"type": "call.answer", "call_id": callID, "sdp": agent.answer(offer["sdp"].(string))})
	agent.next("call.answered", 10*time.Second)
	require.Eventually(t, func() bool { return agent.heard.Load() >= 50 }, 10*time.Second, 20*time.Millisecond,
		"the demo robot's tone reaches the agent (%d packets)", agent.heard.Load())
	agent.send(map[string]any{"type": "call.hangup", "call_id": callID})
	require.Equal(t, "local-bye", agent.next("call.ended", 10*time.Second)["reason"])
}
