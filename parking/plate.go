package parking

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Plate limits. The longest plates in use are about 10 characters (EU,
// Chinese new-energy plates have 8); the input bound keeps a pasted essay
// from being walked rune by rune.
const (
	MinPlateLen   = 2
	MaxPlateLen   = 12
	maxPlateInput = 128
)

// NormalizePlate turns what an agent typed into the form attendant stores
// and sends: upper case, without the separators people type between the
// parts ("京A·123 45", "b-ab 1234" → "京A12345", "BAB1234"), full-width
// letters and digits from a Chinese input method made ASCII. It then
// checks the result: 2 to 12 characters, each a letter (any script, so
// "京", "警", "学" pass) or a digit. Control characters, markup and other
// punctuation are refused with ErrInvalidPlate, never silently dropped:
// "A<b>1" is a typo or an attack, not a plate.
func NormalizePlate(raw string) (string, error) {
	if len(raw) > maxPlateInput {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPlate, maxPlateInput)
	}
	if !utf8.ValidString(raw) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidPlate)
	}
	var b strings.Builder
	n := 0
	for _, r := range raw {
		switch {
		case isPlateSeparator(r):
			continue
		case r >= 0xFF10 && r <= 0xFF19, r >= 0xFF21 && r <= 0xFF3A, r >= 0xFF41 && r <= 0xFF5A:
			// full-width 0-9, A-Z, a-z: the same characters in an IME's width
			r -= 0xFF10 - '0'
		}
		r = unicode.ToUpper(r)
		if !isPlateRune(r) {
			return "", fmt.Errorf("%w: character %q is not a letter or digit", ErrInvalidPlate, r)
		}
		b.WriteRune(r)
		n++
	}
	switch {
	case n < MinPlateLen:
		return "", fmt.Errorf("%w: fewer than %d letters and digits", ErrInvalidPlate, MinPlateLen)
	case n > MaxPlateLen:
		return "", fmt.Errorf("%w: more than %d letters and digits", ErrInvalidPlate, MaxPlateLen)
	}
	return b.String(), nil
}

// isPlateSeparator is what people type between the parts of a plate:
// spaces (including the ideographic one), dashes, dots and middle dots.
// Line breaks and tabs are control characters, refused like the others.
func isPlateSeparator(r rune) bool {
	switch r {
	case '-', '.', '·', '•', '・', '‧', '－', '．', '‐', '‑', '–', '—':
		return true
	}
	return unicode.IsSpace(r) && !unicode.IsControl(r)
}

// isPlateRune is a character a normalised plate may hold. Letters of any
// script (Chinese province and suffix characters, Cyrillic, Arabic, …)
// and decimal digits; never marks, symbols, punctuation or controls.
// Lower-case letters that have an upper case were upper-cased before.
func isPlateRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}
	return unicode.IsLetter(r) && !unicode.IsLower(r) || unicode.Is(unicode.Nd, r)
}
