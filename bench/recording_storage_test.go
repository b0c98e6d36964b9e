//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

// ttfbResult is a series of range requests through one path.
type ttfbResult struct {
	name  string
	aim   bool // the aim is about this path
	ttfb  []time.Duration
	total []time.Duration
}

// linkTTL is how long evidence links live (the API's).
const linkTTL = 15 * time.Minute

// rangeTTFB times range requests the way a player seeking in evidence
// makes them: straight to a presigned MinIO URL (the aim), and, for
// comparison, through the server's own content endpoint — by an HMAC-signed
// link on the local store, and by a session token on MinIO.
func (h *recHarness) rangeTTFB(tb testing.TB) []ttfbResult {
	tb.Helper()
	if h.res.ttfb != nil {
		return h.res.ttfb
	}
	ctx := context.Background()
	cfg := h.cfg
	data := randomBytes(int(cfg.rangeObject), 1)

	objects, err := objstore.Open(ctx, h.minio.URL("ttfb"), tb.TempDir(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer objects.Close()
	const key = "sites/bench-site/ttfb/clip.mp4"
	if _, err := objects.Put(ctx, key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{ContentType: "video/mp4"}); err != nil {
		tb.Fatal(err)
	}
	link, err := objects.PresignGet(ctx, key, linkTTL)
	if err != nil {
		tb.Fatal(err)
	}
	res := []ttfbResult{h.ranges(tb, "presigned MinIO URL, direct", true, link, "", data)}

	// the server, wired by apitest, on the local store: POST .../link
	// gives an HMAC-signed URL of the server itself
	srv, token, evID := h.apiWithEvidence(tb, "", data)
	var lk struct {
		URL string `json:"url"`
	}
	if err := apiCall(srv.URL, token, "POST", "/api/v1/evidence/"+evID+"/link", &lk); err != nil {
		tb.Fatal(err)
	}
	res = append(res, h.ranges(tb, "server signed link (GET …/content?sig=), local store", false, srv.URL+lk.URL, "", data))

	// the server on MinIO: the review console's path, with a session
	srv, token, evID = h.apiWithEvidence(tb, h.minio.URL("ttfb-api"), data)
	res = append(res, h.ranges(tb, "server GET …/content with a session, MinIO store", false,
		srv.URL+"/api/v1/evidence/"+evID+"/content", token, data))
	h.res.ttfb = res
	return res
}

// ranges makes cfg.ranges sequential GETs of random ranges of data at url
// on one keep-alive connection, each read to the end and checked.
func (h *recHarness) ranges(tb testing.TB, name string, aim bool, url, token string, data []byte) ttfbResult {
	tb.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	size := h.cfg.rangeSize
	rng := rand.New(rand.NewPCG(7, 11))
	r := ttfbResult{name: name, aim: aim}
	buf := make([]byte, size)
	for i := range h.cfg.ranges {
		off := rng.Int64N(int64(len(data)) - size + 1)
		var first time.Time
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotFirstResponseByte: func() { first = time.Now() },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+size-1))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			tb.Fatalf("%s: range request %d: %v", name, i, err)
		}
		n, err := io.ReadFull(resp.Body, buf)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		end := time.Now()
		if resp.StatusCode != http.StatusPartialContent || err != nil || int64(n) != size || !bytes.Equal(buf, data[off:off+size]) {
			tb.Fatalf("%s: range request %d: status %d, %d bytes (%v), want 206 and the %d bytes at %d", name, i, resp.StatusCode, n, err, size, off)
		}
		r.ttfb = append(r.ttfb, first.Sub(start))
		r.total = append(r.total, end.Sub(start))
	}
	return r
}

// apiWithEvidence starts the whole server in-process (apitest) on the
// store at storeURL ("" is a local directory) with one evidence object
// holding data, and logs in as admin.
func (h *recHarness) apiWithEvidence(tb testing.TB, storeURL string, data []byte) (*apitest.Server, string, string) {
	tb.Helper()
	ctx := context.Background()
	const password = "bench-admin-password"
	srv := apitest.Start(tb, apitest.Options{AdminPassword: password, Store: storeURL})
	if err := insertSite(ctx, srv.DB, benchSite); err != nil {
		tb.Fatal(err)
	}
	caseID, err := insertCase(ctx, srv.DB, store.CaseEvent, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now().UTC()
	key := recorder.EvidenceKey(benchSite, caseID, "clip-ttfb", start, "mp4")
	info, err := srv.Objects.Put(ctx, key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{ContentType: "video/mp4"})
	if err != nil {
		tb.Fatal(err)
	}
	ev := store.Evidence{CaseID: caseID, Key: key, Kind: "clip", MediaType: "video/mp4", Start: start,
		End: start.Add(3 * time.Second), Size: info.Size, SHA256: info.SHA256}
	if err := appendEvidence(ctx, srv.DB, &ev); err != nil {
		tb.Fatal(err)
	}
	var login struct {
		Token string `json:"token"`
	}
	body := fmt.Sprintf(`{"username":"admin","password":%q}`, password)
	if err := apiCallBody(srv.URL, "", "POST", "/api/v1/login", body, &login); err != nil {
		tb.Fatal(err)
	}
	return srv, login.Token, ev.ID
}

func apiCall(base, token, method, path string, out any) error {
	return apiCallBody(base, token, method, path, "", out)
}

func apiCallBody(base, token, method, path, body string, out any) error {
	req, err := http.NewRequest(method, base+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// verifyResult is recorder.VerifyCase on one case, run several times.
type verifyResult struct {
	name    string
	metric  string // for b.ReportMetric
	objects int
	bytes   int64
	runs    []time.Duration
	ok      bool
}

func (v *verifyResult) median() time.Duration { return percentile(v.runs, 50) }

// verify builds a 1-hour call's evidence — verifyObjects objects of 10 s
// of G.711 each, appended to the case's chain with their audit anchors as
// the recorder does — and the same bytes as one object, on the local store
// and on MinIO (SQLite both times), and times recorder.VerifyCase on each.
// The objects were just written: the page cache is warm.
func (h *recHarness) verify(tb testing.TB) []verifyResult {
	tb.Helper()
	if h.res.verify != nil {
		return h.res.verify
	}
	ctx := context.Background()
	cfg := h.cfg
	db, err := store.Open(ctx, "", tb.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if err := insertSite(ctx, db, benchSite); err != nil {
		tb.Fatal(err)
	}
	local, err := objstore.NewLocal(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	defer local.Close()
	s3, err := objstore.Open(ctx, h.minio.URL("verify"), tb.TempDir(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer s3.Close()

	total := cfg.verifyObjects * cfg.verifyObjSize
	audio := randomBytes(total, 2)
	var res []verifyResult
	for _, st := range []struct {
		name   string
		objs   objstore.Store
		metric string
	}{{"local", local, "local"}, {"MinIO", s3, "minio"}} {
		for _, n := range []int{cfg.verifyObjects, 1} {
			v := verifyResult{name: fmt.Sprintf("%d × %s, SQLite + %s", n, decimalSize(total/n), st.name),
				metric: fmt.Sprintf("%s-%dobj", st.metric, n), objects: n, ok: true}
			caseID := buildCall(tb, db, st.objs, audio, n)
			for range cfg.verifyRuns {
				start := time.Now()
				rep, err := recorder.VerifyCase(ctx, db, st.objs, caseID)
				d := time.Since(start)
				if err != nil {
					tb.Fatalf("verify %s: %v", v.name, err)
				}
				if !rep.OK || rep.Checked != n || rep.Bytes != int64(total) {
					v.ok = false
					tb.Errorf("verify %s: ok %v, %d checked, %d bytes, problems %+v", v.name, rep.OK, rep.Checked, rep.Bytes, rep.Problems)
				}
				v.bytes = rep.Bytes
				v.runs = append(v.runs, d)
			}
			res = append(res, v)
		}
	}
	h.res.verify = res
	return res
}

// buildCall stores audio as n objects of a call case (8 at a time) and
// appends them to the case's chain in order; it returns the case.
func buildCall(tb testing.TB, db *store.DB, objs objstore.Store, audio []byte, n int) string {
	tb.Helper()
	ctx := context.Background()
	callStart := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	caseID, err := insertCase(ctx, db, store.CaseCall, callStart)
	if err != nil {
		tb.Fatal(err)
	}
	size := len(audio) / n
	per := time.Hour / time.Duration(n)
	evs := make([]store.Evidence, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := callStart.Add(time.Duration(i) * per)
			key := recorder.EvidenceKey(benchSite, caseID, "call-audio", start, "au")
			part := audio[i*size : (i+1)*size]
			info, err := objs.Put(ctx, key, bytes.NewReader(part), int64(len(part)), objstore.PutOptions{ContentType: "audio/basic"})
			errs[i] = err
			evs[i] = store.Evidence{CaseID: caseID, Key: key, Kind: "call-audio", MediaType: "audio/basic", Start: start,
				End: start.Add(per), Size: info.Size, SHA256: info.SHA256}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	for i := range evs {
		if err := appendEvidence(ctx, db, &evs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return caseID
}

// randomBytes is n pseudo-random bytes (incompressible, like media).
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// decimalSize is a byte count in kB or MB (10^3, 10^6), as media sizes are
// usually given.
func decimalSize(b int) string {
	if b >= 1e6 {
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.0f kB", float64(b)/1e3)
}
