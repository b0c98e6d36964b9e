package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/attendant/attendant/store"
)

// Retention says how long recordings are kept; zero keeps them forever.
type Retention struct {
	Continuous time.Duration
	Evidence   time.Duration
}

// ObjectDeleter is what retention needs of the object store.
type ObjectDeleter interface {
	Delete(ctx context.Context, key string) error
}

// RetentionResult counts what one run removed.
type RetentionResult struct {
	Recordings, Evidence int
}

// retentionBatch bounds one query of a run; a run loops until done.
const retentionBatch = 200

// ApplyRetention deletes continuous segments older than the policy and
// purges the objects of case evidence older than it, except for cases on
// legal hold. Evidence rows stay (marked purged) so the chain still
// verifies; the run is written to the audit log.
func ApplyRetention(ctx context.Context, db *store.DB, objects ObjectDeleter, pol Retention, now time.Time, log *slog.Logger) (RetentionResult, error) {
	var res RetentionResult
	var errs []error
	if pol.Continuous > 0 {
		cutoff := now.Add(-pol.Continuous).UTC()
		for {
			var recs []store.Recording
			err := sqlx.SelectContext(ctx, db.Q(), &recs, db.Q().Rebind(
				"SELECT id, object_key FROM recordings WHERE end_at < ? ORDER BY end_at LIMIT "+fmt.Sprint(retentionBatch)), cutoff)
			if err != nil {
				return res, fmt.Errorf("retention: list old recordings: %w", err)
			}
			done := 0
			for _, r := range recs {
				if err := objects.Delete(ctx, r.Key); err != nil {
					errs = append(errs, fmt.Errorf("delete %s: %w", r.Key, err))
					continue
				}
				if err := store.Delete[store.Recording](ctx, db.Q(), r.ID); err != nil && !store.IsNotFound(err) {
					errs = append(errs, err)
					continue
				}
				done++
			}
			res.Recordings += done
			if len(recs) < retentionBatch || done == 0 {
				break
			}
		}
	}
	if pol.Evidence > 0 {
		cutoff := now.Add(-pol.Evidence).UTC()
		for {
			var evs []store.Evidence
			err := sqlx.SelectContext(ctx, db.Q(), &evs, db.Q().Rebind(`SELECT e.id, e.object_key, e.case_id FROM evidence e
				JOIN cases c ON c.id = e.case_id
				WHERE e.purged_at IS NULL AND e.end_at < ? AND NOT c.legal_hold
				ORDER BY e.end_at LIMIT `+fmt.Sprint(retentionBatch)), cutoff)
			if err != nil {
				return res, fmt.Errorf("retention: list old evidence: %w", err)
			}
			done := 0
			for _, e := range evs {
				if err := objects.Delete(ctx, e.Key); err != nil {
					errs = append(errs, fmt.Errorf("delete %s: %w", e.Key, err))
					continue
				}
				_, err := db.Q().ExecContext(ctx, db.Q().Rebind("UPDATE evidence SET purged_at = ? WHERE id = ?"), store.Now(), e.ID)
				if err != nil {
					errs = append(errs, fmt.Errorf("mark %s purged: %w", e.Key, err))
					continue
				}
				done++
			}
			res.Evidence += done
			if len(evs) < retentionBatch || done == 0 {
				break
			}
		}
	}
	if res.Recordings+res.Evidence > 0 {
		err := db.InTx(ctx, func(q store.Q) error {
			_, err := db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "retention", Action: "retention.purge",
				Detail: jsonDetail(map[string]any{"recordings": res.Recordings, "evidence": res.Evidence,
					"continuous_days": pol.Continuous.Hours() / 24, "evidence_days": pol.Evidence.Hours() / 24})})
			return err
		})
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		msg := err.Error()
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return res, fmt.Errorf("retention: %d failures: %s", strings.Count(msg, "\n")+1, msg)
	}
	if log != nil && res.Recordings+res.Evidence > 0 {
		log.Info("retention purged old recordings", "recordings", res.Recordings, "evidence", res.Evidence)
	}
	return res, nil
}
