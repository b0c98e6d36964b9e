//go:build linux

package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/attendant/attendant/recorder"
)

// recResults is everything the recording benchmarks measured, for the
// metrics and the table.
type recResults struct {
	prof    cameraProfile
	srcKbps float64 // the clip's video bitrate
	gop     int

	harness *recWindow // the feeder alone: frames copied, nobody recording
	windows []recWindow
	max     *maxResult
	events  *eventResult
	ttfb    []ttfbResult
	verify  []verifyResult
	outage  *outageResult
}

// recWindow is one window of N cameras recording continuously.
type recWindow struct {
	n            int
	cpu          cpuWindow
	frames       int64 // fed, all cameras
	bytes        int64
	spooledBytes int64 // taken in by the spool
	segments     int64 // handed to the spool by the recorder
	uploaded     int64 // uploaded and indexed
	dropped      int64
	lost         int64
	pendingEnd   int // waiting in the spool at the end of the window
	perCam       memory
}

func (w *recWindow) fpsPerCam() float64 {
	return float64(w.frames) / w.cpu.elapsed.Seconds() / float64(max(w.n, 1))
}

func (w *recWindow) spooledMBps() float64 {
	return float64(w.spooledBytes) / 1e6 / w.cpu.elapsed.Seconds()
}

func (w *recWindow) inMbitPerCam() float64 {
	return float64(w.bytes) * 8 / 1e6 / w.cpu.elapsed.Seconds() / float64(max(w.n, 1))
}

// overHarness is the CPU per camera (cores) above what the feeder costs
// for that many cameras (copying each frame, as a depacketizer would).
func (w *recWindow) overHarness(h *recWindow) float64 {
	if h == nil || h.n == 0 {
		return w.cpu.cores() / float64(w.n)
	}
	return (w.cpu.cores() - h.cpu.cores()*float64(w.n)/float64(h.n)) / float64(w.n)
}

// harnessWindow measures the feeder for the largest camera count with no
// camera registered: Feed finds no camera and returns. It is subtracted
// from the windows as the cost of the simulation.
func (h *recHarness) harnessWindow(tb testing.TB) *recWindow {
	tb.Helper()
	if h.res.harness != nil {
		return h.res.harness
	}
	n := h.cfg.counts[len(h.cfg.counts)-1]
	r := newRig(tb, h.minio, rigConfig{bucket: "recording", rec: recorder.Config{Segment: h.cfg.segment}})
	defer r.stop()
	f := startFeeder(h.src, r.rec, cameraIDs("none", n))
	defer f.Stop()
	time.Sleep(h.cfg.settle)
	w := h.measureWindow(tb, r, f, n, max(h.cfg.window/2, time.Second))
	h.res.harness = &w
	return h.res.harness
}

// recording measures n cameras recording continuously: CPU over the
// window, what reached the spool and the store, and memory per camera
// once each one's pre-roll ring is full.
func (h *recHarness) recording(tb testing.TB, n int) *recWindow {
	tb.Helper()
	for i := range h.res.windows {
		if h.res.windows[i].n == n {
			return &h.res.windows[i]
		}
	}
	h.harnessWindow(tb)
	r := newRig(tb, h.minio, rigConfig{bucket: "recording", rec: recorder.Config{Segment: h.cfg.segment}})
	defer r.stop()
	ids := cameraIDs(fmt.Sprintf("rec%d", n), n)
	before := liveMemory()
	r.addCameras(ids, recorder.ModeContinuous)
	f := startFeeder(h.src, r.rec, ids)
	defer f.Stop()
	started := time.Now()
	time.Sleep(h.cfg.settle)
	w := h.measureWindow(tb, r, f, n, h.cfg.window)
	time.Sleep(time.Until(started.Add(h.cfg.memAfter)))
	m := liveMemory().sub(before)
	w.perCam = memory{heap: m.heap / int64(n), stacks: m.stacks / int64(n)}
	h.res.windows = append(h.res.windows, w)
	return &h.res.windows[len(h.res.windows)-1]
}

func (h *recHarness) measureWindow(tb testing.TB, r *rig, f *feeder, n int, d time.Duration) recWindow {
	tb.Helper()
	st0, rs0 := r.spool.Stats(), r.rec.Stats()
	fr0, by0 := f.frames.Load(), f.bytes.Load()
	c0 := sampleCPU(tb, h.pid)
	time.Sleep(d)
	c1 := sampleCPU(tb, h.pid)
	st1, rs1 := r.spool.Stats(), r.rec.Stats()
	return recWindow{
		n: n, cpu: between(c0, c1),
		frames: f.frames.Load() - fr0, bytes: f.bytes.Load() - by0,
		spooledBytes: spooled(st1) - spooled(st0),
		segments:     rs1.Segments - rs0.Segments,
		uploaded:     st1.Uploaded - st0.Uploaded,
		dropped:      rs1.DroppedFrames - rs0.DroppedFrames,
		lost:         rs1.LostSegments - rs0.LostSegments,
		pendingEnd:   st1.Pending,
	}
}

// maxResult is one camera recorded as fast as the recorder takes it.
type maxResult struct {
	frames  int64 // fed and recorded (no drops)
	bytes   int64
	fps     float64       // the recorder's pace while fed, frames a second
	feedFor time.Duration // how long it was fed
	drain   time.Duration // from the last frame until all was uploaded and indexed
	cpu     cpuWindow     // feeding through drained
	dropped int64
}

func (m *maxResult) mbps() float64 {
	if m.frames == 0 {
		return 0
	}
	return m.fps * float64(m.bytes) / float64(m.frames) / 1e6
}

// cpuPerFrame is the process's CPU per recorded frame, everything
// included: muxing, spooling, uploading, indexing.
func (m *maxResult) cpuPerFrame() time.Duration {
	if m.frames == 0 {
		return 0
	}
	return m.cpu.self / time.Duration(m.frames)
}

// camerasPerCore is how many real-time cameras of the source one core
// records at that CPU per frame.
func (m *maxResult) camerasPerCore(src *source) float64 {
	if m.cpuPerFrame() <= 0 {
		return 0
	}
	return float64(time.Second) / float64(m.cpuPerFrame()) / float64(src.prof.FPS)
}

// maxThroughput feeds one camera as fast as the recorder records it. Feed
// never blocks and drops when the camera's queue is full, so the feeder
// keeps its lead over the segments the recorder has finished under the
// queue's length: no frame is dropped and the queue never runs dry. The
// frames carry the wall-clock times they would have had in real time.
func (h *recHarness) maxThroughput(tb testing.TB) *maxResult {
	tb.Helper()
	if h.res.max != nil {
		return h.res.max
	}
	r := newRig(tb, h.minio, rigConfig{bucket: "max", rec: recorder.Config{Segment: h.cfg.segment}})
	defer r.stop()
	const id = "max-cam00"
	r.addCameras([]string{id}, recorder.ModeContinuous)
	gop := int64(h.src.gopFrames())
	gopDur := time.Duration(gop) * h.src.frameDur
	segFrames := gop * int64((h.cfg.segment+gopDur-1)/gopDur)
	maxLead := int64(recorder.DefaultQueueFrames) - 2*segFrames

	type mark struct {
		at   time.Time
		segs int64
	}
	var marks []mark
	m := &maxResult{}
	c0 := sampleCPU(tb, h.pid)
	start := time.Now()
	var k, segs int64
	for {
		if s := r.rec.Stats().Segments; s != segs {
			segs = s
			marks = append(marks, mark{time.Now(), s})
		}
		// stop just after a keyframe that ends a segment, so that every
		// frame fed is in a segment the recorder has finished
		if time.Since(start) >= h.cfg.maxFor && k%segFrames == 1 {
			break
		}
		if k-segs*segFrames >= maxLead {
			time.Sleep(time.Millisecond)
			continue
		}
		au := h.src.accessUnit(k, 0, time.Hour, start.Add(time.Duration(k)*h.src.frameDur))
		r.rec.Feed(id, au)
		m.frames++
		m.bytes += int64(auSize(au))
		k++
	}
	fedUntil := time.Now()
	m.feedFor = fedUntil.Sub(start)
	// RemoveCamera may overtake frames still queued: wait for the last one
	for deadline := time.Now().Add(time.Minute); r.rec.Stats().Segments < (k-1)/segFrames; {
		if time.Now().After(deadline) {
			tb.Fatalf("max throughput: the recorder did not finish the %d segments fed", (k-1)/segFrames)
		}
		time.Sleep(time.Millisecond)
	}
	r.rec.RemoveCamera(id)
	if err := r.drain(tb, 2*time.Minute); err != nil {
		tb.Error(err)
	}
	m.drain = time.Since(fedUntil)
	m.cpu = between(c0, sampleCPU(tb, h.pid))
	m.dropped = r.rec.Stats().DroppedFrames
	if m.dropped > 0 {
		tb.Errorf("max throughput: %d frames dropped; the feeder's lead is too long", m.dropped)
	}
	if n := len(marks); n >= 2 {
		m.fps = float64((marks[n-1].segs-marks[0].segs)*segFrames) / marks[n-1].at.Sub(marks[0].at).Seconds()
	} else {
		m.fps = float64(m.frames) / m.feedFor.Seconds()
	}
	h.res.max = m
	return m
}
