package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/media/snapshot"
	"github.com/attendant/attendant/store"
)

// CameraHub is the live side of cameras: ingest, viewers, keyframes
// (media.Manager in the server).
type CameraHub interface {
	Upsert(c media.CameraConfig)
	Remove(id string)
	State(id string) (media.CameraState, bool)
	NewViewer(ctx context.Context, cameraID, offerSDP string) (sessionID, answerSDP string, err error)
	CloseViewer(cameraID, sessionID string) error
	Keyframe(ctx context.Context, cameraID string, fresh bool) (media.Keyframe, error)
}

// Snapshotter turns a keyframe into a JPEG (snapshot.Snapshotter).
type Snapshotter interface {
	JPEG(ctx context.Context, cameraID string, kf snapshot.Keyframe) ([]byte, error)
	Latest(ctx context.Context, cameraID string, kf snapshot.Keyframe) ([]byte, error)
}

type whepInput struct {
	ID      string `path:"id" maxLength:"64"`
	Stream  string `query:"stream" enum:"main,sub" default:"main" doc:"sub: the camera's H264 sub-stream"`
	RawBody []byte `contentType:"application/sdp" doc:"SDP offer"`
}

type whepOutput struct {
	Location    string `header:"Location" doc:"Session URL; DELETE it to stop"`
	ContentType string `header:"Content-Type"`
	Body        []byte `doc:"SDP answer"`
}

type whepSessionInput struct {
	ID      string `path:"id" maxLength:"64"`
	Session string `path:"session" maxLength:"128"`
}

type snapshotInput struct {
	ID    string `path:"id" maxLength:"64"`
	Fresh bool   `query:"fresh" doc:"Wait for the next keyframe instead of using the cached one"`
}

type jpegOutput struct {
	ContentType  string `header:"Content-Type"`
	CacheControl string `header:"Cache-Control"`
	Body         []byte
}

const maxSDP = 64 << 10

func (s *Server) registerCameraLive() {
	op := s.operation(http.MethodPost, "/api/v1/cameras/{id}/whep", "camera-whep", "cameras",
		"Watch a camera live over WebRTC (WHEP)", anyRole)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxSDP
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusNotAcceptable, http.StatusServiceUnavailable)
	huma.Register(s.api, op, s.whep)

	op = s.operation(http.MethodDelete, "/api/v1/cameras/{id}/whep/{session}", "camera-whep-delete", "cameras",
		"Stop watching (end a WHEP session)", anyRole)
	op.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, op, func(ctx context.Context, in *whepSessionInput) (*struct{}, error) {
		if _, err := s.visibleCamera(ctx, in.ID); err != nil {
			return nil, err
		}
		if err := s.cameras.CloseViewer(in.ID, in.Session); err != nil {
			if err2 := s.cameras.CloseViewer(substreamID(in.ID), in.Session); err2 != nil {
				return nil, errNotFound("viewing session", in.Session)
			}
		}
		return nil, nil
	})

	op = s.operation(http.MethodGet, "/api/v1/cameras/{id}/snapshot.jpg", "camera-snapshot", "cameras",
		"A JPEG of the camera's latest keyframe", anyRole)
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusServiceUnavailable)
	op.Responses = map[string]*huma.Response{"200": {Description: "JPEG image", Content: map[string]*huma.MediaType{"image/jpeg": {}}}}
	huma.Register(s.api, op, func(ctx context.Context, in *snapshotInput) (*jpegOutput, error) {
		if _, err := s.visibleCamera(ctx, in.ID); err != nil {
			return nil, err
		}
		jpeg, _, err := s.snapshot(ctx, in.ID, in.Fresh)
		if err != nil {
			return nil, err
		}
		return &jpegOutput{ContentType: "image/jpeg", CacheControl: "no-store", Body: jpeg}, nil
	})
}

// visibleCamera loads a camera the caller may see.
func (s *Server) visibleCamera(ctx context.Context, id string) (store.Camera, error) {
	cam, err := store.Get[store.Camera](ctx, s.db.Q(), id)
	if err != nil {
		return cam, s.apiError("camera", err)
	}
	if !inScope(PrincipalFrom(ctx), cam.SiteID) {
		return cam, errNotFound("camera", id)
	}
	return cam, nil
}

func (s *Server) whep(ctx context.Context, in *whepInput) (*whepOutput, error) {
	cam, err := s.visibleCamera(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	hubID := cam.ID
	if in.Stream == "sub" {
		if cam.SubstreamURL == "" {
			return nil, errBadRequest("camera %q has no sub-stream", cam.ID)
		}
		hubID = substreamID(cam.ID)
	}
	if len(in.RawBody) == 0 {
		return nil, errBadRequest("body must be an SDP offer (Content-Type: application/sdp)")
	}
	session, answer, err := s.cameras.NewViewer(ctx, hubID, string(in.RawBody))
	if err != nil {
		return nil, s.mediaError(cam.ID, err)
	}
	p := PrincipalFrom(ctx)
	s.log.Info("live view started", "camera", cam.ID, "stream", in.Stream, "user", p.User.Username, "session", session)
	if err := s.db.InTx(ctx, func(q store.Q) error {
		return s.audit(ctx, q, "camera.view", "camera", cam.ID, cam.SiteID, map[string]any{"stream": in.Stream})
	}); err != nil {
		_ = s.cameras.CloseViewer(hubID, session)
		return nil, s.storeError("audit", err)
	}
	return &whepOutput{
		Location:    "/api/v1/cameras/" + cam.ID + "/whep/" + session,
		ContentType: "application/sdp",
		Body:        []byte(answer),
	}, nil
}

// snapshot decodes the camera's cached (or next) keyframe.
func (s *Server) snapshot(ctx context.Context, cameraID string, fresh bool) ([]byte, media.Keyframe, error) {
	waitCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	kf, err := s.cameras.Keyframe(waitCtx, cameraID, fresh)
	if err != nil {
		return nil, kf, s.mediaError(cameraID, err)
	}
	decode := s.snapshots.Latest
	if fresh {
		decode = s.snapshots.JPEG
	}
	jpeg, err := decode(waitCtx, cameraID, snapshot.Keyframe{
		Codec: kf.Codec, AnnexB: kf.AnnexB, Width: kf.Width, Height: kf.Height, Seq: kf.Seq,
	})
	if err != nil {
		s.log.Error("decode snapshot", "camera", cameraID, "err", err)
		return nil, kf, newError(http.StatusInternalServerError, "could not decode the camera's picture")
	}
	return jpeg, kf, nil
}

func (s *Server) mediaError(cameraID string, err error) error {
	switch {
	case errors.Is(err, media.ErrUnknownCamera):
		return errNotFound("camera", cameraID)
	case errors.Is(err, media.ErrNotConnected), errors.Is(err, context.DeadlineExceeded):
		return withCode(newError(http.StatusServiceUnavailable, "camera "+cameraID+" is not connected; retry shortly"), "not_connected")
	case errors.Is(err, media.ErrCodecNotOffered):
		return withCode(newError(http.StatusNotAcceptable, "this browser does not offer the camera's codec (H.265?): "+err.Error()), "codec_not_supported")
	case errors.Is(err, media.ErrBadOffer):
		return errBadRequest("bad SDP offer: %v", err)
	}
	s.log.Error("camera media", "camera", cameraID, "err", err)
	return newError(http.StatusInternalServerError, "internal error")
}

func withCode(err huma.StatusError, code string) huma.StatusError {
	if b, ok := err.(*ErrorBody); ok {
		b.Detail.Code = code
	}
	return err
}
