package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

const (
	// DefaultPartSize is the multipart part size: objects up to this size
	// go up in one PUT, larger ones in parts of this size.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part (all but the last).
	MinPartSize = 5 << 20
	// memSpoolMax is the largest upload from a non-seekable reader that is
	// hashed in memory; larger ones are spooled to a file.
	memSpoolMax = 1 << 20
	// maxPresign is S3's limit for presigned URLs.
	maxPresign = 7 * 24 * time.Hour
)

// S3Config configures NewS3.
type S3Config struct {
	// Endpoint is host[:port] of the S3 server.
	Endpoint string
	// AccessKey and SecretKey are the credentials.
	AccessKey, SecretKey string
	// Bucket holds the objects; NewS3 creates it if missing.
	Bucket string
	// Region is the bucket's region; empty asks the server.
	Region string
	// Secure selects HTTPS.
	Secure bool
	// PartSize is the multipart part size: 0 means DefaultPartSize; at
	// least MinPartSize. Uploads never use minio-go's unknown-size mode,
	// which plans for 5 TiB objects and allocates accordingly.
	PartSize uint64
	// SpoolDir holds the temporary copy of a large upload read from a
	// non-seekable reader, made so its SHA-256 is known before the upload
	// starts; empty means os.TempDir().
	SpoolDir string
	// DisableChecksum turns off S3 flexible checksums (trailing headers,
	// x-amz-checksum-sha256), for servers that lack them.
	DisableChecksum bool
	// ObjectLock is the retention mode for a bucket with object lock:
	// "" uses the bucket as it is (GOVERNANCE if it has object lock),
	// "governance" or "compliance" also create a missing bucket with
	// object lock. "off" never sets a retention.
	ObjectLock string
	// RetainDays, when the bucket has object lock, makes every object put
	// unremovable (in ObjectLock's mode) for this many days.
	RetainDays int
	// SSE "s3" encrypts every object at rest with the server's key
	// (SSE-S3; the server needs a KMS); "" stores them as they come.
	SSE string
	// Log receives the store's logs; nil discards them.
	Log *slog.Logger
}

// S3 stores objects in a bucket of an S3 server through minio-go.
//
// Each object carries its hex SHA-256 as user metadata (x-amz-meta-sha256).
// Because metadata travels before the body, Put hashes the data before it
// uploads it: in place when the reader can seek (an *os.File, a
// *bytes.Reader), otherwise from a copy in memory (up to 1 MiB) or in
// SpoolDir. Objects up to PartSize go up in one PUT that also carries the
// SHA-256 as the S3 checksum, which the server verifies and keeps; larger
// ones go up in parts, each with a CRC32C checksum. minio-go aborts a
// multipart upload that fails; AbortStaleUploads clears those it could not
// abort (the server was unreachable).
type S3 struct {
	client    *minio.Client
	core      minio.Core
	transport *http.Transport
	bucket    string
	name      string // endpoint/bucket, for messages
	partSize  uint64
	spoolDir  string
	checksum  bool
	// lockMode is set when the bucket has object lock (and ObjectLock is
	// not "off"); retain is how long each put is locked.
	lockMode minio.RetentionMode
	retain   time.Duration
	sse      encrypt.ServerSide
	log      *slog.Logger
}

var _ Store = (*S3)(nil)

// NewS3 connects to an S3 server and makes sure the bucket exists.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	s, err := newS3(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("s3 store %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	return s, nil
}

func newS3(ctx context.Context, cfg S3Config) (*S3, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, errors.New("no endpoint")
	case cfg.Bucket == "":
		return nil, errors.New("no bucket")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, errors.New("no credentials")
	}
	switch cfg.ObjectLock {
	case "", "off", "governance", "compliance":
	default:
		return nil, fmt.Errorf("object lock %q: want governance, compliance or off", cfg.ObjectLock)
	}
	switch cfg.SSE {
	case "", "off", "s3":
	default:
		return nil, fmt.Errorf("sse %q: want s3 or off", cfg.SSE)
	}
	if cfg.RetainDays < 0 {
		return nil, fmt.Errorf("retain days %d: want 0 or more", cfg.RetainDays)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("part size %d is below S3's minimum of %d", cfg.PartSize, MinPartSize)
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	} else if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:          cfg.Secure,
		Region:          cfg.Region,
		Transport:       tr,
		TrailingHeaders: !cfg.DisableChecksum,
	})
	if err != nil {
		return nil, err
	}
	s := &S3{
		client:    client,
		core:      minio.Core{Client: client},
		transport: tr,
		bucket:    cfg.Bucket,
		name:      cfg.Endpoint + "/" + cfg.Bucket,
		partSize:  cfg.PartSize,
		spoolDir:  cfg.SpoolDir,
		checksum:  !cfg.DisableChecksum,
		log:       log.With("store", "s3", "endpoint", cfg.Endpoint, "bucket", cfg.Bucket),
	}
	if cfg.SSE == "s3" {
		s.sse = encrypt.NewSSE()
	}
	if err := s.ensureBucket(ctx, cfg.Region, cfg.ObjectLock == "governance" || cfg.ObjectLock == "compliance"); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	if cfg.ObjectLock != "off" {
		enabled, _, _, _, err := client.GetObjectLockConfig(ctx, cfg.Bucket)
		if err == nil && enabled == "Enabled" {
			s.lockMode = minio.Governance
			if cfg.ObjectLock == "compliance" {
				s.lockMode = minio.Compliance
			}
			s.retain = time.Duration(cfg.RetainDays) * 24 * time.Hour
			s.log.Info("bucket has object lock", "mode", s.lockMode, "retain_days", cfg.RetainDays)
		} else if cfg.ObjectLock != "" {
			tr.CloseIdleConnections()
			return nil, fmt.Errorf("object lock %s asked for, but bucket %s has none (object lock can only be set when a bucket is created)", cfg.ObjectLock, cfg.Bucket)
		}
	}
	return s, nil
}

// Locked reports whether the bucket has object lock, so legal holds and
// retention apply to its objects.
func (s *S3) Locked() bool { return s.lockMode != "" }

// SetLegalHold puts an object under legal hold or releases it: while held,
// nobody can delete it, whatever its retention. It returns ErrNotSupported
// when the bucket has no object lock.
func (s *S3) SetLegalHold(ctx context.Context, key string, on bool) error {
	if !s.Locked() {
		return fmt.Errorf("legal hold %s: %w: the bucket has no object lock", key, ErrNotSupported)
	}
	st := minio.LegalHoldDisabled
	if on {
		st = minio.LegalHoldEnabled
	}
	if err := s.client.PutObjectLegalHold(ctx, s.bucket, key, minio.PutObjectLegalHoldOptions{Status: &st}); err != nil {
		return fmt.Errorf("legal hold %s: %w", key, s.mapErr(err))
	}
	return nil
}

func (s *S3) ensureBucket(ctx context.Context, region string, locking bool) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("check bucket: %w", err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region, ObjectLocking: locking})
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code == minio.BucketAlreadyOwnedByYou || code == minio.BucketAlreadyExists {
			return nil // created by someone else meanwhile
		}
		return fmt.Errorf("create bucket: %w", err)
	}
	s.log.Info("created bucket")
	return nil
}

// mapErr turns S3 error codes into this package's sentinel errors, keeping
// the original message.
func (s *S3) mapErr(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case minio.InvalidRange:
		return fmt.Errorf("%w: %w", ErrInvalidRange, err)
	}
	return fmt.Errorf("s3 %s: %w", s.name, err)
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	info, err := s.put(ctx, key, r, size, opts)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	return info, nil
}

func (s *S3) put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	ct, meta, err := checkPut(key, size, opts)
	if err != nil {
		return ObjectInfo{}, err
	}
	src, sum, done, err := s.prepare(ctx, r, size)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer done()

	hexSum := hex.EncodeToString(sum)
	userMeta := make(map[string]string, len(meta)+2)
	for k, v := range meta {
		userMeta[k] = v
	}
	userMeta[metaSHA256] = hexSum
	if s.checksum && uint64(size) <= s.partSize {
		// One PUT: the server checks the body against our SHA-256 and keeps
		// it as the object's checksum. (A multipart object's SHA-256
		// checksum would be a hash of part hashes, so parts get CRC32C.)
		userMeta["x-amz-checksum-sha256"] = base64.StdEncoding.EncodeToString(sum)
	}
	po := minio.PutObjectOptions{
		ContentType:          ct,
		UserMetadata:         userMeta,
		PartSize:             s.partSize,
		ServerSideEncryption: s.sse,
	}
	if s.Locked() && s.retain > 0 {
		// object lock PUTs must carry a Content-MD5 (S3 requires it)
		po.Mode, po.RetainUntilDate, po.SendContentMd5 = s.lockMode, time.Now().Add(s.retain).UTC(), true
	}
	up, err := s.client.PutObject(ctx, s.bucket, key, src, size, po)
	if err != nil {
		return ObjectInfo{}, s.mapErr(err)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now() // a single PUT's reply has no date of its own
	}
	return ObjectInfo{
		Key:         key,
		Size:        size,
		ContentType: ct,
		SHA256:      hexSum,
		ModTime:     mod.UTC(),
		Metadata:    cloneMeta(meta),
	}, nil
}

// uploadSource is what PutObject reads: a ReaderAt, so minio-go can retry a
// request and send parts in parallel without buffering them.
type uploadSource interface {
	io.Reader
	io.ReaderAt
	io.Seeker
}

// prepare hashes exactly size bytes of r and returns a source positioned at
// their start, their SHA-256, and a function releasing the source.
func (s *S3) prepare(ctx context.Context, r io.Reader, size int64) (uploadSource, []byte, func(), error) {
	noop := func() {}
	// A seekable reader is hashed in place, then read again by the upload.
	if ra, ok := r.(io.ReaderAt); ok {
		if sk, ok := r.(io.Seeker); ok {
			if cur, err := sk.Seek(0, io.SeekCurrent); err == nil {
				end, err := sk.Seek(0, io.SeekEnd)
				if _, serr := sk.Seek(cur, io.SeekStart); err == nil {
					err = serr
				}
				if err != nil {
					return nil, nil, noop, fmt.Errorf("seek source: %w", err)
				}
				if end-cur != size {
					return nil, nil, noop, sizeMismatch(min(end-cur, size+1), size)
				}
				h := sha256.New()
				if _, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(ra, cur, size)}); err != nil {
					return nil, nil, noop, fmt.Errorf("read source: %w", err)
				}
				return io.NewSectionReader(ra, cur, size), h.Sum(nil), noop, nil
			}
		}
	}

	src := io.LimitReader(ctxReader{ctx, r}, size+1)
	h := sha256.New()
	if size <= memSpoolMax {
		var buf bytes.Buffer
		buf.Grow(int(size) + 1)
		n, err := io.Copy(io.MultiWriter(&buf, h), src)
		if err != nil {
			return nil, nil, noop, fmt.Errorf("read source: %w", err)
		}
		if n != size {
			return nil, nil, noop, sizeMismatch(n, size)
		}
		return bytes.NewReader(buf.Bytes()), h.Sum(nil), noop, nil
	}

	f, err := os.CreateTemp(s.spoolDir, "objstore-spool-*")
	if err != nil {
		return nil, nil, noop, fmt.Errorf("spool: %w", err)
	}
	// Unlinked at once where the system allows (the open file stays
	// readable), so a crash leaves nothing in the spool directory.
	removed := os.Remove(f.Name()) == nil
	done := func() {
		_ = f.Close()
		if !removed {
			_ = os.Remove(f.Name())
		}
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err == nil && n != size {
		err = sizeMismatch(n, size)
	} else if err != nil {
		err = fmt.Errorf("spool: %w", err)
	}
	if err != nil {
		done()
		return nil, nil, noop, err
	}
	return io.NewSectionReader(f, 0, size), h.Sum(nil), done, nil
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error) {
	body, info, err := s.get(ctx, key, rng)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	return body, info, nil
}

func (s *S3) get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, ObjectInfo{}, err
	}
	var opts minio.GetObjectOptions
	if rng != nil && (rng.Offset != 0 || rng.Length != -1) {
		// check what can be checked without the size; the server checks
		// the offset against it
		if _, err := checkRange(rng, rng.Offset+1); err != nil {
			return nil, ObjectInfo{}, err
		}
		end := int64(0) // "bytes=N-": to the end
		if rng.Length > 0 && rng.Length <= math.MaxInt64-rng.Offset {
			end = rng.Offset + rng.Length - 1
		}
		if err := opts.SetRange(rng.Offset, end); err != nil {
			return nil, ObjectInfo{}, fmt.Errorf("%w: %w", ErrInvalidRange, err)
		}
	}
	body, oi, hdr, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, ObjectInfo{}, s.mapErr(err)
	}
	info := s.info(key, oi)
	if cr := hdr.Get("Content-Range"); cr != "" {
		// "bytes 0-9/1234": the whole object's size follows the slash
		_, total, _ := strings.Cut(cr, "/")
		if n, err := strconv.ParseInt(total, 10, 64); err == nil {
			info.Size = n
		}
	}
	return body, info, nil
}

// info converts minio-go's description of an object.
func (s *S3) info(key string, oi minio.ObjectInfo) ObjectInfo {
	info := ObjectInfo{
		Key:         key,
		Size:        oi.Size,
		ContentType: oi.ContentType,
		ModTime:     oi.LastModified.UTC(),
	}
	if info.ContentType == "" {
		info.ContentType = defaultContentType
	}
	for k, v := range oi.UserMetadata {
		k = strings.ToLower(k)
		if k == metaSHA256 {
			info.SHA256 = v
			continue
		}
		if info.Metadata == nil {
			info.Metadata = make(map[string]string, len(oi.UserMetadata))
		}
		info.Metadata[k] = v
	}
	return info
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, s.mapErr(err))
	}
	return s.info(key, oi), nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if s.Locked() {
		return s.deleteVersions(ctx, key)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", key, s.mapErr(err))
	}
	return nil
}

// deleteVersions removes every version of key. A bucket with object lock
// is versioned: a plain delete would only hide the object behind a delete
// marker. A version under retention or legal hold refuses, and Delete
// returns that error with the object still there.
func (s *S3) deleteVersions(ctx context.Context, key string) error {
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		if oi.Err != nil {
			return fmt.Errorf("delete %s: list versions: %w", key, s.mapErr(oi.Err))
		}
		if oi.Key != key {
			continue
		}
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{VersionID: oi.VersionID}); err != nil {
			return fmt.Errorf("delete %s version %s: %w", key, oi.VersionID, s.mapErr(err))
		}
	}
	return nil
}

// List implements Store. Keys that ValidateKey rejects (written by other
// tools) are skipped, as the local store skips such files.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if !prefixCanMatch(prefix) {
			return // and servers refuse such prefixes ("..")
		}
		// MinIO refuses a prefix ending in a "." or ".." segment, though
		// keys such as "a/.b" match it: list the segment's parent and filter
		ask := prefix
		if last := prefix[strings.LastIndexByte(prefix, '/')+1:]; last == "." || last == ".." {
			ask = strings.TrimSuffix(prefix, last)
		}
		// cancelling stops minio-go's listing goroutines when we stop early
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: ask, Recursive: true}) {
			if oi.Err != nil {
				yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, s.mapErr(oi.Err)))
				return
			}
			if !strings.HasPrefix(oi.Key, prefix) {
				continue
			}
			if validateKey(oi.Key) != nil {
				s.log.Debug("list: skipping object with an invalid key", "key", oi.Key)
				continue
			}
			if !yield(ObjectInfo{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified.UTC()}, nil) {
				return
			}
		}
	}
}

// Ping implements Store: the bucket must exist.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("ping: %w", s.mapErr(err))
	}
	if !ok {
		return fmt.Errorf("ping: s3 %s: bucket does not exist", s.name)
	}
	return nil
}

// PresignGet implements Store.
func (s *S3) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	if expiry < time.Second || expiry > maxPresign {
		return "", fmt.Errorf("presign %s: expiry %s: want 1s to %s", key, expiry, maxPresign)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, expiry, nil)
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, s.mapErr(err))
	}
	return u.String(), nil
}

// AbortStaleUploads aborts the bucket's incomplete multipart uploads
// started more than olderThan ago.
func (s *S3) AbortStaleUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	return s.AbortIncompleteUploads(ctx, "", olderThan)
}

// AbortIncompleteUploads aborts incomplete multipart uploads under prefix
// started more than olderThan ago. After a restart MinIO lists a bucket's
// incomplete uploads only by key prefix, so callers that know the keys an
// outage broke pass them here.
func (s *S3) AbortIncompleteUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	ch := s.client.ListIncompleteUploads(ctx, s.bucket, prefix, true)
	defer func() {
		// minio-go's lister may block sending an error: release and drain it
		cancel()
		for range ch {
		}
	}()
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for up := range ch {
		if up.Err != nil {
			return n, fmt.Errorf("abort incomplete uploads under %q: %w", prefix, s.mapErr(up.Err))
		}
		if up.Initiated.After(cutoff) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, up.Key, up.UploadID); err != nil {
			return n, fmt.Errorf("abort incomplete upload of %s: %w", up.Key, s.mapErr(err))
		}
		n++
		s.log.Info("aborted incomplete multipart upload", "key", up.Key, "initiated", up.Initiated)
	}
	return n, nil
}

// Close implements Store.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}
