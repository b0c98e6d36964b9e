package parking

import (
	"errors"
	"fmt"
)

// What can go wrong talking to the parking system. Every error the Client
// returns wraps exactly one of these, so callers can tell "fix the plate"
// from "the parking system is down" with errors.Is.
var (
	// ErrInvalidPlate: the plate is empty, too long or has characters no
	// plate has. Nothing was sent.
	ErrInvalidPlate = errors.New("invalid plate")
	// ErrUnreachable: no connection to the webhook (refused, DNS, TLS, reset).
	ErrUnreachable = errors.New("parking system unreachable")
	// ErrTimeout: no complete answer within the configured timeout.
	ErrTimeout = errors.New("parking system timed out")
	// ErrStatus: the webhook answered a status other than 2xx; see *StatusError.
	ErrStatus = errors.New("parking system answered an error status")
	// ErrTooLarge: the answer is longer than the configured limit.
	ErrTooLarge = errors.New("parking system answer too large")
	// ErrMalformed: the answer is not the JSON the protocol describes.
	ErrMalformed = errors.New("parking system answer malformed")
	// ErrMissingField: the answer is JSON but lacks a required field.
	ErrMissingField = errors.New("parking system answer lacks a required field")
)

// StatusError is a non-2xx answer. It matches ErrStatus with errors.Is.
type StatusError struct {
	Code int
	// Body is the start of the answer with control characters removed,
	// for the log (the parking system's own error text, if any).
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%v: HTTP %d", ErrStatus, e.Code)
	}
	return fmt.Sprintf("%v: HTTP %d: %s", ErrStatus, e.Code, e.Body)
}

// Is makes errors.Is(err, ErrStatus) true.
func (e *StatusError) Is(target error) bool { return target == ErrStatus }
