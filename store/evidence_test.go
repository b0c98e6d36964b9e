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
