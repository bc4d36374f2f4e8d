"""`make bench`: the engine's CPU reranker against PyTorch (Hugging Face MambaForCausalLM's backbone + the
same head) on the same random weights, in one run, at one thread count; prints both and the ratios.

For a mamba-130m-shaped model (D 768, L 24, N 16, E 1536, R 48, V 50280) at --len tokens per sequence:
  - reranking forward throughput: sequences/s for a batch of --batch sequences;
  - training-step throughput: tokens/s of forward + group softmax CE + backward + AdamW on --batch
    sequences in groups of --group.
torch.set_num_threads(--threads) and the engine's OMP_NUM_THREADS are the same. The engine runs in fp32
(PyTorch's precision here) and, where the CPU has AMX, also with bf16 GEMM inputs (--precision bf16).
--no-train skips the training steps (PyTorch's takes minutes at this size).

Run: python3 tools/bench_torch.py [--threads 2] [--len 512] [--batch 4] [--group 4] [--iters 3] [--no-train]
Needs torch, transformers, numpy (PyPI).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:
    import numpy as np
    import torch
    from transformers import MambaConfig, MambaForCausalLM
    from transformers.utils import logging as hf_logging
except ImportError as e:
    sys.exit(f"error: {e}; install the peer with: pip install torch transformers numpy")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weights_format import write_weights  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--group", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--no-train", action="store_true", help="time the forward only")
    a = ap.parse_args()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = MambaConfig(vocab_size=50280, hidden_size=768, state_size=16, num_hidden_layers=24, expand=2,
                      conv_kernel=4, time_step_rank=48, layer_norm_epsilon=1e-5, use_bias=False, use_conv_bias=True)
    model = MambaForCausalLM(cfg).float()
    head = torch.nn.Linear(768, 1)
    ids = torch.randint(0, 50280, (a.batch, a.len), generator=torch.Generator().manual_seed(1))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.bin")
        tensors = {"backbone." + k: v.detach().numpy() for k, v in model.backbone.state_dict().items()}
        tensors["score.weight"] = head.weight.detach().numpy()
        tensors["score.bias"] = head.bias.detach().numpy()
        config = {"d_model": 768, "n_layer": 24, "d_state": 16, "d_conv": 4, "d_inner": 1536, "dt_rank": 48,
                  "vocab_size": 50280, "norm_eps": 1e-5, "match_feature": 0}
        write_weights(path, "mamba", config, tensors)
        exe = os.path.join(ROOT, "build", "bin", "bench")
        engine = {}
        for precision in ("fp32", "bf16"):
            cmd = [exe, "--weights", path, "--len", str(a.len), "--batch", str(a.batch), "--group", str(a.group),
                   "--iters", str(a.iters), "--threads", str(a.threads), "--precision", precision, "--json"]
            if a.no_train:
                cmd.append("--no-train")
            env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                if precision == "fp32":
                    sys.exit(f"error: {' '.join(cmd)} failed: {r.stderr.strip()}")
                print(f"engine {precision}: skipped ({r.stderr.strip()})", flush=True)
                continue
            engine[precision] = json.loads(r.stdout.strip().splitlines()[-1])
            e = engine[precision]
            print(f"engine {precision}: forward {e['forward_s']:.3f} s"
                  + ("" if a.no_train else f", train step {e['train_step_s']:.3f} s"), flush=True)

    def forward():
        h = model.backbone(ids).last_hidden_state[:, -1]
        return head(h)[:, 0]

    with torch.no_grad():
        forward()
        t0 = time.perf_counter()
        for _ in range(a.iters):
            forward()
        torch_fwd = (time.perf_counter() - t0) / a.iters
    print(f"pytorch: forward {torch_fwd:.3f} s", flush=True)

    tokens = a.batch * a.len
    torch_step = None
    if not a.no_train:
        params = list(model.backbone.parameters()) + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step():
            opt.zero_grad()
            s = forward().view(-1, a.group)
            loss = torch.nn.functional.cross_entropy(s, torch.zeros(s.shape[0], dtype=torch.long))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()

        model.eval()  # the plain PyTorch path (no hub kernels); autograd still runs
        # One timed step, no warm-up: at this size a PyTorch CPU training step takes minutes, so the first
        # step's allocator warm-up is noise (the engine's figure is the mean over --iters after a warm-up).
        t0 = time.perf_counter()
        step()
        torch_step = time.perf_counter() - t0
        print(f"pytorch: train step {torch_step:.3f} s", flush=True)

    print(f"mamba-130m shape, {a.batch} x {a.len} tokens, {a.threads} threads "
          f"(torch {torch.__version__}, transformers MambaForCausalLM)")
    print(f"{'':32s}{'engine':>10s}{'pytorch':>10s}{'ratio':>8s}")
    for precision, e in engine.items():
        rows = [("rerank forward (sequences/s)", a.batch / e["forward_s"], a.batch / torch_fwd)]
        if torch_step is not None:
            rows.append(("train step (tokens/s)", tokens / e["train_step_s"], tokens / torch_step))
        for name, x, t in rows:
            print(f"{name + ', ' + precision:32s}{x:10.2f}{t:10.2f}{x / t:7.2f}x")
    for precision, e in engine.items():
        gf = e["gemm_gflop_fwd"]
        print(f"engine GEMM rate, {precision}: forward {gf / e['forward_s']:.0f} GFLOP/s"
              + ("" if torch_step is None else f", train step {3 * gf / e['train_step_s']:.0f} GFLOP/s")
              + f" ({gf:.1f} GFLOP per forward)")


if __name__ == "__main__":
    main()
