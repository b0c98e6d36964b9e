#!/bin/sh
# Regenerates clip.h264, the video the demo camera loops: 10 s of ffmpeg's
# testsrc2 at 640x360, 25 fps, H264 constrained baseline (no B-frames, so
# decode order is display order and browsers play it as is), an IDR every
# 50 frames (2 s) with SPS/PPS repeated before each, no SEI, ≈200 kbit/s,
# raw Annex-B. One encoder thread and bitexact flags make the output depend
# only on the ffmpeg/x264 versions, not on the machine.
#
# Run from anywhere: sh media/democam/gen.sh (or go generate ./media/democam).
set -eu
cd "$(dirname "$0")"
ffmpeg -hide_banner -nostdin -loglevel error -y \
	-f lavfi -i testsrc2=size=640x360:rate=25 -t 10 \
	-threads 1 -c:v libx264 -preset veryslow -profile:v baseline -level 3.0 -pix_fmt yuv420p \
	-g 50 -keyint_min 50 -sc_threshold 0 -b:v 200k -maxrate 200k -bufsize 200k \
	-x264-params repeat-headers=1 -bsf:v filter_units=remove_types=6 \
	-fflags +bitexact -flags +bitexact \
	-f h264 clip.h264
