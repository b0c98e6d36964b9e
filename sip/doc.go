// Package sip is the SIP side of robot calls: a UDP and TCP listener on one
// address (and optionally a TLS one) and a registrar where robots and intercoms register with digest
// auth (MD5, qop=auth) against their device's SIP credentials.
//
// Nonces are stateless (issue time, random bytes and an HMAC), so a restart
// or an old nonce only costs the client a 401 with stale=true. Repeated
// authentication failures from one IP get 403 without a challenge for a
// while. Requests other than REGISTER and OPTIONS are accepted only from a
// registered device calling from the address it registered from.
//
// Calls from registered devices go to a CallHandler (Config.Calls), one
// goroutine per call like an http.Handler: it rings, answers or rejects,
// and moves raw RTP of the negotiated codec (G.711 µ-law, A-law or Opus)
// with ReadRTP and WriteRTP, so a bridge can hand it to WebRTC without
// transcoding. Each call has one goroutine that owns its state (ringing,
// answered, confirmed, ended) and answers CANCEL, BYE, hold and resume
// re-INVITEs in its dialog; DTMF (RFC 4733) comes as events. Session
// timers (RFC 4028) hang up calls whose robot went away. Dial calls a
// registered robot and returns the same *Call once it answers. SendMessage
// sends robots SIP MESSAGEs. docs/sip-calls.md has the call flow.
//
// The package imports no other package of this module.
package sip
