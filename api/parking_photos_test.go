package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/apitest"
	"github.com/attendant/attendant/parking"
)

// plateAnswer is the plate endpoint's answer as the page reads it.
type plateAnswer struct {
	parking.Lookup
	CasePlate string `json:"case_plate"`
	Photos    []struct {
		EvidenceID string    `json:"evidence_id"`
		Kind       string    `json:"kind"`
		TakenAt    time.Time `json:"taken_at"`
		ContentURL string    `json:"content_url"`
	} `json:"photos"`
	PhotosError *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"photos_error"`
}

func lookUpPlate(t *testing.T, c *client, caseID, plate string) plateAnswer {
	t.Helper()
	r := c.do("POST", "/api/v1/cases/"+caseID+"/plate", map[string]any{"plate": plate})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var a plateAnswer
	require.NoError(t, json.Unmarshal(r.body, &a))
	require.NotNil(t, a.Photos, "photos is an array, never null: %s", r.body)
	return a
}

// caseEvidence is the case's evidence rows with this kind.
func caseEvidence(t *testing.T, c *client, caseID, kind string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, it := range c.do("GET", "/api/v1/cases/"+caseID, nil).json(t)["evidence"].([]any) {
		if ev := it.(map[string]any); ev["kind"] == kind {
			out = append(out, ev)
		}
	}
	return out
}

// evidenceAdds is the case's evidence.add audit details.
func evidenceAdds(t *testing.T, f *fixture, caseID string) []map[string]any {
	t.Helper()
	r := f.admin.do("GET", "/api/v1/audit?object_id="+caseID+"&action=evidence.add&limit=100", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out []map[string]any
	for _, it := range r.json(t)["items"].([]any) {
		e := it.(map[string]any)
		if e["action"] != "evidence.add" {
			continue
		}
		var d map[string]any
		require.NoError(t, json.Unmarshal([]byte(e["detail"].(string)), &d))
		d["actor_name"] = e["actor_name"]
		out = append(out, d)
	}
	return out
}

// TestCasePlateVehiclePhotos: the demo parking system on loopback sends
// the vehicle's entry photo with the lookup; attendant keeps it as
// evidence of the case (object, hash, chain, audit), serves it to the
// page, and keeps it once however often the plate is looked up.
func TestCasePlateVehiclePhotos(t *testing.T) {
	for _, b := range backendsForAPI(t) {
		t.Run(b.name, func(t *testing.T) {
			peer := startParkingPeer(t, parkingSecret)
			f := newFixtureOn(newEnvWith(t, apitest.Options{DB: b.url, Parking: parkingClient(t, peer.srv.URL+"/webhook", parkingSecret, 0)}))
			caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call", "device_id": f.deviceA})

			a := lookUpPlate(t, f.agent, caseA, "京a 12345")
			require.True(t, a.Found)
			require.Equal(t, int64(1500), a.FeeDue, "the lookup is whole")
			require.Nil(t, a.PhotosError)
			require.Zero(t, a.PhotosDropped)
			require.Len(t, a.Photos, 1)
			ph := a.Photos[0]
			require.Equal(t, "entry", ph.Kind)
			require.Equal(t, *a.EntryTime, ph.TakenAt)
			require.NotEmpty(t, ph.EvidenceID)
			require.Equal(t, "/api/v1/evidence/"+ph.EvidenceID+"/content", ph.ContentURL)

			// The evidence row, and the object it names, hashed as it says.
			rows := caseEvidence(t, f.agent, caseA, "vehicle-photo-entry")
			require.Len(t, rows, 1)
			ev := rows[0]
			require.Equal(t, ph.EvidenceID, ev["id"])
			require.Equal(t, "image/jpeg", ev["media_type"])
			require.Equal(t, f.agentID, ev["taken_by"], "brought onto the case by the agent who looked it up")
			require.Equal(t, ph.TakenAt.Format(time.RFC3339Nano), ev["start"])
			require.Regexp(t, `^sites/`+f.siteA+`/\d{4}/\d{2}/\d{2}/`+caseA+`/vehicle-photo-entry-[0-9a-f]{12}-`, ev["key"])
			rc, info, err := f.objects.Get(context.Background(), ev["key"].(string), nil)
			require.NoError(t, err)
			stored, err := io.ReadAll(rc)
			rc.Close()
			require.NoError(t, err)
			sum := sha256.Sum256(stored)
			require.Equal(t, hex.EncodeToString(sum[:]), ev["sha256"])
			require.Equal(t, info.SHA256, ev["sha256"])
			require.EqualValues(t, len(stored), ev["size"])
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(stored))
			require.NoError(t, err)
			require.Equal(t, [2]int{parking.DemoPhotoWidth, parking.DemoPhotoHeight}, [2]int{cfg.Width, cfg.Height})

			// The page reads it where the answer says.
			r := f.agent.do("GET", ph.ContentURL, nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			require.Equal(t, "image/jpeg", r.header.Get("Content-Type"))
			require.Equal(t, stored, r.body)

			// evidence.add in the audit log, as for a snapshot.
			adds := evidenceAdds(t, f, caseA)
			require.Len(t, adds, 1)
			require.Equal(t, ph.EvidenceID, adds[0]["evidence_id"])
			require.Equal(t, "vehicle-photo-entry", adds[0]["kind"])
			require.Equal(t, ev["sha256"], adds[0]["sha256"])
			require.Equal(t, "agent1", adds[0]["actor_name"])

			// Again, by the supervisor: the same photo, not stored twice.
			again := lookUpPlate(t, f.supervisor, caseA, parking.DemoPlateUnpaid)
			require.Len(t, again.Photos, 1)
			require.Equal(t, ph.EvidenceID, again.Photos[0].EvidenceID)
			require.Equal(t, ph.TakenAt, again.Photos[0].TakenAt, "the kept photo's time")
			require.Len(t, caseEvidence(t, f.agent, caseA, "vehicle-photo-entry"), 1)
			require.Len(t, evidenceAdds(t, f, caseA), 1)

			// Another vehicle is another photo; an unknown one has none.
			other := lookUpPlate(t, f.agent, caseA, parking.DemoPlatePaid)
			require.Len(t, other.Photos, 1)
			require.NotEqual(t, ph.EvidenceID, other.Photos[0].EvidenceID)
			none := lookUpPlate(t, f.agent, caseA, "京B99999")
			require.False(t, none.Found)
			require.Empty(t, none.Photos)
			require.Len(t, caseEvidence(t, f.agent, caseA, "vehicle-photo-entry"), 2)
			require.Len(t, evidenceAdds(t, f, caseA), 2)

			// The same picture on another case is that case's own evidence.
			caseB := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call"})
			onB := lookUpPlate(t, f.agent, caseB, parking.DemoPlateUnpaid)
			require.Len(t, onB.Photos, 1)
			require.NotEqual(t, ph.EvidenceID, onB.Photos[0].EvidenceID)

			// The chain holds: rows, objects and audit anchors agree.
			rep := f.reviewer.do("GET", "/api/v1/cases/"+caseA+"/verify", nil)
			require.Equal(t, http.StatusOK, rep.status, "%s", rep.body)
			require.Equal(t, true, rep.json(t)["ok"], "%s", rep.body)
			require.Equal(t, true, f.admin.do("GET", "/api/v1/audit/verify", nil).json(t)["ok"])
		})
	}
}

// TestCasePlatePhotosStoreDown: with the object store failing, the lookup
// still answers 200 with its data, no photos and photos_error; nothing is
// half-kept, and once the store is back, looking up again keeps the photo.
func TestCasePlatePhotosStoreDown(t *testing.T) {
	peer := startParkingPeer(t, parkingSecret)
	dir := t.TempDir()
	f := newFixtureOn(newEnvWith(t, apitest.Options{Store: "file://" + filepath.ToSlash(dir),
		Parking: parkingClient(t, peer.srv.URL, parkingSecret, 0)}))
	caseA := f.agent.create("/api/v1/cases", map[string]any{"site_id": f.siteA, "kind": "call"})

	// The local store writes each object under tmp/ first: a file in its
	// place fails every write, as a full or read-only disk would.
	tmp := filepath.Join(dir, "tmp")
	require.NoError(t, os.RemoveAll(tmp))
	require.NoError(t, os.WriteFile(tmp, []byte("not a directory"), 0o600))

	down := lookUpPlate(t, f.agent, caseA, parking.DemoPlateUnpaid)
	require.True(t, down.Found)
	require.Equal(t, int64(1500), down.FeeDue)
	require.Equal(t, parking.DemoPlateUnpaid, down.CasePlate)
	require.Empty(t, down.Photos)
	require.NotNil(t, down.PhotosError)
	require.Equal(t, "store_unavailable", down.PhotosError.Code)
	require.Contains(t, down.PhotosError.Message, "not saved")
	require.Empty(t, caseEvidence(t, f.agent, caseA, "vehicle-photo-entry"))
	require.Empty(t, evidenceAdds(t, f, caseA))
	require.Equal(t, parking.DemoPlateUnpaid, f.agent.do("GET", "/api/v1/cases/"+caseA, nil).json(t)["plate"], "the plate is stored all the same")

	require.NoError(t, os.Remove(tmp))
	require.NoError(t, os.Mkdir(tmp, 0o750))
	back := lookUpPlate(t, f.agent, caseA, parking.DemoPlateUnpaid)
	require.Nil(t, back.PhotosError)
	require.Len(t, back.Photos, 1)
	require.Len(t, caseEvidence(t, f.agent, caseA, "vehicle-photo-entry"), 1)
	require.Len(t, evidenceAdds(t, f, caseA), 1)
}
