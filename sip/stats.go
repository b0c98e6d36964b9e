package sip

import (
	"maps"
	"sync/atomic"
)

// ServerStats are the SIP server's counters for operators (/metrics): are
// the robots registered, is someone guessing passwords, how are the calls
// and their mobile links doing.
type ServerStats struct {
	// Registered counts devices with a current registration.
	Registered int
	// AuthFailures counts failed digest authentications (unknown user,
	// wrong password, malformed or unsupported credentials); Blocked the
	// requests refused because their source failed too often.
	AuthFailures, Blocked uint64

	// CallsActive counts calls up now; CallsIn and CallsOut the calls set
	// up so far, from robots and dialled by agents.
	CallsActive       int
	CallsIn, CallsOut uint64
	// CallsEnded counts ended calls by end reason (the End* constants).
	CallsEnded map[string]uint64

	// The media of ended calls: the robots' RTP packets accepted, lost on
	// the way (by their sequence numbers), dropped by us (queue full or
	// malformed) and refused from foreign addresses.
	RTPReceived, RTPLost, RTPDropped, RTPForeign uint64
}

// serverCounters are the ServerStats that are counted as things happen.
// The call totals change under Server.callsMu, with the calls map.
type serverCounters struct {
	authFailures, blocked atomic.Uint64

	callsIn, callsOut                            uint64
	callsEnded                                   map[string]uint64
	rtpReceived, rtpLost, rtpDropped, rtpForeign uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{AuthFailures: s.counters.authFailures.Load(), Blocked: s.counters.blocked.Load()}
	for _, b := range s.reg.all(s.now()) {
		if b.Registered {
			st.Registered++
		}
	}
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	c := &s.counters
	st.CallsActive = len(s.calls)
	st.CallsIn, st.CallsOut = c.callsIn, c.callsOut
	st.CallsEnded = maps.Clone(c.callsEnded)
	if st.CallsEnded == nil {
		st.CallsEnded = map[string]uint64{}
	}
	st.RTPReceived, st.RTPLost, st.RTPDropped, st.RTPForeign = c.rtpReceived, c.rtpLost, c.rtpDropped, c.rtpForeign
	return st
}

// countEndedLocked adds an ended call to the totals; s.callsMu is held.
func (s *Server) countEndedLocked(c *Call) {
	n := &s.counters
	if n.callsEnded == nil {
		n.callsEnded = map[string]uint64{}
	}
	n.callsEnded[c.EndReason()]++
	n.rtpReceived += c.media.received.Load()
	n.rtpDropped += c.media.dropped.Load()
	n.rtpForeign += c.media.foreign.Load()
	if lost := c.Stats().PacketsLost; lost > 0 {
		n.rtpLost += uint64(lost)
	}
}
