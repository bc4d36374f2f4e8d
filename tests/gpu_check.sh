#!/usr/bin/env bash
# The GPU check of the CUDA backend: one run of at most 5 minutes on a machine with an NVIDIA GPU
# (written for an H200, sm_90). `make gpu-check` runs it.
#   1. builds with nvcc for sm_90 the kernel files (cuda/*.cu), their tests (tests/cuda/*.cu: the same
#      sources the simulator runs) and the microbenchmarks (cuda/bench/bench_cuda.cu), linked with
#      cuBLAS and the CPU backend (make build/gpu/test_cuda_gpu build/gpu/bench_cuda);
#   2. runs every CUDA test on the GPU against the CPU backend, fp32 and bf16, including the cuda
#      backend's whole training step (cuda/mamba_model.cu, through the entry points ./train calls) against the
#      CPU's train_step;
#   3. runs the kernel microbenchmarks (GB/s against the measured copy bandwidth, TFLOP/s against the
#      measured bf16 GEMM rate, the selective scan against its floor);
#   4. trains a small reranker with ./train --device cuda (bf16, then fp32) and --device cpu on the
#      MS MARCO-layout fixtures (the same seed and batches: fp32 must follow the CPU's losses closely,
#      bf16 loosely), and reranks with ./rerank --device cuda and cpu;
#   5. prints one table of results and timings; the logs stay in build/gpu-check/;
#   6. if .peer/mamba_ssm is there (tools/fetch_mamba_ssm.sh, run beforehand where there is network, and
#      copied there with the tree), builds mamba_ssm's selective scan and times it beside the engine's
#      (tools/bench_mamba_ssm.py).
# The GPU machine may have no network, so it may lack the Debian packages the Makefile would install
# (and cannot install them): then, or when the build fails, the programs of build/gpu-bundle.tar.gz
# (tools/gpu_bundle.sh, run beforehand on a machine that builds, and copied with the tree) are used, with
# its libraries and this machine's CUDA libraries on LD_LIBRARY_PATH; without a bundle, binaries already in
# build/gpu are. A failed build is reported.
# Exit status: non-zero if a stage failed or a test failed.
set -u
cd "$(dirname "$0")/.."
out=build/gpu-check
mkdir -p "$out"
export PATH="$PATH:/usr/local/cuda/bin"
start=$(date +%s)
status=0
bin=build/gpu train=./train rerank=./rerank
orig_ld_path=${LD_LIBRARY_PATH:-}  # for python3 (the peer): the bundle's libraries are for our programs only

# The folders holding this machine's libcudart.so.13 and libcublas(Lt).so.13: the toolkit's (next to nvcc,
# /usr/local/cuda*) and the ones pip's nvidia-* packages install beside PyTorch.
cuda_libdirs() {
  local dirs=() d
  if command -v nvcc >/dev/null; then dirs+=("$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")/lib64"); fi
  dirs+=(/usr/local/cuda/lib64 /usr/local/cuda-13*/lib64)
  for d in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
    dirs+=($(find "$d/nvidia" -maxdepth 3 -name 'libcu*.so.13' -printf '%h\n' 2>/dev/null | sort -u))
  done
  local found=""
  for d in "${dirs[@]}"; do
    [ -d "$d" ] || continue
    compgen -G "$d/libcudart.so.13*" >/dev/null || compgen -G "$d/libcublas*.so.13*" >/dev/null || continue
    case ":$found:" in *":$d:"*) ;; *) found="${found:+$found:}$d" ;; esac
  done
  echo "$found"
}
use_bundle() {
  rm -rf build/gpu-bundle && mkdir -p build/gpu-bundle && tar -xzf build/gpu-bundle.tar.gz -C build/gpu-bundle || return 1
  bin=build/gpu-bundle/bin train=build/gpu-bundle/bin/train rerank=build/gpu-bundle/bin/rerank
  export LD_LIBRARY_PATH="$PWD/build/gpu-bundle/lib:$(cuda_libdirs)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "   using build/gpu-bundle.tar.gz (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
}

echo "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | head -4
echo "== build: $(command -v nvcc >/dev/null && nvcc --version | tail -1 || echo 'no nvcc')"
missing=$(make --no-print-directory -s deps-missing 2>/dev/null)
if [ -n "$missing" ] && [ -f build/gpu-bundle.tar.gz ]; then
  echo "   not built here: missing Debian packages ($missing)"
  use_bundle || { echo "bundle FAILED to unpack"; exit 1; }
elif ! timeout 170 make -j"$(nproc)" build/gpu/test_cuda_gpu build/gpu/bench_cuda all >"$out/build.log" 2>&1; then
  echo "build FAILED (last lines of $out/build.log):"
  tail -n 15 "$out/build.log"
  status=1
  if [ -f build/gpu-bundle.tar.gz ]; then
    use_bundle || exit 1
  elif [ -x build/gpu/test_cuda_gpu ]; then
    echo "using the binaries already in build/gpu"
  else
    exit 1
  fi
fi
echo "   ready in $(( $(date +%s) - start )) s"

echo "== tests on the GPU"
timeout 60 $bin/test_cuda_gpu >"$out/tests.log" 2>&1
trc=$?
[ "$trc" -eq 0 ] || status=1
echo "== benchmarks"
timeout 60 $bin/bench_cuda >"$out/bench.log" 2>&1
brc=$?
[ "$brc" -eq 0 ] || status=1

echo "== ./train and ./rerank on the GPU"
t=$(mktemp -d)
f=tests/fixtures/formats
mkdir -p "$t/data"
cp $f/collection.tsv "$t/data/collection.tsv"
for s in train dev test; do
  cp $f/queries.dev.small.tsv "$t/data/queries.$s.tsv"; cp $f/qrels.dev.small.tsv "$t/data/qrels.$s.txt"
  cp $f/run.dev.trec "$t/data/bm25.$s.trec"
done
small="--d-model 128 --layers 3 --max-len 64 --group 2 --batch 4 --steps 40 --eval-every 0 --data $t/data"
trc2=0
for run in "cuda bf16" "cuda fp32" "cpu fp32"; do
  set -- $run
  timeout 60 $train $small --device "$1" --precision "$2" --out "$t/$1-$2.bin" >"$out/train-$1-$2.log" 2>&1 || trc2=1
done
timeout 60 $rerank "$t/cuda-bf16.bin" $f/top1000.dev.tsv "$t/cuda.trec" --device cuda >"$out/rerank-cuda.log" 2>&1 || trc2=1
timeout 60 $rerank "$t/cuda-bf16.bin" $f/top1000.dev.tsv "$t/cpu.trec" --device cpu >"$out/rerank-cpu.log" 2>&1 || trc2=1
[ "$trc2" -eq 0 ] || status=1

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
echo "./train, 40 steps of 4 groups of 2 at D 128, 3 layers (loss every 10 steps from the log; tokens/s):"
for run in cuda-bf16 cuda-fp32 cpu-fp32; do
  log="$t/$run.bin.log.jsonl"
  if [ -f "$log" ]; then
    echo "  $run: $(grep '"loss"' "$log" | awk -F'[:,]' 'NR % 10 == 0 { printf "%s ", $4 }') tokens/s $(grep -o 'tokens_per_s": [0-9.]*' "$log" | tail -1 | sed 's/.*: //')"
  else
    echo "  $run: FAILED:"; tail -n 3 "$out/train-$run.log"
  fi
done
echo "./rerank --device cuda vs cpu, same weights: $(paste -d' ' <(cut -d' ' -f1,3,4 "$t/cuda.trec") <(cut -d' ' -f1,3,4 "$t/cpu.trec") | awk '$2 == $5 && $3 == $6 { same++ } END { printf "%d of %d ranks equal", same, NR }')"
grep -h 'pairs/s' "$out/rerank-cuda.log" "$out/rerank-cpu.log"
rm -rf "$t"

# The peer, when its sources were fetched beforehand (tools/fetch_mamba_ssm.sh, .peer copied with the tree): mamba_ssm's
# selective_scan_fn kernels built and timed beside the engine's scan rows of the benchmark above.
if [ -d .peer/mamba_ssm ]; then
  echo
  echo "== the selective scan beside mamba_ssm (tools/bench_mamba_ssm.py)"
  if ! LD_LIBRARY_PATH=$orig_ld_path timeout 200 python3 tools/bench_mamba_ssm.py --engine-log "$out/bench.log" >"$out/peer.log" 2>&1; then
    echo "peer benchmark FAILED (last lines of $out/peer.log):"
    status=1
  fi
  sed -n '/^selective scan, engine vs mamba_ssm/,$p' "$out/peer.log" | grep . || tail -n 15 "$out/peer.log"
fi
echo
echo "gpu check: $([ $status -eq 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - start )) s"
exit $status
