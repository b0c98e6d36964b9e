package spool

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validSidecar() sidecar {
	return sidecar{
		Version:     sidecarVersion,
		Key:         "cam-1/2026/01/02/030405.mp4",
		Size:        1234,
		SHA256:      strings.Repeat("ab", 32),
		SpooledAt:   time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		ContentType: "video/mp4",
		Metadata:    map[string]string{"camera": "cam-1"},
	}
}

func TestParseSidecar(t *testing.T) {
	good := validSidecar()
	b, err := marshalSidecar(&good)
	require.NoError(t, err)
	got, err := parseSidecar(b)
	require.NoError(t, err)
	require.Equal(t, good.Key, got.Key)
	require.True(t, good.SpooledAt.Equal(got.SpooledAt))
	require.Equal(t, good.Metadata, got.Metadata)

	for name, in := range map[string]string{
		"empty":         ``,
		"truncated":     string(b[:len(b)/2]),
		"trailing":      string(b) + `{}`,
		"unknown field": strings.Replace(string(b), `"v":1`, `"v":1,"x":2`, 1),
		"version":       strings.Replace(string(b), `"v":1`, `"v":2`, 1),
		"bad key":       strings.Replace(string(b), good.Key, "a//b", 1),
		"negative size": strings.Replace(string(b), `"size":1234`, `"size":-1`, 1),
		"short sha":     strings.Replace(string(b), good.SHA256, "abcd", 1),
		"upper sha":     strings.Replace(string(b), good.SHA256, strings.ToUpper(good.SHA256), 1),
		"no time":       strings.Replace(string(b), `"spooled_at":"2026-01-02T03:04:05.000000006Z"`, `"spooled_at":"0001-01-01T00:00:00Z"`, 1),
		"bad metadata":  strings.Replace(string(b), `"camera"`, `"sha256"`, 1),
		"array":         `[]`,
		"null":          `null`,
	} {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, string(b), in, "the case changes something")
			_, err := parseSidecar([]byte(in))
			require.Error(t, err)
		})
	}
}

func TestSplitName(t *testing.T) {
	id := newID(time.Unix(1_700_000_000, 5), 0xabc)
	require.True(t, isID(id), id)
	for _, ext := range []string{extPart, extData, extSidecarTmp, extSidecar, extData + extCorrupt, extSidecar + extCorrupt} {
		gotID, gotExt, ok := splitName(id + ext)
		require.True(t, ok, ext)
		require.Equal(t, id, gotID)
		require.Equal(t, ext, gotExt)
	}
	for _, name := range []string{"", id, id + ".txt", id + ".seg.bak", "x" + id[1:] + ".seg", "objstore-spool-123", strings.ToUpper(id) + ".seg"} {
		_, _, ok := splitName(name)
		require.False(t, ok, name)
	}
}

// FuzzParseSidecar: the parser never panics, and what it accepts is valid
// and survives a write and a read unchanged.
func FuzzParseSidecar(f *testing.F) {
	good := validSidecar()
	b, _ := marshalSidecar(&good)
	f.Add(b)
	noMeta := validSidecar()
	noMeta.Metadata, noMeta.ContentType, noMeta.Size = nil, "", 0
	b, _ = marshalSidecar(&noMeta)
	f.Add(b)
	f.Add([]byte(`{"v":1,"key":"a","size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","spooled_at":"2026-01-01T00:00:00+01:00"}`))
	f.Add([]byte(`{"v":1,"KEY":"a\u00e9","size":1e3,"sha256":"","spooled_at":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		sc, err := parseSidecar(in)
		if err != nil {
			return
		}
		if err := sc.validate(); err != nil {
			t.Fatalf("accepted an invalid sidecar %q: %v", in, err)
		}
		out, err := marshalSidecar(&sc)
		if err != nil {
			t.Fatalf("cannot write back an accepted sidecar %q: %v", in, err)
		}
		sc2, err := parseSidecar(out)
		if err != nil {
			t.Fatalf("cannot read back %q (from %q): %v", out, in, err)
		}
		out2, err := marshalSidecar(&sc2)
		if err != nil || string(out) != string(out2) {
			t.Fatalf("round trip changed %q to %q (%v)", out, out2, err)
		}
	})
}
