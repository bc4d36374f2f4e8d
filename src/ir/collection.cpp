// The demo collection builder (see collection.h). The recipe:
//
// Documents. gcide.dict.dz is a dictzip file (gzip-compatible; zlib reads it whole) of plain-text
// entries; gcide.index lists "key \t offset \t length" with offsets and lengths in dictd's base64. Every
// distinct (offset, length) is one entry. An entry begins "Headword \Pro*nun"ci*a`tion\, pos. [etym.]";
// one entry may name several headwords ("Banc \Banc\, Bancus \Ban"cus\, Bank \Bank\, n."). Its text is a
// sequence of senses, each closed by a source tag on its own line (or at the end of a line):
// "[1913 Webster]", "[Webster 1913 Suppl.]", "[Century Dict. 1906]" (kept), any tag naming WordNet
// ("[WordNet 1.5]", "[1913 Webster + WordNet 1.5]": dropped, they would leak the queries), and tags
// naming only modern contributors ("[PJC]", "[AS]", "[RDH]", ...: dropped, modern-only senses). Text
// after the last tag is Webster's (the dictionary's default source) and kept, except the headwords of
// the next entries that the dictd text appends to an entry's end ("[1913 Webster] Abatis", "... as
// those of mammals. Entomic": up to 6 words after the last sentence-final mark). The kept senses are
// cleaned: the pronunciation "\...\" and the respelling "(...)" after it removed, accent codes decoded
// (gcide_decode), the cross-reference braces "{...}" removed, the tags removed, whitespace collapsed.
// A document is one headword (folded: lower case, no accents; spaces as "_"), its entries concatenated
// in file order; a headword whose entries kept nothing has no document.
//
// Queries. Each WordNet 3.0 synset (data.noun/verb/adj/adv) gives qid = n|v|a|r + 8-digit offset, its
// lemmas and its definition (gloss without the quoted examples). Synsets with the same definition text
// are merged into one query (the smallest qid; lemmas united). The relevant documents (rel 1) are the
// documents of its lemmas. A query is dropped when no lemma has a document, when it has fewer than two
// content words (non-stopword tokens of the BM25 analyzer), when it contains one of its own lemmas (the
// lemma's analyzed tokens, stopwords kept, as a contiguous run of the query's; lemmas that are only
// stopwords, like the letter "a", are not looked for), or when its folded text
// appears verbatim in a relevant document. Split by split_bucket(qid).
#include "ir/collection.h"

#include <utf8proc.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/common.h"
#include "ir/bm25.h"
#include "ir/metrics.h"
#include "text/normalize.h"

// ---- SHA-1 -----------------------------------------------------------------------------------------------------
std::array<uint8_t, 20> sha1(std::string_view data) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    std::string m(data);
    uint64_t bits = uint64_t(data.size()) * 8;
    m += char(0x80);
    while (m.size() % 64 != 56) m += char(0);
    for (int i = 7; i >= 0; i--) m += char((bits >> (8 * i)) & 0xFF);
    auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
    for (size_t off = 0; off < m.size(); off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++) {
            const auto* p = reinterpret_cast<const uint8_t*>(m.data() + off + 4 * i);
            w[i] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
        }
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999u;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1u;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
            else f = b ^ c ^ d, k = 0xCA62C1D6u;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    std::array<uint8_t, 20> out;
    for (int i = 0; i < 20; i++) out[i] = uint8_t(h[i / 4] >> (24 - 8 * (i % 4)));
    return out;
}

std::string sha1_hex(std::string_view data) {
    auto d = sha1(data);
    std::string s;
    for (uint8_t x : d) s += strfmt("%02x", x);
    return s;
}

int split_bucket(std::string_view qid) {
    auto d = sha1(qid);
    uint32_t v = (uint32_t(d[0]) << 24) | (uint32_t(d[1]) << 16) | (uint32_t(d[2]) << 8) | d[3];
    return int(v % 100);
}

static int split_index(std::string_view qid) {  // 0 train, 1 dev, 2 test
    int b = split_bucket(qid);
    return b < 5 ? 1 : b < 10 ? 2 : 0;
}

static const char* const split_name[3] = {"train", "dev", "test"};  // by split_index

const char* split_of(std::string_view qid) { return split_name[split_index(qid)]; }

// ---- GCIDE accent codes -----------------------------------------------------------------------------------
static void put_cp(std::string& s, uint32_t cp) {
    uint8_t buf[4];
    auto n = utf8proc_encode_char((utf8proc_int32_t)cp, buf);
    s.append(reinterpret_cast<char*>(buf), (size_t)n);
}

// The code inside "[...]" -> UTF-8, or "" when it is not a code.
static std::string gcide_code(std::string_view c) {
    static const std::unordered_map<std::string_view, std::string_view> named = {
        {"ae", "æ"},        {"AE", "Æ"},         {"oe", "œ"},         {"OE", "Œ"},         {"=ae", "ǣ"},
        {"eth", "ð"},       {"ETH", "Ð"},        {"thorn", "þ"},      {"THORN", "Þ"},      {"yogh", "ȝ"},
        {"ng", "ŋ"},        {"th", "th"},        {"root", "√"},       {"deg", "°"},        {"sect", "§"},
        {"pounds", "£"},    {"prime", "′"},      {"bprime", "″"},     {"min", "′"},        {"sec", "″"},
        {"hand", "☞"},      {"para", "¶"},       {"dagger", "†"},     {"dag", "†"},        {"ddag", "‡"},
        {"middot", "·"},    {"times", "×"},      {"divby", "÷"},      {"div", "÷"},        {"rarr", "→"},
        {"nbsp", " "},      {"ldqo", "“"},       {"rdqo", "”"},       {"flat", "♭"},       {"sharp", "♯"},
        {"natural", "♮"},   {"imac", "ī"},       {"aum", "ä"},        {"add", "a\u0324"},  {"udd", "ṳ"},
        {"asl", "a\u0307"}, {"oo^", "o\u035Do"}, {"=oo", "o\u035Eo"}, {"dsdot", "\u1E0D"}, {"zdot", "ż"},
        {"frac12", "½"},    {"frac14", "¼"},     {"frac34", "¾"},     {"frac13", "⅓"},     {"frac23", "⅔"},
        {"cre", "˘"},       {"acute", "´"},      {"grave", "`"},      {"digamma", "ϝ"},    {"alpha", "α"},
        {"beta", "β"},      {"gamma", "γ"},      {"delta", "δ"},      {"epsilon", "ε"},    {"zeta", "ζ"},
        {"eta", "η"},       {"theta", "θ"},      {"iota", "ι"},       {"kappa", "κ"},      {"lambda", "λ"},
        {"mu", "μ"},        {"nu", "ν"},         {"xi", "ξ"},         {"omicron", "ο"},    {"pi", "π"},
        {"rho", "ρ"},       {"sigma", "σ"},      {"tau", "τ"},        {"upsilon", "υ"},    {"phi", "φ"},
        {"chi", "χ"},       {"psi", "ψ"},        {"omega", "ω"},      {"Alpha", "Α"},      {"Beta", "Β"},
        {"Gamma", "Γ"},     {"Delta", "Δ"},      {"Epsilon", "Ε"},    {"Zeta", "Ζ"},       {"Eta", "Η"},
        {"Theta", "Θ"},     {"Iota", "Ι"},       {"Kappa", "Κ"},      {"Lambda", "Λ"},     {"Mu", "Μ"},
        {"Nu", "Ν"},        {"Xi", "Ξ"},         {"Omicron", "Ο"},    {"Pi", "Π"},         {"Rho", "Ρ"},
        {"Sigma", "Σ"},     {"Tau", "Τ"},        {"Upsilon", "Υ"},    {"Phi", "Φ"},        {"Chi", "Χ"},
        {"Psi", "Ψ"},       {"Omega", "Ω"}};
    auto it = named.find(c);
    if (it != named.end()) return std::string(it->second);
    auto letter = [](char x) { return (x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z'); };
    if (c.size() != 2) return "";
    // A mark before or after one letter: [a^] breve, [^a] circumflex, [=a] macron, ['a] acute, [`a]
    // grave, ["a] diaeresis, [.a] dot above, [~a] tilde, [-a] macron below (Webster's half-long), [*a]
    // ring above, [,c] cedilla.
    char m = c[0], l = c[1];
    uint32_t mark = 0;
    if (letter(c[0]) && c[1] == '^') l = c[0], mark = 0x306;
    else if (letter(l)) {
        switch (m) {
            case '^': mark = 0x302; break;
            case '=': mark = 0x304; break;
            case '\'': mark = 0x301; break;
            case '`': mark = 0x300; break;
            case '"': mark = 0x308; break;
            case '.': mark = 0x307; break;
            case '~': mark = 0x303; break;
            case '-': mark = 0x331; break;
            case '*': mark = 0x30A; break;
            case ',': mark = 0x327; break;
        }
    }
    if (!mark) return "";
    std::string s(1, l);
    put_cp(s, mark);
    return s;
}

std::string gcide_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool non_ascii = false;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '[') {
            size_t j = s.find(']', i + 1);
            if (j != std::string_view::npos && j - i - 1 <= 8) {
                std::string d = gcide_code(s.substr(i + 1, j - i - 1));
                if (!d.empty()) {
                    out += d;
                    non_ascii = true;
                    i = j;
                    continue;
                }
            }
        }
        if ((unsigned char)s[i] >= 0x80) non_ascii = true;
        out += s[i];
    }
    if (!non_ascii) return out;
    // Three stray cp1252 bytes in the source are not UTF-8: repair, then compose letters + marks (NFC).
    std::string fixed = valid_utf8(out) ? out : repair_utf8(out);
    auto* nfc = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(fixed.c_str()));
    if (!nfc) return fixed;
    std::string r(reinterpret_cast<char*>(nfc));
    std::free(nfc);
    return r;
}

uint64_t dictd_b64(std::string_view s) {
    uint64_t v = 0;
    for (char c : s) {
        int d;
        if (c >= 'A' && c <= 'Z') d = c - 'A';
        else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
        else if (c >= '0' && c <= '9') d = c - '0' + 52;
        else if (c == '+') d = 62;
        else if (c == '/') d = 63;
        else throw FormatError(strfmt("bad dictd base64 digit '%c' in '%.*s'", c, (int)s.size(), s.data()));
        v = v * 64 + uint64_t(d);
    }
    return v;
}

// ---- text helpers -----------------------------------------------------------------------------------------
static std::string_view trim(std::string_view s) {
    size_t a = s.find_first_not_of(" \t\r");
    if (a == s.npos) return {};
    size_t b = s.find_last_not_of(" \t\r");
    return s.substr(a, b - a + 1);
}

// Each run of the bytes in `spaces` replaced by one `sep`, none at the start (one may end the result).
static std::string collapse_runs(std::string_view s, std::string_view spaces, char sep) {
    std::string r;
    for (char c : s) {
        if (spaces.find(c) != spaces.npos) {
            if (!r.empty() && r.back() != sep) r += sep;
        } else {
            r += c;
        }
    }
    return r;
}

// The lines of s, split at '\n' ("a\n" gives "a" and "").
static std::vector<std::string> split_lines(std::string_view s) {
    std::vector<std::string> lines;
    for (size_t i = 0; i <= s.size();) {
        size_t j = s.find('\n', i);
        if (j == s.npos) j = s.size();
        lines.emplace_back(s.substr(i, j - i));
        i = j + 1;
    }
    return lines;
}

// Appends x to v unless v holds it already (lemmas and headwords keep their first-seen order).
static void add_once(std::vector<std::string>& v, const std::string& x) {
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// ---- GCIDE entries ----------------------------------------------------------------------------------------
std::string headword_docid(std::string_view word) {
    std::string out = collapse_runs(fold_text(word), " _\t", '_');
    // Stray punctuation around a headword (", dragon's tail", "adder fly/") is not part of it.
    size_t a = out.find_first_not_of(",;/_"), b = out.find_last_not_of(",;/_");
    return a == std::string::npos ? std::string() : out.substr(a, b - a + 1);
}

// The source class of a tag's contents: 'W' Webster (kept), 'N' WordNet, 'M' modern only, 0 not a tag.
// A tag is a list of source names, version numbers and contributor initials separated by spaces, "+",
// "&" or ","; every variant in the dictd text is covered ("[1913 Webster +PJC ]", "[WordNet sense 1 & 3]",
// "[Webster 1913 Suppl. + WordNet 1.5 + CM]", "[Century Dictionary 1906]"); "[So named after Webster,
// the geologist.]" is not a tag.
static char source_class(std::string_view c) {
    static const std::unordered_set<std::string_view> words = {
        "1913", "Webster",    "Suppl.", "Suppl", "WordNet", "sense", "Century", "Dict.",
        "Dict", "Dictionary", "1906",   "1906.", "PJC",     "PJC.",  "AS",      "RDH",
        "GG",   "RP",         "JC",     "CM",    "MW10",    "JG",    "PC",      "RHUD"};
    bool webster = false, wordnet = false, any = false;
    size_t i = 0;
    while (i < c.size()) {
        while (i < c.size() && (c[i] == ' ' || c[i] == '+' || c[i] == '&' || c[i] == ',' || c[i] == '[')) i++;
        size_t j = i;
        while (j < c.size() && c[j] != ' ' && c[j] != '+' && c[j] != '&' && c[j] != ',') j++;
        if (j == i) break;
        std::string_view w = c.substr(i, j - i);
        i = j;
        bool number = w.find_first_not_of("0123456789.") == w.npos;
        if (number || w[0] == '#') continue;  // "1.5", "1", "#here"
        if (!words.count(w)) return 0;
        any = true;
        if (w == "WordNet") wordnet = true;
        if (w == "Webster" || w == "Century") webster = true;
    }
    if (!any) return 0;
    return wordnet ? 'N' : webster ? 'W' : 'M';
}

// Repairs the few malformed source tags of the dictd text, so that the line-based parser below sees
// them: a tag broken over two lines ("[1913\n        Webster + WordNet 1.5]"), "[WordNet 1.5" never
// closed, and "WordNet 1.5]" never opened. Missing one of these would leak a WordNet sense.
static std::string repair_tags(std::string_view raw) {
    std::string s(raw);
    for (size_t open = s.find('['); open != s.npos; open = s.find('[', open + 1)) {
        size_t close_at = s.find(']', open), next_open = s.find('[', open + 1);
        if (close_at == s.npos) break;
        if (next_open < close_at) continue;
        std::string_view inner(s.data() + open + 1, close_at - open - 1);
        if (inner.find('\n') == inner.npos) continue;
        std::string joined = collapse_runs(inner, " \n\t", ' ');
        if (source_class(joined)) s.replace(open + 1, close_at - open - 1, joined);
    }
    std::string out;
    std::vector<std::string> lines = split_lines(s);
    for (size_t k = 0; k < lines.size(); k++) {
        std::string& line = lines[k];
        for (size_t w = line.find("WordNet 1."); w != line.npos; w = line.find("WordNet 1.", w + 1)) {
            size_t end = w + 10;
            while (end < line.size() && line[end] >= '0' && line[end] <= '9') end++;
            size_t open = line.rfind('[', w), close_before = w ? line.rfind(']', w - 1) : line.npos;
            bool opened = open != line.npos && (close_before == line.npos || close_before < open);
            size_t close_after = line.find(']', w), open_after = line.find('[', w);
            bool closed = close_after != line.npos && (open_after == line.npos || close_after < open_after);
            if (!opened && closed) {
                line.insert(w, 1, '[');
                w++;
            } else if (opened && !closed) {
                line.insert(end, 1, ']');
            }
        }
        if (k) out += '\n';
        out += line;
    }
    return out;
}

// The entry's lines, leading blank lines dropped.
static std::vector<std::string> entry_lines(std::string_view raw) {
    std::vector<std::string> lines = split_lines(raw);
    while (!lines.empty() && trim(lines.front()).empty()) lines.erase(lines.begin());
    return lines;
}

// Headwords: every "\...\" on the line, stress and syllable marks removed, added to e.headwords (as
// docids, once each); each pronunciation and the respelling "(...)" right after it are cut from the line.
static void take_headwords(std::string& L, GcideEntry& e) {
    std::string kept;
    size_t i = 0;
    while (i < L.size()) {
        size_t a = L.find('\\', i);
        size_t b = a == L.npos ? L.npos : L.find('\\', a + 1);
        if (b == L.npos) {
            kept += L.substr(i);
            break;
        }
        kept += L.substr(i, a - i);
        while (!kept.empty() && kept.back() == ' ') kept.pop_back();  // "Bank \Bank\, n." -> "Bank, n."
        std::string hw;
        for (char ch : gcide_decode(std::string_view(L).substr(a + 1, b - a - 1)))
            if (ch != '"' && ch != '*' && ch != '`') hw += ch;
        std::string id = headword_docid(hw);
        if (!id.empty()) add_once(e.headwords, id);
        i = b + 1;
        size_t p = i;
        while (p < L.size() && L[p] == ' ') p++;
        if (p < L.size() && L[p] == '(') {
            size_t q = L.find(')', p);
            if (q != L.npos) i = q + 1;
        }
    }
    L = kept;
}

// The first bracket pair on the line that is a source tag: its class (source_class), with the
// positions of its brackets in open_at and close_at; 0 when the line has none.
static char find_source_tag(std::string_view t, size_t& open_at, size_t& close_at) {
    for (size_t open = t.find('['); open != t.npos; open = t.find('[', open + 1)) {
        size_t close = t.find(']', open);
        if (close == t.npos) break;
        if (char cls = source_class(t.substr(open + 1, close - open - 1))) {
            open_at = open, close_at = close;
            return cls;
        }
    }
    return 0;
}

// Ends the sense in `seg`: appended to `text` when Webster's, counted as dropped otherwise.
static void close_sense(GcideEntry& e, std::string& text, std::string& seg, char cls) {
    if (cls == 'W') {
        e.kept++;
        text += ' ';
        text += seg;
    } else if (cls == 'N') {
        e.dropped_wordnet++;
    } else {
        e.dropped_modern++;
    }
    seg.clear();
}

// Senses: runs of lines closed by a source tag. Returns the kept senses' text; `seg` is left holding
// the text after the last tag.
static std::string read_senses(const std::vector<std::string>& lines, GcideEntry& e, std::string& seg) {
    std::string text;
    size_t last = lines.size();
    while (last > 0 && trim(lines[last - 1]).empty()) last--;
    for (size_t li = 0; li < last; li++) {
        std::string_view t = trim(lines[li]);
        // The tag closes the sense; text before it belongs to the sense. Text after it starts the next
        // sense ("[1913 Webster] This letter, in English, ..."), except on the entry's last line, where
        // the dictd text carries the next entry's headword ("[1913 Webster] Abatis"): dropped.
        size_t a = 0, b = 0;
        char cls = find_source_tag(t, a, b);
        if (!cls) {
            seg += ' ';
            seg += t;
            continue;
        }
        seg += ' ';
        seg += trim(t.substr(0, a));
        close_sense(e, text, seg, cls);
        if (li + 1 < last) seg = std::string(trim(t.substr(b + 1)));
    }
    return text;
}

// Text after the last tag is Webster's, but the dictd text also appends the headwords of the next
// (often empty) entries to an entry's end ("... as those of mammals. Entomic", "anopsia anopia"): a
// tail of at most 6 words after the last sentence-final mark is that, and is dropped. Returns what is
// kept of `seg` (empty when nothing).
static std::string_view untagged_tail(std::string_view seg) {
    std::string_view tail = trim(seg);
    size_t end_mark = tail.find_last_of(".?!])\"}");
    std::string_view after = end_mark == tail.npos ? tail : tail.substr(end_mark + 1);
    size_t words = 0;
    for (size_t k = 0; k < after.size(); k++)
        if (after[k] != ' ' && (k == 0 || after[k - 1] == ' ')) words++;
    if (words <= 6) tail = end_mark == tail.npos ? std::string_view() : tail.substr(0, end_mark + 1);
    return tail;
}

// The kept senses cleaned: accent codes decoded, braces dropped, whitespace collapsed and trimmed.
static std::string clean_senses(std::string_view text) {
    std::string dec = gcide_decode(text);
    std::erase_if(dec, [](char c) { return c == '{' || c == '}'; });
    return std::string(trim(collapse_runs(dec, " \t\r\n", ' ')));
}

GcideEntry parse_gcide_entry(std::string_view raw_text) {
    GcideEntry e;
    std::vector<std::string> lines = entry_lines(repair_tags(raw_text));
    if (lines.empty() || lines[0].find(" \\") == std::string::npos) return e;
    // Headwords stand in the first two lines.
    for (size_t li = 0; li < std::min<size_t>(2, lines.size()); li++) take_headwords(lines[li], e);
    std::string seg;
    std::string text = read_senses(lines, e, seg);
    std::string_view tail = untagged_tail(seg);
    if (!tail.empty()) {
        e.untagged++;
        std::string kept(tail);
        close_sense(e, text, kept, 'W');
    }
    e.text = clean_senses(text);
    return e;
}

// ---- WordNet ----------------------------------------------------------------------------------------------
std::string wordnet_definition(std::string_view gloss) {
    // Remove quoted spans (the examples), then keep the non-empty ";"-separated pieces that are not
    // leftovers of an example's attribution ("- Shakespeare").
    std::string noq;
    bool inq = false;
    for (char c : gloss) {
        if (c == '"') {
            inq = !inq;
            continue;
        }
        if (!inq) noq += c;
    }
    std::string out;
    size_t i = 0;
    while (i <= noq.size()) {
        size_t j = noq.find(';', i);
        if (j == noq.npos) j = noq.size();
        std::string_view piece = trim(std::string_view(noq).substr(i, j - i));
        bool useful =
            !piece.empty() && piece[0] != '-' &&
            piece.find_first_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != piece.npos;
        if (useful) {
            if (!out.empty()) out += "; ";
            out += piece;
        }
        i = j + 1;
    }
    return std::string(trim(collapse_runs(out, " \t", ' ')));
}

bool parse_wordnet_line(std::string_view line, char pos, Synset& s) {
    if (line.size() < 10 || line[0] == ' ') return false;
    size_t bar = line.find(" | ");
    std::string_view head = line.substr(0, bar), gloss = bar == line.npos ? std::string_view() : line.substr(bar + 3);
    std::vector<std::string_view> f;
    split_ws(head, f);
    if (f.size() < 4 || f[0].size() != 8)
        throw FormatError(strfmt("bad WordNet data line '%.40s'", std::string(line).c_str()));
    s.qid = std::string(1, pos) + std::string(f[0]);
    size_t w_cnt = std::strtoul(std::string(f[3]).c_str(), nullptr, 16);
    s.lemmas.clear();
    for (size_t k = 0; k < w_cnt && 4 + 2 * k < f.size(); k++) {
        std::string w(f[4 + 2 * k]);
        size_t paren = w.find('(');  // adjective markers: "(a)", "(p)", "(ip)"
        if (paren != w.npos) w.resize(paren);
        add_once(s.lemmas, ascii_lower(w));
    }
    s.definition = wordnet_definition(gloss);
    return true;
}

// ---- build ------------------------------------------------------------------------------------------------
static std::string read_gzip(const std::string& path) {
    errno = 0;
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fatal("%s: cannot open: %s (run `make data`)", path.c_str(), std::strerror(errno));
    std::string s;
    std::vector<char> buf(1 << 20);
    int n;
    while ((n = gzread(f, buf.data(), (unsigned)buf.size())) > 0) s.append(buf.data(), (size_t)n);
    int err;
    const char* msg = gzerror(f, &err);
    if (n < 0) fatal("%s: read error: %s", path.c_str(), msg);
    gzclose(f);
    return s;
}

// True when the token sequence `needle` occurs contiguously in `hay`.
static bool contains_run(const std::vector<std::string>& hay, const std::vector<std::string>& needle) {
    if (needle.empty() || needle.size() > hay.size()) return false;
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// The distinct (offset, length) spans of the dictd index, ascending: one per GCIDE entry.
static std::vector<std::pair<uint64_t, uint64_t>> read_dictd_spans(const std::string& index_path,
                                                                   size_t dict_size) {
    std::set<std::pair<uint64_t, uint64_t>> spans;
    LineReader r(index_path, "dictd index");
    std::string_view line, f[3];
    while (r.next(line)) {
        split_tabs(r, line, 3, f);
        if (f[0].substr(0, 3) == "00-") continue;  // database headers
        uint64_t off = dictd_b64(f[1]), len = dictd_b64(f[2]);
        if (off + len > dict_size) r.fail("entry beyond the end of the dictionary file");
        spans.insert({off, len});
    }
    return {spans.begin(), spans.end()};
}

// The documents, in docid order: every entry parsed (in parallel), each headword's kept text the
// concatenation of its entries' in file order. Counts the entries and senses in st.
static std::vector<TextRecord> read_gcide_documents(const std::string& gcide_dict, const std::string& gcide_index,
                                                    CollectionStats& st) {
    std::string dict = read_gzip(gcide_dict);
    std::vector<std::pair<uint64_t, uint64_t>> spans = read_dictd_spans(gcide_index, dict.size());
    std::vector<GcideEntry> entries(spans.size());
#pragma omp parallel for schedule(dynamic, 256)
    for (size_t i = 0; i < spans.size(); i++)
        entries[i] = parse_gcide_entry(std::string_view(dict).substr(spans[i].first, spans[i].second));
    std::map<std::string, std::string> doc_text;  // docid -> text, sorted
    for (const auto& e : entries) {
        if (e.headwords.empty()) continue;
        st.gcide_entries++;
        st.senses_kept += e.kept;
        st.senses_wordnet += e.dropped_wordnet;
        st.senses_modern += e.dropped_modern;
        st.senses_untagged += e.untagged;
        if (e.text.empty()) continue;
        for (const auto& h : e.headwords) {
            std::string& t = doc_text[h];
            if (!t.empty()) t += ' ';
            t += e.text;
        }
    }
    std::vector<TextRecord> docs;
    docs.reserve(doc_text.size());
    for (auto& [id, text] : doc_text) docs.push_back({id, std::move(text)});
    st.docs = docs.size();
    return docs;
}

// The synsets of data.noun, data.verb, data.adj and data.adv, in qid order.
static std::vector<Synset> read_synsets(const std::string& wordnet_dir) {
    std::vector<Synset> synsets;
    for (auto [file, pos] : {std::pair{"data.noun", 'n'}, {"data.verb", 'v'}, {"data.adj", 'a'}, {"data.adv", 'r'}}) {
        LineReader r(wordnet_dir + "/" + file, "WordNet data file");
        std::string_view line;
        Synset s;
        while (r.next(line)) {
            try {
                if (parse_wordnet_line(line, pos, s)) synsets.push_back(s);
            } catch (const FormatError& e) {
                r.fail(e.what());
            }
        }
    }
    std::sort(synsets.begin(), synsets.end(), [](const Synset& a, const Synset& b) { return a.qid < b.qid; });
    return synsets;
}

struct Query {
    std::string qid, text;
    std::vector<std::string> lemmas;
    std::vector<uint32_t> rel;  // document indices, ascending
};

// One query per distinct definition, under the qid of its first synset (the smallest); the lemmas of the
// later synsets with that definition are added to it. A synset without a definition gives none.
static std::vector<Query> merge_synsets(const std::vector<Synset>& synsets, CollectionStats& st) {
    std::vector<Query> merged;
    std::unordered_map<std::string, size_t> by_text;
    for (const auto& s : synsets) {
        if (s.definition.empty()) continue;
        auto [it, fresh] = by_text.emplace(s.definition, merged.size());
        if (fresh) {
            merged.push_back({s.qid, s.definition, s.lemmas, {}});
        } else {
            st.merged++;
            auto& q = merged[it->second];
            for (const auto& l : s.lemmas) add_once(q.lemmas, l);
        }
    }
    return merged;
}

// The documents of the lemmas, ascending, each once.
static std::vector<uint32_t> relevant_docs(const std::vector<std::string>& lemmas,
                                           const std::unordered_map<std::string, uint32_t>& doc_index) {
    std::vector<uint32_t> rel;
    for (const auto& l : lemmas) {
        auto it = doc_index.find(headword_docid(l));
        if (it != doc_index.end()) rel.push_back(it->second);
    }
    std::sort(rel.begin(), rel.end());
    rel.erase(std::unique(rel.begin(), rel.end()), rel.end());
    return rel;
}

// The leak filters of a query with relevant documents: 'w' fewer than two content words, 'h' contains
// one of its own lemmas, 'v' its folded text stands verbatim in a relevant document; 0 keeps it.
static char leak_verdict(const Query& q, const std::vector<TextRecord>& docs) {
    if (bm25_tokens(q.text, true).size() < 2) return 'w';
    auto qt = bm25_tokens(q.text, false);
    for (const auto& l : q.lemmas) {
        std::string spaced = l;
        std::replace(spaced.begin(), spaced.end(), '_', ' ');
        // A lemma made only of stopwords ("a", the letter) is not looked for: "a" the article is
        // not the headword A.
        if (bm25_tokens(spaced, true).empty()) continue;
        if (contains_run(qt, bm25_tokens(spaced, false))) return 'h';
    }
    std::string qf = collapse_runs(fold_text(q.text), " \t", ' ');
    for (uint32_t d : q.rel)
        if (fold_text(docs[d].text).find(qf) != std::string::npos) return 'v';
    return 0;
}

// Fills each query's relevant documents and returns its verdict: 0 keep, 'r' no relevant document,
// else leak_verdict's reason. Parallel; the decisions are per query.
static std::vector<char> judge_queries(std::vector<Query>& merged, const std::vector<TextRecord>& docs,
                                       const std::unordered_map<std::string, uint32_t>& doc_index) {
    std::vector<char> verdict(merged.size(), 0);
#pragma omp parallel for schedule(dynamic, 64)
    for (size_t i = 0; i < merged.size(); i++) {
        Query& q = merged[i];
        q.rel = relevant_docs(q.lemmas, doc_index);
        verdict[i] = q.rel.empty() ? 'r' : leak_verdict(q, docs);
    }
    return verdict;
}

// The kept queries of each split (by split_index), in qid order, and their relevant documents.
struct SplitQueries {
    std::vector<TextRecord> queries[3];
    std::vector<std::vector<uint32_t>> rels[3];
};

// Splits the kept queries; counts them, their qrels and the dropped ones by reason in st.
static SplitQueries split_queries(const std::vector<Query>& merged, const std::vector<char>& verdict,
                                  CollectionStats& st) {
    SplitQueries sq;
    for (size_t i = 0; i < merged.size(); i++) {
        switch (verdict[i]) {
            case 'r': st.no_relevant++; continue;
            case 'w': st.few_words++; continue;
            case 'h': st.own_headword++; continue;
            case 'v': st.verbatim++; continue;
        }
        int s = split_index(merged[i].qid);
        sq.queries[s].push_back({merged[i].qid, merged[i].text});
        sq.rels[s].push_back(merged[i].rel);
        st.queries[s]++;
        st.qrels[s] += merged[i].rel.size();
    }
    return sq;
}

// collection.tsv, and queries.<split>.tsv and qrels.<split>.txt for each split.
static void write_collection_files(const std::string& out_dir, const std::vector<TextRecord>& docs,
                                   const SplitQueries& sq) {
    std::filesystem::create_directories(out_dir);
    AtomicFile f(out_dir + "/collection.tsv");
    for (const auto& d : docs) {
        std::string line = d.id + "\t" + d.text + "\n";
        f.write(line.data(), line.size());
    }
    f.commit();
    for (int s = 0; s < 3; s++) {
        AtomicFile fq(out_dir + "/queries." + split_name[s] + ".tsv");
        AtomicFile fr(out_dir + "/qrels." + split_name[s] + ".txt");
        for (size_t i = 0; i < sq.queries[s].size(); i++) {
            std::string line = sq.queries[s][i].id + "\t" + sq.queries[s][i].text + "\n";
            fq.write(line.data(), line.size());
            for (uint32_t d : sq.rels[s][i]) {
                std::string r = sq.queries[s][i].id + " 0 " + docs[d].id + " 1\n";
                fr.write(r.data(), r.size());
            }
        }
        fq.commit();
        fr.commit();
    }
}

// bm25.<split>.trec for each split and, for dev and test, candidates.<split>.tsv: the BM25 top-depth in
// rank order.
static void write_bm25_files(const std::string& out_dir, const Bm25Index& ix, const std::vector<TextRecord>& docs,
                             const std::unordered_map<std::string, uint32_t>& doc_index, const SplitQueries& sq,
                             int depth) {
    for (int s = 0; s < 3; s++) {
        const std::vector<TextRecord>& queries = sq.queries[s];
        auto res = bm25_search(ix, queries, (size_t)depth);
        Run run;
        for (size_t i = 0; i < queries.size(); i++) run[queries[i].id] = res[i];
        write_run(out_dir + "/bm25." + split_name[s] + ".trec", run, "bm25");
        if (s == 0) continue;
        AtomicFile fc(out_dir + "/candidates." + split_name[s] + ".tsv");
        for (size_t i = 0; i < queries.size(); i++)
            for (const auto& d : res[i]) {
                std::string line = queries[i].id + "\t" + d.docid + "\t" + queries[i].text + "\t" +
                                   docs[doc_index.at(d.docid)].text + "\n";
                fc.write(line.data(), line.size());
            }
        fc.commit();
    }
}

CollectionStats build_collection(const std::string& wordnet_dir, const std::string& gcide_dict,
                                 const std::string& gcide_index, const std::string& out_dir, int depth) {
    const double t0 = now_seconds();
    CollectionStats st;

    std::vector<TextRecord> docs = read_gcide_documents(gcide_dict, gcide_index, st);
    std::unordered_map<std::string, uint32_t> doc_index;
    for (size_t i = 0; i < docs.size(); i++) doc_index[docs[i].id] = (uint32_t)i;
    std::printf(
        "make_collection: %zu GCIDE entries -> %zu documents (senses kept %zu, of which %zu untagged tails; "
        "WordNet dropped %zu, modern-only dropped %zu) [%.1f s]\n",
        st.gcide_entries, st.docs, st.senses_kept, st.senses_untagged, st.senses_wordnet, st.senses_modern,
        now_seconds() - t0);

    std::vector<Synset> synsets = read_synsets(wordnet_dir);
    st.synsets = synsets.size();
    std::vector<Query> merged = merge_synsets(synsets, st);
    std::vector<char> verdict = judge_queries(merged, docs, doc_index);
    SplitQueries sq = split_queries(merged, verdict, st);
    std::printf(
        "make_collection: %zu synsets, %zu merged duplicates, dropped: %zu without a document, %zu with < 2 content "
        "words, "
        "%zu containing a headword, %zu verbatim in a relevant document [%.1f s]\n",
        st.synsets, st.merged, st.no_relevant, st.few_words, st.own_headword, st.verbatim, now_seconds() - t0);

    write_collection_files(out_dir, docs, sq);
    Bm25Index ix = bm25_build(docs);
    std::printf("make_collection: BM25 index: %zu documents, %zu terms, avgdl %.1f [%.1f s]\n", docs.size(),
                ix.post_doc.size(), ix.avgdl, now_seconds() - t0);
    write_bm25_files(out_dir, ix, docs, doc_index, sq, depth);
    std::printf("make_collection: BM25 runs written [%.1f s]\n", now_seconds() - t0);
    return st;
}
