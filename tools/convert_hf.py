"""Converts a Mamba-1 checkpoint into the engine's weights.bin (format: src/core/weights.h), adding a freshly
initialised scoring head (and, with --match, the exact-match flag embedding).

Two layouts are read:
  - Hugging Face transformers (state-spaces/mamba-*-hf): config.json (hidden_size, state_size,
    num_hidden_layers, expand, conv_kernel, time_step_rank, vocab_size, layer_norm_epsilon) and
    model.safetensors (or pytorch_model.bin) with names backbone.embeddings.weight, backbone.layers.N...
  - the original mamba_ssm release (state-spaces/mamba-*): config.json (d_model, n_layer, vocab_size,
    ssm_cfg, pad_vocab_size_multiple) and pytorch_model.bin with backbone.embedding.weight; d_state 16,
    d_conv 4, expand 2 and dt_rank ceil(d_model / 16) unless ssm_cfg says otherwise; the vocabulary is
    padded up to a multiple of pad_vocab_size_multiple, as MambaLMHeadModel does.
The language-model head (lm_head) is dropped.

Usage:
  python3 tools/convert_hf.py CHECKPOINT_DIR OUT.bin [--tokenizer tokenizer.json] [--match] [--seed 0]
Needs numpy, torch (for .bin) or safetensors (for .safetensors), from PyPI.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weights_format import write_weights  # noqa: E402

TEMPLATE = "Document: {doc}\n\nQuery: {query}"


def load_state_dict(ckpt):
    st = os.path.join(ckpt, "model.safetensors")
    if os.path.exists(st):
        from safetensors.numpy import load_file
        return {k: np.asarray(v, dtype=np.float32) for k, v in load_file(st).items()}
    pt = os.path.join(ckpt, "pytorch_model.bin")
    if os.path.exists(pt):
        import torch
        sd = torch.load(pt, map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in sd.items()}
    sys.exit(f"error: {ckpt}: neither model.safetensors nor pytorch_model.bin")


def convert(ckpt, tokenizer=None, match=False, seed=0):
    """-> (config dict, tensors dict) for write_weights."""
    cfg_path = os.path.join(ckpt, "config.json")
    try:
        cfg = json.load(open(cfg_path))
    except (OSError, ValueError) as e:
        sys.exit(f"error: {cfg_path}: {e}")
    sd = load_state_dict(ckpt)
    if "hidden_size" in cfg:  # transformers layout
        D, L = cfg["hidden_size"], cfg["num_hidden_layers"]
        N, K = cfg.get("state_size", 16), cfg.get("conv_kernel", 4)
        E = cfg.get("intermediate_size", cfg.get("expand", 2) * D)
        R = cfg.get("time_step_rank", "auto")
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        rename = {}
    else:  # mamba_ssm layout
        D, L = cfg["d_model"], cfg["n_layer"]
        ssm = cfg.get("ssm_cfg", {}) or {}
        N, K = ssm.get("d_state", 16), ssm.get("d_conv", 4)
        E = ssm.get("expand", 2) * D
        R = ssm.get("dt_rank", "auto")
        eps = cfg.get("norm_epsilon", 1e-5)
        rename = {"backbone.embedding.weight": "backbone.embeddings.weight"}
    if R == "auto":
        R = math.ceil(D / 16)
    sd = {rename.get(k, k): v for k, v in sd.items()}
    V = sd["backbone.embeddings.weight"].shape[0]
    if "hidden_size" not in cfg:
        mult = cfg.get("pad_vocab_size_multiple", 8)
        want = (cfg["vocab_size"] + mult - 1) // mult * mult
        assert V == want, f"embedding has {V} rows, expected vocab_size padded to {want}"

    names = ["backbone.embeddings.weight"]
    for l in range(L):
        p = f"backbone.layers.{l}."
        names += [p + "norm.weight"] + [p + "mixer." + n for n in (
            "in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight", "dt_proj.bias",
            "A_log", "D", "out_proj.weight")]
    names.append("backbone.norm_f.weight")
    missing = [n for n in names if n not in sd]
    if missing:
        sys.exit(f"error: {ckpt}: tensor {missing[0]} is missing (and {len(missing) - 1} more)")
    tensors = {n: np.ascontiguousarray(sd[n], dtype=np.float32) for n in names}

    rng = np.random.default_rng(seed)
    if match:
        tensors["backbone.match_embeddings.weight"] = (0.02 * rng.standard_normal((2, D))).astype(np.float32)
    tensors["score.weight"] = (0.02 * rng.standard_normal((1, D))).astype(np.float32)
    tensors["score.bias"] = np.zeros(1, dtype=np.float32)
    tok = tokenizer or os.path.join(ckpt, "tokenizer.json")
    if os.path.exists(tok):
        tensors["tokenizer.json"] = open(tok, "rb").read()
    elif tokenizer:
        sys.exit(f"error: {tokenizer}: cannot open")
    tensors["template"] = TEMPLATE.encode()
    config = {"d_model": D, "n_layer": L, "d_state": N, "d_conv": K, "d_inner": E, "dt_rank": R, "vocab_size": V,
              "norm_eps": eps, "match_feature": int(match)}
    return config, tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="tokenizer.json to embed (default: the checkpoint's, if present)")
    ap.add_argument("--match", action="store_true", help="add the exact-match flag embedding")
    ap.add_argument("--seed", type=int, default=0, help="seed of the new head's initialisation")
    a = ap.parse_args()
    config, tensors = convert(a.checkpoint, a.tokenizer, a.match, a.seed)
    write_weights(a.out, "mamba", config, tensors)
    n = sum(v.size for v in tensors.values() if isinstance(v, np.ndarray))
    print(f"wrote {a.out}: d_model {config['d_model']}, {config['n_layer']} layers, vocab {config['vocab_size']}, "
          f"{n / 1e6:.1f}M parameters")


if __name__ == "__main__":
    main()
