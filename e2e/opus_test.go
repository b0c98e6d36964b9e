package e2e

import (
	"context"
	"regexp"
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

// hookPeerConnections keeps every RTCPeerConnection the page makes from
// now on in window.__pcs, so the test can read the browser's own getStats
// (decoded samples and codec are not on the page). The console makes its
// PeerConnection when the agent accepts a call.
const hookPeerConnections = `(() => {
	if (window.__pcs) return true;
	window.__pcs = [];
	const Orig = window.RTCPeerConnection;
	window.RTCPeerConnection = class extends Orig {
		constructor(...args) { super(...args); window.__pcs.push(this); }
	};
	return true;
})()`

// inboundAudio reads the inbound audio of the newest PeerConnection:
// packets, decoded samples and the codec's MIME type.
const inboundAudio = `(async () => {
	const pc = (window.__pcs || []).at(-1);
	if (!pc) return null;
	const report = await pc.getStats();
	for (const s of report.values()) {
		if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
		const codec = s.codecId ? report.get(s.codecId) : null;
		return { packets: s.packetsReceived || 0, samples: s.totalSamplesReceived || 0,
			mime: codec ? codec.mimeType : '' };
	}
	return null;
})()`

type browserAudio struct {
	Packets int    `json:"packets"`
	Samples int    `json:"samples"`
	MIME    string `json:"mime"`
}

// TestOpusRobotCallInBrowser: baresip with only its Opus module (a real
// Opus encoder playing a tone) registers and calls in; the agent accepts
// in headless Chromium; the browser receives and decodes Opus (its own
// getStats), and the browser's Opus reaches the robot through our server
// (baresip's RTCP member counters).
func TestOpusRobotCallInBrowser(t *testing.T) {
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	ctx := context.Background()
	now := store.Now()
	site := store.Site{ID: store.NewID(), Name: "South exit", Kind: store.SiteParking, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &site))
	dev := store.Device{ID: store.NewID(), SiteID: site.ID, Name: "Opus robot", Kind: "robot", SIPUsername: "robot7",
		SIPPassword: "robot-secret-7", Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &dev))

	bctx := browser(t)
	login(t, bctx, srv.URL)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/#/calls"), chromedp.WaitVisible(chromedp.CSS("#calls-idle"))))
	_, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('#calls-connection')?.dataset.state === 'connected' || null`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "the console's WebSocket connects")
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](hookPeerConnections))
	require.NoError(t, err)

	sipUDP, _ := srv.SIP.Addr()
	bs := testenv.StartBaresip(t, testenv.BaresipOptions{Registrar: sipUDP.String(), User: "robot7",
		Password: "robot-secret-7", Codecs: []string{"opus"}})
	require.Eventually(t, func() bool {
		b, _ := srv.SIP.Binding(dev.ID)
		return b.Registered
	}, 10*time.Second, 50*time.Millisecond, "baresip registers")
	bs.Do(t, "dial", "sip:desk@"+sipUDP.String())

	require.NoError(t, chromedp.Do(bctx,
		chromedp.WaitVisible(chromedp.CSS(".call-accept")),
		chromedp.Click(chromedp.CSS(".call-accept")),
	), "the call rings in the console")
	bs.WaitEvent(t, "CALL_ESTABLISHED", 15*time.Second)
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`(() => { const el = document.querySelector('#call-active');
		return el && Number(el.dataset.packetsReceived) >= 50 && Number(el.dataset.packetsSent) >= 50 || null })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "audio flows both ways in the browser")

	// the browser decodes Opus: its decoded samples keep rising
	first, err := chromedp.Run(bctx, chromedp.Evaluate[*browserAudio](inboundAudio, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.NotNil(t, first, "no inbound audio in the browser's stats")
	require.Equal(t, "audio/opus", first.MIME, "the browser's inbound codec")
	require.Positive(t, first.Samples, "decoded samples")
	var later *browserAudio
	require.Eventually(t, func() bool {
		later, err = chromedp.Run(bctx, chromedp.Evaluate[*browserAudio](inboundAudio, chromedp.EvalAwaitPromise))
		// more than 0.5 s of 48 kHz audio decoded since the first look
		return err == nil && later != nil && later.Packets > first.Packets && later.Samples >= first.Samples+24000
	}, 15*time.Second, 200*time.Millisecond, "decoded samples rise in the browser")

	// the robot gets the browser's Opus: baresip decodes Opus and counts
	// packets from the server's stream
	debug := bs.Do(t, "audio_debug", "")
	require.Regexp(t, `decode: opus 48000Hz/2ch`, debug, "baresip's decoder")
	require.Eventually(t, func() bool {
		return baresipMostReceived(bs.Do(t, "audio_debug", "")) >= 50
	}, 15*time.Second, 200*time.Millisecond, "the browser's Opus packets reach the robot")

	bs.Do(t, "hangup", "")
	bs.WaitEvent(t, "CALL_CLOSED", 10*time.Second)
	closeTicket(t, bctx, "opus call") // the robot hung up; the agent closes the ticket
	t.Logf("browser: %d Opus packets, %d samples decoded", later.Packets, later.Samples)

	// both legs recorded as Ogg Opus on the case, hashed
	calls, _, err := store.List[store.Case](ctx, srv.DB.Q(), store.Filter{Eq: map[string]string{"device_id": dev.ID}})
	require.NoError(t, err)
	require.Len(t, calls, 1)
	var legs map[string]bool
	require.Eventually(t, func() bool {
		ev, err := store.CaseEvidence(ctx, srv.DB.Q(), calls[0].ID)
		require.NoError(t, err)
		legs = map[string]bool{}
		for _, e := range ev {
			if e.Kind == "call-audio" && e.MediaType == "audio/ogg" && len(e.SHA256) == 64 && e.Size > 1000 {
				legs[map[bool]string{true: "robot", false: "agent"}[strings.Contains(e.Key, "-robot-")]] = true
			}
		}
		return legs["robot"] && legs["agent"]
	}, 15*time.Second, 100*time.Millisecond, "the case holds both legs as Ogg Opus")
}

// baresipMostReceived returns the largest "rcvd=" of baresip's RTCP members
// in an /audio_debug output: packets it received from a source.
func baresipMostReceived(debug string) int {
	most := 0
	for _, m := range regexp.MustCompile(`psent=\d+ rcvd=(\d+)`).FindAllStringSubmatch(debug, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil && n > most {
			most = n
		}
	}
	return most
}
