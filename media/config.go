package media

import (
	"fmt"
	"net/url"
	"time"
)

// Camera states reported in CameraState.State.
const (
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateFailed     = "failed"
	StateDisabled   = "disabled"
)

// Transports accepted in CameraConfig.Transport.
const (
	TransportTCP  = "tcp"
	TransportUDP  = "udp"
	TransportAuto = "auto"
)

// CameraConfig is one camera as the database knows it.
type CameraConfig struct {
	ID string
	// URL is the rtsp:// or rtsps:// address without userinfo; credentials go
	// in Username and Password (basic and digest auth are both answered).
	URL      string
	Username string
	Password string
	// Transport is "tcp" (default), "udp" or "auto" (UDP, falling back to TCP
	// when no packets arrive).
	Transport string
	Enabled   bool
}

// connectionEqual reports whether two configs reach the camera the same way,
// so that an update does not need to restart the ingest.
func (c CameraConfig) connectionEqual(o CameraConfig) bool {
	return c.URL == o.URL && c.Username == o.Username && c.Password == o.Password &&
		normTransport(c.Transport) == normTransport(o.Transport)
}

func normTransport(t string) string {
	switch t {
	case TransportUDP, TransportAuto:
		return t
	default:
		return TransportTCP
	}
}

// redactURL returns the URL without userinfo, query or fragment, for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// ICEConfig selects the addresses the server offers to WebRTC viewers.
type ICEConfig struct {
	// NAT1To1IPs are public addresses announced instead of the host addresses
	// (NAT 1:1), e.g. "203.0.113.7" or "203.0.113.7/10.0.0.5".
	NAT1To1IPs []string
	// Interfaces keeps only these interface names; empty keeps all.
	Interfaces []string
	// IPs keeps only these local IPs; empty keeps all.
	IPs []string
	// IncludeLoopback offers loopback candidates. Loopback is also offered
	// automatically when no other interface passing the filters has an address,
	// so a loopback-only machine still answers with a usable candidate.
	IncludeLoopback bool
	// UDPPortMin and UDPPortMax bound the UDP ports used for ICE; 0 = ephemeral.
	UDPPortMin, UDPPortMax uint16
	// DisconnectedTimeout and FailedTimeout are the ICE timeouts after which a
	// silent viewer is disconnected and then failed and removed
	// (defaults 5s and 10s).
	DisconnectedTimeout, FailedTimeout time.Duration
}

// ManagerConfig configures a Manager. Zero values take the defaults.
type ManagerConfig struct {
	ICE ICEConfig
	// StallTimeout: no packets for this long → reconnect (default 10s).
	StallTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay (defaults 500ms and
	// 30s); it doubles on every failure, with jitter.
	BackoffMin, BackoffMax time.Duration
	// ViewerQueue is the per-viewer queue length in packets (default 512,
	// rounded up to a power of two).
	ViewerQueue int
	// ViewerConnectTimeout closes a viewer whose WebRTC connection is not up
	// within this time after the answer (default 15s).
	ViewerConnectTimeout time.Duration
	// RTSPTimeout bounds RTSP dial, read and write operations (default 10s).
	RTSPTimeout time.Duration
	// OnKeyframe, when set, is called with every new keyframe of a camera
	// (e.g. to keep snapshots warm). It runs on the ingest path: it must not
	// block.
	OnKeyframe func(cameraID string, kf Keyframe)
	// OnAccessUnit, when set, is called with every video access unit of a
	// camera from its first keyframe on (e.g. to record it). It runs on the
	// ingest path under the stream's lock: it must not block; queue and
	// return.
	OnAccessUnit func(cameraID string, au AccessUnit)
}

func (c ManagerConfig) withDefaults() (ManagerConfig, error) {
	if c.StallTimeout <= 0 {
		c.StallTimeout = 10 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 500 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		return c, fmt.Errorf("backoff max %v is below backoff min %v", c.BackoffMax, c.BackoffMin)
	}
	if c.ViewerQueue <= 0 {
		c.ViewerQueue = 512
	}
	if c.ViewerQueue > 1<<16 {
		return c, fmt.Errorf("viewer queue %d is too long (max 65536)", c.ViewerQueue)
	}
	c.ViewerQueue = nextPow2(c.ViewerQueue)
	if c.ViewerConnectTimeout <= 0 {
		c.ViewerConnectTimeout = 15 * time.Second
	}
	if c.RTSPTimeout <= 0 {
		c.RTSPTimeout = 10 * time.Second
	}
	if c.ICE.DisconnectedTimeout <= 0 {
		c.ICE.DisconnectedTimeout = 5 * time.Second
	}
	if c.ICE.FailedTimeout <= 0 {
		c.ICE.FailedTimeout = 10 * time.Second
	}
	if (c.ICE.UDPPortMin == 0) != (c.ICE.UDPPortMax == 0) || c.ICE.UDPPortMax < c.ICE.UDPPortMin {
		return c, fmt.Errorf("bad ICE UDP port range %d-%d", c.ICE.UDPPortMin, c.ICE.UDPPortMax)
	}
	return c, nil
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// CameraState is what can be seen of a camera: connection state, the last
// error, what the stream carries and how it is doing.
type CameraState struct {
	State            string     `json:"state"` // "connecting" | "connected" | "failed" | "disabled"
	LastError        string     `json:"last_error,omitempty"`
	Codec            string     `json:"codec,omitempty"` // "h264" | "h265"
	Width            int        `json:"width,omitempty"`
	Height           int        `json:"height,omitempty"`
	FPS              float64    `json:"fps,omitempty"`
	BitrateKbps      float64    `json:"bitrate_kbps,omitempty"`
	KeyframeInterval float64    `json:"keyframe_interval_s,omitempty"`
	AudioCodec       string     `json:"audio_codec,omitempty"` // "pcmu" | "pcma" | "opus" | "aac"
	PacketsLost      uint64     `json:"packets_lost"`
	Reconnects       uint64     `json:"reconnects"`
	Viewers          int        `json:"viewers"`
	ViewerDrops      uint64     `json:"viewer_drops"`
	ConnectedSince   *time.Time `json:"connected_since,omitempty"`
}

// AccessUnit is one video frame as the camera sent it, not re-encoded.
type AccessUnit struct {
	Codec string
	// NALUs are the frame's NAL units without start codes; parameter sets
	// precede every keyframe. They are shared: do not modify them.
	NALUs [][]byte
	// Key marks a random access point (IDR for H264, IRAP for H265).
	Key bool
	// PTS is the presentation time on the camera's continuous timeline: it
	// keeps running, with the gap, across reconnects.
	PTS time.Duration
	// Wall is when the frame arrived.
	Wall time.Time
	// Width and Height are from the current SPS.
	Width, Height int
}

// Keyframe is the last keyframe of a camera as Annex-B: parameter sets
// followed by the IDR (H264) or IRAP (H265) access unit.
type Keyframe struct {
	Codec string
	// AnnexB is shared between callers: do not modify it.
	AnnexB []byte
	Width  int
	Height int
	// Seq increments with every keyframe of the camera, for caching.
	Seq uint64
	// At is when the keyframe arrived.
	At time.Time
}
