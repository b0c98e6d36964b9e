package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
)

func spoolEntries(t *testing.T, data string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(data, "spool", "*.json"))
	require.NoError(t, err)
	return len(m)
}

// TestCrashKeepsRecordings: with the store down, a continuous camera's
// segments wait in the spool; kill -9 the server; on restart (store back)
// every segment committed before the kill is uploaded and indexed, the
// recording has no gap but the crash's, no multipart upload is left
// behind, and `attendant verify` finds the evidence intact.
func TestCrashKeepsRecordings(t *testing.T) {
	minioSrv := testenv.MinIO(t)
	bucket := "crash-test"
	data := t.TempDir()
	env := []string{"ATTENDANT_ADMIN_PASSWORD=admin-pass-123"}
	args := []string{"--data", data, "--store", minioSrv.URL(bucket), "--segment", "1s", "--preroll", "2s", "--postroll", "1s"}
	s := startServer(t, env, args...)
	cam := testenv.FFmpegCamera(t, testenv.CameraOptions{Width: 320, Height: 240, FPS: 25, GOP: 25})

	_, login := call(t, "POST", s.url+"/api/v1/login", "", map[string]any{"username": "admin", "password": "admin-pass-123"})
	token := login["token"].(string)
	_, site := call(t, "POST", s.url+"/api/v1/sites", token, map[string]any{"name": "Box", "kind": "box"})
	code, camera := call(t, "POST", s.url+"/api/v1/cameras", token, map[string]any{"name": "ch1", "site_id": site["id"],
		"url": cam.URL(), "role": "channel", "channel": 1, "record": "continuous"})
	require.Equal(t, 201, code, "%v", camera)
	camID := camera["id"].(string)
	recordings := func(url, token string) []any {
		code, body := call(t, "GET", url+"/api/v1/cameras/"+camID+"/recordings?from="+
			time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), token, nil)
		require.Equal(t, 200, code, "%v", body)
		return body["items"].([]any)
	}
	require.Eventually(t, func() bool { return len(recordings(s.url, token)) >= 3 }, 30*time.Second, 200*time.Millisecond)

	// an event whose clip is in the store before the crash
	code, ev := call(t, "POST", s.url+"/api/v1/events", token, map[string]any{"site_id": site["id"], "kind": "door-open",
		"at": time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)})
	require.Equal(t, 201, code, "%v", ev)
	caseID := ev["case_id"].(string)
	require.Eventually(t, func() bool {
		_, c := call(t, "GET", s.url+"/api/v1/cases/"+caseID, token, nil)
		return len(c["evidence"].([]any)) == 1
	}, 20*time.Second, 200*time.Millisecond)

	// the store goes away: segments pile up in the spool
	minioSrv.Stop(t)
	require.Eventually(t, func() bool { return spoolEntries(t, data) >= 3 }, 30*time.Second, 200*time.Millisecond)
	indexedBefore := len(recordings(s.url, token))
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
	<-s.done
	s.done <- nil
	pending := spoolEntries(t, data)
	require.GreaterOrEqual(t, pending, 3)

	minioSrv.Start(t)
	s2 := startServer(t, env, args...)
	_, login = call(t, "POST", s2.url+"/api/v1/login", "", map[string]any{"username": "admin", "password": "admin-pass-123"})
	token = login["token"].(string)
	require.Eventually(t, func() bool { return spoolEntries(t, data) < pending }, 60*time.Second, 200*time.Millisecond,
		"the spool drains after the restart")
	var items []any
	require.Eventually(t, func() bool {
		items = recordings(s2.url, token)
		return len(items) >= indexedBefore+pending
	}, 60*time.Second, 200*time.Millisecond, "every segment committed before the kill is indexed")

	// no gaps but the crash's (the restart takes a few seconds)
	gaps := 0
	var prevEnd time.Time
	for i, it := range items {
		m := it.(map[string]any)
		start, _ := time.Parse(time.RFC3339Nano, m["start"].(string))
		end, _ := time.Parse(time.RFC3339Nano, m["end"].(string))
		if i > 0 && start.Sub(prevEnd).Abs() > 100*time.Millisecond {
			gaps++
		}
		prevEnd = end
	}
	require.LessOrEqual(t, gaps, 1, "only the crash leaves a gap")

	// nothing half-uploaded is left in the bucket
	ctx := context.Background()
	for u := range minioSrv.Client(t).ListIncompleteUploads(ctx, bucket, "", true) {
		require.NoError(t, u.Err)
		t.Errorf("incomplete upload left: %s", u.Key)
	}
	_, c := call(t, "GET", s2.url+"/api/v1/cases/"+caseID, token, nil)
	clipKey := c["evidence"].([]any)[0].(map[string]any)["key"].(string)
	s2.stop(t)

	// the evidence verifies from the command line
	bin, err := buildBinary()
	require.NoError(t, err)
	cmd := exec.Command(bin, append([]string{"verify", "--case", caseID}, "--data", data, "--store", minioSrv.URL(bucket))...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "case "+caseID+": intact (1 objects")
	require.Contains(t, string(out), "audit log: intact")

	// a deleted object fails verification, naming the key
	require.NoError(t, minioSrv.Client(t).RemoveObject(ctx, bucket, clipKey, minio.RemoveObjectOptions{}))
	cmd = exec.Command(bin, "verify", "--data", data, "--store", minioSrv.URL(bucket))
	cmd.Env = os.Environ()
	out, err = cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 1, exit.ExitCode(), "%s", out)
	require.Contains(t, string(out), clipKey+": object missing from the store")
}
