package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/store"
)

func TestCasePlateAndLane(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := db.Q()
		now := store.Now()
		site := newSite("North lot", store.SiteParking)
		site.Code = "P-NORTH"
		require.NoError(t, store.Insert(ctx, q, site))
		exit := &store.AccessPoint{ID: store.NewID(), SiteID: site.ID, Name: "Exit 1", Kind: "exit", CreatedAt: now, UpdatedAt: now}
		entrance := &store.AccessPoint{ID: store.NewID(), SiteID: site.ID, Name: "Entrance 1", Kind: "entrance", CreatedAt: now, UpdatedAt: now}
		require.NoError(t, store.Insert(ctx, q, exit))
		require.NoError(t, store.Insert(ctx, q, entrance))
		robot := &store.Device{ID: store.NewID(), SiteID: site.ID, AccessPointID: store.OptionalID(exit.ID), Name: "North exit",
			Kind: "robot", SIPUsername: "robot-plate", SIPPassword: "pw", Enabled: true, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, store.Insert(ctx, q, robot))

		newCase := func(device, ap string) store.Case {
			c := store.Case{ID: store.NewID(), SiteID: site.ID, Kind: store.CaseCall, Status: store.CasePending,
				DeviceID: store.OptionalID(device), AccessPointID: store.OptionalID(ap), StartedAt: now, CreatedAt: now, UpdatedAt: now}
			require.NoError(t, store.Insert(ctx, q, &c))
			return c
		}
		tests := []struct {
			name string
			c    store.Case
			want store.CaseLane
		}{
			{"the robot's lane", newCase(robot.ID, ""), store.CaseLane{SiteCode: "P-NORTH", AccessPointID: exit.ID, AccessPointKind: "exit"}},
			{"the case's own lane first", newCase(robot.ID, entrance.ID), store.CaseLane{SiteCode: "P-NORTH", AccessPointID: entrance.ID, AccessPointKind: "entrance"}},
			{"no lane", newCase("", ""), store.CaseLane{SiteCode: "P-NORTH"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := store.CaseLaneOf(ctx, q, tc.c.ID)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			})
		}
		_, err := store.CaseLaneOf(ctx, q, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)

		c := tests[0].c
		got, err := store.Get[store.Case](ctx, q, c.ID)
		require.NoError(t, err)
		require.Equal(t, "", got.Plate, "a new case has no plate")
		later := store.Now()
		require.NoError(t, db.InTx(ctx, func(q store.Q) error { return store.SetCasePlate(ctx, q, c.ID, "京A12345", later) }))
		got, err = store.Get[store.Case](ctx, q, c.ID)
		require.NoError(t, err)
		require.Equal(t, "京A12345", got.Plate)
		require.True(t, later.Equal(got.UpdatedAt))
		items, _, err := store.List[store.Case](ctx, q, store.Filter{Eq: map[string]string{"plate": "京A12345"}})
		require.NoError(t, err)
		require.Len(t, items, 1)
		require.Equal(t, c.ID, items[0].ID)
		require.ErrorIs(t, store.SetCasePlate(ctx, q, "nope", "A1", later), store.ErrNotFound)
	})
}
