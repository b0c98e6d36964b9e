//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/objstore"
	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"
	"github.com/attendant/attendant/store"
)

// benchSite is the site every recording benchmark records for.
const benchSite = "bench-site"

// rig is the recording half of the server, wired like cmd/attendant wires
// it: a SQLite database, the object store (MinIO), the spool whose
// OnUploaded is Recorder.Index, and the recorder, both running. Hooks see
// every upload and every index row, with the time.
type rig struct {
	db      *store.DB
	objects objstore.Store
	spool   *spool.Spool
	rec     *recorder.Recorder
	logs    *syncBuffer
	stopped bool
	stop    func()
}

// rigConfig shapes a rig. Zero spool fields are the spool's defaults, as
// in cmd/attendant.
type rigConfig struct {
	bucket   string
	rec      recorder.Config
	retryMax time.Duration
	// onPut is called after each upload attempt; onIndexed once an
	// uploaded object's index row is written.
	onPut     func(key string, md map[string]string, start, end time.Time, err error)
	onIndexed func(e spool.Entry, at time.Time)
}

func newRig(tb testing.TB, mc *testenv.MinIOServer, cfg rigConfig) *rig {
	tb.Helper()
	ctx := context.Background()
	r := &rig{logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("recording rig logs (last 16 KiB):\n%s", tail(r.logs.String(), 16<<10))
		}
	})
	db, err := store.Open(ctx, "", tb.TempDir(), log)
	if err != nil {
		tb.Fatal(err)
	}
	r.db = db
	if err := insertSite(ctx, db, benchSite); err != nil {
		tb.Fatal(err)
	}
	objects, err := objstore.Open(ctx, mc.URL(cfg.bucket), tb.TempDir(), log)
	if err != nil {
		tb.Fatal(err)
	}
	r.objects = objects
	var up spool.Uploader = objects
	if s3, ok := objects.(*objstore.S3); ok && cfg.onPut != nil {
		up = &timedS3{S3: s3, onPut: cfg.onPut}
	}
	sp, err := spool.New(spool.Config{Dir: tb.TempDir(), RetryMax: cfg.retryMax, Log: log.With("component", "spool"),
		OnUploaded: func(e spool.Entry, info objstore.ObjectInfo) error {
			if err := r.rec.Index(e, info); err != nil {
				return err
			}
			if cfg.onIndexed != nil {
				cfg.onIndexed(e, time.Now())
			}
			return nil
		}}, up)
	if err != nil {
		tb.Fatal(err)
	}
	r.spool = sp
	rc := cfg.rec
	rc.Log = log.With("component", "recorder")
	r.rec = recorder.New(rc, db, sp)

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sp.Run(runCtx) })
	wg.Go(func() { _ = r.rec.Run(runCtx) })
	r.stop = func() {
		if r.stopped {
			return
		}
		r.stopped = true
		cancel()
		wg.Wait()
		_ = objects.Close()
		_ = db.Close()
	}
	tb.Cleanup(r.stop)
	return r
}

// addCameras makes the recorder record the cameras in mode.
func (r *rig) addCameras(ids []string, mode string) {
	for _, id := range ids {
		r.rec.SetCamera(recorder.CameraConfig{ID: id, SiteID: benchSite, Mode: mode})
	}
}

// spooled is every byte the spool has taken in: uploaded, waiting, and
// being written.
func spooled(st spool.Stats) int64 { return st.UploadedBytes + st.PendingBytes + st.WritingBytes }

// drain waits until the spool holds nothing and every segment and clip
// the recorder spooled is uploaded and indexed.
func (r *rig) drain(tb testing.TB, within time.Duration) error {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		st, rs := r.spool.Stats(), r.rec.Stats()
		if st.Pending == 0 && st.Writing == 0 && st.Uploaded >= rs.Segments+rs.Clips {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("spool not drained within %v: %d pending (%d bytes), %d being written, %d uploaded of %d spooled; last error %q",
				within, st.Pending, st.PendingBytes, st.Writing, st.Uploaded, rs.Segments+rs.Clips, st.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// timedS3 is the S3 store with each Put timed. Embedding keeps the
// multipart-abort methods the spool looks for.
type timedS3 struct {
	*objstore.S3
	onPut func(key string, md map[string]string, start, end time.Time, err error)
}

func (t *timedS3) Put(ctx context.Context, key string, r io.Reader, size int64, opts objstore.PutOptions) (objstore.ObjectInfo, error) {
	start := time.Now()
	info, err := t.S3.Put(ctx, key, r, size, opts)
	t.onPut(key, opts.Metadata, start, time.Now(), err)
	return info, err
}

func insertSite(ctx context.Context, db *store.DB, id string) error {
	now := store.Now()
	return store.Insert(ctx, db.Q(), &store.Site{ID: id, Name: "Bench box", Kind: store.SiteBox, CreatedAt: now, UpdatedAt: now})
}

// insertCamera adds a camera row: evidence rows refer to cameras.
func insertCamera(ctx context.Context, db *store.DB, id, record string) error {
	now := store.Now()
	return store.Insert(ctx, db.Q(), &store.Camera{ID: id, SiteID: benchSite, Name: id, URL: "rtsp://127.0.0.1:1/" + id,
		Role: "environment", Transport: "tcp", Record: record, Enabled: true, CreatedAt: now, UpdatedAt: now})
}

// insertCase adds a case row, as the API does before it asks for clips.
func insertCase(ctx context.Context, db *store.DB, kind string, at time.Time) (string, error) {
	now := store.Now()
	c := store.Case{ID: store.NewID(), SiteID: benchSite, Kind: kind, Status: store.CasePending, StartedAt: at.UTC(),
		CreatedAt: now, UpdatedAt: now}
	if kind == store.CaseEvent {
		c.EventKind = "door-open"
	}
	return c.ID, store.Insert(ctx, db.Q(), &c)
}

// appendEvidence adds an evidence row to its case's chain with the audit
// entry that anchors it, in one transaction, as recorder.Index does.
func appendEvidence(ctx context.Context, db *store.DB, ev *store.Evidence) error {
	return db.InTx(ctx, func(q store.Q) error {
		if err := store.AppendEvidence(ctx, q, ev); err != nil {
			return err
		}
		detail, err := json.Marshal(store.EvidenceAuditDetail(*ev))
		if err != nil {
			return err
		}
		_, err = db.AppendAudit(ctx, q, store.AuditEntry{ActorName: "recorder", Action: store.AuditEvidenceAdd,
			ObjectType: "case", ObjectID: ev.CaseID, SiteID: benchSite, Detail: string(detail)})
		return err
	})
}

// cpuSample is this process's CPU, MinIO's, and the machine's ticks at one
// moment, for a measurement window.
type cpuSample struct {
	at          time.Time
	self, minio time.Duration
	busy, total uint64
}

func sampleCPU(tb testing.TB, minioPID int) cpuSample {
	tb.Helper()
	s := cpuSample{self: cpuTime(tb)}
	s.minio, _ = procCPU(minioPID)
	s.busy, s.total = machineTicks()
	s.at = time.Now()
	return s
}

// cpuWindow is what happened between two samples.
type cpuWindow struct {
	elapsed, self, minio time.Duration
	machine              float64
}

func between(a, b cpuSample) cpuWindow {
	w := cpuWindow{elapsed: b.at.Sub(a.at), self: b.self - a.self, minio: b.minio - a.minio}
	if b.total > a.total {
		w.machine = float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	return w
}

func (w cpuWindow) cores() float64      { return w.self.Seconds() / w.elapsed.Seconds() }
func (w cpuWindow) minioCores() float64 { return w.minio.Seconds() / w.elapsed.Seconds() }

// minioPID finds the MinIO process serving endpoint (testenv does not say
// its pid): its command line holds "--address endpoint". 0 if not found.
func minioPID(endpoint string) int {
	des, _ := os.ReadDir("/proc")
	for _, de := range des {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", de.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--address" && args[i+1] == endpoint && strings.Contains(filepath.Base(args[0]), "minio") {
				return pid
			}
		}
	}
	return 0
}

// procCPU is the user + system CPU of another process, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// the command name (field 2) is in parentheses and may hold spaces
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks uint64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15 overall
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
