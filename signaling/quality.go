package signaling

import (
	"math"
	"time"

	"github.com/attendant/attendant/media"
	"github.com/attendant/attendant/sip"
)

// DefaultQualityEvery is how often an answered call's agent is told how the
// robot's line is doing (Config.QualityEvery).
const DefaultQualityEvery = 5 * time.Second

// Link quality levels, from the robot's stream over the last interval.
const (
	QualityGood   = "good"   // under 1 % lost, jitter under 30 ms
	QualityFair   = "fair"   // under 5 % lost, jitter under 60 ms
	QualityPoor   = "poor"   // worse: the agent will hear gaps
	QualitySilent = "silent" // no audio from the robot at all (on hold, muted, or its link is down)
)

// LinkQuality is how the robot's line did over the last interval
// (call.quality): robots call over mobile links, and an agent hearing gaps
// should know it is the line, not the robot's user.
type LinkQuality struct {
	Level string `json:"level"`
	// Loss is the fraction (0..1) of the robot's packets lost in the
	// interval; JitterMS its interarrival jitter now.
	Loss     float64 `json:"loss"`
	JitterMS float64 `json:"jitter_ms"`
	// RTTMS is the round trip to the robot, when its RTCP reports tell it.
	RTTMS *float64 `json:"rtt_ms,omitempty"`
}

// qualityMeter turns a call's cumulative counters into one interval's
// quality; it belongs to the goroutine that waits for the call's end.
type qualityMeter struct {
	received uint64
	lost     int64
}

func (m *qualityMeter) next(st sip.CallStats) LinkQuality {
	received := st.PacketsReceived - m.received
	lost := max(st.PacketsLost-m.lost, 0) // duplicates make the count go back
	m.received, m.lost = st.PacketsReceived, st.PacketsLost
	q := LinkQuality{JitterMS: roundMS(st.Jitter), RTTMS: rttMS(st)}
	if received == 0 {
		q.Level = QualitySilent
		return q
	}
	q.Loss = math.Round(float64(lost)/float64(received+uint64(lost))*1e4) / 1e4
	switch jitter := st.Jitter; {
	case q.Loss < 0.01 && jitter < 30*time.Millisecond:
		q.Level = QualityGood
	case q.Loss < 0.05 && jitter < 60*time.Millisecond:
		q.Level = QualityFair
	default:
		q.Level = QualityPoor
	}
	return q
}

// rttMS is the round trip to the robot in milliseconds, nil while unknown.
func rttMS(st sip.CallStats) *float64 {
	if !st.RTTKnown {
		return nil
	}
	rtt := roundMS(st.RTT)
	return &rtt
}

// roundMS is d in milliseconds to a tenth.
func roundMS(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*10) / 10
}

// sendQuality tells the call's agent how the robot's line did since the
// last time.
func (h *Hub) sendQuality(ac *activeCall, m *qualityMeter) {
	q := m.next(ac.c.Stats())
	h.mu.Lock()
	agentID := ac.info.AgentID
	h.mu.Unlock()
	if agentID != "" {
		h.sendTo(agentID, Message{Type: TypeQuality, CallID: ac.info.ID, Quality: &q})
	}
}

// callEndDetail is the call.end audit entry's detail.
type callEndDetail struct {
	CallID   string       `json:"call_id"`
	Reason   string       `json:"reason"`
	Answered bool         `json:"answered"`
	Media    *callQuality `json:"media,omitempty"`
}

// callQuality is how an answered call's audio fared, kept on its case so a
// supervisor can tell a robot's bad mobile link from an agent's bad day.
type callQuality struct {
	// the robot's stream as we got it
	RobotPackets  uint64  `json:"robot_packets"`
	RobotLost     int64   `json:"robot_lost"`
	RobotJitterMS float64 `json:"robot_jitter_ms"`
	// our stream as the robot reported it (its RTCP); absent without a report
	RobotSawLost     *int64   `json:"robot_saw_lost,omitempty"`
	RobotSawJitterMS *float64 `json:"robot_saw_jitter_ms,omitempty"`
	RTTMS            *float64 `json:"rtt_ms,omitempty"`
	// packets through the bridge to and from the agent's browser
	ToAgent   uint64 `json:"to_agent"`
	FromAgent uint64 `json:"from_agent"`
}

func newCallQuality(st sip.CallStats, br *media.Bridge) *callQuality {
	q := &callQuality{RobotPackets: st.PacketsReceived, RobotLost: st.PacketsLost, RobotJitterMS: roundMS(st.Jitter),
		RTTMS: rttMS(st)}
	if !st.RemoteReportAt.IsZero() {
		lost, jitter := st.RemotePacketsLost, roundMS(st.RemoteJitter)
		q.RobotSawLost, q.RobotSawJitterMS = &lost, &jitter
	}
	if br != nil {
		bs := br.Stats()
		q.ToAgent, q.FromAgent = bs.LegToAgent, bs.AgentToLeg
	}
	return q
}
