package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

func TestTransports(t *testing.T) {
	cam := startTestCamera(t, camOpts{udp: true})
	m, _ := runManager(t, ManagerConfig{})
	// one reader at a time: gortsplib's server (the test camera) races when
	// UDP readers set up concurrently
	for _, tr := range []string{TransportUDP, TransportAuto, ""} {
		t.Run("transport="+tr, func(t *testing.T) {
			id := "cam-" + tr
			m.Upsert(CameraConfig{ID: id, URL: cam.URL(), Transport: tr, Enabled: true})
			waitState(t, m, id, 15*time.Second, "connected", func(s CameraState) bool {
				return s.State == StateConnected && s.Width == 640
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			kf, err := m.Keyframe(ctx, id, true)
			if err != nil {
				t.Fatal(err)
			}
			if kf.Width != 640 || kf.Codec != CodecH264 {
				t.Fatalf("keyframe %+v", kf)
			}
		})
	}
}

func TestH265(t *testing.T) {
	cam := startTestCamera(t, camOpts{h265: true, audio: "opus"})
	m, _ := runManager(t, ManagerConfig{})
	m.Upsert(CameraConfig{ID: "hevc", URL: cam.URL(), Enabled: true})
	st := waitState(t, m, "hevc", 15*time.Second, "connected", func(s CameraState) bool {
		return s.State == StateConnected && s.Width > 0
	})
	if st.Codec != CodecH265 || st.Width != 640 || st.Height != 360 || st.AudioCodec != "opus" {
		t.Fatalf("state %+v", st)
	}
	if _, err := newWHEPClient(t, m, "hevc", clientOpts{h264: true}); !errors.Is(err, ErrCodecNotOffered) {
		t.Fatalf("H264-only viewer of an H265 camera: %v", err)
	}
	cl, err := newWHEPClient(t, m, "hevc", clientOpts{h264: true, h265: true, opus: true})
	if err != nil {
		t.Fatal(err)
	}
	cl.waitFrames(t, 20, 15*time.Second)
	types := nalTypes(true, cl.firstPayload())
	if !slices.Contains(types, 32) || !slices.Contains(types, 33) || !slices.Contains(types, 34) {
		t.Fatalf("first H265 packet carries NAL types %v, want VPS, SPS, PPS", types)
	}
	if cl.audioPkts.Load() == 0 {
		t.Fatal("no Opus packets")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kf, err := m.Keyframe(ctx, "hevc", false)
	if err != nil {
		t.Fatal(err)
	}
	if kf.Codec != CodecH265 || len(kf.AnnexB) < 5 || (kf.AnnexB[4]>>1)&0x3f != 32 {
		t.Fatalf("H265 keyframe %s starts % x", kf.Codec, kf.AnnexB[:min(6, len(kf.AnnexB))])
	}
}

func TestAACIsReportedNotSent(t *testing.T) {
	cam := startTestCamera(t, camOpts{audio: "aac"})
	m, _ := runManager(t, ManagerConfig{})
	m.Upsert(CameraConfig{ID: "c", URL: cam.URL(), Enabled: true})
	st := waitState(t, m, "c", 15*time.Second, "connected", func(s CameraState) bool { return s.State == StateConnected })
	if st.AudioCodec != "aac" {
		t.Fatalf("audio codec %q", st.AudioCodec)
	}
	cl, err := newWHEPClient(t, m, "c", clientOpts{h264: true, pcmu: true, opus: true})
	if err != nil {
		t.Fatal(err)
	}
	cl.waitFrames(t, 10, 15*time.Second)
	if n := cl.audioPkts.Load(); n != 0 {
		t.Fatalf("%d audio packets for an AAC camera", n)
	}
}

func TestDigestAuth(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	cam := startTestCamera(t, camOpts{user: "viewer", pass: secret})
	m, logs := runManager(t, ManagerConfig{})
	m.Upsert(CameraConfig{ID: "good", URL: cam.URL(), Username: "viewer", Password: secret, Enabled: true})
	m.Upsert(CameraConfig{ID: "bad", URL: cam.URL(), Username: "viewer", Password: secret + "-wrong", Enabled: true})
	m.Upsert(CameraConfig{ID: "none", URL: cam.URL(), Enabled: true})
	waitState(t, m, "good", 15*time.Second, "connected", func(s CameraState) bool { return s.State == StateConnected })
	for _, id := range []string{"bad", "none"} {
		st := waitState(t, m, id, 15*time.Second, "failed with 401", func(s CameraState) bool {
			return s.State != StateConnected && strings.Contains(s.LastError, "401")
		})
		if strings.Contains(st.LastError, secret) {
			t.Fatalf("%s: last error leaks the password: %s", id, st.LastError)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatal("logs contain the camera password")
	}
}

// TestUnreachableCameras: a camera that accepts and never answers, and one
// whose port is closed, do not hold up a good one; removing the silent one
// returns promptly.
func TestUnreachableCameras(t *testing.T) {
	cam := startTestCamera(t, camOpts{})
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	m, _ := runManager(t, ManagerConfig{RTSPTimeout: 2 * time.Second})
	m.Upsert(CameraConfig{ID: "silent", URL: "rtsp://" + silent.Addr().String() + "/x", Enabled: true})
	m.Upsert(CameraConfig{ID: "closed", URL: "rtsp://" + closedAddr + "/x", Enabled: true})
	m.Upsert(CameraConfig{ID: "good", URL: cam.URL(), Enabled: true})
	waitState(t, m, "good", 10*time.Second, "connected", func(s CameraState) bool { return s.State == StateConnected })
	if st, _ := m.State("silent"); st.State != StateConnecting {
		t.Fatalf("silent camera state %+v, want connecting", st)
	}
	waitState(t, m, "closed", 10*time.Second, "failed and retrying", func(s CameraState) bool {
		return s.Reconnects >= 2 && s.LastError != ""
	})
	waitState(t, m, "silent", 10*time.Second, "failed after the RTSP timeout", func(s CameraState) bool {
		return s.LastError != ""
	})
	start := time.Now()
	m.Remove("silent")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("removing a silent camera took %v", d)
	}
}

// TestGarbageCameras: servers that answer with garbage, truncated or hostile
// RTSP never crash the manager.
func TestGarbageCameras(t *testing.T) {
	payloads := map[string]func(c net.Conn, r *rand.Rand){
		"random bytes": func(c net.Conn, r *rand.Rand) {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			_, _ = c.Write(b)
		},
		"huge content length": func(c net.Conn, _ *rand.Rand) {
			_, _ = io.WriteString(c, "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\nv=0")
		},
		"bad SDP": func(c net.Conn, _ *rand.Rand) {
			for cseq := 1; cseq < 4; cseq++ {
				body := "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=!!!,@@@\r\n"
				_, _ = io.WriteString(c, fmt.Sprintf("RTSP/1.0 200 OK\r\nCSeq: %d\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", cseq, len(body), body))
			}
		},
		"interleaved junk": func(c net.Conn, r *rand.Rand) {
			for range 200 {
				n := r.IntN(2000)
				f := []byte{'$', byte(r.IntN(4)), byte(n >> 8), byte(n)}
				junk := make([]byte, n)
				for i := range junk {
					junk[i] = byte(r.IntN(256))
				}
				_, _ = c.Write(append(f, junk...))
			}
		},
	}
	m, _ := runManager(t, ManagerConfig{RTSPTimeout: time.Second})
	var ids []string
	for name, write := range payloads {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			r := rand.New(rand.NewPCG(1, 2))
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 4096)
					_, _ = c.Read(buf)
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					write(c, r)
				}()
			}
		}()
		id := strings.ReplaceAll(name, " ", "-")
		ids = append(ids, id)
		m.Upsert(CameraConfig{ID: id, URL: "rtsp://" + ln.Addr().String() + "/x", Enabled: true})
	}
	for _, id := range ids {
		waitState(t, m, id, 15*time.Second, "failed", func(s CameraState) bool { return s.Reconnects >= 1 && s.LastError != "" })
	}
}

// TestHostileRTP: a camera with a valid RTSP session whose RTP payloads are
// random (and sometimes crafted H264 fragments) must not crash anything; the
// damage shows up as lost packets.
func TestHostileRTP(t *testing.T) {
	for _, codec := range []string{CodecH264, CodecH265} {
		t.Run(codec, func(t *testing.T) {
			cam := startTestCamera(t, camOpts{noFFmpeg: true})
			var forma format.Format = &format.H264{PayloadTyp: 96, PacketizationMode: 1}
			if codec == CodecH265 {
				forma = &format.H265{PayloadTyp: 96}
			}
			medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
			st := cam.serve(&description.Session{Medias: []*description.Media{medi}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				r := rand.New(rand.NewPCG(3, 4))
				var seq uint16
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					payload := make([]byte, 1+r.IntN(1400))
					for i := range payload {
						payload[i] = byte(r.IntN(256))
					}
					if r.IntN(3) == 0 { // valid-looking NAL headers: FU-A/STAP-A/IDR/AP/FU
						payload[0] = []byte{28, 24, 0x65, 0x67, 48 << 1, 49 << 1, 19 << 1}[r.IntN(7)]
					}
					seq += uint16(1 + r.IntN(2)*r.IntN(3)) // some gaps
					_ = st.WritePacketRTP(medi, &rtp.Packet{
						Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(r.IntN(5)) * 3000, Marker: r.IntN(4) == 0, SSRC: 7},
						Payload: payload,
					})
				}
			}()
			m, _ := runManager(t, ManagerConfig{})
			m.Upsert(CameraConfig{ID: "evil", URL: cam.URL(), Enabled: true})
			waitState(t, m, "evil", 10*time.Second, "connected", func(s CameraState) bool { return s.State == StateConnected })
			state := waitState(t, m, "evil", 10*time.Second, "decode errors counted", func(s CameraState) bool { return s.PacketsLost > 20 })
			if state.Width > maxDimension || state.Width < 0 || state.Height > maxDimension || state.Height < 0 {
				t.Fatalf("absurd picture size %dx%d", state.Width, state.Height)
			}
			t.Logf("after garbage: %+v", state)
		})
	}
}
