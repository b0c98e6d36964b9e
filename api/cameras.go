package api

import (
	"context"
	"net/url"
	"time"

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

func (s *Server) registerCameras() {
	register(s, resource[store.Camera, cameraInput]{
		name: "camera", path: "/api/v1/cameras", tag: "cameras",
		readRoles: anyRole, writeRoles: adminOnly,
		scopeColumn: "site_id",
		siteOf:      func(v *store.Camera) string { return v.SiteID },
		present:     func(v *store.Camera) { v.HasPassword = v.Password != "" },
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
	u, err := url.Parse(in.URL)
	if err != nil {
		return errBadRequest("url: not a valid URL")
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return errBadRequest("url: scheme must be rtsp or rtsps, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return errBadRequest("url: host is missing")
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

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
