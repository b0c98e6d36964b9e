package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// UserByUsername reads a user by login name.
func UserByUsername(ctx context.Context, q Q, username string) (User, error) {
	_, cols := columnsOf[User]()
	var u User
	stmt := q.Rebind("SELECT " + strings.Join(cols, ", ") + " FROM users WHERE username = ?")
	if err := sqlx.GetContext(ctx, q, &u, stmt, username); err != nil {
		return u, fmt.Errorf("get user %q: %w", username, mapError(err))
	}
	return u, nil
}

// CountUsers counts all users (zero on a fresh database).
func CountUsers(ctx context.Context, q Q) (int, error) {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, "SELECT COUNT(*) FROM users"); err != nil {
		return 0, fmt.Errorf("count users: %w", mapError(err))
	}
	return n, nil
}

// TokenBySecretHash finds a live token and its user; expired tokens and
// disabled users are not found.
func TokenBySecretHash(ctx context.Context, q Q, secretHash string, now time.Time) (Token, User, error) {
	_, cols := columnsOf[Token]()
	var t Token
	stmt := q.Rebind("SELECT " + strings.Join(cols, ", ") + " FROM tokens WHERE secret_hash = ? AND (expires_at IS NULL OR expires_at > ?)")
	if err := sqlx.GetContext(ctx, q, &t, stmt, secretHash, now); err != nil {
		return t, User{}, fmt.Errorf("find token: %w", mapError(err))
	}
	u, err := Get[User](ctx, q, t.UserID)
	if err != nil {
		return t, u, err
	}
	if u.Disabled {
		return t, u, fmt.Errorf("find token: user disabled: %w", ErrNotFound)
	}
	return t, u, nil
}

// TouchToken records that a token was used.
func TouchToken(ctx context.Context, q Q, id string, at time.Time) error {
	_, err := q.ExecContext(ctx, q.Rebind("UPDATE tokens SET last_used_at = ? WHERE id = ?"), at, id)
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, mapError(err))
	}
	return nil
}

// DeleteExpiredTokens removes tokens past their expiry.
func DeleteExpiredTokens(ctx context.Context, q Q, now time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, q.Rebind("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?"), now)
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", mapError(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// DeleteUserTokens removes every session and token of a user, e.g. when
// the user is disabled or the password changes.
func DeleteUserTokens(ctx context.Context, q Q, userID, kind string) error {
	stmt := "DELETE FROM tokens WHERE user_id = ?"
	args := []any{userID}
	if kind != "" {
		stmt += " AND kind = ?"
		args = append(args, kind)
	}
	if _, err := q.ExecContext(ctx, q.Rebind(stmt), args...); err != nil {
		return fmt.Errorf("delete tokens of user %s: %w", userID, mapError(err))
	}
	return nil
}

// DeviceBySIPUsername reads the device that authenticates as username.
func DeviceBySIPUsername(ctx context.Context, q Q, username string) (Device, error) {
	_, cols := columnsOf[Device]()
	var d Device
	stmt := q.Rebind("SELECT " + strings.Join(cols, ", ") + " FROM devices WHERE sip_username = ?")
	if err := sqlx.GetContext(ctx, q, &d, stmt, username); err != nil {
		return d, fmt.Errorf("get device by SIP user %q: %w", username, mapError(err))
	}
	return d, nil
}
