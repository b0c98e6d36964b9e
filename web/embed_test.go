package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

const testIndex = `<!doctype html><html><head><script defer src="/app.js"></script></head><body><div id="app"></div></body></html>`

func builtFS() fstest.MapFS {
	return fstest.MapFS{
		".gitkeep":          {Data: nil},
		"index.html":        {Data: []byte(testIndex)},
		"app.js":            {Data: []byte("console.log('app')")},
		"app.css":           {Data: []byte("body{margin:0}")},
		"favicon.svg":       {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
		"assets/logo.png":   {Data: []byte("\x89PNG\r\n\x1a\n")},
		"fonts/x.woff2":     {Data: []byte("wOF2")},
		".hidden/secret.js": {Data: []byte("nope")},
	}
}

func TestHandler(t *testing.T) {
	h := NewHandler(builtFS())
	tests := []struct {
		name        string
		method      string
		path        string
		wantStatus  int
		wantType    string // prefix of Content-Type; "" = don't check
		wantCache   string // exact Cache-Control; "" = don't check
		wantBodyHas string // "" = don't check
		wantIndex   bool   // body is index.html
	}{
		{name: "root", path: "/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantCache: "no-cache", wantIndex: true},
		{name: "index by name", path: "/index.html", wantStatus: 200, wantType: "text/html", wantCache: "no-cache", wantIndex: true},
		{name: "script", path: "/app.js", wantStatus: 200, wantType: "text/javascript", wantCache: "no-cache", wantBodyHas: "console.log"},
		{name: "stylesheet", path: "/app.css", wantStatus: 200, wantType: "text/css", wantCache: "no-cache", wantBodyHas: "margin"},
		{name: "svg", path: "/favicon.svg", wantStatus: 200, wantType: "image/svg+xml", wantCache: "public, max-age=3600"},
		{name: "png in folder", path: "/assets/logo.png", wantStatus: 200, wantType: "image/png", wantCache: "public, max-age=3600"},
		{name: "font", path: "/fonts/x.woff2", wantStatus: 200, wantType: "font/woff2"},
		{name: "spa route", path: "/admin/sites", wantStatus: 200, wantType: "text/html", wantCache: "no-cache", wantIndex: true},
		{name: "spa route trailing slash", path: "/dashboard/", wantStatus: 200, wantType: "text/html", wantIndex: true},
		{name: "directory falls back to app", path: "/assets", wantStatus: 200, wantType: "text/html", wantIndex: true},
		{name: "cleaned traversal", path: "/x/../../admin", wantStatus: 200, wantIndex: true},
		{name: "missing asset", path: "/missing.js", wantStatus: 404},
		{name: "missing nested asset", path: "/assets/nope.png", wantStatus: 404},
		{name: "api not served", path: "/api/v1/sites", wantStatus: 404},
		{name: "api root not served", path: "/api", wantStatus: 404},
		{name: "healthz not served", path: "/healthz", wantStatus: 404},
		{name: "readyz not served", path: "/readyz", wantStatus: 404},
		{name: "metrics not served", path: "/metrics", wantStatus: 404},
		{name: "metrics subpath not served", path: "/metrics/x", wantStatus: 404},
		{name: "lookalike of reserved is the app", path: "/healthzone", wantStatus: 200, wantIndex: true},
		{name: "dotfile hidden", path: "/.gitkeep", wantStatus: 404},
		{name: "dot directory hidden", path: "/.hidden/secret.js", wantStatus: 404},
		{name: "post refused", method: http.MethodPost, path: "/", wantStatus: 405},
		{name: "delete refused", method: http.MethodDelete, path: "/app.js", wantStatus: 405},
		{name: "head", method: http.MethodHead, path: "/", wantStatus: 200, wantType: "text/html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, tc.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("%s %s: status %d, want %d (body %q)", method, tc.path, rec.Code, tc.wantStatus, rec.Body.String())
			}
			if tc.wantType != "" && !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.wantType) {
				t.Errorf("Content-Type %q, want prefix %q", rec.Header().Get("Content-Type"), tc.wantType)
			}
			if tc.wantCache != "" && rec.Header().Get("Cache-Control") != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", rec.Header().Get("Cache-Control"), tc.wantCache)
			}
			if tc.wantBodyHas != "" && !strings.Contains(rec.Body.String(), tc.wantBodyHas) {
				t.Errorf("body %q lacks %q", rec.Body.String(), tc.wantBodyHas)
			}
			if tc.wantIndex && rec.Body.String() != testIndex {
				t.Errorf("body %q, want index.html", rec.Body.String())
			}
			if method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD wrote a body of %d bytes", rec.Body.Len())
			}
			if rec.Code == 200 && rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("missing X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestHandlerETag(t *testing.T) {
	h := NewHandler(builtFS())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on /app.js")
	}
	req := httptest.NewRequest(http.MethodGet, "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation: status %d, want 304", rec.Code)
	}

	// The SPA fallback carries index.html's ETag, so deep links revalidate too.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	rootTag := rec.Header().Get("ETag")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/users", nil))
	if got := rec.Header().Get("ETag"); got != rootTag || got == "" {
		t.Errorf("fallback ETag %q, want index's %q", got, rootTag)
	}
	if rootTag == etag {
		t.Errorf("index.html and app.js share ETag %q", etag)
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	h := NewHandler(fstest.MapFS{".gitkeep": {Data: nil}})
	for _, p := range []string{"/", "/admin/sites", "/app.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s: status %d, want 503", p, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "web app not built: run make web") {
			t.Errorf("GET %s: body %q lacks the not-built message", p, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/me", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /api/v1/me when not built: status %d, want 404", rec.Code)
	}
}

// The embedded dist works whether or not the app has been built.
func TestEmbeddedHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	switch rec.Code {
	case http.StatusOK:
		if !strings.Contains(rec.Body.String(), "app.js") {
			t.Errorf("built index.html does not load app.js: %q", rec.Body.String())
		}
	case http.StatusServiceUnavailable:
		if !strings.Contains(rec.Body.String(), "run make web") {
			t.Errorf("unbuilt page: %q", rec.Body.String())
		}
	default:
		t.Fatalf("GET /: status %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.gitkeep", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /.gitkeep: status %d, want 404", rec.Code)
	}
}
