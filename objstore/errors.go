package objstore

import "errors"

var (
	// ErrNotFound means no object exists under the key.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrInvalidKey means the key breaks the rules of ValidateKey.
	ErrInvalidKey = errors.New("objstore: invalid key")
	// ErrNotSupported means the backend cannot do this (for example a
	// presigned URL from the local directory store).
	ErrNotSupported = errors.New("objstore: not supported by this store")
	// ErrSizeMismatch means the reader given to Put held more or fewer bytes
	// than the size given; nothing was stored.
	ErrSizeMismatch = errors.New("objstore: size mismatch")
	// ErrInvalidMetadata means a content type or metadata entry given to Put
	// cannot be stored portably (see PutOptions).
	ErrInvalidMetadata = errors.New("objstore: invalid metadata")
	// ErrInvalidRange means a Range that cannot be served: a negative
	// offset, a length other than -1 or > 0, or an offset at or past the
	// end of the object.
	ErrInvalidRange = errors.New("objstore: invalid range")
)
