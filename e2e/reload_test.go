package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/web"
)

// TestGateCallSurvivesReload: the agent reloads the console in the middle
// of a call. The page comes back on the same call and its audio (a new
// PeerConnection on the same bridge), the agent's voice keeps reaching the
// robot, and the robot notices nothing: no BYE, no re-INVITE, the same
// dialog until the agent closes the ticket.
func TestGateCallSurvivesReload(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	newGateSite(t, srv, "robot5", "robot-secret-5")
	bctx := browser(t)
	login(t, bctx, srv.URL)
	openCalls(t, bctx, srv.URL)

	dir := t.TempDir()
	robot := sippRobot(t, srv, dir, abnormalRobotScenario, "message_ooc.xml", "robot5", "robot-secret-5")

	callID, caseID := acceptCall(t, bctx)
	require.Eventually(t, func() bool {
		bs, ok := srv.Hub.BridgeStats(callID)
		return ok && bs.AgentToLeg > 0
	}, 10*time.Second, 50*time.Millisecond, "the agent's microphone reaches the robot")
	before, _ := srv.Hub.BridgeStats(callID)

	require.NoError(t, chromedp.Do(bctx, chromedp.Reload()))

	// The page is new (its counters start at zero) and finds its call again.
	waitJS(t, bctx, 20*time.Second, "after the reload the page is back on the call, with the robot's audio",
		`document.querySelector('#call-active')?.dataset.state === 'answered' && Number(document.querySelector('#call-active').dataset.packetsReceived) >= 25`)
	againCall, againCase := callIDs(t, bctx)
	require.Equal(t, []string{callID, caseID}, []string{againCall, againCase}, "the same call and case")
	require.Eventually(t, func() bool {
		bs, ok := srv.Hub.BridgeStats(callID)
		return ok && bs.AgentToLeg >= before.AgentToLeg+25
	}, 10*time.Second, 50*time.Millisecond, "the agent's microphone reaches the robot again")
	calls := srv.Hub.Calls()
	require.Len(t, calls, 1, "one call on the server")
	require.Equal(t, callID, calls[0].ID)

	closeTicket(t, bctx, "reloaded during the call")
	robot.wait(t, 20*time.Second)
	// The robot's dialog went on untouched: nothing came in it but the
	// agent's BYE at the end (sippReceived lists in-dialog requests).
	require.Empty(t, sippReceived(t, dir, "INVITE"), "no re-INVITE towards the robot")
}
