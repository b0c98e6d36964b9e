package api_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/internal/testenv"
)

// TestDeviceRegistrationVisible: a robot (sipp) registers with the
// device's SIP credentials and the API shows the binding; a wrong password
// registers nothing.
func TestDeviceRegistrationVisible(t *testing.T) {
	testenv.LookTool(t, "sipp")
	f := newFixture(t, "")
	udp, _ := f.sip.Addr()
	scenario, err := filepath.Abs("../sip/testdata/reg.xml")
	require.NoError(t, err)
	sipp := func(password string) error {
		port := strconv.Itoa(freeUDPPort(t))
		cmd := exec.Command("sipp", "-sf", scenario, udp.String(), "-i", "127.0.0.1", "-p", port,
			"-m", "1", "-s", "robot-a", "-au", "robot-a", "-ap", password, "-timeout", "15s", "-nostdin")
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("sipp: %v\n%s", err, out)
		}
		return err
	}

	require.Error(t, sipp("wrong-password"), "a wrong password must not register")
	dev := f.admin.do("GET", "/api/v1/devices/"+f.deviceA, nil).json(t)
	require.Equal(t, false, dev["registration"].(map[string]any)["registered"])

	require.NoError(t, sipp(devicePassword))
	var reg map[string]any
	require.Eventually(t, func() bool {
		reg = f.agent.do("GET", "/api/v1/devices/"+f.deviceA, nil).json(t)["registration"].(map[string]any)
		return reg["registered"] == true
	}, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, "sipp-robot", reg["user_agent"])
	require.Contains(t, reg["contact"], "robot-a@127.0.0.1")
	expires, err := time.Parse(time.RFC3339, reg["expires_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(120*time.Second), expires, 10*time.Second)
	// The list shows it too, and never the SIP password.
	list := f.admin.do("GET", "/api/v1/devices", nil)
	require.Contains(t, string(list.body), `"registered":true`)
	require.NotContains(t, string(list.body), devicePassword)
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
