package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/parking"
)

// TestCaseHistory: a case's reviewers read what was done on it and who saw
// its evidence, oldest first and paged, on SQLite and PostgreSQL; other
// cases' entries, a supervisor's other sites and client addresses stay out.
func TestCaseHistory(t *testing.T) {
	for _, b := range backendsForAPI(t) {
		t.Run(b.name, func(t *testing.T) {
			peer := startParkingPeer(t, parkingSecret)
			f := newFixtureOn(newEnvWith(t, apitest.Options{DB: b.url, Parking: parkingClient(t, peer.srv.URL+"/webhook", parkingSecret, 0)}))
			caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call", "device_id": f.deviceA})
			other := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA})
			photo := lookUpPlate(t, f.agent, caseA, parking.DemoPlateUnpaid).Photos[0]
			require.Equal(t, http.StatusOK, f.reviewer.do("GET", photo.ContentURL, nil).status)
			require.Equal(t, http.StatusOK, f.agent.do("POST", "/api/v1/cases/"+other+"/close", map[string]any{"remark": "elsewhere"}).status)
			require.Equal(t, http.StatusOK, f.supervisor.do("POST", "/api/v1/cases/"+caseA+"/disposition",
				map[string]any{"disposition": "normal", "remark": "paid at the gate"}).status)
			require.Equal(t, http.StatusOK, f.supervisor.do("POST", "/api/v1/cases/"+caseA+"/hold",
				map[string]any{"hold": true, "reason": "driver complaint"}).status)

			type entry struct {
				seq           float64
				actor, action string
				detail        map[string]any
			}
			read := func(c *client, query string) ([]entry, any) {
				t.Helper()
				r := c.do("GET", "/api/v1/cases/"+caseA+"/history"+query, nil)
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				body := r.json(t)
				var out []entry
				for _, it := range body["items"].([]any) {
					m := it.(map[string]any)
					require.NotContains(t, m, "remote_addr", "client addresses stay in the admin's log")
					require.Regexp(t, `^[0-9a-f]{64}$`, m["hash"])
					out = append(out, entry{m["seq"].(float64), m["actor_name"].(string), m["action"].(string), m["detail"].(map[string]any)})
				}
				return out, body["next"]
			}
			all, next := read(f.reviewer, "")
			require.Nil(t, next)
			var actions []string
			for i, e := range all {
				if i > 0 {
					require.Greater(t, e.seq, all[i-1].seq, "oldest first")
				}
				actions = append(actions, e.actor+" "+e.action)
			}
			require.Equal(t, []string{
				"agent1 case.create",
				"agent1 case.plate",
				"agent1 evidence.add",
				"reviewer1 evidence.play",
				"supervisor1 case.disposition",
				"supervisor1 case.hold",
			}, actions, "what was done on the case, by whom; nothing of the other case")
			require.Equal(t, parking.DemoPlateUnpaid, all[1].detail["plate"])
			require.Equal(t, photo.EvidenceID, all[2].detail["evidence_id"])
			require.Equal(t, photo.EvidenceID, all[3].detail["evidence_id"], "who saw which evidence")
			require.Equal(t, "driver complaint", all[5].detail["reason"])

			// paged: two at a time, the cursor where the last page ended
			var paged []entry
			cursor := ""
			for range len(all) {
				page, next := read(f.supervisor, "?limit=2"+cursor)
				paged = append(paged, page...)
				if next == nil {
					break
				}
				cursor = "&cursor=" + next.(string)
			}
			require.Equal(t, all, paged)

			// a supervisor sees the cases of their sites only; reviewers
			// (compliance) and admins see every site's
			caseB := f.admin.create("/api/v1/cases", map[string]any{"site_id": f.siteB})
			require.Equal(t, http.StatusNotFound, f.supervisor.do("GET", "/api/v1/cases/"+caseB+"/history", nil).status)
			require.Equal(t, http.StatusOK, f.reviewer.do("GET", "/api/v1/cases/"+caseB+"/history", nil).status)
			require.Equal(t, http.StatusOK, f.admin.do("GET", "/api/v1/cases/"+caseB+"/history", nil).status)
			require.Equal(t, http.StatusNotFound, f.reviewer.do("GET", "/api/v1/cases/no-such-case/history", nil).status)
			require.Equal(t, http.StatusForbidden, f.agent.do("GET", "/api/v1/cases/"+caseA+"/history", nil).status,
				"agents work cases; who reviewed them is not theirs to see")
		})
	}
}
