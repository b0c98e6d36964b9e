//go:build linux

package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/media/snapshot"
)

// server is the system under test, wired like cmd/attendant wires it: a
// media.Manager whose keyframes keep a snapshot.Snapshotter warm, and a WHEP
// endpoint on loopback in front of NewViewer and CloseViewer. Only loopback
// ICE candidates are offered.
type server struct {
	m     *media.Manager
	snaps *snapshot.Snapshotter
	whep  *httptest.Server
	logs  *syncBuffer
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	s := &server{logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server logs:\n%s", s.logs)
		}
	})
	snaps, err := snapshot.New(snapshot.Config{}, log.With("component", "snapshot"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(snaps.Close)
	s.snaps = snaps
	m, err := media.NewManager(media.ManagerConfig{
		ICE: media.ICEConfig{IncludeLoopback: true, IPs: []string{"127.0.0.1"}},
		OnKeyframe: func(id string, kf media.Keyframe) {
			snaps.Warm(id, snapshotKeyframe(kf))
		},
	}, log)
	if err != nil {
		tb.Fatal(err)
	}
	s.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("manager: %v", err)
		}
	})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep/{camera}", func(w http.ResponseWriter, r *http.Request) {
		offer, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cam := r.PathValue("camera")
		id, answer, err := m.NewViewer(r.Context(), cam, string(offer))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.Header().Set("Location", "/whep/"+cam+"/"+id)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
	mux.HandleFunc("DELETE /whep/{camera}/{session}", func(w http.ResponseWriter, r *http.Request) {
		if err := m.CloseViewer(r.PathValue("camera"), r.PathValue("session")); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, media.ErrUnknownViewer) || errors.Is(err, media.ErrUnknownCamera) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.whep = httptest.NewServer(mux)
	tb.Cleanup(s.whep.Close)
	return s
}

// whepURL is the WHEP endpoint of a camera.
func (s *server) whepURL(camID string) string { return s.whep.URL + "/whep/" + camID }

// addCamera starts the ingest of a camera and waits until it is connected
// and has a keyframe.
func (s *server) addCamera(tb testing.TB, id, url string) media.CameraState {
	tb.Helper()
	s.m.Upsert(media.CameraConfig{ID: id, URL: url, Enabled: true})
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := s.m.State(id)
		if st.State == media.StateConnected {
			if _, err := s.m.Keyframe(context.Background(), id, false); err == nil {
				return st
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("camera %s not connected with a keyframe within 30 s: %+v", id, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snapshot takes one snapshot the way the API does: the keyframe (cached or
// the next one), then its JPEG.
func (s *server) snapshot(ctx context.Context, camID string, fresh bool) ([]byte, error) {
	kf, err := s.m.Keyframe(ctx, camID, fresh)
	if err != nil {
		return nil, err
	}
	if fresh {
		return s.snaps.JPEG(ctx, camID, snapshotKeyframe(kf))
	}
	return s.snaps.Latest(ctx, camID, snapshotKeyframe(kf))
}

func snapshotKeyframe(kf media.Keyframe) snapshot.Keyframe {
	return snapshot.Keyframe{Codec: kf.Codec, AnnexB: kf.AnnexB, Width: kf.Width, Height: kf.Height, Seq: kf.Seq}
}
