package snapshot

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestJPEGCodecs(t *testing.T) {
	tests := []struct {
		codec         string
		width, height int
	}{
		{CodecH264, 320, 240},
		{CodecH265, 320, 240},
		{CodecH264, 176, 144},
	}
	for _, tc := range tests {
		t.Run(tc.codec+"_"+strconv.Itoa(tc.width), func(t *testing.T) {
			kf := Keyframe{
				Codec:  tc.codec,
				AnnexB: encodeKeyframe(t, tc.codec, tc.width, tc.height),
				Width:  tc.width, Height: tc.height, Seq: 1,
			}
			s := newTestSnapshotter(t, Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			jpg, err := s.JPEG(ctx, "cam1", kf)
			if err != nil {
				t.Fatalf("JPEG: %v", err)
			}
			assertJPEG(t, jpg, tc.width, tc.height)

			// unknown dimensions are not checked, but still come out right
			kf.Width, kf.Height, kf.Seq = 0, 0, 2
			jpg, err = s.JPEG(ctx, "cam1", kf)
			if err != nil {
				t.Fatalf("JPEG without dimensions: %v", err)
			}
			assertJPEG(t, jpg, tc.width, tc.height)
		})
	}
}

func TestJPEGCache(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	kf := func(seq uint64) Keyframe {
		return Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: seq}
	}
	type call struct {
		camera string
		seq    uint64
	}
	tests := []struct {
		name        string
		cacheSize   int
		calls       []call
		wantDecodes uint64
		wantHits    uint64
	}{
		{"same keyframe twice", 0, []call{{"a", 1}, {"a", 1}}, 1, 1},
		{"new keyframe", 0, []call{{"a", 1}, {"a", 2}, {"a", 1}, {"a", 2}}, 2, 2},
		{"cameras are separate", 0, []call{{"a", 1}, {"b", 1}, {"b", 1}}, 2, 1},
		{"least recently used is evicted", 2, []call{{"a", 1}, {"a", 2}, {"a", 1}, {"a", 3}, {"a", 1}, {"a", 2}}, 4, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSnapshotter(t, Config{CacheSize: tc.cacheSize})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, c := range tc.calls {
				jpg, err := s.JPEG(ctx, c.camera, kf(c.seq))
				if err != nil {
					t.Fatalf("JPEG(%s, %d): %v", c.camera, c.seq, err)
				}
				assertJPEG(t, jpg, 320, 240)
			}
			st := s.Stats()
			if st.Decodes != tc.wantDecodes || st.CacheHits != tc.wantHits {
				t.Fatalf("decodes %d, hits %d; want %d, %d", st.Decodes, st.CacheHits, tc.wantDecodes, tc.wantHits)
			}
		})
	}
}

func TestJPEGSingleflight(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	tests := []struct {
		name    string
		callers int
	}{
		{"two", 2},
		{"many", 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSnapshotter(t, Config{FFmpegPath: slowFFmpeg(t, "0.3")})
			kf := Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: 7}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			results := make([][]byte, tc.callers)
			errs := make([]error, tc.callers)
			var wg sync.WaitGroup
			for i := range tc.callers {
				wg.Go(func() { results[i], errs[i] = s.JPEG(ctx, "cam", kf) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("caller %d: %v", i, err)
				}
				if !bytes.Equal(results[i], results[0]) {
					t.Fatalf("caller %d got a different JPEG", i)
				}
			}
			assertJPEG(t, results[0], 320, 240)
			st := s.Stats()
			if st.Decodes != 1 {
				t.Fatalf("%d decodes for %d concurrent callers, want 1", st.Decodes, tc.callers)
			}
			if st.Shared+st.CacheHits != uint64(tc.callers-1) {
				t.Fatalf("shared %d + hits %d, want %d", st.Shared, st.CacheHits, tc.callers-1)
			}
		})
	}
}

func TestJPEGErrors(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	garbage := bytes.Repeat([]byte("not a video frame, just text "), 100)
	tests := []struct {
		name    string
		kf      Keyframe
		wantErr error
		// wantText must appear in the error: it tells an operator what went wrong
		wantText string
	}{
		{"unknown codec", Keyframe{Codec: "vp8", AnnexB: h264}, ErrInvalidKeyframe, `unknown codec "vp8"`},
		{"no data", Keyframe{Codec: CodecH264}, ErrInvalidKeyframe, "no data"},
		{"garbage", Keyframe{Codec: CodecH264, AnnexB: garbage}, nil, "ffmpeg"},
		{"garbage h265", Keyframe{Codec: CodecH265, AnnexB: garbage}, nil, "ffmpeg"},
		{"random start codes", Keyframe{Codec: CodecH264, AnnexB: bytes.Repeat([]byte{0, 0, 0, 1, 0x65, 0xff, 0x13}, 500)}, nil, "ffmpeg"},
		{"truncated", Keyframe{Codec: CodecH264, AnnexB: h264[:len(h264)/4]}, nil, ""},
		{"wrong dimensions", Keyframe{Codec: CodecH264, AnnexB: h264, Width: 640, Height: 480}, ErrInvalidOutput, "JPEG is 320x240, keyframe says 640x480"},
		{"h264 labelled h265", Keyframe{Codec: CodecH265, AnnexB: h264}, nil, "ffmpeg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSnapshotter(t, Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tc.kf.Seq = 1
			jpg, err := s.JPEG(ctx, "cam", tc.kf)
			if tc.name == "truncated" && err == nil {
				// ffmpeg conceals missing slices: a grey-bottomed picture is
				// acceptable, as long as it is a complete JPEG
				assertJPEG(t, jpg, 320, 240)
				return
			}
			if err == nil {
				t.Fatalf("got %d bytes and no error", len(jpg))
			}
			if ctx.Err() != nil {
				t.Fatalf("decode ran into the test's deadline: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && !errors.Is(err, ErrDecode) && !errors.Is(err, ErrInvalidOutput) {
				t.Fatalf("error %v, want ErrDecode or ErrInvalidOutput", err)
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), "camera cam seq 1") {
				t.Fatalf("error %q does not say %q and which keyframe", err, tc.wantText)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			t.Logf("error: %v", err)

			// a keyframe ffmpeg rejected is not fed to it again
			decodes := s.Stats().Decodes
			if _, err2 := s.JPEG(ctx, "cam", tc.kf); err2 == nil {
				t.Fatal("second call succeeded")
			}
			if got := s.Stats().Decodes; got != decodes {
				t.Fatalf("decodes went from %d to %d for a keyframe that failed", decodes, got)
			}
		})
	}
}

func TestJPEGCancelKillsFFmpeg(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	hang := hangingFFmpeg(t, pidFile)
	tests := []struct {
		name   string
		cancel func(context.CancelFunc, *Snapshotter)
		want   error
	}{
		{"request cancelled", func(c context.CancelFunc, _ *Snapshotter) { c() }, context.Canceled},
		{"snapshotter closed", func(_ context.CancelFunc, s *Snapshotter) { s.Close() }, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(pidFile)
			s := newTestSnapshotter(t, Config{FFmpegPath: hang})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			kf := Keyframe{Codec: CodecH264, AnnexB: []byte{0, 0, 0, 1, 0x67}, Seq: 1}

			errc := make(chan error, 1)
			go func() {
				_, err := s.JPEG(ctx, "cam", kf)
				errc <- err
			}()
			pid := waitPID(t, pidFile)
			tc.cancel(cancel, s)

			select {
			case err := <-errc:
				if !errors.Is(err, tc.want) {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("JPEG did not return after cancellation")
			}
			deadline := time.Now().Add(5 * time.Second)
			for syscall.Kill(pid, 0) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("ffmpeg (pid %d) still running after cancellation", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestJPEGOneWaiterLeaving(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	s := newTestSnapshotter(t, Config{FFmpegPath: slowFFmpeg(t, "0.5")})
	kf := Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: 1}

	impatient, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	patient, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()

	var wg sync.WaitGroup
	var impatientErr, patientErr error
	var jpg []byte
	wg.Go(func() { _, impatientErr = s.JPEG(impatient, "cam", kf) })
	wg.Go(func() { jpg, patientErr = s.JPEG(patient, "cam", kf) })
	wg.Wait()

	if !errors.Is(impatientErr, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v, want deadline exceeded", impatientErr)
	}
	if patientErr != nil {
		t.Fatalf("patient caller: %v (the decode must go on while someone waits)", patientErr)
	}
	assertJPEG(t, jpg, 320, 240)
	if st := s.Stats(); st.Decodes != 1 {
		t.Fatalf("%d decodes, want 1", st.Decodes)
	}
}

func TestJPEGAfterAbandonedDecode(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	s := newTestSnapshotter(t, Config{FFmpegPath: slowFFmpeg(t, "0.5")})
	kf := Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: 1}

	impatient, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.JPEG(impatient, "cam", kf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v, want deadline exceeded", err)
	}
	// the abandoned decode may still be winding down: a new request must
	// not inherit its cancellation
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	jpg, err := s.JPEG(ctx, "cam", kf)
	if err != nil {
		t.Fatalf("JPEG after an abandoned decode: %v", err)
	}
	assertJPEG(t, jpg, 320, 240)
	if _, err := s.JPEG(ctx, "cam", kf); err != nil {
		t.Fatalf("cached JPEG: %v", err)
	}
	if st := s.Stats(); st.Decodes != 2 || st.CacheHits != 1 {
		t.Fatalf("stats %+v, want 2 decodes and 1 hit", st)
	}
}

func TestWarm(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	kf := func(seq uint64) Keyframe {
		return Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: seq}
	}
	tests := []struct {
		name        string
		window      time.Duration
		request     bool          // a snapshot request before Warm
		pause       time.Duration // between the request and Warm
		wantWarm    bool
		wantDecodes uint64 // after the follow-up request for seq 2
	}{
		{"recent request", time.Minute, true, 0, true, 2},
		{"no request yet", time.Minute, false, 0, false, 1},
		{"request too long ago", 50 * time.Millisecond, true, 150 * time.Millisecond, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSnapshotter(t, Config{WarmWindow: tc.window})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if tc.request {
				if _, err := s.JPEG(ctx, "cam", kf(1)); err != nil {
					t.Fatalf("JPEG: %v", err)
				}
			}
			time.Sleep(tc.pause)
			s.Warm("cam", kf(2))
			if got := s.Stats().WarmStarted == 1; got != tc.wantWarm {
				t.Fatalf("warm started: %v, want %v", got, tc.wantWarm)
			}
			if tc.wantWarm {
				waitFor(t, func() bool { return s.Stats().Decodes == 2 && !s.inFlight("cam", 2) })
			}
			if _, err := s.JPEG(ctx, "cam", kf(2)); err != nil {
				t.Fatalf("JPEG after Warm: %v", err)
			}
			st := s.Stats()
			if st.Decodes != tc.wantDecodes {
				t.Fatalf("%d decodes, want %d", st.Decodes, tc.wantDecodes)
			}
			if tc.wantWarm && st.CacheHits != 1 {
				t.Fatalf("request after Warm was not a cache hit: %+v", st)
			}
		})
	}
}

func TestWarmDropsWhenBusy(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	kf := func(seq uint64) Keyframe {
		return Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: seq}
	}
	s := newTestSnapshotter(t, Config{FFmpegPath: slowFFmpeg(t, "0.5"), MaxConcurrent: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() {
		_, err := s.JPEG(ctx, "cam", kf(1))
		done <- err
	}()
	waitFor(t, func() bool { return s.Stats().Decodes == 1 }) // the one slot is taken

	start := time.Now()
	s.Warm("cam", kf(2))
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Warm blocked for %v", took)
	}
	if err := <-done; err != nil {
		t.Fatalf("JPEG: %v", err)
	}
	if st := s.Stats(); st.WarmDropped != 1 || st.WarmStarted != 0 {
		t.Fatalf("stats %+v, want one warm dropped", st)
	}
}

func TestForget(t *testing.T) {
	h264 := encodeKeyframe(t, CodecH264, 320, 240)
	s := newTestSnapshotter(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kf := Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: 1}
	for range 2 {
		if _, err := s.JPEG(ctx, "cam", kf); err != nil {
			t.Fatalf("JPEG: %v", err)
		}
		s.Forget("cam")
		s.Forget("never-seen")
	}
	if st := s.Stats(); st.Decodes != 2 || st.CacheHits != 0 {
		t.Fatalf("stats %+v, want 2 decodes and no hit after Forget", st)
	}
	// Forget also ends the warm window
	s.Warm("cam", kf)
	if st := s.Stats(); st.WarmStarted != 0 {
		t.Fatalf("Warm after Forget started a decode")
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
		text    string
	}{
		{"missing binary", Config{FFmpegPath: "/nonexistent/ffmpeg"}, ErrFFmpegMissing, "/nonexistent/ffmpeg"},
		{"missing in PATH", Config{FFmpegPath: "ffmpeg-that-is-not-installed"}, ErrFFmpegMissing, "install ffmpeg"},
		{"bad quality", Config{Quality: 40}, nil, "quality 40"},
		{"negative cache", Config{CacheSize: -1}, nil, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg, nil)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	requireFFmpeg(t)
	s := newTestSnapshotter(t, Config{})
	s.Close()
	s.Close()
	_, err := s.JPEG(context.Background(), "cam", Keyframe{Codec: CodecH264, AnnexB: []byte{0, 0, 1, 0x65}})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("error %v, want ErrClosed", err)
	}
	s.Warm("cam", Keyframe{Codec: CodecH264, AnnexB: []byte{0, 0, 1, 0x65}})
}

func TestCheckJPEG(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		text string
	}{
		{"empty", nil, "no image"},
		{"no SOI", []byte{0x89, 'P', 'N', 'G', 0xFF, 0xD9}, "SOI"},
		{"no EOI", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0}, "EOI"},
		{"no frame header", []byte{0xFF, 0xD8, 0xFF, 0xD9}, "parse JPEG header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJPEG(tc.data, 0, 0)
			if !errors.Is(err, ErrInvalidOutput) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %v, want ErrInvalidOutput mentioning %q", err, tc.text)
			}
		})
	}
}

func BenchmarkJPEGCached(b *testing.B) {
	h264 := encodeKeyframe(b, CodecH264, 320, 240)
	s := newTestSnapshotter(b, Config{})
	ctx := context.Background()
	kf := Keyframe{Codec: CodecH264, AnnexB: h264, Width: 320, Height: 240, Seq: 1}
	if _, err := s.JPEG(ctx, "cam", kf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.JPEG(ctx, "cam", kf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJPEGFresh(b *testing.B) {
	tests := []struct {
		codec         string
		width, height int
	}{
		{CodecH264, 320, 240},
		{CodecH264, 1280, 720},
		{CodecH265, 1280, 720},
	}
	for _, tc := range tests {
		b.Run(tc.codec+"_"+strconv.Itoa(tc.height)+"p", func(b *testing.B) {
			data := encodeKeyframe(b, tc.codec, tc.width, tc.height)
			s := newTestSnapshotter(b, Config{})
			ctx := context.Background()
			seq := uint64(0)
			b.ResetTimer()
			for b.Loop() {
				seq++ // a new keyframe every time: always a decode
				kf := Keyframe{Codec: tc.codec, AnnexB: data, Width: tc.width, Height: tc.height, Seq: seq}
				if _, err := s.JPEG(ctx, "cam", kf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// inFlight reports whether a decode of (cameraID, seq) is running.
func (s *Snapshotter) inFlight(cameraID string, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cam := s.cams[cameraID]
	return cam != nil && cam.flights[seq] != nil
}

func waitPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStderrText(t *testing.T) {
	tests := []struct {
		name  string
		write []string
		max   int
		want  string
	}{
		{"nothing", nil, 100, "(no output)"},
		{"blank lines", []string{"\n  \n"}, 100, "(no output)"},
		{"addresses and repeats", []string{
			"[h264 @ 0x55d23e302280] no frame!\n",
			"[h264 @ 0x55d23e3aaaaa] no frame!\nError marking filters as finished\n",
		}, 1000, "[h264] no frame!; Error marking filters as finished"},
		{"cut mid-line", []string{"first line that is long\nsecond\n"}, 12, "second"},
		{"many lines", []string{"a\nb\nc\nd\ne\nf\ng\nh\n"}, 1000, "a; b; c; …; f; g; h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := &tailBuffer{max: tc.max}
			for _, w := range tc.write {
				tb.Write([]byte(w))
			}
			if got := tb.text(); got != tc.want {
				t.Fatalf("text() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLimitedBuffer(t *testing.T) {
	lb := &limitedBuffer{max: 5}
	for _, w := range []string{"abc", "def", "ghi"} {
		if n, err := lb.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if got := lb.buf.String(); got != "abcde" || !lb.overflow {
		t.Fatalf("buffer %q overflow %v, want %q and true", got, lb.overflow, "abcde")
	}
}

// TestRecent: the newest decoded JPEG at or after a keyframe is returned
// without waiting; nothing older, and nothing for unknown cameras.
func TestRecent(t *testing.T) {
	s := newTestSnapshotter(t, Config{})
	kf := Keyframe{Codec: CodecH264, AnnexB: encodeKeyframe(t, CodecH264, 320, 240), Width: 320, Height: 240}
	if _, _, ok := s.Recent("cam", 0); ok {
		t.Fatal("Recent answered before any decode")
	}
	kf.Seq = 7
	want, err := s.JPEG(context.Background(), "cam", kf)
	if err != nil {
		t.Fatal(err)
	}
	got, seq, ok := s.Recent("cam", 6)
	if !ok || seq != 7 || !bytes.Equal(got, want) {
		t.Fatalf("Recent(cam, 6) = %d bytes, seq %d, %v", len(got), seq, ok)
	}
	if _, _, ok := s.Recent("cam", 8); ok {
		t.Fatal("Recent returned a JPEG older than asked for")
	}
	if _, _, ok := s.Recent("other", 0); ok {
		t.Fatal("Recent answered for an unknown camera")
	}
	// Latest for the next keyframe answers with keyframe 7's JPEG at once.
	decodes := s.Stats().Decodes
	next := kf
	next.Seq = 8
	got, err = s.Latest(context.Background(), "cam", next)
	if err != nil || !bytes.Equal(got, want) || s.Stats().Decodes != decodes {
		t.Fatalf("Latest(seq 8) = %d bytes, %v; decodes %d → %d", len(got), err, decodes, s.Stats().Decodes)
	}
}
