package spool

import "errors"

var (
	// ErrSpoolFull means the spool holds Config.MaxBytes already: the
	// object (or the bytes of a Write) was refused, and counted in
	// Stats.FullRejections. Nothing accepted before is dropped to make room.
	ErrSpoolFull = errors.New("spool: full")
	// ErrWriterClosed means Write, Commit or Abort was called on a Writer
	// that was already committed or aborted.
	ErrWriterClosed = errors.New("spool: writer already committed or aborted")
	// ErrRunning means Run was called while another Run of the same Spool
	// was still running.
	ErrRunning = errors.New("spool: already running")
)

// errCorrupt marks a spooled entry that can never be uploaded as it is (its
// data file is missing or does not match its sidecar): it is quarantined,
// not retried.
var errCorrupt = errors.New("spooled entry is corrupt")

// errVerify marks an upload whose result does not match what was spooled.
var errVerify = errors.New("store reports different content")
