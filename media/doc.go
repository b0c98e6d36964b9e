// Package media pulls cameras in over RTSP and fans their video (and audio in
// a browser codec) out to WebRTC viewers that connect with WHEP.
//
// One ingest goroutine per enabled camera (gortsplib client, TCP, UDP or
// automatic; reconnecting with exponential backoff and jitter; reconnecting
// when packets stall) feeds one stream. The stream decodes video from RTP
// into access units once, keeps the parameter sets and puts them in front of
// every keyframe that lacks them, re-packetizes the access units once
// (payloads of at most 1,200 bytes) into shared immutable packets and keeps
// the GOP since the last keyframe and the last keyframe itself (Keyframe).
//
// Each viewer has its own bounded queue and goroutine: a slow viewer drops
// (up to the next keyframe, counted) and never blocks the camera or the other
// viewers. A viewer writes shared packets under a header of its own (SSRC,
// payload type, its own contiguous sequence numbers, timestamps continuous
// across camera reconnects), so forwarding allocates nothing in this package.
//
// Start-up: once the viewer's connection is up (and SRTP with it: pion drops
// earlier writes), it is sent the cached GOP at once, its timestamps squeezed
// to 1 ms per frame so the browser shows it immediately instead of playing it
// a GOP behind live. A keyframe request (PLI/FIR) resends the cached GOP, at
// most once a second, since an RTSP camera cannot be asked for a keyframe.
// Audio travels in a media stream of its own: grouped with the video for lip
// sync, Chromium holds the first frames back about 350 ms.
//
// Sending: every viewer of the manager shares one UDP socket per local
// address (pion's ICE UDP mux over a batchConn), whose writes leave in
// sendmmsg batches of up to 64 datagrams, held at most 1 ms; the socket
// exists while there are viewers. NACKs are answered by each viewer from the
// last 256 video packets it sent, kept as references to the shared packets.
//
// The package imports no other package of this module.
package media
