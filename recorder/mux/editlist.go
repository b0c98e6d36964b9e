package mux

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	amp4 "github.com/abema/go-mp4"
)

// headerFixer passes writes through to w, correcting in the first one (the
// ftyp+moov that pmp4 writes in a single call) two durations mediacommon
// v2.4.1 gets wrong when Track.TimeOffset is negative:
//
//   - the edit's segment_duration is media duration + skipped time, where
//     ISO/IEC 14496-12 wants the presented time (media duration - skipped);
//   - mdhd's duration is media duration - skipped time instead of the media
//     duration (the sum of the sample durations).
//
// ffmpeg does not mind (it reads the length from mvhd/tkhd, which are right,
// and stops at the media end), but a player that honours edit lists, such as
// AVFoundation on Apple devices, would run the clip past its end or cut it
// short. Each trak's edit gets its tkhd duration, which pmp4 computes right.
type headerFixer struct {
	w    io.Writer
	done bool
}

func (f *headerFixer) Write(p []byte) (int, error) {
	if f.done {
		return f.w.Write(p)
	}
	f.done = true
	hdr := bytes.Clone(p) // a Writer must not modify p
	if err := fixDurations(hdr); err != nil {
		return 0, fmt.Errorf("fix clip header: %w", err)
	}
	return f.w.Write(hdr)
}

// fixDurations rewrites the elst and mdhd boxes of each trak in hdr in place.
func fixDurations(hdr []byte) error {
	type boxAt struct {
		info amp4.BoxInfo
		box  amp4.IBox
	}
	var tkhd, elst, mdhd *boxAt
	var media uint64 // sum of the sample durations, from stts
	tracks := 0
	_, err := amp4.ReadBoxStructure(bytes.NewReader(hdr), func(h *amp4.ReadHandle) (any, error) {
		switch h.BoxInfo.Type {
		case amp4.BoxTypeMoov(), amp4.BoxTypeEdts(), amp4.BoxTypeMdia(),
			amp4.BoxTypeMinf(), amp4.BoxTypeStbl():
			return h.Expand()
		case amp4.BoxTypeTrak():
			tkhd, elst, mdhd, media = nil, nil, nil, 0
			if _, err := h.Expand(); err != nil {
				return nil, err
			}
			if tkhd == nil || elst == nil || mdhd == nil {
				return nil, errors.New("trak without tkhd, elst or mdhd")
			}
			e := elst.box.(*amp4.Elst)
			if e.GetVersion() != 0 || len(e.Entries) != 1 {
				return nil, errors.New("unexpected edit list layout")
			}
			e.Entries[0].SegmentDurationV0 = uint32(tkhd.box.(*amp4.Tkhd).GetDuration())
			m := mdhd.box.(*amp4.Mdhd)
			if m.GetVersion() != 0 {
				return nil, errors.New("unexpected mdhd version")
			}
			m.DurationV0 = uint32(media)
			tracks++
			for _, b := range []*boxAt{elst, mdhd} {
				if err := rewriteBox(hdr, b.info, b.box); err != nil {
					return nil, err
				}
			}
			return nil, nil
		case amp4.BoxTypeTkhd(), amp4.BoxTypeElst(), amp4.BoxTypeMdhd(), amp4.BoxTypeStts():
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			b := &boxAt{info: h.BoxInfo, box: box}
			switch h.BoxInfo.Type {
			case amp4.BoxTypeTkhd():
				tkhd = b
			case amp4.BoxTypeElst():
				elst = b
			case amp4.BoxTypeMdhd():
				mdhd = b
			default:
				for _, e := range box.(*amp4.Stts).Entries {
					media += uint64(e.SampleCount) * uint64(e.SampleDelta)
				}
			}
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	if tracks == 0 {
		return errors.New("no trak in the first write: pmp4's output layout changed")
	}
	return nil
}

// rewriteBox marshals box over its old payload, which must keep its size.
func rewriteBox(hdr []byte, info amp4.BoxInfo, box amp4.IBox) error {
	var b bytes.Buffer
	if _, err := amp4.Marshal(&b, box, info.Context); err != nil {
		return fmt.Errorf("marshal %s: %w", info.Type, err)
	}
	if uint64(b.Len()) != info.Size-info.HeaderSize {
		return fmt.Errorf("%s changed size", info.Type)
	}
	copy(hdr[info.Offset+info.HeaderSize:], b.Bytes())
	return nil
}
