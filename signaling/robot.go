package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/attendant/attendant/store"
)

// RobotMessenger sends a robot a SIP MESSAGE (sip.Server).
type RobotMessenger interface {
	SendMessage(ctx context.Context, deviceID, contentType string, body []byte) (int, error)
}

// RobotContentType is the content type of robot commands and states
// (docs/robot-protocol.md).
const RobotContentType = "application/json"

// Robot command actions.
const (
	ActionOpenGate = "open_gate"
	ActionDisplay  = "display"
	ActionVoice    = "voice"
	ActionLED      = "led"
)

// AbnormalOpenReasons are why a gate may be opened without payment.
var AbnormalOpenReasons = []string{"special-vehicle", "special-person", "non-motor-vehicle"}

// Command is what an agent tells a robot. Only the fields of its Action
// are set; Marshal writes the robot's JSON.
type Command struct {
	Action string `json:"action"`
	// open_gate
	Abnormal       bool   `json:"abnormal,omitempty"`
	AbnormalReason string `json:"abnormal_reason,omitempty"`
	// display: mode qr | text | face, with its payload
	Mode    string `json:"mode,omitempty"`
	Payload string `json:"payload,omitempty"`
	// voice: a prompt to speak
	Prompt string `json:"prompt,omitempty"`
	// led: a colour
	Color string `json:"color,omitempty"`
}

var (
	errBadCommand = errors.New("bad_command")
	errRobot      = errors.New("robot_unreachable")
	// errEvidenceRequired: an abnormal open at an exit lane without the
	// ID-document and scene snapshots on the case.
	errEvidenceRequired = errors.New("evidence_required")
)

// maxRobotText bounds the text fields: a UDP MESSAGE must fit one packet.
const maxRobotText = 512

// ParseCommand reads and checks an agent's command strictly: unknown
// fields, unknown actions and out-of-range values are refused with what is
// wrong.
func ParseCommand(raw []byte) (Command, error) {
	var c Command
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %v", errBadCommand, err)
	}
	text := func(name, v string, required bool) error {
		switch {
		case required && v == "":
			return fmt.Errorf("%w: %s %s needs %s", errBadCommand, c.Action, c.Mode, name)
		case len(v) > maxRobotText || !utf8.ValidString(v):
			return fmt.Errorf("%w: %s: at most %d bytes of UTF-8", errBadCommand, name, maxRobotText)
		}
		return nil
	}
	only := func(fields map[string]bool) error {
		set := map[string]bool{"abnormal": c.Abnormal, "abnormal_reason": c.AbnormalReason != "", "mode": c.Mode != "",
			"payload": c.Payload != "", "prompt": c.Prompt != "", "color": c.Color != ""}
		for f, on := range set {
			if on && !fields[f] {
				return fmt.Errorf("%w: %s takes no %s", errBadCommand, c.Action, f)
			}
		}
		return nil
	}
	switch c.Action {
	case ActionOpenGate:
		if err := only(map[string]bool{"abnormal": true, "abnormal_reason": true}); err != nil {
			return c, err
		}
		if c.Abnormal && !slices.Contains(AbnormalOpenReasons, c.AbnormalReason) {
			return c, fmt.Errorf("%w: an abnormal open needs abnormal_reason, one of %v", errBadCommand, AbnormalOpenReasons)
		}
		if !c.Abnormal && c.AbnormalReason != "" {
			return c, fmt.Errorf("%w: abnormal_reason is for an abnormal open", errBadCommand)
		}
	case ActionDisplay:
		if err := only(map[string]bool{"mode": true, "payload": true}); err != nil {
			return c, err
		}
		if !slices.Contains([]string{"qr", "text", "face"}, c.Mode) {
			return c, fmt.Errorf("%w: display mode is qr, text or face", errBadCommand)
		}
		if err := text("payload", c.Payload, c.Mode != "face"); err != nil {
			return c, err
		}
	case ActionVoice:
		if err := only(map[string]bool{"prompt": true}); err != nil {
			return c, err
		}
		if err := text("prompt", c.Prompt, true); err != nil {
			return c, err
		}
	case ActionLED:
		if err := only(map[string]bool{"color": true}); err != nil {
			return c, err
		}
		if !slices.Contains([]string{"off", "red", "green", "blue", "yellow", "white"}, c.Color) {
			return c, fmt.Errorf("%w: led color is off, red, green, blue, yellow or white", errBadCommand)
		}
	default:
		return c, fmt.Errorf("%w: unknown action %q", errBadCommand, c.Action)
	}
	return c, nil
}

// robotCommand sends an agent's command to the robot of the agent's call
// and records it on the case with the agent, the remark and the answer.
func (h *Hub) robotCommand(ctx context.Context, u store.User, m Message) (int, error) {
	if h.messenger == nil {
		return 0, errRobot
	}
	cmd, err := ParseCommand(m.Command)
	if err != nil {
		return 0, err
	}
	if cmd.Abnormal && m.Reason == "" {
		return 0, fmt.Errorf("%w: an abnormal open needs a remark (reason)", errBadCommand)
	}
	if len(m.Reason) > 2000 {
		return 0, fmt.Errorf("%w: reason: at most 2000 bytes", errBadCommand)
	}
	h.mu.Lock()
	ac, err := h.ownCallLocked(u, m.CallID)
	if err != nil {
		h.mu.Unlock()
		return 0, err
	}
	info := ac.info
	h.mu.Unlock()
	if cmd.Action == ActionOpenGate && cmd.Abnormal {
		if err := h.abnormalOpenEvidence(ctx, info); err != nil {
			return 0, err
		}
	}
	body, _ := json.Marshal(cmd)
	sctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	status, sendErr := h.messenger.SendMessage(sctx, info.DeviceID, RobotContentType, body)
	detail, _ := json.Marshal(map[string]any{"call_id": info.ID, "device_id": info.DeviceID, "command": cmd,
		"reason": m.Reason, "robot_status": status, "error": errString(sendErr)})
	err = h.db.InTx(ctx, func(q store.Q) error {
		_, err := h.db.AppendAudit(ctx, q, store.AuditEntry{ActorID: u.ID, ActorName: u.Username, Action: "robot." + cmd.Action,
			ObjectType: "case", ObjectID: info.CaseID, SiteID: info.SiteID, Detail: string(detail)})
		return err
	})
	if err != nil {
		h.log.Error("record a robot command", "call", info.ID, "err", err)
	}
	if sendErr != nil {
		h.log.Warn("robot command not delivered", "call", info.ID, "device", info.DeviceID, "err", sendErr)
		return status, errRobot
	}
	return status, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// maxRobotState bounds a robot's state update kept and forwarded.
const maxRobotState = 8 << 10

// RobotMessage takes a registered robot's MESSAGE (its state: what its
// display shows now) and passes it to the agent on its call; the last one
// per robot is kept for the next agent. It is the sip OnMessage hook.
func (h *Hub) RobotMessage(deviceID, contentType string, body []byte) {
	if len(body) > maxRobotState || !json.Valid(body) {
		h.log.Debug("robot message ignored: not JSON or too large", "device", deviceID, "bytes", len(body))
		return
	}
	state := json.RawMessage(body)
	h.mu.Lock()
	h.robotStates[deviceID] = state
	var agentID, callID string
	for _, ac := range h.calls {
		if ac.info.DeviceID == deviceID && ac.info.AgentID != "" {
			agentID, callID = ac.info.AgentID, ac.info.ID
		}
	}
	h.mu.Unlock()
	if agentID != "" {
		h.sendTo(agentID, Message{Type: TypeRobotState, CallID: callID, DeviceID: deviceID, RobotState: state})
	}
	h.laneFromState(deviceID, state)
}

// Snapshot evidence kinds (api: POST /cases/{id}/snapshots) and how many of
// each an abnormal open at an exit needs.
const (
	evidenceIDDocument = "snapshot-id_document"
	evidenceScene      = "snapshot-scene"
	// MaxOpenSnapshots is the most snapshots of one role on a call's case.
	MaxOpenSnapshots = 4
)

// abnormalOpenEvidence checks what an abnormal open needs on the case: at
// an exit lane, 1–4 ID-document snapshots and 1–4 scene snapshots taken
// before the gate opens (the vehicle leaves without paying: the evidence
// must exist first).
func (h *Hub) abnormalOpenEvidence(ctx context.Context, info CallInfo) error {
	kind, err := h.laneKind(ctx, info.DeviceID)
	if err != nil {
		h.log.Error("abnormal open: read the robot's lane", "device", info.DeviceID, "err", err)
		return errCallFailure
	}
	if kind != "exit" {
		return nil
	}
	counts := map[string]int{}
	rows, err := h.db.Q().QueryContext(ctx, h.db.Q().Rebind(
		"SELECT kind, COUNT(*) FROM evidence WHERE case_id = ? AND kind IN (?, ?) GROUP BY kind"),
		info.CaseID, evidenceIDDocument, evidenceScene)
	if err != nil {
		h.log.Error("abnormal open: count the case's snapshots", "case", info.CaseID, "err", err)
		return errCallFailure
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return errCallFailure
		}
		counts[k] = n
	}
	if err := rows.Err(); err != nil {
		return errCallFailure
	}
	ids, scenes := counts[evidenceIDDocument], counts[evidenceScene]
	if ids < 1 || scenes < 1 || ids > MaxOpenSnapshots || scenes > MaxOpenSnapshots {
		return fmt.Errorf("%w: an abnormal open at an exit needs 1–%d ID-document and 1–%d scene snapshots on the case (it has %d and %d)",
			errEvidenceRequired, MaxOpenSnapshots, MaxOpenSnapshots, ids, scenes)
	}
	return nil
}

// laneKind is the kind of the robot's access point (entrance, exit, door),
// "" when it has none.
func (h *Hub) laneKind(ctx context.Context, deviceID string) (string, error) {
	dev, err := store.Get[store.Device](ctx, h.db.Q(), deviceID)
	if err != nil {
		return "", err
	}
	if dev.AccessPointID == "" {
		return "", nil
	}
	ap, err := store.Get[store.AccessPoint](ctx, h.db.Q(), string(dev.AccessPointID))
	if err != nil {
		return "", err
	}
	return ap.Kind, nil
}
