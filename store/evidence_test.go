package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/store"
	"github.com/stretchr/testify/require"
)

// TestEvidenceChain: appends link rows into a chain the case's head ends;
// deleting, reordering, altering or adding a row is reported, and a
// retention purge (purged_at) is not.
func TestEvidenceChain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		site := newSite("Box 7", store.SiteBox)
		require.NoError(t, store.Insert(ctx, db.Q(), site))

		// newCase makes a case with n evidence rows appended concurrently.
		newCase := func(t *testing.T, n int) store.Case {
			now := store.Now()
			c := store.Case{ID: store.NewID(), SiteID: site.ID, Kind: store.CaseEvent, Status: store.CasePending,
				StartedAt: now, CreatedAt: now, UpdatedAt: now}
			require.NoError(t, store.Insert(ctx, db.Q(), &c))
			errs := make(chan error, n)
			for i := range n {
				go func() {
					errs <- db.InTx(ctx, func(q store.Q) error {
						start := now.Add(time.Duration(i) * time.Second)
						return store.AppendEvidence(ctx, q, &store.Evidence{CaseID: c.ID, Key: fmt.Sprintf("k/%s/%d.mp4", c.ID, i),
							Kind: "clip", MediaType: "video/mp4", Start: start, End: start.Add(time.Second), Size: int64(100 + i),
							SHA256: strings.Repeat(fmt.Sprint(i%10), 64)})
					})
				}()
			}
			for range n {
				require.NoError(t, <-errs)
			}
			c, err := store.Get[store.Case](ctx, db.Q(), c.ID)
			require.NoError(t, err)
			require.Equal(t, n, c.EvidenceCount)
			return c
		}
		verify := func(t *testing.T, caseID string) []store.ChainProblem {
			c, err := store.Get[store.Case](ctx, db.Q(), caseID)
			require.NoError(t, err)
			rows, err := store.CaseEvidence(ctx, db.Q(), caseID)
			require.NoError(t, err)
			return store.VerifyEvidenceChain(c, rows)
		}
		exec := func(t *testing.T, stmt string, args ...any) {
			_, err := db.Q().ExecContext(ctx, db.Q().Rebind(stmt), args...)
			require.NoError(t, err)
		}

		t.Run("intact", func(t *testing.T) {
			c := newCase(t, 5)
			require.Empty(t, verify(t, c.ID))
			rows, err := store.CaseEvidence(ctx, db.Q(), c.ID)
			require.NoError(t, err)
			for i, r := range rows {
				require.Equal(t, i+1, r.Seq)
			}
			exec(t, "UPDATE evidence SET purged_at = ? WHERE id = ?", store.Now(), rows[1].ID)
			require.Empty(t, verify(t, c.ID), "a retention purge keeps the chain")
		})
		tampers := []struct {
			name string
			do   func(t *testing.T, rows []store.Evidence)
			want string
		}{
			{"middle row deleted", func(t *testing.T, rows []store.Evidence) {
				exec(t, "DELETE FROM evidence WHERE id = ?", rows[2].ID)
			}, "expected link 3"},
			{"last row deleted", func(t *testing.T, rows []store.Evidence) {
				exec(t, "DELETE FROM evidence WHERE id = ?", rows[4].ID)
			}, "case records 5 evidence items, 4 found"},
			{"rows reordered", func(t *testing.T, rows []store.Evidence) {
				exec(t, "UPDATE evidence SET seq = 99 WHERE id = ?", rows[1].ID)
				exec(t, "UPDATE evidence SET seq = 2 WHERE id = ?", rows[2].ID)
				exec(t, "UPDATE evidence SET seq = 3 WHERE id = ?", rows[1].ID)
			}, "evidence row altered"},
			{"hash altered", func(t *testing.T, rows []store.Evidence) {
				exec(t, "UPDATE evidence SET sha256 = ? WHERE id = ?", strings.Repeat("f", 64), rows[0].ID)
			}, "evidence row altered"},
			{"size altered", func(t *testing.T, rows []store.Evidence) {
				exec(t, "UPDATE evidence SET size = 1 WHERE id = ?", rows[3].ID)
			}, "evidence row altered"},
		}
		for _, tc := range tampers {
			t.Run(tc.name, func(t *testing.T) {
				c := newCase(t, 5)
				rows, err := store.CaseEvidence(ctx, db.Q(), c.ID)
				require.NoError(t, err)
				tc.do(t, rows)
				problems := verify(t, c.ID)
				require.NotEmpty(t, problems)
				require.Contains(t, fmt.Sprint(problems), tc.want)
			})
		}
	})
}

// TestAppendEvidenceOnce: the same object (SHA-256) appended to a case by
// several transactions at once is added once; each caller gets that row.
// Another case, or another object, is added as usual.
func TestAppendEvidenceOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		site := newSite("Gate 3", store.SiteParking)
		require.NoError(t, store.Insert(ctx, db.Q(), site))
		newCase := func() store.Case {
			now := store.Now()
			c := store.Case{ID: store.NewID(), SiteID: site.ID, Kind: store.CaseCall, Status: store.CasePending,
				StartedAt: now, CreatedAt: now, UpdatedAt: now}
			require.NoError(t, store.Insert(ctx, db.Q(), &c))
			return c
		}
		once := func(caseID, sha string, i int) (store.Evidence, bool, error) {
			e := store.Evidence{CaseID: caseID, Key: fmt.Sprintf("k/%s/photo-%d.jpg", caseID, i), Kind: "vehicle-photo-entry",
				MediaType: "image/jpeg", Start: store.Now(), End: store.Now(), Size: 10, SHA256: sha}
			var added bool
			err := db.InTx(ctx, func(q store.Q) error {
				var err error
				added, err = store.AppendEvidenceOnce(ctx, q, &e)
				return err
			})
			return e, added, err
		}
		a, b := newCase(), newCase()
		sha := strings.Repeat("ab", 32)
		type result struct {
			ev    store.Evidence
			added bool
			err   error
		}
		const n = 6
		results := make(chan result, n)
		for i := range n {
			go func() {
				ev, added, err := once(a.ID, sha, i)
				results <- result{ev, added, err}
			}()
		}
		var ids []string
		added := 0
		for range n {
			r := <-results
			require.NoError(t, r.err)
			if r.added {
				added++
			}
			ids = append(ids, r.ev.ID)
		}
		require.Equal(t, 1, added, "added by one transaction")
		for _, id := range ids {
			require.Equal(t, ids[0], id, "every caller gets the row")
		}
		rows, err := store.CaseEvidence(ctx, db.Q(), a.ID)
		require.NoError(t, err)
		require.Len(t, rows, 1)
		c, err := store.Get[store.Case](ctx, db.Q(), a.ID)
		require.NoError(t, err)
		require.Empty(t, store.VerifyEvidenceChain(c, rows))

		_, added1, err := once(b.ID, sha, 0)
		require.NoError(t, err)
		require.True(t, added1, "the same object on another case")
		_, added2, err := once(a.ID, strings.Repeat("cd", 32), 99)
		require.NoError(t, err)
		require.True(t, added2, "another object on the same case")

		_, err = store.EvidenceBySHA256(ctx, db.Q(), a.ID, strings.Repeat("ef", 32))
		require.ErrorIs(t, err, store.ErrNotFound)
		_, _, err = once(store.NewID(), sha, 0)
		require.ErrorIs(t, err, store.ErrNotFound, "no such case")
	})
}
