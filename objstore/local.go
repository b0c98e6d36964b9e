package objstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local stores objects as files in a directory:
//
//	DIR/data/KEY  the object's bytes, at the key's path
//	DIR/meta/KEY  its sidecar: SHA-256, content type, metadata (JSON)
//	DIR/tmp/      files being written
//
// A Put writes both files under tmp, syncs them and renames them into
// place, so a crash never leaves a partial object under its key. The data
// tree is the truth: a sidecar records the size, modification time and
// inode of the data file it describes, and one that no longer matches (a
// crash between the two renames) is rebuilt from the data. Because objects
// are files, a key cannot be both an object and a prefix of another key
// ("a" and "a/b"); Put reports the conflict.
type Local struct {
	root, data, meta, tmp string
	log                   *slog.Logger

	// locks serialise the renames (and sidecar repairs) of one key, so
	// that an object and its sidecar are replaced together.
	locks [64]sync.Mutex
	seed  maphash.Seed
}

var _ Store = (*Local)(nil)

// LocalOption configures NewLocal.
type LocalOption func(*Local)

// WithLocalLogger sets the logger; the default discards.
func WithLocalLogger(log *slog.Logger) LocalOption {
	return func(l *Local) {
		if log != nil {
			l.log = log
		}
	}
}

// staleTempAge is when a file under tmp is taken to be left by a crash.
const staleTempAge = time.Hour

// maxSegmentLen is the longest file name most file systems allow.
const maxSegmentLen = 255

// NewLocal returns a store in dir, creating the directory if needed and
// removing temporary files left by a crash.
func NewLocal(dir string, opts ...LocalOption) (*Local, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	l := &Local{
		root: root,
		data: filepath.Join(root, "data"),
		meta: filepath.Join(root, "meta"),
		tmp:  filepath.Join(root, "tmp"),
		log:  slog.New(slog.DiscardHandler),
		seed: maphash.MakeSeed(),
	}
	for _, o := range opts {
		o(l)
	}
	l.log = l.log.With("store", "local", "dir", root)
	for _, d := range []string{l.data, l.meta, l.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("local store %s: %w", root, err)
		}
	}
	l.sweepTemp()
	return l, nil
}

// sweepTemp removes old temporary files: a Put that crashed leaves them.
func (l *Local) sweepTemp() {
	entries, err := os.ReadDir(l.tmp)
	if err != nil {
		l.log.Warn("cannot read temporary directory", "err", err)
		return
	}
	removed := 0
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleTempAge {
			continue
		}
		if os.RemoveAll(filepath.Join(l.tmp, e.Name())) == nil {
			removed++
		}
	}
	if removed > 0 {
		l.log.Info("removed temporary files left by an earlier run", "count", removed)
	}
}

// paths returns the data and sidecar paths of a key.
func (l *Local) paths(key string) (data, meta string, err error) {
	if err := ValidateKey(key); err != nil {
		return "", "", err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if len(seg) > maxSegmentLen {
			return "", "", fmt.Errorf("%w %q: a segment is longer than %d bytes, too long for a file name", ErrInvalidKey, key, maxSegmentLen)
		}
	}
	rel := filepath.FromSlash(key)
	return filepath.Join(l.data, rel), filepath.Join(l.meta, rel), nil
}

func (l *Local) lock(key string) *sync.Mutex {
	return &l.locks[maphash.String(l.seed, key)%uint64(len(l.locks))]
}

// sidecar is what DIR/meta/KEY holds.
type sidecar struct {
	Size        int64             `json:"size"`
	ModTime     time.Time         `json:"mtime"`
	Inode       uint64            `json:"inode,omitempty"`
	SHA256      string            `json:"sha256"`
	ContentType string            `json:"content_type"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// describes reports whether the sidecar was written for this data file.
func (s *sidecar) describes(fi fs.FileInfo) bool {
	return s.Size == fi.Size() && s.ModTime.Equal(fi.ModTime()) && (s.Inode == 0 || s.Inode == inode(fi))
}

func (s *sidecar) info(key string) ObjectInfo {
	return ObjectInfo{
		Key:         key,
		Size:        s.Size,
		ContentType: s.ContentType,
		SHA256:      s.SHA256,
		ModTime:     s.ModTime.UTC(),
		Metadata:    cloneMeta(s.Metadata),
	}
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	info, err := l.put(ctx, key, r, size, opts)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	return info, nil
}

func (l *Local) put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	ct, meta, err := checkPut(key, size, opts)
	if err != nil {
		return ObjectInfo{}, err
	}
	dataPath, metaPath, err := l.paths(key)
	if err != nil {
		return ObjectInfo{}, err
	}

	// write and sync the data under tmp, hashing it on the way
	df, err := os.CreateTemp(l.tmp, "data-*")
	if err != nil {
		return ObjectInfo{}, err
	}
	dataTmp, metaTmp := df.Name(), ""
	defer func() {
		// whatever was not renamed into place; "" once it was
		for _, p := range []string{dataTmp, metaTmp} {
			if p != "" {
				_ = os.Remove(p)
			}
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(df, h), io.LimitReader(ctxReader{ctx, r}, size+1))
	if err == nil && n != size {
		err = sizeMismatch(n, size)
	}
	if err == nil {
		err = df.Sync()
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = df.Stat()
	}
	if cerr := df.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ObjectInfo{}, err
	}

	sc := sidecar{
		Size:        size,
		ModTime:     fi.ModTime(),
		Inode:       inode(fi),
		SHA256:      hex.EncodeToString(h.Sum(nil)),
		ContentType: ct,
		Metadata:    meta,
	}
	metaTmp, err = l.writeTemp("meta-*", &sc)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}

	mu := l.lock(key)
	mu.Lock()
	err = l.install(dataTmp, dataPath, key)
	if err == nil {
		dataTmp = ""
		if err = l.install(metaTmp, metaPath, key); err != nil {
			err = fmt.Errorf("data stored but not its metadata (it will be rebuilt from the data): %w", err)
		} else {
			metaTmp = ""
		}
	}
	mu.Unlock()
	if err != nil {
		return ObjectInfo{}, err
	}
	// make the renames durable
	if err := errors.Join(syncDir(filepath.Dir(dataPath)), syncDir(filepath.Dir(metaPath))); err != nil {
		return ObjectInfo{}, err
	}
	return sc.info(key), nil
}

// writeTemp writes a sidecar to a synced temporary file and returns its path.
func (l *Local) writeTemp(pattern string, sc *sidecar) (string, error) {
	b, err := json.Marshal(sc)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(l.tmp, pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// install renames a finished temporary file to its final path, creating the
// parent directories. Delete removes empty directories concurrently, so a
// vanished parent is created again.
func (l *Local) install(tmp, dst, key string) error {
	var err error
	for range 5 {
		if err = os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a parent was pruned meanwhile
			}
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("a prefix of key %q is itself an object (a local store cannot hold both): %w", key, err)
			}
			return err
		}
		err = os.Rename(tmp, dst)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if fi, serr := os.Lstat(dst); serr == nil && fi.IsDir() {
		return fmt.Errorf("key %q is a prefix of other keys (a local store cannot hold both): %w", key, err)
	}
	return err
}

// syncDir flushes a directory, making renames into it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
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

// open opens the data file of key and describes the object.
func (l *Local) open(key string) (*os.File, ObjectInfo, error) {
	dataPath, metaPath, err := l.paths(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(dataPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, ObjectInfo{}, ErrNotFound
		}
		return nil, ObjectInfo{}, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound // a directory: only a prefix of other keys
	}
	var info ObjectInfo
	if err == nil {
		info, err = l.describe(key, dataPath, metaPath, f, fi)
	}
	if err != nil {
		_ = f.Close()
		return nil, ObjectInfo{}, err
	}
	return f, info, nil
}

// describe returns the object's info from its sidecar, rebuilding the
// sidecar from the open data file f when it is missing or describes another
// version of the data.
func (l *Local) describe(key, dataPath, metaPath string, f *os.File, fi fs.FileInfo) (ObjectInfo, error) {
	if sc, err := readSidecar(metaPath); err == nil && sc.describes(fi) {
		return sc.info(key), nil
	}
	// Rare: a Put is between its two renames, or one crashed there.
	mu := l.lock(key)
	mu.Lock()
	defer mu.Unlock()
	sc, err := readSidecar(metaPath)
	if err == nil && sc.describes(fi) {
		return sc.info(key), nil // the Put finished meanwhile
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return ObjectInfo{}, fmt.Errorf("hash data: %w", err)
	}
	sc = &sidecar{
		Size:        fi.Size(),
		ModTime:     fi.ModTime(),
		Inode:       inode(fi),
		SHA256:      hex.EncodeToString(h.Sum(nil)),
		ContentType: defaultContentType,
	}
	// repair only if the file we hashed is still the one under the key
	if cur, err := os.Stat(dataPath); err == nil && sc.describes(cur) {
		l.log.Warn("object sidecar missing or stale; rebuilt from the data (content type and metadata are lost)", "key", key)
		if tmp, err := l.writeTemp("meta-*", sc); err == nil {
			if err := l.install(tmp, metaPath, key); err != nil {
				_ = os.Remove(tmp)
				l.log.Warn("cannot write rebuilt sidecar", "key", key, "err", err)
			}
		}
	}
	return sc.info(key), nil
}

func readSidecar(path string) (*sidecar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	f, info, err := l.open(key)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	r, err := checkRange(rng, info.Size)
	if err != nil {
		_ = f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	var body io.Reader = f
	if r != nil {
		body = io.NewSectionReader(f, r.Offset, r.Length)
	}
	return &fileReader{ctx: ctx, r: body, f: f}, info, nil
}

// fileReader reads an object file until ctx is done.
type fileReader struct {
	ctx context.Context
	r   io.Reader
	f   *os.File
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *fileReader) Close() error { return r.f.Close() }

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	f, info, err := l.open(key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	_ = f.Close()
	return info, nil
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := l.delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func (l *Local) delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dataPath, metaPath, err := l.paths(key)
	if err != nil {
		return err
	}
	mu := l.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if fi, err := os.Lstat(dataPath); err != nil || fi.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			// not an object; but an orphaned sidecar may remain from a crash
			if sfi, serr := os.Lstat(metaPath); serr == nil && !sfi.IsDir() {
				_ = os.Remove(metaPath)
			}
			return nil
		}
		return err
	}
	// data first: it is the truth, an orphaned sidecar is harmless
	if err := os.Remove(dataPath); err != nil {
		return err
	}
	if err := os.Remove(metaPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.log.Warn("cannot remove sidecar of deleted object", "key", key, "err", err)
	}
	pruneEmptyDirs(filepath.Dir(dataPath), l.data)
	pruneEmptyDirs(filepath.Dir(metaPath), l.meta)
	return nil
}

// pruneEmptyDirs removes dir and its parents below root while they are
// empty, so deleted date-named prefixes do not pile up.
func pruneEmptyDirs(dir, root string) {
	for dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)) {
		if os.Remove(dir) != nil { // not empty (or raced with a Put)
			return
		}
		dir = filepath.Dir(dir)
	}
}

// List implements Store.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		// start in the deepest directory the prefix names in full
		if !prefixCanMatch(prefix) {
			return
		}
		start, base := l.data, ""
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			start, base = filepath.Join(l.data, filepath.FromSlash(prefix[:i])), prefix[:i+1]
		}
		l.walk(ctx, start, base, prefix, yield)
	}
}

// walk yields the objects under dir, whose keys start with base, in key
// order, and reports whether to go on.
func (l *Local) walk(ctx context.Context, dir, base, prefix string, yield func(ObjectInfo, error) bool) bool {
	if err := ctx.Err(); err != nil {
		yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err))
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if dir != l.data && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			return true // the prefix names nothing (or was deleted meanwhile)
		}
		yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err))
		return false
	}
	// Key order, as S3 lists: a directory "a" holds keys "a/...", which
	// sort after "a-b" because '/' > '-'.
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return cmp.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		key := base + e.Name()
		switch {
		case e.IsDir():
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			if !l.walk(ctx, filepath.Join(dir, e.Name()), sub, prefix, yield) {
				return false
			}
		case e.Type().IsRegular():
			if !strings.HasPrefix(key, prefix) || validateKey(key) != nil {
				continue // not ours: a file no Put could have written
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted meanwhile
			}
			if err != nil {
				yield(ObjectInfo{}, fmt.Errorf("list %s: %w", prefix, err))
				return false
			}
			if !yield(ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil) {
				return false
			}
		}
	}
	return true
}

// Ping implements Store: it creates and removes a file in the store.
func (l *Local) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	f, err := os.CreateTemp(l.tmp, "ping-*")
	if err != nil {
		return fmt.Errorf("ping local store %s: %w", l.root, err)
	}
	err = f.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("ping local store %s: %w", l.root, err)
	}
	return nil
}

// PresignGet implements Store: a local store has no URLs to give out.
func (l *Local) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	return "", fmt.Errorf("presign %s: %w", key, ErrNotSupported)
}

// Close implements Store; a local store holds nothing open.
func (l *Local) Close() error { return nil }
