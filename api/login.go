package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/store"
)

type loginInput struct {
	Body struct {
		Username string `json:"username" minLength:"1" maxLength:"64"`
		Password string `json:"password" minLength:"1" maxLength:"256"`
	}
}

type loginBody struct {
	Token     string     `json:"token" doc:"Send as Authorization: Bearer; also set as the session cookie"`
	ExpiresAt time.Time  `json:"expires_at"`
	User      store.User `json:"user"`
}

type loginOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      loginBody
}

type logoutOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
}

type userOutput struct {
	Body store.User
}

func (s *Server) registerAuth() {
	op := s.operation(http.MethodPost, "/api/v1/login", "login", "auth", "Log in", nil)
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusTooManyRequests)
	huma.Register(s.api, op, s.login)

	op = s.operation(http.MethodPost, "/api/v1/logout", "logout", "auth", "Log out (ends this session)", anyRole)
	op.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, op, s.logout)

	huma.Register(s.api, s.operation(http.MethodGet, "/api/v1/me", "me", "auth", "The logged-in user", anyRole),
		func(ctx context.Context, _ *struct{}) (*userOutput, error) {
			return &userOutput{Body: PrincipalFrom(ctx).User}, nil
		})
}

func (s *Server) login(ctx context.Context, in *loginInput) (*loginOutput, error) {
	ip, _ := ctx.Value(remoteAddrKey{}).(string)
	username := strings.TrimSpace(in.Body.Username)
	// Both limits are charged on every attempt: one address cannot try
	// many names, and many addresses cannot try one name.
	ipOK := s.limiter.Allow("ip:" + ip)
	userOK := s.limiter.Allow("user:" + strings.ToLower(username))
	if !ipOK || !userOK {
		s.log.Warn("login rate-limited", "username", username, "remote", ip)
		return nil, newError(http.StatusTooManyRequests, "too many login attempts; wait a minute and try again")
	}
	user, err := store.UserByUsername(ctx, s.db.Q(), username)
	switch {
	case store.IsNotFound(err):
		auth.BurnPasswordCheck(in.Body.Password)
		err = errUnauthorized
	case err != nil:
		return nil, s.storeError("user", err)
	default:
		if cerr := auth.CheckPassword(in.Body.Password, user.PasswordHash); cerr != nil {
			if !errors.Is(cerr, auth.ErrBadPassword) {
				s.log.Error("check password", "username", username, "err", cerr)
			}
			err = errUnauthorized
		} else if user.Disabled {
			err = errUnauthorized
		}
	}
	if err != nil {
		auditErr := s.db.InTx(ctx, func(q store.Q) error {
			return s.audit(ctx, q, "login.failed", "user", user.ID, "", map[string]any{"username": username})
		})
		if auditErr != nil {
			s.log.Error("audit failed login", "err", auditErr)
		}
		s.log.Info("login failed", "username", username, "remote", ip)
		return nil, newError(http.StatusUnauthorized, "wrong username or password")
	}

	secret, hash := auth.NewSecret()
	now := store.Now()
	expires := now.Add(s.cfg.SessionTTL)
	tok := store.Token{ID: store.NewID(), SecretHash: hash, UserID: user.ID, Kind: store.TokenSession,
		Name: "web login", CreatedAt: now, ExpiresAt: &expires}
	// The principal is not in the context yet; name the actor by hand.
	actorCtx := context.WithValue(ctx, principalKey{}, &Principal{User: user})
	err = s.db.InTx(ctx, func(q store.Q) error {
		if err := store.Insert(ctx, q, &tok); err != nil {
			return err
		}
		return s.audit(actorCtx, q, "login", "user", user.ID, "", nil)
	})
	if err != nil {
		return nil, s.storeError("session", err)
	}
	s.log.Info("login", "username", user.Username, "role", user.Role, "remote", ip)
	out := &loginOutput{Body: loginBody{Token: secret, ExpiresAt: expires, User: user}}
	out.SetCookie = s.cookie(secret, expires)
	return out, nil
}

func (s *Server) cookie(value string, expires time.Time) http.Cookie {
	c := http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   s.cfg.SecureCookies,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

func (s *Server) logout(ctx context.Context, _ *struct{}) (*logoutOutput, error) {
	p := PrincipalFrom(ctx)
	if p.TokenKind == store.TokenSession {
		err := s.db.InTx(ctx, func(q store.Q) error {
			if err := store.Delete[store.Token](ctx, q, p.TokenID); err != nil && !store.IsNotFound(err) {
				return err
			}
			return s.audit(ctx, q, "logout", "user", p.User.ID, "", nil)
		})
		if err != nil {
			return nil, s.storeError("session", err)
		}
	}
	return &logoutOutput{SetCookie: s.cookie("", time.Time{})}, nil
}

// EnsureAdmin creates the first admin on an empty database. The password
// comes from the caller (ATTENDANT_ADMIN_PASSWORD) or is generated; a
// generated one is returned so the caller can show it once.
func EnsureAdmin(ctx context.Context, db *store.DB, password string, log *slog.Logger) (generated string, err error) {
	n, err := store.CountUsers(ctx, db.Q())
	if err != nil {
		return "", err
	}
	if n > 0 {
		return "", nil
	}
	if password == "" {
		password = auth.NewPassword()
		generated = password
	}
	if len(password) < minPasswordLen {
		return "", fmt.Errorf("admin password must have at least %d characters", minPasswordLen)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	now := store.Now()
	u := store.User{ID: store.NewID(), Username: "admin", DisplayName: "Administrator", PasswordHash: hash,
		Role: store.RoleAdmin, Groups: store.StringList{}, SiteIDs: store.StringList{}, CreatedAt: now, UpdatedAt: now}
	err = db.InTx(ctx, func(q store.Q) error {
		if err := store.Insert(ctx, q, &u); err != nil {
			return err
		}
		_, err := db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "system", Action: "user.create",
			ObjectType: "user", ObjectID: u.ID, Detail: `{"username":"admin","bootstrap":true}`})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create first admin: %w", err)
	}
	log.Info("created first admin user", "username", "admin", "password_source", map[bool]string{true: "generated", false: "ATTENDANT_ADMIN_PASSWORD"}[generated != ""])
	return generated, nil
}
