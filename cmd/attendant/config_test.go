package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "attendant.yaml")
	require.NoError(t, os.WriteFile(file, []byte("http: \":7000\"\ndata: /from/file\ndb: postgres://file\nsession-ttl: 1h\n"), 0o600))
	env := map[string]string{"ATTENDANT_DATA": "/from/env", "ATTENDANT_LOG_FORMAT": "json"}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name string
		args []string
		want func(t *testing.T, c serveConfig)
	}{
		{"defaults", nil, func(t *testing.T, c serveConfig) {
			require.Equal(t, ":8080", c.HTTP)
			require.Equal(t, "/from/env", c.Data)
			require.Equal(t, "json", c.LogFormat)
			require.Equal(t, 12*time.Hour, c.SessionTTL)
		}},
		{"file under env under flags", []string{"--config", file, "--db", "postgres://flag"}, func(t *testing.T, c serveConfig) {
			require.Equal(t, ":7000", c.HTTP, "file beats default")
			require.Equal(t, "/from/env", c.Data, "env beats file")
			require.Equal(t, "postgres://flag", c.DB, "flag beats file")
			require.Equal(t, time.Hour, c.SessionTTL)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServeConfig(tc.args, getenv)
			require.NoError(t, err)
			tc.want(t, c)
		})
	}
}

func TestParseServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("htp: x\n"), 0o600))
	none := func(string) string { return "" }
	for name, args := range map[string][]string{
		"unknown flag":        {"--nope"},
		"unknown file key":    {"--config", bad},
		"missing file":        {"--config", filepath.Join(dir, "missing.yaml")},
		"bad log format":      {"--log-format", "xml"},
		"stray argument":      {"extra"},
		"bad duration in env": nil,
	} {
		t.Run(name, func(t *testing.T) {
			getenv := none
			if args == nil {
				getenv = func(k string) string {
					if k == "ATTENDANT_SESSION_TTL" {
						return "forever"
					}
					return ""
				}
			}
			_, err := parseServeConfig(args, getenv)
			require.Error(t, err)
		})
	}
}
