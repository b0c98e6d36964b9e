// Package bench holds the camera benchmark harness: a real ffmpeg camera, a
// media.Manager answering WHEP on loopback and pion viewers in a child
// process, measured with go test -bench (see README.md and
// docs/benchmarks.md). It has no code outside its tests.
package bench
