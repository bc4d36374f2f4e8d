// The text formats IR people already have, read and written in one place.
//
// Every reader streams (a fixed read buffer, one line at a time), accepts plain or gzip files (zlib reads
// a plain file through unchanged), and reports a fault as one line "<file>:<line>: <what is wrong>"
// thrown as FormatError; programs catch it in main and print "error: ..." with exit status 1. Nothing
// here exits the process except the run writer, whose AtomicFile calls fatal() on an unwritable path.
//
//   collection.tsv      docid \t text                          (MS MARCO collection.tsv)
//   queries.*.tsv       qid \t text                            (MS MARCO queries.*.tsv)
//   qrels               qid 0 docid rel                        (TREC qrels; any whitespace; rel an integer)
//   run                 qid Q0 docid rank score tag            (TREC run; any whitespace; score a finite number)
//   candidates          qid \t docid \t query \t document      (MS MARCO top1000.*.tsv; a qid's rows contiguous)
//   groups              qid pos neg1 ... negk                  (training groups; whitespace-separated ids)
//   triples             query \t positive \t negative          (MS MARCO triples.train.small.tsv; text)
//
// Rules shared by every reader (README "Formats" repeats them):
//   - Line endings: "\n" or "\r\n"; the "\r" is stripped. A last line without a newline is read.
//   - Blank lines (empty after stripping "\r") are skipped in every format.
//   - Fields: the tab-separated formats need exactly the stated number of tab-separated fields (a tab
//     inside a text is therefore an error, with the count found); ids may not be empty or contain
//     spaces or control characters; a field quoted in a message is cut to 60 bytes.
//   - Invalid UTF-8 in a text field: each invalid byte sequence is replaced by U+FFFD and the line is
//     counted (ReadStats::invalid_utf8, first line kept); programs print one warning with the count.
//     Ids must be valid UTF-8 (an error otherwise).
//   - Empty text (only spaces) in a query is an error; an empty document is kept, counted
//     (ReadStats::empty_docs) and warned about: dropping it would silently change a candidate list.
//   - Long lines: any line up to kMaxLineBytes (256 MiB) is accepted whole, so a 10 MB document is read
//     as is (models truncate it to their maximum length later); a longer line is an error.
//   - Duplicates: a docid twice in a collection, a qid twice in a queries file, a (qid, docid) twice in
//     qrels, a run or a candidate list are errors, as trec_eval treats a duplicate in a run.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

// A fault in an input file (or a missing one); what() is the one-line message without "error: ".
struct FormatError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr size_t kMaxLineBytes = size_t(256) << 20;

// What a reader repaired or let through, for the one warning a program prints at the end.
struct ReadStats {
    size_t lines = 0;               // records read
    size_t invalid_utf8 = 0;        // lines whose text had invalid UTF-8 (replaced by U+FFFD)
    size_t first_invalid_utf8 = 0;  // line number of the first one
    size_t empty_docs = 0;          // documents that were empty
    size_t first_empty_doc = 0;
};
// "warning: <path>: ..." lines for what `s` counted (empty when there is nothing to say).
std::string read_warnings(const std::string& path, const ReadStats& s);

// UTF-8 helpers. valid_utf8 follows RFC 3629 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);
std::string repair_utf8(std::string_view s);  // each maximal invalid subsequence -> U+FFFD

// A streaming line reader over a plain or gzip file. `what` names the file's role in messages
// ("queries file", "run").
struct LineReader {
    LineReader(const std::string& path, const char* what);  // throws FormatError when it cannot open
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // The next non-blank line, "\n" and "\r" stripped; false at the end of the file.
    bool next(std::string_view& line);
    // Throws FormatError "<path>:<line>: <msg>".
    [[noreturn]] void fail(const std::string& msg) const;

    std::string path, what;
    size_t line_no = 0;

  private:
    void* gz = nullptr;
    std::string buf, cur;
    size_t pos = 0;
    bool eof = false;
};

// Splits `line` at tabs into exactly n fields, else reader.fail("expected n tab-separated fields ...").
void split_tabs(const LineReader& r, std::string_view line, size_t n, std::string_view* out);
// Splits at runs of spaces and tabs.
void split_ws(std::string_view line, std::vector<std::string_view>& out);

// ---- id \t text: collection.tsv and queries.tsv -----------------------------------------------------------
struct TextRecord {
    std::string id, text;
};
// Streams records one at a time. is_query: empty text is an error (else counted as an empty document).
struct TextReader {
    TextReader(const std::string& path, const char* what, bool is_query);
    bool next(TextRecord& rec);
    LineReader in;
    bool is_query;
    ReadStats stats;
};
// Whole files, in file order; duplicate ids are an error.
std::vector<TextRecord> read_queries(const std::string& path, ReadStats* stats = nullptr);
std::vector<TextRecord> read_collection(const std::string& path, ReadStats* stats = nullptr);

// ---- TREC qrels and runs ----------------------------------------------------------------------------------
using Judgments = std::unordered_map<std::string, int>;  // docid -> rel
using Qrels = std::map<std::string, Judgments>;          // qid -> judgments
Qrels read_qrels(const std::string& path);

struct ScoredDoc {
    std::string docid;
    double score = 0;
};
using Run = std::map<std::string, std::vector<ScoredDoc>>;  // qid -> documents in file order
// Reads a run; the rank column is read but not used (trec_eval ranks by score). Duplicate docids within
// a query are an error.
Run read_run(const std::string& path);

// Streams a run one query at a time (file order within the query), for runs whose queries' lines are
// contiguous (every run this engine writes; trec_eval does not require it, read_run does not either).
// Memory: one query plus an 8-byte hash per finished qid. Errors as read_run, plus a qid that reappears.
struct RunReader {
    explicit RunReader(const std::string& path);
    bool next(std::string& qid, std::vector<ScoredDoc>& docs);
    LineReader in;

  private:
    std::unordered_set<uint64_t> done;
    std::string pending_qid;
    ScoredDoc pending_doc;
    bool have_pending = false;
};

// Sorts into trec_eval's order: score descending, ties by docid descending (strcmp order reversed), the
// order trec_eval 9 and pytrec_eval use (checked by tests/fixtures/metrics).
void sort_trec(std::vector<ScoredDoc>& docs);

// Writes a TREC run atomically (AtomicFile; fatal() on an unwritable path): per query in qid order, the
// documents in sort_trec order of the scores as printed ("%.9g", so that the file read back ranks
// exactly as written), ranks from 1, up to `depth` documents per query (0: all).
void write_run(const std::string& path, const Run& run, const std::string& tag, size_t depth = 0);
// Formats one query's lines (already sorted by the caller with sort_trec on printed scores) — for
// writers that stream query by query (./rerank).
std::string format_run_lines(const std::string& qid, std::vector<ScoredDoc> docs, const std::string& tag,
                             size_t depth = 0);

// ---- candidates: qid \t docid \t query \t document, one query's rows at a time ----------------------------
struct Candidate {
    std::string docid, document;
};
struct CandidateGroup {
    std::string qid, query;
    std::vector<Candidate> docs;
    size_t first_line = 0;  // line of the group's first row
};
// Memory holds one group plus an 8-byte hash per finished qid (to reject a qid whose rows are not
// contiguous). Errors: wrong field count, empty query, a query text that changes within a group, a
// repeated docid within a group, a qid that reappears after its group ended.
struct CandidateReader {
    explicit CandidateReader(const std::string& path);
    bool next(CandidateGroup& g);
    LineReader in;
    ReadStats stats;

  private:
    std::unordered_set<uint64_t> done;
    TextRecord pending_q;  // qid + query of the row read ahead
    Candidate pending_d;
    size_t pending_line = 0;
    bool have_pending = false;
    bool read_row();
};

// ---- training data ----------------------------------------------------------------------------------------
// Group file: "qid pos neg1 ... negk" (whitespace-separated ids; k >= 1).
struct TrainGroup {
    std::string qid, pos;
    std::vector<std::string> negs;
};
struct GroupReader {
    explicit GroupReader(const std::string& path);
    bool next(TrainGroup& g);
    LineReader in;
};

// MS MARCO triples: "query \t positive \t negative" (text; empty query or passage an error).
struct Triple {
    std::string query, pos, neg;
};
struct TripleReader {
    explicit TripleReader(const std::string& path);
    bool next(Triple& t);
    LineReader in;
    ReadStats stats;
};

// FNV-1a 64, used for the contiguity check above and anywhere a stable string hash is wanted.
uint64_t fnv1a64(std::string_view s);
