package signaling

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/attendant/attendant/store"
)

// DefaultCongestedAfter is how long a vehicle waits at a lane before the
// lane is on the agents' call-out list.
const DefaultCongestedAfter = 10 * time.Second

// maxWaitAge bounds a robot's own "since": older claims are taken as now
// (a robot with a wrong clock must not top the list forever).
const maxWaitAge = 24 * time.Hour

// Lane is an entry of the call-out list: a lane where a vehicle has been
// waiting, so that an agent may call its robot before the driver does.
type Lane struct {
	DeviceID      string    `json:"device_id"`
	DeviceName    string    `json:"device_name"`
	SiteID        string    `json:"site_id"`
	AccessPointID string    `json:"access_point_id,omitempty"`
	Lane          string    `json:"lane,omitempty"`
	LaneKind      string    `json:"lane_kind,omitempty"` // entrance | exit | door
	WaitingSince  time.Time `json:"waiting_since"`
	Plate         string    `json:"plate,omitempty"`
	OnCall        bool      `json:"on_call"`
}

// laneWait is a vehicle seen waiting; under Hub.mu.
type laneWait struct {
	lane   Lane
	listed bool // waited CongestedAfter: on the list
	timer  *time.Timer
}

// vehicleState is the part of a robot's state the call-out list reads
// (docs/robot-protocol.md).
type vehicleState struct {
	Plate   string `json:"plate"`
	Vehicle *struct {
		Present bool       `json:"present"`
		Since   *time.Time `json:"since"`
		Plate   string     `json:"plate"`
	} `json:"vehicle"`
}

// laneFromState updates the call-out list from a robot's state: a vehicle
// present starts (or keeps) its wait; gone, the entry leaves the list.
func (h *Hub) laneFromState(deviceID string, state json.RawMessage) {
	var vs vehicleState
	if json.Unmarshal(state, &vs) != nil || vs.Vehicle == nil {
		return // the robot says nothing about vehicles
	}
	plate := vs.Vehicle.Plate
	if plate == "" {
		plate = vs.Plate
	}
	if len(plate) > 32 {
		plate = plate[:32]
	}
	h.mu.Lock()
	w := h.lanes[deviceID]
	switch {
	case !vs.Vehicle.Present && w == nil:
		h.mu.Unlock()
		return
	case !vs.Vehicle.Present:
		delete(h.lanes, deviceID)
		w.timer.Stop()
		listed := w.listed
		h.mu.Unlock()
		if listed {
			h.broadcastCallout(w.lane.SiteID)
		}
		return
	case w != nil:
		changed := w.lane.Plate != plate
		w.lane.Plate = plate
		listed := w.listed
		h.mu.Unlock()
		if changed && listed {
			h.broadcastCallout(w.lane.SiteID)
		}
		return
	}
	h.mu.Unlock()

	now := time.Now()
	since := now
	if s := vs.Vehicle.Since; s != nil && s.Before(now) && now.Sub(*s) < maxWaitAge {
		since = *s
	}
	lane, ok := h.laneInfo(deviceID)
	if !ok {
		return
	}
	lane.WaitingSince, lane.Plate = since.UTC(), plate
	h.mu.Lock()
	if h.lanes[deviceID] != nil {
		h.mu.Unlock()
		return // another update got there first
	}
	w = &laneWait{lane: lane}
	h.lanes[deviceID] = w
	w.timer = time.AfterFunc(max(time.Until(since.Add(h.cfg.CongestedAfter)), 0), func() {
		h.mu.Lock()
		if h.lanes[deviceID] != w {
			h.mu.Unlock()
			return
		}
		w.listed = true
		h.mu.Unlock()
		h.broadcastCallout(lane.SiteID)
	})
	h.mu.Unlock()
}

// laneInfo names a robot's lane from the database.
func (h *Hub) laneInfo(deviceID string) (Lane, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dev, err := store.Get[store.Device](ctx, h.db.Q(), deviceID)
	if err != nil {
		h.log.Warn("call-out list: robot not found", "device", deviceID, "err", err)
		return Lane{}, false
	}
	l := Lane{DeviceID: dev.ID, DeviceName: dev.Name, SiteID: dev.SiteID, AccessPointID: string(dev.AccessPointID)}
	if dev.AccessPointID != "" {
		if ap, err := store.Get[store.AccessPoint](ctx, h.db.Q(), string(dev.AccessPointID)); err == nil {
			l.Lane, l.LaneKind = ap.Name, ap.Kind
		}
	}
	return l, true
}

// calloutFor is the call-out list u sees: congested lanes of the sites u
// takes calls for, longest wait first.
func (h *Hub) calloutFor(u store.User) []Lane {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []Lane{}
	for id, w := range h.lanes {
		if !w.listed || !mayTake(u, w.lane.SiteID) {
			continue
		}
		l := w.lane
		for _, ac := range h.calls {
			if ac.info.DeviceID == id {
				l.OnCall = true
			}
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].WaitingSince.Equal(out[j].WaitingSince) {
			return out[i].WaitingSince.Before(out[j].WaitingSince)
		}
		return out[i].DeviceID < out[j].DeviceID
	})
	return out
}

// broadcastCallout sends the call-out list again to the agents of siteID.
func (h *Hub) broadcastCallout(siteID string) {
	h.mu.Lock()
	var targets []*agent
	for _, a := range h.agents {
		if mayTake(a.user, siteID) {
			targets = append(targets, a)
		}
	}
	h.mu.Unlock()
	for _, a := range targets {
		h.sendTo(a.user.ID, Message{Type: TypeCalloutList, Lanes: h.calloutFor(a.user)})
	}
}

// laneCallChanged re-sends the list when a listed lane's robot starts or
// ends a call (its on_call changes).
func (h *Hub) laneCallChanged(deviceID string) {
	h.mu.Lock()
	w := h.lanes[deviceID]
	listed := w != nil && w.listed
	h.mu.Unlock()
	if listed {
		h.broadcastCallout(w.lane.SiteID)
	}
}
