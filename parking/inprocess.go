package parking

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// InProcess is a RoundTripper that serves every request with h inside
// this process: the built-in demo backend needs no port of its own, yet
// the Client's requests still go through signing, encoding, status and
// size checks exactly as over the network.
func InProcess(h http.Handler) http.RoundTripper { return inProcess{h} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	// The RoundTripper contract: never change req, always close its body.
	sreq := req.Clone(req.Context())
	if req.Body == nil {
		sreq.Body = http.NoBody
	}
	defer sreq.Body.Close()
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	sreq.RequestURI, sreq.RemoteAddr = req.URL.RequestURI(), "in-process"
	rw := &memWriter{header: http.Header{}}
	t.h.ServeHTTP(rw, sreq)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	b := rw.body.Bytes()
	rw.header.Set("Content-Length", strconv.Itoa(len(b)))
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", rw.status, http.StatusText(rw.status)),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.header,
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       req,
	}, nil
}

// memWriter is the handler's ResponseWriter: headers, status and body in
// memory.
type memWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *memWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
