package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/sip"
)

// sipCollector exports the SIP server's counters at scrape time.
type sipCollector struct {
	srv                                          *sip.Server
	registered, authFailures, blocked            *prometheus.Desc
	active, started, ended                       *prometheus.Desc
	rtpReceived, rtpLost, rtpDropped, rtpForeign *prometheus.Desc
}

func newSIPCollector(srv *sip.Server) *sipCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("attendant_sip_"+name, help, labels, nil)
	}
	return &sipCollector{
		srv:          srv,
		registered:   d("registered_devices", "Devices with a current registration."),
		authFailures: d("auth_failures_total", "Failed digest authentications (unknown user, wrong password, bad credentials)."),
		blocked:      d("blocked_requests_total", "Requests refused because their source failed authentication too often."),
		active:       d("calls_active", "Calls up now."),
		started:      d("calls_total", "Calls set up, by direction (in: from robots, out: dialled by agents).", "direction"),
		ended:        d("calls_ended_total", "Calls ended, by reason.", "reason"),
		rtpReceived:  d("rtp_received_packets_total", "RTP packets accepted from robots, counted when their call ends."),
		rtpLost:      d("rtp_lost_packets_total", "RTP packets from robots lost on the way (by sequence number), counted when their call ends."),
		rtpDropped:   d("rtp_dropped_packets_total", "RTP packets from robots dropped here (malformed or queue full), counted when their call ends."),
		rtpForeign:   d("rtp_foreign_packets_total", "RTP packets refused because they came from an address not the call's robot, counted when their call ends."),
	}
}

func (c *sipCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.registered, c.authFailures, c.blocked, c.active, c.started, c.ended,
		c.rtpReceived, c.rtpLost, c.rtpDropped, c.rtpForeign} {
		ch <- d
	}
}

func (c *sipCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	n := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	g(c.registered, float64(st.Registered))
	n(c.authFailures, st.AuthFailures)
	n(c.blocked, st.Blocked)
	g(c.active, float64(st.CallsActive))
	n(c.started, st.CallsIn, "in")
	n(c.started, st.CallsOut, "out")
	for reason, v := range st.CallsEnded {
		n(c.ended, v, reason)
	}
	n(c.rtpReceived, st.RTPReceived)
	n(c.rtpLost, st.RTPLost)
	n(c.rtpDropped, st.RTPDropped)
	n(c.rtpForeign, st.RTPForeign)
}
