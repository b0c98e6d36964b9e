package sip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Codec is the audio codec of a call, as negotiated with the robot. The
// bridge offers exactly this codec to the agent's browser, so media passes
// through without transcoding.
type Codec struct {
	// Name is "PCMU", "PCMA" or "opus".
	Name string
	// PayloadType is the RTP payload type the robot uses for it (the one
	// of its offer).
	PayloadType uint8
	// ClockRate is the RTP clock rate: 8000 for G.711, 48000 for Opus.
	ClockRate uint32
	// Channels is 1 for G.711, 2 for Opus (as SDP writes it).
	Channels uint16
	// DTMFPayloadType is the RFC 4733 telephone-event payload type, 0 when
	// the robot offered none.
	DTMFPayloadType uint8
}

// direction is an SDP media direction attribute.
type direction string

const (
	sendrecv direction = "sendrecv"
	sendonly direction = "sendonly"
	recvonly direction = "recvonly"
	inactive direction = "inactive"
)

// answer is our direction for a remote one (RFC 3264 section 6.1).
func (d direction) answer() direction {
	switch d {
	case sendonly:
		return recvonly
	case recvonly:
		return sendonly
	case inactive:
		return inactive
	}
	return sendrecv
}

// held is true when the remote side put us on hold: it stopped listening
// to us (sendonly) or stopped media altogether (inactive).
func (d direction) held() bool { return d == sendonly || d == inactive }

// remoteSends is true when the remote side sends media in this direction.
func (d direction) remoteSends() bool { return d == sendrecv || d == sendonly }

// mline is one m= line of an offer, kept to answer it (RFC 3264 section 6:
// the answer has as many m= lines as the offer).
type mline struct {
	media, proto, format string
}

// offer is what we take from a remote SDP offer.
type offer struct {
	codec Codec
	// fmtp of the chosen codec as offered ("" for none).
	fmtp string
	// addr is where the robot wants RTP: c= and m= of the audio stream.
	// Not valid for the RFC 2543 hold address 0.0.0.0.
	addr    netip.AddrPort
	dir     direction
	rtcpMux bool
	// rtcpAddr is the a=rtcp address (RFC 3605), invalid when absent
	rtcpAddr netip.AddrPort
	ptime    int
	audio    int // index of the audio stream in mlines
	mlines   []mline
	originID string // o= session id, to tell a new offer from a repeated one
}

// offerError is a refused offer: 400 for an unparsable one, 488 when we
// share no codec with it.
type offerError struct {
	code    int
	warning string // for the Warning header of a 488
	err     error
}

func (e *offerError) Error() string { return e.err.Error() }
func (e *offerError) Unwrap() error { return e.err }

func badSDP(format string, args ...any) error {
	return &offerError{code: 400, err: fmt.Errorf("bad sdp: "+format, args...)}
}

func noCodec(warning string) error {
	return &offerError{code: 488, warning: warning, err: fmt.Errorf("sdp offer refused: %s", warning)}
}

// maxSDP bounds an SDP body we parse.
const maxSDP = 16 << 10

// codecPref is a codec we take.
type codecPref struct {
	name     string
	rate     uint32
	channels uint16
	static   int // static payload type, -1 for none
}

// codecPreference lists the codecs we take, best first: G.711 needs no
// decoding anywhere and every browser has it; Opus only when the robot
// offers no G.711.
func codecPreference() []codecPref {
	return []codecPref{{"PCMU", 8000, 1, 0}, {"PCMA", 8000, 1, 8}, {"opus", 48000, 2, -1}}
}

// parseOffer reads an SDP offer and picks the codec of its first usable
// audio stream.
func parseOffer(body []byte) (offer, error) {
	if len(body) == 0 {
		return offer{}, noCodec("no SDP offer (delayed offer is not supported)")
	}
	if len(body) > maxSDP {
		return offer{}, badSDP("%d bytes", len(body))
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return offer{}, badSDP("%v", err)
	}
	o := offer{dir: sendrecv, audio: -1, ptime: 20}
	o.originID = strconv.FormatUint(sd.Origin.SessionID, 10) + "/" + strconv.FormatUint(sd.Origin.SessionVersion, 10)
	for _, a := range sd.Attributes {
		if d, ok := dirAttr(a.Key); ok {
			o.dir = d
		}
	}
	reason := "no audio stream"
	for i, md := range sd.MediaDescriptions {
		if md == nil {
			return offer{}, badSDP("empty media description")
		}
		format := "0"
		if len(md.MediaName.Formats) > 0 {
			format = md.MediaName.Formats[0]
		}
		proto := strings.Join(md.MediaName.Protos, "/")
		o.mlines = append(o.mlines, mline{media: md.MediaName.Media, proto: proto, format: format})
		if o.audio >= 0 || md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if proto != "RTP/AVP" && proto != "RTP/AVPF" {
			reason = "only plain RTP/AVP audio is supported (no SRTP)"
			continue
		}
		c, fmtp, ok := pickCodec(md)
		if !ok {
			reason = "no common codec (PCMU, PCMA or opus)"
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil || ci.NetworkType != "IN" {
			return offer{}, badSDP("audio stream without a connection address")
		}
		host, _, _ := strings.Cut(ci.Address.Address, "/") // multicast TTL
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return offer{}, badSDP("connection address %q is not an IP address", clip(host, 64))
		}
		if md.MediaName.Port.Value < 1 || md.MediaName.Port.Value > 65535 {
			return offer{}, badSDP("port %d", md.MediaName.Port.Value)
		}
		if !ip.IsUnspecified() {
			o.addr = netip.AddrPortFrom(ip.Unmap(), uint16(md.MediaName.Port.Value))
		}
		for _, a := range md.Attributes {
			if d, ok := dirAttr(a.Key); ok {
				o.dir = d
			}
			switch a.Key {
			case "rtcp-mux":
				o.rtcpMux = true
			case "rtcp":
				o.rtcpAddr = parseRTCPAttr(a.Value, ip)
			case "ptime":
				if n, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil && n >= 10 && n <= 120 {
					o.ptime = n
				}
			}
		}
		if ip.IsUnspecified() && o.dir == sendrecv {
			// RFC 2543 hold: c=0.0.0.0 means "do not send to me"
			o.dir = sendonly
		}
		o.codec, o.fmtp, o.audio = c, fmtp, i
	}
	if o.audio < 0 {
		return offer{}, noCodec(reason)
	}
	return o, nil
}

// parseRTCPAttr reads "port [IN IP4|IP6 address]" (RFC 3605); without an
// address the stream's own IP (def) is meant. Invalid on any error.
func parseRTCPAttr(v string, def netip.Addr) netip.AddrPort {
	f := strings.Fields(v)
	if len(f) == 0 {
		return netip.AddrPort{}
	}
	port, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}
	}
	ip := def
	if len(f) >= 4 && f[1] == "IN" {
		a, err := netip.ParseAddr(f[3])
		if err != nil {
			return netip.AddrPort{}
		}
		ip = a
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port))
}

func dirAttr(key string) (direction, bool) {
	switch d := direction(key); d {
	case sendrecv, sendonly, recvonly, inactive:
		return d, true
	}
	return "", false
}

// rtpmap is one a=rtpmap of a media description.
type rtpmap struct {
	name     string
	rate     uint32
	channels uint16
}

// pickCodec returns the best codec of our preference among the formats of
// md, with the telephone-event of the same clock rate if offered.
func pickCodec(md *sdp.MediaDescription) (Codec, string, bool) {
	maps := make(map[uint8]rtpmap)
	fmtps := make(map[uint8]string)
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" && a.Key != "fmtp" {
			continue
		}
		ptStr, rest, _ := strings.Cut(strings.TrimSpace(a.Value), " ")
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if err != nil {
			continue
		}
		if a.Key == "fmtp" {
			fmtps[uint8(pt)] = strings.TrimSpace(rest)
			continue
		}
		parts := strings.Split(strings.TrimSpace(rest), "/")
		if len(parts) < 2 {
			continue
		}
		rate, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			continue
		}
		m := rtpmap{name: parts[0], rate: uint32(rate), channels: 1}
		if len(parts) > 2 {
			ch, err := strconv.ParseUint(parts[2], 10, 16)
			if err != nil || ch == 0 {
				continue
			}
			m.channels = uint16(ch)
		}
		maps[uint8(pt)] = m
	}
	var pts []uint8
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err == nil {
			pts = append(pts, uint8(pt))
		}
	}
	for _, want := range codecPreference() {
		for _, pt := range pts {
			m, ok := maps[pt]
			if !ok {
				if int(pt) != want.static {
					continue
				}
				m = rtpmap{name: want.name, rate: want.rate, channels: want.channels}
			}
			if !strings.EqualFold(m.name, want.name) || m.rate != want.rate {
				continue
			}
			if want.name == "opus" && m.channels != 2 {
				continue // RFC 7587: always opus/48000/2
			}
			if want.name != "opus" && m.channels != 1 {
				continue
			}
			c := Codec{Name: want.name, PayloadType: pt, ClockRate: want.rate, Channels: want.channels}
			for _, dpt := range pts {
				if d, ok := maps[dpt]; ok && strings.EqualFold(d.name, "telephone-event") && d.rate == want.rate && dpt != pt {
					c.DTMFPayloadType = dpt
					break
				}
			}
			return c, fmtps[pt], true
		}
	}
	return Codec{}, "", false
}

// answerParams is what our side of an answer needs.
type answerParams struct {
	ip      netip.Addr // for o= and c=
	port    int        // our RTP port
	session uint64     // o= session id, fixed for the call
	version uint64     // o= version, incremented for each new answer
	dir     direction  // our direction
}

// buildAnswer writes our SDP answer to o: the chosen codec and
// telephone-event on the audio stream, every other stream refused with
// port 0.
func buildAnswer(o offer, p answerParams) []byte {
	ipv := "IP4"
	if p.ip.Is6() && !p.ip.Is4In6() {
		ipv = "IP6"
	}
	ip := p.ip.Unmap().String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=attendant %d %d IN %s %s\r\ns=attendant\r\nc=IN %s %s\r\nt=0 0\r\n",
		p.session, p.version, ipv, ip, ipv, ip)
	for i, m := range o.mlines {
		if i != o.audio {
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", m.media, m.proto, m.format)
			continue
		}
		c := o.codec
		fmt.Fprintf(&b, "m=audio %d %s %d", p.port, m.proto, c.PayloadType)
		if c.DTMFPayloadType != 0 {
			fmt.Fprintf(&b, " %d", c.DTMFPayloadType)
		}
		b.WriteString("\r\n")
		if c.Channels > 1 {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d/%d\r\n", c.PayloadType, c.Name, c.ClockRate, c.Channels)
		} else {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PayloadType, c.Name, c.ClockRate)
		}
		if c.Name == "opus" {
			fmt.Fprintf(&b, "a=fmtp:%d minptime=10;useinbandfec=1\r\n", c.PayloadType)
		}
		if c.DTMFPayloadType != 0 {
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\n",
				c.DTMFPayloadType, c.ClockRate, c.DTMFPayloadType)
		}
		fmt.Fprintf(&b, "a=ptime:%d\r\n", o.ptime)
		if o.rtcpMux {
			b.WriteString("a=rtcp-mux\r\n")
		}
		fmt.Fprintf(&b, "a=%s\r\n", p.dir)
	}
	return []byte(b.String())
}
