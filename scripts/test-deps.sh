#!/usr/bin/env bash
# test-deps.sh installs what the test suite's real peers need, only when it
# is missing: Debian packages (ffmpeg, chromium, sipp, baresip, PostgreSQL)
# and a MinIO server built from source once and cached outside the repo.
set -euo pipefail

cache="${ATTENDANT_CACHE:-$HOME/.cache/attendant}"
mkdir -p "$cache/bin"

need_apt=()
command -v ffmpeg   >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v sipp     >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v baresip  >/dev/null 2>&1 || need_apt+=(baresip-core)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v unshare  >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ip       >/dev/null 2>&1 || need_apt+=(iproute2)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "test-deps: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# MinIO community edition is source-only; this pseudo-version resolves and
# builds (5-10 min cold), so build once and keep the binary in the cache.
minio_version="v0.0.0-20260212201848-7aac2a2c5b7c"
if [ ! -x "$cache/bin/minio-$minio_version" ]; then
  echo "test-deps: building minio $minio_version (once, cached in $cache/bin)" >&2
  GOBIN="$cache/bin/tmp" GOFLAGS=-mod=mod go install "github.com/minio/minio@$minio_version"
  mv "$cache/bin/tmp/minio" "$cache/bin/minio-$minio_version"
  rmdir "$cache/bin/tmp" 2>/dev/null || true
fi
ln -sfn "minio-$minio_version" "$cache/bin/minio"
