#!/usr/bin/env python3
"""Writes tests/fixtures/metrics/{run.trec,qrels.txt,expected.txt}: a small TREC run and qrels with the
cases that trip metric code (score ties inside and across the cut-offs 10 and 100, graded relevance 0-3,
a query with no relevant document, a judged query missing from the run, a run query without judgments,
retrieved documents without judgments) and the values pytrec_eval (trec_eval 9) gives for them.

  pip install pytrec-eval-terrier        # provides the pytrec_eval module
  python3 tools/make_metric_fixtures.py  # from the repository root

expected.txt lines: "measure qid value" (qid "all" is the mean over the queries in both files, as
trec_eval reports it; "all_c" the mean over every judged query with missing ones as 0, trec_eval -c).
Measures: RR@10, RR@100 (recip_rank, which ranks by score descending and docid descending, kept when the
first relevant rank is within the cut, i.e. trec_eval -M k), nDCG@10 (ndcg_cut_10), R@100 (recall_100).
The C++ test (tests/test_metrics.cpp) reads the same files; CI never runs this script.
"""
import os
import random

import pytrec_eval

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metrics")


def build():
    rng = random.Random(20261129)
    run, qrels = {}, {}
    # t_tie10: 15 documents, ties straddling rank 10, graded relevance, unjudged documents.
    run["t_tie10"] = {f"d{i:02d}": s for i, s in enumerate([9, 8, 8, 7, 6, 5, 5, 5, 4, 3, 3, 3, 2, 1, 1])}
    qrels["t_tie10"] = {"d11": 2, "d09": 0, "d10": 3, "d14": 1, "dx": 1}
    # t_tie100: 130 documents, score ties across rank 100, relevant ones around the cut and beyond.
    run["t_tie100"] = {f"e{i:03d}": float(200 - i) if i < 95 else 100.0 for i in range(130)}
    qrels["t_tie100"] = {"e098": 1, "e129": 2, "e120": 1, "e010": 0, "e099": 1}
    # t_allzero: judged, nothing relevant (trec_eval reports 0 and counts the query).
    run["t_allzero"] = {"a": 3.0, "b": 2.0, "c": 1.0}
    qrels["t_allzero"] = {"a": 0, "b": 0}
    # t_missing: judged, not in the run. t_runonly: in the run, not judged.
    qrels["t_missing"] = {"m1": 1, "m2": 2}
    run["t_runonly"] = {"r1": 1.0, "r2": 0.5}
    # t_firsttie: every score equal; docid order decides (descending).
    run["t_firsttie"] = {"a1": 0.5, "b1": 0.5, "c1": 0.5, "d1": 0.5}
    qrels["t_firsttie"] = {"a1": 1, "c1": 3}
    # t_none: relevant documents exist but none is retrieved.
    run["t_none"] = {"n1": 2.0, "n2": 1.0}
    qrels["t_none"] = {"z1": 1}
    # t_neg: negative scores and a many-level ideal list longer than 10.
    run["t_neg"] = {f"g{i:02d}": -0.25 * i for i in range(30)}
    qrels["t_neg"] = {f"g{i:02d}": (i * 7) % 4 for i in range(0, 30, 2)}
    # Random queries with coarse scores (many ties).
    for q in range(20):
        qid = f"r{q:02d}"
        n = rng.randint(5, 60)
        docs = [f"p{rng.randint(0, 400):03d}" for _ in range(n)]
        run[qid] = {d: round(rng.uniform(0, 3), 1) for d in docs}
        pool = list(run[qid]) + [f"p{rng.randint(0, 400):03d}" for _ in range(5)]
        qrels[qid] = {d: rng.choice([0, 0, 0, 1, 1, 2, 3]) for d in rng.sample(pool, min(len(pool), rng.randint(1, 12)))}
    return run, qrels


def main():
    run, qrels = build()
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "ndcg_cut.10", "recall.100"})
    res = ev.evaluate(run)
    rows = []
    means = {"RR@10": 0.0, "RR@100": 0.0, "nDCG@10": 0.0, "R@100": 0.0}
    for qid in sorted(res):
        r = res[qid]
        rr = r["recip_rank"]
        vals = {
            "RR@10": rr if rr > 0 and round(1 / rr) <= 10 else 0.0,
            "RR@100": rr if rr > 0 and round(1 / rr) <= 100 else 0.0,
            "nDCG@10": r["ndcg_cut_10"],
            "R@100": r["recall_100"],
        }
        for m, v in vals.items():
            rows.append(f"{m} {qid} {v!r}")
            means[m] += v
    n = len(res)
    n_all = n + sum(1 for q in qrels if q not in run)
    for m in means:
        rows.append(f"{m} all {means[m] / n!r}")
        rows.append(f"{m} all_c {means[m] / n_all!r}")
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "run.trec"), "w") as f:
        for qid in sorted(run):
            # Written in a shuffled order with made-up ranks: evaluation must rank by score, not by file order.
            items = list(run[qid].items())
            random.Random(qid).shuffle(items)
            for k, (d, s) in enumerate(items):
                f.write(f"{qid} Q0 {d} {k + 1} {s!r} fixture\n")
    with open(os.path.join(OUT, "qrels.txt"), "w") as f:
        for qid in sorted(qrels):
            for d, rel in sorted(qrels[qid].items()):
                f.write(f"{qid} 0 {d} {rel}\n")
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write(f"# pytrec_eval {getattr(pytrec_eval, '__version__', '?')}; see tools/make_metric_fixtures.py\n")
        f.write("\n".join(rows) + "\n")
    print(f"{n} evaluated queries, {n_all} judged; wrote {OUT}")


if __name__ == "__main__":
    main()
