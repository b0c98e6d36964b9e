package sip

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

// Tests against real SIP peers on loopback: sipp (package sip-tester) and
// baresip (baresip-core). Without them the tests skip, unless CI is set.

func needPeer(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found and CI is set (scripts/test-deps.sh installs it)", name)
		}
		t.Skipf("%s not found; skipping (scripts/test-deps.sh installs it)", name)
	}
	return path
}

// freeUDPPort returns a port on 127.0.0.1 free for UDP and TCP a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	udp, tcp, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer udp.Close()
	defer tcp.Close()
	return udp.LocalAddr().(*net.UDPAddr).Port
}

// sipp runs one scenario from testdata against server with the given
// transport ("u1" or "t1") and returns the local port it used. sipp exits
// non-zero when the scenario fails.
func sipp(t *testing.T, scenario, server, transport string, args ...string) int {
	t.Helper()
	return sippIn(t, t.TempDir(), scenario, server, transport, args...)
}

// sippIn is sipp run in dir, where the scenario finds its media files.
func sippIn(t *testing.T, dir, scenario, server, transport string, args ...string) int {
	t.Helper()
	return sippAsync(t, dir, scenario, server, transport, args...)(t)
}

// sippAsync starts sipp in the background; the returned function waits
// for it (on the test goroutine) and fails the test when sipp failed.
func sippAsync(t *testing.T, dir, scenario, server, transport string, args ...string) func(t *testing.T) int {
	t.Helper()
	bin := needPeer(t, "sipp")
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		port int
		full []string
		out  []byte
		err  error
	}
	done := make(chan result, 1)
	finished := make(chan struct{})
	t.Cleanup(func() { <-finished }) // no sipp outlives its test
	// chosen here, on the test goroutine: freeUDPPort may fail the test
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = freeUDPPort(t)
	}
	go func() {
		defer close(finished)
		var r result
		for attempt := 1; ; attempt++ {
			r.port = ports[attempt-1]
			r.full = append([]string{
				"-sf", sf, server, "-i", "127.0.0.1", "-p", strconv.Itoa(r.port), "-t", transport,
				"-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin",
				"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
			}, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, bin, r.full...)
			cmd.Dir = dir
			r.out, r.err = cmd.CombinedOutput()
			cancel()
			if r.err != nil && attempt < 3 && strings.Contains(string(r.out), "in use") {
				continue // someone took the port in between
			}
			done <- r
			return
		}
	}()
	return func(t *testing.T) int {
		t.Helper()
		r := <-done
		if r.err != nil {
			msgs, _ := os.ReadFile(filepath.Join(dir, "messages.log"))
			t.Fatalf("sipp %s (%s) failed: %v\nargs: %q\n--- messages:\n%s\n--- output (tail):\n%s",
				scenario, transport, r.err, r.full, msgs, tail(string(r.out), 3000))
		}
		return r.port
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func sippTransports(t *testing.T, f func(t *testing.T, transport string)) {
	for _, tr := range []string{"u1", "t1"} {
		name := map[string]string{"u1": "udp", "t1": "tcp"}[tr]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, tr)
		})
	}
}

func TestSippRegister(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1))
		port := sipp(t, "reg.xml", ts.udp, tr, "-s", "robot1", "-au", "robot1", "-ap", testPassword)
		b, ok := ts.Binding("dev-1")
		if !ok || !b.Registered || b.UserAgent != "sipp-robot" || hostOf(b.Source) != "127.0.0.1" {
			t.Fatalf("binding after sipp: %+v", b)
		}
		if tr == "u1" && b.Source != "127.0.0.1:"+strconv.Itoa(port) {
			t.Fatalf("source %s, want sipp's port %d", b.Source, port)
		}
		if left := time.Until(b.Expires); left < 100*time.Second || left > 121*time.Second {
			t.Fatalf("expires in %v, want 120 s", left)
		}
	})
}

func TestSippWrongPassword(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1))
		sipp(t, "reg_wrong.xml", ts.udp, tr, "-s", "robot1", "-au", "robot1", "-ap", "not-the-password")
		if b, _ := ts.Binding("dev-1"); b.Registered {
			t.Fatalf("registered with a wrong password: %+v", b)
		}
	})
}

func TestSippOptions(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{})
		sipp(t, "options.xml", ts.udp, tr)
	})
}

func TestSippInviteUnregistered(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1))
		sipp(t, "invite_unregistered.xml", ts.udp, tr, "-s", "intruder") // unknown user
		sipp(t, "invite_unregistered.xml", ts.udp, tr, "-s", "robot1")   // known, not registered
	})
}

func TestSippRegisteredRobot(t *testing.T) {
	sippTransports(t, func(t *testing.T, tr string) {
		ts := startServer(t, Config{}, robot(1))
		sipp(t, "robot.xml", ts.udp, tr, "-s", "robot1", "-au", "robot1", "-ap", testPassword)
		b, ok := ts.Binding("dev-1")
		if !ok || b.Registered || b.UserAgent != "sipp-robot" {
			t.Fatalf("binding after register + unregister: %+v", b)
		}
		logs := ts.logs.String()
		for _, want := range []string{"sip device registered", "this server takes no calls", "sip message from device", "sip device unregistered"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q", want)
			}
		}
	})
}

// TestBaresip registers baresip as a robot with digest auth, then stops it
// and expects it to unregister.
func TestBaresip(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, Config{}, robot(1))
			bs := testenv.StartBaresip(t, testenv.BaresipOptions{Registrar: ts.udp, Transport: transport, User: "robot1", Password: testPassword})
			waitFor(t, 10*time.Second, "baresip registered", func() bool {
				b, _ := ts.Binding("dev-1")
				return b.Registered
			})
			b, _ := ts.Binding("dev-1")
			if !strings.Contains(strings.ToLower(b.UserAgent), "baresip") || !strings.EqualFold(b.Transport, transport) ||
				hostOf(b.Source) != "127.0.0.1" || !strings.Contains(b.Contact, "@127.0.0.1:") {
				t.Fatalf("binding: %+v", b)
			}
			if left := time.Until(b.Expires); left < 50*time.Second || left > 61*time.Second {
				t.Fatalf("expires in %v, want regint 60 s", left)
			}

			// a clean stop unregisters
			bs.Stop()
			waitFor(t, 10*time.Second, "baresip unregistered", func() bool {
				b, _ := ts.Binding("dev-1")
				return !b.Registered
			})
			if !strings.Contains(ts.logs.String(), "sip device unregistered") {
				t.Fatal("binding ended without an unregistration")
			}
		})
	}
}
