package testenv

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/attendant/attendant/internal/g711"
)

// WriteToneWAV writes seconds of a 440 Hz tone as 8 kHz G.711 µ-law WAV,
// the form sipp's rtp_stream plays as PCMU.
func WriteToneWAV(t testing.TB, path string, seconds float64) {
	t.Helper()
	n := int(8000 * seconds)
	data := make([]byte, n)
	for i := range data {
		data[i] = g711.EncodeULaw(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	var h []byte
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(4+26+12+8+n)) // WAVE + fmt + fact + data
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 18)
	h = binary.LittleEndian.AppendUint16(h, 7) // WAVE_FORMAT_MULAW
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint32(h, 8000)
	h = binary.LittleEndian.AppendUint32(h, 8000)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint16(h, 8)
	h = binary.LittleEndian.AppendUint16(h, 0)
	h = append(h, "fact"...)
	h = binary.LittleEndian.AppendUint32(h, 4)
	h = binary.LittleEndian.AppendUint32(h, uint32(n))
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(n))
	if err := os.WriteFile(path, append(h, data...), 0o600); err != nil {
		t.Fatal(err)
	}
}
