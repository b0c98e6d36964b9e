package mux

import "errors"

var (
	// ErrUnsupportedCodec is returned for a codec other than CodecH264 and CodecH265.
	ErrUnsupportedCodec = errors.New("unsupported codec")

	// ErrBadParams is returned when the parameter sets are missing or cannot be parsed.
	ErrBadParams = errors.New("bad parameter sets")

	// ErrNeedKeyframe is returned when the first frame of a segment or clip is
	// not a random access point: nothing before the first keyframe decodes.
	ErrNeedKeyframe = errors.New("first frame must be a keyframe")

	// ErrParamsChanged is returned when a keyframe carries parameter sets that
	// differ from the writer's Params: the caller starts a new segment with
	// the new Params.
	ErrParamsChanged = errors.New("parameter sets changed")

	// ErrPTSBackwards is returned for a frame whose timestamp is not after the
	// previous keyframe's, or that cannot be decoded after the previous frame.
	ErrPTSBackwards = errors.New("timestamp goes backwards")

	// ErrEmptyFrame is returned for a frame without NAL units, with an empty
	// NAL unit, or without any coded slice.
	ErrEmptyFrame = errors.New("empty frame")

	// ErrClosed is returned by a SegmentWriter used after Close.
	ErrClosed = errors.New("segment writer closed")
)
