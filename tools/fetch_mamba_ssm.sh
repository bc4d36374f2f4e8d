#!/usr/bin/env bash
# Fetches the peer of the CUDA selective scan: mamba_ssm's selective_scan CUDA sources (state-spaces/mamba,
# Tri Dao and Albert Gu, Apache-2.0), for tools/bench_mamba_ssm.py to build and time on a GPU machine.
#
# Why a fetch step: a GPU machine may have no network, so the source is fetched ahead of time, where there
# is network, into .peer/ (ignored by git; never committed), and copied to the GPU machine with the tree.
#
# What: the source distribution of mamba-ssm from PyPI (pip download, no wheel, no dependencies), its
# SHA-256 checked against the pin below; unpacked from it into .peer/mamba_ssm/ are only
#   csrc/selective_scan/*                            the kernels and their headers (built by the benchmark)
#   mamba_ssm/ops/selective_scan_interface.py        selective_scan_fn and selective_scan_ref (to read)
#   LICENSE, AUTHORS                                  Apache-2.0 and its authors
# and a VERSION file naming the release and checksum: 21 files, about 220 KB.
#
# Version: 2.2.6.post3. The 2.2.4 sdist has no csrc/ at all (91.8 KB, Python only); 2.2.5 and
# 2.2.6.post3 ship csrc/selective_scan, and 2.2.6.post3's reverse_scan.cuh uses __syncthreads() and
# threadIdx.x & 31 where 2.2.5 calls cub::CTA_SYNC() and cub::LaneId(), which CUDA 13's CUB no longer has.
#
# Run from anywhere: tools/fetch_mamba_ssm.sh   (idempotent: does nothing if VERSION already matches)
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.2.6.post3
sha256=826a3cdb651959f191dac64502f8a29627d9116fe6bb7c57e4f562da1aea7bf3
dest=.peer/mamba_ssm
stamp="mamba-ssm $version sha256 $sha256"

if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$stamp" ]; then
  echo "fetch_mamba_ssm: $dest already holds mamba-ssm $version"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# --no-build-isolation: pip still reads the sdist's metadata (setup.py egg_info) but installs no build
# dependencies for it; MAMBA_SKIP_CUDA_BUILD keeps that setup.py from looking for nvcc.
MAMBA_SKIP_CUDA_BUILD=TRUE pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
  "mamba-ssm==$version" -d "$tmp"
archive="$tmp/mamba_ssm-$version.tar.gz"
[ -f "$archive" ] || { echo "error: pip download left no $archive" >&2; exit 1; }
got=$(sha256sum "$archive" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
  echo "error: $archive: sha256 $got, expected $sha256" >&2
  exit 1
fi

top="mamba_ssm-$version"
tar -xzf "$archive" -C "$tmp" "$top/csrc/selective_scan" "$top/mamba_ssm/ops/selective_scan_interface.py" \
  "$top/LICENSE" "$top/AUTHORS"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/$top" "$dest"
echo "$stamp" >"$dest/VERSION"
echo "fetch_mamba_ssm: mamba-ssm $version -> $dest ($(find "$dest" -type f | wc -l) files, $(du -sk "$dest" | cut -f1) KB)"
