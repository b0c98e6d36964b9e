package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/store"
)

// lane makes a robot at an exit lane of the env's site.
func (e *env) lane(name string) store.Device {
	e.t.Helper()
	ctx := context.Background()
	now := store.Now()
	ap := store.AccessPoint{ID: store.NewID(), SiteID: e.site, Name: name + " lane", Kind: "exit", CreatedAt: now, UpdatedAt: now}
	require.NoError(e.t, store.Insert(ctx, e.db.Q(), &ap))
	d := store.Device{ID: store.NewID(), SiteID: e.site, AccessPointID: store.OptionalID(ap.ID), Name: name, Kind: "robot",
		SIPUsername: "robot-" + name, SIPPassword: "x", Enabled: true, CreatedAt: now, UpdatedAt: now}
	require.NoError(e.t, store.Insert(ctx, e.db.Q(), &d))
	return d
}

func vehicle(present bool, since time.Time, plate string) []byte {
	if since.IsZero() {
		return fmt.Appendf(nil, `{"display":{"mode":"text","payload":"Please wait"},"vehicle":{"present":%t,"plate":%q}}`, present, plate)
	}
	return fmt.Appendf(nil, `{"vehicle":{"present":%t,"since":%q},"plate":%q}`, present, since.UTC().Format(time.RFC3339Nano), plate)
}

// TestCalloutList: lanes where a vehicle waits past CongestedAfter are
// listed for the site's agents (not others), longest wait first; a car
// that leaves takes its entry away; a call to or from the lane's robot
// marks it on_call; the agent calls the lane's robot from the list.
func TestCalloutList(t *testing.T) {
	e := newEnv(t, Config{CongestedAfter: 300 * time.Millisecond})
	amy, zed := e.connect("amy"), e.connect("zed")
	north, south, east := e.lane("North"), e.lane("South"), e.lane("East")

	amy.send(Message{Type: TypeCalloutList, Ref: "c0"})
	require.Empty(t, amy.next(TypeCalloutList).Lanes)

	now := time.Now()
	e.hub.RobotMessage(north.ID, "application/json", vehicle(true, now.Add(-40*time.Second), "京A12345"))
	e.hub.RobotMessage(south.ID, "application/json", vehicle(true, now.Add(-90*time.Second), "沪B7"))
	e.hub.RobotMessage(east.ID, "application/json", vehicle(true, time.Time{}, "")) // waits from now: listed after 300 ms
	var lanes []Lane
	require.Eventually(t, func() bool {
		select {
		case m := <-amy.msgs:
			if m.Type == TypeCalloutList {
				lanes = m.Lanes
			}
		default:
		}
		return len(lanes) == 3
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, []string{south.ID, north.ID, east.ID}, []string{lanes[0].DeviceID, lanes[1].DeviceID, lanes[2].DeviceID}, "longest wait first")
	require.Equal(t, "South", lanes[0].DeviceName)
	require.Equal(t, "South lane", lanes[0].Lane)
	require.Equal(t, "exit", lanes[0].LaneKind)
	require.Equal(t, "沪B7", lanes[0].Plate)
	require.Equal(t, "京A12345", lanes[1].Plate)
	require.WithinDuration(t, now.Add(-90*time.Second), lanes[0].WaitingSince, time.Millisecond)

	// zed works for another site: told nothing
	zed.send(Message{Type: TypeCalloutList, Ref: "z"})
	require.Empty(t, zed.next(TypeCalloutList).Lanes)

	// the south car leaves: gone from the list
	e.hub.RobotMessage(south.ID, "application/json", vehicle(false, time.Time{}, ""))
	m := amy.next(TypeCalloutList)
	require.Len(t, m.Lanes, 2)
	require.Equal(t, north.ID, m.Lanes[0].DeviceID)

	// a robot's clock far in the future or past does not put it first forever
	e.hub.RobotMessage(south.ID, "application/json", vehicle(true, now.Add(-48*time.Hour), ""))
	m = amy.next(TypeCalloutList)
	require.Len(t, m.Lanes, 3)
	require.Equal(t, south.ID, m.Lanes[2].DeviceID, "an implausible since counts from now")

	// the north robot calls in: on_call
	f := newFakeCall("co-1", e.site)
	f.dev.ID = north.ID
	go e.hub.handle(context.Background(), f)
	for {
		m = amy.next(TypeCalloutList)
		if m.Lanes[0].OnCall {
			break
		}
	}
	require.Equal(t, north.ID, m.Lanes[0].DeviceID)
	f.end("cancelled")
	for {
		m = amy.next(TypeCalloutList)
		if !m.Lanes[0].OnCall {
			break
		}
	}
	// a state without "vehicle" changes nothing
	e.hub.RobotMessage(north.ID, "application/json", []byte(`{"display":{"mode":"face"}}`))
	amy.send(Message{Type: TypeCalloutList, Ref: "c1"})
	m = amy.next(TypeCalloutList)
	require.Equal(t, "c1", m.Ref)
	require.Len(t, m.Lanes, 3)
}

// TestAbnormalOpenAtExitNeedsEvidence: at an exit lane an abnormal open
// is refused until the case holds an ID-document and a scene snapshot,
// and never reaches the robot before; with them it goes through.
func TestAbnormalOpenAtExitNeedsEvidence(t *testing.T) {
	e := newEnv(t, Config{})
	robot := &fakeRobot{}
	e.hub.SetMessenger(robot)
	amy := e.connect("amy")
	west := e.lane("West")
	f := newFakeCall("ab-1", e.site)
	f.dev.ID = west.ID
	go e.hub.handle(context.Background(), f)
	info := answeredBy(t, e, f, amy)

	open := func(ref string) Message {
		amy.send(Message{Type: TypeRobotCommand, Ref: ref, CallID: f.id, Reason: "ambulance leaving",
			Command: []byte(`{"action":"open_gate","abnormal":true,"abnormal_reason":"special-vehicle"}`)})
		for {
			m := <-amy.msgs
			if m.Ref == ref {
				return m
			}
		}
	}
	m := open("1")
	require.Equal(t, "evidence_required", m.Code, "%+v", m)
	require.Contains(t, m.Error, "has 0 and 0")

	ctx := context.Background()
	add := func(kind string, i int) {
		at := store.Now()
		ev := store.Evidence{CaseID: info.CaseID, Key: fmt.Sprintf("k/%s-%d.jpg", kind, i), Kind: kind, MediaType: "image/jpeg",
			Start: at, End: at, Size: 3, SHA256: "00"}
		require.NoError(t, e.db.InTx(ctx, func(q store.Q) error { return store.AppendEvidence(ctx, q, &ev) }))
	}
	add(evidenceIDDocument, 1)
	m = open("2")
	require.Equal(t, "evidence_required", m.Code, "a scene snapshot is missing too")
	require.Contains(t, m.Error, "has 1 and 0")
	robot.mu.Lock()
	require.Empty(t, robot.bodies, "nothing reached the robot")
	robot.mu.Unlock()

	add(evidenceScene, 1)
	m = open("3")
	require.Equal(t, TypeRobotResult, m.Type, "%+v", m)
	robot.mu.Lock()
	require.Len(t, robot.bodies, 1)
	robot.mu.Unlock()
	// the audit record carries what GET /api/v1/abnormal-opens reads
	audit, err := store.ListAudit(ctx, e.db.Q(), store.AuditFilter{ObjectID: info.CaseID, Action: "robot.open_gate"})
	require.NoError(t, err)
	require.Len(t, audit, 1, "refused attempts never reached the robot and are not opens")
	var d struct {
		CallID   string `json:"call_id"`
		DeviceID string `json:"device_id"`
		Command  struct {
			Abnormal       bool   `json:"abnormal"`
			AbnormalReason string `json:"abnormal_reason"`
		} `json:"command"`
		Reason      string `json:"reason"`
		RobotStatus int    `json:"robot_status"`
	}
	require.NoError(t, json.Unmarshal([]byte(audit[0].Detail), &d))
	require.Equal(t, f.id, d.CallID)
	require.Equal(t, west.ID, d.DeviceID)
	require.True(t, d.Command.Abnormal)
	require.Equal(t, "special-vehicle", d.Command.AbnormalReason)
	require.Equal(t, "ambulance leaving", d.Reason)
	require.Equal(t, 200, d.RobotStatus)
	require.Contains(t, audit[0].Detail, `"abnormal":true`, "the API pre-filters on this text")
	f.end("remote-bye")
}

// TestCaseUpdates: a changed case reaches the agent on its call and the
// site's supervisor, not an uninvolved agent of the site nor another
// site's agent.
func TestCaseUpdates(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	now := store.Now()
	sup := store.User{ID: store.NewID(), Username: "sue", PasswordHash: "x", Role: store.RoleSupervisor, SiteIDs: []string{e.site},
		CreatedAt: now, UpdatedAt: now}
	require.NoError(t, store.Insert(ctx, e.db.Q(), &sup))
	e.users["sue"] = sup
	amy, bob, zed, sue := e.connect("amy"), e.connect("bob"), e.connect("zed"), e.connect("sue")
	f := e.call("cu-1")
	go e.hub.handle(ctx, f)
	bob.next(TypeRinging)
	info := answeredBy(t, e, f, amy)
	sue.next(TypeRinging)

	// the answer changed the case: in progress, amy handles it (amy's
	// copy came before call.answered, which answeredBy waited for)
	m := sue.next(TypeCaseUpdated)
	require.Equal(t, info.CaseID, m.Case.ID)
	require.Equal(t, store.CaseInProgress, m.Case.Status)
	require.Equal(t, e.users["amy"].ID, string(m.Case.HandlerID))
	c := caseOf(t, e.db, info.CaseID)
	c.Plate = "京A12345"
	e.hub.CaseChanged(c)
	for _, who := range []*client{amy, sue} {
		m := who.next(TypeCaseUpdated)
		require.Equal(t, info.CaseID, m.Case.ID)
		require.Equal(t, "京A12345", m.Case.Plate)
	}
	for name, who := range map[string]*client{"bob": bob, "zed": zed} {
		deadline := time.After(200 * time.Millisecond)
	drain:
		for {
			select {
			case m := <-who.msgs:
				require.NotEqual(t, TypeCaseUpdated, m.Type, "%s was told of a case not theirs", name)
			case <-deadline:
				break drain
			}
		}
	}
	f.end("remote-bye")
}
