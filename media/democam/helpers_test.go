package democam

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
)

// requireTool returns the path of a binary, or skips the test when it is
// missing (fails instead when CI is set: CI must have it).
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s not found (CI is set, so this is an error; run scripts/test-deps.sh): %v", name, err)
		}
		tb.Skipf("%s not found; skipping (run scripts/test-deps.sh to install it): %v", name, err)
	}
	return path
}

// checkGoroutines fails the test if, once its other cleanups have run,
// more goroutines are left than when it started.
func checkGoroutines(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				tb.Errorf("goroutine leak: %d before, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tbWriter sends log lines to the test log, shown only on failure or -v.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer runs a demo camera until the test ends. loopFrames, when
// non-zero, shortens the clip so that tests see it loop sooner.
func startServer(tb testing.TB, cfg Config, loopFrames int) *Server {
	tb.Helper()
	s, err := New(cfg, testLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if loopFrames != 0 {
		s.clip.aus = s.clip.aus[:loopFrames]
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("Run did not return 10 s after its context ended")
		}
	})
	return s
}

// receivedAU is an access unit as a reader got it.
type receivedAU struct {
	at        time.Time
	timestamp uint32
	idr       bool
	nalus     int
}

// reading is what a gortsplib client saw of a stream.
type reading struct {
	format *format.H264
	aus    []receivedAU
	seqGap int // RTP sequence numbers skipped (lost packets)
}

// readStream plays url with a gortsplib client over transport for d and
// returns the access units it decoded.
func readStream(tb testing.TB, url string, transport gortsplib.Transport, d time.Duration) (*reading, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &transport}
	if err := c.Start2(); err != nil {
		return nil, err
	}
	defer c.Close()

	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, err
	}
	r := &reading{}
	medi := desc.FindFormat(&r.format)
	if medi == nil {
		return nil, errors.New("no H264 media in the SDP")
	}
	dec, err := r.format.CreateDecoder()
	if err != nil {
		return nil, err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	var lastSeq *uint16
	c.OnPacketRTP(medi, r.format, func(pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if lastSeq != nil {
			r.seqGap += int(pkt.SequenceNumber - *lastSeq - 1)
		}
		seq := pkt.SequenceNumber
		lastSeq = &seq
		au, err := dec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
				tb.Errorf("decode RTP: %v", err)
			}
			return
		}
		r.aus = append(r.aus, receivedAU{
			at: time.Now(), timestamp: pkt.Timestamp, idr: h264.IsRandomAccess(au), nalus: len(au),
		})
	})
	if _, err := c.Play(nil); err != nil {
		return nil, err
	}
	select {
	case <-time.After(d):
	case err := <-waitErr(&c):
		return nil, err
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	return r, nil
}

func waitErr(c *gortsplib.Client) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Wait() }()
	return ch
}
