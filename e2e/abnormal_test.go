package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/store"
	"github.com/attendant/attendant/web"
)

// abnormalRobotScenario: the exit robot of gateRobotScenario without the
// hold and resume, so the agent's BYE follows the abnormal open directly.
var abnormalRobotScenario = sippRegisterInvite + sippReportState + sippAwaitBye

// addLaneCamera starts an ffmpeg camera and attaches it to the gate site's
// lane (its access point) with role; the camera hub is connected to it
// before this returns, so the page's snapshot buttons get a picture.
func addLaneCamera(t *testing.T, srv *apitest.Server, g gateSite, name, role string) store.Camera {
	t.Helper()
	ctx := context.Background()
	// 25 frames a GOP: a keyframe (what a snapshot decodes) every second
	cam := testenv.FFmpegCamera(t, testenv.CameraOptions{Width: 320, Height: 240, FPS: 25, GOP: 25})
	now := store.Now()
	c := store.Camera{ID: store.NewID(), SiteID: g.site.ID, AccessPointID: store.OptionalID(g.ap.ID), Name: name, URL: cam.URL(), Role: role,
		Transport: "tcp", Record: "off", Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &c))
	require.NoError(t, srv.API.LoadCameras(ctx))
	require.Eventually(t, func() bool {
		st, ok := srv.Cameras.State(c.ID)
		return ok && st.State == media.StateConnected
	}, 30*time.Second, 100*time.Millisecond, "camera %s connects", name)
	return c
}

// TestGateCallAbnormalOpen: a sipp robot at an exit lane with an
// ID-document and an environment camera (real ffmpeg RTSP streams) calls;
// the agent accepts in Chromium, fills the abnormal-open form (reason,
// remark), takes an ID-document and a scene snapshot with the form's own
// buttons and opens the gate. The page shows it done; the robot gets the
// abnormal open_gate MESSAGE; the case holds both snapshots as real JPEGs,
// taken before the open; the audit log and GET /api/v1/abnormal-opens have
// it with its reason and remark; closing the ticket hangs up.
func TestGateCallAbnormalOpen(t *testing.T) {
	const (
		reason = "special-vehicle"
		remark = "fire engine on duty, crew showed their card"
	)
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	g := newGateSite(t, srv, "robot9", "robot-secret-9")
	idCam := addLaneCamera(t, srv, g, "North exit ID reader", "id_document")
	sceneCam := addLaneCamera(t, srv, g, "North exit overview", "environment")
	camRoles := map[string]string{idCam.ID: idCam.Role, sceneCam.ID: sceneCam.Role}

	bctx := browser(t)
	login(t, bctx, srv.URL)
	openCalls(t, bctx, srv.URL)

	dir := t.TempDir()
	robot := sippRobot(t, srv, dir, abnormalRobotScenario, "message_ooc.xml", "robot9", "robot-secret-9")

	_, caseID := acceptCall(t, bctx)

	// The form at an exit: reason and remark first, then it asks for the evidence only.
	click(t, bctx, "#abnormal-toggle")
	_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('#abnormal-reason');
		s.value = `+jsString(reason)+`; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#abnormal-remark"), remark)))
	waitJS(t, bctx, 10*time.Second, "the form asks for the exit's evidence and nothing else",
		`document.querySelector('#abnormal-form')?.dataset.exit === 'true' && document.querySelector('#abnormal-missing')?.dataset.missing === 'id_document scene' && document.querySelector('#abnormal-submit').disabled`)

	// The form's own buttons take the snapshots from the lane's cameras (enabled once the site's cameras are loaded).
	click(t, bctx, "#abnormal-snap-id")
	waitJS(t, bctx, 20*time.Second, "the ID-document snapshot is on the case",
		`document.querySelector('#abnormal-id-count')?.dataset.count === '1'`)
	click(t, bctx, "#abnormal-snap-scene")
	waitJS(t, bctx, 20*time.Second, "the scene snapshot is on the case",
		`document.querySelector('#abnormal-scene-count')?.dataset.count === '1'`)
	// The browser decodes both thumbnails: the content endpoint serves pictures.
	waitJS(t, bctx, 10*time.Second, "both thumbnails load",
		`(() => { const imgs = [...document.querySelectorAll('#abnormal-thumbs img.abnormal-thumb')];
		  return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth === 320 && i.naturalHeight === 240) })()`)
	thumbs, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('#abnormal-thumbs img.abnormal-thumb')]
		.map(i => [i.dataset.evidenceId, i.dataset.role]))`))
	require.NoError(t, err)

	waitJS(t, bctx, 5*time.Second, "nothing is missing any more",
		`!document.querySelector('#abnormal-missing') && !document.querySelector('#abnormal-submit').disabled`)
	click(t, bctx, "#abnormal-submit")
	waitJS(t, bctx, 15*time.Second, "the robot confirms the abnormal open",
		`document.querySelector('#abnormal-result')?.dataset.state === 'ok' && document.querySelector('#abnormal-result').dataset.status === '200'`)
	failed, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`!!document.querySelector('#abnormal-error')`))
	require.NoError(t, err)
	require.False(t, failed, "no error on the form")

	// Close the ticket: hang up (BYE to the robot), the page returns to idle.
	closeTicket(t, bctx, "let the fire engine out")
	robot.wait(t, 20*time.Second)

	// The robot got exactly the abnormal open of docs/robot-protocol.md.
	messages := sippReceived(t, dir, "MESSAGE")
	require.Len(t, messages, 1, "the abnormal open only: %q", messages)
	require.JSONEq(t, `{"action":"open_gate","abnormal":true,"abnormal_reason":`+jsString(reason)+`}`, messages[0])

	ctx := context.Background()
	require.Eventually(t, func() bool {
		c, err := store.Get[store.Case](ctx, srv.DB.Q(), caseID)
		require.NoError(t, err)
		return c.Status == store.CaseClosed && c.Remark == "let the fire engine out"
	}, 15*time.Second, 100*time.Millisecond, "the case is closed with its remark")

	// The evidence: one snapshot of each role, from the camera of that role, the
	// ones the page showed, and real JPEGs whose stored bytes match their hash.
	// (The call's audio is filed on the case too; it is not the form's business.)
	admins, _, err := store.List[store.User](ctx, srv.DB.Q(), store.Filter{Eq: map[string]string{"username": "admin"}})
	require.NoError(t, err)
	require.Len(t, admins, 1)
	evidence, err := store.CaseEvidence(ctx, srv.DB.Q(), caseID)
	require.NoError(t, err)
	byKind := map[string]string{}
	shown := map[string]string{}
	for _, ev := range evidence {
		if ev.Kind != "snapshot-id_document" && ev.Kind != "snapshot-scene" {
			continue
		}
		require.NotContains(t, byKind, ev.Kind, "one %s", ev.Kind)
		byKind[ev.Kind] = camRoles[string(ev.CameraID)]
		shown[ev.ID] = map[string]string{"snapshot-id_document": "id_document", "snapshot-scene": "scene"}[ev.Kind]
		require.Equal(t, "image/jpeg", ev.MediaType)
		require.Equal(t, admins[0].ID, string(ev.TakenBy))
		rc, info, err := srv.Objects.Get(ctx, ev.Key, nil)
		require.NoError(t, err, "evidence object %s", ev.Key)
		jpeg, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		require.Equal(t, "image/jpeg", info.ContentType)
		require.Equal(t, ev.Size, int64(len(jpeg)))
		require.True(t, bytes.HasPrefix(jpeg, []byte{0xFF, 0xD8}), "%s starts with a JPEG SOI marker", ev.Kind)
		require.True(t, bytes.HasSuffix(jpeg, []byte{0xFF, 0xD9}), "%s ends with a JPEG EOI marker", ev.Kind)
		sum := sha256.Sum256(jpeg)
		require.Equal(t, ev.SHA256, hex.EncodeToString(sum[:]))
	}
	require.Equal(t, map[string]string{"snapshot-id_document": "id_document", "snapshot-scene": "environment"}, byKind,
		"one snapshot per role, each from the lane's camera of that role")
	require.Equal(t, shown, thumbs, "the thumbnails on the form are the stored snapshots")

	// The audit log: both snapshots added before the gate opened, and the
	// abnormal open with its reason, remark and the robot's 200.
	entries, err := store.ListAudit(ctx, srv.DB.Q(), store.AuditFilter{ObjectType: "case", ObjectID: caseID, Limit: 100})
	require.NoError(t, err)
	added := map[string]int64{} // snapshot id → its audit seq
	var open *store.AuditEntry
	for i, e := range entries {
		switch e.Action {
		case store.AuditEvidenceAdd:
			var d struct {
				EvidenceID string `json:"evidence_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(e.Detail), &d))
			if _, snap := shown[d.EvidenceID]; snap {
				added[d.EvidenceID] = e.Seq
			}
		case "robot.open_gate":
			require.Nil(t, open, "one open_gate")
			open = &entries[i]
		}
	}
	require.NotNil(t, open, "robot.open_gate is audited")
	require.Len(t, added, 2)
	for id, seq := range added {
		require.Less(t, seq, open.Seq, "snapshot %s is on the case before the gate opens", id)
	}
	require.Equal(t, "admin", open.ActorName)
	var detail struct {
		DeviceID string `json:"device_id"`
		Command  struct {
			Action         string `json:"action"`
			Abnormal       bool   `json:"abnormal"`
			AbnormalReason string `json:"abnormal_reason"`
		} `json:"command"`
		Reason      string `json:"reason"`
		RobotStatus int    `json:"robot_status"`
		Error       string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(open.Detail), &detail))
	require.Equal(t, g.dev.ID, detail.DeviceID)
	require.Equal(t, "open_gate", detail.Command.Action)
	require.True(t, detail.Command.Abnormal)
	require.Equal(t, reason, detail.Command.AbnormalReason)
	require.Equal(t, remark, detail.Reason)
	require.Equal(t, 200, detail.RobotStatus)
	require.Empty(t, detail.Error)

	// The abnormal-opens list (read from that audit entry) shows it to the admin.
	token := apiCall(t, "POST", srv.URL+"/api/v1/login", "", map[string]any{"username": "admin", "password": adminPassword})["token"].(string)
	list := apiCall(t, "GET", srv.URL+"/api/v1/abnormal-opens?site_id="+g.site.ID, token, nil)
	items := list["items"].([]any)
	require.Len(t, items, 1, "%v", list)
	item := items[0].(map[string]any)
	require.Equal(t, caseID, item["case_id"])
	require.Equal(t, g.site.ID, item["site_id"])
	require.Equal(t, g.dev.ID, item["device_id"])
	require.Equal(t, "admin", item["agent"])
	require.Equal(t, reason, item["reason"])
	require.Equal(t, remark, item["remark"])
	require.EqualValues(t, 200, item["robot_status"])
	require.EqualValues(t, 1, item["id_snapshots"])
	require.EqualValues(t, 1, item["scene_snapshots"])
	require.EqualValues(t, open.Seq, item["seq"])
}
