package media

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Parameter sets of a 640x360 test pattern from ffmpeg (libx264 ultrafast,
// libx265 ultrafast).
var (
	testSPS264 = mustHex("6742c01eda0280bfe5c044000003000400000300ca3c58ba80")
	testPPS264 = mustHex("68ce0fc8")
	testVPS265 = mustHex("40010c01ffff01600000030090000003000003003f959809")
	testSPS265 = mustHex("42010101600000030090000003000003003fa00502016965959a4932bc05a02000000300200000030321")
	testPPS265 = mustHex("4401c172b46240")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// slice returns a fake coded slice of n bytes with the given first byte(s).
func slice(n int, head ...byte) []byte {
	b := bytes.Repeat([]byte{0xab}, n)
	copy(b, head)
	return b
}

func TestSPSSize(t *testing.T) {
	for _, tc := range []struct {
		codec string
		sps   []byte
	}{{CodecH264, testSPS264}, {CodecH265, testSPS265}} {
		if w, h := spsSize(tc.codec, tc.sps); w != 640 || h != 360 {
			t.Errorf("%s: %dx%d, want 640x360", tc.codec, w, h)
		}
	}
	if w, h := spsSize(CodecH264, []byte{0x67, 0xff}); w != 0 || h != 0 {
		t.Errorf("garbage SPS gave %dx%d", w, h)
	}
}

func TestParamSetsProcess(t *testing.T) {
	idr := slice(100, 0x65)
	p1 := slice(50, 0x41)
	aud := []byte{0x09, 0xf0}
	tests := []struct {
		name    string
		known   [][]byte // parameter sets known before (SDP)
		au      [][]byte
		want    [][]byte
		wantKey bool
	}{
		{"IDR with params stays", nil, [][]byte{testSPS264, testPPS264, idr}, [][]byte{testSPS264, testPPS264, idr}, true},
		{"IDR without params gets them", [][]byte{testSPS264, testPPS264}, [][]byte{idr}, [][]byte{testSPS264, testPPS264, idr}, true},
		{"IDR with only SPS gets PPS", [][]byte{nil, testPPS264}, [][]byte{testSPS264, idr}, [][]byte{testSPS264, testPPS264, idr}, true},
		{"IDR and nothing known is no keyframe", nil, [][]byte{idr}, [][]byte{idr}, false},
		{"P slice untouched", [][]byte{testSPS264, testPPS264}, [][]byte{p1}, [][]byte{p1}, false},
		{"AUD and empty dropped", nil, [][]byte{aud, {}, p1}, [][]byte{p1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ps paramSets
			var sps, pps []byte
			if len(tc.known) == 2 {
				sps, pps = tc.known[0], tc.known[1]
			}
			ps.reset(CodecH264, nil, sps, pps)
			got, key := ps.process(tc.au)
			if key != tc.wantKey {
				t.Errorf("key = %v, want %v", key, tc.wantKey)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d NAL units, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("NAL unit %d: % x, want % x", i, got[i][:min(4, len(got[i]))], tc.want[i][:min(4, len(tc.want[i]))])
				}
			}
		})
	}
}

func TestParamSetsH265(t *testing.T) {
	var ps paramSets
	ps.reset(CodecH265, testVPS265, testSPS265, testPPS265)
	cra := slice(80, 21<<1, 1) // CRA_NUT
	got, key := ps.process([][]byte{cra})
	if !key || len(got) != 4 || classifyNALU(CodecH265, got[0]) != naluVPS || classifyNALU(CodecH265, got[3]) != naluIRAP {
		t.Fatalf("key=%v, %d units", key, len(got))
	}
	if ps.width != 640 || ps.height != 360 {
		t.Fatalf("size %dx%d", ps.width, ps.height)
	}
}

func TestH264Profile(t *testing.T) {
	p, c, l, ok := h264Profile(testSPS264)
	if !ok || p != 66 || c != 0xc0 || l != 30 {
		t.Fatalf("profile %d constraints %x level %d", p, c, l)
	}
}

// FuzzParamSets: whatever a camera sends, processing never panics and a
// keyframe always carries complete parameter sets.
func FuzzParamSets(f *testing.F) {
	f.Add(true, []byte{0x65, 1, 2}, testSPS264, testPPS264)
	f.Add(false, []byte{0x26, 1, 2}, testSPS265, testVPS265)
	f.Add(false, []byte{}, []byte{0x42}, []byte{0x40, 0x01})
	f.Fuzz(func(t *testing.T, h264 bool, a, b, c []byte) {
		codec := CodecH265
		if h264 {
			codec = CodecH264
		}
		var ps paramSets
		ps.reset(codec, nil, nil, nil)
		for _, au := range [][][]byte{{a}, {b, c}, {a, b, c}, {c, a}} {
			out, key := ps.process(au)
			if key && !ps.complete() {
				t.Fatal("keyframe without parameter sets")
			}
			for _, n := range out {
				if classifyNALU(codec, n) == naluInvalid {
					t.Fatal("invalid NAL unit passed on")
				}
			}
		}
	})
}
