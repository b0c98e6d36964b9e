package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/parking"
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
			require.Equal(t, 10*time.Second, c.CongestedAfter)
		}},
		{"call-out list threshold", []string{"--congested-after", "45s"}, func(t *testing.T, c serveConfig) {
			require.Equal(t, 45*time.Second, c.CongestedAfter)
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
		"unknown flag":               {"--nope"},
		"unknown file key":           {"--config", bad},
		"missing file":               {"--config", filepath.Join(dir, "missing.yaml")},
		"bad log format":             {"--log-format", "xml"},
		"stray argument":             {"extra"},
		"parking webhook not a URL":  {"--parking-webhook", "parking.example:8080/hook"},
		"parking webhook ftp":        {"--parking-webhook", "ftp://parking.example/hook"},
		"parking webhook no host":    {"--parking-webhook", "https:///hook"},
		"parking secret too short":   {"--parking-webhook", "demo", "--parking-webhook-secret", "short"},
		"parking timeout zero":       {"--parking-timeout", "0s"},
		"parking timeout too long":   {"--parking-timeout", "2m"},
		"parking timeout not a time": {"--parking-timeout", "soon"},
		"metrics token too short":    {"--metrics-token", "guessable"},
		"bad duration in env":        nil,
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

func TestParseServeConfigParking(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "attendant.yaml")
	require.NoError(t, os.WriteFile(file, []byte("parking-webhook: https://parking.example/hook\nparking-timeout: 3s\n"), 0o600))
	tests := []struct {
		name            string
		args            []string
		env             map[string]string
		webhook, secret string
		timeout         time.Duration
	}{
		{"none by default", nil, nil, "", "", 5 * time.Second},
		{"demo with --demo", []string{"--demo"}, nil, "demo", "", 5 * time.Second},
		{"off even with --demo", []string{"--demo", "--parking-webhook", "off"}, nil, "", "", 5 * time.Second},
		{"a URL beats --demo", []string{"--demo", "--parking-webhook", "http://127.0.0.1:9000/attendant"}, nil, "http://127.0.0.1:9000/attendant", "", 5 * time.Second},
		{"demo without --demo", []string{"--parking-webhook", "demo"}, nil, "demo", "", 5 * time.Second},
		{"from the environment", nil, map[string]string{"ATTENDANT_PARKING_WEBHOOK": "https://parking.example/hook",
			"ATTENDANT_PARKING_WEBHOOK_SECRET": "0123456789abcdef-env", "ATTENDANT_PARKING_TIMEOUT": "2s"},
			"https://parking.example/hook", "0123456789abcdef-env", 2 * time.Second},
		{"from the file", []string{"--config", file}, nil, "https://parking.example/hook", "", 3 * time.Second},
		{"flag beats file", []string{"--config", file, "--parking-timeout", "1500ms"}, nil, "https://parking.example/hook", "", 1500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseServeConfig(tc.args, func(k string) string { return tc.env[k] })
			require.NoError(t, err)
			require.Equal(t, tc.webhook, c.ParkingWebhook)
			require.Equal(t, tc.secret, c.ParkingWebhookSecret)
			require.Equal(t, tc.timeout, c.ParkingTimeout)
		})
	}
}

// TestOpenParking: the demo answers in process with a secret generated
// once under the data directory; a bad secret file is a clear error.
func TestOpenParking(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	data := t.TempDir()
	cfg := serveConfig{Data: data, ParkingWebhook: "demo", ParkingTimeout: time.Second}
	p, err := openParking(cfg, log)
	require.NoError(t, err)
	l, err := p.Lookup(context.Background(), parking.Query{Plate: "京A 12345"})
	require.NoError(t, err)
	require.True(t, l.Found)
	require.Equal(t, int64(1500), l.FeeDue)

	path := filepath.Join(data, "secrets", "parking-webhook.secret")
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = openParking(cfg, log)
	require.NoError(t, err)
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, first, again, "made once, kept across restarts")

	require.NoError(t, os.WriteFile(path, []byte("short\n"), 0o600))
	_, err = openParking(cfg, log)
	require.ErrorContains(t, err, "parking-webhook.secret")

	p, err = openParking(serveConfig{Data: data}, log)
	require.NoError(t, err)
	require.Nil(t, p, "not configured")
}
