// Package sip is the SIP side of robot calls: a UDP and TCP listener on one
// address and a registrar where robots and intercoms register with digest
// auth (MD5, qop=auth) against their device's SIP credentials.
//
// Nonces are stateless (issue time, random bytes and an HMAC), so a restart
// or an old nonce only costs the client a 401 with stale=true. Repeated
// authentication failures from one IP get 403 without a challenge for a
// while. Requests other than REGISTER and OPTIONS are accepted only from a
// registered device calling from the address it registered from; calls
// themselves come in a later version (INVITE gets 480 for now).
//
// The package imports no other package of this module.
package sip
