"""Draws the training loss and the dev MRR@10 of a ./train log (FILE.log.jsonl) against steps as a PNG.

    python3 tools/plot.py weights/demo-mamba.bin.log.jsonl weights/demo-mamba.png [--bm25 0.1833]

Needs matplotlib (PyPI). The loss is shown raw and as a moving average over 50 steps.
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("png")
    ap.add_argument("--bm25", type=float, help="BM25's dev MRR@10 on the same queries, drawn as a line")
    a = ap.parse_args()
    steps, losses, eval_steps, mrr = [], [], [], []
    for line in open(a.log):
        r = json.loads(line)
        if "loss" in r:
            steps.append(r["step"])
            losses.append(r["loss"])
        if "dev_mrr10" in r:
            eval_steps.append(r["step"])
            mrr.append(r["dev_mrr10"])
    fig, ax1 = plt.subplots(figsize=(8, 4.5))
    ax1.plot(steps, losses, color="0.8", lw=0.6, label="loss")
    k = 50
    if len(losses) >= k:
        avg = [sum(losses[i - k:i]) / k for i in range(k, len(losses) + 1)]
        ax1.plot(steps[k - 1:], avg, color="C0", label=f"loss ({k}-step average)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("group softmax cross-entropy")
    ax2 = ax1.twinx()
    ax2.plot(eval_steps, mrr, "o-", color="C3", label="dev MRR@10 (reranker)")
    if a.bm25 is not None:
        ax2.axhline(a.bm25, color="C2", ls="--", label="dev MRR@10 (BM25)")
    ax2.set_ylabel("dev MRR@10")
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="upper right")
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
