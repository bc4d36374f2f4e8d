#!/usr/bin/env python3
"""Tokenizer speed, side by side in one run: the engine (build/bin/tokenize bench) and HF tokenizers
(Python binding, one thread), on the same tokenizer.json and the same corpus; prints the ratio.

    python3 tools/bench_tokenizer.py [--tokenizer tests/fixtures/tokenizer/neox_config.json]
                                     [--corpus tests/fixtures/tokenizer/corpus.bin.gz] [--repeat 3]

HF runs with RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false (set before the import), through
encode_batch over all records (its fastest single-thread path: no Python call per record) and
through encode() record by record. Both sides take the best of --repeat passes; the first pass fills
each side's word cache. Records with invalid UTF-8 go to HF as bytes.decode("utf-8", "replace"), to
the engine as bytes (it does the same replacement itself).
"""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read_corpus(path):
    raw = gzip.open(path, "rb").read()
    assert raw[:8] == b"TOKTXT1\n", path
    (n,), p, recs = struct.unpack_from("<I", raw, 8), 12, []
    for _ in range(n):
        (k,) = struct.unpack_from("<I", raw, p)
        recs.append(raw[p + 4:p + 4 + k])
        p += 4 + k + 1
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "tests/fixtures/tokenizer/neox_config.json"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "tests/fixtures/tokenizer/corpus.bin.gz"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/tokenize"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    try:
        import tokenizers
        from tokenizers import Tokenizer
    except ImportError:
        print("bench_tokenizer: Python package tokenizers is missing (pip install tokenizers); skipped")
        return 0

    recs = read_corpus(args.corpus)
    texts = [r.decode("utf-8", "replace") for r in recs]
    n_bytes = sum(len(r) for r in recs)
    tok = Tokenizer.from_file(args.tokenizer)

    best_batch, best_loop, n_tokens = 1e30, 1e30, 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        encs = tok.encode_batch(texts)
        best_batch = min(best_batch, time.perf_counter() - t0)
        n_tokens = sum(len(e.ids) for e in encs)
        t0 = time.perf_counter()
        for t in texts:
            tok.encode(t)
        best_loop = min(best_loop, time.perf_counter() - t0)

    out = subprocess.run([args.bin, "bench", args.tokenizer, args.corpus, "--repeat", str(args.repeat)],
                         check=True, capture_output=True, text=True).stdout
    cpp = {}
    batch = []
    for line in out.splitlines():
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if line.startswith("cpp_batch"):
            batch.append(kv)
        else:
            cpp.update(kv)
    if int(cpp["tokens"]) != n_tokens:
        print(f"error: token counts differ: engine {cpp['tokens']}, HF {n_tokens}")
        return 1

    mb = n_bytes / 1e6
    print(f"tokenizer {os.path.relpath(args.tokenizer)}, corpus {os.path.relpath(args.corpus)}: "
          f"{len(recs)} records, {n_bytes} bytes, {n_tokens} tokens; tokenizers {tokenizers.__version__}; "
          f"best of {args.repeat}")
    print(f"{'':34s} {'MB/s':>8s} {'tokens/s':>12s}")
    rows = [("HF encode_batch, 1 thread", best_batch), ("HF encode() per record, 1 thread", best_loop)]
    cpp_s = float(cpp["cpp_1thread_s"])
    rows.append(("engine encode() per record, 1 thr", cpp_s))
    for kv in batch:  # these passes run over the corpus repeated kv["copies"] times
        rows.append((f"engine encode_batch, {kv['threads']} thread(s)", float(kv["s"]) / int(kv["copies"])))
    for name, s in rows:
        print(f"{name:34s} {mb / s:8.2f} {n_tokens / s:12.0f}")
    print(f"ratio engine/HF, one thread: {best_batch / cpp_s:.2f}x (vs HF encode_batch), "
          f"{best_loop / cpp_s:.2f}x (vs HF encode per record)")
    # one 1 MiB word without spaces (random letters): BPE must stay near-linear on both sides
    import random
    import tempfile
    rng = random.Random(1)
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(1 << 20))
    t0 = time.perf_counter()
    n_word = len(tok.encode(word).ids)
    hf_word = time.perf_counter() - t0
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(word + "\n")
    out = subprocess.run([args.bin, "bench", args.tokenizer, f.name, "--repeat", "1"], check=True,
                         capture_output=True, text=True).stdout
    os.remove(f.name)
    kv = dict(x.split("=", 1) for line in out.splitlines() if line.startswith("cpp_1thread") for x in line.split())
    print(f"one 1 MiB word of random letters ({n_word} tokens): HF {hf_word:.3f} s, engine "
          f"{float(kv['cpp_1thread_s']):.3f} s")
    if len(batch) > 1:
        s1, sn = float(batch[0]["s"]), float(batch[-1]["s"])
        c1, cn = float(batch[0]["cpu_s"]), float(batch[-1]["cpu_s"])
        print(f"engine batch scaling: {s1 / sn:.2f}x wall on {batch[-1]['threads']} threads (of {os.cpu_count()} "
              f"CPUs, load average {os.getloadavg()[0]:.1f}); CPU time {cn / c1:.2f}x that of one thread "
              f"(1.00x = no contention inside the engine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
