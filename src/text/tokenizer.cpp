// Byte-level BPE tokenizer: loading tokenizer.json, encode, decode. See tokenizer.h for the pipeline.
//
// tokenizer.json fields read (HF tokenizers serialization), and what is accepted:
//   model            {type: "BPE" (or absent with merges), vocab: {token: id}, merges: ["a b", ...] or
//                    [["a", "b"], ...], unk_token, fuse_unk, ignore_merges; dropout null or 0,
//                    continuing_subword_prefix / end_of_word_suffix null or "", byte_fallback false}
//   added_tokens     [{id, content, special, normalized, lstrip, rstrip, single_word: false}]
//   normalizer       null | {type: NFC} | {type: Sequence, normalizers: [NFC...]}
//   pre_tokenizer    ByteLevel {add_prefix_space, use_regex} | Sequence of Digits {individual_digits}
//                    and Split {pattern: {Regex: <the GPT-2 pattern>}, behavior: Isolated, invert:
//                    false} stages, then ByteLevel (last; add_prefix_space true only when alone)
//   decoder          null | ByteLevel
//   post_processor   null | ByteLevel (offsets only; it adds no ids)
//   truncation, padding: null
// Anything else is refused with a message naming the field, so that a file this code would encode
// differently from HF never loads silently.
#include "text/tokenizer.h"

#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/common.h"

using json = nlohmann::json;

namespace {

// ---- GPT-2 byte <-> char table (bytes_to_unicode) ---------------------------------------------------
// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 + k in byte order.
struct ByteTable {
    uint32_t byte_to_cp[256];
    std::string byte_to_utf8[256];
    int cp_to_byte[324];  // code points < 324 only; -1 when not in the table
    ByteTable() {
        for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
        int k = 0;
        for (int b = 0; b < 256; b++) {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            uint32_t cp = printable ? (uint32_t)b : 256u + (uint32_t)k++;
            byte_to_cp[b] = cp;
            cp_to_byte[cp] = b;
            std::string u;
            if (cp < 0x80) u.push_back((char)cp);
            else { u.push_back((char)(0xC0 | (cp >> 6))); u.push_back((char)(0x80 | (cp & 0x3F))); }
            byte_to_utf8[b] = u;
        }
    }
};
const ByteTable bytes_table;

// HF ByteLevel decoder on one token: the bytes of its chars when every char is in the table, else
// the token's own UTF-8 bytes.
std::string byte_level_decode_token(const std::string& t) {
    std::string out;
    const unsigned char* p = (const unsigned char*)t.data();
    for (size_t i = 0; i < t.size();) {
        uint32_t cp;
        size_t len;
        if (p[i] < 0x80) { cp = p[i]; len = 1; }
        else if ((p[i] & 0xE0) == 0xC0 && i + 1 < t.size()) { cp = ((p[i] & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu); len = 2; }
        else return t;  // three- and four-byte chars are never in the table
        if (cp >= 324 || bytes_table.cp_to_byte[cp] < 0) return t;
        out.push_back((char)bytes_table.cp_to_byte[cp]);
        i += len;
    }
    return out;
}

std::string byte_level_encode(std::string_view bytes) {
    std::string s;
    for (unsigned char b : bytes) s += bytes_table.byte_to_utf8[b];
    return s;
}

// For messages: a token with control characters escaped, so that every error stays on one line.
std::string printable(std::string_view s) {
    std::string o;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7F) o += strfmt("\\x%02X", c);
        else o.push_back((char)c);
    }
    return o;
}

[[noreturn]] void fail(const std::string& name, const std::string& field, const std::string& fault) {
    throw std::runtime_error(name + ": " + field + ": " + fault);
}

// Typed field access with errors that name the field.
struct Reader {
    const std::string& name;
    const json* get(const json& obj, const char* key) const {
        auto it = obj.find(key);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }
    bool boolean(const json& obj, const char* key, const std::string& field, bool dflt) const {
        const json* v = get(obj, key);
        if (!v) return dflt;
        if (!v->is_boolean()) fail(name, field + "." + key, "expected true or false");
        return v->get<bool>();
    }
    std::string string(const json& obj, const char* key, const std::string& field) const {
        const json* v = get(obj, key);
        if (!v) fail(name, field + "." + key, "missing");
        if (!v->is_string()) fail(name, field + "." + key, "expected a string");
        return v->get<std::string>();
    }
    std::string type(const json& obj, const std::string& field) const {
        if (!obj.is_object()) fail(name, field, "expected an object");
        return string(obj, "type", field);
    }
};

// ---- merge table ------------------------------------------------------------------------------------
inline uint64_t merge_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
inline size_t merge_slot(const MergeTable& m, uint64_t key) { return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & m.mask; }

void merge_table_init(MergeTable& m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 16) cap *= 2;
    m.keys.assign(cap, MergeTable::EMPTY);
    m.rank.assign(cap, -1);
    m.merged.assign(cap, -1);
    m.mask = cap - 1;
}

// A later duplicate overwrites an earlier one, as HF's HashMap collect does.
void merge_table_put(MergeTable& m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = merge_key(a, b);
    size_t s = merge_slot(m, key);
    while (m.keys[s] != MergeTable::EMPTY && m.keys[s] != key) s = (s + 1) & m.mask;
    m.keys[s] = key;
    m.rank[s] = rank;
    m.merged[s] = merged;
}

inline int64_t merge_find(const MergeTable& m, int32_t a, int32_t b) {
    uint64_t key = merge_key(a, b);
    size_t s = merge_slot(m, key);
    while (true) {
        uint64_t k = m.keys[s];
        if (k == key) return (int64_t)s;
        if (k == MergeTable::EMPTY) return -1;
        s = (s + 1) & m.mask;
    }
}

// ---- added-token trie -------------------------------------------------------------------------------
int32_t trie_node(AddedTrie& t) {
    AddedTrie::Node n;
    for (int i = 0; i < 256; i++) n.next[i] = -1;
    n.token = -1;
    t.nodes.push_back(n);
    return (int32_t)t.nodes.size() - 1;
}

void trie_add(AddedTrie& t, const std::string& s, int32_t token) {
    if (t.nodes.empty()) trie_node(t);
    int32_t node = 0;
    for (unsigned char c : s) {
        if (t.nodes[node].next[c] < 0) {
            int32_t nn = trie_node(t);
            t.nodes[node].next[c] = nn;
        }
        node = t.nodes[node].next[c];
    }
    t.nodes[node].token = token;  // a later duplicate content wins
    t.starts[(unsigned char)s[0]] = true;
}

std::atomic<uint64_t> next_uid{1};
constexpr int64_t MAX_ID = 1 << 24;  // ids index tables; a bound keeps a bad file from asking for gigabytes

// ---- loading ----------------------------------------------------------------------------------------
void parse_model(Tokenizer& tok, const json& model, const Reader& r) {
    const std::string& name = tok.name;
    std::string type;
    if (!model.is_object()) fail(name, "model", "expected an object");
    if (r.get(model, "type")) type = r.string(model, "type", "model");
    else if (r.get(model, "merges")) type = "BPE";
    else fail(name, "model.type", "missing");
    if (type != "BPE") fail(name, "model.type", "unknown model type '" + type + "' (only byte-level BPE is supported)");

    const json* dropout = r.get(model, "dropout");
    if (dropout && !(dropout->is_number() && dropout->get<double>() == 0.0))
        fail(name, "model.dropout", "BPE dropout is not supported (encoding would not be deterministic)");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const json* v = r.get(model, key);
        if (v && !(v->is_string() && v->get<std::string>().empty()))
            fail(name, std::string("model.") + key, "not supported by byte-level BPE");
    }
    if (r.boolean(model, "byte_fallback", "model", false)) fail(name, "model.byte_fallback", "not supported by byte-level BPE");
    tok.fuse_unk = r.boolean(model, "fuse_unk", "model", false);
    tok.ignore_merges = r.boolean(model, "ignore_merges", "model", false);

    const json* vocab = r.get(model, "vocab");
    if (!vocab) fail(name, "model.vocab", "missing");
    if (!vocab->is_object()) fail(name, "model.vocab", "expected an object of token: id");
    tok.vocab.reserve(vocab->size() * 2);
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= MAX_ID)
            fail(name, "model.vocab[\"" + printable(it.key()) + "\"]", "expected an integer id in [0, 2^24)");
        tok.vocab[it.key()] = (int32_t)it.value().get<int64_t>();
    }
    for (int b = 0; b < 256; b++) {
        auto it = tok.vocab.find(bytes_table.byte_to_utf8[b]);
        tok.byte_id[b] = it == tok.vocab.end() ? -1 : it->second;
    }
    if (const json* unk = r.get(model, "unk_token")) {
        if (!unk->is_string()) fail(name, "model.unk_token", "expected a string");
        auto it = tok.vocab.find(unk->get<std::string>());
        if (it == tok.vocab.end()) fail(name, "model.unk_token", "'" + printable(unk->get<std::string>()) + "' is not in model.vocab");
        tok.unk_id = it->second;
    }

    const json* merges = r.get(model, "merges");
    if (!merges) fail(name, "model.merges", "missing");
    if (!merges->is_array()) fail(name, "model.merges", "expected an array");
    merge_table_init(tok.merges, merges->size());
    int32_t rank = 0;
    std::string a, b;
    for (const json& m : *merges) {
        std::string field = "model.merges[" + std::to_string(rank) + "]";
        if (m.is_string()) {  // "a b": exactly one space (HF convert_merges_to_hashmap)
            const std::string& line = m.get_ref<const std::string&>();
            size_t sp = line.find(' ');
            if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
                fail(name, field, "expected \"left right\" with one space, got \"" + printable(line) + "\"");
            a = line.substr(0, sp);
            b = line.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            fail(name, field, "expected \"left right\" or [\"left\", \"right\"]");
        }
        auto ia = tok.vocab.find(a), ib = tok.vocab.find(b), iab = tok.vocab.find(a + b);
        if (ia == tok.vocab.end()) fail(name, field, "names unknown token '" + printable(a) + "'");
        if (ib == tok.vocab.end()) fail(name, field, "names unknown token '" + printable(b) + "'");
        if (iab == tok.vocab.end()) fail(name, field, "merged token '" + printable(a + b) + "' is not in model.vocab");
        merge_table_put(tok.merges, ia->second, ib->second, rank, iab->second);
        rank++;
    }
}

void parse_added_tokens(Tokenizer& tok, const json* list, const Reader& r) {
    const std::string& name = tok.name;
    if (!list) return;
    if (!list->is_array()) fail(name, "added_tokens", "expected an array");
    for (size_t i = 0; i < list->size(); i++) {
        const json& t = (*list)[i];
        std::string field = "added_tokens[" + std::to_string(i) + "]";
        if (!t.is_object()) fail(name, field, "expected an object");
        AddedToken a;
        a.content = r.string(t, "content", field);
        if (a.content.empty()) fail(name, field + ".content", "empty");
        std::string bad;
        if (utf8_sanitize(a.content, bad)) fail(name, field + ".content", "invalid UTF-8");
        a.special = r.boolean(t, "special", field, false);
        a.normalized = r.boolean(t, "normalized", field, !a.special);
        a.lstrip = r.boolean(t, "lstrip", field, false);
        a.rstrip = r.boolean(t, "rstrip", field, false);
        if (r.boolean(t, "single_word", field, false)) fail(name, field + ".single_word", "true is not supported");
        // HF gives an added token the model's id when the model has the content, else its own.
        auto it = tok.vocab.find(a.content);
        if (it != tok.vocab.end()) {
            a.id = it->second;
        } else {
            const json* id = r.get(t, "id");
            if (!id || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= MAX_ID)
                fail(name, field + ".id", "expected an integer id in [0, 2^24)");
            a.id = (int32_t)id->get<int64_t>();
        }
        tok.added.push_back(a);
    }
    for (size_t i = 0; i < tok.added.size(); i++)
        trie_add(tok.added[i].normalized ? tok.normalized_trie : tok.not_normalized_trie, tok.added[i].content, (int32_t)i);
}

void parse_normalizer(Tokenizer& tok, const json& n, const std::string& field, const Reader& r) {
    std::string type = r.type(n, field);
    if (type == "NFC") {
        tok.nfc = true;
    } else if (type == "Sequence") {
        const json* list = r.get(n, "normalizers");
        if (!list || !list->is_array()) fail(tok.name, field + ".normalizers", "expected an array");
        for (size_t i = 0; i < list->size(); i++) parse_normalizer(tok, (*list)[i], field + ".normalizers[" + std::to_string(i) + "]", r);
    } else {
        fail(tok.name, field + ".type", "unknown normalizer type '" + type + "' (supported: NFC, Sequence)");
    }
}

const char* GPT2_PATTERN = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void parse_pre_tokenizer(Tokenizer& tok, const json& p, const std::string& field, const Reader& r, int& n_byte_level) {
    std::string type = r.type(p, field);
    if (type == "ByteLevel") {
        tok.add_prefix_space = r.boolean(p, "add_prefix_space", field, true);
        if (tok.add_prefix_space && !tok.pretok.empty())
            fail(tok.name, field + ".add_prefix_space", "true is supported only when ByteLevel is the only stage");
        if (r.boolean(p, "use_regex", field, true)) tok.pretok.push_back(PreTokStage::Gpt2Split);
        n_byte_level++;
    } else if (type == "Sequence") {
        const json* list = r.get(p, "pretokenizers");
        if (!list || !list->is_array()) fail(tok.name, field + ".pretokenizers", "expected an array");
        for (size_t i = 0; i < list->size(); i++)
            parse_pre_tokenizer(tok, (*list)[i], field + ".pretokenizers[" + std::to_string(i) + "]", r, n_byte_level);
    } else if ((type == "Digits" || type == "Split") && n_byte_level > 0) {
        // HF runs it on ByteLevel's output, byte-level characters (so bytes 0xB2, 0xB3, 0xB9 would be
        // digits); no tokenizer of this family does that
        fail(tok.name, field + ".type", "'" + type + "' after ByteLevel is not supported (ByteLevel must come last)");
    } else if (type == "Digits") {
        bool individual = r.boolean(p, "individual_digits", field, false);
        for (PreTokStage s : tok.pretok)
            if (s == PreTokStage::Digits && individual != tok.digits_individual)
                fail(tok.name, field, "two Digits stages with different individual_digits");
        tok.digits_individual = individual;
        tok.pretok.push_back(PreTokStage::Digits);
    } else if (type == "Split") {
        const json* pat = r.get(p, "pattern");
        const json* re = pat && pat->is_object() ? r.get(*pat, "Regex") : nullptr;
        if (!re || !re->is_string() || re->get<std::string>() != GPT2_PATTERN)
            fail(tok.name, field + ".pattern", "only the GPT-2 pattern as {\"Regex\": ...} is supported");
        if (r.string(p, "behavior", field) != "Isolated") fail(tok.name, field + ".behavior", "only Isolated is supported");
        if (r.boolean(p, "invert", field, false)) fail(tok.name, field + ".invert", "true is not supported");
        tok.pretok.push_back(PreTokStage::Gpt2Split);
    } else {
        fail(tok.name, field + ".type", "unknown pre-tokenizer type '" + type + "' (supported: ByteLevel, Sequence, Digits, Split)");
    }
}

// Per-thread scratch and word cache. The cache is keyed by the tokenizer's uid and emptied when it
// belongs to another tokenizer or grows past its bound (HF's BPE cache holds 10,000 words).
struct SvHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct Scratch {
    std::string prefixed;  // a piece with the prefix space
    std::vector<uint32_t> ends, ends2;
    struct Symbol { int32_t id, prev, next, len; };
    std::vector<Symbol> symbols;
    struct Merge { int32_t rank, pos, merged; };
    std::vector<Merge> heap;
    uint64_t cache_uid = 0;
    std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, SvHash, std::equal_to<>> cache;
    std::vector<int32_t> cache_ids;
};
thread_local Scratch scratch;
constexpr size_t CACHE_MAX_WORD = 256, CACHE_MAX_WORDS = 1 << 16, CACHE_MAX_IDS = 1 << 20;

// BPE of one pre-token (its raw bytes); HF Word::merge_all: repeatedly merge the pair of lowest rank,
// leftmost first, over a linked list of symbols with a min-heap of candidate pairs, O(n log n).
void bpe_merge(const Tokenizer& tok, const unsigned char* w, size_t n, std::vector<int32_t>& out, Scratch& st) {
    auto& sym = st.symbols;
    sym.clear();
    bool last_unk = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok.byte_id[w[i]];
        if (id < 0) {  // HF merge_word: unknown char -> unk (runs fused if asked), or dropped without unk
            if (tok.unk_id < 0) continue;
            if (tok.fuse_unk && last_unk) { sym.back().len++; continue; }
            id = tok.unk_id;
        }
        last_unk = tok.byte_id[w[i]] < 0;
        int32_t k = (int32_t)sym.size();
        sym.push_back({id, k - 1, k + 1, 1});
    }
    if (sym.empty()) return;
    sym.back().next = -1;
    int32_t m = (int32_t)sym.size();
    auto greater = [](const Scratch::Merge& x, const Scratch::Merge& y) {
        return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
    };
    auto& heap = st.heap;
    heap.clear();
    for (int32_t i = 0; i + 1 < m; i++) {
        int64_t s = merge_find(tok.merges, sym[i].id, sym[i + 1].id);
        if (s >= 0) heap.push_back({tok.merges.rank[s], i, tok.merges.merged[s]});
    }
    std::make_heap(heap.begin(), heap.end(), greater);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), greater);
        Scratch::Merge top = heap.back();
        heap.pop_back();
        Scratch::Symbol& left = sym[top.pos];
        if (left.len == 0 || left.next < 0) continue;
        Scratch::Symbol& right = sym[left.next];
        int64_t s = merge_find(tok.merges, left.id, right.id);
        if (s < 0 || tok.merges.merged[s] != top.merged) continue;  // stale entry
        left.id = top.merged;
        left.len += right.len;
        int32_t rnext = right.next;
        right.len = 0;
        left.next = rnext;
        if (rnext >= 0) sym[rnext].prev = top.pos;
        if (left.prev >= 0) {
            int64_t ps = merge_find(tok.merges, sym[left.prev].id, left.id);
            if (ps >= 0) { heap.push_back({tok.merges.rank[ps], left.prev, tok.merges.merged[ps]}); std::push_heap(heap.begin(), heap.end(), greater); }
        }
        if (rnext >= 0) {
            int64_t ns = merge_find(tok.merges, left.id, sym[rnext].id);
            if (ns >= 0) { heap.push_back({tok.merges.rank[ns], top.pos, tok.merges.merged[ns]}); std::push_heap(heap.begin(), heap.end(), greater); }
        }
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

void bpe_word(const Tokenizer& tok, std::string_view w, std::vector<int32_t>& out, Scratch& st) {
    if (w.size() == 1 && tok.byte_id[(unsigned char)w[0]] >= 0) { out.push_back(tok.byte_id[(unsigned char)w[0]]); return; }
    bool cacheable = w.size() <= CACHE_MAX_WORD;
    if (cacheable) {
        if (st.cache_uid != tok.uid) { st.cache.clear(); st.cache_ids.clear(); st.cache_uid = tok.uid; }
        auto it = st.cache.find(w);
        if (it != st.cache.end()) {
            out.insert(out.end(), st.cache_ids.begin() + it->second.first, st.cache_ids.begin() + it->second.first + it->second.second);
            return;
        }
    }
    size_t before = out.size();
    bool done = false;
    if (tok.ignore_merges) {  // HF: a word that is a whole vocab token is taken as it is
        auto it = tok.vocab.find(byte_level_encode(w));
        if (it != tok.vocab.end()) { out.push_back(it->second); done = true; }
    }
    if (!done) bpe_merge(tok, (const unsigned char*)w.data(), w.size(), out, st);
    if (cacheable) {
        if (st.cache.size() >= CACHE_MAX_WORDS || st.cache_ids.size() >= CACHE_MAX_IDS) { st.cache.clear(); st.cache_ids.clear(); }
        uint32_t off = (uint32_t)st.cache_ids.size();
        st.cache_ids.insert(st.cache_ids.end(), out.begin() + before, out.end());
        st.cache.emplace(std::string(w), std::make_pair(off, (uint32_t)(out.size() - before)));
    }
}

// Rust char::is_whitespace, which HF's lstrip/rstrip use, is Unicode White_Space, as \s is.
inline bool white_space_at(std::string_view s, size_t i, size_t* len) { return unicode_white_space(utf8_cp_at(s, i, len)); }
inline bool white_space_before(std::string_view s, size_t i, size_t* start) {
    size_t p = i - 1, len;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
    *start = p;
    return white_space_at(s, p, &len);
}

// Leftmost-longest matching of one group of added tokens over s (HF AddedVocabulary::find_matches):
// emit(token index or -1, begin, end) for each match and each non-empty gap, in order. As in HF,
// lstrip/rstrip widen a match's span but the search goes on from the match's own end, so a token
// found inside the white space an rstrip token took gives overlapping spans (HF does the same).
template <class Emit>
void split_added(const Tokenizer& tok, const AddedTrie& trie, std::string_view s, Emit&& emit) {
    size_t n = s.size(), start = 0, i = 0;
    if (!trie.nodes.empty()) {
        while (i < n) {
            if (!trie.starts[(unsigned char)s[i]]) { i++; continue; }
            int32_t node = 0, best = -1;
            size_t best_end = 0;
            for (size_t j = i; j < n; j++) {
                node = trie.nodes[node].next[(unsigned char)s[j]];
                if (node < 0) break;
                if (trie.nodes[node].token >= 0) { best = trie.nodes[node].token; best_end = j + 1; }
            }
            if (best < 0) { i++; continue; }
            const AddedToken& a = tok.added[best];
            size_t ms = i, me = best_end, p, len;
            if (a.lstrip) {  // the white space before it, but not before the end of the previous span
                while (ms > start && white_space_before(s, ms, &p)) ms = p;
            }
            if (a.rstrip) {
                while (me < n && white_space_at(s, me, &len)) me += len;
            }
            if (start < ms) emit(-1, start, ms);
            emit(best, ms, me);
            start = me;
            i = best_end;
        }
    }
    if (start < n) emit(-1, start, n);
}

// Pre-tokenizes and encodes one piece of normalized text that holds no added token. When `enc` is
// given, words are recorded with spans relative to enc->normalized (the piece is appended to it).
void encode_piece(const Tokenizer& tok, std::string_view piece, std::vector<int32_t>& ids, Encoding* enc, Scratch& st) {
    if (tok.add_prefix_space && piece[0] != ' ') {
        st.prefixed.assign(" ");
        st.prefixed.append(piece);
        piece = st.prefixed;
    }
    size_t base = 0;
    if (enc) { base = enc->normalized.size(); enc->normalized.append(piece); }
    // stage by stage, each refining the pieces of the one before
    auto& ends = st.ends;
    ends.clear();
    ends.push_back((uint32_t)piece.size());
    for (PreTokStage stage : tok.pretok) {
        auto& next = st.ends2;
        next.clear();
        uint32_t b = 0;
        for (uint32_t e : ends) {
            if (stage == PreTokStage::Gpt2Split) gpt2_split(piece, b, e, next);
            else digits_split(piece, b, e, tok.digits_individual, next);
            b = e;
        }
        std::swap(ends, next);
    }
    uint32_t b = 0;
    for (uint32_t e : ends) {
        size_t before = ids.size();
        bpe_word(tok, piece.substr(b, e - b), ids, st);
        if (enc) {
            int32_t w = (int32_t)enc->words.size();
            enc->words.push_back({(uint32_t)(base + b), (uint32_t)(base + e)});
            enc->word_of_token.insert(enc->word_of_token.end(), ids.size() - before, w);
        }
        b = e;
    }
}

void encode_impl(const Tokenizer& tok, std::string_view text, std::vector<int32_t>& ids, Encoding* enc) {
    Scratch& st = scratch;
    std::string sanitized;
    std::string_view t = text;
    if (utf8_sanitize(text, sanitized)) t = sanitized;
    auto emit_token = [&](int32_t idx, std::string_view content) {
        ids.push_back(tok.added[idx].id);
        if (enc) {
            int32_t w = (int32_t)enc->words.size();
            uint32_t base = (uint32_t)enc->normalized.size();
            enc->normalized.append(content);
            enc->words.push_back({base, (uint32_t)enc->normalized.size()});
            enc->word_of_token.push_back(w);
        }
    };
    split_added(tok, tok.not_normalized_trie, t, [&](int32_t idx, size_t b, size_t e) {
        std::string_view piece = t.substr(b, e - b);
        if (idx >= 0) { emit_token(idx, piece); return; }
        std::string normalized;
        std::string_view np = piece;
        if (tok.nfc && nfc_normalize(piece, normalized)) np = normalized;
        split_added(tok, tok.normalized_trie, np, [&](int32_t idx2, size_t b2, size_t e2) {
            std::string_view sub = np.substr(b2, e2 - b2);
            if (idx2 >= 0) emit_token(idx2, sub);
            else encode_piece(tok, sub, ids, enc, st);
        });
    });
}

}  // namespace

Tokenizer tokenizer_parse(const std::string& json_text, const std::string& name) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {
        throw std::runtime_error(name + ": malformed JSON: " + e.what());
    }
    Tokenizer tok;
    tok.name = name;
    Reader r{tok.name};
    if (!j.is_object()) fail(name, "(top level)", "expected an object");
    for (const char* key : {"truncation", "padding"})
        if (r.get(j, key)) fail(name, key, "must be null (the engine truncates and packs sequences itself)");
    const json* model = r.get(j, "model");
    if (!model) fail(name, "model", "missing");
    parse_model(tok, *model, r);
    parse_added_tokens(tok, r.get(j, "added_tokens"), r);
    if (const json* n = r.get(j, "normalizer")) parse_normalizer(tok, *n, "normalizer", r);
    const json* p = r.get(j, "pre_tokenizer");
    if (!p) fail(name, "pre_tokenizer", "missing (a byte-level BPE needs the ByteLevel pre-tokenizer)");
    int n_byte_level = 0;
    parse_pre_tokenizer(tok, *p, "pre_tokenizer", r, n_byte_level);
    if (n_byte_level != 1) fail(name, "pre_tokenizer", "needs exactly one ByteLevel pre-tokenizer");
    if (const json* d = r.get(j, "decoder")) {
        std::string type = r.type(*d, "decoder");
        if (type != "ByteLevel") fail(name, "decoder.type", "unknown decoder type '" + type + "' (supported: ByteLevel)");
    } else {
        tok.byte_level_decoder = false;
    }
    if (const json* pp = r.get(j, "post_processor")) {
        std::string type = r.type(*pp, "post_processor");
        if (type != "ByteLevel") fail(name, "post_processor.type", "unsupported post-processor type '" + type + "' (it would add ids; supported: ByteLevel)");
    }

    // id tables for decode
    int32_t n_ids = 0;
    for (auto& [t, id] : tok.vocab) n_ids = std::max(n_ids, id + 1);
    for (auto& a : tok.added) n_ids = std::max(n_ids, a.id + 1);
    tok.id_bytes.assign(n_ids, std::string());
    tok.id_special.assign(n_ids, 0);
    tok.id_valid.assign(n_ids, 0);
    for (auto& [t, id] : tok.vocab) { tok.id_bytes[id] = t; tok.id_valid[id] = 1; }
    for (auto& a : tok.added) { tok.id_bytes[a.id] = a.content; tok.id_valid[a.id] = 1; tok.id_special[a.id] = a.special; }
    if (tok.byte_level_decoder)
        for (auto& s : tok.id_bytes) s = byte_level_decode_token(s);
    tok.uid = next_uid.fetch_add(1);
    return tok;
}

Tokenizer tokenizer_parse_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    std::string text;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    int err = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err) throw std::runtime_error(path + ": cannot read: " + std::strerror(err));
    return tokenizer_parse(text, path);
}

Tokenizer tokenizer_load(const std::string& path) {
    try {
        return tokenizer_parse_file(path);
    } catch (const std::runtime_error& e) {
        fatal("%s", e.what());
    }
}

Tokenizer tokenizer_from_json(const std::string& json_text, const std::string& name_for_errors) {
    try {
        return tokenizer_parse(json_text, name_for_errors);
    } catch (const std::runtime_error& e) {
        fatal("%s", e.what());
    }
}

std::vector<int32_t> encode(const Tokenizer& tok, std::string_view text) {
    std::vector<int32_t> ids;
    encode_impl(tok, text, ids, nullptr);
    return ids;
}

Encoding encode_with_words(const Tokenizer& tok, std::string_view text) {
    Encoding enc;
    encode_impl(tok, text, enc.ids, &enc);
    return enc;
}

void encode_batch(const Tokenizer& tok, const std::vector<std::string_view>& texts, std::vector<std::vector<int32_t>>& out) {
    out.resize(texts.size());
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t i = 0; i < texts.size(); i++) {
        out[i].clear();
        encode_impl(tok, texts[i], out[i], nullptr);
    }
}

std::string decode(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
    std::string bytes;
    bool first = true;
    for (int32_t id : ids) {
        if (id < 0 || id >= (int32_t)tok.id_bytes.size() || !tok.id_valid[id]) continue;  // HF skips unknown ids
        if (skip_special && tok.id_special[id]) continue;
        if (!tok.byte_level_decoder && !first) bytes.push_back(' ');  // HF without a decoder: tokens joined by spaces
        bytes += tok.id_bytes[id];
        first = false;
    }
    std::string fixed;
    return utf8_sanitize(bytes, fixed) ? fixed : bytes;
}

int32_t token_id(const Tokenizer& tok, std::string_view token) {
    for (const AddedToken& a : tok.added)
        if (a.content == token) return a.id;
    auto it = tok.vocab.find(std::string(token));
    return it == tok.vocab.end() ? -1 : it->second;
}

int32_t vocab_size(const Tokenizer& tok) { return (int32_t)tok.id_bytes.size(); }
