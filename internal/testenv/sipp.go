package testenv

import (
	"strconv"
	"strings"
)

// SippCallPCMU is the calling part of a sipp robot's scenario, shared by
// the end-to-end tests and the call benchmark: an INVITE offering PCMU and
// RFC 4733 telephone-event from user (a sipp keyword such as "[service]"
// or "[field0]"), 100 (optional), 180 and 200 with the route set recorded,
// the ACK, then tone.wav (in sipp's working directory) looped as RTP.
// inviteAttrs and okAttrs are added to the INVITE's <send> and to the
// 200's <recv>: rtd timing (start_rtd="setup", rtd="setup") or a timeout.
func SippCallPCMU(user, inviteAttrs, okAttrs string) string {
	r := strings.NewReplacer("{user}", user, "{invite}", attrs(inviteAttrs), "{ok}", attrs(okAttrs))
	return r.Replace(`
  <send retrans="500"{invite}>
    <![CDATA[

      INVITE sip:desk@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag01[call_number]
      To: <sip:desk@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{user}@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <recv response="200" rrs="true"{ok}/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag01[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec rtp_stream="tone.wav,-1,0"/>
    </action>
  </nop>
`)
}

// SippRegister is the start of a sipp robot's scenario: a REGISTER as
// [service] (sipp's -s), the 401 challenge, the REGISTER again with digest
// credentials (-au, -ap) and its 200. expires is the Expires asked for.
func SippRegister(expires int) string {
	register := func(cseq, auth string) string {
		return strings.NewReplacer("{cseq}", cseq, "{auth}", auth, "{expires}", strconv.Itoa(expires)).Replace(`  <send retrans="500">
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>{auth}
      Max-Forwards: 70
      Expires: {expires}
      User-Agent: sipp-robot
      Content-Length: 0

    ]]>
  </send>
`)
	}
	return register("1", "") + `  <recv response="401" auth="true"/>
` + register("2", "\n      [authentication]") + `  <recv response="200"/>
`
}

func attrs(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}
