package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/store"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// backends opens a fresh database of every dialect, so each test runs the
// same assertions against SQLite and a real PostgreSQL server.
func backends(t *testing.T) map[string]*store.DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*store.DB{}
	sq, err := store.Open(ctx, "", t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { sq.Close() })
	out["sqlite"] = sq
	pg, err := store.Open(ctx, testenv.Postgres(t), "", nil)
	require.NoError(t, err)
	t.Cleanup(func() { pg.Close() })
	out["postgres"] = pg
	return out
}

func forEachBackend(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for name, db := range backends(t) {
		t.Run(name, func(t *testing.T) { fn(t, db) })
	}
}

func newSite(name, kind string) *store.Site {
	now := store.Now()
	lat := 31.23
	return &store.Site{ID: store.NewID(), Name: name, Kind: kind, Latitude: &lat, CreatedAt: now, UpdatedAt: now}
}

func TestCRUDRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := db.Q()
		site := newSite("North gate", store.SiteParking)
		require.NoError(t, store.Insert(ctx, q, site))

		got, err := store.Get[store.Site](ctx, q, site.ID)
		require.NoError(t, err)
		// Same instant; the driver may hand it back in time.Local.
		require.True(t, site.CreatedAt.Equal(got.CreatedAt), "created %v, read back %v", site.CreatedAt, got.CreatedAt)
		got.CreatedAt, got.UpdatedAt = site.CreatedAt, site.UpdatedAt
		require.Equal(t, *site, got)
		require.Nil(t, got.Longitude)

		site.Name = "North exit"
		site.UpdatedAt = store.Now()
		require.NoError(t, store.Update(ctx, q, site))
		got, err = store.Get[store.Site](ctx, q, site.ID)
		require.NoError(t, err)
		require.Equal(t, "North exit", got.Name)

		now := store.Now()
		dev := &store.Device{ID: store.NewID(), SiteID: site.ID, Name: "robot", Kind: "robot",
			SIPUsername: "robot1", SIPPassword: "pw", Enabled: true, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, store.Insert(ctx, q, dev))
		gotDev, err := store.Get[store.Device](ctx, q, dev.ID)
		require.NoError(t, err)
		require.Equal(t, store.OptionalID(""), gotDev.AccessPointID)
		require.Equal(t, "pw", gotDev.SIPPassword)

		// Unique SIP username.
		dup := *dev
		dup.ID = store.NewID()
		require.ErrorIs(t, store.Insert(ctx, q, &dup), store.ErrConflict)
		// Unknown site.
		orphan := *dev
		orphan.ID, orphan.SIPUsername, orphan.SiteID = store.NewID(), "robot2", "nope"
		require.ErrorIs(t, store.Insert(ctx, q, &orphan), store.ErrReferenced)
		// A referenced site cannot be deleted; nothing is lost.
		require.ErrorIs(t, store.Delete[store.Site](ctx, q, site.ID), store.ErrReferenced)
		require.NoError(t, store.Delete[store.Device](ctx, q, dev.ID))
		require.NoError(t, store.Delete[store.Site](ctx, q, site.ID))
		_, err = store.Get[store.Site](ctx, q, site.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, store.Delete[store.Site](ctx, q, site.ID), store.ErrNotFound)
	})
}

func TestListPagingAndFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := db.Q()
		var ids []string
		for i := range 7 {
			kind := store.SiteBox
			if i%2 == 1 {
				kind = store.SiteParking
			}
			s := newSite(fmt.Sprintf("Site %d_x%%", i), kind)
			s.Code = fmt.Sprintf("A100%d", i)
			require.NoError(t, store.Insert(ctx, q, s))
			ids = append(ids, s.ID)
		}
		var seen []string
		cursor := ""
		for {
			items, next, err := store.List[store.Site](ctx, q, store.Filter{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			for _, it := range items {
				seen = append(seen, it.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, ids, seen)

		tests := []struct {
			name string
			f    store.Filter
			want int
		}{
			{"kind", store.Filter{Eq: map[string]string{"kind": store.SiteParking}}, 3},
			{"search code", store.Filter{Search: "a1003", SearchColumns: []string{"name", "code"}}, 1},
			{"search literal percent", store.Filter{Search: "_x%", SearchColumns: []string{"name"}}, 7},
			{"search wildcard not special", store.Filter{Search: "%%", SearchColumns: []string{"name"}}, 0},
			{"in", store.Filter{In: map[string][]string{"id": ids[:2]}}, 2},
			{"in empty matches nothing", store.Filter{In: map[string][]string{"id": {}}}, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				items, _, err := store.List[store.Site](ctx, q, tc.f)
				require.NoError(t, err)
				require.Len(t, items, tc.want)
			})
		}
	})
}

func TestTransactionRollsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		site := newSite("rolled back", store.SiteBox)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(q store.Q) error {
			require.NoError(t, store.Insert(ctx, q, site))
			_, err := db.AppendAudit(ctx, q, store.AuditEntry{Action: "site.create", ObjectID: site.ID})
			require.NoError(t, err)
			return boom
		})
		require.ErrorIs(t, err, boom)
		_, err = store.Get[store.Site](ctx, db.Q(), site.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		entries, err := store.ListAudit(ctx, db.Q(), store.AuditFilter{})
		require.NoError(t, err)
		require.Empty(t, entries)
	})
}

func TestAuditChainAppendOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.InTx(ctx, func(q store.Q) error {
					_, err := db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "admin", Action: "test", ObjectID: fmt.Sprint(i)})
					return err
				})
				if err != nil {
					t.Errorf("append %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		problems, n, err := store.VerifyAudit(ctx, db.Q())
		require.NoError(t, err)
		require.Equal(t, int64(20), n)
		require.Empty(t, problems)

		_, err = db.Q().ExecContext(ctx, "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3")
		require.Error(t, err, "the database must refuse to edit the audit log")
		_, err = db.Q().ExecContext(ctx, "DELETE FROM audit_log WHERE seq = 3")
		require.Error(t, err, "the database must refuse to delete from the audit log")
	})
}

func TestTokensExpire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := db.Q()
		now := store.Now()
		u := &store.User{ID: store.NewID(), Username: "amy", PasswordHash: "x", Role: store.RoleAgent,
			Groups: store.StringList{"north"}, SiteIDs: store.StringList{}, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, store.Insert(ctx, q, u))
		gotU, err := store.UserByUsername(ctx, q, "amy")
		require.NoError(t, err)
		require.Equal(t, store.StringList{"north"}, gotU.Groups)

		past := now.Add(-time.Minute)
		live := &store.Token{ID: store.NewID(), SecretHash: "live", UserID: u.ID, Kind: store.TokenAPI, CreatedAt: now}
		dead := &store.Token{ID: store.NewID(), SecretHash: "dead", UserID: u.ID, Kind: store.TokenSession, CreatedAt: now, ExpiresAt: &past}
		require.NoError(t, store.Insert(ctx, q, live))
		require.NoError(t, store.Insert(ctx, q, dead))
		_, gotUser, err := store.TokenBySecretHash(ctx, q, "live", now)
		require.NoError(t, err)
		require.Equal(t, u.ID, gotUser.ID)
		_, _, err = store.TokenBySecretHash(ctx, q, "dead", now)
		require.ErrorIs(t, err, store.ErrNotFound)
		n, err := store.DeleteExpiredTokens(ctx, q, now)
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		// Deleting the user takes its tokens with it.
		require.NoError(t, store.Delete[store.User](ctx, q, u.ID))
		_, _, err = store.TokenBySecretHash(ctx, q, "live", now)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestReopenKeepsDataAndSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, "", dir, nil)
	require.NoError(t, err)
	site := newSite("kept", store.SiteWeb)
	require.NoError(t, store.Insert(ctx, db.Q(), site))
	require.NoError(t, db.Close())
	db, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "attendant.db"), "", nil)
	require.NoError(t, err)
	defer db.Close()
	got, err := store.Get[store.Site](ctx, db.Q(), site.ID)
	require.NoError(t, err)
	require.Equal(t, "kept", got.Name)
}

func TestOpenRejectsUnknownURLWithoutLeakingPassword(t *testing.T) {
	_, err := store.Open(context.Background(), "mysql://u:hunter2@h/db", t.TempDir(), nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}
