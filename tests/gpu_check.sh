#!/usr/bin/env bash
# The GPU check of the CUDA backend (issue 5): one call of at most 5 minutes on a machine with an
# NVIDIA GPU (written for an H200, sm_90). `make gpu-check` runs it.
#   1. builds with nvcc for sm_90 the kernel files (cuda/*.cu), their tests (tests/cuda/*.cu: the same
#      sources the simulator runs) and the microbenchmarks (cuda/bench/bench_cuda.cu), linked with
#      cuBLAS and the CPU backend (make build/gpu/test_cuda_gpu build/gpu/bench_cuda);
#   2. runs every CUDA test on the GPU against the CPU backend, fp32 and bf16, including the whole fp32
#      training step against train_step (there is no CUDA trainer yet: that step is the training run);
#   3. runs the kernel microbenchmarks (GB/s against the measured copy bandwidth, TFLOP/s against the
#      measured bf16 GEMM rate, the selective scan against its floor);
#   4. prints one table of results and timings; the logs stay in build/gpu-check/.
# If the build fails (a machine without the Debian packages the Makefile checks for), binaries already
# in build/gpu (carried from a machine that built them) are used, and the failure is reported.
# Exit status: non-zero if a stage failed or a test failed.
set -u
cd "$(dirname "$0")/.."
out=build/gpu-check
mkdir -p "$out"
export PATH="$PATH:/usr/local/cuda/bin"
start=$(date +%s)
status=0

echo "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | head -4
echo "== build: $(command -v nvcc >/dev/null && nvcc --version | tail -1 || echo 'no nvcc')"
if ! timeout 170 make -j"$(nproc)" build/gpu/test_cuda_gpu build/gpu/bench_cuda >"$out/build.log" 2>&1; then
  echo "build FAILED (last lines of $out/build.log):"
  tail -n 15 "$out/build.log"
  status=1
  if [ ! -x build/gpu/test_cuda_gpu ]; then exit 1; fi
  echo "using the binaries already in build/gpu"
fi
echo "   built in $(( $(date +%s) - start )) s"

echo "== tests on the GPU"
timeout 60 build/gpu/test_cuda_gpu >"$out/tests.log" 2>&1
trc=$?
[ "$trc" -eq 0 ] || status=1
echo "== benchmarks"
timeout 60 build/gpu/bench_cuda >"$out/bench.log" 2>&1
brc=$?
[ "$brc" -eq 0 ] || status=1

echo
echo "== results ($(date -u +%FT%TZ), $(( $(date +%s) - start )) s)"
echo "| check (GPU vs CPU backend)                   | n      | max abs err | atol    | rtol    | of tol | status |"
echo "|----------------------------------------------|--------|-------------|---------|---------|--------|--------|"
grep -E 'max\|err\|' "$out/tests.log" |
  sed -E 's/^  (.{44}) n=([0-9]+) +first.* max\|err\| ([^ ]+) at [0-9]+ \(atol ([^,]+), rtol ([^,]+), ([0-9]+)% of tol\) (.*)$/| \1 | \2 | \3 | \4 | \5 | \6% | \7 |/'
grep -E '^\[doctest\] (test cases|assertions)' "$out/tests.log" || { echo "tests: no doctest summary (exit $trc):"; tail -n 5 "$out/tests.log"; }
grep -E 'ERROR|error:' "$out/tests.log" | head -n 20
echo
if [ "$brc" -eq 0 ]; then cat "$out/bench.log"; else echo "benchmarks FAILED (exit $brc):"; tail -n 10 "$out/bench.log"; fi
echo
echo "gpu check: $([ $status -eq 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status
