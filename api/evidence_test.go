package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/api"
	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
)

const (
	testPreRoll  = 2 * time.Second
	testPostRoll = time.Second
)

// forStores runs a test against the local directory and a real MinIO.
func forStores(t *testing.T, test func(t *testing.T, storeURL string)) {
	t.Run("local", func(t *testing.T) { test(t, "") })
	t.Run("minio", func(t *testing.T) { test(t, testenv.MinIO(t).URL("evidence")) })
}

// getURL fetches a link: a path of this server, or a presigned S3 URL.
func (c *client) getURL(u string) response {
	c.e.t.Helper()
	if !strings.HasPrefix(u, "http") {
		return c.do("GET", u, nil)
	}
	res, err := http.Get(u)
	require.NoError(c.e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(c.e.t, err)
	return response{status: res.StatusCode, body: raw, header: res.Header}
}

// forgeLink changes the signature of a link (ours: sig=, S3: X-Amz-Signature=).
func forgeLink(t *testing.T, link string) string {
	for _, p := range []string{"X-Amz-Signature=", "sig="} {
		if i := strings.Index(link, p); i >= 0 {
			j := i + len(p)
			return link[:j] + "0000" + link[j+4:]
		}
	}
	t.Fatalf("no signature in %s", link)
	return ""
}

// recordingEnv is a fixture whose recorder has short pre- and post-rolls
// and segments, so tests take seconds.
func recordingEnv(t *testing.T, storeURL string) *fixture {
	t.Helper()
	e := newEnvWith(t, apitest.Options{
		Store:    storeURL,
		Config:   api.Config{PreRoll: testPreRoll, PostRoll: testPostRoll},
		Recorder: recorder.Config{PreRoll: testPreRoll, PostRoll: testPostRoll, Segment: time.Second, ClipGrace: 5 * time.Second},
	})
	return newFixtureOn(e)
}

// probe is what ffprobe says of a media file.
type probe struct {
	Codec    string
	Width    int
	Height   int
	Duration float64
	Frames   int
}

// ffprobeFile checks that data is a playable MP4: ffprobe reads its stream
// and ffmpeg decodes all of it without an error.
func ffprobeFile(t *testing.T, data []byte) probe {
	t.Helper()
	path := filepath.Join(t.TempDir(), "media.mp4")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames:format=duration", "-of", "json", path).Output()
	require.NoError(t, err, "ffprobe: %s", stderrOf(err))
	var p struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	require.NoError(t, json.Unmarshal(out, &p), "%s", out)
	require.Len(t, p.Streams, 1, "%s", out)
	dec, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", dec)
	require.Empty(t, strings.TrimSpace(string(dec)), "ffmpeg decoding errors")
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	n, _ := strconv.Atoi(p.Streams[0].NbReadFrames)
	return probe{p.Streams[0].CodecName, p.Streams[0].Width, p.Streams[0].Height, d, n}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, v.(string))
	require.NoError(t, err)
	return ts
}

// waitEvidence polls a case until it has n evidence items.
func waitEvidence(t *testing.T, c *client, caseID string, n int, within time.Duration) []map[string]any {
	t.Helper()
	var items []any
	require.Eventually(t, func() bool {
		items = c.do("GET", "/api/v1/cases/"+caseID, nil).json(t)["evidence"].([]any)
		return len(items) >= n
	}, within, 100*time.Millisecond, "evidence of case %s", caseID)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = it.(map[string]any)
	}
	return out
}

func startCameras(t *testing.T, f *fixture, n int, record string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		cam := testenv.FFmpegCamera(t, testenv.CameraOptions{Width: 320, Height: 240, FPS: 25, GOP: 25})
		ids[i] = f.admin.create("/api/v1/cameras", map[string]any{"name": fmt.Sprintf("Channel %d", i+1), "site_id": f.siteA,
			"url": cam.URL(), "role": "channel", "channel": i + 1, "record": record})
		// cameras started apart have their keyframes at other moments
		time.Sleep(300 * time.Millisecond)
	}
	for _, id := range ids {
		waitCameraState(t, f.admin, id, "connected")
	}
	return ids
}

// TestEventClips: a box event gets one clip per channel, cut from the
// pre-roll through the post-roll, the four starting within 100 ms of each
// other; the clips play (ffprobe, ffmpeg), seek (Range), verify, export and
// are audited, and other sites cannot reach them.
func TestEventClips(t *testing.T) { forStores(t, testEventClips) }

func testEventClips(t *testing.T, storeURL string) {
	f := recordingEnv(t, storeURL)
	cams := startCameras(t, f, 4, "events")
	time.Sleep(testPreRoll + 2*time.Second) // let the rings fill

	at := time.Now().Add(-500 * time.Millisecond).UTC()
	r := f.agent.do("POST", "/api/v1/events", map[string]any{"site_id": f.siteA, "kind": "door-open",
		"at": at.Format(time.RFC3339Nano), "camera_ids": cams, "attribute": "door opened without payment"})
	require.Equal(t, 201, r.status, "%s", r.body)
	ev := r.json(t)
	caseID := ev["case_id"].(string)
	require.Equal(t, caseID, ev["id"])
	require.Len(t, ev["clips"], 4)
	for _, c := range ev["clips"].([]any) {
		require.Equal(t, "scheduled", c.(map[string]any)["status"])
	}

	items := waitEvidence(t, f.agent, caseID, 4, 20*time.Second)
	var starts []time.Time
	wantFrom, wantTo := at.Add(-testPreRoll), at.Add(testPostRoll)
	for _, it := range items {
		require.Equal(t, "clip", it["kind"])
		require.Equal(t, "video/mp4", it["media_type"])
		start, end := parseTime(t, it["start"]), parseTime(t, it["end"])
		starts = append(starts, start)
		require.InDelta(t, 0, start.Sub(wantFrom).Seconds(), 0.1, "clip starts at the pre-roll")
		require.InDelta(t, 0, end.Sub(wantTo).Seconds(), 0.1, "clip ends at the post-roll")

		body := f.agent.do("GET", "/api/v1/evidence/"+it["id"].(string)+"/content", nil)
		require.Equal(t, 200, body.status, "%s", body.body)
		require.Equal(t, "video/mp4", body.header.Get("Content-Type"))
		sum := sha256.Sum256(body.body)
		require.Equal(t, it["sha256"], hex.EncodeToString(sum[:]))
		p := ffprobeFile(t, body.body)
		require.Equal(t, "h264", p.Codec)
		require.Equal(t, 320, p.Width)
		require.InDelta(t, end.Sub(start).Seconds(), p.Duration, 0.1, "played duration")
		require.InDelta(t, end.Sub(start).Seconds()*25, float64(p.Frames), 3, "frames shown")

		// seeking: a range request
		rng := f.agent.rangeGet(t, "/api/v1/evidence/"+it["id"].(string)+"/content", 100, 199)
		require.Equal(t, 206, rng.status)
		require.Equal(t, body.body[100:200], rng.body)
	}
	var lo, hi time.Time
	for i, s := range starts {
		if i == 0 || s.Before(lo) {
			lo = s
		}
		if i == 0 || s.After(hi) {
			hi = s
		}
	}
	require.LessOrEqual(t, hi.Sub(lo), 100*time.Millisecond, "the channels start together")

	// integrity
	v := f.reviewer.do("GET", "/api/v1/cases/"+caseID+"/verify", nil)
	require.Equal(t, 200, v.status, "%s", v.body)
	require.Equal(t, true, v.json(t)["ok"], "%s", v.body)
	require.EqualValues(t, 4, v.json(t)["checked"])

	// export: the objects and a manifest with their hashes
	exp := f.reviewer.do("GET", "/api/v1/cases/"+caseID+"/export", nil)
	require.Equal(t, 200, exp.status, "%s", exp.body)
	zr, err := zip.NewReader(bytes.NewReader(exp.body), int64(len(exp.body)))
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		require.NoError(t, err)
		files[zf.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var manifest struct {
		Evidence []struct {
			File   string `json:"file"`
			SHA256 string `json:"sha256"`
		} `json:"evidence"`
		Verify struct {
			OK bool `json:"ok"`
		} `json:"verify"`
	}
	require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
	require.True(t, manifest.Verify.OK)
	require.Len(t, manifest.Evidence, 4)
	for _, e := range manifest.Evidence {
		sum := sha256.Sum256(files[e.File])
		require.Equal(t, e.SHA256, hex.EncodeToString(sum[:]), e.File)
	}

	// a short-lived link works without a login; a forged one does not
	first := items[0]["id"].(string)
	link := f.reviewer.do("POST", "/api/v1/evidence/"+first+"/link", nil)
	require.Equal(t, 200, link.status, "%s", link.body)
	u := link.json(t)["url"].(string)
	anon := f.anonymous()
	got := anon.getURL(u)
	require.Equal(t, 200, got.status, "%s", got.body)
	require.Equal(t, items[0]["sha256"], hex.EncodeToString(sha(got.body)))
	require.Equal(t, 403, anon.getURL(forgeLink(t, u)).status)
	require.Equal(t, 401, anon.do("GET", "/api/v1/evidence/"+first+"/content", nil).status)

	// other sites: an agent of site B does not see site A's evidence
	f.admin.create("/api/v1/users", map[string]any{"username": "agentb", "password": "agentb-password", "role": "agent",
		"site_ids": []string{f.siteB}})
	agentB := f.login("agentb", "agentb-password")
	require.Equal(t, 404, agentB.do("GET", "/api/v1/evidence/"+first+"/content", nil).status)
	require.Equal(t, 404, agentB.do("GET", "/api/v1/cases/"+caseID, nil).status)
	require.Empty(t, agentB.do("GET", "/api/v1/cases?kind=event", nil).json(t)["items"])
	require.Equal(t, 403, f.agent.do("GET", "/api/v1/cases/"+caseID+"/verify", nil).status)

	// disposition: abnormal needs a known type; the handler is recorded
	bad := f.reviewer.do("POST", "/api/v1/cases/"+caseID+"/disposition", map[string]any{"disposition": "abnormal"})
	require.Equal(t, 400, bad.status, "%s", bad.body)
	ok := f.reviewer.do("POST", "/api/v1/cases/"+caseID+"/disposition", map[string]any{"disposition": "abnormal",
		"abnormal_type": "deliberate-theft", "remark": "took two items"})
	require.Equal(t, 200, ok.status, "%s", ok.body)
	c := ok.json(t)
	require.Equal(t, "closed", c["status"])
	require.NotEmpty(t, c["handler_id"])
	require.NotNil(t, c["disposed_at"])
	abnormal := f.agent.do("GET", "/api/v1/cases?site_id="+f.siteA+"&kind=event&disposition=abnormal", nil).json(t)["items"].([]any)
	require.Len(t, abnormal, 1)
	require.Empty(t, f.agent.do("GET", "/api/v1/cases?site_id="+f.siteA+"&kind=event&disposition=none", nil).json(t)["items"])
	byCam := f.agent.do("GET", "/api/v1/cases?camera_id="+cams[2], nil).json(t)["items"].([]any)
	require.Len(t, byCam, 1)
	sites := f.agent.do("GET", "/api/v1/review/sites", nil).json(t)["items"].([]any)
	require.Len(t, sites, 1, "an agent sees only their boxes")
	require.EqualValues(t, 1, sites[0].(map[string]any)["abnormal"])

	// every access is in the audit log
	actions := map[string]int{}
	for _, e := range f.admin.do("GET", "/api/v1/audit?object_id="+caseID+"&limit=500", nil).json(t)["items"].([]any) {
		actions[e.(map[string]any)["action"].(string)]++
	}
	for _, a := range []string{"event.create", "evidence.add", "evidence.play", "evidence.link", "case.verify", "case.export", "case.disposition"} {
		require.NotZero(t, actions[a], "audit action %s in %v", a, actions)
	}
	require.Equal(t, 4, actions["evidence.add"])
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func (c *client) rangeGet(t *testing.T, path string, from, to int) response {
	t.Helper()
	req, err := http.NewRequest("GET", c.e.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, body: raw, header: res.Header}
}

// TestEvidenceTamper: verify names each object altered, truncated,
// deleted or swapped in the store.
func TestEvidenceTamper(t *testing.T) { forStores(t, testEvidenceTamper) }

func testEvidenceTamper(t *testing.T, storeURL string) {
	f := recordingEnv(t, storeURL)
	cams := startCameras(t, f, 1, "events")
	time.Sleep(testPreRoll)
	var cases []string
	for range 4 {
		id := f.agent.create("/api/v1/events", map[string]any{"site_id": f.siteA, "kind": "payment",
			"at": time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano), "camera_ids": cams})
		cases = append(cases, id)
	}
	ctx := context.Background()
	keys := make([]string, len(cases))
	for i, id := range cases {
		keys[i] = waitEvidence(t, f.agent, id, 1, 20*time.Second)[0]["key"].(string)
		require.Equal(t, true, f.reviewer.do("GET", "/api/v1/cases/"+id+"/verify", nil).json(t)["ok"])
	}
	read := func(key string) []byte {
		rc, _, err := f.objects.Get(ctx, key, nil)
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return b
	}
	put := func(key string, b []byte) {
		_, err := f.objects.Put(ctx, key, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{ContentType: "video/mp4"})
		require.NoError(t, err)
	}
	original0 := read(keys[0])
	flipped := bytes.Clone(original0)
	flipped[len(flipped)/2] ^= 0x01
	put(keys[0], flipped)
	put(keys[1], read(keys[1])[:1000])
	require.NoError(t, f.objects.Delete(ctx, keys[2]))
	// case 3's object replaced by case 0's clip, as if two were swapped
	put(keys[3], original0)

	want := []string{"object altered", "object truncated", "object missing", "object"}
	for i, id := range cases {
		v := f.reviewer.do("GET", "/api/v1/cases/"+id+"/verify", nil).json(t)
		require.Equal(t, false, v["ok"], "case %d", i)
		problems := v["problems"].([]any)
		require.Len(t, problems, 1, "%v", problems)
		p := problems[0].(map[string]any)
		require.Equal(t, keys[i], p["key"])
		require.Contains(t, p["problem"], want[i])
	}
}

// TestContinuousRecording: a continuous camera's segments are listed by
// time, follow each other without gaps, match their hashes and play.
func TestContinuousRecording(t *testing.T) { forStores(t, testContinuousRecording) }

func testContinuousRecording(t *testing.T, storeURL string) {
	f := recordingEnv(t, storeURL)
	cams := startCameras(t, f, 1, "continuous")
	from := time.Now().UTC()
	time.Sleep(6 * time.Second)
	var items []any
	require.Eventually(t, func() bool {
		r := f.agent.do("GET", "/api/v1/cameras/"+cams[0]+"/recordings?from="+from.Add(-time.Minute).Format(time.RFC3339), nil)
		require.Equal(t, 200, r.status, "%s", r.body)
		items = r.json(t)["items"].([]any)
		return len(items) >= 4
	}, 15*time.Second, 200*time.Millisecond)
	var prevEnd time.Time
	for i, it := range items {
		m := it.(map[string]any)
		start, end := parseTime(t, m["start"]), parseTime(t, m["end"])
		require.True(t, end.After(start))
		if i > 0 {
			require.InDelta(t, 0, start.Sub(prevEnd).Seconds(), 0.05, "segment %d follows the previous one", i)
		}
		prevEnd = end
		body := f.agent.do("GET", "/api/v1/recordings/"+m["id"].(string)+"/content", nil)
		require.Equal(t, 200, body.status)
		require.Equal(t, m["sha256"], hex.EncodeToString(sha(body.body)))
		require.EqualValues(t, len(body.body), m["size"])
		p := ffprobeFile(t, body.body)
		require.Equal(t, "h264", p.Codec)
		require.InDelta(t, end.Sub(start).Seconds(), p.Duration, 0.1)
	}
	// an event older than the pre-roll kept in memory gets the continuous
	// segments of its span
	time.Sleep(time.Until(from.Add(12 * time.Second)))
	at := from.Add(3 * time.Second)
	r := f.agent.do("POST", "/api/v1/events", map[string]any{"site_id": f.siteA, "kind": "manual",
		"at": at.Format(time.RFC3339Nano), "camera_ids": cams})
	require.Equal(t, 201, r.status, "%s", r.body)
	clip := r.json(t)["clips"].([]any)[0].(map[string]any)
	require.Equal(t, "from_recordings", clip["status"], "%v", clip)
	n := int(clip["segments"].(float64))
	require.GreaterOrEqual(t, n, 3, "pre-roll 2 s + post-roll 1 s of 1 s segments")
	caseID := r.json(t)["case_id"].(string)
	for _, ev := range waitEvidence(t, f.agent, caseID, n, 20*time.Second) {
		require.Equal(t, "recording", ev["kind"])
		require.True(t, parseTime(t, ev["start"]).Before(at.Add(testPostRoll)))
		require.True(t, parseTime(t, ev["end"]).After(at.Add(-testPreRoll)))
	}
	require.Equal(t, true, f.reviewer.do("GET", "/api/v1/cases/"+caseID+"/verify", nil).json(t)["ok"])

	// other sites' agents do not see them
	f.admin.create("/api/v1/users", map[string]any{"username": "agentb", "password": "agentb-password", "role": "agent",
		"site_ids": []string{f.siteB}})
	require.Equal(t, 404, f.login("agentb", "agentb-password").do("GET", "/api/v1/cameras/"+cams[0]+"/recordings", nil).status)
	require.Equal(t, 400, f.agent.do("GET", "/api/v1/cameras/"+cams[0]+"/recordings?from=yesterday", nil).status)
}

// TestRecordingThroughStoreOutage: MinIO stopped for a minute while a
// continuous camera and an event record; when it is back, every second is
// in the bucket and indexed without a gap, and no multipart upload is left.
func TestRecordingThroughStoreOutage(t *testing.T) {
	outage := 60 * time.Second
	if testing.Short() {
		outage = 10 * time.Second
	}
	minioSrv := testenv.MinIO(t)
	f := recordingEnv(t, minioSrv.URL("outage"))
	cams := startCameras(t, f, 1, "continuous")
	list := func() []any {
		r := f.agent.do("GET", "/api/v1/cameras/"+cams[0]+"/recordings?from="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), nil)
		require.Equal(t, 200, r.status, "%s", r.body)
		return r.json(t)["items"].([]any)
	}
	require.Eventually(t, func() bool { return len(list()) >= 2 }, 20*time.Second, 200*time.Millisecond)

	minioSrv.Stop(t)
	stopped := time.Now()
	time.Sleep(outage / 2)
	caseID := f.agent.create("/api/v1/events", map[string]any{"site_id": f.siteA, "kind": "alarm",
		"at": time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano), "camera_ids": cams})
	time.Sleep(outage - time.Since(stopped))
	require.Positive(t, f.srv.Spool.Stats().Pending, "segments wait in the spool")
	minioSrv.Start(t)
	back := time.Now()

	var items []any
	require.Eventually(t, func() bool {
		items = list()
		if len(items) == 0 {
			return false
		}
		last := parseTime(t, items[len(items)-1].(map[string]any)["end"])
		return last.After(back) && f.srv.Spool.Stats().Pending == 0
	}, 60*time.Second, 250*time.Millisecond, "the spool drains")
	first := parseTime(t, items[0].(map[string]any)["start"])
	require.True(t, first.Before(stopped))
	var prevEnd time.Time
	total := time.Duration(0)
	for i, it := range items {
		m := it.(map[string]any)
		start, end := parseTime(t, m["start"]), parseTime(t, m["end"])
		if i > 0 {
			require.InDelta(t, 0, start.Sub(prevEnd).Seconds(), 0.05, "no gap before segment %d", i)
		}
		total += end.Sub(start)
		prevEnd = end
	}
	require.InDelta(t, prevEnd.Sub(first).Seconds(), total.Seconds(), 0.1, "every second is recorded")
	require.Greater(t, prevEnd.Sub(first), outage)
	waitEvidence(t, f.agent, caseID, 1, 30*time.Second)
	require.Equal(t, true, f.reviewer.do("GET", "/api/v1/cases/"+caseID+"/verify", nil).json(t)["ok"])
	for u := range minioSrv.Client(t).ListIncompleteUploads(context.Background(), "outage", "", true) {
		require.NoError(t, u.Err)
		t.Errorf("incomplete upload left: %s", u.Key)
	}
}
