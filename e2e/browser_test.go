// Package e2e drives the real web app in headless Chromium against a real
// server on loopback.
package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/store"
	"github.com/attendant/attendant/web"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const adminPassword = "browser-admin-pw"

func startServer(t *testing.T) (string, *store.DB, *api.Server) {
	t.Helper()
	srv := apitest.Start(t, apitest.Options{AdminPassword: adminPassword, Web: web.Handler()})
	return srv.URL, srv.DB, srv.API
}

// browser starts headless Chromium with the flags that work on loopback
// (shared/recipes.md).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not installed; make test installs it")
		}
		t.Skip("chromium not installed (make test installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// a fake microphone that needs no permission prompt (the agent talks)
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// TestLoginLanguageAndCreateSite logs in through the page, switches the
// language, creates a site through the admin form and sees it listed.
func TestLoginLanguageAndCreateSite(t *testing.T) {
	url, db, _ := startServer(t)
	ctx := browser(t)
	const siteName = "北门停车场 North lot"

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, steps...))
	}
	do(
		chromedp.Navigate(url+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-username")),
		// A wrong password shows an error and stays on the page.
		chromedp.SendKeys(chromedp.CSS("#login-username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "not-it"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.getElementById("login-password").value = ""; return true })()`))
	require.NoError(t, err)
	do(
		chromedp.SendKeys(chromedp.CSS("#login-password"), adminPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="#/admin/sites"]`)),
	)
	navBefore, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`a[href="#/admin/sites"]`)))
	require.NoError(t, err)
	do(chromedp.Click(chromedp.CSS("#lang-switch")))
	lang, err := chromedp.Run(ctx, chromedp.Poll[string](
		`document.documentElement.lang.startsWith("zh") ? document.documentElement.lang : null`,
		chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err)
	require.Equal(t, "zh-CN", lang)
	navAfter, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`a[href="#/admin/sites"]`)))
	require.NoError(t, err)
	require.NotEqual(t, navBefore, navAfter, "the nav is translated")
	require.Regexp(t, `\p{Han}`, navAfter, "zh-CN nav shows Chinese")

	do(
		chromedp.Click(chromedp.CSS(`a[href="#/admin/sites"]`)),
		chromedp.WaitVisible(chromedp.CSS("#sites-table")),
		chromedp.Click(chromedp.CSS("#site-new")),
		chromedp.WaitVisible(chromedp.CSS("#site-name")),
		chromedp.SendKeys(chromedp.CSS("#site-name"), siteName),
		chromedp.SendKeys(chromedp.CSS("#site-code"), "N-01"),
	)
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById("site-kind"); s.value = "parking";
		s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`))
	require.NoError(t, err)
	do(chromedp.Click(chromedp.CSS("#site-save")))
	listed, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`document.getElementById("sites-table").innerText.includes(`+jsString(siteName)+`) || null`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err)
	require.True(t, listed)

	// The site is really stored, with what the form said.
	sites, _, err := store.List[store.Site](context.Background(), db.Q(), store.Filter{})
	require.NoError(t, err)
	require.Len(t, sites, 1)
	require.Equal(t, siteName, sites[0].Name)
	require.Equal(t, "parking", sites[0].Kind)
	require.Equal(t, "N-01", sites[0].Code)

	// Reloading keeps the login (cookie) and the language (localStorage).
	do(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#sites-table")))
	stillZh, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.lang === "zh-CN"`))
	require.NoError(t, err)
	require.True(t, stillZh)

	res, err := http.Get(url + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.True(t, strings.Contains(string(body), "app.js"), "index.html served")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// login signs in through the login page.
func login(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(url+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-username")),
		chromedp.SendKeys(chromedp.CSS("#login-username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), adminPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="#/cameras"]`)),
	))
}

// TestLiveCameraInConsole plays a real ffmpeg camera in the console page:
// the browser's own getStats must count decoded frames.
func TestLiveCameraInConsole(t *testing.T) {
	url, db, srv := startServer(t)
	cam := testenv.FFmpegCamera(t, testenv.CameraOptions{})
	ctx := context.Background()
	now := store.Now()
	site := store.Site{ID: store.NewID(), Name: "A1004", Kind: store.SiteBox, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, db.Q(), &site))
	camera := store.Camera{ID: store.NewID(), SiteID: site.ID, Name: "Channel 1", URL: cam.URL(), Role: "channel",
		Channel: 1, Transport: "tcp", Record: "events", Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, db.Q(), &camera))
	require.NoError(t, srv.LoadCameras(ctx))

	bctx := browser(t)
	login(t, bctx, url)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(url+"/#/cameras/"+site.ID)))
	frames, err := chromedp.Run(bctx, chromedp.Poll[int](
		`(() => { const el = document.querySelector(".camera-tile[data-camera-id='`+camera.ID+`']");
		  const n = el ? Number(el.dataset.framesDecoded || 0) : 0; return n >= 25 ? n : null })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the browser decoded no video")
	require.GreaterOrEqual(t, frames, 25)
}
