package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/store"
	"github.com/attendant/attendant/web"
)

// TestRobotCallInBrowser: a sipp robot calls; the agent's console (headless
// Chromium with a fake microphone) rings, the agent accepts, audio packets
// rise both ways in the browser's own stats, the robot hangs up, the agent
// closes the ticket with a remark, and the case holds the recording.
func TestRobotCallInBrowser(t *testing.T) {
	sippBin := testenv.LookTool(t, "sipp")
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	ctx := context.Background()
	now := store.Now()
	site := store.Site{ID: store.NewID(), Name: "North exit", Kind: store.SiteParking, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &site))
	dev := store.Device{ID: store.NewID(), SiteID: site.ID, Name: "Exit robot", Kind: "robot", SIPUsername: "robot9",
		SIPPassword: "robot-secret-9", Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &dev))

	bctx := browser(t)
	login(t, bctx, srv.URL)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/#/calls"), chromedp.WaitVisible(chromedp.CSS("#calls-idle"))))
	_, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('#calls-connection')?.dataset.state === 'connected' || null`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the console's WebSocket connects")

	dir := t.TempDir()
	testenv.WriteToneWAV(t, filepath.Join(dir, "tone.wav"), 3)
	scenario, err := filepath.Abs("../sip/testdata/call.xml")
	require.NoError(t, err)
	sipUDP, _ := srv.SIP.Addr()
	sipp := exec.Command(sippBin, "-sf", scenario, sipUDP.String(), "-i", "127.0.0.1", "-p", strconv.Itoa(testenv.FreePort(t)),
		"-t", "u1", "-m", "1", "-timeout", "40s", "-timeout_error", "-nostdin", "-d", "6000",
		"-s", "robot9", "-au", "robot9", "-ap", "robot-secret-9", "-mi", "127.0.0.1", "-mp", strconv.Itoa(testenv.FreePort(t)))
	sipp.Dir = dir
	var out strings.Builder
	sipp.Stdout, sipp.Stderr = &out, &out
	require.NoError(t, sipp.Start())
	sippDone := make(chan error, 1)
	go func() { sippDone <- sipp.Wait() }()
	t.Cleanup(func() { _ = sipp.Process.Kill() })

	require.NoError(t, chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(".call-accept"))), "the call rings in the console")
	waitJS(t, bctx, 10*time.Second, "the console rings, with sound",
		`document.querySelector('#call-ringer').dataset.ringing === 'true' && document.querySelector('#call-ringer').dataset.ring === 'running' && document.title.includes('Incoming call') || null`)
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS(".call-accept"))))
	waitJS(t, bctx, 10*time.Second, "the ring stops once the call is accepted",
		`document.querySelector('#call-ringer').dataset.ringing === 'false' && !document.title.includes('Incoming call')`)
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`(() => { const el = document.querySelector('#call-active');
		return el && Number(el.dataset.packetsReceived) >= 50 && Number(el.dataset.packetsSent) >= 50 || null })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "audio flows both ways in the browser")
	caseID, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#call-active').dataset.caseId`))
	require.NoError(t, err)
	require.NotEmpty(t, caseID)

	select {
	case err := <-sippDone:
		require.NoError(t, err, "sipp: %s", out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the robot's call did not end: %s", out.String())
	}
	closeTicket(t, bctx, "driver paid at the kiosk")
	require.Eventually(t, func() bool {
		c, err := store.Get[store.Case](ctx, srv.DB.Q(), caseID)
		require.NoError(t, err)
		ev, err := store.CaseEvidence(ctx, srv.DB.Q(), caseID)
		require.NoError(t, err)
		return c.Status == store.CaseClosed && c.Remark == "driver paid at the kiosk" && len(ev) >= 1 && ev[0].Kind == "call-audio"
	}, 15*time.Second, 100*time.Millisecond, "the case is closed with its remark and recording")

	// The compliance page tells the case's story: the call, how its audio
	// fared, the ticket closed — in order, by whom.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/#/evidence/"+caseID)))
	waitJS(t, bctx, 10*time.Second, "the case's history is shown",
		`document.querySelectorAll('#evidence-history .history-entry').length === 5`)
	type row struct{ Action, Text string }
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](
		`[...document.querySelectorAll('#evidence-history .history-entry')].map(r => ({Action: r.dataset.action, Text: r.textContent}))`))
	require.NoError(t, err)
	require.Equal(t, []string{"call.incoming", "call.answer", "call.end"}, []string{rows[0].Action, rows[1].Action, rows[2].Action})
	require.Contains(t, rows[0].Text, "Robot called")
	require.Contains(t, rows[1].Text, "admin", "who answered")
	require.Contains(t, rows[2].Text, "media.robot_packets", "how the call's audio fared")
	// the recording's indexing and the ticket's closing race: either order
	last := map[string]string{rows[3].Action: rows[3].Text, rows[4].Action: rows[4].Text}
	require.Contains(t, last["evidence.add"], "call-audio", "the recording came onto the case")
	require.Contains(t, last["case.close"], "driver paid at the kiosk")
}
