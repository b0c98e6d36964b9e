package recorder

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStereoWAVLayout(t *testing.T) {
	w := stereoWAV([]int16{1, 2}, []int16{-1, -2})
	require.Equal(t, "RIFF", string(w[:4]))
	require.Equal(t, "WAVE", string(w[8:12]))
	require.EqualValues(t, 2, binary.LittleEndian.Uint16(w[22:]), "channels")
	require.EqualValues(t, 8000, binary.LittleEndian.Uint32(w[24:]), "rate")
	require.EqualValues(t, 8, binary.LittleEndian.Uint32(w[40:]), "data bytes")
	require.Equal(t, []int16{1, -1, 2, -2}, []int16{int16(binary.LittleEndian.Uint16(w[44:])), int16(binary.LittleEndian.Uint16(w[46:])),
		int16(binary.LittleEndian.Uint16(w[48:])), int16(binary.LittleEndian.Uint16(w[50:]))})
}
