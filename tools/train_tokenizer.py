#!/usr/bin/env python3
"""Trains a byte-level BPE with GPT-NeoX-20B's configuration on a text file (pip install tokenizers).

    python3 tools/train_tokenizer.py TRAIN_TEXT OUT_TOKENIZER_JSON [--vocab-size 4096]

The configuration is that of EleutherAI/gpt-neox-20b's tokenizer.json (the Mamba and Pythia
checkpoints' tokenizer): NFC normalizer; ByteLevel pre-tokenizer, post-processor and decoder with
add_prefix_space false and trim_offsets true; <|endoftext|> (id 0) and <|padding|> (id 1) special
tokens; and after the model's ids the 23 non-special, normalized added tokens of 24, 23, ..., 2
spaces. --vocab-size counts every id (model ids plus the 23 added ones); the default, 4096, is a
multiple of 64, so the embedding needs no padding. When the text is too small to learn that many
merges, the script says how many ids it got and the padded size to use.
"""
import argparse
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPACE_RUNS = [" " * n for n in range(24, 1, -1)]  # GPT-NeoX-20B ids 50254..50276


def train(text_path, out_path, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPACE_RUNS),
        min_frequency=2,
        special_tokens=["<|endoftext|>", "<|padding|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([text_path], trainer)
    tok.add_tokens([AddedToken(s, special=False, normalized=True, single_word=False, lstrip=False, rstrip=False)
                    for s in SPACE_RUNS])
    tok.save(out_path)
    n = tok.get_vocab_size(with_added_tokens=True)
    padded = (n + 63) // 64 * 64
    print(f"{out_path}: {n} ids ({n - len(SPACE_RUNS)} model ids + {len(SPACE_RUNS)} space runs)"
          + ("" if n == padded else f"; pad the embedding to {padded}"))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("text", help="training text (UTF-8)")
    ap.add_argument("out", help="tokenizer.json to write")
    ap.add_argument("--vocab-size", type=int, default=4096, help="ids in all, a multiple of 64 (default 4096)")
    args = ap.parse_args()
    if args.vocab_size % 64:
        sys.exit(f"error: --vocab-size {args.vocab_size} is not a multiple of 64")
    train(args.text, args.out, args.vocab_size)


if __name__ == "__main__":
    main()
