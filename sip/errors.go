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
)
