package parking

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
)

// Size of the demo's vehicle photos.
const (
	DemoPhotoWidth  = 320
	DemoPhotoHeight = 180
)

// demoPhoto draws the demo's picture of a vehicle at the gate: a car on a
// lane under a sky, its colours and the bars on its plate taken from a
// hash of the plate. No font and no file: the same plate gives the same
// bytes every time, so asking again gives the same picture (and the same
// evidence, which attendant keeps once per case).
func demoPhoto(plate string) ([]byte, error) {
	h := sha256.Sum256([]byte(plate))
	img := image.NewRGBA(image.Rect(0, 0, DemoPhotoWidth, DemoPhotoHeight))
	fill := func(x0, y0, x1, y1 int, c color.RGBA) {
		draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
	}

	// sky: a vertical gradient in bands, its hue from the plate
	top := color.RGBA{60 + h[0]%80, 90 + h[1]%80, 150 + h[2]%100, 255}
	for y := 0; y < 96; y += 8 {
		k := uint8(y)
		fill(0, y, DemoPhotoWidth, y+8, color.RGBA{top.R + k/2, top.G + k/2, uint8(min(255, int(top.B)+int(k/3))), 255})
	}
	// lane: asphalt, a kerb band in the plate's colour, dashed markings
	fill(0, 96, DemoPhotoWidth, DemoPhotoHeight, color.RGBA{70, 72, 76, 255})
	fill(0, 96, DemoPhotoWidth, 102, color.RGBA{h[9], h[10], h[11], 255})
	for x := 0; x < DemoPhotoWidth; x += 40 {
		fill(x, 166, x+24, 171, color.RGBA{230, 230, 220, 255})
	}

	// the car: body, cabin, windows, wheels
	body := color.RGBA{h[3], h[4], h[5], 255}
	fill(70, 100, 250, 150, body)
	fill(110, 72, 210, 100, color.RGBA{body.R / 2, body.G / 2, body.B / 2, 255})
	fill(118, 77, 157, 97, color.RGBA{170, 200, 225, 255})
	fill(163, 77, 202, 97, color.RGBA{170, 200, 225, 255})
	fill(72, 108, 84, 116, color.RGBA{250, 240, 180, 255}) // lights
	fill(236, 108, 248, 116, color.RGBA{250, 240, 180, 255})
	for _, cx := range []int{105, 215} {
		disc(img, cx, 150, 16, color.RGBA{20, 20, 22, 255})
		disc(img, cx, 150, 6, color.RGBA{150, 150, 155, 255})
	}

	// the plate: blue with white bars, one per bit of the hash
	fill(132, 126, 188, 144, color.RGBA{235, 235, 235, 255})
	fill(134, 128, 186, 142, color.RGBA{20, 60, 170, 255})
	for i := range 24 {
		if h[6+i/8]&(1<<(i%8)) != 0 {
			fill(136+2*i, 131, 137+2*i, 139, color.RGBA{245, 245, 245, 255})
		}
	}

	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, fmt.Errorf("encode demo photo of %s: %w", plate, err)
	}
	return buf.Bytes(), nil
}

// disc fills a circle of radius r around (cx, cy).
func disc(img *image.RGBA, cx, cy, r int, c color.RGBA) {
	for y := cy - r; y <= cy+r; y++ {
		for x := cx - r; x <= cx+r; x++ {
			if dx, dy := x-cx, y-cy; dx*dx+dy*dy <= r*r && image.Pt(x, y).In(img.Rect) {
				img.SetRGBA(x, y, c)
			}
		}
	}
}
