package api

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/attendant/attendant/auth"
	"github.com/attendant/attendant/store"
)

const sessionCookie = "attendant_session"

// Principal is who is making a request.
type Principal struct {
	User      store.User
	TokenID   string
	TokenKind string
}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// bearerOrCookie finds the secret a request carries: the Authorization
// header first (integrations), then the session cookie (the web app).
func bearerOrCookie(ctx huma.Context) string {
	if h := ctx.Header("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if c, err := huma.ReadCookie(ctx, sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// authenticate resolves the caller; operations decide whether one is
// needed (requireRoles).
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	ctx = huma.WithValue(ctx, remoteAddrKey{}, clientIP(ctx.RemoteAddr()))
	secret := bearerOrCookie(ctx)
	if secret == "" || !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) > 128 {
		next(ctx)
		return
	}
	now := store.Now()
	tok, user, err := store.TokenBySecretHash(ctx.Context(), s.db.Q(), auth.HashSecret(secret), now)
	if err != nil {
		if !store.IsNotFound(err) {
			s.log.Error("look up token", "err", err)
		}
		next(ctx)
		return
	}
	// Record use at most once a minute: a write per request would make
	// every read a database write.
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) > time.Minute {
		if err := store.TouchToken(ctx.Context(), s.db.Q(), tok.ID, now); err != nil {
			s.log.Warn("record token use", "err", err)
		}
	}
	p := &Principal{User: user, TokenID: tok.ID, TokenKind: tok.Kind}
	next(huma.WithValue(ctx, principalKey{}, p))
}

// AuthenticateRequest resolves the caller of a plain HTTP request (the
// WebSocket upgrade) as the API does: bearer token first, then the session
// cookie. False for nobody, an expired token or a disabled user.
func (s *Server) AuthenticateRequest(r *http.Request) (store.User, bool) {
	secret := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "bearer") {
			secret = strings.TrimSpace(tok)
		}
	} else if c, err := r.Cookie(sessionCookie); err == nil {
		secret = c.Value
	}
	if secret == "" || !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) > 128 {
		return store.User{}, false
	}
	_, user, err := store.TokenBySecretHash(r.Context(), s.db.Q(), auth.HashSecret(secret), store.Now())
	if err != nil {
		if !store.IsNotFound(err) {
			s.log.Error("look up token", "err", err)
		}
		return store.User{}, false
	}
	return user, true
}

// Roles allowed by an operation.
var (
	anyRole    = []string{store.RoleAgent, store.RoleSupervisor, store.RoleReviewer, store.RoleAdmin}
	adminOnly  = []string{store.RoleAdmin}
	staffRoles = []string{store.RoleSupervisor, store.RoleAdmin}
)

// requireRoles answers 401 without a valid login and 403 for a role the
// operation does not allow.
func (s *Server) requireRoles(roles []string) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		p := PrincipalFrom(ctx.Context())
		if p == nil {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="attendant"`)
			_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "authentication required: log in or send an API token as Authorization: Bearer")
			return
		}
		if !slices.Contains(roles, p.User.Role) {
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "role "+p.User.Role+" may not do this")
			return
		}
		next(ctx)
	}
}

// operation describes an endpoint. roles nil means public.
func (s *Server) operation(method, path, id, tag, summary string, roles []string) huma.Operation {
	op := huma.Operation{
		OperationID: id,
		Method:      method,
		Path:        path,
		Summary:     summary,
		Tags:        []string{tag},
		Errors:      []int{http.StatusBadRequest},
	}
	if roles != nil {
		op.Security = []map[string][]string{{"bearer": {}}, {"cookie": {}}}
		op.Middlewares = huma.Middlewares{s.requireRoles(roles)}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
		op.Description = "Roles: " + strings.Join(roles, ", ") + "."
	}
	return op
}

// siteScope is the set of sites a caller may see: nil for all. Admins and
// reviewers see every site; agents and supervisors see the sites they are
// assigned to, and nothing else.
func siteScope(p *Principal) []string {
	switch p.User.Role {
	case store.RoleAdmin, store.RoleReviewer:
		return nil
	}
	if p.User.SiteIDs == nil {
		return []string{}
	}
	return p.User.SiteIDs
}

// inScope reports whether the caller may see a record of siteID; records
// that belong to no site ("") are not site-scoped.
func inScope(p *Principal, siteID string) bool {
	if siteID == "" {
		return true
	}
	scope := siteScope(p)
	return scope == nil || slices.Contains(scope, siteID)
}

func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// audit records an action inside the transaction that makes it.
func (s *Server) audit(ctx context.Context, q store.Q, action, objectType, objectID, siteID string, detail map[string]any) error {
	e := store.AuditEntry{Action: action, ObjectType: objectType, ObjectID: objectID, SiteID: siteID}
	if p := PrincipalFrom(ctx); p != nil {
		e.ActorID, e.ActorName = p.User.ID, p.User.Username
	}
	if addr, ok := ctx.Value(remoteAddrKey{}).(string); ok {
		e.RemoteAddr = addr
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		e.Detail = string(b)
	}
	_, err := s.db.AppendAudit(ctx, q, e)
	return err
}

type remoteAddrKey struct{}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, err huma.StatusError) {
	writeJSON(w, err.GetStatus(), err)
}

var errUnauthorized = errors.New("wrong username or password")
