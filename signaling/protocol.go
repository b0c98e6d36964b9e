package signaling

import (
	"encoding/json"
	"github.com/attendant/attendant/store"
	"time"
)

// ProtocolVersion is sent in "welcome"; a client that does not know it
// should reload.
const ProtocolVersion = 1

// Message is one WebSocket message, either way. Type says which fields
// matter (docs/protocol.md).
type Message struct {
	Type string `json:"type"`
	// Ref echoes a client's Ref in the server's reply or error.
	Ref string `json:"ref,omitempty"`

	CallID string    `json:"call_id,omitempty"`
	SDP    string    `json:"sdp,omitempty"`
	State  string    `json:"state,omitempty"` // presence
	Reason string    `json:"reason,omitempty"`
	Digit  string    `json:"digit,omitempty"`
	By     string    `json:"by,omitempty"`
	Call   *CallInfo `json:"call,omitempty"`
	// Calls lists the calls ringing for this agent and the agent's own
	// active call, in "welcome".
	Calls []CallInfo `json:"calls,omitempty"`
	// Case is the case as it is now (case.updated).
	Case *store.Case `json:"case,omitempty"`
	// Lanes is the call-out list (callout.list).
	Lanes []Lane `json:"lanes,omitempty"`
	// Agents answers agents.list.
	Agents  []AgentInfo `json:"agents,omitempty"`
	Agent   *AgentInfo  `json:"agent,omitempty"`
	Version int         `json:"version,omitempty"`
	Code    string      `json:"code,omitempty"`
	Error   string      `json:"message,omitempty"`

	// Command is a robot command (robot.command), RobotState a robot's
	// last state update (robot.state, and in call.offer).
	Command  json.RawMessage `json:"command,omitempty"`
	DeviceID string          `json:"device_id,omitempty"`
	// To is call.transfer's target agent (a user id; "" for any).
	To         string          `json:"to,omitempty"`
	RobotState json.RawMessage `json:"robot_state,omitempty"`
	// Status is the robot's SIP answer to a command (robot.result).
	Status int `json:"status,omitempty"`
	// Quality is how the robot's line is doing (call.quality).
	Quality *LinkQuality `json:"quality,omitempty"`
}

// CallInfo is what an agent sees of a call.
type CallInfo struct {
	ID       string `json:"id"`
	CaseID   string `json:"case_id"`
	SiteID   string `json:"site_id"`
	DeviceID string `json:"device_id"`
	From     string `json:"from"`
	Codec    string `json:"codec"`
	State    string `json:"state"` // ringing | transfer | connecting | answered | ended
	AgentID  string `json:"agent_id,omitempty"`
	// Held: the agent put the robot on hold.
	Held bool `json:"held,omitempty"`
	// TransferFrom names the agent who handed the call over (a call.ringing
	// with state "transfer", and the call once taken).
	TransferFrom string    `json:"transfer_from,omitempty"`
	Since        time.Time `json:"since"`
}

// AgentInfo is the connected agent.
type AgentInfo struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	Seat     string `json:"seat"`
	Presence string `json:"presence"`
	// SiteIDs: the sites whose calls the agent takes (in call.agents).
	SiteIDs []string `json:"site_ids,omitempty"`
}

// Client message types.
const (
	TypePresence = "presence"    // {state: online|away|busy}
	TypeAccept   = "call.accept" // {call_id}
	TypeDecline  = "call.decline"
	TypeAnswer   = "call.answer" // {call_id, sdp}: the browser's answer to call.offer
	TypeHangup   = "call.hangup" // {call_id}
	// TypeRobotCommand: {call_id, command, reason}: tell the call's robot
	// (docs/robot-protocol.md); answered robot.result.
	TypeRobotCommand = "robot.command"
	TypePing         = "ping"
	// TypeDial calls a robot: {device_id}; TypeCancelDial gives up while
	// it rings.
	TypeDial       = "call.dial"
	TypeCancelDial = "call.dial_cancel"
	// TypeTransfer hands the agent's answered call to another agent:
	// {call_id, to: user id, or "" for any free agent of the site};
	// TypeCancelTransfer takes it back (or, from the agent it was offered
	// to, declines it; call.decline does the same).
	TypeTransfer       = "call.transfer"
	TypeCancelTransfer = "call.transfer_cancel"
	// TypeHoldCall puts the robot on hold or resumes it: {call_id, state:
	// hold|resume}; the server confirms with call.hold {by: "agent"}.
	TypeHoldCall = TypeHold
	// TypeAgentsList asks for the agents connected now who share a site:
	// answered "agents" {agents}.
	TypeAgentsList = "agents.list"
	// TypeCalloutList asks for the call-out list: answered callout.list.
	TypeCalloutList = "callout.list"
)

// Server message types.
const (
	TypeWelcome  = "welcome"      // {version, agent, calls}
	TypeRinging  = "call.ringing" // {call}
	TypeOffer    = "call.offer"   // {call_id, sdp}: the server's WebRTC offer for the call's audio
	TypeAnswered = "call.answered"
	TypeTaken    = "call.taken" // {call_id, by}: another agent took it
	TypeEnded    = "call.ended" // {call_id, reason}
	TypeDTMF     = "call.dtmf"  // {call_id, digit}
	TypeHold     = "call.hold"  // {call_id, state: hold|resume, by: robot|agent}
	TypeError    = "error"      // {code, message, ref}
	// TypeQuality: {call_id, quality}: the robot's line over the last
	// Config.QualityEvery, to the call's agent while the call is answered.
	TypeQuality = "call.quality"
	// TypeRobotResult answers robot.command: {call_id, ref, status}.
	TypeRobotResult = "robot.result"
	// TypeRobotState is the robot's state update: {call_id, device_id, robot_state}.
	TypeRobotState = "robot.state"
	TypePong       = "pong"
	// TypeDialing and TypeRingingOut follow an agent's call.dial:
	// {device_id, call}; then call.offer when the robot answers, or
	// call.ended with the reason.
	TypeDialing    = "call.dialing"
	TypeRingingOut = "call.ringing_out"
	// A transfer, to the agent who asked: call.transferring {call_id, by:
	// the target's username or ""}, then call.transferred {call_id, by:
	// who took it} — the call is no longer theirs — or
	// call.transfer_failed {call_id, reason}: they keep it.
	TypeTransferring   = "call.transferring"
	TypeTransferred    = "call.transferred"
	TypeTransferFailed = "call.transfer_failed"
	TypeAgents         = "agents"
	// TypeCaseUpdated: a case changed (closed, evidence added, plate,
	// disposition, legal hold, handler): {case}, to its call's agent, its
	// handler and the supervisors of its site.
	TypeCaseUpdated = "case.updated"
)

// Presence states.
const (
	PresenceOnline  = "online"
	PresenceAway    = "away"
	PresenceBusy    = "busy"
	PresenceOffline = "offline"
)
