package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/store"
)

type tokenCreate struct {
	Body struct {
		Name          string `json:"name" minLength:"1" maxLength:"100" doc:"What the token is for, e.g. parking-system integration"`
		ExpiresInDays int    `json:"expires_in_days,omitempty" minimum:"0" maximum:"3650" doc:"0 or absent: never expires"`
		UserID        string `json:"user_id,omitempty" maxLength:"64" doc:"Admins may issue a token for another user; the token acts with that user's role"`
	}
}

type newTokenBody struct {
	store.Token
	Secret string `json:"token" doc:"The secret; shown only in this response"`
}

type tokenList struct {
	PageParams
	UserID string `query:"user_id" maxLength:"64" doc:"Admins: only this user's tokens"`
	Kind   string `query:"kind" enum:"session,api" default:"api"`
}

func (s *Server) registerTokens() {
	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/tokens", "list-tokens", "auth",
		"List API tokens (your own; admins: everyone's)", anyRole),
		func(ctx context.Context, in *tokenList) (*listOutput[store.Token], error) {
			p := PrincipalFrom(ctx)
			f := in.filter()
			f.Eq = map[string]string{"user_id": in.UserID, "kind": in.Kind}
			if p.User.Role != store.RoleAdmin {
				f.Eq["user_id"] = p.User.ID
			}
			items, next, err := store.List[store.Token](ctx, s.db.Q(), f)
			if err != nil {
				return nil, s.storeError("token", err)
			}
			out := &listOutput[store.Token]{Body: listBody[store.Token]{Items: items}}
			if next != "" {
				out.Body.Next = &next
			}
			return out, nil
		})

	op := s.operation(http.MethodPost, "/api/v1/tokens", "create-token", "auth", "Create an API token", anyRole)
	op.DefaultStatus = http.StatusCreated
	op.MaxBodyBytes = maxAdminBody
	huma.Register(s.api, op, func(ctx context.Context, in *tokenCreate) (*itemOutput[newTokenBody], error) {
		p := PrincipalFrom(ctx)
		owner := p.User.ID
		if in.Body.UserID != "" && in.Body.UserID != owner {
			if p.User.Role != store.RoleAdmin {
				return nil, errForbidden("only admins may issue tokens for other users")
			}
			if _, err := store.Get[store.User](ctx, s.db.Q(), in.Body.UserID); err != nil {
				if store.IsNotFound(err) {
					return nil, errBadRequest("user_id %q: no such user", in.Body.UserID)
				}
				return nil, s.storeError("user", err)
			}
			owner = in.Body.UserID
		}
		secret, hash := auth.NewSecret()
		now := store.Now()
		tok := store.Token{ID: store.NewID(), SecretHash: hash, UserID: owner, Kind: store.TokenAPI,
			Name: in.Body.Name, CreatedAt: now}
		if in.Body.ExpiresInDays > 0 {
			exp := now.Add(time.Duration(in.Body.ExpiresInDays) * 24 * time.Hour)
			tok.ExpiresAt = &exp
		}
		err := s.db.InTx(ctx, func(q store.Q) error {
			if err := store.Insert(ctx, q, &tok); err != nil {
				return err
			}
			return s.audit(ctx, q, "token.create", "token", tok.ID, "", map[string]any{"name": tok.Name, "user_id": owner})
		})
		if err != nil {
			return nil, s.storeError("token", err)
		}
		return &itemOutput[newTokenBody]{Body: newTokenBody{Token: tok, Secret: secret}}, nil
	})

	op = s.operation(http.MethodDelete, "/api/v1/tokens/{id}", "delete-token", "auth", "Revoke a token", anyRole)
	op.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, op, func(ctx context.Context, in *idInput) (*struct{}, error) {
		p := PrincipalFrom(ctx)
		err := s.db.InTx(ctx, func(q store.Q) error {
			tok, err := store.Get[store.Token](ctx, q, in.ID)
			if err != nil {
				return err
			}
			if tok.UserID != p.User.ID && p.User.Role != store.RoleAdmin {
				return errNotFound("token", in.ID)
			}
			if err := store.Delete[store.Token](ctx, q, in.ID); err != nil {
				return err
			}
			return s.audit(ctx, q, "token.delete", "token", in.ID, "", nil)
		})
		if err != nil {
			return nil, s.apiError("token", err)
		}
		return nil, nil
	})
}
