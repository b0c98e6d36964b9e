package recorder_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/recorder"
	"github.com/attendant/attendant/recorder/spool"

	"github.com/attendant/attendant/internal/testenv"
)

// opusStream has ffmpeg encode seconds of a tone to Opus RTP (20 ms frames)
// and returns the packets, as a robot would send them.
func opusStream(t *testing.T, seconds float64, freq int) []rtp.Packet {
	t.Helper()
	ffmpeg := testenv.LookTool(t, "ffmpeg")
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.(*net.UDPConn).SetReadBuffer(1 << 20)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"sine=frequency="+strconv.Itoa(freq)+":sample_rate=48000:duration="+strconv.FormatFloat(seconds, 'f', 2, 64),
		"-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-f", "rtp", "rtp://127.0.0.1:"+strconv.Itoa(port))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	var pkts []rtp.Packet
	buf := make([]byte, 1500)
	want := int(seconds * 50)
	for len(pkts) < want {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			break
		}
		var p rtp.Packet
		require.NoError(t, p.Unmarshal(slices.Clone(buf[:n])))
		pkts = append(pkts, p)
	}
	require.NoError(t, cmd.Wait(), "ffmpeg: %s", out.String())
	require.GreaterOrEqual(t, len(pkts), want-1, "packets from ffmpeg")
	return pkts
}

// decode has ffmpeg decode an Ogg Opus file to 48 kHz mono PCM.
func decode(t *testing.T, ogg []byte) []int16 {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ogg")
	require.NoError(t, os.WriteFile(in, ogg, 0o600))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-xerror", "-i", in, "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	require.NoError(t, err, "ffmpeg decodes the recording")
	pcm := make([]int16, len(out)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	return pcm
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}

// TestCallAudioOpus: an Opus call is recorded as the packets themselves,
// one Ogg Opus file per leg and part; the files play (ffmpeg decodes them)
// for the legs' lengths, a gap in a leg stays a silent gap, and garbage
// packets are skipped without losing the part.
func TestCallAudioOpus(t *testing.T) {
	robot := opusStream(t, 2, 440)
	agent := opusStream(t, 1, 880)
	rec, up := startRecorder(t, recorder.Config{})
	start := time.Now().UTC()
	a, err := rec.StartCallAudio(recorder.CallAudioConfig{CaseID: "case", SiteID: "site", DeviceID: "robot", Codec: "opus",
		Part: time.Minute, Start: start})
	require.NoError(t, err)
	for i, p := range robot {
		a.Packet(false, p.Timestamp, p.Payload, start.Add(time.Duration(i)*20*time.Millisecond))
	}
	a.Packet(false, robot[10].Timestamp, []byte{0xFF}, start) // garbage
	// the agent: 400 ms, a 200 ms gap (dropped packets), the rest
	for i, p := range agent {
		if i >= 20 && i < 30 {
			continue
		}
		a.Packet(true, p.Timestamp, p.Payload, start.Add(300*time.Millisecond+time.Duration(i)*20*time.Millisecond))
	}
	a.Close()
	require.Eventually(t, func() bool { return len(up.segments()) == 2 }, 10*time.Second, 20*time.Millisecond)
	got := map[string][]byte{}
	var entries []spool.Entry
	for _, e := range up.segments() {
		entries = append(entries, e)
		require.Equal(t, "audio/ogg", e.ContentType)
		require.Equal(t, "call-audio", e.Metadata["evidence-kind"])
		rc, _, err := up.store.Get(context.Background(), e.Key, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(rc)
		rc.Close()
		leg := "agent"
		if strings.Contains(e.Key, "-robot-") {
			leg = "robot"
		}
		got[leg] = b
	}
	require.Len(t, got, 2, "one file per leg: %v", entries)
	require.True(t, bytes.HasPrefix(got["robot"], []byte("OggS")))

	pcm := decode(t, got["robot"])
	require.InDelta(t, 2.0, float64(len(pcm))/48000, 0.05, "the robot's 2 s")
	require.Greater(t, rms(pcm[24000:72000]), 1000.0, "the robot's tone is there")

	pcm = decode(t, got["agent"])
	require.InDelta(t, 1.0, float64(len(pcm))/48000, 0.05, "the agent's 1 s, the gap included")
	require.Greater(t, rms(pcm[2400:18000]), 1000.0, "the agent speaks before the gap")
	require.Less(t, rms(pcm[20400:27600]), 200.0, "the gap is silent")
	require.Greater(t, rms(pcm[31200:46000]), 1000.0, "and after it")
}
