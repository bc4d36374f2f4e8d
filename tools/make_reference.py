"""Makes tests/fixtures/mamba_reference.bin: the PyTorch / Hugging Face reference that the C++ CPU backend
is checked against (tests/test_parity.cpp).

A tiny random Mamba-1 (transformers' MambaModel, fp32, CPU) with every parameter perturbed so that no
bias is zero and no norm weight is one, plus this engine's two additions written in plain PyTorch: the
exact-match flag embedding (added to the token embedding) and the scoring head (Linear(D, 1) on the
final-normed hidden state of each sequence's last token). A batch of 2 groups x 4 sequences of unequal
odd lengths is run one sequence at a time (so no padding exists anywhere in the reference), the group
softmax cross-entropy (positive at index 0) is averaged over groups, and autograd gives every gradient.
Then 3 AdamW steps (torch.optim.AdamW, decay only on matrices and embeddings, clip_grad_norm_ active,
the engine's warmup + linear decay schedule through LambdaLR) record the losses and final parameters;
score.bias is left out of the optimizer as the engine does.

Run: python3 tools/make_reference.py   (needs torch, transformers, numpy from PyPI; ~10 s on a CPU)
"""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch
from transformers import MambaConfig, MambaModel

sys.path.insert(0, os.path.dirname(__file__))
from weights_format import write_weights  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "mamba_reference.bin")

V, D, L, N, K, EXPAND, R, EPS = 256, 64, 2, 16, 4, 2, 4, 1e-5
E = EXPAND * D
G = 4
LENGTHS = [33, 47, 61, 35, 39, 53, 41, 37]  # 2 groups x 4, odd, unequal, >= 33
LR, BETAS, ADAM_EPS, WD, CLIP, WARMUP, STEPS = 1e-3, (0.9, 0.999), 1e-8, 0.1, 1.0, 2, 3


def lr_lambda(step):  # the engine's schedule (src/core/optim.cpp): linear warmup, then linear decay to 0
    if step < WARMUP:
        return (step + 1) / WARMUP
    return max(0.0, (STEPS - step) / (STEPS - WARMUP))


def main():
    torch.manual_seed(1234)
    cfg = MambaConfig(vocab_size=V, hidden_size=D, state_size=N, num_hidden_layers=L, layer_norm_epsilon=EPS,
                      expand=EXPAND, conv_kernel=K, use_bias=False, use_conv_bias=True, time_step_rank=R,
                      residual_in_fp32=True)
    backbone = MambaModel(cfg).float().eval()  # eval: the plain PyTorch path; autograd still runs
    match = torch.nn.Embedding(2, D)
    head = torch.nn.Linear(D, 1)
    with torch.no_grad():
        for name, p in backbone.named_parameters():
            if name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith("conv1d.bias"):
                p.copy_(0.2 * torch.randn_like(p))
            elif name.endswith("A_log"):
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith(".D"):
                p.copy_(1 + 0.5 * torch.randn_like(p))
            elif name.endswith("embeddings.weight"):
                p.copy_(0.5 * torch.randn_like(p))
        match.weight.copy_(0.3 * torch.randn_like(match.weight))
        head.weight.copy_(0.3 * torch.randn_like(head.weight))
        head.bias.fill_(0.37)

    named = [("backbone." + n, p) for n, p in backbone.named_parameters()]
    named += [("backbone.match_embeddings.weight", match.weight), ("score.weight", head.weight),
              ("score.bias", head.bias)]
    initial = {n: p.detach().clone().numpy() for n, p in named}

    g = torch.Generator().manual_seed(99)
    seqs = [torch.randint(0, V, (n,), generator=g) for n in LENGTHS]
    flags = [torch.randint(0, 2, (n,), generator=g) for n in LENGTHS]

    final_residual = {}
    backbone.layers[-1].register_forward_hook(lambda m, i, o: final_residual.__setitem__("x", o))

    def forward():
        scores, xs, hs = [], [], []
        for ids, fl in zip(seqs, flags):
            emb = backbone.embeddings(ids) + match(fl)
            out = backbone(inputs_embeds=emb[None])
            h = out.last_hidden_state[0, -1]  # after norm_f, last token
            scores.append(head(h)[0])
            xs.append(final_residual["x"][0])
            hs.append(h)
        scores = torch.stack(scores)
        groups = scores.view(-1, G)
        loss = torch.nn.functional.cross_entropy(groups, torch.zeros(groups.shape[0], dtype=torch.long))
        return loss, scores, torch.cat(xs), torch.stack(hs)

    # The engine's rules (src/models/mamba/mamba.cpp's table): decay on matrices and embeddings, none on norms,
    # biases, A_log and D; score.bias is not trained (its gradient is identically zero under the group
    # softmax, which is shift-invariant, and AdamW would turn its rounding noise into lr-sized steps).
    trained = [(n, p) for n, p in named if n != "score.bias"]
    params = [p for _, p in trained]
    decay = [p for n, p in trained if p.dim() >= 2 and not n.endswith("A_log")]
    no_decay = [p for n, p in trained if p.dim() < 2 or n.endswith("A_log")]
    assert len(decay) + len(no_decay) == len(params)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=ADAM_EPS)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)

    tensors = {}
    losses, norms = [], []
    for step in range(STEPS):
        opt.zero_grad()
        loss, scores, xs, hs = forward()
        loss.backward()
        if step == 0:
            tensors["ref.scores"] = scores.detach().numpy()
            tensors["ref.x_out"] = xs.detach().numpy()
            tensors["ref.h"] = hs.detach().numpy()
            for n, p in named:
                tensors["ref.grad." + n] = p.grad.detach().clone().numpy()
        losses.append(loss.item())
        norm = torch.nn.utils.clip_grad_norm_(params, CLIP)
        norms.append(norm.item())
        print("step", step, "loss", loss.item(), "grad norm", norm.item())
        assert norm.item() > CLIP, "clipping must be active in the fixture"
        opt.step()
        sched.step()
    for n, p in named:
        tensors["ref.final." + n] = p.detach().numpy()

    offsets = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    params_out = {n: initial[n] for n, _ in named}
    params_out["backbone.embeddings.weight"] = initial["backbone.embeddings.weight"]
    extra = {"ref.tokens": torch.cat(seqs).numpy().astype(np.int64),
             "ref.match": torch.cat(flags).numpy().astype(np.int64),
             "ref.offsets": offsets,
             "ref.losses": np.array(losses, dtype=np.float32),
             "ref.grad_norms": np.array(norms, dtype=np.float32)}
    config = {"d_model": D, "n_layer": L, "d_state": N, "d_conv": K, "d_inner": E, "dt_rank": R,
              "vocab_size": V, "norm_eps": EPS, "match_feature": 1, "group_size": G, "lr": LR,
              "beta1": BETAS[0], "beta2": BETAS[1], "adam_eps": ADAM_EPS, "weight_decay": WD, "clip": CLIP,
              "warmup": WARMUP, "steps": STEPS}
    write_weights(OUT, "mamba", config, {**params_out, **tensors, **extra})
    print(f"wrote {OUT}: losses {losses}, grad norms {norms}, scores {tensors['ref.scores'][:4]}")


if __name__ == "__main__":
    main()
