// Package objstore stores evidence objects (camera clips, call audio,
// snapshots) under string keys. One interface, two backends: a local
// directory (Local, the embedded default) and any S3 server (S3, through
// minio-go). Open picks one from a URL.
//
// Every object records the SHA-256 of its bytes, computed by Put while the
// bytes go by, so that evidence can later be shown to be unaltered.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"time"
)

// Store is an object store. All methods are safe for concurrent use.
type Store interface {
	// Put stores exactly size bytes from r under key, replacing any object
	// there, and returns what was stored, with the SHA-256 of the bytes.
	// size must be known and >= 0; if r holds fewer or more bytes, Put
	// returns ErrSizeMismatch and stores nothing. A failed Put never leaves
	// a partial object under key. r must not change while Put runs.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)
	// Get opens the object for reading; with a Range it reads only part of
	// it. The ObjectInfo describes the whole object. ctx governs the reads
	// too. The caller closes the reader.
	Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error)
	// Stat describes the object, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object. Deleting a key that does not exist is not
	// an error, as in S3.
	Delete(ctx context.Context, key string) error
	// List yields the objects whose keys start with prefix, in ascending
	// byte order of key. It fills only Key, Size and ModTime: use Stat for
	// the rest. An error ends the sequence.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
	// Ping checks that the store is reachable and writable enough to serve
	// (for /readyz).
	Ping(ctx context.Context) error
	// PresignGet returns a URL that reads the object without credentials
	// until expiry (at most 7 days), or ErrNotSupported.
	PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error)
	// Close releases the store's resources.
	Close() error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ContentType is "application/octet-stream" unless Put was given one.
	ContentType string
	// SHA256 is the hex SHA-256 of the object's bytes. Empty only for an
	// object written to S3 by something other than this package.
	SHA256 string
	// ModTime is when the object was stored, in UTC. S3 keeps whole
	// seconds; the ModTime returned by S3's Put is the local time the
	// upload finished.
	ModTime time.Time
	// Metadata is what PutOptions.Metadata held, with lower-case keys;
	// nil when there was none.
	Metadata map[string]string
}

// PutOptions are optional attributes of a stored object.
type PutOptions struct {
	// ContentType is the MIME type; empty means "application/octet-stream".
	// It must be printable ASCII.
	ContentType string
	// Metadata is stored with the object and returned by Stat and Get. So
	// that every backend (and every HTTP hop of S3) keeps it unchanged,
	// keys are letters, digits and "-" (stored lower-case; "sha256" is
	// reserved) and values are printable ASCII without leading or trailing
	// spaces; keys and values together are at most 1,900 bytes. Otherwise
	// Put returns ErrInvalidMetadata.
	Metadata map[string]string
}

// Range selects part of an object: Length bytes from Offset, or to the end
// when Length is -1. Offset must be inside the object (Range{0, -1} also
// reads an empty object); a range running past the end is cut short.
type Range struct {
	Offset, Length int64
}

const (
	defaultContentType = "application/octet-stream"
	// metaSHA256 is the metadata key holding the object's SHA-256.
	metaSHA256 = "sha256"
	// maxMetadataBytes keeps user metadata plus our sha256 entry under S3's
	// 2 KB limit for user-defined metadata.
	maxMetadataBytes = 1900
	maxContentType   = 256
	maxMetaKeyLen    = 128
)

// Open returns the store a URL names:
//
//   - "" is a local directory at filepath.Join(dataDir, "objects");
//   - "file:///abs/path" is a local directory;
//   - "s3://KEY:SECRET@host[:port]/bucket" is an S3 server over HTTPS and
//     "s3+http://..." the same over plain HTTP. The query may hold
//     region=NAME and checksum=off (for servers without S3's trailing
//     checksums). KEY and SECRET must be URL-escaped. The bucket is created
//     if missing. Large uploads are spooled under dataDir/spool when
//     dataDir is set.
//
// Errors and logs never show the secret key.
func Open(ctx context.Context, rawURL, dataDir string, log *slog.Logger) (Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if rawURL == "" {
		if dataDir == "" {
			return nil, errors.New("open object store: no URL and no data directory")
		}
		dir := filepath.Join(dataDir, "objects")
		s, err := NewLocal(dir, WithLocalLogger(log))
		if err != nil {
			return nil, fmt.Errorf("open object store: %w", err)
		}
		log.Info("object store", "backend", "local", "dir", dir)
		return s, nil
	}
	loc, err := parseStoreURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open object store: %w", err)
	}
	if loc.dir != "" {
		s, err := NewLocal(loc.dir, WithLocalLogger(log))
		if err != nil {
			return nil, fmt.Errorf("open object store: %w", err)
		}
		log.Info("object store", "backend", "local", "dir", loc.dir)
		return s, nil
	}
	cfg := loc.s3
	cfg.Log = log
	if dataDir != "" {
		cfg.SpoolDir = filepath.Join(dataDir, "spool")
	}
	s, err := NewS3(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", Redact(rawURL), err)
	}
	log.Info("object store", "backend", "s3", "url", Redact(rawURL))
	return s, nil
}

// CheckPut reports whether Put would accept key, size and opts, without
// storing anything: callers that queue an object for a later upload (the
// recorder's spool) refuse a bad one up front instead of retrying it.
func CheckPut(key string, size int64, opts PutOptions) error {
	_, _, err := checkPut(key, size, opts)
	return err
}

// checkPut validates Put's arguments and returns the content type and
// metadata to store, normalised (the metadata copied, keys lower-cased).
func checkPut(key string, size int64, opts PutOptions) (string, map[string]string, error) {
	if err := ValidateKey(key); err != nil {
		return "", nil, err
	}
	if size < 0 {
		return "", nil, fmt.Errorf("size %d: the size must be known (>= 0)", size)
	}
	ct := opts.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	if len(ct) > maxContentType || !printableASCII(ct) {
		return "", nil, fmt.Errorf("%w: content type %q: want printable ASCII, at most %d bytes", ErrInvalidMetadata, ct, maxContentType)
	}
	if len(opts.Metadata) == 0 {
		return ct, nil, nil
	}
	meta := make(map[string]string, len(opts.Metadata))
	total := 0
	for k, v := range opts.Metadata {
		lk := strings.ToLower(k)
		if err := checkMetaKey(lk); err != nil {
			return "", nil, fmt.Errorf("%w: key %q: %s", ErrInvalidMetadata, k, err)
		}
		if _, dup := meta[lk]; dup {
			return "", nil, fmt.Errorf("%w: key %q given twice (keys are case-insensitive)", ErrInvalidMetadata, k)
		}
		if !printableASCII(v) || strings.TrimSpace(v) != v {
			return "", nil, fmt.Errorf("%w: value of %q: want printable ASCII without leading or trailing spaces", ErrInvalidMetadata, k)
		}
		meta[lk] = v
		total += len(lk) + len(v)
	}
	if total > maxMetadataBytes {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidMetadata, total, maxMetadataBytes)
	}
	return ct, meta, nil
}

func checkMetaKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty")
	case len(k) > maxMetaKeyLen:
		return fmt.Errorf("longer than %d bytes", maxMetaKeyLen)
	case k == metaSHA256:
		return errors.New("reserved")
	case k[0] == '-':
		return errors.New("starts with -")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return errors.New("want letters, digits and -")
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkRange validates a Range against the object size and returns it with
// Length resolved (-1 becomes the rest of the object); nil means the whole
// object.
func checkRange(rng *Range, size int64) (*Range, error) {
	if rng == nil || (rng.Offset == 0 && rng.Length == -1) {
		return nil, nil
	}
	switch {
	case rng.Offset < 0:
		return nil, fmt.Errorf("%w: offset %d", ErrInvalidRange, rng.Offset)
	case rng.Length == 0 || rng.Length < -1:
		return nil, fmt.Errorf("%w: length %d (want > 0, or -1 for the rest)", ErrInvalidRange, rng.Length)
	case rng.Offset >= size:
		return nil, fmt.Errorf("%w: offset %d of a %d-byte object", ErrInvalidRange, rng.Offset, size)
	}
	r := *rng
	if r.Length == -1 || r.Length > size-r.Offset {
		r.Length = size - r.Offset
	}
	return &r, nil
}

// prefixCanMatch reports whether any valid key can start with prefix: the
// part up to its last "/" must then be a valid key itself.
func prefixCanMatch(prefix string) bool {
	i := strings.LastIndexByte(prefix, '/')
	return i < 0 || validateKey(prefix[:i]) == nil
}

// cloneMeta copies a metadata map so callers cannot alias our copy; nil
// stays nil.
func cloneMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// ctxReader stops reading once ctx is done, so a Put from a slow source
// can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// sizeMismatch describes a reader that did not hold the promised size; n is
// what was read from io.LimitReader(r, size+1).
func sizeMismatch(n, size int64) error {
	if n > size {
		return fmt.Errorf("%w: the reader holds more than the %d bytes given", ErrSizeMismatch, size)
	}
	return fmt.Errorf("%w: the reader ended after %d of %d bytes", ErrSizeMismatch, n, size)
}
