// Package web serves the embedded browser app (login, dashboard, admin pages).
//
// The app's sources are in web/src (TypeScript + Preact); `npm run build` in
// web/ (or `make web`) writes the bundle to web/dist, which is embedded here.
// Until then dist holds only .gitkeep and the handler answers with a short
// "not built" page.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var distFS embed.FS

// Handler serves the embedded app. Mount it last: the API and the health
// endpoints go on the same mux first.
func Handler() http.Handler {
	sub, err := fs.Sub(distFS, "dist")
	if err != nil {
		// Cannot happen: "dist" is a valid path and always embedded.
		panic(err)
	}
	return NewHandler(sub)
}

// Paths that never fall back to the app, so a mistyped API call gets a 404
// instead of index.html.
var reservedPrefixes = []string{"/api", "/healthz", "/readyz", "/metrics"}

// Content types set explicitly, so they don't depend on the host's MIME tables.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".ico":         "image/x-icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".txt":         "text/plain; charset=utf-8",
	".wasm":        "application/wasm",
	".mp3":         "audio/mpeg",
	".wav":         "audio/wav",
	".ogg":         "audio/ogg",
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>attendant</title></head>
<body style="font-family:sans-serif;margin:3em">
<h1>attendant</h1>
<p>web app not built: run make web</p>
</body></html>
`

type handler struct {
	fsys fs.FS
}

// NewHandler serves the app in fsys (index.html at its root): files by path
// with their content types, index.html for "/" and for any other GET that
// isn't a file and doesn't look like one (the app routes by URL hash, but a
// deep link or reload must still get the app). Paths under /api/, /healthz,
// /readyz and /metrics are never answered with the app.
//
// Caching: index.html, app.js and app.css keep their names across builds, so
// they are served with "no-cache" and a content ETag (a revalidation costs a
// 304); other assets may be cached for an hour.
func NewHandler(fsys fs.FS) http.Handler {
	return &handler{fsys: fsys}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") {
		upath = "/" + upath
	}
	upath = path.Clean(upath)
	for _, p := range reservedPrefixes {
		if upath == p || strings.HasPrefix(upath, p+"/") {
			http.NotFound(w, r)
			return
		}
	}

	w.Header().Set("X-Content-Type-Options", "nosniff")

	index, err := fs.ReadFile(h.fsys, "index.html")
	if err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, notBuiltPage)
		}
		return
	}

	name := strings.TrimPrefix(upath, "/")
	if name == "" || name == "index.html" {
		h.serveIndex(w, r, index)
		return
	}
	if hidden(name) {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(h.fsys, name)
	if err == nil {
		h.serveFile(w, r, name, data)
		return
	}
	if !errors.Is(err, fs.ErrNotExist) && !isDirErr(h.fsys, name) {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if looksLikeAsset(name) {
		http.NotFound(w, r)
		return
	}
	h.serveIndex(w, r, index)
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request, index []byte) {
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	serveContent(w, r, "index.html", index, "no-cache")
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name string, data []byte) {
	cache := "public, max-age=3600"
	switch path.Ext(name) {
	case ".html", ".js", ".mjs", ".css", ".map", ".json", ".webmanifest":
		cache = "no-cache"
	}
	serveContent(w, r, name, data, cache)
}

func serveContent(w http.ResponseWriter, r *http.Request, name string, data []byte, cache string) {
	ext := strings.ToLower(path.Ext(name))
	ctype, ok := contentTypes[ext]
	if !ok {
		ctype = mime.TypeByExtension(ext)
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	// ServeContent answers If-None-Match with 304, HEAD, and Range requests.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

// hidden reports dotfiles (.gitkeep) and dot directories, never served.
func hidden(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// looksLikeAsset reports a last path segment with a file extension
// ("/app.js", "/img/logo.png"): a missing one is a 404, not the app.
func looksLikeAsset(name string) bool {
	base := path.Base(name)
	i := strings.LastIndexByte(base, '.')
	return i > 0 && i < len(base)-1
}

func isDirErr(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.IsDir()
}
