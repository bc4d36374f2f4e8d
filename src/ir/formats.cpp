// Readers and writers of the IR text formats; the rules are in formats.h.
#include "ir/formats.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/common.h"

// ---- UTF-8 ---------------------------------------------------------------------------------------------------
// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there do not start one (RFC 3629).
static size_t utf8_seq_len(std::string_view s, size_t i) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
    size_t n = s.size() - i;
    unsigned c = p[0];
    if (c < 0x80) return 1;
    auto cont = [&](size_t k) { return k < n && (p[k] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;   // overlong
        if (c == 0xED && p[1] >= 0xA0) return 0;  // surrogates
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;   // overlong
        if (c == 0xF4 && p[1] >= 0x90) return 0;  // above U+10FFFF
        return 4;
    }
    return 0;
}

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_seq_len(s, i);
        if (!n) return false;
        i += n;
    }
    return true;
}

std::string repair_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool in_bad = false;
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_seq_len(s, i);
        if (n) {
            out.append(s.data() + i, n);
            i += n;
            in_bad = false;
        } else {
            if (!in_bad) out += "\xEF\xBF\xBD";  // one U+FFFD per maximal invalid run
            in_bad = true;
            i++;
        }
    }
    return out;
}

std::string read_warnings(const std::string& path, const ReadStats& s) {
    std::string w;
    if (s.invalid_utf8)
        w += strfmt("warning: %s: %zu line(s) with invalid UTF-8, replaced by U+FFFD (first at line %zu)\n",
                    path.c_str(), s.invalid_utf8, s.first_invalid_utf8);
    if (s.empty_docs)
        w += strfmt("warning: %s: %zu empty document(s) kept (first at line %zu)\n", path.c_str(), s.empty_docs,
                    s.first_empty_doc);
    return w;
}

uint64_t fnv1a64(std::string_view s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

// ---- lines ------------------------------------------------------------------------------------------------
LineReader::LineReader(const std::string& p, const char* w) : path(p), what(w) {
    errno = 0;
    gzFile f = gzopen(p.c_str(), "rb");
    if (!f) {
        int e = errno;
        // The demo collection's files are made by `make data`: say so when one is missing.
        bool demo = (p.rfind("data/", 0) == 0 || p.find("/data/") != std::string::npos) && e == ENOENT;
        throw FormatError(strfmt("%s %s: cannot open: %s%s", w, p.c_str(), e ? std::strerror(e) : "out of memory",
                                 demo ? " (run `make data` first)" : ""));
    }
    gzbuffer(f, 1 << 17);
    gz = f;
}

LineReader::~LineReader() {
    if (gz) gzclose(static_cast<gzFile>(gz));
}

void LineReader::fail(const std::string& msg) const {
    throw FormatError(strfmt("%s:%zu: %s", path.c_str(), line_no, msg.c_str()));
}

bool LineReader::next(std::string_view& line) {
    for (;;) {
        cur.clear();
        bool got = false;
        for (;;) {
            if (pos == buf.size()) {
                if (eof) break;
                buf.resize(1 << 16);
                int n = gzread(static_cast<gzFile>(gz), buf.data(), (unsigned)buf.size());
                if (n < 0) {
                    int e;
                    const char* m = gzerror(static_cast<gzFile>(gz), &e);
                    line_no++;
                    fail(strfmt("read error: %s", e == Z_ERRNO ? std::strerror(errno) : m));
                }
                buf.resize(n);
                pos = 0;
                if (n == 0) {
                    eof = true;
                    break;
                }
            }
            got = true;
            const char* start = buf.data() + pos;
            const char* nl = static_cast<const char*>(std::memchr(start, '\n', buf.size() - pos));
            size_t take = nl ? size_t(nl - start) : buf.size() - pos;
            if (cur.size() + take > kMaxLineBytes) {
                line_no++;
                fail(strfmt("line longer than %zu bytes", kMaxLineBytes));
            }
            cur.append(start, take);
            pos += take;
            if (nl) {
                pos++;  // the newline
                break;
            }
        }
        if (!got) return false;
        line_no++;
        if (!cur.empty() && cur.back() == '\r') cur.pop_back();
        if (cur.empty()) continue;  // blank line
        line = cur;
        return true;
    }
}

void split_tabs(const LineReader& r, std::string_view line, size_t n, std::string_view* out) {
    size_t found = 1 + std::count(line.begin(), line.end(), '\t');
    if (found != n) r.fail(strfmt("expected %zu tab-separated fields, found %zu", n, found));
    for (size_t i = 0; i < n; i++) {
        size_t t = line.find('\t');
        out[i] = line.substr(0, t);
        line = t == std::string_view::npos ? std::string_view() : line.substr(t + 1);
    }
}

void split_ws(std::string_view line, std::vector<std::string_view>& out) {
    out.clear();
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) i++;
        size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t') j++;
        if (j > i) out.push_back(line.substr(i, j - i));
        i = j;
    }
}

// A field quoted in a message: at most 60 bytes, control characters as '?', so that the message stays
// one short line whatever the input.
static std::string clip(std::string_view v) {
    std::string s(v.substr(0, 60));
    for (auto& c : s)
        if ((unsigned char)c < 0x20 || c == 0x7F) c = '?';
    if (v.size() > 60) s += "...";
    return s;
}

// An id field: non-empty, no spaces or control characters, valid UTF-8.
static void check_id(const LineReader& r, std::string_view id, const char* name) {
    if (id.empty()) r.fail(strfmt("empty %s", name));
    for (char c : id)
        if (c == ' ' || (unsigned char)c < 0x20 || c == 0x7F)
            r.fail(strfmt("%s '%s' contains a space or control character", name, clip(id).c_str()));
    if (!valid_utf8(id)) r.fail(strfmt("%s is not valid UTF-8", name));
}

static bool blank(std::string_view s) { return s.find_first_not_of(" \t\v\f") == std::string_view::npos; }

// A text field: invalid UTF-8 repaired and counted; blank -> error (query) or counted (document).
static std::string take_text(const LineReader& r, std::string_view t, bool is_query, ReadStats& st, const char* name) {
    if (blank(t)) {
        if (is_query) r.fail(strfmt("empty %s", name));
        if (!st.empty_docs++) st.first_empty_doc = r.line_no;
    }
    if (valid_utf8(t)) return std::string(t);
    if (!st.invalid_utf8++) st.first_invalid_utf8 = r.line_no;
    return repair_utf8(t);
}

// ---- id \t text -------------------------------------------------------------------------------------------
TextReader::TextReader(const std::string& path, const char* what, bool q) : in(path, what), is_query(q) {}

bool TextReader::next(TextRecord& rec) {
    std::string_view line, f[2];
    if (!in.next(line)) return false;
    split_tabs(in, line, 2, f);
    check_id(in, f[0], is_query ? "qid" : "docid");
    rec.id.assign(f[0]);
    rec.text = take_text(in, f[1], is_query, stats, is_query ? "query" : "document");
    stats.lines++;
    return true;
}

static std::vector<TextRecord> read_text_file(const std::string& path, const char* what, bool is_query,
                                              ReadStats* stats) {
    TextReader r(path, what, is_query);
    std::vector<TextRecord> out;
    std::unordered_map<std::string, size_t> seen;
    TextRecord rec;
    while (r.next(rec)) {
        auto [it, fresh] = seen.emplace(rec.id, r.in.line_no);
        if (!fresh)
            r.in.fail(strfmt("duplicate %s '%s' (first at line %zu)", is_query ? "qid" : "docid", rec.id.c_str(),
                             it->second));
        out.push_back(std::move(rec));
    }
    if (stats) *stats = r.stats;
    return out;
}

std::vector<TextRecord> read_queries(const std::string& path, ReadStats* stats) {
    return read_text_file(path, "queries file", true, stats);
}

std::vector<TextRecord> read_collection(const std::string& path, ReadStats* stats) {
    return read_text_file(path, "collection", false, stats);
}

// ---- qrels and runs ---------------------------------------------------------------------------------------
static long parse_int(const LineReader& r, std::string_view s, const char* name) {
    std::string t(s);
    char* end;
    errno = 0;
    long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end || errno) r.fail(strfmt("%s '%s' is not an integer", name, clip(t).c_str()));
    return v;
}

Qrels read_qrels(const std::string& path) {
    LineReader r(path, "qrels");
    Qrels q;
    std::string_view line;
    std::vector<std::string_view> f;
    while (r.next(line)) {
        split_ws(line, f);
        if (f.size() != 4) r.fail(strfmt("expected 4 fields 'qid 0 docid rel', found %zu", f.size()));
        check_id(r, f[0], "qid");
        check_id(r, f[2], "docid");
        long rel = parse_int(r, f[3], "relevance");
        auto [it, fresh] = q[std::string(f[0])].emplace(std::string(f[2]), (int)rel);
        if (!fresh)
            r.fail(strfmt("duplicate judgment for query '%.*s', document '%.*s'", (int)f[0].size(), f[0].data(),
                          (int)f[2].size(), f[2].data()));
    }
    return q;
}

// One run line -> qid, document; false at the end of the file.
static bool read_run_line(LineReader& r, std::string& qid, ScoredDoc& d) {
    std::string_view line;
    static thread_local std::vector<std::string_view> f;
    if (!r.next(line)) return false;
    split_ws(line, f);
    if (f.size() != 6) r.fail(strfmt("expected 6 fields 'qid Q0 docid rank score tag', found %zu", f.size()));
    check_id(r, f[0], "qid");
    check_id(r, f[2], "docid");
    parse_int(r, f[3], "rank");
    std::string s(f[4]);
    char* end;
    double score = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || !std::isfinite(score))
        r.fail(strfmt("score '%s' is not a finite number", clip(s).c_str()));
    qid.assign(f[0]);
    d.docid.assign(f[2]);
    d.score = score;
    return true;
}

Run read_run(const std::string& path) {
    LineReader r(path, "run");
    Run run;
    std::map<std::string, std::vector<size_t>> lines;  // line of each entry, for the duplicate check
    std::string qid;
    ScoredDoc d;
    while (read_run_line(r, qid, d)) {
        run[qid].push_back(d);
        lines[qid].push_back(r.line_no);
    }
    // Duplicates, found per query by sorting (a hash set per query costs far more on a 5M-line run).
    for (auto& [q, docs] : run) {
        const auto& ln = lines[q];
        std::vector<size_t> idx(docs.size());
        for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
        std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
            return docs[a].docid != docs[b].docid ? docs[a].docid < docs[b].docid : ln[a] < ln[b];
        });
        for (size_t i = 1; i < idx.size(); i++)
            if (docs[idx[i]].docid == docs[idx[i - 1]].docid)
                throw FormatError(strfmt("%s:%zu: document '%s' appears twice for query '%s' (first at line %zu)",
                                         path.c_str(), ln[idx[i]], docs[idx[i]].docid.c_str(), q.c_str(),
                                         ln[idx[i - 1]]));
    }
    return run;
}

// The checks of the streaming readers (RunReader, CandidateReader), whose queries come in contiguous
// groups: a group's qid not seen in an earlier group (`unit` names the group's lines in the message),
// and a docid once in its group.
static void check_new_group(const LineReader& in, std::unordered_set<uint64_t>& done, const std::string& qid,
                            const char* unit) {
    if (!done.insert(fnv1a64(qid)).second)
        in.fail(strfmt("query '%s' appears again after its %s ended; a query's %s must be contiguous", qid.c_str(),
                       unit, unit));
}

static void check_new_doc(const LineReader& in, std::unordered_set<std::string>& ids, const std::string& docid,
                          const std::string& qid) {
    if (!ids.insert(docid).second)
        in.fail(strfmt("document '%s' appears twice for query '%s'", docid.c_str(), qid.c_str()));
}

RunReader::RunReader(const std::string& path) : in(path, "run") {}

bool RunReader::next(std::string& qid, std::vector<ScoredDoc>& docs) {
    docs.clear();
    if (!have_pending && !read_run_line(in, pending_qid, pending_doc)) return false;
    have_pending = false;
    qid = pending_qid;
    check_new_group(in, done, qid, "lines");
    std::unordered_set<std::string> ids;
    for (;;) {
        check_new_doc(in, ids, pending_doc.docid, qid);
        docs.push_back(std::move(pending_doc));
        if (!read_run_line(in, pending_qid, pending_doc)) break;
        if (pending_qid != qid) {
            have_pending = true;
            break;
        }
    }
    return true;
}

// trec_eval's order (formats.h, sort_trec).
static bool trec_before(const ScoredDoc& a, const ScoredDoc& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.docid > b.docid;
}

void sort_trec(std::vector<ScoredDoc>& docs) { std::sort(docs.begin(), docs.end(), trec_before); }

std::string format_run_lines(const std::string& qid, std::vector<ScoredDoc> docs, const std::string& tag,
                             size_t depth) {
    // Rank by the scores as they will be read back, so that the file's ranks match trec_eval's.
    std::vector<std::string> printed(docs.size());
    for (size_t i = 0; i < docs.size(); i++) {
        printed[i] = strfmt("%.9g", docs[i].score);
        docs[i].score = std::strtod(printed[i].c_str(), nullptr);
    }
    std::vector<size_t> order(docs.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return trec_before(docs[a], docs[b]); });
    size_t n = depth ? std::min(depth, docs.size()) : docs.size();
    std::string out;
    for (size_t k = 0; k < n; k++) {
        const auto& d = docs[order[k]];
        out += qid;
        out += " Q0 ";
        out += d.docid;
        out += strfmt(" %zu ", k + 1);
        out += printed[order[k]];
        out += ' ';
        out += tag;
        out += '\n';
    }
    return out;
}

void write_run(const std::string& path, const Run& run, const std::string& tag, size_t depth) {
    if (tag.empty() || tag.find_first_of(" \t\n") != std::string::npos)
        fatal("run tag '%s' must be one word", tag.c_str());
    AtomicFile f(path);
    for (const auto& [qid, docs] : run) {
        std::string s = format_run_lines(qid, docs, tag, depth);
        f.write(s.data(), s.size());
    }
    f.commit();
}

// ---- candidates -------------------------------------------------------------------------------------------
CandidateReader::CandidateReader(const std::string& path) : in(path, "candidates") {}

bool CandidateReader::read_row() {
    std::string_view line, f[4];
    if (!in.next(line)) return false;
    split_tabs(in, line, 4, f);
    check_id(in, f[0], "qid");
    check_id(in, f[1], "docid");
    pending_q.id.assign(f[0]);
    pending_q.text = take_text(in, f[2], true, stats, "query");
    pending_d.docid.assign(f[1]);
    pending_d.document = take_text(in, f[3], false, stats, "document");
    pending_line = in.line_no;
    stats.lines++;
    return true;
}

bool CandidateReader::next(CandidateGroup& g) {
    g.docs.clear();
    if (!have_pending && !read_row()) return false;
    have_pending = false;
    g.qid = pending_q.id;
    g.query = pending_q.text;
    g.first_line = pending_line;
    check_new_group(in, done, g.qid, "rows");
    std::unordered_set<std::string> ids;
    for (;;) {
        check_new_doc(in, ids, pending_d.docid, g.qid);
        g.docs.push_back(std::move(pending_d));
        if (!read_row()) break;
        if (pending_q.id != g.qid) {
            have_pending = true;
            break;
        }
        if (pending_q.text != g.query)
            in.fail(strfmt("query '%s' has a different text than at line %zu", g.qid.c_str(), g.first_line));
    }
    return true;
}

// ---- training data ----------------------------------------------------------------------------------------
GroupReader::GroupReader(const std::string& path) : in(path, "group file") {}

bool GroupReader::next(TrainGroup& g) {
    std::string_view line;
    std::vector<std::string_view> f;
    if (!in.next(line)) return false;
    split_ws(line, f);
    if (f.size() < 3) in.fail(strfmt("expected 'qid pos neg1 ... negk' with k >= 1, found %zu field(s)", f.size()));
    for (auto& x : f) check_id(in, x, "id");
    g.qid.assign(f[0]);
    g.pos.assign(f[1]);
    g.negs.assign(f.begin() + 2, f.end());
    return true;
}

TripleReader::TripleReader(const std::string& path) : in(path, "triples") {}

bool TripleReader::next(Triple& t) {
    std::string_view line, f[3];
    if (!in.next(line)) return false;
    split_tabs(in, line, 3, f);
    t.query = take_text(in, f[0], true, stats, "query");
    t.pos = take_text(in, f[1], true, stats, "positive passage");
    t.neg = take_text(in, f[2], true, stats, "negative passage");
    stats.lines++;
    return true;
}
