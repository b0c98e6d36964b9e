package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	Seq        int64     `db:"seq" json:"seq"`
	At         time.Time `db:"at" json:"at"`
	ActorID    string    `db:"actor_id" json:"actor_id"`
	ActorName  string    `db:"actor_name" json:"actor_name"`
	Action     string    `db:"action" json:"action"`
	ObjectType string    `db:"object_type" json:"object_type"`
	ObjectID   string    `db:"object_id" json:"object_id"`
	SiteID     string    `db:"site_id" json:"site_id"`
	Detail     string    `db:"detail" json:"detail" doc:"JSON object with action details"`
	RemoteAddr string    `db:"remote_addr" json:"remote_addr"`
	PrevHash   string    `db:"prev_hash" json:"prev_hash"`
	Hash       string    `db:"hash" json:"hash"`
}

// genesisHash is the prev_hash of the first entry.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// chainHash is SHA-256 over the previous hash and the entry's fields in a
// fixed order, so altering, removing or reordering any entry breaks every
// hash after it.
func chainHash(e AuditEntry) string {
	canonical, _ := json.Marshal([]any{
		e.Seq, e.At.UTC().Format(time.RFC3339Nano), e.ActorID, e.ActorName, e.Action,
		e.ObjectType, e.ObjectID, e.SiteID, e.Detail, e.RemoteAddr,
	})
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write([]byte{'\n'})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit adds an entry to the log, chained to the last one. Call it
// inside the transaction that makes the change it records, so both land
// or neither does.
func (db *DB) AppendAudit(ctx context.Context, q Q, e AuditEntry) (AuditEntry, error) {
	if db.dialect == Postgres {
		// Serialise appends across nodes; readers are not blocked.
		if _, err := q.ExecContext(ctx, "LOCK TABLE audit_log IN EXCLUSIVE MODE"); err != nil {
			return e, fmt.Errorf("lock audit log: %w", mapError(err))
		}
	}
	var last struct {
		Seq  int64  `db:"seq"`
		Hash string `db:"hash"`
	}
	err := sqlx.GetContext(ctx, q, &last, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
	switch mapped := mapError(err); {
	case err == nil:
	case IsNotFound(mapped):
		last.Hash = genesisHash
	default:
		return e, fmt.Errorf("read audit log tail: %w", mapped)
	}
	if e.At.IsZero() {
		e.At = Now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.Detail == "" {
		e.Detail = "{}"
	}
	e.Seq = last.Seq + 1
	e.PrevHash = last.Hash
	e.Hash = chainHash(e)
	_, err = sqlx.NamedExecContext(ctx, q, `INSERT INTO audit_log
		(seq, at, actor_id, actor_name, action, object_type, object_id, site_id, detail, remote_addr, prev_hash, hash)
		VALUES (:seq, :at, :actor_id, :actor_name, :action, :object_type, :object_id, :site_id, :detail, :remote_addr, :prev_hash, :hash)`, e)
	if err != nil {
		return e, fmt.Errorf("append audit entry: %w", mapError(err))
	}
	return e, nil
}

// AuditFilter narrows an audit listing.
type AuditFilter struct {
	ActorID    string
	Action     string
	ObjectType string
	ObjectID   string
	// AfterSeq pages forward; Limit defaults to 100.
	AfterSeq int64
	Limit    int
}

// ListAudit reads entries in sequence order.
func ListAudit(ctx context.Context, q Q, f AuditFilter) ([]AuditEntry, error) {
	stmt := "SELECT seq, at, actor_id, actor_name, action, object_type, object_id, site_id, detail, remote_addr, prev_hash, hash FROM audit_log WHERE seq > ?"
	args := []any{f.AfterSeq}
	for col, v := range map[string]string{"actor_id": f.ActorID, "action": f.Action, "object_type": f.ObjectType, "object_id": f.ObjectID} {
		if v != "" {
			stmt += " AND " + col + " = ?"
			args = append(args, v)
		}
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxPage {
		limit = 100
	}
	stmt += fmt.Sprintf(" ORDER BY seq LIMIT %d", limit)
	out := []AuditEntry{}
	if err := sqlx.SelectContext(ctx, q, &out, q.Rebind(stmt), args...); err != nil {
		return nil, fmt.Errorf("list audit log: %w", mapError(err))
	}
	return out, nil
}

// AuditProblem is one break found in the audit chain.
type AuditProblem struct {
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// VerifyAudit walks the whole chain and reports every entry whose hash,
// link or sequence is wrong.
func VerifyAudit(ctx context.Context, q Q) ([]AuditProblem, int64, error) {
	rows, err := q.QueryxContext(ctx, "SELECT seq, at, actor_id, actor_name, action, object_type, object_id, site_id, detail, remote_addr, prev_hash, hash FROM audit_log ORDER BY seq")
	if err != nil {
		return nil, 0, fmt.Errorf("read audit log: %w", mapError(err))
	}
	defer rows.Close()
	var (
		problems []AuditProblem
		prev           = genesisHash
		wantSeq  int64 = 1
		n        int64
	)
	for rows.Next() {
		var e AuditEntry
		if err := rows.StructScan(&e); err != nil {
			return nil, n, fmt.Errorf("scan audit entry: %w", err)
		}
		n++
		if e.Seq != wantSeq {
			problems = append(problems, AuditProblem{e.Seq, fmt.Sprintf("expected sequence %d: entries missing", wantSeq)})
		}
		if e.PrevHash != prev {
			problems = append(problems, AuditProblem{e.Seq, "link to previous entry broken"})
		}
		if chainHash(e) != e.Hash {
			problems = append(problems, AuditProblem{e.Seq, "entry altered: hash mismatch"})
		}
		prev, wantSeq = e.Hash, e.Seq+1
	}
	if err := rows.Err(); err != nil {
		return nil, n, fmt.Errorf("read audit log: %w", err)
	}
	return problems, n, nil
}
