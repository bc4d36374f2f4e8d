// Text handling for the tokenizer: UTF-8 repair, NFC, character classes, and the two splitters (the
// GPT-2 pattern and Digits), all over code points by hand.
//
// Character classes follow what HF tokenizers' regex engine (Oniguruma) does for the pattern:
//   \s     Unicode White_Space: U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A,
//          U+2028, U+2029, U+202F, U+205F, U+3000 (checked against tokenizers 0.23.3 over every code
//          point; note U+001C..U+001F, which Python's str.isspace() counts, are not \s)
//   \p{L}  general categories Lu Ll Lt Lm Lo;  \p{N}  Nd Nl No  (from utf8proc, Unicode 15.0)
// Known disagreement: tokenizers 0.23.3 bundles Unicode 16.0 tables, so the 5004 letters and digits
// first assigned in Unicode 16.0 are \p{L}/\p{N} there and "other" here (utf8proc 2.8 = Unicode 15.0).
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/common.h"
#include "text/tokenizer.h"

namespace {

enum CharClass : uint8_t { C_OTHER, C_LETTER, C_NUMBER, C_SPACE };

struct AsciiClasses {
    uint8_t cls[128];
    AsciiClasses() {
        for (int c = 0; c < 128; c++) {
            cls[c] = unicode_white_space(c) ? C_SPACE
                     : ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? C_LETTER
                     : (c >= '0' && c <= '9') ? C_NUMBER : C_OTHER;
        }
    }
};
const AsciiClasses ascii_classes;

inline CharClass char_class(uint32_t c) {
    if (c < 128) return (CharClass)ascii_classes.cls[c];
    if (unicode_white_space(c)) return C_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: return C_LETTER;
        case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: return C_NUMBER;
        default: return C_OTHER;
    }
}

inline CharClass class_at(std::string_view s, size_t i, size_t* len) {
    unsigned char b = (unsigned char)s[i];
    if (b < 0x80) { *len = 1; return (CharClass)ascii_classes.cls[b]; }
    return char_class(utf8_cp_at(s, i, len));
}

// True for a starter that NFC leaves alone and that is never the second of a composition pair:
// below U+0300 every code point is such (some are firsts, like e in e + U+0301); above, utf8proc must
// say combining class 0, no canonical decomposition and in no composition pair at all, and it is not
// a Hangul jamo or syllable (composed algorithmically). NFC(x c y) = NFC(x c) NFC(y) for such a c.
inline bool nfc_inert(uint32_t c) {
    if (c < 0x300) return true;  // every code point below U+0300 is NFC_QC=Yes and a starter
    if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0xAC00 && c <= 0xD7A3)) return false;
    const utf8proc_property_t* p = utf8proc_get_property((utf8proc_int32_t)c);
    bool canonical_decomposition = p->decomp_type == 0 && p->decomp_seqindex != UINT16_MAX;
    return p->combining_class == 0 && !canonical_decomposition && p->comb_index == UINT16_MAX;
}

// NFC of a run of valid UTF-8, appended to out: what utf8proc_NFC does, in three steps, because its
// canonical ordering is a gnome sort, quadratic in a long run of combining marks (a 64 KB run takes
// seconds). Here: canonical decomposition of each code point (utf8proc), a stable sort by combining
// class of each run of non-starters (the canonical ordering algorithm, O(n log n)), then utf8proc's
// canonical composition, which is linear.
void nfc_run(std::string_view s, std::string& out) {
    constexpr auto opts = (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    thread_local std::vector<utf8proc_int32_t> buf;
    thread_local std::vector<std::pair<int16_t, utf8proc_int32_t>> marks;
    buf.clear();
    size_t len;
    for (size_t i = 0; i < s.size(); i += len) {
        utf8proc_int32_t d[32];
        int boundclass = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)utf8_cp_at(s, i, &len), d, 32, opts, &boundclass);
        ENGINE_ASSERT(k > 0 && k <= 32);  // the longest canonical decomposition is 4 code points
        buf.insert(buf.end(), d, d + k);
    }
    for (size_t i = 0; i < buf.size();) {
        if (utf8proc_get_property(buf[i])->combining_class == 0) { i++; continue; }
        size_t j = i;
        marks.clear();
        for (; j < buf.size(); j++) {
            int16_t ccc = utf8proc_get_property(buf[j])->combining_class;
            if (ccc == 0) break;
            marks.push_back({ccc, buf[j]});
        }
        if (marks.size() > 1)
            std::stable_sort(marks.begin(), marks.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (size_t k = 0; k < marks.size(); k++) buf[i + k] = marks[k].second;
        i = j;
    }
    utf8proc_ssize_t n = utf8proc_normalize_utf32(buf.data(), (utf8proc_ssize_t)buf.size(), opts);
    ENGINE_ASSERT(n >= 0);
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        utf8proc_uint8_t u[4];
        out.append((const char*)u, (size_t)utf8proc_encode_char(buf[i], u));
    }
}

}  // namespace

bool unicode_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

bool utf8_sanitize(std::string_view s, std::string& out) {
    // Well-formed sequences (Unicode Table 3-7); a maximal prefix of one that breaks off becomes one
    // U+FFFD, and a byte that starts no sequence becomes one U+FFFD.
    const unsigned char* p = (const unsigned char*)s.data();
    size_t n = s.size(), i = 0;
    // fast path: find the first invalid position
    auto seq_len = [&](size_t i, size_t* valid_prefix) -> size_t {
        unsigned char c = p[i];
        if (c < 0x80) return 1;
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 2;
        else if (c >= 0xE0 && c <= 0xEF) { need = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else { *valid_prefix = 1; return 0; }
        size_t k = 1;
        for (; k < need && i + k < n; k++) {
            unsigned char b = p[i + k];
            if (b < lo || b > hi) break;
            lo = 0x80; hi = 0xBF;
        }
        if (k == need) return need;
        *valid_prefix = k;
        return 0;
    };
    for (; i < n;) {
        if (p[i] < 0x80) { i++; continue; }
        size_t vp = 0, l = seq_len(i, &vp);
        if (!l) break;
        i += l;
    }
    if (i == n) return false;
    out.assign(s.data(), i);
    while (i < n) {
        if (p[i] < 0x80) { out.push_back((char)p[i]); i++; continue; }
        size_t vp = 0, l = seq_len(i, &vp);
        if (l) { out.append((const char*)p + i, l); i += l; }
        else { out.append("\xEF\xBF\xBD"); i += vp; }
    }
    return true;
}

bool nfc_normalize(std::string_view s, std::string& out) {
    size_t n = s.size(), i = 0, len;
    // find the first code point that is not inert
    while (i < n && ((unsigned char)s[i] < 0x80 || nfc_inert(utf8_cp_at(s, i, &len)))) i += ((unsigned char)s[i] < 0x80) ? 1 : len;
    if (i == n) return false;
    out.clear();
    size_t done = 0;  // s[0, done) has been copied to out
    while (i < n) {
        // s[i] is not inert: normalize the run of non-inert code points from i to the next inert one.
        size_t run_begin = i, j = i;
        while (j < n) {
            uint32_t c = utf8_cp_at(s, j, &len);
            if (nfc_inert(c)) break;
            j += len;
        }
        // The code point before the run is a starter that is never the second of a pair, but it may
        // be the first (e + U+0301): the run starts there. Nothing before it can interact with the run.
        if (run_begin > done) {
            run_begin--;
            while (run_begin > done && ((unsigned char)s[run_begin] & 0xC0) == 0x80) run_begin--;
        }
        out.append(s.data() + done, run_begin - done);
        nfc_run(s.substr(run_begin, j - run_begin), out);
        done = j;
        i = j;
        while (i < n && ((unsigned char)s[i] < 0x80 || nfc_inert(utf8_cp_at(s, i, &len)))) i += ((unsigned char)s[i] < 0x80) ? 1 : len;
    }
    out.append(s.data() + done, n - done);
    return true;
}

void gpt2_split(std::string_view s, size_t begin, size_t end, std::vector<uint32_t>& ends) {
    size_t i = begin, len, len2;
    while (i < end) {
        unsigned char b = (unsigned char)s[i];
        // 's|'t|'re|'ve|'m|'ll|'d  (ASCII, case-sensitive)
        if (b == '\'' && i + 1 < end) {
            char c1 = s[i + 1];
            size_t m = 0;
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') m = 2;
            else if (i + 2 < end && ((c1 == 'r' && s[i + 2] == 'e') || (c1 == 'v' && s[i + 2] == 'e') ||
                                     (c1 == 'l' && s[i + 2] == 'l')))
                m = 3;
            if (m) { i += m; ends.push_back((uint32_t)i); continue; }
        }
        CharClass cls = class_at(s, i, &len);
        size_t run_start = i;
        // ` ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+`: a space takes the run that follows it, if any
        if (b == ' ' && i + 1 < end) {
            CharClass next = class_at(s, i + 1, &len2);
            if (next != C_SPACE) { cls = next; run_start = i + 1; len = len2; }
        }
        if (cls != C_SPACE) {
            size_t j = run_start + len;
            while (j < end && class_at(s, j, &len) == cls) j += len;
            i = j;
            ends.push_back((uint32_t)i);
            continue;
        }
        // `\s+(?!\S)`: the longest run of white space, given back by one code point unless it reaches
        // the end; then `\s+` when that leaves nothing (a single white-space code point before \S).
        size_t j = i + len, last = i;
        while (j < end && class_at(s, j, &len) == C_SPACE) { last = j; j += len; }
        if (j == end || last == i) i = j;
        else i = last;
        ends.push_back((uint32_t)i);
    }
}

void digits_split(std::string_view s, size_t begin, size_t end, bool individual, std::vector<uint32_t>& ends) {
    // HF Digits: each char::is_numeric() code point is a match (Isolated: one piece each; Contiguous:
    // adjacent matches form one piece); the text between matches is one piece.
    size_t i = begin, len;
    while (i < end) {
        bool num = class_at(s, i, &len) == C_NUMBER;
        size_t j = i + len;
        if (!num || !individual) {
            while (j < end) {
                size_t l2;
                if ((class_at(s, j, &l2) == C_NUMBER) != num) break;
                j += l2;
            }
        }
        i = j;
        ends.push_back((uint32_t)i);
    }
}
