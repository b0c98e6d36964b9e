package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// evidenceChainHash is SHA-256 over the previous link and the row's fields
// that say what the object is, in a fixed order. PurgedAt is left out: a
// retention purge removes the object, not the row's place in the chain.
func evidenceChainHash(e Evidence) string {
	canonical, _ := json.Marshal([]any{
		e.CaseID, e.Seq, e.ID, e.Key, e.Kind, e.MediaType, string(e.CameraID), string(e.DeviceID), string(e.TakenBy),
		e.Start.UTC().Format(time.RFC3339Nano), e.End.UTC().Format(time.RFC3339Nano), e.Size, e.SHA256,
		e.CreatedAt.UTC().Format(time.RFC3339Nano),
	})
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write([]byte{'\n'})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// AppendEvidence inserts e as the next link of its case's evidence chain
// and moves the case's head. Call it in a transaction (with the audit entry
// that records it): the case row is updated first, which serialises
// concurrent appends to one case on PostgreSQL's row lock (SQLite has one
// writer anyway).
func AppendEvidence(ctx context.Context, q Q, e *Evidence) error {
	now := Now()
	res, err := q.ExecContext(ctx, q.Rebind("UPDATE cases SET evidence_count = evidence_count + 1, updated_at = ? WHERE id = ?"), now, e.CaseID)
	if err != nil {
		return fmt.Errorf("append evidence to case %s: %w", e.CaseID, mapError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("append evidence to case %s: %w", e.CaseID, ErrNotFound)
	}
	var head struct {
		Count int    `db:"evidence_count"`
		Head  string `db:"evidence_head"`
	}
	if err := sqlx.GetContext(ctx, q, &head, q.Rebind("SELECT evidence_count, evidence_head FROM cases WHERE id = ?"), e.CaseID); err != nil {
		return fmt.Errorf("read evidence head of case %s: %w", e.CaseID, mapError(err))
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	e.Start, e.End, e.CreatedAt = e.Start.UTC().Truncate(time.Microsecond), e.End.UTC().Truncate(time.Microsecond), e.CreatedAt.UTC().Truncate(time.Microsecond)
	e.Seq = head.Count
	e.PrevHash = head.Head
	if e.PrevHash == "" {
		e.PrevHash = genesisHash
	}
	e.ChainHash = evidenceChainHash(*e)
	if err := Insert(ctx, q, e); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, q.Rebind("UPDATE cases SET evidence_head = ? WHERE id = ?"), e.ChainHash, e.CaseID); err != nil {
		return fmt.Errorf("move evidence head of case %s: %w", e.CaseID, mapError(err))
	}
	return nil
}

// AppendEvidenceOnce is AppendEvidence for an object a case keeps one
// copy of: when the case holds an object with e.SHA256 already, e becomes
// that row and added is false. The case row is locked before looking
// (PostgreSQL; SQLite has one writer), so two requests adding the same
// object at once add it once. Call it in a transaction, like AppendEvidence.
func AppendEvidenceOnce(ctx context.Context, q Q, e *Evidence) (added bool, err error) {
	res, err := q.ExecContext(ctx, q.Rebind("UPDATE cases SET evidence_head = evidence_head WHERE id = ?"), e.CaseID)
	if err != nil {
		return false, fmt.Errorf("lock case %s for its evidence: %w", e.CaseID, mapError(err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return false, fmt.Errorf("append evidence to case %s: %w", e.CaseID, ErrNotFound)
	}
	got, err := EvidenceBySHA256(ctx, q, e.CaseID, e.SHA256)
	switch {
	case err == nil:
		*e = got
		return false, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	return true, AppendEvidence(ctx, q, e)
}

// EvidenceBySHA256 is the case's first evidence row whose object has this
// SHA-256 (lower-case hex); ErrNotFound if none.
func EvidenceBySHA256(ctx context.Context, q Q, caseID, sha string) (Evidence, error) {
	_, cols := columnsOf[Evidence]()
	var out Evidence
	stmt := "SELECT " + strings.Join(cols, ", ") + " FROM evidence WHERE case_id = ? AND sha256 = ? ORDER BY seq LIMIT 1"
	if err := sqlx.GetContext(ctx, q, &out, q.Rebind(stmt), caseID, sha); err != nil {
		return out, fmt.Errorf("find evidence %s of case %s: %w", sha, caseID, mapError(err))
	}
	return out, nil
}

// CaseEvidence returns a case's evidence in chain order.
func CaseEvidence(ctx context.Context, q Q, caseID string) ([]Evidence, error) {
	_, cols := columnsOf[Evidence]()
	var out []Evidence
	stmt := "SELECT " + strings.Join(cols, ", ") + " FROM evidence WHERE case_id = ? ORDER BY seq, id"
	if err := sqlx.SelectContext(ctx, q, &out, q.Rebind(stmt), caseID); err != nil {
		return nil, fmt.Errorf("read evidence of case %s: %w", caseID, mapError(err))
	}
	if out == nil {
		out = []Evidence{}
	}
	return out, nil
}

// ChainProblem is one break found in a case's evidence chain.
type ChainProblem struct {
	Seq        int    `json:"seq,omitempty"`
	EvidenceID string `json:"evidence_id,omitempty"`
	Key        string `json:"key,omitempty"`
	Problem    string `json:"problem"`
}

// VerifyEvidenceChain checks the chain of rows (in chain order, as
// CaseEvidence returns them) against the case's count and head: a row
// deleted, inserted, reordered or altered is reported. It does not read the
// objects; the recorder compares those with the rows.
func VerifyEvidenceChain(c Case, rows []Evidence) []ChainProblem {
	var problems []ChainProblem
	prev := genesisHash
	for i, e := range rows {
		want := i + 1
		switch {
		case e.Seq != want:
			problems = append(problems, ChainProblem{e.Seq, e.ID, e.Key, fmt.Sprintf("out of place: expected link %d of the chain (a link is missing or reordered)", want)})
		case e.PrevHash != prev:
			problems = append(problems, ChainProblem{e.Seq, e.ID, e.Key, "link to the previous evidence broken (a row was removed, inserted or reordered)"})
		}
		if evidenceChainHash(e) != e.ChainHash {
			problems = append(problems, ChainProblem{e.Seq, e.ID, e.Key, "evidence row altered: chain hash mismatch"})
		}
		prev = e.ChainHash
	}
	if len(rows) != c.EvidenceCount {
		problems = append(problems, ChainProblem{Problem: fmt.Sprintf("case records %d evidence items, %d found (rows deleted or added)", c.EvidenceCount, len(rows))})
	}
	if c.EvidenceCount > 0 && prev != c.EvidenceHead {
		problems = append(problems, ChainProblem{Problem: "the chain does not end at the case's recorded head"})
	}
	return problems
}

// AuditEvidenceAdd is the audit action that anchors each evidence link (on
// the case): verification compares the chain with these entries, so a
// chain rewritten from scratch is told apart.
const AuditEvidenceAdd = "evidence.add"

// EvidenceAuditDetail is the detail of an AuditEvidenceAdd entry.
func EvidenceAuditDetail(ev Evidence) map[string]any {
	return map[string]any{"evidence_id": ev.ID, "seq": ev.Seq, "key": ev.Key, "kind": ev.Kind,
		"camera_id": ev.CameraID, "sha256": ev.SHA256, "size": ev.Size, "chain_hash": ev.ChainHash}
}
