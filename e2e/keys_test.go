package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/web"
)

// TestRobotKeysAndHoldInBrowser: baresip as a G.711 robot calls in; the
// agent accepts in Chromium. Keys pressed at the robot (RFC 4733) show on
// the gate-call page in order; the robot putting the call on hold and
// taking it off (its own re-INVITEs) shows as held by the robot and back.
func TestRobotKeysAndHoldInBrowser(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	g := newGateSite(t, srv, "robot8", "robot-secret-8")

	bctx := browser(t)
	login(t, bctx, srv.URL)
	openCalls(t, bctx, srv.URL)

	sipUDP, _ := srv.SIP.Addr()
	bs := testenv.StartBaresip(t, testenv.BaresipOptions{Registrar: sipUDP.String(), User: "robot8", Password: "robot-secret-8"})
	require.Eventually(t, func() bool {
		b, _ := srv.SIP.Binding(g.dev.ID)
		return b.Registered
	}, 10*time.Second, 50*time.Millisecond, "baresip registers")
	bs.Do(t, "dial", "sip:desk@"+sipUDP.String())
	acceptCall(t, bctx)
	bs.WaitEvent(t, "CALL_ESTABLISHED", 15*time.Second)

	bs.Do(t, "sndcode", "19#*")
	waitJS(t, bctx, 10*time.Second, "the robot's keys show on the page, in order",
		`document.querySelector('#call-dtmf')?.dataset.digits === '19#*'`)

	bs.Do(t, "hold", "")
	waitJS(t, bctx, 10*time.Second, "the robot holds the call",
		`document.querySelector('#call-hold')?.dataset.heldBy === 'robot'`)
	bs.Do(t, "resume", "")
	waitJS(t, bctx, 10*time.Second, "the robot takes the call off hold",
		`document.querySelector('#call-hold')?.dataset.heldBy === ''`)

	closeTicket(t, bctx, "keys and hold from the robot")
	bs.WaitEvent(t, "CALL_CLOSED", 10*time.Second)
}
