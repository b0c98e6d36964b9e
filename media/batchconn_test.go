package media

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

func listenLoopback(t *testing.T, network string) *net.UDPConn {
	t.Helper()
	ip := net.IPv4(127, 0, 0, 1)
	if network == "udp6" {
		ip = net.IPv6loopback
	}
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readNumbered reads n datagrams carrying a big-endian sequence number in
// their first 4 bytes and returns the numbers in arrival order.
func readNumbered(t *testing.T, c *net.UDPConn, n int) []uint32 {
	t.Helper()
	var got []uint32
	buf := make([]byte, 2000)
	for len(got) < n {
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		k, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), n, err)
		}
		got = append(got, binary.BigEndian.Uint32(buf[:k]))
	}
	return got
}

// TestBatchConn: datagrams written to two receivers arrive complete and in
// order per receiver, in fewer system calls than datagrams; a lone datagram
// leaves after the batch delay; Close sends what is still queued.
func TestBatchConn(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			rx := []*net.UDPConn{listenLoopback(t, network), listenLoopback(t, network)}
			for _, r := range rx {
				if err := r.SetReadBuffer(1 << 20); err != nil {
					t.Fatal(err)
				}
			}
			bc := newBatchConn(listenLoopback(t, network), 20*time.Millisecond)
			const n = 300 // several full batches and a partial one
			pkt := make([]byte, 1200)
			for i := range n {
				binary.BigEndian.PutUint32(pkt, uint32(i))
				to := rx[i%2].LocalAddr().(*net.UDPAddr).AddrPort()
				var err error
				if i%3 == 0 { // both write methods
					_, err = bc.WriteTo(pkt, net.UDPAddrFromAddrPort(to))
				} else {
					_, err = bc.WriteToAddrPort(pkt, to)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			for k, r := range rx {
				got := readNumbered(t, r, n/2)
				for i, seq := range got {
					if want := uint32(2*i + k); seq != want {
						t.Fatalf("receiver %d: datagram %d is number %d, want %d", k, i, seq, want)
					}
				}
			}
			if d, s := bc.datagrams.Load(), bc.syscalls.Load(); d != n || s > n/batchSize+1 {
				t.Errorf("%d datagrams in %d sendmmsg calls, want %d in at most %d", d, s, n, n/batchSize+1)
			}

			// one datagram alone: sent by the timer
			binary.BigEndian.PutUint32(pkt, 1000)
			if _, err := bc.WriteToAddrPort(pkt, rx[0].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
				t.Fatal(err)
			}
			if got := readNumbered(t, rx[0], 1); got[0] != 1000 {
				t.Fatalf("got %d, want 1000", got[0])
			}

			// queued at Close: sent before the socket closes
			binary.BigEndian.PutUint32(pkt, 2000)
			if _, err := bc.WriteToAddrPort(pkt, rx[1].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
				t.Fatal(err)
			}
			if err := bc.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readNumbered(t, rx[1], 1); got[0] != 2000 {
				t.Fatalf("got %d, want 2000", got[0])
			}
			if _, err := bc.WriteToAddrPort(pkt, netip.MustParseAddrPort("127.0.0.1:9")); err == nil {
				t.Error("write after Close succeeded")
			}
		})
	}
}

// TestBatchConnSkipsFailedDatagram: a datagram the kernel refuses (here
// one to port 0) is dropped and counted; the ones after it still go.
func TestBatchConnSkipsFailedDatagram(t *testing.T) {
	rx := listenLoopback(t, "udp4")
	bc := newBatchConn(listenLoopback(t, "udp4"), time.Millisecond)
	defer bc.Close()
	pkt := make([]byte, 100)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	for i, dst := range []netip.AddrPort{to, netip.MustParseAddrPort("127.0.0.1:0"), to} {
		binary.BigEndian.PutUint32(pkt, uint32(i))
		if _, err := bc.WriteToAddrPort(pkt, dst); err != nil {
			t.Fatal(err)
		}
	}
	got := readNumbered(t, rx, 2)
	if got[0] != 0 || got[1] != 2 {
		t.Fatalf("got %v, want [0 2]", got)
	}
	if d := bc.dropped.Load(); d != 1 {
		t.Errorf("dropped %d, want 1", d)
	}
}

// TestBatchConnReads: datagrams waiting on the socket are read in batches
// and handed out one by one, in order, with their source address.
func TestBatchConnReads(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			bc := newBatchConn(listenLoopback(t, network), time.Millisecond)
			defer bc.Close()
			tx := listenLoopback(t, network)
			const n = 50
			pkt := make([]byte, 300)
			for i := range n { // all sent before the first read: recvmmsg finds them waiting
				binary.BigEndian.PutUint32(pkt, uint32(i))
				if _, err := tx.WriteToUDPAddrPort(pkt, bc.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
					t.Fatal(err)
				}
			}
			want := tx.LocalAddr().(*net.UDPAddr).AddrPort()
			buf := make([]byte, 2000)
			for i := range n {
				if err := bc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				k, from, err := bc.ReadFromAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if k != len(pkt) || binary.BigEndian.Uint32(buf) != uint32(i) || from != want {
					t.Fatalf("datagram %d: %d bytes, number %d, from %v; want %d bytes, number %d, from %v",
						i, k, binary.BigEndian.Uint32(buf), from, len(pkt), i, want)
				}
			}
			if r := bc.readBatches.Load(); r >= n {
				t.Errorf("%d datagrams in %d recvmmsg calls: not batched", n, r)
			}
		})
	}
}
