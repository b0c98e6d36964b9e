package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/parking"
	"github.com/attendant/attendant/store"
	"github.com/attendant/attendant/web"
)

// gateSite is a parking site with an exit lane and its robot.
type gateSite struct {
	site store.Site
	ap   store.AccessPoint
	dev  store.Device
}

func newGateSite(t *testing.T, srv *apitest.Server, sipUser, sipPassword string) gateSite {
	t.Helper()
	ctx := context.Background()
	now := store.Now()
	g := gateSite{
		site: store.Site{ID: store.NewID(), Name: "Riverside car park", Code: "P-07", Kind: store.SiteParking, CreatedAt: now, UpdatedAt: now},
	}
	g.ap = store.AccessPoint{ID: store.NewID(), SiteID: g.site.ID, Name: "North exit", Kind: "exit", CreatedAt: now, UpdatedAt: now}
	g.dev = store.Device{ID: store.NewID(), SiteID: g.site.ID, AccessPointID: store.OptionalID(g.ap.ID), Name: "North exit robot", Kind: "robot",
		FactoryCode: "R-007", SIPUsername: sipUser, SIPPassword: sipPassword, Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &g.site))
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &g.ap))
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &g.dev))
	return g
}

// addAgent creates an agent of the given sites who can sign in with password.
func addAgent(t *testing.T, srv *apitest.Server, username, password, seat string, siteIDs ...string) store.User {
	t.Helper()
	hash, err := auth.HashPassword(password)
	require.NoError(t, err)
	now := store.Now()
	u := store.User{ID: store.NewID(), Username: username, DisplayName: username, PasswordHash: hash, Role: store.RoleAgent, Seat: seat,
		Groups: store.StringList{}, SiteIDs: store.StringList(siteIDs), CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(context.Background(), srv.DB.Q(), &u))
	return u
}

// loginAs signs in through the login page (login in browser_test.go is the admin's).
func loginAs(t *testing.T, ctx context.Context, url, username, password string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(url+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-username")),
		chromedp.SendKeys(chromedp.CSS("#login-username"), username),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#current-user`)),
	), "sign in as %s", username)
}

// openCalls opens #/calls and waits for the console's WebSocket.
func openCalls(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url+"/#/calls"), chromedp.WaitVisible(chromedp.CSS("#calls-idle"))))
	waitJS(t, ctx, 10*time.Second, "the console's WebSocket connects", `document.querySelector('#calls-connection')?.dataset.state === 'connected'`)
}

// waitJS polls a JavaScript condition in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { try { return (`+cond+`) || null } catch (e) { return null } })()`,
		chromedp.WithPollingTimeout(timeout)))
	require.NoError(t, err, what)
}

// acceptCall accepts the call ringing in the console and waits until it
// is answered and the robot's audio plays (25 packets); it returns the
// call's and its case's ids as the page shows them.
func acceptCall(t *testing.T, ctx context.Context) (callID, caseID string) {
	t.Helper()
	click(t, ctx, ".call-accept")
	waitJS(t, ctx, 20*time.Second, "the call is answered and the robot's audio arrives",
		`document.querySelector('#call-active')?.dataset.state === 'answered' && Number(document.querySelector('#call-active').dataset.packetsReceived) >= 25`)
	return callIDs(t, ctx)
}

// callIDs are the call's and its case's ids as the page shows them.
func callIDs(t *testing.T, ctx context.Context) (callID, caseID string) {
	t.Helper()
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.querySelector('#call-active').dataset.callId, document.querySelector('#call-active').dataset.caseId]`))
	require.NoError(t, err)
	require.Len(t, ids, 2)
	require.NotEmpty(t, ids[0], "call id on the page")
	require.NotEmpty(t, ids[1], "case id on the page")
	return ids[0], ids[1]
}

// closeTicket types the case's remark and closes the ticket, which hangs
// the call up if it is still on; the page returns to idle.
func closeTicket(t *testing.T, ctx context.Context, remark string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#call-remark"), remark),
		chromedp.Click(chromedp.CSS("#call-close")),
		chromedp.WaitVisible(chromedp.CSS("#calls-idle")),
	), "close the ticket")
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))), "click %s", sel)
}

// sippRobot runs a sipp robot scenario (written to dir) against the server.
// The robot answers the server's out-of-call requests with ooc (a scenario
// of sip/testdata: message_ooc.xml takes robot commands); every SIP message
// it got is logged to dir/messages.log.
func sippRobot(t *testing.T, srv *apitest.Server, dir, scenario, ooc, user, password string, extra ...string) *sippRun {
	t.Helper()
	bin := testenv.LookTool(t, "sipp")
	testenv.WriteToneWAV(t, filepath.Join(dir, "tone.wav"), 2)
	sf := filepath.Join(dir, "robot.xml")
	require.NoError(t, os.WriteFile(sf, []byte(scenario), 0o644))
	oocsf, err := filepath.Abs("../sip/testdata/" + ooc)
	require.NoError(t, err)
	sipUDP, _ := srv.SIP.Addr()
	args := append([]string{"-sf", sf, "-oocsf", oocsf, sipUDP.String(), "-i", "127.0.0.1", "-p", strconv.Itoa(testenv.FreePort(t)),
		"-t", "u1", "-m", "1", "-timeout", "80s", "-timeout_error", "-nostdin",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-s", user, "-au", user, "-ap", password, "-mi", "127.0.0.1", "-mp", strconv.Itoa(testenv.FreePort(t))}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	r := &sippRun{done: make(chan struct{}), out: out}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

// sippRun is a running sipp: done closes when it exits, with err.
type sippRun struct {
	done chan struct{}
	err  error
	out  *strings.Builder
}

func (r *sippRun) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.done:
		require.NoError(t, r.err, "sipp robot: %s", r.out.String())
	case <-time.After(timeout):
		t.Fatalf("the sipp robot did not finish: %s", r.out.String())
	}
}

// sippReceived returns the bodies of the requests sipp received (its
// -trace_msg log) whose request line starts with method.
func sippReceived(t *testing.T, dir, method string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "messages.log"))
	require.NoError(t, err, "sipp message log")
	var bodies []string
	for _, blk := range strings.Split(string(raw), "message received")[1:] {
		_, msg, _ := strings.Cut(blk, ":\n\n")
		msg = strings.ReplaceAll(msg, "\r\n", "\n")
		if !strings.HasPrefix(msg, method+" ") {
			continue
		}
		_, body, _ := strings.Cut(msg, "\n\n")
		body, _, _ = strings.Cut(body, "\n---------")
		bodies = append(bodies, strings.TrimSpace(body))
	}
	return bodies
}

// TestGateCallConsole: a sipp robot at an exit lane calls; the agent
// accepts in Chromium; audio comes in; the display mirror shows the state
// the robot reports; the agent corrects the plate and looks it up in the
// demo parking system, pushes its pay code to the robot display, opens the
// gate (the robot receives both MESSAGEs), finds the abnormal open held
// back for want of evidence at an exit, holds the call (the robot gets a
// sendonly re-INVITE, the agent's microphone is muted) and resumes it
// (sendrecv), then closes the ticket, which hangs up.
func TestGateCallConsole(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler(), Parking: demoParking(t)})
	newGateSite(t, srv, "robot7", "robot-secret-7")
	bctx := browser(t)
	login(t, bctx, srv.URL)
	openCalls(t, bctx, srv.URL)

	dir := t.TempDir()
	robot := sippRobot(t, srv, dir, gateRobotScenario, "message_ooc.xml", "robot7", "robot-secret-7")

	_, caseID := acceptCall(t, bctx)

	// The overview knows the lane: an exit.
	lane, err := chromedp.Run(bctx, chromedp.Poll[string](`(() => { const t = document.querySelector('#call-lane')?.textContent || ''; return t.includes('North exit') ? t : null })()`,
		chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err, "the lane is shown")
	require.Contains(t, lane, "Exit")

	// The robot streams its tone: within a call.quality tick (5 s) the page
	// shows its line with figures — not "silent". (Its level depends on
	// this machine's load, the levels are unit-tested.)
	waitJS(t, bctx, 15*time.Second, "the robot's line is shown",
		`['good', 'fair', 'poor'].includes(document.querySelector('#call-line')?.dataset.level) && document.querySelector('#call-line').textContent.includes('% lost')`)

	// The robot's state update reached the mirror, as text.
	waitJS(t, bctx, 10*time.Second, "the display mirror shows what the robot reported",
		`document.querySelector('#call-display')?.dataset.mode === 'text' && document.querySelector('#call-display-text').textContent === 'Please scan to pay <b>now</b>'`)
	bold, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#call-display b').length`))
	require.NoError(t, err)
	require.Zero(t, bold, "the robot's text is not parsed as HTML")
	gate, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#call-robot-gate')?.dataset.gate || ''`))
	require.NoError(t, err)
	require.Equal(t, "closed", gate)
	plate, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#call-plate-input').value`))
	require.NoError(t, err)
	require.Equal(t, "A12345", plate, "the plate input takes the robot's plate")

	// The agent corrects the plate and looks it up: the demo's unpaid car, 15.00 CNY due.
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const el = document.querySelector('#call-plate-input');
		el.value = '京a 12345'; el.dispatchEvent(new Event('input', {bubbles: true})); return true })()`))
	require.NoError(t, err)
	click(t, bctx, "#call-plate-lookup")
	waitJS(t, bctx, 10*time.Second, "the parking system found the car",
		`document.querySelector('#call-plate-result')?.dataset.found === 'true'`)
	fee, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`(() => { const f = document.querySelector('#call-plate-result .plate-fee');
		return [f.dataset.minor, f.dataset.currency, f.textContent, document.querySelector('#call-plate-result .plate-found').textContent,
		  document.querySelector('#call-plate-result').dataset.paid] })()`))
	require.NoError(t, err)
	require.Equal(t, []string{"1500", "CNY", "CN¥15.00", parking.DemoPlateUnpaid, "false"}, fee)

	// The car's entry photo came with the lookup, is kept as evidence of the case, and loads in the page.
	waitJS(t, bctx, 10*time.Second, "the vehicle's entry photo is shown",
		`(() => { const img = document.querySelector('#call-plate-result img.plate-photo[data-kind="entry"]');
		  return !!img && img.complete && img.naturalWidth === 320 })()`)
	photoID, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('img.plate-photo').dataset.evidenceId`))
	require.NoError(t, err)
	photo, err := store.Get[store.Evidence](context.Background(), srv.DB.Q(), photoID)
	require.NoError(t, err, "the photo is evidence")
	require.Equal(t, caseID, photo.CaseID)
	require.Equal(t, "vehicle-photo-entry", photo.Kind)

	// Push its pay code: the parking system issues one, the robot is told to show it as a QR code.
	click(t, bctx, "#robot-paycode")
	waitJS(t, bctx, 10*time.Second, "the pay code is on the robot display",
		`document.querySelector('#robot-paycode-result')?.dataset.state === 'ok'`)
	payload, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#robot-paycode-result svg.qr-code').dataset.payload`))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(payload, "https://pay.demo.invalid/"), "pay code payload %q", payload)

	// Open the gate: the robot answers the MESSAGE 200 and the panel says so.
	click(t, bctx, "#robot-open-gate")
	waitJS(t, bctx, 10*time.Second, "the open-gate command is confirmed by the robot",
		`document.querySelector('li.robot-result[data-action="open_gate"]')?.dataset.state === 'ok'`)
	status, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('li.robot-result[data-action="open_gate"]').dataset.status`))
	require.NoError(t, err)
	require.Equal(t, "200", status)

	// An abnormal open at an exit needs ID and scene snapshots first: this lane has no cameras,
	// so with a reason and a remark the form still holds it back.
	click(t, bctx, "#abnormal-toggle")
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('#abnormal-reason');
		s.value = 'special-vehicle'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#abnormal-remark"), "fire engine on duty")))
	waitJS(t, bctx, 5*time.Second, "the form asks for the exit's evidence",
		`document.querySelector('#abnormal-form')?.dataset.exit === 'true' && document.querySelector('#abnormal-missing')?.dataset.missing === 'id_document scene' && document.querySelector('#abnormal-submit').disabled`)

	// Hold: the robot takes the sendonly re-INVITE; the microphone is muted here.
	click(t, bctx, "#call-hold-toggle")
	waitJS(t, bctx, 15*time.Second, "the call is held by the agent",
		`document.querySelector('#call-hold')?.dataset.heldBy === 'agent' && document.querySelector('#call-hold-toggle').getAttribute('aria-pressed') === 'true'`)
	muted, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#call-active').dataset.micMuted`))
	require.NoError(t, err)
	require.Equal(t, "true", muted)
	click(t, bctx, "#call-hold-toggle")
	waitJS(t, bctx, 15*time.Second, "the call is resumed",
		`document.querySelector('#call-hold')?.dataset.heldBy === '' && document.querySelector('#call-active').dataset.micMuted === 'false'`)

	// Close the ticket: hang up (BYE to the robot), the page returns to idle.
	closeTicket(t, bctx, "gate opened for a paying driver")
	robot.wait(t, 20*time.Second)

	// What the robot received: the open_gate command as JSON, and the two re-INVITEs.
	messages := sippReceived(t, dir, "MESSAGE")
	require.Len(t, messages, 2, "the pay code and the open-gate commands: %q", messages)
	require.JSONEq(t, `{"action":"display","mode":"qr","payload":`+jsString(payload)+`}`, messages[0])
	require.JSONEq(t, `{"action":"open_gate"}`, messages[1])
	invites := sippReceived(t, dir, "INVITE")
	require.Len(t, invites, 2, "the hold and resume re-INVITEs")
	require.Contains(t, invites[0], "a=sendonly")
	require.Contains(t, invites[1], "a=sendrecv")

	ctx := context.Background()
	require.Eventually(t, func() bool {
		c, err := store.Get[store.Case](ctx, srv.DB.Q(), caseID)
		require.NoError(t, err)
		return c.Status == store.CaseClosed && c.Remark == "gate opened for a paying driver"
	}, 15*time.Second, 100*time.Millisecond, "the case is closed with its remark")
	var actions []string
	entries, err := store.ListAudit(ctx, srv.DB.Q(), store.AuditFilter{ObjectType: "case", ObjectID: caseID, Limit: 100})
	require.NoError(t, err)
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	require.Contains(t, actions, "robot.open_gate")
	require.Contains(t, actions, "robot.display")
	require.Contains(t, actions, "case.plate")
	require.Contains(t, actions, "case.pay_code")
	require.Contains(t, actions, "call.hold")
	require.Contains(t, actions, "call.resume")
}

// TestGateCallTransfer: two agents in two browser contexts; amy answers the
// robot's call and hands it to bob, who sees "transfer from amy", accepts,
// and hears the robot (audio packets rise in his browser); amy's page
// returns to idle with "handed to bob"; bob closes the ticket.
func TestGateCallTransfer(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	g := newGateSite(t, srv, "robot8", "robot-secret-8")
	addAgent(t, srv, "amy", "amy-password-1", "11", g.site.ID)
	bob := addAgent(t, srv, "bob", "bob-password-1", "12", g.site.ID)

	amyCtx := browser(t)
	loginAs(t, amyCtx, srv.URL, "amy", "amy-password-1")
	bobCtx, cancelBob := chromedp.NewContext(amyCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelBob)
	loginAs(t, bobCtx, srv.URL, "bob", "bob-password-1")
	openCalls(t, amyCtx, srv.URL)
	openCalls(t, bobCtx, srv.URL)

	dir := t.TempDir()
	robot := sippRobot(t, srv, dir, transferRobotScenario, "message_ooc.xml", "robot8", "robot-secret-8")

	// Both ring; amy takes it.
	waitJS(t, bobCtx, 20*time.Second, "the call rings for bob too", `!!document.querySelector('.call-accept')`)
	click(t, amyCtx, ".call-accept")
	waitJS(t, amyCtx, 20*time.Second, "amy hears the robot",
		`document.querySelector('#call-active')?.dataset.state === 'answered' && Number(document.querySelector('#call-active').dataset.packetsReceived) >= 25`)
	caseID, err := chromedp.Run(amyCtx, chromedp.Evaluate[string](`document.querySelector('#call-active').dataset.caseId`))
	require.NoError(t, err)
	waitJS(t, bobCtx, 10*time.Second, "the call left bob's queue", `!document.querySelector('.call-accept')`)

	// amy picks bob in the transfer dialog.
	click(t, amyCtx, "#call-transfer")
	sel := `.transfer-pick[data-agent-id="` + bob.ID + `"]`
	click(t, amyCtx, sel)
	waitJS(t, amyCtx, 10*time.Second, "amy sees the transfer ringing",
		`document.querySelector('#call-transfer-status')?.dataset.state === 'ringing'`)

	// bob sees it marked as a transfer from amy, and accepts.
	from, err := chromedp.Run(bobCtx, chromedp.Poll[string](`(() => { const el = document.querySelector('li.call-item[data-transfer="true"] .call-transfer-from'); return el ? el.textContent : null })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the transfer rings for bob")
	require.Contains(t, from, "amy")
	click(t, bobCtx, `li.call-item[data-transfer="true"] .call-accept`)
	waitJS(t, bobCtx, 20*time.Second, "bob hears the robot after the transfer",
		`document.querySelector('#call-active')?.dataset.state === 'answered' && Number(document.querySelector('#call-active').dataset.packetsReceived) >= 50`)
	bobCase, err := chromedp.Run(bobCtx, chromedp.Evaluate[string](`document.querySelector('#call-active').dataset.caseId`))
	require.NoError(t, err)
	require.Equal(t, caseID, bobCase, "the same case moved")

	// amy's page is idle with the note.
	waitJS(t, amyCtx, 10*time.Second, "amy's page says the call went to bob",
		`document.querySelector('#calls-handed')?.dataset.by === 'bob' && !document.querySelector('#call-active')`)

	// The robot's audio keeps rising at bob's side.
	n1, err := chromedp.Run(bobCtx, chromedp.Evaluate[int](`Number(document.querySelector('#call-active').dataset.packetsReceived)`))
	require.NoError(t, err)
	waitJS(t, bobCtx, 10*time.Second, "bob's inbound audio keeps rising",
		`Number(document.querySelector('#call-active').dataset.packetsReceived) >= `+strconv.Itoa(n1+25))

	closeTicket(t, bobCtx, "taken over from amy")
	robot.wait(t, 20*time.Second)
	require.Eventually(t, func() bool {
		c, err := store.Get[store.Case](context.Background(), srv.DB.Q(), caseID)
		require.NoError(t, err)
		return c.Status == store.CaseClosed && string(c.HandlerID) == bob.ID
	}, 15*time.Second, 100*time.Millisecond, "the case is closed with bob as handler")
}

// demoParking is the built-in demo parking system, served in memory.
func demoParking(t *testing.T) *parking.Client {
	t.Helper()
	secret := []byte("gatecall-e2e-parking-secret")
	c, err := parking.New(parking.Config{URL: "http://parking-demo.internal/webhook", Secret: secret,
		Transport: parking.InProcess(parking.NewDemo(parking.DemoConfig{Secret: secret}))})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// TestGateCallOut: a robot reports a vehicle waiting at its lane for two
// minutes; the lane shows on the agent's call-out list with its plate and a
// ticking wait; the agent presses Call, the robot (sipp) answers the
// server's INVITE, the same active-call panel opens as an outbound call and
// the robot's audio arrives; closing the ticket hangs up.
func TestGateCallOut(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	g := newGateSite(t, srv, "robot6", "robot-secret-6")
	bctx := browser(t)
	login(t, bctx, srv.URL)
	openCalls(t, bctx, srv.URL)

	since := time.Now().Add(-2 * time.Minute).UTC().Format(time.RFC3339)
	scenario := strings.Replace(calloutRobotScenario, "SINCE", since, 1)
	dir := t.TempDir()
	robot := sippRobot(t, srv, dir, scenario, "dial_answer_ooc.xml", "robot6", "robot-secret-6", "-d", "25000")

	lane := `li.callout-lane[data-device-id="` + g.dev.ID + `"]`
	got, err := chromedp.Run(bctx, chromedp.Poll[[]string](`(() => { const li = document.querySelector('`+lane+`'); if (!li) return null;
		return [li.querySelector('.callout-plate').textContent, li.querySelector('.callout-lane-name').textContent, li.querySelector('.callout-wait').textContent] })()`,
		chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(t, err, "the lane is on the call-out list")
	require.Equal(t, "B67890", got[0])
	require.Contains(t, got[1], "North exit")
	require.Regexp(t, `^\d+:\d\d$`, got[2])
	wait1 := got[2]
	waitJS(t, bctx, 5*time.Second, "the waiting time ticks", `document.querySelector('`+lane+` .callout-wait').textContent !== `+jsString(wait1))

	click(t, bctx, lane+" .callout-call")
	waitJS(t, bctx, 20*time.Second, "the robot answers and its audio arrives in the outbound call's panel",
		`document.querySelector('#call-active')?.dataset.outbound === 'true' && document.querySelector('#call-active').dataset.state === 'answered' &&
		 Number(document.querySelector('#call-active').dataset.packetsReceived) >= 25`)
	caseID, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#call-active').dataset.caseId`))
	require.NoError(t, err)
	closeTicket(t, bctx, "called the waiting driver")
	robot.wait(t, 40*time.Second)
	c, err := store.Get[store.Case](context.Background(), srv.DB.Q(), caseID)
	require.NoError(t, err)
	require.Equal(t, "outbound call", c.Attribute)
	require.Equal(t, g.dev.ID, string(c.DeviceID))
}

// sippRegister opens a robot's scenario: a digest REGISTER as its device.
func sippRegister(name string) string {
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="` + name + `">
` + testenv.SippRegister(120)
}

// sippRegisterInvite is the start of both calling robots: REGISTER, INVITE
// (PCMU), 180/200 once an agent answers, ACK, and the tone looping.
var sippRegisterInvite = sippRegister("gate robot") + testenv.SippCallPCMU("[service]", "", `timeout="60000"`)

// sippAwaitBye ends both robots: the agent's BYE, answered 200.
const sippAwaitBye = `
  <recv request="BYE" timeout="60000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`

// gateRobotScenario: once answered, the robot reports its display
// (sippReportState), then takes the agent's hold and resume re-INVITEs
// (sendonly answered recvonly, then sendrecv) and the BYE.
var gateRobotScenario = sippRegisterInvite + sippReportState +
	sippReinvite("sendonly", "hold", "pause", 2, "recvonly") + sippReinvite("sendrecv", "resume", "resume", 3, "sendrecv") + sippAwaitBye

// sippReportState: half a second into the call the robot reports its state
// (a MESSAGE in the dialog: display text, gate closed, plate A12345).
const sippReportState = `
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[

      MESSAGE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag01[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 MESSAGE
      [routes]
      Max-Forwards: 70
      Content-Type: application/json
      Content-Length: [len]

      {"display":{"mode":"text","payload":"Please scan to pay <b>now</b>"},"gate":"closed","plate":"A12345"}
    ]]>
  </send>
  <recv response="200"/>
`

// calloutRobotScenario: the robot registers, reports a vehicle waiting
// since SINCE (replaced by the test), and stays up for -d ms while the
// server's INVITE is answered by dial_answer_ooc.xml.
var calloutRobotScenario = sippRegister("congested lane robot") + `  <send retrans="500">
    <![CDATA[

      MESSAGE sip:service@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag02[call_number]
      To: <sip:service@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 3 MESSAGE
      Max-Forwards: 70
      Content-Type: application/json
      Content-Length: [len]

      {"display":{"mode":"face"},"gate":"closed","vehicle":{"present":true,"since":"SINCE","plate":"B67890"}}
    ]]>
  </send>
  <recv response="200"/>
  <pause/>
</scenario>
`

// transferRobotScenario: the robot talks until the agent (whoever has the
// call by then) hangs up.
var transferRobotScenario = sippRegisterInvite + sippAwaitBye

// sippReinvite is a robot's side of a re-INVITE inside its call: the offer
// must say a=<want> (checked: the scenario fails otherwise), the robot's
// stream is paused or resumed (rtp), and it answers its SDP version
// <version> with a=<answer>.
func sippReinvite(want, name, rtp string, version int, answer string) string {
	return fmt.Sprintf(`
  <recv request="INVITE" timeout="60000">
    <action>
      <ereg regexp="a=%[1]s" search_in="body" check_it="true" assign_to="%[2]s"/>
    </action>
  </recv>
  <Reference variables="%[2]s"/>
  <nop>
    <action>
      <exec rtp_stream="%[3]s"/>
    </action>
  </nop>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 %[4]d IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=%[5]s

    ]]>
  </send>
  <recv request="ACK"/>
`, want, name, rtp, version, answer)
}
