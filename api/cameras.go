package api

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

// cameraInput is the writable shape of a camera. Credentials may come in
// the URL (rtsp://user:pass@host/…): they are moved to username and
// password so the stored and shown URL never carries a secret.
type cameraInput struct {
	SiteID        string `json:"site_id" minLength:"1" maxLength:"64"`
	AccessPointID string `json:"access_point_id,omitempty" maxLength:"64"`
	DeviceID      string `json:"device_id,omitempty" maxLength:"64"`
	Name          string `json:"name" minLength:"1" maxLength:"200"`
	URL           string `json:"url" minLength:"1" maxLength:"2048" doc:"rtsp:// or rtsps:// URL"`
	SubstreamURL  string `json:"substream_url,omitempty" maxLength:"2048" doc:"Optional H264 sub-stream (rtsp://), same credentials"`
	Username      string `json:"username,omitempty" maxLength:"128"`
	Password      string `json:"password,omitempty" maxLength:"256" writeOnly:"true"`
	Role          string `json:"role" enum:"environment,gate,id_document,channel"`
	Channel       int    `json:"channel,omitempty" minimum:"0" maximum:"64" doc:"Box channel number (role channel)"`
	Transport     string `json:"transport,omitempty" enum:"tcp,udp,auto" default:"tcp"`
	Record        string `json:"record,omitempty" enum:"off,events,continuous" default:"events"`
	Enabled       *bool  `json:"enabled,omitempty" doc:"Default true"`
}

type cameraList struct {
	PageParams
	SiteID string `query:"site_id" maxLength:"64"`
	Role   string `query:"role" enum:"environment,gate,id_document,channel"`
}

// cameraView is a camera with its live state (state, codec, width,
// height, fps, bitrate, viewers …).
type cameraView struct {
	store.Camera
	media.CameraState
	HasSubstream bool `json:"has_substream"`
}

func (s *Server) registerCameras() {
	register(s, resource[store.Camera, cameraInput, cameraView]{
		name: "camera", path: "/api/v1/cameras", tag: "cameras",
		readRoles: anyRole, writeRoles: adminOnly,
		scopeColumn: "site_id",
		siteOf:      func(v *store.Camera) string { return v.SiteID },
		present:     s.presentCamera,
		changed:     s.syncCamera,
		deleted: func(id string) {
			s.cameras.Remove(id)
			s.cameras.Remove(substreamID(id))
			if s.recorder != nil {
				s.recorder.RemoveCamera(id)
			}
		},
		meta: func(v *store.Camera) (*string, *time.Time, *time.Time) {
			return &v.ID, &v.CreatedAt, &v.UpdatedAt
		},
		build: buildCamera,
	}, func(in *cameraList) store.Filter {
		f := in.filter()
		f.Eq = map[string]string{"site_id": in.SiteID, "role": in.Role}
		return f
	})
}

func buildCamera(ctx context.Context, q store.Q, in *cameraInput, v *store.Camera) error {
	if err := requireSite(ctx, q, in.SiteID); err != nil {
		return err
	}
	if err := requireAccessPoint(ctx, q, in.AccessPointID, in.SiteID); err != nil {
		return err
	}
	if in.DeviceID != "" {
		d, err := store.Get[store.Device](ctx, q, in.DeviceID)
		if store.IsNotFound(err) {
			return errBadRequest("device_id %q: no such device", in.DeviceID)
		}
		if err != nil {
			return err
		}
		if d.SiteID != in.SiteID {
			return errBadRequest("device_id %q belongs to another site", in.DeviceID)
		}
	}
	u, err := parseRTSP("url", in.URL)
	if err != nil {
		return err
	}
	if in.Role == "channel" && in.Channel < 1 {
		return errBadRequest("channel: a box channel camera needs a channel number from 1")
	}
	if u.User != nil {
		if in.Username == "" {
			in.Username = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && in.Password == "" {
			in.Password = p
		}
		u.User = nil
	}
	v.SubstreamURL = ""
	if in.SubstreamURL != "" {
		sub, err := parseRTSP("substream_url", in.SubstreamURL)
		if err != nil {
			return err
		}
		sub.User = nil
		v.SubstreamURL = sub.String()
	}
	if in.Password != "" {
		v.Password = in.Password
	}
	v.SiteID, v.AccessPointID, v.DeviceID = in.SiteID, store.OptionalID(in.AccessPointID), store.OptionalID(in.DeviceID)
	v.Name, v.URL, v.Username = in.Name, u.String(), in.Username
	v.Role, v.Channel = in.Role, in.Channel
	v.Transport, v.Record = orDefault(in.Transport, "tcp"), orDefault(in.Record, "events")
	v.Enabled = in.Enabled == nil || *in.Enabled
	return nil
}

func parseRTSP(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errBadRequest("%s: not a valid URL", field)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, errBadRequest("%s: scheme must be rtsp or rtsps, not %q", field, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errBadRequest("%s: host is missing", field)
	}
	return u, nil
}

// substreamID names a camera's sub-stream in the camera hub.
func substreamID(cameraID string) string { return cameraID + ".sub" }

func (s *Server) presentCamera(ctx context.Context, v *store.Camera) cameraView {
	v.HasPassword = v.Password != ""
	view := cameraView{Camera: *v, HasSubstream: v.SubstreamURL != ""}
	// Only admins manage camera credentials; others need not know even the
	// user name.
	if p := PrincipalFrom(ctx); p == nil || p.User.Role != store.RoleAdmin {
		view.Username = ""
	}
	if st, ok := s.cameras.State(v.ID); ok {
		view.CameraState = st
	} else if !v.Enabled {
		view.State = "disabled"
	} else {
		view.State = "connecting"
	}
	return view
}

// syncCamera tells the camera hub about a camera as stored.
func (s *Server) syncCamera(v *store.Camera) {
	if s.recorder != nil {
		mode := v.Record
		if !v.Enabled {
			mode = recorder.ModeOff
		}
		s.recorder.SetCamera(recorder.CameraConfig{ID: v.ID, SiteID: v.SiteID, Mode: mode})
	}
	s.cameras.Upsert(cameraConfig(v, v.ID, v.URL))
	if v.SubstreamURL != "" {
		s.cameras.Upsert(cameraConfig(v, substreamID(v.ID), v.SubstreamURL))
	} else {
		s.cameras.Remove(substreamID(v.ID))
	}
}

func cameraConfig(v *store.Camera, id, url string) media.CameraConfig {
	return media.CameraConfig{ID: id, URL: url, Username: v.Username, Password: v.Password,
		Transport: v.Transport, Enabled: v.Enabled}
}

// LoadCameras hands every stored camera to the camera hub (at start).
func (s *Server) LoadCameras(ctx context.Context) error {
	cursor := ""
	for {
		cams, next, err := store.List[store.Camera](ctx, s.db.Q(), store.Filter{Limit: store.MaxPage, Cursor: cursor})
		if err != nil {
			return fmt.Errorf("load cameras: %w", err)
		}
		for i := range cams {
			s.syncCamera(&cams[i])
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
