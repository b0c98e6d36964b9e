package media

import "errors"

var (
	// ErrUnknownCamera is returned for a camera id the manager does not know.
	ErrUnknownCamera = errors.New("unknown camera")
	// ErrNotConnected is returned when a camera has no usable stream yet (never
	// connected, disabled, or the manager is not running).
	ErrNotConnected = errors.New("camera not connected")
	// ErrCodecNotOffered is returned when the viewer's offer lacks the camera's
	// video codec (an H265 camera and an offer without H265, or an offer with no
	// H264 in packetization-mode 1).
	ErrCodecNotOffered = errors.New("camera codec not offered")
	// ErrBadOffer is returned for an SDP offer that cannot be parsed or applied.
	ErrBadOffer = errors.New("bad SDP offer")
	// ErrUnknownViewer is returned by CloseViewer for a session id that does not
	// exist (already closed, or never existed).
	ErrUnknownViewer = errors.New("unknown viewer session")
)
