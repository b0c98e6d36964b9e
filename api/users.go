package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/store"
)

const minPasswordLen = 8

// userInput is the writable shape of a user. password is write-only:
// required on create, unchanged when left out of a PATCH.
type userInput struct {
	Username    string   `json:"username" pattern:"^[A-Za-z0-9._@-]+$" minLength:"1" maxLength:"64"`
	Password    string   `json:"password,omitempty" minLength:"8" maxLength:"256" writeOnly:"true"`
	Role        string   `json:"role" enum:"agent,supervisor,reviewer,admin"`
	DisplayName string   `json:"display_name,omitempty" maxLength:"100"`
	Seat        string   `json:"seat,omitempty" maxLength:"32"`
	Email       string   `json:"email,omitempty" maxLength:"254"`
	Phone       string   `json:"phone,omitempty" maxLength:"32"`
	Groups      []string `json:"groups,omitempty" maxItems:"50" doc:"Agent groups"`
	SiteIDs     []string `json:"site_ids,omitempty" maxItems:"1000" doc:"Sites an agent or supervisor works for"`
	Disabled    bool     `json:"disabled,omitempty"`
}

type userList struct {
	PageParams
	Role string `query:"role" enum:"agent,supervisor,reviewer,admin"`
	Q    string `query:"q" maxLength:"100" doc:"Username or display name contains this"`
}

func (s *Server) registerUsers() {
	register(s, resource[store.User, userInput, store.User]{
		name: "user", path: "/api/v1/users", tag: "users",
		readRoles: staffRoles, writeRoles: adminOnly,
		siteOf:  func(*store.User) string { return "" },
		present: same[store.User],
		meta: func(v *store.User) (*string, *time.Time, *time.Time) {
			return &v.ID, &v.CreatedAt, &v.UpdatedAt
		},
		build: s.buildUser,
		beforeDelete: func(ctx context.Context, q store.Q, v *store.User) error {
			if v.Role != store.RoleAdmin {
				return nil
			}
			return s.keepOneAdmin(ctx, q, v.ID)
		},
	}, func(in *userList) store.Filter {
		f := in.filter()
		f.Eq = map[string]string{"role": in.Role}
		f.Search, f.SearchColumns = in.Q, []string{"username", "display_name"}
		return f
	})
}

func (s *Server) buildUser(ctx context.Context, q store.Q, in *userInput, v *store.User) error {
	for _, g := range in.Groups {
		if g == "" || len(g) > 64 {
			return errBadRequest("groups: each group name needs 1 to 64 characters")
		}
	}
	for _, id := range in.SiteIDs {
		if err := requireSite(ctx, q, id); err != nil {
			return err
		}
	}
	isNew := v.PasswordHash == ""
	if !isNew {
		// Changes that lock a user out end their sessions now.
		if in.Password != "" || (in.Disabled && !v.Disabled) || in.Role != v.Role {
			if err := store.DeleteUserTokens(ctx, q, v.ID, ""); err != nil {
				return err
			}
		}
		if v.Role == store.RoleAdmin && (in.Role != store.RoleAdmin || in.Disabled) {
			if err := s.keepOneAdmin(ctx, q, v.ID); err != nil {
				return err
			}
		}
	}
	switch {
	case in.Password != "":
		h, err := auth.HashPassword(in.Password)
		if err != nil {
			return err
		}
		v.PasswordHash = h
	case isNew:
		return errBadRequest("password is required")
	}
	v.Username, v.Role, v.DisplayName, v.Seat = in.Username, in.Role, in.DisplayName, in.Seat
	v.Email, v.Phone, v.Disabled = in.Email, in.Phone, in.Disabled
	v.Groups, v.SiteIDs = store.StringList(in.Groups), store.StringList(in.SiteIDs)
	if v.Groups == nil {
		v.Groups = store.StringList{}
	}
	if v.SiteIDs == nil {
		v.SiteIDs = store.StringList{}
	}
	slices.Sort(v.SiteIDs)
	v.SiteIDs = slices.Compact(v.SiteIDs)
	return nil
}

// keepOneAdmin refuses to demote or disable the last enabled admin: that
// would leave nobody able to manage the server.
func (s *Server) keepOneAdmin(ctx context.Context, q store.Q, exceptID string) error {
	admins, _, err := store.List[store.User](ctx, q, store.Filter{Eq: map[string]string{"role": store.RoleAdmin}, Limit: store.MaxPage})
	if err != nil {
		return err
	}
	for _, a := range admins {
		if a.ID != exceptID && !a.Disabled {
			return nil
		}
	}
	return newError(http.StatusConflict, "this is the last enabled admin; make another admin first")
}
