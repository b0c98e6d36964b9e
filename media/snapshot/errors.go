package snapshot

import "errors"

var (
	// ErrFFmpegMissing is returned by New when the ffmpeg binary cannot be
	// found or is not executable.
	ErrFFmpegMissing = errors.New("ffmpeg not found")
	// ErrInvalidKeyframe is returned for a keyframe that cannot be decoded
	// as given: unknown codec or no data.
	ErrInvalidKeyframe = errors.New("invalid keyframe")
	// ErrDecode is returned when ffmpeg fails on a keyframe; the error text
	// carries what ffmpeg printed on stderr.
	ErrDecode = errors.New("decode keyframe")
	// ErrInvalidOutput is returned when ffmpeg's output is not a complete
	// JPEG of the keyframe's dimensions.
	ErrInvalidOutput = errors.New("invalid snapshot output")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("snapshotter closed")
)
