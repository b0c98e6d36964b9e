package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/store"
)

// TestAbnormalOpens: every abnormal open (signaling's audited
// robot.open_gate with abnormal true) is listed newest first with its
// reason, remark, agent and the snapshots on its case; ordinary opens are
// not; agents see their sites only; pages and time filters work.
func TestAbnormalOpens(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	caseA := f.admin.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call"})
	caseB := f.admin.create("/api/v1/cases", map[string]any{"site_id": f.siteB, "kind": "call"})
	open := func(caseID, siteID, device string, abnormal bool, reason, remark string) {
		cmd := map[string]any{"action": "open_gate"}
		if abnormal {
			cmd["abnormal"], cmd["abnormal_reason"] = true, reason
		}
		// the detail exactly as signaling.robotCommand writes it
		detail, _ := json.Marshal(map[string]any{"call_id": "call-" + caseID[:8], "device_id": device, "command": cmd,
			"reason": remark, "robot_status": 200, "error": ""})
		require.NoError(t, f.db.InTx(ctx, func(q store.Q) error {
			_, err := f.db.AppendAudit(ctx, q, store.AuditEntry{ActorID: f.agentID, ActorName: "agent1", Action: "robot.open_gate",
				ObjectType: "case", ObjectID: caseID, SiteID: siteID, Detail: string(detail)})
			return err
		}))
	}
	open(caseA, f.siteA, f.deviceA, true, "special-vehicle", "ambulance")
	time.Sleep(10 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)
	open(caseA, f.siteA, f.deviceA, false, "", "paid at the booth")
	open(caseA, f.siteA, f.deviceA, true, "non-motor-vehicle", "a bicycle <script>")
	open(caseB, f.siteB, f.deviceB, true, "special-person", "fire brigade")
	for i, kind := range []string{"snapshot-id_document", "snapshot-scene", "snapshot-scene"} {
		at := store.Now()
		ev := store.Evidence{CaseID: caseA, Key: fmt.Sprintf("k/%d.jpg", i), Kind: kind, MediaType: "image/jpeg", Start: at, End: at, Size: 1, SHA256: "00"}
		require.NoError(t, f.db.InTx(ctx, func(q store.Q) error { return store.AppendEvidence(ctx, q, &ev) }))
	}

	list := func(c *client, query string) ([]map[string]any, string) {
		r := c.do("GET", "/api/v1/abnormal-opens"+query, nil)
		require.Equal(t, 200, r.status, "%s", r.body)
		var body struct {
			Items []map[string]any `json:"items"`
			Next  *string          `json:"next"`
		}
		require.NoError(t, json.Unmarshal(r.body, &body))
		next := ""
		if body.Next != nil {
			next = *body.Next
		}
		return body.Items, next
	}
	items, _ := list(f.agent, "")
	require.Len(t, items, 2, "the agent sees site A's abnormal opens, not the ordinary one nor site B's")
	require.Equal(t, "non-motor-vehicle", items[0]["reason"], "newest first")
	require.Equal(t, "a bicycle <script>", items[0]["remark"], "JSON carries the text as it was; the page renders it as text")
	require.Equal(t, "agent1", items[0]["agent"])
	require.Equal(t, caseA, items[0]["case_id"])
	require.Equal(t, f.deviceA, items[0]["device_id"])
	require.EqualValues(t, 1, items[0]["id_snapshots"])
	require.EqualValues(t, 2, items[0]["scene_snapshots"])
	require.EqualValues(t, 200, items[0]["robot_status"])
	require.Equal(t, "special-vehicle", items[1]["reason"])

	all, _ := list(f.reviewer, "")
	require.Len(t, all, 3, "reviewers see every site")
	onlyB, _ := list(f.admin, "?site_id="+f.siteB)
	require.Len(t, onlyB, 1)
	require.Equal(t, "fire brigade", onlyB[0]["remark"])
	require.EqualValues(t, 0, onlyB[0]["id_snapshots"])

	page1, next := list(f.admin, "?limit=1")
	require.Len(t, page1, 1)
	require.NotEmpty(t, next)
	page2, _ := list(f.admin, "?limit=1&cursor="+next)
	require.Len(t, page2, 1)
	require.NotEqual(t, page1[0]["seq"], page2[0]["seq"])

	before, _ := list(f.admin, "?to="+mid.Format(time.RFC3339Nano))
	require.Len(t, before, 1)
	require.Equal(t, "ambulance", before[0]["remark"])
	after, _ := list(f.admin, "?from="+mid.Format(time.RFC3339Nano))
	require.Len(t, after, 2)
	require.Equal(t, 400, f.admin.do("GET", "/api/v1/abnormal-opens?from=yesterday", nil).status)
}
