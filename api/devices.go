package api

import (
	"context"
	"time"

	"github.com/attendant/attendant/sip"
	"github.com/attendant/attendant/store"
)

// accessPointInput is the writable shape of an access point.
type accessPointInput struct {
	SiteID string `json:"site_id" minLength:"1" maxLength:"64"`
	Name   string `json:"name" minLength:"1" maxLength:"200"`
	Kind   string `json:"kind" enum:"door,entrance,exit"`
}

type bySiteList struct {
	PageParams
	SiteID string `query:"site_id" maxLength:"64" doc:"Only records of this site"`
}

// deviceInput is the writable shape of a device. sip_password is
// write-only: required on create, unchanged when left out of a PATCH.
type deviceInput struct {
	SiteID        string `json:"site_id" minLength:"1" maxLength:"64"`
	AccessPointID string `json:"access_point_id,omitempty" maxLength:"64"`
	Name          string `json:"name" minLength:"1" maxLength:"200"`
	Kind          string `json:"kind,omitempty" enum:"robot,intercom" default:"robot"`
	FactoryCode   string `json:"factory_code,omitempty" maxLength:"100"`
	Phone         string `json:"phone,omitempty" maxLength:"32"`
	SIPUsername   string `json:"sip_username" pattern:"^[A-Za-z0-9._~-]+$" minLength:"1" maxLength:"64" doc:"SIP user part the device registers with"`
	SIPPassword   string `json:"sip_password,omitempty" minLength:"8" maxLength:"128" writeOnly:"true"`
	Enabled       *bool  `json:"enabled,omitempty" doc:"Default true"`
}

func (s *Server) registerAccessPoints() {
	register(s, resource[store.AccessPoint, accessPointInput, store.AccessPoint]{
		name: "access point", path: "/api/v1/access-points", tag: "sites",
		readRoles: anyRole, writeRoles: adminOnly,
		scopeColumn: "site_id",
		siteOf:      func(v *store.AccessPoint) string { return v.SiteID },
		present:     same[store.AccessPoint],
		meta: func(v *store.AccessPoint) (*string, *time.Time, *time.Time) {
			return &v.ID, &v.CreatedAt, &v.UpdatedAt
		},
		build: func(ctx context.Context, q store.Q, in *accessPointInput, v *store.AccessPoint) error {
			if err := requireSite(ctx, q, in.SiteID); err != nil {
				return err
			}
			v.SiteID, v.Name, v.Kind = in.SiteID, in.Name, in.Kind
			return nil
		},
	}, func(in *bySiteList) store.Filter {
		f := in.filter()
		f.Eq = map[string]string{"site_id": in.SiteID}
		return f
	})
}

func (s *Server) registerDevices() {
	register(s, resource[store.Device, deviceInput, deviceView]{
		name: "device", path: "/api/v1/devices", tag: "devices",
		readRoles: anyRole, writeRoles: adminOnly,
		scopeColumn: "site_id",
		siteOf:      func(v *store.Device) string { return v.SiteID },
		present:     s.presentDevice,
		meta: func(v *store.Device) (*string, *time.Time, *time.Time) {
			return &v.ID, &v.CreatedAt, &v.UpdatedAt
		},
		build: func(ctx context.Context, q store.Q, in *deviceInput, v *store.Device) error {
			if err := requireSite(ctx, q, in.SiteID); err != nil {
				return err
			}
			if err := requireAccessPoint(ctx, q, in.AccessPointID, in.SiteID); err != nil {
				return err
			}
			switch {
			case in.SIPPassword != "":
				v.SIPPassword = in.SIPPassword
			case v.SIPPassword == "":
				return errBadRequest("sip_password is required")
			}
			v.SiteID, v.AccessPointID, v.Name = in.SiteID, store.OptionalID(in.AccessPointID), in.Name
			v.Kind = in.Kind
			if v.Kind == "" {
				v.Kind = "robot"
			}
			v.FactoryCode, v.Phone, v.SIPUsername = in.FactoryCode, in.Phone, in.SIPUsername
			v.Enabled = in.Enabled == nil || *in.Enabled
			return nil
		},
	}, func(in *bySiteList) store.Filter {
		f := in.filter()
		f.Eq = map[string]string{"site_id": in.SiteID}
		return f
	})
}

func requireSite(ctx context.Context, q store.Q, id string) error {
	if _, err := store.Get[store.Site](ctx, q, id); err != nil {
		if store.IsNotFound(err) {
			return errBadRequest("site_id %q: no such site", id)
		}
		return err
	}
	return nil
}

func requireAccessPoint(ctx context.Context, q store.Q, id, siteID string) error {
	if id == "" {
		return nil
	}
	ap, err := store.Get[store.AccessPoint](ctx, q, id)
	if store.IsNotFound(err) {
		return errBadRequest("access_point_id %q: no such access point", id)
	}
	if err != nil {
		return err
	}
	if ap.SiteID != siteID {
		return errBadRequest("access_point_id %q belongs to another site", id)
	}
	return nil
}

// Registrations reports devices' SIP registrations (sip.Server).
type Registrations interface {
	Binding(deviceID string) (sip.Binding, bool)
}

// registrationView is a device's SIP registration as the API shows it.
type registrationView struct {
	Registered bool       `json:"registered"`
	Contact    string     `json:"contact,omitempty"`
	Source     string     `json:"source,omitempty" doc:"Address the REGISTER came from"`
	Transport  string     `json:"transport,omitempty"`
	UserAgent  string     `json:"user_agent,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastSeen   *time.Time `json:"last_seen,omitempty"`
}

// deviceView is a device with its current registration.
type deviceView struct {
	store.Device
	Registration registrationView `json:"registration"`
}

func (s *Server) presentDevice(_ context.Context, v *store.Device) deviceView {
	v.HasSIPPassword = v.SIPPassword != ""
	view := deviceView{Device: *v}
	if b, ok := s.registrations.Binding(v.ID); ok {
		view.Registration = registrationView{Registered: b.Registered, Contact: b.Contact, Source: b.Source,
			Transport: b.Transport, UserAgent: b.UserAgent}
		if !b.Expires.IsZero() {
			view.Registration.ExpiresAt = &b.Expires
		}
		if !b.LastSeen.IsZero() {
			view.Registration.LastSeen = &b.LastSeen
		}
	}
	return view
}

// SIPDirectory lets the SIP registrar find devices in the database.
func SIPDirectory(db *store.DB) sip.Directory {
	return sip.DirectoryFunc(func(ctx context.Context, username string) (sip.Device, error) {
		d, err := store.DeviceBySIPUsername(ctx, db.Q(), username)
		if store.IsNotFound(err) {
			return sip.Device{}, sip.ErrUnknownDevice
		}
		if err != nil {
			return sip.Device{}, err
		}
		return sip.Device{ID: d.ID, SiteID: d.SiteID, Username: d.SIPUsername, Password: d.SIPPassword, Enabled: d.Enabled}, nil
	})
}
