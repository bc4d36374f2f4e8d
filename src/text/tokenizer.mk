# Tokenizer benchmark: the engine against HF tokenizers (one thread) on the test corpus, ratio printed.
BENCH_CMDS += 'python3 tools/bench_tokenizer.py'
