package media

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMuxIPs(t *testing.T) {
	ifs := []ifaceAddrs{
		{name: "lo", loopback: true, up: true, ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}},
		{name: "eth0", up: true, ips: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fe80::1"), net.ParseIP("2001:db8::5")}},
		{name: "eth1", up: true, ips: []net.IP{net.ParseIP("192.168.1.5")}},
		{name: "down0", up: false, ips: []net.IP{net.ParseIP("172.16.0.5")}},
	}
	tests := []struct {
		name string
		cfg  ICEConfig
		loop bool
		want []string
	}{
		{"all usable, no loopback", ICEConfig{}, false, []string{"10.0.0.5", "2001:db8::5", "192.168.1.5"}},
		{"with loopback", ICEConfig{}, true, []string{"127.0.0.1", "::1", "10.0.0.5", "2001:db8::5", "192.168.1.5"}},
		{"interface filter", ICEConfig{Interfaces: []string{"eth1"}}, false, []string{"192.168.1.5"}},
		{"IP filter keeps loopback when asked", ICEConfig{IPs: []string{"127.0.0.1"}}, true, []string{"127.0.0.1", "::1"}},
		{"IP filter", ICEConfig{IPs: []string{"10.0.0.5"}}, false, []string{"10.0.0.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, ip := range muxIPs(tt.cfg, ifs, tt.loop) {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// candidatePorts lists the ports of the host candidates in an SDP.
func candidatePorts(sdp string) []string {
	var ports []string
	for _, line := range strings.Split(sdp, "\n") {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "a=")); len(f) > 7 && strings.HasPrefix(f[0], "candidate:") {
			ports = append(ports, f[5])
		}
	}
	return ports
}

// TestViewersShareOneSocket: every viewer of the manager is answered with
// the same UDP port (one batched socket for all), both play, and once the
// last one has left the socket is closed.
func TestViewersShareOneSocket(t *testing.T) {
	m, _ := runManager(t, ManagerConfig{ICE: ICEConfig{IPs: []string{"127.0.0.1"}}})
	m.Upsert(CameraConfig{ID: "c", URL: "rtsp://127.0.0.1:1/none", Enabled: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feedFakeCamera(t, ctx, m, "c")
	waitState(t, m, "c", 5*time.Second, "a codec", func(s CameraState) bool { return s.Codec != "" })

	var ports [][]string
	var clients []*whepClient
	for range 2 {
		cl, err := newWHEPClient(t, m, "c", clientOpts{h264: true})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		p := candidatePorts(cl.pc.RemoteDescription().SDP)
		slices.Sort(p)
		ports = append(ports, p)
	}
	// one socket per address (127.0.0.1 and ::1 here), the same for both
	if len(ports[0]) == 0 || !slices.Equal(ports[0], ports[1]) {
		t.Fatalf("candidate ports in the two answers: %v and %v, want the same", ports[0], ports[1])
	}
	for _, cl := range clients {
		cl.waitFrames(t, 5, 10*time.Second)
	}
	for _, cl := range clients {
		if err := m.CloseViewer("c", cl.session); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, m, "c", 5*time.Second, "no viewers", func(s CameraState) bool { return s.Viewers == 0 })
	m.mux.mu.Lock()
	open, refs := m.mux.mux != nil, m.mux.refs
	m.mux.mu.Unlock()
	if open || refs != 0 {
		t.Fatalf("after the last viewer: mux open %v, %d references", open, refs)
	}
}
