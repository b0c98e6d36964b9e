package sip

import "errors"

var (
	// ErrUnknownDevice is returned by a Directory when no device has the SIP
	// username asked for.
	ErrUnknownDevice = errors.New("unknown SIP device")
	// ErrBadDigest is returned by ParseDigest for an Authorization value that
	// is not a well-formed Digest credential.
	ErrBadDigest = errors.New("malformed digest credentials")
	// ErrBadConfig is returned by NewServer for an invalid Config.
	ErrBadConfig = errors.New("invalid SIP config")
	// ErrRunTwice is returned by Run when the server runs or has run already.
	ErrRunTwice = errors.New("sip server: Run called twice")
	// ErrCallEnded is returned by Call methods once the call has ended
	// (ReadRTP returns io.EOF instead).
	ErrCallEnded = errors.New("sip call ended")
	// ErrCallState is returned by Call methods that do not fit the call's
	// state: Answer or Reject after an answer, for example.
	ErrCallState = errors.New("sip call: not possible in this state")
	// ErrNoAck is returned by Answer when the robot never acknowledged our
	// 200 OK (64*T1, 32 s); the call is then hung up.
	ErrNoAck = errors.New("sip call: no ACK for 200 OK")
	// ErrNotRegistered is returned by SendMessage for a device that has no
	// current registration.
	ErrNotRegistered = errors.New("sip device not registered")
	// ErrBadMessage is returned by SendMessage for a content type or body
	// that cannot be sent.
	ErrBadMessage = errors.New("sip message: invalid content type or body")
	// ErrDeviceDisabled is returned by Dial for a device the Directory
	// says is disabled.
	ErrDeviceDisabled = errors.New("sip device disabled")
	// ErrBadCodec is returned by Dial for a codec we cannot offer.
	ErrBadCodec = errors.New("sip: codec cannot be offered")
	// ErrReinvitePending is returned by Call.Hold while another re-INVITE
	// of the call (ours or the robot's) has not finished; try again a
	// moment later.
	ErrReinvitePending = errors.New("sip call: a re-INVITE is in progress")
	// ErrServerClosed is returned by Dial once the server is stopping.
	ErrServerClosed = errors.New("sip server closed")
)
