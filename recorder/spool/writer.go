package spool

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/attendant/attendant/objstore"
)

// writeBuffer batches small writes (one fMP4 fragment at a time) into
// fewer system calls.
const writeBuffer = 64 << 10

// Writer writes one spooled object. It is not safe for concurrent use.
// Until Commit the bytes are in a temporary file that a crash leaves
// behind and New deletes.
type Writer struct {
	s    *Spool
	id   string
	key  string
	opts objstore.PutOptions
	f    *os.File
	buf  *bufio.Writer
	h    hash.Hash
	n    int64 // bytes accepted, all reserved in the spool
	done bool
	// patched: WriteAt changed bytes already hashed; Commit hashes the
	// file again
	patched    bool
	unbuffered bool
}

// CreateOption changes how Create writes.
type CreateOption func(*Writer)

// Unbuffered writes each Write straight to the file: for an object written
// in a few large pieces over a long time (a call's audio, a second at a
// time), where a 64 KiB buffer per open object would cost more memory than
// the writes save system calls.
func Unbuffered() CreateOption { return func(w *Writer) { w.unbuffered = true } }

func newWriter(s *Spool, id, key string, opts objstore.PutOptions, f *os.File, options ...CreateOption) *Writer {
	w := &Writer{
		s:    s,
		id:   id,
		key:  key,
		opts: (&sidecar{ContentType: opts.ContentType, Metadata: opts.Metadata}).putOptions(),
		f:    f,
		h:    sha256.New(),
	}
	for _, o := range options {
		o(w)
	}
	if !w.unbuffered {
		w.buf = bufio.NewWriterSize(f, writeBuffer)
	}
	return w
}

// Write appends p. When the spool is full it writes nothing and returns
// ErrSpoolFull; the Writer stays usable, so the caller may Commit what it
// has, Abort, or try again later.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, ErrWriterClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.s.reserve(w.key, int64(len(p))); err != nil {
		return 0, fmt.Errorf("spool: write %s: %w", w.key, err)
	}
	var n int
	var err error
	if w.buf != nil {
		n, err = w.buf.Write(p)
	} else {
		n, err = w.f.Write(p)
	}
	w.h.Write(p[:n])
	w.n += int64(n)
	if n < len(p) {
		w.s.unreserve(int64(len(p) - n))
	}
	if err != nil {
		return n, fmt.Errorf("spool: write %s: %w", w.key, err)
	}
	return n, nil
}

// WriteAt overwrites bytes already written, at off (a header whose
// length is known only at the end). Commit then hashes the file again.
func (w *Writer) WriteAt(p []byte, off int64) error {
	if w.done {
		return ErrWriterClosed
	}
	if off < 0 || off+int64(len(p)) > w.n {
		return fmt.Errorf("spool: patch %s: bytes %d..%d of %d written", w.key, off, off+int64(len(p)), w.n)
	}
	if w.buf != nil {
		if err := w.buf.Flush(); err != nil {
			return fmt.Errorf("spool: patch %s: %w", w.key, err)
		}
	}
	if _, err := w.f.WriteAt(p, off); err != nil {
		return fmt.Errorf("spool: patch %s: %w", w.key, err)
	}
	w.patched = true
	return nil
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// SetMetadata sets one metadata entry before Commit, for what is known
// only at the end (a segment's end time). It refuses what the store would.
func (w *Writer) SetMetadata(name, value string) error {
	if w.done {
		return ErrWriterClosed
	}
	md := make(map[string]string, len(w.opts.Metadata)+1)
	for k, v := range w.opts.Metadata {
		md[k] = v
	}
	md[name] = value
	opts := objstore.PutOptions{ContentType: w.opts.ContentType, Metadata: md}
	if err := objstore.CheckPut(w.key, 0, opts); err != nil {
		return fmt.Errorf("spool: set metadata of %s: %w", w.key, err)
	}
	w.opts = opts
	return nil
}

// Commit makes the object durable and queues it for upload: the data is
// synced and renamed into the queue, then its sidecar (key, options,
// size, SHA-256) is written atomically. When Commit returns nil a crash no
// longer loses the object. On an error nothing is queued.
func (w *Writer) Commit() (Entry, error) {
	if w.done {
		return Entry{}, ErrWriterClosed
	}
	w.done = true
	sc := sidecar{
		Version:     sidecarVersion,
		Key:         w.key,
		Size:        w.n,
		ContentType: w.opts.ContentType,
		Metadata:    w.opts.Metadata,
	}
	err := w.rehash()
	if err == nil {
		sc.SHA256 = hex.EncodeToString(w.h.Sum(nil))
		err = w.commit(&sc)
	}
	if err != nil {
		// the sidecar first: without it the rest is not an entry
		for _, ext := range []string{extSidecar, extData, extPart} {
			_ = os.Remove(filepath.Join(w.s.dir, w.id+ext))
		}
		w.s.closeWriter(w.n)
		return Entry{}, fmt.Errorf("spool: commit %s: %w", w.key, err)
	}
	w.s.enqueue(&item{id: w.id, sc: sc})
	return sc.entry(), nil
}

// rehash hashes the written file again after WriteAt.
func (w *Writer) rehash() error {
	if !w.patched {
		return nil
	}
	if w.buf != nil {
		if err := w.buf.Flush(); err != nil {
			return err
		}
	}
	f, err := os.Open(filepath.Join(w.s.dir, w.id+extPart))
	if err != nil {
		return err
	}
	defer f.Close()
	w.h.Reset()
	n, err := io.Copy(w.h, f)
	if err != nil {
		return err
	}
	if n != w.n {
		return fmt.Errorf("rehash: %d bytes on disk, %d written", n, w.n)
	}
	return nil
}

func (w *Writer) commit(sc *sidecar) error {
	var err error
	if w.buf != nil {
		err = w.buf.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dir := w.s.dir
	if err := os.Rename(filepath.Join(dir, w.id+extPart), filepath.Join(dir, w.id+extData)); err != nil {
		return err
	}
	// the data's name must be durable before the sidecar makes the entry
	// visible: a sidecar without its data would be a lost recording
	if err := syncDir(dir); err != nil {
		return err
	}
	sc.SpooledAt = time.Now().UTC()
	return writeSidecar(dir, w.id, sc)
}

// Abort drops the object and its temporary file.
func (w *Writer) Abort() error {
	if w.done {
		return ErrWriterClosed
	}
	w.done = true
	err := w.f.Close()
	if rerr := os.Remove(filepath.Join(w.s.dir, w.id+extPart)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	w.s.closeWriter(w.n)
	if err != nil {
		return fmt.Errorf("spool: abort %s: %w", w.key, err)
	}
	return nil
}
