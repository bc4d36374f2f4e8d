#!/usr/bin/env python3
"""Makes the tokenizer's reference fixtures with Hugging Face `tokenizers` (pip install tokenizers).

    python3 tools/make_tokenizer_fixtures.py [--out tests/fixtures/tokenizer]

Writes, all deterministic for a given machine's files and tokenizers version:
  neox_config.json      a byte-level BPE with GPT-NeoX-20B's exact configuration (NFC normalizer,
                        ByteLevel pre-tokenizer / post-processor / decoder with add_prefix_space false
                        and trim_offsets true, <|endoftext|> = 0 and <|padding|> = 1 special, the 23
                        added tokens of 24 down to 2 spaces after the model vocab, merges in the
                        "a b" string form), trained here on local text since the real file cannot be
                        downloaded; 16384 model ids
  demo_tokenizer.json   tools/train_tokenizer.py's output on other local text (4096 ids, merges as pairs)
  prefix_space.json     the demo tokenizer with add_prefix_space true and no normalizer
  digits.json           the demo tokenizer with pre_tokenizer Sequence[Digits(individual), ByteLevel]
  options.json          the demo tokenizer with ignore_merges, lstrip/rstrip added tokens, a Sequence
                        normalizer and pre_tokenizer Sequence[Split(GPT-2 pattern), ByteLevel(no regex)]
  corpus.bin.gz         the test corpus (>= 1 MB of UTF-8 text in records, plus invalid-UTF-8 records)
  ids_<name>.bin.gz     HF's ids (and for neox_config its word ids) for the corpus records

Formats (little-endian; read by tests/test_tokenizer.cpp and tools/bench_tokenizer.py):
  corpus.bin.gz   "TOKTXT1\\n", u32 n_records, then per record: u32 n_bytes, the bytes, u8 flags
                  (bit 0: valid UTF-8 already in NFC, so decode(encode(text)) == text byte for byte;
                   bit 1: invalid UTF-8, the reference encoded bytes.decode("utf-8", "replace"))
  ids_*.bin.gz    "TOKIDS1\\n", u32 n_records (the first n of the corpus), u8 id_bytes (2 or 4),
                  u8 has_words, then per record: u32 n_ids, the ids, and if has_words one u8 per id:
                  word_ids[k] - word_ids[k-1] (word_ids[-1] = -1), HF Encoding.word_ids

With --tokenizer PATH [--fuzz SEED] it writes only corpus.bin.gz and ids.bin.gz for that file (the
corpus above, or 20000 random strings), for `build/bin/tokenize check` to compare: the way to check
the real GPT-NeoX-20B tokenizer.json wherever it can be had.

Unicode versions: Python 3.11 has Unicode 14.0 tables, utf8proc 2.8 (the engine) 15.0, and
tokenizers 0.23.3's regex engine 16.0 (its NFC comes from an older crate). Characters on which they
disagree are kept out of the corpus: every code point unassigned in Python's tables (which covers all
of 15.0 and 16.0), and the combining marks whose NFC behaviour differs between HF and utf8proc (found
by probing both, printed at the end).
"""
import argparse
import ctypes
import glob
import gzip
import json
import os
import random
import re
import struct
import subprocess
import sys
import unicodedata

from tokenizers import Tokenizer, normalizers, pre_tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
PYLIB = os.path.dirname(os.__file__)
CORPUS_MIN_BYTES = 1_100_000
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


# ---- what to keep out ---------------------------------------------------------------------------------
def utf8proc_nfc_fn():
    lib = ctypes.CDLL("libutf8proc.so.2")
    libc = ctypes.CDLL("libc.so.6")
    lib.utf8proc_NFC.restype = ctypes.c_void_p
    lib.utf8proc_NFC.argtypes = [ctypes.c_char_p]

    def nfc(s):
        p = lib.utf8proc_NFC(s.encode())
        r = ctypes.string_at(p).decode()
        libc.free(ctypes.c_void_p(p))
        return r
    return nfc


def nfc_disagreements():
    """Assigned code points whose NFC, in a few contexts, differs between HF and utf8proc."""
    hf, up = normalizers.NFC(), utf8proc_nfc_fn()
    bad = []
    for cp in range(1, 0x110000):
        if 0xD800 <= cp < 0xE000 or unicodedata.category(chr(cp)) == "Cn":
            continue
        c = chr(cp)
        # after a starter that composes with nothing (U+2200), next to marks of combining classes
        # 1, 7, 202, 220, 230, 240, on both sides
        for s in [c, "a" + c, c + "\u0301"] + [ctx for m in "\u0334\u093c\u0327\u0323\u0301\u0345"
                                               for ctx in ("\u2200" + m + c, "\u2200" + c + m)]:
            if hf.normalize_str(s) != up(s):
                bad.append(cp)
                break
    return bad


# ---- real text from this machine ---------------------------------------------------------------------
def read_text(path):
    data = open(path, "rb").read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


def paragraphs(text, max_len=1500):
    out = []
    for p in re.split(r"\n\s*\n", text):
        while len(p) > max_len:
            cut = p.rfind("\n", 0, max_len)
            cut = cut if cut > 0 else max_len
            out.append(p[:cut])
            p = p[cut:]
        if p.strip():
            out.append(p)
    return out


def chunks_of_lines(text, n):
    lines = text.split("\n")
    return ["\n".join(lines[i:i + n]) + "\n" for i in range(0, len(lines), n)]


def man_page_text(path):
    # troff source, kept as it is (real text with markup), from a localized man page
    return read_text(path)


def locale_strings():
    """Real words in many scripts: the <Uxxxx> strings of glibc's locale definitions."""
    out = {}
    for path in sorted(glob.glob("/usr/share/i18n/locales/*_*")):
        name = os.path.basename(path)
        strings = []
        for m in re.finditer(r'"((?:<U[0-9A-F]{4,6}>)+)"', read_text(path)):
            strings.append("".join(chr(int(u, 16)) for u in re.findall(r"<U([0-9A-F]{4,6})>", m.group(1))))
        if strings:
            out[name] = strings
    return out


# ---- generated mixes ----------------------------------------------------------------------------------
EMOJI = ["👍", "👋", "🧑", "👩", "👨", "🤝", "🙏", "💪", "👶", "🏃", "😀", "😂", "🥲", "❤️", "🔥", "✨", "🎉", "🇯🇵",
         "🇺🇸", "🇩🇪", "🇮🇳", "🏳️‍🌈", "🏴‍☠️", "👨‍👩‍👧‍👦", "👩‍❤️‍👨", "🧑‍🤝‍🧑", "👩‍💻", "👨🏾‍🚀", "🧑🏻‍🔬", "👩🏽‍⚕️",
         "#️⃣", "1️⃣", "©️", "☺️", "🫠", "🫶🏼", "🧔‍♀️"]
SKIN = ["", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
CONTRACTIONS = ["don't", "I'll", "we've", "she'd", "it's", "they're", "I'm", "can't", "won't", "DON'T", "IT'S",
                "we'LL", "o'clock", "rock 'n' roll", "'tis", "y'all", "it’s", "don’t", "I’ll", "‘quoted’",
                "“double”", "„German“", "«French»", "it''s", " 's", "''", "'''", "'s'", "'S", "'re'"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n", "\n ", " \t ", "\u00a0", "\u3000",
          "\u2009", "\u1680", "\u2028", "\u0085", "\x0b", "\x0c", "\x1c", "\x1f", "      ", " " * 17, " " * 30,
          "\n" + " " * 8, "\t \t", "\r", " \r\n"]
CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f", "\x1e", "\u200b", "\u200d", "\u200e", "\u2060", "\ufeff",
            "\u00ad", "\ufffd", "\U000e0041"]
SPECIALS = ["<|endoftext|>", "<|padding|>", "<|endoftext|><|endoftext|>", "<|endoftext", "|endoftext|>",
            "<|endoftext|>\n", " <|padding|> ", "<<|endoftext|>>", "<mask>", " <mask> ", "x  <mask>y", "[R]",
            "[R]  \n z", "\u00a0<mask>", "\t<mask>[R] \t"]
WORDS_EN = "the quick brown fox jumps over lazy dog naïve café résumé coöperate Zürich façade über straße Ærø".split()


def nfd(s):
    return unicodedata.normalize("NFD", s)


def gen_numbers(rng):
    kinds = [
        lambda: f"{rng.randint(1900, 2099)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(0, 99):02d}",
        lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        lambda: f"{rng.random() * 10 ** rng.randint(0, 9):.{rng.randint(0, 6)}f}",
        lambda: f"{rng.randint(0, 10 ** rng.randint(1, 15)):,}",
        lambda: str(rng.randint(0, 10 ** rng.randint(1, 40))),
        lambda: f"{rng.uniform(-1e6, 1e6):.3e}",
        lambda: f"+1 ({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        lambda: f"v{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        lambda: f"0x{rng.getrandbits(32):08X}",
        lambda: f"{rng.randint(1, 99)}%",
        lambda: "١٢٣٤٥ ٦٧٨٩٠ ۱۲۳ १२३४ ५६७ ১২৩ ௧௨௩ ๑๒๓ ① ② Ⅻ ½ ¾ ² ³ 一二三 ０１２３",
        lambda: f"${rng.randint(1, 9999)}.{rng.randint(0, 99):02d} €{rng.randint(1, 999)},{rng.randint(0, 99):02d} ¥{rng.randint(100, 99999)}",
    ]
    return " ".join(rng.choice(kinds)() for _ in range(rng.randint(3, 20)))


def gen_mix(rng, pools):
    parts = []
    for _ in range(rng.randint(5, 40)):
        r = rng.random()
        if r < 0.25:
            parts.append(rng.choice(rng.choice(pools)))
        elif r < 0.35:
            parts.append(rng.choice(EMOJI) + (rng.choice(SKIN) if rng.random() < 0.5 else ""))
        elif r < 0.45:
            parts.append(rng.choice(CONTRACTIONS))
        elif r < 0.6:
            parts.append(rng.choice(SPACES))
        elif r < 0.65:
            parts.append(rng.choice(CONTROLS))
        elif r < 0.7:
            parts.append(rng.choice(SPECIALS))
        elif r < 0.8:
            w = rng.choice(WORDS_EN)
            parts.append(nfd(w) if rng.random() < 0.5 else w)
        elif r < 0.9:
            parts.append(gen_numbers(rng))
        else:
            parts.append("".join(chr(rng.choice([0x300, 0x301, 0x308, 0x323, 0x327, 0x5b4, 0x5bc, 0x64b, 0x651, 0x93c,
                                                 0x94d, 0x20dd, 0x1ab0]))
                                 for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.7:
            parts.append(" ")
    return "".join(parts)


def with_marks(rng, s, marks):
    """Sprinkles combining marks (harakat, niqqud) over letters: reorderable sequences for NFC."""
    out = []
    for c in s:
        out.append(c)
        if unicodedata.category(c).startswith("L") and rng.random() < 0.4:
            out.extend(rng.sample(marks, rng.randint(1, 2)))
    return "".join(out)


def invalid_records(rng, pools):
    recs = []
    pieces = [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
              b"\xf5\x80", b"\x80", b"\xbf\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xf0\x9f", b"\xc3\x28",
              b"\xe2\x28\xa1", b"\xf8\x88\x80\x80\x80", b"\xc2", b"\xe1\x80", b"\xef\xbf"]
    for i in range(400):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.4:
                parts.append(rng.choice(pieces))
            elif r < 0.5:
                parts.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8))))
            else:
                parts.append(rng.choice(rng.choice(pools)).encode())
        recs.append(b"".join(parts))
    recs += [b"\xe2\x82", b"abc\xff", b"\xff", b"\xc3 ", b"  \xc3  \xa9", b"e\xcc", b"<|endoftext|>\xff<|padding|>"]
    return recs


# ---- the corpus ---------------------------------------------------------------------------------------
def build_corpus(rng, exclude):
    sources = {}
    lic = sorted(glob.glob("/usr/share/common-licenses/*"))
    sources["prose"] = [p for f in lic if os.path.isfile(f) for p in paragraphs(read_text(f))]
    code_files = [f"{PYLIB}/{m}" for m in ("json/decoder.py", "json/encoder.py", "textwrap.py", "shlex.py",
                                          "fractions.py", "heapq.py", "bisect.py", "colorsys.py", "csv.py",
                                          "string.py", "calendar.py", "difflib.py")]
    sources["code"] = [c for f in code_files if os.path.exists(f) for c in chunks_of_lines(read_text(f), 25)]
    sources["cjk"] = [p for f in sorted(glob.glob(f"{PYLIB}/test/cjkencodings/*-utf8.txt"))
                      for p in paragraphs(read_text(f), 800)]
    man = []
    for lang in ("ja", "ko", "ru", "de", "fr", "pl", "cs", "tr", "sr", "es", "hu"):
        files = sorted(glob.glob(f"/usr/share/man/{lang}/man1/*.gz"))[:6]
        for f in files:
            man += paragraphs(man_page_text(f), 1200)[:40]
    sources["man"] = man
    loc = locale_strings()
    pools = []
    for name, strings in loc.items():
        pools.append(strings)
    rtl = [s for n, ss in loc.items() if n.split("_")[0] in ("ar", "he", "fa", "ur", "yi") for s in ss]
    indic = [s for n, ss in loc.items() if n.split("_")[0] in ("hi", "mr", "ne", "bn", "ta", "te", "gu", "pa", "kn", "ml")
             for s in ss]
    recs_loc = []
    for name, strings in loc.items():
        for i in range(0, len(strings), 12):
            recs_loc.append(" ".join(strings[i:i + 12]))
    sources["locales"] = recs_loc
    arabic_marks = [chr(c) for c in (0x64b, 0x64c, 0x64d, 0x64e, 0x64f, 0x650, 0x651, 0x652, 0x670)]
    hebrew_marks = [chr(c) for c in (0x5b0, 0x5b4, 0x5b7, 0x5b8, 0x5bc, 0x5c1, 0x5c2, 0x5b9)]
    indic_marks = [chr(c) for c in (0x93c, 0x94d, 0x901, 0x902, 0x951)]
    gen = []
    for i in range(700):
        gen.append(gen_mix(rng, pools))
    for i in range(150):
        gen.append(" ".join(with_marks(rng, rng.choice(rtl), arabic_marks + hebrew_marks) for _ in range(8)))
        gen.append(" ".join(with_marks(rng, rng.choice(indic), indic_marks) for _ in range(8)))
    for i in range(200):
        gen.append(gen_numbers(rng))
    for i in range(100):  # NFC-versus-NFD pairs, Hangul syllables against jamo
        s = " ".join(rng.choice(WORDS_EN + ["한국어", "훈민정음", "Tiếng Việt", "Ελληνικά", "Ǆemal", "ﬁne", "Å Ω"])
                     for _ in range(6))
        gen.append(s + "\n" + nfd(s))
    sources["generated"] = gen
    sources["whitespace"] = ["".join(rng.choice(SPACES + ["x", "word", ".", "\t", "'s"]) for _ in range(rng.randint(5, 60)))
                             for _ in range(200)]

    def clean(s):
        return "".join(c for c in s if unicodedata.category(c) != "Cn" and ord(c) not in exclude
                       and not 0xD800 <= ord(c) < 0xE000)

    records = []
    for name, recs in sources.items():
        for r in recs:
            r = clean(r)
            if r:
                records.append(r)
    rng.shuffle(records)
    # keep the committed fixture small: records in shuffled order up to the size
    kept, total = [], 0
    for r in records:
        if total >= CORPUS_MIN_BYTES:
            break
        kept.append(r)
        total += len(r.encode())
    records = kept
    # top up with prose from /usr/share/doc copyright files when short of the size
    extra = sorted(glob.glob("/usr/share/doc/*/copyright"))
    k = 0
    while total < CORPUS_MIN_BYTES and k < len(extra):
        for p in paragraphs(read_text(extra[k]))[:20]:
            p = clean(p)
            if p:
                records.append(p)
                total += len(p.encode())
        k += 1
    # the edge cases, first
    edge = ["", " ", "  ", "a", "\n", "\r\n", "'s", "<|endoftext|>", " <|endoftext|> ", "a  b", "a   b", " " * 25,
            " " * 60 + "x", "x" + " " * 24, "\t\t\n  \n", "Hello world", "hello  world  ", "I'm here. They'll go!",
            "e\u0301", "\u00e9", "\u1100\u1161\u11a8", "\uac01", "👩🏽‍💻 👨‍👩‍👧‍👦", "🇯🇵🇺🇸", "١٢٣ 123 ①", "don’t “quote”"]
    return edge + records, sources


def write_corpus(path, texts, invalid):
    out = [b"TOKTXT1\n", struct.pack("<I", len(texts) + len(invalid))]
    for t in texts:
        b = t.encode()
        flags = 1 if unicodedata.normalize("NFC", t) == t else 0
        out += [struct.pack("<I", len(b)), b, bytes([flags])]
    for b in invalid:
        out += [struct.pack("<I", len(b)), b, bytes([2])]
    with gzip.GzipFile(path, "wb", mtime=0, compresslevel=9) as f:
        f.write(b"".join(out))


def write_ids(path, tok, strs, with_words, check_decode=None):
    encs = tok.encode_batch(strs)
    n_vocab = tok.get_vocab_size(with_added_tokens=True)
    width = 2 if n_vocab <= 65536 else 4
    out = [b"TOKIDS1\n", struct.pack("<IBB", len(strs), width, 1 if with_words else 0)]
    n_ids = 0
    for i, e in enumerate(encs):
        ids = e.ids
        n_ids += len(ids)
        out.append(struct.pack("<I", len(ids)))
        out.append(struct.pack(f"<{len(ids)}{'H' if width == 2 else 'i'}", *ids))
        if with_words:
            prev, deltas = -1, []
            for w in e.word_ids:
                assert w is not None and 0 <= w - prev < 256, (i, w, prev)
                deltas.append(w - prev)
                prev = w
            out.append(bytes(deltas))
        if check_decode is not None:
            d = tok.decode(ids, skip_special_tokens=False)
            assert d == check_decode[i], (i, d[:80], check_decode[i][:80])
    with gzip.GzipFile(path, "wb", mtime=0, compresslevel=9) as f:
        f.write(b"".join(out))
    return n_ids


def to_string_merges(path):
    """Rewrites merges to the "a b" form of the real GPT-NeoX-20B file (newer tokenizers write pairs)."""
    j = json.load(open(path, encoding="utf-8"))
    j["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in j["model"]["merges"]]
    json.dump(j, open(path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)


def fuzz_texts(rng, exclude, n):
    """Random strings over the code points where tokenizers are easy to get wrong."""
    pools = [list(range(0x20, 0x7f)), [0x20] * 20, [0x27] * 10,
             [0x9, 0xa, 0xd, 0xb, 0xc, 0x85, 0xa0, 0x1680, 0x2000, 0x2028, 0x3000, 0x1c, 0x1f],
             list(range(0x300, 0x370)), list(range(0x591, 0x5c8)), list(range(0x64b, 0x660)),
             list(range(0x900, 0x980)), list(range(0x1100, 0x1200)), list(range(0xac00, 0xac40)),
             list(range(0x3040, 0x30ff)), list(range(0x4e00, 0x4e40)), list(range(0x1f300, 0x1f400)),
             [0x200d, 0xfe0f, 0x1f3fb], list(range(0x660, 0x66a)), list(range(0xff10, 0xff1a)),
             list(range(0x2160, 0x2190)), list(range(0x1e00, 0x1f00)), list(range(0x0f00, 0x0fd0))]
    texts = []
    for _ in range(n):
        s = []
        for _ in range(rng.randint(1, 40)):
            if rng.random() < 0.05:
                s.append(rng.choice(SPECIALS + CONTRACTIONS + SPACES))
                continue
            c = rng.randrange(0x110000) if rng.random() < 0.05 else rng.choice(rng.choice(pools))
            if 0xD800 <= c < 0xE000 or c in exclude or unicodedata.category(chr(c)) == "Cn":
                continue
            s.append(chr(c))
        texts.append("".join(s))
    return texts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures", "tokenizer"))
    ap.add_argument("--tokenizer", help="instead of the fixtures: write corpus.bin.gz and ids.bin.gz for this "
                    "tokenizer.json to --out, for `build/bin/tokenize check TOKENIZER OUT/corpus.bin.gz OUT/ids.bin.gz`")
    ap.add_argument("--fuzz", type=int, metavar="SEED", help="with --tokenizer: 20000 random strings instead of the corpus")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(20240229)

    print("probing NFC of HF against utf8proc ...", flush=True)
    exclude = set(nfc_disagreements())
    if args.tokenizer:
        if args.fuzz is not None:
            texts, invalid = fuzz_texts(random.Random(args.fuzz), exclude, 20000), []
        else:
            texts, _ = build_corpus(rng, exclude)
            invalid = invalid_records(rng, [texts[30:200]])
        write_corpus(os.path.join(args.out, "corpus.bin.gz"), texts, invalid)
        strs = texts + [b.decode("utf-8", "replace") for b in invalid]
        n_ids = write_ids(os.path.join(args.out, "ids.bin.gz"), Tokenizer.from_file(args.tokenizer), strs, True)
        print(f"{len(strs)} records, {n_ids} ids; now: build/bin/tokenize check {args.tokenizer} "
              f"{args.out}/corpus.bin.gz {args.out}/ids.bin.gz")
        return
    texts, sources = build_corpus(rng, exclude)
    invalid = invalid_records(rng, [texts[30:200]])
    print(f"corpus: {len(texts)} valid records, {sum(len(t.encode()) for t in texts)} bytes; "
          f"{len(invalid)} invalid-UTF-8 records; sources: " +
          ", ".join(f"{k} {len(v)}" for k, v in sources.items()))
    write_corpus(os.path.join(args.out, "corpus.bin.gz"), texts, invalid)
    strs = texts + [b.decode("utf-8", "replace") for b in invalid]
    nfc_texts = [unicodedata.normalize("NFC", s) for s in strs]

    # training text: other local files than the corpus (Python sources and docs, man pages in English)
    train_path = os.path.join(args.out, "train_text.tmp")
    with open(train_path, "w", encoding="utf-8") as f:
        for p in sorted(glob.glob(f"{PYLIB}/*.py"))[:120]:
            f.write(read_text(p))
        for p in sorted(glob.glob("/usr/share/man/man1/*.gz"))[:200]:
            f.write(read_text(p))
        for p in sorted(glob.glob("/usr/share/man/*/man1/*.gz"))[:300]:
            f.write(read_text(p))
        for p in sorted(glob.glob(f"{PYLIB}/test/cjkencodings/*-utf8.txt")):
            f.write(read_text(p))
        for strings in locale_strings().values():
            f.write(" ".join(strings) + "\n")
    train = os.path.join(HERE, "train_tokenizer.py")
    neox = os.path.join(args.out, "neox_config.json")
    demo = os.path.join(args.out, "demo_tokenizer.json")
    subprocess.run([sys.executable, train, train_path, neox, "--vocab-size", str(16384 + 64)], check=True)
    to_string_merges(neox)
    subprocess.run([sys.executable, train, train_path, demo, "--vocab-size", "4096"], check=True)
    os.remove(train_path)

    j = json.load(open(demo, encoding="utf-8"))
    j["normalizer"] = None
    j["pre_tokenizer"]["add_prefix_space"] = True
    json.dump(j, open(os.path.join(args.out, "prefix_space.json"), "w", encoding="utf-8"), ensure_ascii=False)
    j = json.load(open(demo, encoding="utf-8"))
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, j["pre_tokenizer"]]}
    json.dump(j, open(os.path.join(args.out, "digits.json"), "w", encoding="utf-8"), ensure_ascii=False)

    # options.json: the rest of what the loader accepts, in one file: ignore_merges, added tokens with
    # lstrip (special, raw) and rstrip (normalized), a Sequence normalizer, and Split + ByteLevel
    # without its regex (the shape of newer byte-level configs)
    j = json.load(open(demo, encoding="utf-8"))
    j["model"]["ignore_merges"] = True
    n = max(t["id"] for t in j["added_tokens"]) + 1
    j["added_tokens"] += [
        {"id": n, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False,
         "special": True},
        {"id": n + 1, "content": "[R]", "single_word": False, "lstrip": False, "rstrip": True, "normalized": True,
         "special": False}]
    j["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}]}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": GPT2_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    json.dump(j, open(os.path.join(args.out, "options.json"), "w", encoding="utf-8"), ensure_ascii=False)

    subset = 1000
    for name, n, words in (("neox_config", len(strs), True), ("demo_tokenizer", subset, False),
                           ("prefix_space", subset, False), ("digits", subset, True), ("options", subset, True)):
        tok = Tokenizer.from_file(os.path.join(args.out, name + ".json"))
        chk = nfc_texts[:n] if name not in ("prefix_space", "options") else None  # those add or drop spaces
        n_ids = write_ids(os.path.join(args.out, f"ids_{name}.bin.gz"), tok, strs[:n], words, chk)
        print(f"{name}: {n} records, {n_ids} ids")
    print("code points kept out for NFC disagreement (HF vs utf8proc):",
          " ".join(f"U+{c:04X}" for c in sorted(exclude)))


if __name__ == "__main__":
    main()
