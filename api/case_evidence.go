package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/store"
)

// errObjectStore marks a failure of the object store in addEvidence, as
// opposed to the database's: the caller tells the agent "not saved".
var errObjectStore = errors.New("object store")

// newEvidence is an object a request keeps as evidence of a case.
type newEvidence struct {
	// Row is the evidence row to append: CaseID, Key, Kind, MediaType,
	// times and who. Size and SHA256 are the stored object's.
	Row      store.Evidence
	Data     []byte
	Metadata map[string]string
	// Once keeps one copy per case: when the case holds an object with
	// the same SHA-256, that row is the answer and nothing is stored.
	Once bool
}

// addEvidence puts an object in the store and appends it to the case's
// evidence chain with its evidence.add audit entry, in one transaction,
// as every picture a request takes or receives is kept. added is false
// when Once found the object on the case already. Object store failures
// wrap errObjectStore.
func (s *Server) addEvidence(ctx context.Context, c store.Case, n newEvidence) (ev store.Evidence, added bool, err error) {
	ev = n.Row
	if n.Once {
		// looked up before storing, so asking again puts nothing in the
		// store; AppendEvidenceOnce looks again under the case's lock
		sum := sha256.Sum256(n.Data)
		got, err := store.EvidenceBySHA256(ctx, s.db.Q(), c.ID, hex.EncodeToString(sum[:]))
		switch {
		case err == nil:
			return got, false, nil
		case !errors.Is(err, store.ErrNotFound):
			return ev, false, err
		}
	}
	info, err := s.objects.Put(ctx, ev.Key, bytes.NewReader(n.Data), int64(len(n.Data)), objstore.PutOptions{
		ContentType: ev.MediaType, Metadata: n.Metadata})
	if err != nil {
		return ev, false, fmt.Errorf("%w: %w", errObjectStore, err)
	}
	ev.Size, ev.SHA256 = info.Size, info.SHA256
	added = true
	err = s.db.InTx(ctx, func(q store.Q) error {
		if n.Once {
			var err error
			if added, err = store.AppendEvidenceOnce(ctx, q, &ev); err != nil || !added {
				return err
			}
		} else if err := store.AppendEvidence(ctx, q, &ev); err != nil {
			return err
		}
		return s.audit(ctx, q, store.AuditEvidenceAdd, "case", c.ID, c.SiteID, store.EvidenceAuditDetail(ev))
	})
	if err != nil {
		return ev, false, fmt.Errorf("add evidence %s to case %s: %w", ev.Key, c.ID, err)
	}
	return ev, added, nil
}

// evidenceContentPath is where the web app reads an evidence object's
// bytes (GET /api/v1/evidence/{id}/content, with the session cookie).
func evidenceContentPath(id string) string {
	return "/api/v1/evidence/" + url.PathEscape(id) + "/content"
}
