// Byte-level BPE tokenizer that reads a Hugging Face tokenizer.json and gives exactly the ids of HF
// `tokenizers` (the GPT-2 / GPT-NeoX-20B family: Mamba and Pythia checkpoints).
//
// Pipeline, in HF's order (tokenizers/src/tokenizer/mod.rs, encode_single_sequence):
//   0. invalid UTF-8: each maximal ill-formed subsequence becomes U+FFFD (what Python's
//      bytes.decode("utf-8", "replace") does; HF itself only ever sees valid str)
//   1. added tokens with normalized=false (e.g. <|endoftext|>) are cut out of the raw text,
//      leftmost-longest (HF AddedVocabulary, aho-corasick LeftmostLongest)
//   2. each remaining piece is normalized (NFC by utf8proc, or nothing)
//   3. added tokens with normalized=true (GPT-NeoX's runs of 2..24 spaces) are cut out of each piece
//   4. pre-tokenizer: ByteLevel (optional prefix space, the GPT-2 split pattern written by hand over
//      code points), alone or last in a Sequence after Digits and Split (the same pattern) stages
//   5. BPE on the bytes of each pre-token: merge ranks in a flat hash table, a min-heap over
//      (rank, position) on a linked list of symbols (HF Word::merge_all), a per-thread cache of words
//
// Errors in the file: tokenizer_parse throws std::runtime_error("<name>: <field>: <fault>");
// tokenizer_load / tokenizer_from_json turn it into fatal() (one line on stderr, exit status 1).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

// (left id, right id) -> (rank, merged id), open addressing with linear probing.
struct MergeTable {
    std::vector<uint64_t> keys;  // (left << 32) | right; EMPTY where unused
    std::vector<int32_t> rank, merged;
    uint64_t mask = 0;
    static constexpr uint64_t EMPTY = ~0ull;
};

struct AddedToken {
    std::string content;  // as written in the file (plain UTF-8, not byte-level encoded)
    int32_t id = -1;
    bool special = false, normalized = false, lstrip = false, rstrip = false;
};

// A byte trie over the contents of one group of added tokens, for leftmost-longest matching.
struct AddedTrie {
    struct Node { int32_t next[256]; int32_t token; };  // token: index into Tokenizer::added, or -1
    std::vector<Node> nodes;
    bool starts[256] = {};
};

// One stage of the pre-tokenizer, applied to every piece the previous stages produced.
enum class PreTokStage { Digits, Gpt2Split };

struct Tokenizer {
    std::string name;  // the file name, for messages

    // model (BPE)
    std::unordered_map<std::string, int32_t> vocab;  // token as written in the file ("Ġthe") -> id
    MergeTable merges;
    int32_t byte_id[256] = {};  // id of the one-byte token for each byte, -1 when the vocab lacks it
    int32_t unk_id = -1;
    bool fuse_unk = false, ignore_merges = false;

    // added tokens; not_normalized_trie is matched on raw text, normalized_trie after normalization
    std::vector<AddedToken> added;
    AddedTrie not_normalized_trie, normalized_trie;

    bool nfc = false;               // normalizer
    bool add_prefix_space = false;  // ByteLevel pre-tokenizer
    std::vector<PreTokStage> pretok;
    bool digits_individual = false;
    bool byte_level_decoder = true;  // false: no decoder (HF joins tokens with spaces)

    // per id: the bytes decode() emits (HF ByteLevel decoder rule), whether it is a special token
    std::vector<std::string> id_bytes;
    std::vector<uint8_t> id_special;
    std::vector<uint8_t> id_valid;

    uint64_t uid = 0;  // identifies the content, for the per-thread word cache
};

// Parses tokenizer.json text; throws std::runtime_error naming `name`, the field and the fault.
Tokenizer tokenizer_parse(const std::string& json_text, const std::string& name);
// Reads and parses a file; throws std::runtime_error as above (also for a missing file).
Tokenizer tokenizer_parse_file(const std::string& path);
// The same, fatal() on any error: what the engine calls.
Tokenizer tokenizer_load(const std::string& path);
Tokenizer tokenizer_from_json(const std::string& json_text, const std::string& name_for_errors);

std::vector<int32_t> encode(const Tokenizer& tok, std::string_view text);
// HF's decode with skip_special_tokens as given; invalid UTF-8 in the joined bytes becomes U+FFFD.
std::string decode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special = false);
// Encodes every text; OpenMP over texts, dynamic schedule. out is resized to texts.size().
void encode_batch(const Tokenizer& tok, const std::vector<std::string_view>& texts,
                  std::vector<std::vector<int32_t>>& out);
// The id of a token as written in the file (added tokens first, then the vocab); -1 when absent.
int32_t token_id(const Tokenizer& tok, std::string_view token);
int32_t vocab_size(const Tokenizer& tok);  // largest id + 1

// Encoding with the pre-tokenizer's words (HF Encoding.word_ids): every added-token match and every
// pre-token is one word, numbered in text order. Spans are byte offsets into `normalized`, the text
// the pre-tokenizer saw: the input with invalid UTF-8 replaced, normalized piece by piece, plus the
// prefix space where add_prefix_space inserts one. For valid NFC input without added prefix spaces,
// `normalized` equals the input, so the spans are spans of the input. A pre-token keeps its leading
// space (" world"), as in HF. Spans tile `normalized`, except where an lstrip/rstrip added token
// takes white space in which another added token is then found: HF's spans overlap there, and the
// overlapped text appears twice in `normalized`.
struct Encoding {
    std::vector<int32_t> ids;
    std::vector<int32_t> word_of_token;                 // [ids.size()] index into words
    std::vector<std::pair<uint32_t, uint32_t>> words;   // [n_words] byte span [begin, end) in normalized
    std::string normalized;
    std::string_view word(size_t w) const { return std::string_view(normalized).substr(words[w].first, words[w].second - words[w].first); }
};
Encoding encode_with_words(const Tokenizer& tok, std::string_view text);

// ---- text helpers, shared with the tests (tokenizer_text.cpp) ----------------------------------------
// The code point at s[i] of valid UTF-8; *len gets its length in bytes.
inline uint32_t utf8_cp_at(std::string_view s, size_t i, size_t* len) {
    const unsigned char* p = (const unsigned char*)s.data() + i;
    if (p[0] < 0x80) { *len = 1; return p[0]; }
    if (p[0] < 0xE0) { *len = 2; return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu); }
    if (p[0] < 0xF0) { *len = 3; return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu); }
    *len = 4;
    return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}
// Unicode White_Space: what Oniguruma's \s and Rust's char::is_whitespace match.
bool unicode_white_space(uint32_t cp);
// Replaces each maximal ill-formed subsequence by U+FFFD (Unicode 15 ch. 3 "best practice", as Python's
// "replace" error handler and Rust's from_utf8_lossy). Returns false and leaves `out` untouched when
// `s` is valid UTF-8.
bool utf8_sanitize(std::string_view s, std::string& out);
// NFC of valid UTF-8 (utf8proc); returns false and leaves `out` untouched when `s` is already NFC by
// a quick check.
bool nfc_normalize(std::string_view s, std::string& out);
// The GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// over the valid UTF-8 s[begin, end): appends the end offset of each match (matches cover the
// range). Semantics of Oniguruma's leftmost-first backtracking; \s is Unicode White_Space.
void gpt2_split(std::string_view s, size_t begin, size_t end, std::vector<uint32_t>& ends);
// Digits pre-tokenizer: appends end offsets of runs of \p{N} (or single ones) and the gaps between.
void digits_split(std::string_view s, size_t begin, size_t end, bool individual, std::vector<uint32_t>& ends);
