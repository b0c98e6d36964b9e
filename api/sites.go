package api

import (
	"context"
	"time"

	"github.com/attendant/attendant/store"
)

// siteInput is the writable shape of a site.
type siteInput struct {
	Name             string   `json:"name" minLength:"1" maxLength:"200"`
	Kind             string   `json:"kind" enum:"box,parking,web"`
	Code             string   `json:"code,omitempty" maxLength:"64"`
	Province         string   `json:"province,omitempty" maxLength:"100"`
	City             string   `json:"city,omitempty" maxLength:"100"`
	District         string   `json:"district,omitempty" maxLength:"100"`
	Compound         string   `json:"compound,omitempty" maxLength:"200"`
	Address          string   `json:"address,omitempty" maxLength:"500"`
	Latitude         *float64 `json:"latitude,omitempty" minimum:"-90" maximum:"90"`
	Longitude        *float64 `json:"longitude,omitempty" minimum:"-180" maximum:"180"`
	Tariff           string   `json:"tariff,omitempty" maxLength:"1000"`
	EmergencyContact string   `json:"emergency_contact,omitempty" maxLength:"200"`
	Notes            string   `json:"notes,omitempty" maxLength:"2000"`
}

type siteList struct {
	PageParams
	Kind string `query:"kind" enum:"box,parking,web" doc:"Only sites of this kind"`
	Q    string `query:"q" maxLength:"100" doc:"Name or code contains this, ignoring case"`
}

func (s *Server) registerSites() {
	register(s, resource[store.Site, siteInput, store.Site]{
		name: "site", path: "/api/v1/sites", tag: "sites",
		readRoles: anyRole, writeRoles: adminOnly,
		scopeColumn: "id",
		present:     same[store.Site],
		siteOf:      func(v *store.Site) string { return v.ID },
		meta: func(v *store.Site) (*string, *time.Time, *time.Time) {
			return &v.ID, &v.CreatedAt, &v.UpdatedAt
		},
		build: func(_ context.Context, _ store.Q, in *siteInput, v *store.Site) error {
			v.Name, v.Kind, v.Code = in.Name, in.Kind, in.Code
			v.Province, v.City, v.District, v.Compound, v.Address = in.Province, in.City, in.District, in.Compound, in.Address
			v.Latitude, v.Longitude = in.Latitude, in.Longitude
			v.Tariff, v.EmergencyContact, v.Notes = in.Tariff, in.EmergencyContact, in.Notes
			return nil
		},
	}, func(in *siteList) store.Filter {
		f := in.filter()
		f.Eq = map[string]string{"kind": in.Kind}
		f.Search, f.SearchColumns = in.Q, []string{"name", "code"}
		return f
	})
}
