"""Tests tools/convert_hf.py on tiny random checkpoints made offline, in both layouts, and writes
tests/fixtures/converted_tiny.bin: the converted model plus Hugging Face's outputs for one sequence
("ref.tokens", "ref.h" = last_hidden_state at the last token), which tests/test_convert.cpp checks the
engine against.

1. A random transformers MambaForCausalLM (vocab 1003, so the padding rule is exercised) saved with
   save_pretrained (config.json + model.safetensors): the -hf layout.
2. The same weights written in the original mamba_ssm layout (config.json with d_model / n_layer /
   ssm_cfg / pad_vocab_size_multiple, pytorch_model.bin with backbone.embedding.weight, vocab padded to
   1008 rows).
Both conversions must give identical parameter tensors.

Run: python3 tools/make_converter_fixture.py
"""
import json
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch
from transformers import MambaConfig, MambaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_hf import convert  # noqa: E402
from weights_format import write_weights  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "converted_tiny.bin")


def main():
    torch.manual_seed(5)
    D, L, VOCAB, PADDED = 32, 2, 1003, 1008
    cfg = MambaConfig(vocab_size=PADDED, hidden_size=D, state_size=16, num_hidden_layers=L, expand=2, conv_kernel=4,
                      time_step_rank="auto", layer_norm_epsilon=1e-5, use_bias=False, use_conv_bias=True)
    model = MambaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n or n.endswith("conv1d.bias") or n.endswith(".D"):
                p.add_(0.1 * torch.randn_like(p))
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir, orig_dir = os.path.join(tmp, "hf"), os.path.join(tmp, "orig")
        model.save_pretrained(hf_dir)
        os.makedirs(orig_dir)
        sd = {k.replace("backbone.embeddings.", "backbone.embedding."): v for k, v in model.state_dict().items()}
        torch.save(sd, os.path.join(orig_dir, "pytorch_model.bin"))
        json.dump({"d_model": D, "n_layer": L, "vocab_size": VOCAB, "ssm_cfg": {}, "rms_norm": True,
                   "residual_in_fp32": True, "fused_add_norm": True, "pad_vocab_size_multiple": 8},
                  open(os.path.join(orig_dir, "config.json"), "w"))
        cfg_a, ta = convert(hf_dir, seed=1)
        cfg_b, tb = convert(orig_dir, seed=1)
    assert cfg_a == cfg_b, (cfg_a, cfg_b)
    for k in ta:
        if isinstance(ta[k], np.ndarray):
            assert np.array_equal(ta[k], tb[k]), k
    print("both layouts convert to identical tensors:", cfg_a)

    ids = torch.randint(0, VOCAB, (45,), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = model.backbone(ids[None]).last_hidden_state[0, -1].numpy()
    ta["ref.tokens"] = ids.numpy().astype(np.int64)
    ta["ref.h"] = h.astype(np.float32)
    write_weights(OUT, "mamba", cfg_a, ta)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
