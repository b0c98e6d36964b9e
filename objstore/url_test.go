package objstore_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/objstore"
)

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"s3://AKIA:s3cr3t@minio:9000/bucket":              "s3://AKIA:xxxxx@minio:9000/bucket",
		"s3+http://AKIA:s3cr3t@127.0.0.1:9000/b?region=x": "s3+http://AKIA:xxxxx@127.0.0.1:9000/b?region=x",
		"s3://AKIA:se/cr@et@host/bucket":                  "s3://AKIA:xxxxx@host/bucket",
		"s3://AKIA:se%2Fcret@host/bucket":                 "s3://AKIA:xxxxx@host/bucket",
		"s3://onlysecret@host/bucket":                     "s3://xxxxx@host/bucket",
		"KEY:SECRET@host/bucket":                          "KEY:xxxxx@host/bucket",
		"file:///var/lib/attendant/objects":               "file:///var/lib/attendant/objects",
		"s3://host/bucket":                                "s3://host/bucket",
		"":                                                "",
	} {
		require.Equal(t, want, objstore.Redact(in), in)
	}
}

func TestOpenLocal(t *testing.T) {
	ctx := ctxT(t)
	dataDir := t.TempDir()
	s, err := objstore.Open(ctx, "", dataDir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	put(t, s, "k", []byte("x"), objstore.PutOptions{})
	_, err = os.Stat(filepath.Join(dataDir, "objects", "data", "k"))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	dir := t.TempDir()
	s, err = objstore.Open(ctx, "file://"+filepath.ToSlash(dir), "", nil)
	require.NoError(t, err)
	put(t, s, "k", []byte("x"), objstore.PutOptions{})
	_, err = os.Stat(filepath.Join(dir, "data", "k"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestOpenBadURLs(t *testing.T) {
	ctx := ctxT(t)
	const secret = "Zq9TOPSECRET"
	for _, u := range []string{
		"s3://KEY:" + secret + "@host:notaport/bucket",
		"s3://KEY:Zq9TOP/SECRET@host:9000/bucket", // unescaped "/" in the secret
		"s3://KEY:" + secret + "@host:9000/",
		"s3://KEY:" + secret + "@host:9000/a/b",
		"s3://KEY:" + secret + "@host:9000/bucket?bogus=1",
		"s3://KEY:" + secret + "@host:9000/bucket?checksum=maybe",
		"s3://KEY@host:9000/bucket",
		"s3://host:9000/bucket",
		"ftp://KEY:" + secret + "@host/bucket",
		"KEY:" + secret + "@host/bucket",
		"file://host/path",
		"file:relative",
		"no-scheme",
	} {
		_, err := objstore.Open(ctx, u, t.TempDir(), nil)
		require.Error(t, err, u)
		require.NotContains(t, err.Error(), "TOP", u)
	}
	_, err := objstore.Open(ctx, "", "", nil)
	require.Error(t, err, "no URL and no data directory")
}

func TestOpenS3UnreachableHidesSecret(t *testing.T) {
	// nothing listens on port 1 of loopback
	u := "s3+http://KEY:TOPSECRET@127.0.0.1:1/bucket"
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err := objstore.Open(ctx, u, t.TempDir(), nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "TOPSECRET")
	require.True(t, strings.Contains(err.Error(), "127.0.0.1:1"), err.Error())
}
