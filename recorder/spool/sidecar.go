package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/attendant/attendant/objstore"
)

// Files in the spool directory, all named after an entry's id:
//
//	ID.part          a Writer's data before Commit (deleted by New)
//	ID.seg           a committed entry's data
//	ID.json.tmp      a sidecar being written (deleted by New)
//	ID.json          the sidecar: the entry is queued once this exists
//	ID.seg.corrupt   quarantined: kept for an operator, never uploaded
//	ID.json.corrupt
//
// Commit renames ID.part to ID.seg and syncs the directory before it
// renames ID.json into place, and an upload removes ID.json before ID.seg,
// so a crash at any point leaves a complete queued entry (both files), a
// temporary file, or an ID.seg alone that was never committed or is already
// uploaded. Files with other names are left alone.
const (
	extPart       = ".part"
	extData       = ".seg"
	extSidecarTmp = ".json.tmp"
	extSidecar    = ".json"
	extCorrupt    = ".corrupt"
)

const (
	sidecarVersion = 1
	// maxSidecarBytes bounds what New reads of a sidecar: a key (1 KiB),
	// metadata (about 2 KiB) and JSON escaping fit many times over.
	maxSidecarBytes = 64 << 10
	// idLen is the length of an entry id: 20 digits, "-", 16 hex digits.
	idLen = 20 + 1 + 16
)

// sidecar is what ID.json holds: everything needed to upload ID.seg.
type sidecar struct {
	Version     int               `json:"v"`
	Key         string            `json:"key"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256"`
	SpooledAt   time.Time         `json:"spooled_at"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func (sc *sidecar) entry() Entry {
	return Entry{Key: sc.Key, Size: sc.Size, SHA256: sc.SHA256, SpooledAt: sc.SpooledAt,
		ContentType: sc.ContentType, Metadata: sc.Metadata}
}

func (sc *sidecar) putOptions() objstore.PutOptions {
	opts := objstore.PutOptions{ContentType: sc.ContentType}
	if len(sc.Metadata) > 0 {
		opts.Metadata = make(map[string]string, len(sc.Metadata))
		for k, v := range sc.Metadata {
			opts.Metadata[k] = v
		}
	}
	return opts
}

// parseSidecar decodes and checks a sidecar. It accepts only what
// marshalSidecar writes: one JSON object of a known version with known
// fields and valid values.
func parseSidecar(b []byte) (sidecar, error) {
	var sc sidecar
	if len(b) > maxSidecarBytes {
		return sidecar{}, fmt.Errorf("sidecar of %d bytes, at most %d", len(b), maxSidecarBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sidecar{}, fmt.Errorf("decode sidecar: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return sidecar{}, errors.New("decode sidecar: data after the object")
	}
	if err := sc.validate(); err != nil {
		return sidecar{}, fmt.Errorf("sidecar: %w", err)
	}
	return sc, nil
}

func (sc *sidecar) validate() error {
	switch {
	case sc.Version != sidecarVersion:
		return fmt.Errorf("version %d, want %d", sc.Version, sidecarVersion)
	case sc.Size < 0:
		return fmt.Errorf("size %d", sc.Size)
	case !isSHA256(sc.SHA256):
		return fmt.Errorf("sha256 %q: want 64 lower-case hex digits", sc.SHA256)
	case sc.SpooledAt.IsZero():
		return errors.New("no spooled_at")
	}
	return objstore.CheckPut(sc.Key, sc.Size, objstore.PutOptions{ContentType: sc.ContentType, Metadata: sc.Metadata})
}

func marshalSidecar(sc *sidecar) ([]byte, error) {
	b, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("encode sidecar: %w", err)
	}
	return append(b, '\n'), nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// writeSidecar writes sc to dir/ID.json atomically: a synced temporary
// file renamed into place, then the directory synced.
func writeSidecar(dir, id string, sc *sidecar) error {
	b, err := marshalSidecar(sc)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, id+extSidecarTmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("write sidecar: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, id+extSidecar))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write sidecar: %w", err)
	}
	return syncDir(dir)
}

// readSidecar reads and parses dir/ID.json.
func readSidecar(dir, id string) (sidecar, error) {
	f, err := os.Open(filepath.Join(dir, id+extSidecar))
	if err != nil {
		return sidecar{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSidecarBytes+1))
	if err != nil {
		return sidecar{}, fmt.Errorf("read sidecar: %w", err)
	}
	return parseSidecar(b)
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// splitName splits a spool file name into an entry id and its extension;
// ok is false for files that are not the spool's.
func splitName(name string) (id, ext string, ok bool) {
	if len(name) <= idLen || name[idLen] != '.' || !isID(name[:idLen]) {
		return "", "", false
	}
	id, ext = name[:idLen], name[idLen:]
	switch ext {
	case extPart, extData, extSidecarTmp, extSidecar, extData + extCorrupt, extSidecar + extCorrupt:
		return id, ext, true
	}
	return "", "", false
}

// newID returns an entry id: the time in nanoseconds (so ids sort by
// creation) and 64 random bits.
func newID(now time.Time, random uint64) string {
	return fmt.Sprintf("%020d-%016x", max(now.UnixNano(), 0), random)
}

func isID(s string) bool {
	if len(s) != idLen || s[20] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 20:
		case i < 20 && c >= '0' && c <= '9':
		case i > 20 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
		default:
			return false
		}
	}
	return true
}
