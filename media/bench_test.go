package media

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkFanout measures the viewer side of forwarding: the stream hands
// each packet to N viewer queues, and N viewer goroutines rewrite the header
// and marshal it (pion's SRTP encryption and UDP send are not included).
// One op is one camera packet; ns/outpkt and allocs/outpkt are per packet
// leaving to one viewer, all goroutines included.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			s := newTestStream(b)
			var ws []*marshalWriter
			var stops []func()
			var vs []*viewer
			for range n {
				w := &marshalWriter{}
				v, stop := startTestViewer(b, s, w)
				ws, stops, vs = append(ws, w), append(stops, stop), append(vs, v)
			}
			pkts := make([]*packet, 250) // 10 s of a 2 Mbit/s stream is ~2,000 packets of 1,200 bytes
			for i := range pkts {
				pkts[i] = &packet{payload: make([]byte, 1200), ts: uint32(i * 3600), marker: i%4 == 3, video: true, keyframe: i == 0}
			}
			waitIdle := func() {
				for _, v := range vs {
					for v.sub.q.len() > 0 {
						runtime.Gosched()
					}
				}
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				s.fanout(pkts[i%len(pkts)])
				if i%128 == 127 { // pace like a camera: never outrun the queues
					waitIdle()
				}
			}
			waitIdle()
			elapsed := time.Since(start)
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			for _, stop := range stops {
				stop()
			}
			var out, drops uint64
			for i, w := range ws {
				out += uint64(w.count)
				drops += vs[i].sub.drops.Load()
			}
			if out == 0 {
				b.Fatal("nothing forwarded")
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(out), "ns/outpkt")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(out), "allocs/outpkt")
			b.ReportMetric(float64(drops), "drops")
		})
	}
}
