package mux

import (
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// SegmentWriter writes one self-contained fragmented MP4 segment: ftyp+moov
// first, then one moof+mdat fragment per Flush. Timescale 90000; the
// fragments' decode times start at 0 at the first frame.
//
// A frame's duration is the distance to the next frame's decode time, so the
// last frame written is held until the next one arrives or Close gives it a
// duration. Frames stay in memory until the next Flush: call it regularly
// (every second, say). Flushing right after writing a keyframe writes the
// frames before it, so every fragment then starts with a keyframe.
//
// w is written only from WriteFrame (the init boxes, with the first frame),
// Flush and Close, and only appended to: mediacommon marshals into an
// io.WriteSeeker, so each box group is built in memory first. After a write
// to w fails, the segment is broken and every call returns that error.
//
// A SegmentWriter is not safe for concurrent use.
type SegmentWriter struct {
	w     io.Writer
	track *videoTrack
	init  []byte // ftyp+moov, built by NewSegmentWriter so bad Params fail early
	buf   seekablebuffer.Buffer

	// data holds the payloads of pending, then of held; flush keeps only
	// held's, moved to the front.
	data    []byte
	pending []pendingSample // complete samples, in decode order
	held    pendingSample   // the last frame, waiting for its duration
	hasHeld bool
	prevDur uint32 // duration of the last completed sample

	samples    []fmp4.Sample // reused across fragments
	samplePtrs []*fmp4.Sample
	seq        uint32
	closed     bool
	err        error // sticky: the first failed write to w
}

type pendingSample struct {
	timing
	duration  uint32
	off, size int // payload in SegmentWriter.data
}

// NewSegmentWriter returns a writer of one segment with parameter sets p to
// w. Nothing is written until the first frame.
func NewSegmentWriter(w io.Writer, p Params) (*SegmentWriter, error) {
	codec, err := p.mp4Codec()
	if err != nil {
		return nil, fmt.Errorf("new segment writer: %w", err)
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID:        videoTrackID,
		TimeScale: timescale,
		Codec:     codec,
	}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("new segment writer: marshal init: %w", err)
	}
	return &SegmentWriter{
		w:     w,
		track: newVideoTrack(p),
		init:  buf.Bytes(),
	}, nil
}

// WriteFrame adds f to the segment. The first frame must be a keyframe
// (ErrNeedKeyframe). A keyframe whose parameter sets differ from the
// writer's gives ErrParamsChanged: Close this segment at that keyframe's PTS
// and start a new one with it. A frame that is empty (ErrEmptyFrame), is not
// after the previous keyframe (ErrPTSBackwards) or cannot be parsed is
// rejected and nothing changes: the writer takes the next frames as if it
// had not been offered. (H265 open-GOP leading pictures, shown before the CRA
// that precedes them, are rejected that way; cameras do not send them.)
func (s *SegmentWriter) WriteFrame(f Frame) error {
	if err := s.usable(); err != nil {
		return err
	}
	tm, err := s.track.add(f)
	if err != nil {
		return err
	}
	if s.track.frames == 1 {
		if err := s.write(s.init); err != nil {
			return fmt.Errorf("write init: %w", err)
		}
	}
	if s.hasHeld {
		s.held.duration = uint32(tm.dts - s.held.dts)
		s.prevDur = s.held.duration
		s.pending = append(s.pending, s.held)
	}
	off := len(s.data)
	s.data = appendAVCC(s.data, s.track.params.Codec, f.NALUs)
	s.held = pendingSample{timing: tm, off: off, size: len(s.data) - off}
	s.hasHeld = true
	return nil
}

// Flush writes the complete samples (all but the last frame) as one
// fragment; it does nothing if there are none.
func (s *SegmentWriter) Flush() error {
	if err := s.usable(); err != nil {
		return err
	}
	return s.flush()
}

// Close writes every frame left, the last one lasting up to end (the PTS just
// after it). When end is not after the last PTS, the last frame lasts as long
// as the one before it, or 1/25 s. A segment without frames stays empty:
// nothing is written. Close does not close w.
func (s *SegmentWriter) Close(end time.Duration) error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if s.err != nil {
		return s.err
	}
	if s.hasHeld {
		s.held.duration = s.track.lastDuration(end, s.prevDur)
		s.pending = append(s.pending, s.held)
		s.hasHeld = false
	}
	return s.flush()
}

// Duration is the time from the first frame's PTS to the latest PTS written
// (the last frame's own duration is not included).
func (s *SegmentWriter) Duration() time.Duration {
	if s.track.frames == 0 {
		return 0
	}
	return s.track.maxPTS - s.track.firstPTS
}

// Frames is the number of frames accepted so far.
func (s *SegmentWriter) Frames() int {
	return s.track.frames
}

func (s *SegmentWriter) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// flush writes the pending samples as one fragment.
func (s *SegmentWriter) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	s.samples = s.samples[:0]
	for _, ps := range s.pending {
		s.samples = append(s.samples, fmp4.Sample{
			Duration:        ps.duration,
			PTSOffset:       ps.ptsOffset,
			IsNonSyncSample: !ps.sync,
			Payload:         s.data[ps.off : ps.off+ps.size],
		})
	}
	s.samplePtrs = s.samplePtrs[:0]
	for i := range s.samples {
		s.samplePtrs = append(s.samplePtrs, &s.samples[i])
	}
	s.seq++
	part := fmp4.Part{
		SequenceNumber: s.seq,
		Tracks: []*fmp4.PartTrack{{
			ID:       videoTrackID,
			BaseTime: uint64(s.pending[0].dts),
			Samples:  s.samplePtrs,
		}},
	}
	s.buf.Reset()
	if err := part.Marshal(&s.buf); err != nil {
		s.err = fmt.Errorf("marshal fragment %d: %w", s.seq, err)
		return s.err
	}
	if err := s.write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("write fragment %d: %w", s.seq, err)
	}

	s.pending = s.pending[:0]
	if s.hasHeld {
		n := copy(s.data, s.data[s.held.off:s.held.off+s.held.size])
		s.data = s.data[:n]
		s.held.off = 0
	} else {
		s.data = s.data[:0]
	}
	return nil
}

// write appends b to w; a failure is final, since w then holds a partial box.
func (s *SegmentWriter) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		s.err = fmt.Errorf("segment output broken: %w", err)
		return err
	}
	return nil
}
