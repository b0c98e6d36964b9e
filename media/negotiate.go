package media

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// offerCodec is one codec of an SDP offer, with the offer's payload type and
// fmtp line so that the answer matches it exactly.
type offerCodec struct {
	pt       uint8
	name     string // upper case: H264, H265, PCMU, PCMA, OPUS
	clock    uint32
	channels uint16
	fmtp     string
}

func (c offerCodec) params() webrtc.RTPCodecParameters {
	kind := "video/"
	if c.name == "PCMU" || c.name == "PCMA" || c.name == "OPUS" {
		kind = "audio/"
	}
	mime := kind + c.name
	if c.name == "OPUS" {
		mime = webrtc.MimeTypeOpus
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mime, ClockRate: c.clock, Channels: c.channels, SDPFmtpLine: c.fmtp,
		},
		PayloadType: webrtc.PayloadType(c.pt),
	}
}

// fmtpValue returns one parameter of an fmtp line ("" when absent).
func (c offerCodec) fmtpValue(key string) string {
	for _, kv := range strings.Split(c.fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// offer is what matters of a viewer's SDP offer.
type offer struct {
	video []offerCodec // in the offer's order of preference
	audio []offerCodec
}

// parseOffer reads the first video and audio sections of an SDP offer.
func parseOffer(raw string) (*offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	o := &offer{}
	var sawVideo, sawAudio bool
	for _, md := range sd.MediaDescriptions {
		switch md.MediaName.Media {
		case "video":
			if !sawVideo {
				o.video, sawVideo = offerCodecs(md), true
			}
		case "audio":
			if !sawAudio {
				o.audio, sawAudio = offerCodecs(md), true
			}
		}
	}
	if !sawVideo {
		return nil, fmt.Errorf("%w: no video section", ErrBadOffer)
	}
	return o, nil
}

func offerCodecs(md *sdp.MediaDescription) []offerCodec {
	byPT := map[uint8]*offerCodec{}
	var order []uint8
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		if _, dup := byPT[uint8(pt)]; !dup {
			byPT[uint8(pt)] = &offerCodec{pt: uint8(pt)}
			order = append(order, uint8(pt))
		}
	}
	for _, a := range md.Attributes {
		ptStr, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if err != nil {
			continue
		}
		c := byPT[uint8(pt)]
		if c == nil {
			continue
		}
		switch a.Key {
		case "rtpmap":
			parts := strings.Split(strings.TrimSpace(rest), "/")
			c.name = strings.ToUpper(parts[0])
			if len(parts) > 1 {
				n, _ := strconv.ParseUint(parts[1], 10, 32)
				c.clock = uint32(n)
			}
			if len(parts) > 2 {
				n, _ := strconv.ParseUint(parts[2], 10, 16)
				c.channels = uint16(n)
			}
		case "fmtp":
			c.fmtp = strings.TrimSpace(rest)
		}
	}
	out := make([]offerCodec, 0, len(order))
	for _, pt := range order {
		if c := byPT[pt]; c.name != "" {
			out = append(out, *c)
		}
	}
	return out
}

// h264Rank orders H264 profiles by what a decoder of that profile can
// decode: constrained baseline < baseline < main < high < high 10 < high
// 4:2:2 < high 4:4:4.
func h264Rank(profile, constraints byte) int {
	switch profile {
	case 66:
		if constraints&0x40 != 0 {
			return 0 // constrained baseline
		}
		return 1
	case 77, 88:
		if constraints&0x40 != 0 && constraints&0x80 != 0 {
			return 0 // constraint_set0+1: decodable as constrained baseline
		}
		return 2
	case 100:
		return 3
	case 110:
		return 4
	case 122:
		return 5
	case 244:
		return 6
	default:
		return 3
	}
}

// chooseVideo picks the offered codec for the camera's video: for H264 one in
// packetization-mode 1 whose profile matches the camera's SPS, else one that
// can decode it (a higher profile), else the first in packetization-mode 1
// (browsers decode more than they negotiate). Ties go to the offer's order.
func chooseVideo(o *offer, codec string, sps []byte) (offerCodec, error) {
	if codec == CodecH265 {
		for _, c := range o.video {
			if c.name == "H265" && c.clock == 90000 {
				return c, nil
			}
		}
		return offerCodec{}, fmt.Errorf("%w: camera sends H265", ErrCodecNotOffered)
	}
	camProfile, camCons, _, haveSPS := h264Profile(sps)
	best, bestScore := -1, -1
	for i, c := range o.video {
		if c.name != "H264" || c.clock != 90000 || c.fmtpValue("packetization-mode") != "1" {
			continue
		}
		score := 1
		if plid, err := hex.DecodeString(c.fmtpValue("profile-level-id")); err == nil && len(plid) == 3 && haveSPS {
			switch {
			case plid[0] == camProfile && h264Rank(plid[0], plid[1]) == h264Rank(camProfile, camCons):
				score = 3
			case h264Rank(plid[0], plid[1]) >= h264Rank(camProfile, camCons):
				score = 2
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return offerCodec{}, fmt.Errorf("%w: no H264 with packetization-mode=1", ErrCodecNotOffered)
	}
	return o.video[best], nil
}

// chooseAudio picks the offered codec equal to the camera's audio, if any.
func chooseAudio(o *offer, v videoInfo) *offerCodec {
	if !v.audioForward {
		return nil
	}
	want := strings.ToUpper(v.audio)
	for _, c := range o.audio {
		if c.name != want {
			continue
		}
		if want == "OPUS" || (int(c.clock) == v.audioClock && max(c.channels, 1) == uint16(max(v.audioChannels, 1))) {
			return &c
		}
	}
	return nil
}
