package recorder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/store"
)

// Problem is one thing wrong with a case's evidence.
type Problem struct {
	Seq        int    `json:"seq,omitempty"`
	EvidenceID string `json:"evidence_id,omitempty"`
	Key        string `json:"key,omitempty"`
	Problem    string `json:"problem"`
}

// Report is the result of verifying one case.
type Report struct {
	CaseID string `json:"case_id"`
	// OK is true when the chain is whole and every object is intact.
	OK bool `json:"ok"`
	// Problems lists what is not, one entry per finding.
	Problems []Problem `json:"problems"`
	// Checked is the number of objects read and hashed, Bytes their size;
	// Purged the number removed by retention (not a problem).
	Checked int   `json:"checked"`
	Bytes   int64 `json:"bytes"`
	Purged  int   `json:"purged"`
	// Head is the case's recorded chain head.
	Head string `json:"evidence_head"`
}

// ObjectReader is what verification needs of the object store.
type ObjectReader interface {
	Get(ctx context.Context, key string, rng *objstore.Range) (io.ReadCloser, objstore.ObjectInfo, error)
}

// VerifyCase checks a case's evidence: the chain of index rows against the
// case's head and count and against the audit log's anchors, and every
// object's bytes against the SHA-256 and size in its row. A deleted,
// reordered, truncated or altered object or row is reported by key.
func VerifyCase(ctx context.Context, db *store.DB, objects ObjectReader, caseID string) (Report, error) {
	rep := Report{CaseID: caseID, Problems: []Problem{}}
	c, err := store.Get[store.Case](ctx, db.Q(), caseID)
	if err != nil {
		return rep, fmt.Errorf("verify case %s: %w", caseID, err)
	}
	rep.Head = c.EvidenceHead
	rows, err := store.CaseEvidence(ctx, db.Q(), caseID)
	if err != nil {
		return rep, fmt.Errorf("verify case %s: %w", caseID, err)
	}
	for _, p := range store.VerifyEvidenceChain(c, rows) {
		rep.Problems = append(rep.Problems, Problem{p.Seq, p.EvidenceID, p.Key, p.Problem})
	}
	anchorProblems, err := checkAnchors(ctx, db, caseID, rows)
	if err != nil {
		return rep, err
	}
	rep.Problems = append(rep.Problems, anchorProblems...)
	for _, e := range rows {
		if e.PurgedAt != nil {
			rep.Purged++
			continue
		}
		n, problem, err := checkObject(ctx, objects, e)
		if err != nil {
			return rep, err
		}
		rep.Checked++
		rep.Bytes += n
		if problem != "" {
			rep.Problems = append(rep.Problems, Problem{e.Seq, e.ID, e.Key, problem})
		}
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// checkObject reads an object and compares it with its row. A store that
// cannot be reached is an error (no verdict), not a problem.
func checkObject(ctx context.Context, objects ObjectReader, e store.Evidence) (int64, string, error) {
	rc, _, err := objects.Get(ctx, e.Key, nil)
	if errors.Is(err, objstore.ErrNotFound) {
		return 0, "object missing from the store", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", e.Key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return n, "", fmt.Errorf("read %s: %w", e.Key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case n != e.Size && n < e.Size:
		return n, fmt.Sprintf("object truncated: %d bytes, %d recorded", n, e.Size), nil
	case n != e.Size:
		return n, fmt.Sprintf("object size changed: %d bytes, %d recorded", n, e.Size), nil
	case sum != e.SHA256:
		return n, "object altered: SHA-256 " + sum + " differs from the recorded " + e.SHA256, nil
	}
	return n, "", nil
}

// checkAnchors compares the rows with the audit log's evidence.add entries
// for the case: the audit log is append-only and chained on its own, so a
// chain rebuilt from scratch in the index does not match it.
func checkAnchors(ctx context.Context, db *store.DB, caseID string, rows []store.Evidence) ([]Problem, error) {
	anchors := map[string]string{} // evidence id -> chain hash
	var after int64
	for {
		page, err := store.ListAudit(ctx, db.Q(), store.AuditFilter{Action: store.AuditEvidenceAdd, ObjectType: "case",
			ObjectID: caseID, AfterSeq: after, Limit: store.MaxPage})
		if err != nil {
			return nil, fmt.Errorf("verify case %s: %w", caseID, err)
		}
		for _, a := range page {
			var d struct {
				EvidenceID string `json:"evidence_id"`
				ChainHash  string `json:"chain_hash"`
			}
			if json.Unmarshal([]byte(a.Detail), &d) == nil && d.EvidenceID != "" {
				anchors[d.EvidenceID] = d.ChainHash
			}
			after = a.Seq
		}
		if len(page) < store.MaxPage {
			break
		}
	}
	var problems []Problem
	seen := map[string]bool{}
	for _, e := range rows {
		seen[e.ID] = true
		h, ok := anchors[e.ID]
		switch {
		case !ok:
			problems = append(problems, Problem{e.Seq, e.ID, e.Key, "evidence not in the audit log: added outside attendant"})
		case h != e.ChainHash:
			problems = append(problems, Problem{e.Seq, e.ID, e.Key, "evidence differs from what the audit log recorded when it was added"})
		}
	}
	for id := range anchors {
		if !seen[id] {
			problems = append(problems, Problem{EvidenceID: id, Problem: "evidence recorded in the audit log is missing from the index"})
		}
	}
	return problems, nil
}
