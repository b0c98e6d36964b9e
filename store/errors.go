package store

import "errors"

var (
	// ErrNotFound is returned when no row has the given id or key.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a unique value (a username, a SIP
	// username) is already taken.
	ErrConflict = errors.New("already exists")
	// ErrReferenced is returned when a row cannot be deleted because others
	// still point at it, or cannot be written because what it points at is
	// missing.
	ErrReferenced = errors.New("referenced")
	// ErrAppendOnly is returned when something tries to change the audit log.
	ErrAppendOnly = errors.New("audit log is append-only")
)
