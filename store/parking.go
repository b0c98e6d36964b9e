package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// SetCasePlate records the (normalised) vehicle plate of a case.
// ErrNotFound when there is no such case.
func SetCasePlate(ctx context.Context, q Q, caseID, plate string, at time.Time) error {
	res, err := q.ExecContext(ctx, q.Rebind("UPDATE cases SET plate = ?, updated_at = ? WHERE id = ?"), plate, at, caseID)
	if err != nil {
		return fmt.Errorf("set plate of case %s: %w", caseID, mapError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set plate of case %s: %w", caseID, ErrNotFound)
	}
	return nil
}

// CaseLane is where a case's vehicle stands, as the parking system is
// told: the site's code and the lane (access point) with its kind.
type CaseLane struct {
	SiteCode        string `db:"site_code"`
	AccessPointID   string `db:"access_point_id"`
	AccessPointKind string `db:"access_point_kind" doc:"entrance, exit or door; empty without a lane"`
}

// CaseLaneOf finds a case's lane: its own access point, else its
// device's (a robot call's case names the robot, the robot its lane).
// ErrNotFound when there is no such case.
func CaseLaneOf(ctx context.Context, q Q, caseID string) (CaseLane, error) {
	var l CaseLane
	err := sqlx.GetContext(ctx, q, &l, q.Rebind(`
		SELECT s.code AS site_code, COALESCE(ap.id, '') AS access_point_id, COALESCE(ap.kind, '') AS access_point_kind
		FROM cases c
		JOIN sites s ON s.id = c.site_id
		LEFT JOIN devices d ON d.id = c.device_id
		LEFT JOIN access_points ap ON ap.id = COALESCE(c.access_point_id, d.access_point_id)
		WHERE c.id = ?`), caseID)
	if err != nil {
		return l, fmt.Errorf("lane of case %s: %w", caseID, mapError(err))
	}
	return l, nil
}
