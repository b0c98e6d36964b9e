package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"
)

// Metadata the recorder gives spooled objects; the index is built from it
// when the store has the object (Index), so it survives a crash in between.
const (
	metaKind         = "attendant-kind" // kindSegment | kindEvidence
	metaEvidenceKind = "evidence-kind"  // clip, call-audio, transcript, …
	metaCase         = "case"
	metaCamera       = "camera"
	metaDevice       = "device"
	metaSite         = "site"
	metaTakenBy      = "taken-by"
	metaStart        = "start"
	metaEnd          = "end"

	kindSegment  = "segment"
	kindEvidence = "evidence"
)

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// EvidenceKey is where an evidence object lives: readable, partitioned by
// site and day (docs/evidence.md).
func EvidenceKey(siteID, caseID, kind string, start time.Time, ext string) string {
	start = start.UTC()
	return fmt.Sprintf("sites/%s/%04d/%02d/%02d/%s/%s-%s.%s", siteID, start.Year(), start.Month(), start.Day(),
		caseID, kind, start.Format("20060102T150405.000Z"), ext)
}

// EvidenceMeta describes an evidence object spooled with SpoolEvidence.
type EvidenceMeta struct {
	CaseID, SiteID string
	// Kind is what it is: clip, call-audio, transcript, snapshot-scene…
	Kind               string
	CameraID, DeviceID string
	TakenBy            string
	Start, End         time.Time
}

// SpoolEvidence queues an evidence object (call audio, a transcript) for
// upload; it becomes a link of the case's evidence chain once stored.
func (r *Recorder) SpoolEvidence(key, contentType string, data interface{ Read([]byte) (int, error) }, m EvidenceMeta) error {
	_, err := r.spool.Put(key, data, objstore.PutOptions{ContentType: contentType, Metadata: evidenceMetadata(m)})
	return err
}

// createEvidence starts an evidence object written as it is made (a call's
// audio part), unbuffered: it stays open for the part's length.
func (r *Recorder) createEvidence(key, contentType string, m EvidenceMeta) (*spool.Writer, error) {
	return r.spool.Create(key, objstore.PutOptions{ContentType: contentType, Metadata: evidenceMetadata(m)}, spool.Unbuffered())
}

func evidenceMetadata(m EvidenceMeta) map[string]string {
	md := map[string]string{metaKind: kindEvidence, metaEvidenceKind: m.Kind, metaCase: m.CaseID, metaSite: m.SiteID,
		metaStart: formatTime(m.Start), metaEnd: formatTime(m.End)}
	for k, v := range map[string]string{metaCamera: m.CameraID, metaDevice: m.DeviceID, metaTakenBy: m.TakenBy} {
		if v != "" {
			md[k] = v
		}
	}
	return md
}

// Index records an uploaded object in the index; it is the spool's
// OnUploaded. It is idempotent (a crash may repeat it), and an error makes
// the spool retry.
func (r *Recorder) Index(e spool.Entry, info objstore.ObjectInfo) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return indexEntry(ctx, r.db, r.log, e, info)
}

// indexEntry writes the index row of an uploaded spool entry. Objects
// without the recorder's metadata are not indexed.
func indexEntry(ctx context.Context, db *store.DB, log *slog.Logger, e spool.Entry, info objstore.ObjectInfo) error {
	md := e.Metadata
	start, err1 := time.Parse(time.RFC3339Nano, md[metaStart])
	end, err2 := time.Parse(time.RFC3339Nano, md[metaEnd])
	if md[metaKind] != "" && (err1 != nil || err2 != nil) {
		// a bad entry must not block the queue forever: keep the object,
		// say so loudly, do not index
		log.Error("uploaded object has unreadable recording times; it is stored but not indexed", "key", e.Key,
			"start", md[metaStart], "end", md[metaEnd])
		return nil
	}
	switch md[metaKind] {
	case kindSegment:
		rec := store.Recording{ID: store.NewID(), CameraID: md[metaCamera], SiteID: md[metaSite], Start: start.UTC(), End: end.UTC(),
			Key: e.Key, MediaType: e.ContentType, Size: info.Size, SHA256: e.SHA256, CreatedAt: store.Now()}
		return db.InTx(ctx, func(q store.Q) error {
			if exists, err := keyIndexed[store.Recording](ctx, q, e.Key); err != nil || exists {
				return err
			}
			return store.Insert(ctx, q, &rec)
		})
	case kindEvidence:
		ev := store.Evidence{CaseID: md[metaCase], Key: e.Key, Kind: md[metaEvidenceKind], MediaType: e.ContentType,
			CameraID: store.OptionalID(md[metaCamera]), DeviceID: store.OptionalID(md[metaDevice]),
			TakenBy: store.OptionalID(md[metaTakenBy]), Start: start, End: end, Size: info.Size, SHA256: e.SHA256}
		return db.InTx(ctx, func(q store.Q) error {
			if exists, err := keyIndexed[store.Evidence](ctx, q, e.Key); err != nil || exists {
				return err
			}
			if err := store.AppendEvidence(ctx, q, &ev); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					log.Error("evidence uploaded for a case that does not exist; the object is kept, not indexed",
						"key", e.Key, "case", ev.CaseID)
					return nil
				}
				return err
			}
			_, err := db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "recorder", Action: store.AuditEvidenceAdd,
				ObjectType: "case", ObjectID: ev.CaseID, SiteID: md[metaSite], Detail: jsonDetail(store.EvidenceAuditDetail(ev))})
			return err
		})
	}
	return nil
}

func keyIndexed[T store.Row](ctx context.Context, q store.Q, key string) (bool, error) {
	items, _, err := store.List[T](ctx, q, store.Filter{Eq: map[string]string{"object_key": key}, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("look up %s in the index: %w", key, err)
	}
	return len(items) > 0, nil
}

func jsonDetail(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}
