#!/usr/bin/env bash
# Builds, on a machine that can, the programs of the GPU check (tests/gpu_check.sh) for a GPU machine
# that may not be able to build them itself: when that machine has no network, the Debian packages the
# Makefile installs (OpenBLAS, doctest, nlohmann-json, utf8proc, zlib) may be missing there, and its CPU
# may lack this one's instruction set extensions (-march=native here).
#
# Output: build/gpu-bundle.tar.gz (gzip, which every Linux image has; ~15 MB), holding
#   bin/test_cuda_gpu bin/bench_cuda bin/train bin/rerank   compiled with -march=x86-64-v3 (AVX2, FMA:
#                                                           every H100/H200 host has them; the AMX GEMM
#                                                           keeps its own target pragma and runtime check)
#                                                           and nvcc -arch=sm_90, in build/portable/
#   lib/                                                    the shared libraries they need beyond glibc,
#                                                           libstdc++ and CUDA's (OpenBLAS and its Fortran
#                                                           runtime, utf8proc, zlib, libgomp)
# tests/gpu_check.sh unpacks it when its own build fails and runs these with lib/ and the machine's CUDA
# libraries on LD_LIBRARY_PATH. Copy it to the GPU machine with the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || { echo "error: gpu_bundle: nvcc is not on the PATH" >&2; exit 1; }
jobs=$(nproc)
portable=build/portable
# CXXFLAGS from the environment: the Makefile's `?=` then leaves out -march=native and its `+=` adds the rest.
CXXFLAGS="-O3 -march=x86-64-v3" make --no-print-directory -j"$jobs" BUILD=$portable \
  $portable/gpu/test_cuda_gpu $portable/gpu/bench_cuda $portable/bin/train $portable/bin/rerank

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp $portable/gpu/test_cuda_gpu $portable/gpu/bench_cuda $portable/bin/train $portable/bin/rerank "$stage/bin/"
# Every library the four resolve here, except glibc's, libstdc++/libgcc (the machine's compiler runtime is
# newer) and CUDA's (the machine's driver and toolkit must match each other, not this machine).
for b in "$stage"/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// { print $1, $3 }' | sort -u |
  while read -r name path; do
    case "$name" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libstdc++.so*|libgcc_s.so*) ;;
      libcudart.so*|libcublas.so*|libcublasLt.so*) ;;
      *) cp -L "$path" "$stage/lib/$name" ;;
    esac
  done
tar -czf build/gpu-bundle.tar.gz -C "$stage" bin lib
echo "gpu_bundle: build/gpu-bundle.tar.gz ($(du -h build/gpu-bundle.tar.gz | cut -f1)): $(ls "$stage/bin" | tr '\n' ' ')+ lib/ $(ls "$stage/lib" | tr '\n' ' ')"
