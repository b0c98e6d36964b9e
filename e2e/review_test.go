package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
	"github.com/attendant/attendant/web"
)

// apiCall makes one JSON API call with a bearer token.
func apiCall(t *testing.T, method, url, token string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	require.Less(t, res.StatusCode, 300, "%s %s: %v", method, url, m)
	return m
}

// TestReviewEventInBrowser: an event's clips from three channels play side
// by side in the review page, in sync, and the reviewer marks it abnormal
// through the form.
func TestReviewEventInBrowser(t *testing.T) {
	const preRoll, postRoll = 2 * time.Second, time.Second
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler(),
		Config:   api.Config{PreRoll: preRoll, PostRoll: postRoll},
		Recorder: recorder.Config{PreRoll: preRoll, PostRoll: postRoll, ClipGrace: 5 * time.Second}})
	ctx := context.Background()
	now := store.Now()
	site := store.Site{ID: store.NewID(), Name: "A1004", Kind: store.SiteBox, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, srv.DB.Q(), &site))
	var camIDs []string
	for i := range 3 {
		cam := testenv.FFmpegCamera(t, testenv.CameraOptions{Width: 320, Height: 240, FPS: 25, GOP: 25})
		c := store.Camera{ID: store.NewID(), SiteID: site.ID, Name: fmt.Sprintf("Channel %d", i+1), URL: cam.URL(), Role: "channel",
			Channel: i + 1, Transport: "tcp", Record: "events", Enabled: true, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, store.Insert(ctx, srv.DB.Q(), &c))
		camIDs = append(camIDs, c.ID)
	}
	require.NoError(t, srv.API.LoadCameras(ctx))
	require.Eventually(t, func() bool {
		for _, id := range camIDs {
			if st, ok := srv.Cameras.State(id); !ok || st.State != media.StateConnected {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond)
	time.Sleep(preRoll + 2*time.Second)

	token := apiCall(t, "POST", srv.URL+"/api/v1/login", "", map[string]any{"username": "admin", "password": adminPassword})["token"].(string)
	ev := apiCall(t, "POST", srv.URL+"/api/v1/events", token, map[string]any{"site_id": site.ID, "kind": "door-open",
		"at": time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano), "attribute": "door open, nobody paid"})
	caseID := ev["case_id"].(string)
	require.Eventually(t, func() bool {
		items, err := store.CaseEvidence(ctx, srv.DB.Q(), caseID)
		require.NoError(t, err)
		return len(items) == 3
	}, 30*time.Second, 100*time.Millisecond, "three clips stored")

	bctx := browser(t)
	login(t, bctx, srv.URL)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/#/review/"+site.ID+"/"+caseID)))
	_, err := chromedp.Run(bctx, chromedp.Poll[bool](
		`document.querySelector('#review-event')?.dataset.readyCount === '3' || null`, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the three clips load")
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#review-play"))))
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](
		`[...document.querySelectorAll('video.review-video')].every(v => !v.paused && v.currentTime > 1) || null`,
		chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "the clips play")
	skew, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#review-event').dataset.maxSkew`))
	require.NoError(t, err)
	var s float64
	_, err = fmt.Sscan(skew, &s)
	require.NoError(t, err)
	require.LessOrEqual(t, s, 0.1, "the channels play in sync")

	require.NoError(t, chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#review-abnormal")),
		chromedp.WaitVisible(chromedp.CSS("#review-abnormal-type")),
	))
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('#review-abnormal-type');
		s.value = 'deliberate-theft'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("#review-remark"), "took two items without paying"),
		chromedp.Click(chromedp.CSS("#review-submit")),
		chromedp.WaitVisible(chromedp.CSS("#review-disposed")),
	))
	c, err := store.Get[store.Case](ctx, srv.DB.Q(), caseID)
	require.NoError(t, err)
	require.Equal(t, "abnormal", c.Disposition)
	require.Equal(t, "deliberate-theft", c.AbnormalType)
	require.Equal(t, "took two items without paying", c.Remark)
	require.NotEmpty(t, c.HandlerID)
}
