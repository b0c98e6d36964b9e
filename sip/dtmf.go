package sip

import (
	"errors"
	"time"
)

// telephoneEvent is the payload of one RFC 4733 telephone-event packet
// (section 2.3): event, end bit, volume and duration so far.
type telephoneEvent struct {
	event    uint8
	end      bool
	volume   uint8  // -dBm0, 0..63
	duration uint16 // in RTP clock units
}

var errShortEvent = errors.New("telephone-event payload shorter than 4 bytes")

// parseTelephoneEvent reads the first event of an RFC 4733 payload; later
// ones are redundant copies of earlier events (section 2.6).
func parseTelephoneEvent(p []byte) (telephoneEvent, error) {
	if len(p) < 4 {
		return telephoneEvent{}, errShortEvent
	}
	return telephoneEvent{
		event:    p[0],
		end:      p[1]&0x80 != 0,
		volume:   p[1] & 0x3f,
		duration: uint16(p[2])<<8 | uint16(p[3]),
	}, nil
}

// dtmfDigit maps RFC 4733 events 0..15 to their digits; ok is false for
// anything else (flash, tones we do not report).
func dtmfDigit(event uint8) (rune, bool) {
	const digits = "0123456789*#ABCD"
	if int(event) < len(digits) {
		return rune(digits[event]), true
	}
	return 0, false
}

// dtmfDetector turns a stream of telephone-event packets into one report
// per key press. All packets of an event share its RTP timestamp; the end
// packet is sent three times (RFC 4733 section 2.5.1.4), so an event is
// reported at its first end packet and never again. An event whose end
// packets were all lost is reported when the next one starts.
type dtmfDetector struct {
	active   bool   // an event is in progress or was seen
	ts       uint32 // its RTP timestamp
	reported bool
	last     telephoneEvent
}

// dtmfPress is one key press.
type dtmfPress struct {
	digit    rune
	duration uint16 // RTP clock units
}

// packet feeds one telephone-event packet with its RTP timestamp and
// returns the presses it completes (at most two: a lost end, then this).
func (d *dtmfDetector) packet(ts uint32, payload []byte) []dtmfPress {
	ev, err := parseTelephoneEvent(payload)
	if err != nil {
		return nil
	}
	var out []dtmfPress
	if d.active && ts != d.ts {
		if !d.reported {
			out = appendPress(out, d.last)
		}
		d.active = false
	}
	if !d.active {
		d.active, d.ts, d.reported = true, ts, false
	}
	if d.reported {
		return out // a retransmitted end, or a late packet of a reported event
	}
	d.last = ev
	if ev.end {
		d.reported = true
		out = appendPress(out, ev)
	}
	return out
}

func appendPress(out []dtmfPress, ev telephoneEvent) []dtmfPress {
	if r, ok := dtmfDigit(ev.event); ok {
		out = append(out, dtmfPress{digit: r, duration: ev.duration})
	}
	return out
}

// clockDuration converts RTP clock units to a duration.
func clockDuration(units uint32, rate uint32) time.Duration {
	if rate == 0 {
		return 0
	}
	return time.Duration(units) * time.Second / time.Duration(rate)
}
