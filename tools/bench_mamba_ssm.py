#!/usr/bin/env python3
"""The CUDA selective scan beside its peer, mamba_ssm's selective_scan_fn kernels, in one run on a GPU.

Why: cuda/scan.cu computes what mamba_ssm's selective_scan_fn(u, delta, A, B, C, D, z, delta_bias,
delta_softplus=True) computes (see its header comment for the math); this script times both on the
same GPU, at the same shape and precision, so that the engine's scan has a measured peer.

Steps (on a machine with an NVIDIA GPU, sm_90; the sources come from tools/fetch_mamba_ssm.sh, run
ahead of time where there is network; a GPU machine without network gets .peer/ copied with the tree):
  1. builds a trimmed torch extension (torch.utils.cpp_extension.load, ninja, MAX_JOBS = --jobs) from
     .peer/mamba_ssm/csrc/selective_scan and our tools/mamba_ssm_peer/: forward and backward, bf16 and
     fp32 inputs, real fp32 weights, sm_90 only, and only the one block shape their dispatch picks for
     --len (binding.cpp says why); prints the compile time of each file (from ninja's log);
  2. checks the extension on small shapes (B 2, D 24, N 16, L = --len and an odd length of the same
     block shape) against a float64 PyTorch reference written here (out and every gradient, through
     autograd), so that a broken build cannot print a fast time;
  3. times forward and backward at B 16, L 512, D 1536, N 16 (u, delta, z, B, C bf16; A, D,
     delta_bias fp32; B and C "variable", [B, 1, N, L]) with CUDA events: 2 warm-up calls, then the
     mean over 20 calls, as cuda/bench/bench_cuda.cu's time_ms does; each call is the binding's, which
     allocates and fills what selective_scan_cuda.fwd/.bwd do (zeroed fp32 dB/dC, their casts); the
     inputs are random in a Mamba layer's ranges (bench_cuda's are zeros: the cost does not depend on
     the values, the softplus branch aside, which neither input takes);
  4. runs build/gpu/bench_cuda if it exists (or reads --engine-log, a saved copy of its output) and
     takes its "selective scan fwd/bwd" rows and measured ceilings;
  5. prints one table: kernel | engine us | mamba_ssm us | ratio (mamba_ssm / engine) and each side's
     time over its floor (max of bytes / measured copy bandwidth and exponentials / MUFU rate; bytes
     counted per side, exponentials T*E*(N+3) for both, as bench_cuda counts them).
The layouts differ: the engine's scan reads token-major [T, E] tensors (T = B*L; B and C are column
slices of x_proj's [T, R+2N] output), mamba_ssm's [B, D, L]; each is timed in its native layout.

Run:  tools/fetch_mamba_ssm.sh                      # with network: .peer/mamba_ssm
      python3 tools/bench_mamba_ssm.py             # on the GPU machine, with .peer (and build/gpu) in the tree
      python3 tools/bench_mamba_ssm.py --build-only --jobs 2   # anywhere with nvcc: proves the build
      python3 tools/bench_mamba_ssm.py --self-test  # anywhere: the check and the table, CPU stand-in
Needs torch (with CUDA), nvcc and ninja; no mamba_ssm package, no network.
"""
import argparse
import glob
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PEER_SRC = os.path.join(ROOT, ".peer", "mamba_ssm", "csrc", "selective_scan")
OUR_SRC = os.path.join(ROOT, "tools", "mamba_ssm_peer")

# cpp_extension looks for nvcc when imported; name it, rather than let it guess with a warning.
if "CUDA_HOME" not in os.environ:
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    os.environ["CUDA_HOME"] = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# The (threads, items per thread) block shape and the lengths it serves, as selective_scan_fwd_cuda and
# selective_scan_bwd_cuda choose it on CUDA (selective_scan_{fwd,bwd}_kernel.cuh; the same for both).
BLOCK_SHAPES = [(128, 32, 4), (256, 32, 8), (512, 32, 16), (1024, 64, 16), (1 << 30, 128, 16)]


def block_shape(L):
    lo = 1
    for hi, threads, items in BLOCK_SHAPES:
        if L <= hi:
            return threads, items, lo, hi
        lo = hi + 1
    raise ValueError(L)


def nvcc_version():
    out = subprocess.run([os.path.join(os.environ["CUDA_HOME"], "bin", "nvcc"), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else "?"


def build(L, jobs, verbose):
    """Compiles and loads the extension for the block shape of L; returns (its operators, seconds,
    per-file compile times). It is a plain library of torch operators (is_python_module=False):
    no Python headers needed."""
    from torch.utils import cpp_extension

    if not os.path.isfile(os.path.join(PEER_SRC, "selective_scan_bwd_kernel.cuh")):
        sys.exit(f"error: {PEER_SRC} is missing: run tools/fetch_mamba_ssm.sh first (where there is network), "
                 "and carry .peer to the GPU machine")
    nv, tc = nvcc_version(), torch.version.cuda
    if tc and nv != tc and nv.split(".")[0] == tc.split(".")[0]:
        # cpp_extension would log a warning for a minor mismatch (a major one stays its error): the
        # extension uses only the runtime API and headers that both minor versions have.
        print(f"note: nvcc {nv}, torch built with CUDA {tc}: minor versions differ (cpp_extension's warning silenced)")
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    threads, items, lo, hi = block_shape(L)
    name = f"mamba_ssm_peer_{threads}x{items}"
    # One build folder per torch version: objects built against another torch are never reused.
    build_dir = os.path.join(ROOT, "build", "peer", f"torch-{torch.__version__}", name)
    os.makedirs(build_dir, exist_ok=True)
    defines = [f"-DPEER_NTHREADS={threads}", f"-DPEER_NITEMS={items}", f"-DPEER_LEN_MIN={lo}", f"-DPEER_LEN_MAX={hi}"]
    # mamba_ssm's own nvcc flags (its setup.py), less the other architectures, ptxas -v and --threads:
    # their bf16 code needs the operators and conversions that torch's default flags switch off.
    cuda_flags = ["-O3", "-gencode", "arch=compute_90,code=sm_90", "--use_fast_math", "--expt-relaxed-constexpr",
                  "--expt-extended-lambda", "-lineinfo",
                  "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
                  "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
                  "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__"] + defines
    sources = [os.path.join(OUR_SRC, "binding.cpp")] + sorted(glob.glob(os.path.join(OUR_SRC, "peer_*.cu")))
    os.environ["MAX_JOBS"] = str(jobs)
    os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"  # (the -gencode above already overrides it)
    print(f"build: {len(sources)} files, block shape {threads} x {items} (L {lo}..{hi}), sm_90, "
          f"MAX_JOBS {jobs}, nvcc {nv}, torch {torch.__version__} -> {os.path.relpath(build_dir, ROOT)}", flush=True)
    t0 = time.time()
    cpp_extension.load(name=name, sources=sources, extra_cflags=["-O3"] + defines, extra_cuda_cflags=cuda_flags,
                       extra_include_paths=[PEER_SRC], build_directory=build_dir, verbose=verbose, is_python_module=False)
    return torch.ops.mamba_ssm_peer, time.time() - t0, ninja_times(build_dir)


def ninja_times(build_dir):
    """(output, seconds) of the last build of each target, from ninja's log (start and end in ms)."""
    times = {}
    try:
        with open(os.path.join(build_dir, ".ninja_log")) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                start, end, _, target = line.split("\t")[:4]
                times[target] = (int(end) - int(start)) / 1000
    except OSError:
        pass
    return sorted(times.items(), key=lambda kv: -kv[1])


def scan_reference(u, delta, A, B, C, D, z, delta_bias):
    """The selective scan, step by step, in the dtype of its inputs (float64 here), for autograd:
    dt = softplus(delta + delta_bias), h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t, y_t = sum_n C_t h_t,
    out = (y + D u) * silu(z).  u, delta, z [b, d, l]; A [d, n]; B, C [b, 1, n, l]; D, delta_bias [d]."""
    dt = F.softplus(delta + delta_bias[:, None])
    Bt, Ct = B[:, 0].transpose(1, 2), C[:, 0].transpose(1, 2)  # [b, l, n]
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # [b, d, n]
    ys = []
    for t in range(u.shape[2]):
        h = torch.exp(dt[:, :, t, None] * A) * h + (dt[:, :, t] * u[:, :, t])[:, :, None] * Bt[:, None, t]
        ys.append((h * Ct[:, None, t]).sum(-1))
    return (torch.stack(ys, -1) + D[:, None] * u) * F.silu(z)


def make_inputs(b, d, L, n, dtype, seed, device="cuda"):
    """Inputs of a Mamba layer's scan: A = -(1..N) per channel (Mamba's A_log init), delta_bias so that
    softplus(bias) spans 0.001..0.1 (Mamba's dt init), D = 1, the rest standard normal."""
    g = torch.Generator(device=device).manual_seed(seed)
    rn = lambda *s: torch.randn(*s, device=device, generator=g)  # noqa: E731
    dt0 = torch.exp(math.log(0.001) + math.log(100) * torch.rand(d, device=device, generator=g))  # 0.001..0.1
    return dict(u=rn(b, d, L).to(dtype), delta=(0.5 * rn(b, d, L)).to(dtype),
                A=-torch.arange(1, n + 1, device=device, dtype=torch.float32).repeat(d, 1).contiguous(),
                B=rn(b, 1, n, L).to(dtype), C=rn(b, 1, n, L).to(dtype), D=torch.ones(d, device=device),
                z=rn(b, d, L).to(dtype), delta_bias=dt0 + torch.log(-torch.expm1(-dt0)))  # softplus^-1(dt0)


ARGS = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
# The extension's backward results, in its order, and the input each is the gradient of.
GRADS = [("du", "u"), ("ddelta", "delta"), ("dA", "A"), ("dB", "B"), ("dC", "C"), ("dD", "D"),
         ("ddelta_bias", "delta_bias"), ("dz", "z")]


def check(ext, L, dtype, device="cuda"):
    """out and all eight gradients of the extension against scan_reference in float64 on the same
    (rounded) inputs, as relative norm errors. Tolerance from the dtype: bf16 outputs carry one rounding
    (unit roundoff 2^-8; dz also uses the rounded pre-gate out), so 4 * 2^-8; fp32 accumulates the
    fast-math exp2 and log1p errors (a few ulp) through up to L steps, so 4 * L * 2^-24."""
    tol = 4 * 2.0**-8 if dtype == torch.bfloat16 else 4 * L * 2.0**-24
    x = make_inputs(2, 24, L, 16, dtype, seed=L, device=device)
    dout = torch.randn(2, 24, L, device=device, generator=torch.Generator(device=device).manual_seed(7)).to(dtype)
    out, chunks, out_z = ext.fwd(*[x[k] for k in ARGS], True)
    got = [out_z] + list(ext.bwd(*[x[k] for k in ARGS], dout, chunks, out, True))
    ref_in = {k: v.double().requires_grad_() for k, v in x.items()}
    ref_out = scan_reference(*[ref_in[k] for k in ARGS])
    ref_out.backward(dout.double())
    want = [ref_out.detach()] + [ref_in[k].grad for _, k in GRADS]
    worst, ok = 0.0, True
    for name, g, w in zip(["out"] + [n for n, _ in GRADS], got, want):
        err = ((g.double() - w).norm() / w.norm().clamp_min(1e-30)).item()
        finite = bool(torch.isfinite(g).all())
        worst = max(worst, err)
        if err > tol or not finite:
            ok = False
            print(f"  FAIL {name}: relative norm error {err:.2e} > {tol:.1e} (finite: {finite}); "
                  f"first values {g.flatten()[:3].tolist()} vs {w.flatten()[:3].tolist()}")
    tag = str(dtype).replace("torch.", "")
    print(f"check {tag:8s} L {L:4d}: out and 8 gradients, worst relative norm error {worst:.2e} (tolerance {tol:.1e}): "
          f"{'ok' if ok else 'FAILED'}")
    return ok


def time_us(f, reps=20):
    """Microseconds per call of f: 2 warm-up calls, then the mean of reps calls between CUDA events."""
    f(), f()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps):
        f()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / reps * 1e3


def kernel_us(f, reps, names):
    """Mean device time per call of the kernels whose names contain one of `names` (torch.profiler),
    i.e. without the fills, casts and allocations around them; None where the profiler cannot say."""
    try:
        from torch.profiler import ProfilerActivity, profile
        f()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(reps):
                f()
            torch.cuda.synchronize()
        total = {}
        for ev in prof.key_averages():
            for n in names:
                if n in ev.key:
                    t = getattr(ev, "device_time_total", None) or getattr(ev, "cuda_time_total", 0)
                    total[n] = total.get(n, 0) + t
        return {n: t / reps for n, t in total.items()} or None
    except Exception as e:  # the profiler (CUPTI) is optional here
        print(f"note: torch.profiler gave no kernel times ({type(e).__name__}: {e})")
        return None


def engine_rows(log_path, no_engine):
    """The engine's scan rows and ceilings, from bench_cuda's output (a saved log or a fresh run)."""
    if no_engine:
        return None, "engine: not run (--no-engine)"
    if log_path:
        text = open(log_path).read()
        source = log_path
    else:
        exe = os.path.join(ROOT, "build", "gpu", "bench_cuda")
        if not os.access(exe, os.X_OK):
            return None, "engine: build/gpu/bench_cuda not found (make build/gpu/bench_cuda, or tests/gpu_check.sh)"
        try:
            r = subprocess.run([exe], capture_output=True, text=True, timeout=180, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return None, "engine: build/gpu/bench_cuda ran past 180 s"
        if r.returncode != 0:
            return None, f"engine: build/gpu/bench_cuda exited {r.returncode}: {(r.stdout + r.stderr)[-400:]}"
        text, source = r.stdout, "build/gpu/bench_cuda (output kept in build/peer/bench_cuda.log)"
        os.makedirs(os.path.join(ROOT, "build", "peer"), exist_ok=True)
        with open(os.path.join(ROOT, "build", "peer", "bench_cuda.log"), "w") as f:
            f.write(text)
    found = {"source": source}
    m = re.search(r"copy ([\d.]+) GB/s", text)
    if m:
        found["copy_bw"] = float(m.group(1)) * 1e9
    m = re.search(r"MUFU ([\d.]+e[+-]?\d+) exp/s", text)
    if m:
        found["mufu"] = float(m.group(1))
    for kind in ("fwd", "bwd"):
        line = next((l for l in text.splitlines() if re.match(rf"\|\s*selective scan {kind}\b", l)), None)
        if line is None:
            continue
        m = re.search(r"\|\s*([\d.]+) us", line)
        f = re.search(r"([\d.]+)x floor", line)
        found[kind] = (float(m.group(1)) if m else None, float(f.group(1)) if f else None)
    if "fwd" not in found and "bwd" not in found:
        return None, f"engine: no 'selective scan' rows in {source}"
    return found, f"engine: {source}"


def measure_ceilings():
    """Copy bandwidth (1 GiB device to device, bytes read + written) and the MUFU rate as bench_cuda
    states it (SMs x 16 ex2 per clock x SM clock), for when bench_cuda's own line is not at hand."""
    n = 1 << 30
    a, b = torch.empty(n, dtype=torch.uint8, device="cuda"), torch.empty(n, dtype=torch.uint8, device="cuda")
    us = time_us(lambda: b.copy_(a), reps=10)
    del a, b
    p = torch.cuda.get_device_properties(0)
    khz = getattr(p, "clock_rate", 0) or 0  # kHz, as cudaDevAttrClockRate
    mufu = p.multi_processor_count * 16 * khz * 1e3 if 1e5 < khz < 1e7 else None
    return 2.0 * n / (us * 1e-6), mufu


class ReferenceStandIn:
    """For --self-test without a GPU: fwd and bwd as the extension returns them, computed by
    scan_reference in float64 and rounded to the extension's output dtypes."""

    @staticmethod
    def fwd(u, delta, A, B, C, D, z, delta_bias, softplus):
        ins = [t.double() for t in (u, delta, A, B, C, D, z, delta_bias)]
        out_z = scan_reference(*ins)
        pre = out_z / F.silu(ins[6])  # y + D u (z from randn: silu(z) is never 0 here)
        return pre.to(u.dtype), torch.zeros(1), out_z.to(u.dtype)

    @staticmethod
    def bwd(u, delta, A, B, C, D, z, delta_bias, dout, x, out, softplus):
        x = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)
        ins = {k: v.double().requires_grad_() for k, v in x.items()}
        scan_reference(*[ins[k] for k in ARGS]).backward(dout.double())
        return [ins[k].grad.to(x[k].dtype) for _, k in GRADS]


def report(shape, mamba_us, kern, eng, eng_note, copy_bw, mufu, ceil_note, device_name):
    """Prints the one table: the engine's bf16 rows beside mamba_ssm's, then mamba_ssm's fp32 rows."""
    B, L, E, N = shape
    # mamba_ssm's bytes in bf16 (s = 2): forward reads u, delta, z and B, C, writes out and out_z (both
    # [B, D, L]) and the chunk states x; backward reads u, delta, z, out, dout, B, C, x, writes du,
    # ddelta, dz, and dB, dC in fp32 (zero fill, atomic read-modify-write, read by the cast to bf16,
    # written in bf16). Exponentials are counted as bench_cuda counts the engine's: T*E*(N+3).
    s, BDL, BNL = 2, B * E * L, B * N * L
    xb = B * E * ((L + 2047) // 2048) * 2 * N * 4
    peer_bytes = {"fwd": 5 * s * BDL + 2 * s * BNL + xb,
                  "bwd": 8 * s * BDL + 2 * s * BNL + xb + 2 * (4 + 2 * 4 + 4 + s) * BNL}
    exps = BDL * (N + 3)
    peer_floor = {k: max(v / copy_bw, exps / mufu if mufu else 0) * 1e6 for k, v in peer_bytes.items()}
    fmt = lambda v, f: f.format(v) if v is not None else "-"  # noqa: E731

    print()
    print(f"selective scan, engine vs mamba_ssm 2.2.6.post3 (selective_scan_fn's CUDA kernels), {device_name}")
    print(f"shape: B {B}, L {L}, D=E {E}, N {N}; u, delta, z, B, C bf16; A, D, delta_bias fp32; "
          "softplus(delta + bias), SiLU(z) gate")
    print("layouts differ: engine [T, E] token-major (T = B*L; B, C column slices of x_proj's [T, R+2N]), "
          "mamba_ssm [B, D, L] (B, C [B, 1, N, L]); each timed in its native layout")
    print("| kernel | engine us | mamba_ssm us | ratio (mamba_ssm / engine) | engine x floor | mamba_ssm x floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for i, kind in enumerate(("fwd", "bwd")):
        e_us, e_floor = (eng or {}).get(kind, (None, None))
        p_us = mamba_us[torch.bfloat16][i]
        print(f"| selective scan {kind} | {fmt(e_us, '{:.1f}')} | {p_us:.1f} | {fmt(p_us / e_us if e_us else None, '{:.2f}x')} "
              f"| {fmt(e_floor, '{:.2f}x')} | {p_us / peer_floor[kind]:.2f}x |")
    for i, kind in enumerate(("fwd", "bwd")):
        print(f"| selective scan {kind}, fp32 inputs | - | {mamba_us[torch.float32][i]:.1f} | - | - | - |")
    mufu_note = f"MUFU {mufu:.2e} exp/s" if mufu else "MUFU rate unknown: mamba_ssm floors by bytes only"
    print(f"notes: {eng_note}; {ceil_note} (copy {copy_bw * 1e-9:.0f} GB/s, {mufu_note}); "
          f"mamba_ssm floors {peer_floor['fwd']:.1f} / {peer_floor['bwd']:.1f} us (fwd / bwd)")
    if kern[0] and kern[1]:
        print(f"mamba_ssm kernels alone (torch.profiler): fwd {sum(kern[0].values()):.1f} us, "
              f"bwd {sum(kern[1].values()):.1f} us; the calls above also zero dA, dB, dC, dD, ddelta_bias "
              "and cast dB, dC to bf16, as selective_scan_fn does")


def self_test():
    """Without a GPU: the check against a stand-in that is the reference rounded to the output dtypes
    (must pass: rounding alone stays inside the tolerances), one that is off by 3% in dz (must fail),
    and the table from made-up numbers and a bench_cuda-style log."""
    ok = all(check(ReferenceStandIn, n, dt, device="cpu") for dt in (torch.float32, torch.bfloat16) for n in (300, 37))

    class Broken(ReferenceStandIn):
        @staticmethod
        def bwd(*a):
            g = ReferenceStandIn.bwd(*a)
            return g[:-1] + [g[-1] * 1.03]

    print("(a stand-in 3% off in dz must fail:)")
    ok = ok and not check(Broken, 300, torch.float32, device="cpu")
    log = ("ceilings: copy 4012 GB/s (measured), bf16 GEMM 702.1 TFLOP/s (measured), MUFU 4.18e+12 exp/s (132 SMs x 16 x 1.98 GHz, assumed)\n"
           "| selective scan fwd           |     101.5 us |    1025 GB/s |  25.5% of copy | floor 57.2 us (MUFU) | 1.77x floor |\n"
           "| selective scan bwd           |     250.0 us |     712 GB/s |  17.7% of copy | floor 57.2 us (MUFU) | 4.37x floor |\n")
    path = os.path.join(ROOT, "build", "peer", "self_test_bench.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(log)
    eng, note = engine_rows(path, False)
    ok = ok and eng is not None and eng["fwd"] == (101.5, 1.77) and eng["bwd"] == (250.0, 4.37) and abs(eng["mufu"] - 4.18e12) < 1e9
    report((16, 512, 1536, 16), {torch.bfloat16: (120.0, 300.0), torch.float32: (150.0, 380.0)}, (None, None), eng, note,
           eng["copy_bw"], eng["mufu"], f"ceilings from {eng['source']}", "(self-test: made-up times)")
    print("self-test:", "ok" if ok else "FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--len", type=int, default=512)
    ap.add_argument("--dim", type=int, default=1536, help="D of mamba_ssm, E (d_inner) of the engine")
    ap.add_argument("--dstate", type=int, default=16)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=os.cpu_count(), help="parallel compile jobs (MAX_JOBS)")
    ap.add_argument("--build-only", action="store_true", help="compile (and load) the extension, then stop")
    ap.add_argument("--engine-log", help="bench_cuda's saved output (e.g. build/gpu-check/bench.log) instead of running it")
    ap.add_argument("--no-engine", action="store_true", help="time mamba_ssm only")
    ap.add_argument("--self-test", action="store_true", help="test this script's check and table on the CPU (no build)")
    ap.add_argument("--verbose", action="store_true", help="show the compiler's commands and output")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(0 if self_test() else 1)
    B, L, E, N = args.batch, args.len, args.dim, args.dstate

    ext, secs, per_file = build(L, args.jobs, args.verbose)
    print(f"built and loaded in {secs:.1f} s; each file's last compile (wall, up to {args.jobs} at once):")
    for target, s in per_file:
        print(f"  {s:7.1f} s  {target}")
    if args.build_only:
        return
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA device: the extension is built; timing needs a GPU (--build-only stops before)")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")

    _, _, lo, hi = block_shape(L)
    odd = min((lo + min(hi, L)) // 2 | 1, hi)  # an odd length of the same block shape: the kernels' uneven path
    ok = all([check(ext, n, dt) for dt in (torch.float32, torch.bfloat16) for n in sorted({L, odd})])
    if not ok:
        sys.exit("error: the mamba_ssm extension disagrees with the reference; no timing")

    mamba_us, kern = {}, (None, None)
    for dt in (torch.bfloat16, torch.float32):
        x = make_inputs(B, E, L, N, dt, seed=1)
        a = [x[k] for k in ARGS]
        out, chunks, out_z = ext.fwd(*a, True)
        dout = torch.randn_like(out_z)
        fwd = lambda: ext.fwd(*a, True)  # noqa: E731
        bwd = lambda: ext.bwd(*a, dout, chunks, out, True)  # noqa: E731
        mamba_us[dt] = (time_us(fwd, args.reps), time_us(bwd, args.reps))
        if dt == torch.bfloat16:
            kern = (kernel_us(fwd, args.reps, ["selective_scan_fwd_kernel"]), kernel_us(bwd, args.reps, ["selective_scan_bwd_kernel"]))
        del x, a, out, chunks, out_z, dout
    eng, eng_note = engine_rows(args.engine_log, args.no_engine)
    copy_bw, mufu = (eng or {}).get("copy_bw"), (eng or {}).get("mufu")
    if copy_bw and mufu:
        ceil_note = f"ceilings from {eng['source']}"
    else:
        copy_bw, mufu = measure_ceilings()
        ceil_note = "ceilings measured here (copy) and assumed (MUFU: SMs x 16 x clock)"
    report((B, L, E, N), mamba_us, kern, eng, eng_note, copy_bw, mufu, ceil_note, torch.cuda.get_device_name(0))


if __name__ == "__main__":
    main()
