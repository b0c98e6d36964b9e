package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// ListRecordings returns a camera's segments that overlap [from, to),
// oldest first, at most limit (capped at MaxPage).
func ListRecordings(ctx context.Context, q Q, cameraID string, from, to time.Time, limit int) ([]Recording, error) {
	_, cols := columnsOf[Recording]()
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	stmt := fmt.Sprintf("SELECT %s FROM recordings WHERE camera_id = ? AND start_at < ? AND end_at > ? ORDER BY start_at LIMIT %d",
		strings.Join(cols, ", "), limit)
	out := []Recording{}
	if err := sqlx.SelectContext(ctx, q, &out, q.Rebind(stmt), cameraID, to.UTC(), from.UTC()); err != nil {
		return nil, fmt.Errorf("list recordings of camera %s: %w", cameraID, mapError(err))
	}
	return out, nil
}

// SiteEventCounts is how many event cases of a site wait for review and
// how many were found normal and abnormal.
type SiteEventCounts struct {
	SiteID   string `db:"site_id" json:"site_id"`
	Pending  int    `db:"pending" json:"pending"`
	Normal   int    `db:"normal" json:"normal"`
	Abnormal int    `db:"abnormal" json:"abnormal"`
}

// EventCounts counts event cases per site (sites nil: all).
func EventCounts(ctx context.Context, q Q, sites []string) (map[string]SiteEventCounts, error) {
	stmt := `SELECT site_id,
		SUM(CASE WHEN disposition = '' THEN 1 ELSE 0 END) AS pending,
		SUM(CASE WHEN disposition = 'normal' THEN 1 ELSE 0 END) AS normal,
		SUM(CASE WHEN disposition = 'abnormal' THEN 1 ELSE 0 END) AS abnormal
		FROM cases WHERE kind = 'event'`
	var args []any
	if sites != nil {
		if len(sites) == 0 {
			return map[string]SiteEventCounts{}, nil
		}
		stmt += " AND site_id IN (?" + strings.Repeat(", ?", len(sites)-1) + ")"
		for _, s := range sites {
			args = append(args, s)
		}
	}
	stmt += " GROUP BY site_id"
	var rows []SiteEventCounts
	if err := sqlx.SelectContext(ctx, q, &rows, q.Rebind(stmt), args...); err != nil {
		return nil, fmt.Errorf("count events per site: %w", mapError(err))
	}
	out := make(map[string]SiteEventCounts, len(rows))
	for _, r := range rows {
		out[r.SiteID] = r
	}
	return out, nil
}
