package parking_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/attendant/attendant/parking"
)

func TestNormalizePlate(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"京A12345", "京A12345"},
		{"京a 123-45", "京A12345"},
		{"京A·12345", "京A12345"},
		{" 沪B.678 90 ", "沪B67890"},
		{"粤Ｃ２４６８０", "粤C24680"},   // full-width from a Chinese input method
		{"京A　12345", "京A12345"},  // ideographic space
		{"京A0001警", "京A0001警"},   // police suffix
		{"粤Z1234港", "粤Z1234港"},   // Hong Kong cross-border
		{"京AD12345", "京AD12345"}, // new-energy: 8 characters
		{"b-ab 1234", "BAB1234"}, // Germany
		{"ab12 cde", "AB12CDE"},  // UK
		{"м123ер77", "М123ЕР77"}, // Russia: Cyrillic upper-cased
		{"AB-123-CD", "AB123CD"}, // France
		{"7ABC123", "7ABC123"},   // USA
		{"12", "12"},             // the shortest allowed
		{"ABCDEF123456", "ABCDEF123456"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parking.NormalizePlate(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNormalizePlateRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"separators":     " - . ",
		"one character":  "京",
		"too long":       "ABCDEF1234567",
		"markup":         "<b>A123</b>",
		"script":         `A1"><script>`,
		"ampersand":      "A&B123",
		"quote":          "A'123",
		"newline":        "A12\n345",
		"NUL":            "A12\x00345",
		"escape":         "A12\x1b[31m",
		"DEL":            "A12\x7f",
		"C1 control":     "A12\u0085",
		"zero width":     "A12\u200b345",
		"bidi override":  "A12\u202e345",
		"emoji":          "A123🚗",
		"symbol":         "A123$",
		"slash":          "A/123",
		"combining mark": "A1\u03012",
		"not UTF-8":      "A12\xff",
		"huge":           strings.Repeat("A", 1000),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parking.NormalizePlate(in)
			require.ErrorIs(t, err, parking.ErrInvalidPlate, "got %q", got)
			require.Empty(t, got)
		})
	}
}

func FuzzNormalizePlate(f *testing.F) {
	for _, s := range []string{"京A12345", "b-ab 1234", "粤Ｃ２４６８０", "<b>", "A\x00B", "м123ер77", "ǅ12", "ß12", "京A·12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parking.NormalizePlate(in)
		if err != nil {
			if !errors.Is(err, parking.ErrInvalidPlate) || got != "" {
				t.Fatalf("NormalizePlate(%q) = %q, %v: want ErrInvalidPlate and nothing", in, got, err)
			}
			return
		}
		n := utf8.RuneCountInString(got)
		if n < parking.MinPlateLen || n > parking.MaxPlateLen {
			t.Fatalf("NormalizePlate(%q) = %q: %d characters", in, got, n)
		}
		for _, r := range got {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r)) || unicode.IsLower(r) || unicode.IsControl(r) || strings.ContainsRune("<>&\"'", r) {
				t.Fatalf("NormalizePlate(%q) = %q: holds %q", in, got, r)
			}
		}
		again, err := parking.NormalizePlate(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, got, again, err)
		}
	})
}
