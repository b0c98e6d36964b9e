package parking_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/parking"
)

// testJPEG is a w×h JPEG of a pattern.
func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, nil))
	return buf.Bytes()
}

// padded is b with zeros after it, n bytes in all: still a JPEG to
// DecodeConfig, which reads the header only.
func padded(b []byte, n int) []byte {
	return append(append([]byte(nil), b...), make([]byte, n-len(b))...)
}

func photoJSON(kind, takenAt, contentType string, data []byte) map[string]any {
	return map[string]any{"kind": kind, "taken_at": takenAt, "content_type": contentType, "data": base64.StdEncoding.EncodeToString(data)}
}

// lookupWith is a found lookup answer with these photos (any JSON value).
func lookupWith(t testing.TB, photos any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"found": true, "plate": "京A12345", "fee_due": 500, "currency": "CNY", "photos": photos})
	require.NoError(t, err)
	return b
}

func TestParseLookupPhotos(t *testing.T) {
	small := testJPEG(t, 32, 18)
	var pngBuf bytes.Buffer
	require.NoError(t, png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 4, 4))))
	const at = "2026-01-15T13:50:00+08:00"
	atUTC := time.Date(2026, 1, 15, 5, 50, 0, 0, time.UTC)
	good := photoJSON("entry", at, "image/jpeg", small)
	exit := photoJSON("exit", "2026-01-15T06:00:00Z", "image/jpeg", small)
	withField := func(p map[string]any, k string, v any) map[string]any {
		q := map[string]any{}
		for kk, vv := range p {
			q[kk] = vv
		}
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
		return q
	}
	tests := []struct {
		name    string
		photos  any
		kinds   []string // of the photos kept, in order
		dropped int
	}{
		{"none", nil, nil, 0},
		{"empty", []any{}, nil, 0},
		{"entry and exit", []any{good, exit}, []string{"entry", "exit"}, 0},
		{"unknown fields ignored", []any{withField(good, "camera", "lane 2")}, []string{"entry"}, 0},
		{"content type with parameters", []any{withField(good, "content_type", "Image/JPEG; q=1")}, []string{"entry"}, 0},
		{"exactly the size limit", []any{photoJSON("entry", at, "image/jpeg", padded(small, parking.MaxPhotoBytes))}, []string{"entry"}, 0},
		{"exactly the side limit", []any{photoJSON("entry", at, "image/jpeg", testJPEG(t, parking.MaxPhotoSide, 8))}, []string{"entry"}, 0},
		{"base64 with line breaks", []any{withField(good, "data", wrap76(base64.StdEncoding.EncodeToString(small)))}, []string{"entry"}, 0},

		{"bad base64", []any{withField(good, "data", "not base64 at all!"), exit}, []string{"exit"}, 1},
		{"URL-safe base64 is not standard", []any{withField(good, "data", "_-_-")}, nil, 1},
		{"not a JPEG", []any{photoJSON("entry", at, "image/jpeg", pngBuf.Bytes())}, nil, 1},
		{"not image/jpeg", []any{withField(good, "content_type", "image/png")}, nil, 1},
		{"no content type", []any{withField(good, "content_type", nil)}, nil, 1},
		{"too large", []any{photoJSON("entry", at, "image/jpeg", padded(small, parking.MaxPhotoBytes+1)), good}, []string{"entry"}, 1},
		{"far too large", []any{photoJSON("entry", at, "image/jpeg", padded(small, 2*parking.MaxPhotoBytes))}, nil, 1},
		{"too wide", []any{photoJSON("entry", at, "image/jpeg", testJPEG(t, parking.MaxPhotoSide+1, 2))}, nil, 1},
		{"too high", []any{photoJSON("exit", at, "image/jpeg", testJPEG(t, 2, parking.MaxPhotoSide+1))}, nil, 1},
		{"unknown kind", []any{withField(good, "kind", "side"), exit}, []string{"exit"}, 1},
		{"no kind", []any{withField(good, "kind", nil)}, nil, 1},
		{"bad time", []any{withField(good, "taken_at", "yesterday")}, nil, 1},
		{"no time", []any{withField(good, "taken_at", nil)}, nil, 1},
		{"time of the wrong type", []any{withField(good, "taken_at", 1768456200)}, nil, 1},
		{"not an object", []any{42, good}, []string{"entry"}, 1},
		{"too many", []any{good, exit, good, exit, good, exit}, []string{"entry", "exit", "entry", "exit"}, 2},
		{"the first four are read, good or bad", []any{42, 42, 42, 42, good}, nil, 5},
		{"a flood after the fourth", append([]any{good, exit, good, exit}, make([]any, 10000)...), []string{"entry", "exit", "entry", "exit"}, 10000},
		{"photos not an array", map[string]any{"kind": "entry"}, nil, 1},
		{"photos a string", "https://images.example/1.jpg", nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := parking.ParseLookup(lookupWith(t, tc.photos), clock)
			require.NoError(t, err, "a bad photo never fails the lookup")
			require.True(t, l.Found)
			require.Equal(t, int64(500), l.FeeDue)
			require.Equal(t, tc.dropped, l.PhotosDropped)
			var kinds []string
			for _, p := range l.Photos {
				kinds = append(kinds, p.Kind)
				require.Equal(t, "image/jpeg", p.ContentType)
				require.Equal(t, time.UTC, p.TakenAt.Location())
				require.LessOrEqual(t, len(p.Data), parking.MaxPhotoBytes)
			}
			require.Equal(t, tc.kinds, kinds)
		})
	}

	t.Run("fields of a photo", func(t *testing.T) {
		l, err := parking.ParseLookup(lookupWith(t, []any{good}), clock)
		require.NoError(t, err)
		require.Equal(t, []parking.Photo{{Kind: "entry", TakenAt: atUTC, ContentType: "image/jpeg", Data: small, Width: 32, Height: 18}}, l.Photos)
	})
	t.Run("ignored when not found", func(t *testing.T) {
		b, err := json.Marshal(map[string]any{"found": false, "photos": []any{good, 42}})
		require.NoError(t, err)
		l, err := parking.ParseLookup(b, clock)
		require.NoError(t, err)
		require.Equal(t, parking.Lookup{}, l)
	})
	t.Run("not in the lookup's JSON", func(t *testing.T) {
		l, err := parking.ParseLookup(lookupWith(t, []any{good, 42}), clock)
		require.NoError(t, err)
		b, err := json.Marshal(l)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		require.NotContains(t, m, "photos")
		require.Equal(t, 1.0, m["photos_dropped"])
	})
}

// wrap76 breaks s into lines of 76 characters, as MIME base64 is.
func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// logLines collects the messages of a slog logger, for tests.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logLines) WithGroup(string) slog.Handler            { return l }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l *logLines) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// TestLookupPhotosOverHTTP: a parking system on loopback sends four
// photos of the largest size allowed, in base64 with escaped slashes, and
// bad ones: the answer fits the client's default limit, the four arrive
// whole, the bad ones are dropped with a debug line each, and a flood of
// photos costs a count, not a line (or an error) each.
func TestLookupPhotosOverHTTP(t *testing.T) {
	big := padded(testJPEG(t, 64, 36), parking.MaxPhotoBytes)
	const at = "2026-01-15T05:50:00Z"
	photos := []any{
		photoJSON("entry", at, "image/jpeg", big), photoJSON("exit", at, "image/jpeg", big),
		photoJSON("entry", at, "image/jpeg", big), photoJSON("exit", at, "image/jpeg", big),
	}
	answer := lookupWith(t, photos)
	// as PHP's json_encode sends base64 by default: every "/" as "\/"
	answer = bytes.ReplaceAll(answer, []byte("/"), []byte(`\/`))
	require.Less(t, len(answer), parking.DefaultMaxResponseBytes)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/bad":
			_, _ = w.Write(lookupWith(t, []any{photos[0], map[string]any{"kind": "side"}, 42}))
			return
		case "/flood":
			_, _ = w.Write(lookupWith(t, make([]int, 100000)))
			return
		}
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	logs := &logLines{}
	c := newClient(t, srv.URL, func(cfg *parking.Config) { cfg.Log = slog.New(logs) })

	l, err := c.Lookup(context.Background(), parking.Query{Plate: "京A12345", CaseID: "case-9"})
	require.NoError(t, err)
	require.Len(t, l.Photos, 4)
	require.Zero(t, l.PhotosDropped)
	for _, p := range l.Photos {
		require.Equal(t, big, p.Data)
	}
	require.Empty(t, logs.matching("photo dropped"))

	l, err = c.Lookup(context.Background(), parking.Query{Plate: "京A12345", CaseID: "case-9"})
	require.NoError(t, err)
	require.Len(t, l.Photos, 4, "the same again")

	c = newClient(t, srv.URL+"/bad", func(cfg *parking.Config) { cfg.Log = slog.New(logs) })
	l, err = c.Lookup(context.Background(), parking.Query{Plate: "京A12345", CaseID: "case-9"})
	require.NoError(t, err)
	require.Len(t, l.Photos, 1)
	require.Equal(t, 2, l.PhotosDropped)
	dropped := logs.matching("parking photo dropped")
	require.Len(t, dropped, 2)
	for _, line := range dropped {
		require.True(t, strings.HasPrefix(line, "DEBUG "), line)
		require.Contains(t, line, "case=case-9")
	}
	require.Contains(t, dropped[0], `kind "side" is not entry or exit`)

	// 100,000 photos: counted, four reasons and one line for the rest logged
	c = newClient(t, srv.URL+"/flood", func(cfg *parking.Config) { cfg.Log = slog.New(logs) })
	l, err = c.Lookup(context.Background(), parking.Query{Plate: "京A12345", CaseID: "case-10"})
	require.NoError(t, err)
	require.Empty(t, l.Photos)
	require.Equal(t, 100000, l.PhotosDropped)
	flood := logs.matching("case=case-10")
	require.Len(t, flood, parking.MaxPhotos+1)
	require.Contains(t, flood[parking.MaxPhotos], "99996 photos after the first 4")
}
