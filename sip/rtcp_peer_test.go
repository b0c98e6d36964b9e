package sip

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// rtcpCapture reads what arrives on a plain UDP socket playing the
// robot's media port: RTCP compounds (and, with rtcp-mux, RTP too).
type rtcpCapture struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
	mu   sync.Mutex
	pkts [][]rtcp.Packet
	rtp  int
}

func captureUDP(t *testing.T) *rtcpCapture {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &rtcpCapture{conn: conn}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n >= 2 && buf[1] >= 200 && buf[1] <= 204 { // SR, RR, SDES, BYE, APP
				if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
					c.mu.Lock()
					c.pkts = append(c.pkts, pkts)
					c.mu.Unlock()
				}
				continue
			}
			c.mu.Lock()
			c.rtp++
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); c.wg.Wait() })
	return c
}

func (c *rtcpCapture) port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

// find returns the last captured SR matching ok, with its CNAME.
func (c *rtcpCapture) find(ok func(sr *rtcp.SenderReport) bool) (*rtcp.SenderReport, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.pkts) - 1; i >= 0; i-- {
		var sr *rtcp.SenderReport
		cname := ""
		for _, p := range c.pkts[i] {
			switch p := p.(type) {
			case *rtcp.SenderReport:
				sr = p
			case *rtcp.SourceDescription:
				for _, ch := range p.Chunks {
					for _, it := range ch.Items {
						if it.Type == rtcp.SDESCNAME {
							cname = it.Text
						}
					}
				}
			}
		}
		if sr != nil && ok(sr) {
			return sr, cname
		}
	}
	return nil, ""
}

func (c *rtcpCapture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pkts)
}

// TestSippRTCP: sipp signals a call whose media ports are plain sockets
// of the test. The test sends jittered RTP with gaps; our SR counts what
// the handler sent, our report block has the robot's highest sequence
// number, its loss and a jitter; the robot's SR/RR come back as Stats with
// an RTT, and our RTCP follows the robot's RTCP source (symmetric).
func TestSippRTCP(t *testing.T) {
	for _, mux := range []bool{false, true} {
		name := map[bool]string{false: "a=rtcp", true: "rtcp-mux"}[mux]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const ourSSRC, robotSSRC, ourCount = 0x5eed0004, 0x0b0b0004, 60
			answered := make(chan *Call, 1)
			sentAll := make(chan struct{})
			rec := newCallRecorder(func(ctx context.Context, c *Call) {
				_ = c.Ring()
				if c.Answer(ctx) != nil {
					return
				}
				answered <- c
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for i := range ourCount {
					<-tick.C
					_ = c.WriteRTP(rtpPacket(0, uint16(500+i), uint32(160*i), ourSSRC, make([]byte, 160)))
				}
				close(sentAll)
				<-ctx.Done()
			})
			ts := startServer(t, Config{Calls: rec, RTCPInterval: 200 * time.Millisecond}, robot(1))
			rtpCap, rtcpCap := captureUDP(t), captureUDP(t)
			attr := "a=rtcp:" + strconv.Itoa(rtcpCap.port())
			if mux {
				attr, rtcpCap = "a=rtcp-mux", rtpCap
			}
			wait := sippAsync(t, t.TempDir(), "call_rtcp.xml", ts.udp, "u1", "-d", "10000",
				"-key", "rtp_port", strconv.Itoa(rtpCap.port()), "-key", "rtcp_attr", attr,
				"-s", "robot1", "-au", "robot1", "-ap", testPassword)
			var c *Call
			select {
			case c = <-answered:
			case <-time.After(10 * time.Second):
				t.Fatal("call not answered")
			}
			ourRTP := net.UDPAddrFromAddrPort(c.LocalRTPAddr())
			ourRTCP := net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.LocalRTPAddr().Addr(), c.LocalRTPAddr().Port()+1))
			if mux {
				ourRTCP = ourRTP
			}

			// the robot's stream: 100 packets from seq 65500 (it wraps),
			// three lost, sent early and late in turn
			const first, n = 65500, 100
			lost := map[int]bool{10: true, 40: true, 70: true}
			for i := range n {
				if !lost[i] {
					p := rtpPacket(0, uint16(first+i), uint32(160*i), robotSSRC, make([]byte, 160))
					if _, err := rtpCap.conn.WriteToUDP(p, ourRTP); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(time.Duration(10+20*(i%2)) * time.Millisecond)
			}
			<-sentAll
			wantExt := uint32(first + n - 1) // 65599: one wrap
			var sr *rtcp.SenderReport
			var cname string
			waitFor(t, 5*time.Second, "our SR with every packet counted", func() bool {
				sr, cname = rtcpCap.find(func(sr *rtcp.SenderReport) bool {
					return sr.SSRC == ourSSRC && sr.PacketCount == ourCount && len(sr.Reports) == 1 &&
						sr.Reports[0].LastSequenceNumber == wantExt
				})
				return sr != nil
			})
			b := sr.Reports[0]
			if sr.OctetCount != ourCount*160 || b.SSRC != robotSSRC || b.TotalLost != 3 || b.Jitter == 0 || cname == "" {
				t.Fatalf("SR %+v, CNAME %q: want %d octets, a block about %x with 3 lost and a jitter",
					sr, cname, ourCount*160, robotSSRC)
			}
			st := c.Stats()
			if st.PacketsSent != ourCount || st.PacketsReceived != n-3 || st.PacketsLost != 3 || st.Jitter == 0 {
				t.Fatalf("Stats %+v", st)
			}

			// the robot reports back, from another port: our RTCP follows it
			from := rtcpCap
			if !mux {
				from = captureUDP(t)
			}
			robotNTP := ntpTime(time.Now())
			report, err := rtcp.Marshal([]rtcp.Packet{
				&rtcp.SenderReport{SSRC: robotSSRC, NTPTime: robotNTP, PacketCount: n - 3, OctetCount: (n - 3) * 160,
					Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC, FractionLost: 26, TotalLost: 6,
						LastSequenceNumber: 500 + ourCount - 1, Jitter: 16, LastSenderReport: ntpMiddle(sr.NTPTime)}}},
				&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: robotSSRC,
					Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "robot1"}}}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			before := from.count()
			if _, err := from.conn.WriteToUDP(report, ourRTCP); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the robot's report in Stats", func() bool { return c.Stats().RTTKnown })
			st = c.Stats()
			if st.RemotePacketsLost != 6 || st.RemoteFractionLost != 26.0/256 || st.RemoteJitter != 2*time.Millisecond ||
				st.RemoteHighestSeq != 500+ourCount-1 || st.RemotePacketsSent != n-3 || st.RTT <= 0 || st.RTT > 10*time.Second {
				t.Fatalf("Stats after the robot's report: %+v", st)
			}
			waitFor(t, 5*time.Second, "our report echoing the robot's SR at its RTCP source", func() bool {
				sr, _ := from.find(func(sr *rtcp.SenderReport) bool {
					return len(sr.Reports) == 1 && sr.Reports[0].LastSenderReport == ntpMiddle(robotNTP)
				})
				return sr != nil && from.count() > before
			})

			waitDone(t, c, EndRemoteBye)
			wait(t)
			if rtpCap.rtpCount() < ourCount/2 {
				t.Fatalf("the robot's RTP socket got %d of our RTP packets", rtpCap.rtpCount())
			}
			waitFor(t, 5*time.Second, "an RTCP BYE from us at the end", func() bool {
				from.mu.Lock()
				defer from.mu.Unlock()
				for _, pkts := range from.pkts {
					for _, p := range pkts {
						if bye, ok := p.(*rtcp.Goodbye); ok && len(bye.Sources) == 1 && bye.Sources[0] == ourSSRC {
							return true
						}
					}
				}
				return false
			})
		})
	}
}

func (c *rtcpCapture) rtpCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rtp
}
