package recorder_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/store"
)

// TestRetention: old continuous segments go (object and row); old evidence
// loses its object but keeps its row (marked purged) so the case still
// verifies; a case on legal hold keeps everything; the run is audited.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "", t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	objects, err := objstore.NewLocal(t.TempDir())
	require.NoError(t, err)
	now := time.Now().UTC()
	site := store.Site{ID: store.NewID(), Name: "Box", Kind: store.SiteBox, CreatedAt: store.Now(), UpdatedAt: store.Now()}
	require.NoError(t, store.Insert(ctx, db.Q(), &site))

	putObject := func(key string) objstore.ObjectInfo {
		info, err := objects.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key)), objstore.PutOptions{})
		require.NoError(t, err)
		return info
	}
	for i, age := range []time.Duration{40 * 24 * time.Hour, 31 * 24 * time.Hour, time.Hour} {
		key := fmt.Sprintf("recordings/%s/cam/%d.mp4", site.ID, i)
		info := putObject(key)
		start := now.Add(-age)
		require.NoError(t, store.Insert(ctx, db.Q(), &store.Recording{ID: store.NewID(), CameraID: "cam", SiteID: site.ID,
			Start: start, End: start.Add(4 * time.Second), Key: key, MediaType: "video/mp4", Size: info.Size,
			SHA256: info.SHA256, CreatedAt: store.Now()}))
	}
	newCase := func(hold bool, ages ...time.Duration) string {
		c := store.Case{ID: store.NewID(), SiteID: site.ID, Kind: store.CaseEvent, Status: store.CasePending, LegalHold: hold,
			StartedAt: store.Now(), CreatedAt: store.Now(), UpdatedAt: store.Now()}
		require.NoError(t, store.Insert(ctx, db.Q(), &c))
		for i, age := range ages {
			key := fmt.Sprintf("sites/%s/%s/clip-%d.mp4", site.ID, c.ID, i)
			info := putObject(key)
			ev := store.Evidence{CaseID: c.ID, Key: key, Kind: "clip", MediaType: "video/mp4", Start: now.Add(-age),
				End: now.Add(-age + time.Second), Size: info.Size, SHA256: info.SHA256}
			require.NoError(t, db.InTx(ctx, func(q store.Q) error {
				if err := store.AppendEvidence(ctx, q, &ev); err != nil {
					return err
				}
				_, err := db.AppendAudit(ctx, q, store.AuditEntry{Action: store.AuditEvidenceAdd, ObjectType: "case", ObjectID: c.ID,
					Detail: fmt.Sprintf(`{"evidence_id":%q,"chain_hash":%q}`, ev.ID, ev.ChainHash)})
				return err
			}))
		}
		return c.ID
	}
	old := 400 * 24 * time.Hour
	purged := newCase(false, old, time.Hour)
	held := newCase(true, old)

	res, err := recorder.ApplyRetention(ctx, db, objects, recorder.Retention{Continuous: 30 * 24 * time.Hour, Evidence: 365 * 24 * time.Hour}, now, nil)
	require.NoError(t, err)
	require.Equal(t, recorder.RetentionResult{Recordings: 2, Evidence: 1}, res)

	left, err := store.ListRecordings(ctx, db.Q(), "cam", now.Add(-100*24*time.Hour), now, 0)
	require.NoError(t, err)
	require.Len(t, left, 1)
	_, err = objects.Stat(ctx, fmt.Sprintf("recordings/%s/cam/0.mp4", site.ID))
	require.ErrorIs(t, err, objstore.ErrNotFound)

	rep, err := recorder.VerifyCase(ctx, db, objects, purged)
	require.NoError(t, err)
	require.True(t, rep.OK, "%v", rep.Problems)
	require.Equal(t, 1, rep.Purged)
	require.Equal(t, 1, rep.Checked)
	rep, err = recorder.VerifyCase(ctx, db, objects, held)
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.Equal(t, 0, rep.Purged, "legal hold exempts")

	audit, err := store.ListAudit(ctx, db.Q(), store.AuditFilter{Action: "retention.purge"})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.True(t, strings.Contains(audit[0].Detail, `"recordings":2`), audit[0].Detail)

	// a second run finds nothing more
	res, err = recorder.ApplyRetention(ctx, db, objects, recorder.Retention{Continuous: 30 * 24 * time.Hour, Evidence: 365 * 24 * time.Hour}, now, nil)
	require.NoError(t, err)
	require.Zero(t, res.Recordings+res.Evidence)
}
