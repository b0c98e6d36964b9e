package parking

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"mime"
	"time"
)

// Photo kinds: where the parking system took the picture.
const (
	PhotoEntry = "entry"
	PhotoExit  = "exit"
)

// Photo limits. Photos come inline, base64 in the lookup answer, never as
// URLs: attendant fetches nothing a parking system names (no SSRF, no
// third-party image host in the agent's browser), and keeps the bytes
// with the case as evidence.
const (
	// MaxPhotos is how many photos of an answer are read; the rest are dropped.
	MaxPhotos = 4
	// MaxPhotoBytes bounds one photo, decoded.
	MaxPhotoBytes = 512 << 10
	// MaxPhotoSide bounds a photo's width and height in pixels.
	MaxPhotoSide = 4096
	// PhotoContentType is the only media type a photo may have.
	PhotoContentType = "image/jpeg"
)

// Photo is a picture of the vehicle the parking system took at its entry
// or exit, checked to be a JPEG within the limits.
type Photo struct {
	Kind          string    // PhotoEntry or PhotoExit
	TakenAt       time.Time // UTC
	ContentType   string    // PhotoContentType
	Data          []byte
	Width, Height int
}

// wirePhoto is a photo as sent. taken_at is a string, parsed here: a bad
// time drops the photo, not the whole answer.
type wirePhoto struct {
	Kind        string `json:"kind"`
	TakenAt     string `json:"taken_at"`
	ContentType string `json:"content_type"`
	Data        string `json:"data"`
}

// maxPhotoBase64 is the longest "data" worth decoding: MaxPhotoBytes in
// base64 with a line break every 76 characters (MIME style, which the
// decoder skips). Checked first, so an oversized photo costs no allocation.
const maxPhotoBase64 = (MaxPhotoBytes + 2) / 3 * 4 * 78 / 76

// parsePhotos reads an answer's "photos" (raw JSON, possibly absent). A
// photo that is not a JPEG within the limits is dropped and counted, with
// the reason in why: the photos are extras, and one bad picture must not
// cost the agent the fee and the pass. Photos after the first MaxPhotos
// are counted, not kept or held, however many there are.
func parsePhotos(raw json.RawMessage) (photos []Photo, dropped int, why []error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, 0, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, 1, []error{errors.New("photos is not an array")}
	}
	extra := 0
	for i := 0; dec.More(); i++ {
		var item json.RawMessage
		if err := dec.Decode(&item); err != nil {
			// raw is valid JSON (the answer parsed): cannot happen
			return photos, dropped + 1, append(why, fmt.Errorf("photo %d: %v", i, err))
		}
		if i >= MaxPhotos {
			extra++
			continue
		}
		p, err := parsePhoto(item)
		if err != nil {
			dropped++
			why = append(why, fmt.Errorf("photo %d: %w", i, err))
			continue
		}
		photos = append(photos, p)
	}
	if extra > 0 {
		dropped += extra
		why = append(why, fmt.Errorf("%d photos after the first %d", extra, MaxPhotos))
	}
	return photos, dropped, why
}

func parsePhoto(raw json.RawMessage) (Photo, error) {
	var w wirePhoto
	if err := json.Unmarshal(raw, &w); err != nil {
		return Photo{}, fmt.Errorf("not a photo object: %v", err)
	}
	if w.Kind != PhotoEntry && w.Kind != PhotoExit {
		return Photo{}, fmt.Errorf("kind %q is not %s or %s", cleanText(w.Kind, 16), PhotoEntry, PhotoExit)
	}
	at, err := time.Parse(time.RFC3339, w.TakenAt)
	if err != nil {
		return Photo{}, fmt.Errorf("taken_at %q is not an RFC 3339 time", cleanText(w.TakenAt, 40))
	}
	if mt, _, err := mime.ParseMediaType(w.ContentType); err != nil || mt != PhotoContentType {
		return Photo{}, fmt.Errorf("content_type %q is not %s", cleanText(w.ContentType, 40), PhotoContentType)
	}
	if len(w.Data) > maxPhotoBase64 {
		return Photo{}, fmt.Errorf("data is over %d bytes", MaxPhotoBytes)
	}
	data, err := base64.StdEncoding.DecodeString(w.Data)
	if err != nil {
		return Photo{}, fmt.Errorf("data is not standard base64: %v", err)
	}
	if len(data) > MaxPhotoBytes {
		return Photo{}, fmt.Errorf("data is %d bytes, over %d", len(data), MaxPhotoBytes)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Photo{}, fmt.Errorf("data is not a JPEG: %v", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxPhotoSide || cfg.Height > MaxPhotoSide {
		return Photo{}, fmt.Errorf("%d×%d pixels, over %d×%d", cfg.Width, cfg.Height, MaxPhotoSide, MaxPhotoSide)
	}
	return Photo{Kind: w.Kind, TakenAt: at.UTC(), ContentType: PhotoContentType, Data: data, Width: cfg.Width, Height: cfg.Height}, nil
}
