// Tests of src/formats: every reader on small files in the MS MARCO / TREC layouts, and each kind of bad
// input (wrong field count, empty text, invalid UTF-8, CRLF, a 10 MB document, a missing file, an
// unwritable output, non-contiguous candidates, duplicates). Faults must be one line naming file:line.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "core/common.h"
#include "ir/formats.h"
#include "ir/metrics.h"

namespace fs = std::filesystem;

static std::string tmp_dir() {
    auto p = fs::temp_directory_path() / strfmt("engine_test_formats.%d", (int)getpid());
    fs::create_directories(p);
    return p.string();
}

static std::string put(const std::string& name, const std::string& body) {
    std::string p = tmp_dir() + "/" + name;
    FILE* f = std::fopen(p.c_str(), "wb");
    REQUIRE(f);
    std::fwrite(body.data(), 1, body.size(), f);
    std::fclose(f);
    return p;
}

// The message a call throws as FormatError ("" when it does not throw).
static std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const FormatError& e) {
        std::printf("  message: %s\n", e.what());
        return e.what();
    }
    return "";
}

// Runs f in a child process; returns its exit status and what it wrote on stderr.
static std::pair<int, std::string> in_child(const std::function<void()>& f) {
    std::fflush(stdout);
    std::fflush(stderr);
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        f();
        std::fflush(stderr);
        _exit(0);
    }
    close(p[1]);
    std::string err;
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) err.append(buf, (size_t)n);
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, err};
}

TEST_CASE("formats: collection and queries, CRLF endings, blank lines, a last line without newline, gzip") {
    std::string body = "d1\tfirst document\r\n\r\nd2\tsecond\twith a tab\n";
    // A tab inside a text is a field-count error; fix it and read again.
    std::string p = put("coll_bad.tsv", body);
    std::string msg = error_of([&] { read_collection(p); });
    CHECK(msg == p + ":3: expected 2 tab-separated fields, found 3");

    p = put("coll.tsv", "d1\tfirst document\r\n\r\nd2\tsecond document");
    auto docs = read_collection(p);
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].id == "d1");
    CHECK(docs[0].text == "first document");   // "\r" stripped
    CHECK(docs[1].text == "second document");  // no final newline

    // The same file gzip-compressed reads the same.
    std::string gz = tmp_dir() + "/coll.tsv.gz";
    gzFile g = gzopen(gz.c_str(), "wb");
    std::string plain = "d1\tfirst document\r\n\r\nd2\tsecond document";
    gzwrite(g, plain.data(), (unsigned)plain.size());
    gzclose(g);
    auto docs_gz = read_collection(gz);
    REQUIRE(docs_gz.size() == 2);
    CHECK(docs_gz[1].text == "second document");

    auto q = read_queries(
        put("q.tsv", "1048585\twhat is paula deen's brother\n2\t)what was the immediate impact of the success\n"));
    REQUIRE(q.size() == 2);
    CHECK(q[0].id == "1048585");
    std::printf("collection: %zu docs (plain), %zu (gzip); queries: %zu\n", docs.size(), docs_gz.size(), q.size());
}

TEST_CASE("formats: empty query is an error; an empty document is kept and counted") {
    std::string p = put("q_empty.tsv", "q1\tok query\nq2\t   \n");
    CHECK(error_of([&] { read_queries(p); }) == p + ":2: empty query");
    ReadStats st;
    auto docs = read_collection(put("c_empty.tsv", "d1\ttext\nd2\t\nd3\tmore\n"), &st);
    CHECK(docs.size() == 3);
    CHECK(st.empty_docs == 1);
    CHECK(st.first_empty_doc == 2);
    std::string w = read_warnings("c_empty.tsv", st);
    std::printf("  %s", w.c_str());
    CHECK(w.find("1 empty document(s) kept (first at line 2)") != std::string::npos);
    CHECK(error_of([&] { read_collection(put("c_noid.tsv", "\tsome text\n")); }).find(":1: empty docid") !=
          std::string::npos);
}

TEST_CASE("formats: invalid UTF-8 in a text is replaced by U+FFFD and counted; in an id it is an error") {
    CHECK(valid_utf8("plain"));
    CHECK(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK(!valid_utf8("\xC0\xAF"));          // overlong
    CHECK(!valid_utf8("\xED\xA0\x80"));      // surrogate
    CHECK(!valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK(!valid_utf8("abc\xE2\x82"));       // truncated
    CHECK(repair_utf8("a\x92"
                      "b\xFF\xFE"
                      "c") ==
          "a\xEF\xBF\xBD"
          "b\xEF\xBF\xBD"
          "c");
    ReadStats st;
    auto docs = read_collection(put("c_utf8.tsv", "d1\tfine\nd2\tbad \x92 quote\nd3\tbad \xFF too\n"), &st);
    REQUIRE(docs.size() == 3);
    CHECK(docs[1].text == "bad \xEF\xBF\xBD quote");
    CHECK(st.invalid_utf8 == 2);
    CHECK(st.first_invalid_utf8 == 2);
    std::printf("  %s", read_warnings("c_utf8.tsv", st).c_str());
    std::string p = put("c_utf8id.tsv", "d\xFF\ttext\n");
    CHECK(error_of([&] { read_collection(p); }) == p + ":1: docid is not valid UTF-8");
}

TEST_CASE("formats: a 10 MB document is read whole") {
    std::string big(10u << 20, 'x');
    for (size_t i = 7; i < big.size(); i += 8) big[i] = ' ';
    auto docs = read_collection(put("c_big.tsv", "small\tdoc\nbig\t" + big + "\r\nafter\tdoc\n"));
    REQUIRE(docs.size() == 3);
    CHECK(docs[1].text.size() == big.size());
    CHECK(docs[2].id == "after");
    std::printf("10 MB document: read %zu bytes\n", docs[1].text.size());
    fs::remove(tmp_dir() + "/c_big.tsv");
}

TEST_CASE("formats: a missing file names the file and the reason") {
    std::string msg = error_of([] { read_queries("/nonexistent/queries.dev.tsv"); });
    CHECK(msg == "queries file /nonexistent/queries.dev.tsv: cannot open: No such file or directory");
    CHECK(error_of([] { read_qrels("/nonexistent/qrels.txt"); }).find("qrels /nonexistent/qrels.txt: cannot open") ==
          0);
    CHECK(error_of([] { read_run("/nonexistent/run.trec"); }).find("run /nonexistent/run.trec: cannot open") == 0);
    CHECK(error_of([] {
              CandidateReader r("/nonexistent/top1000.dev.tsv");
          }).find("candidates /nonexistent/top1000.dev.tsv: cannot open") == 0);
    CHECK(error_of([] { read_qrels("data/qrels.nosuchsplit.txt"); }) ==
          "qrels data/qrels.nosuchsplit.txt: cannot open: No such file or directory (run `make data` first)");
}

TEST_CASE("formats: qrels and runs, with their faults") {
    std::string qp = put("qrels.txt", "q1 0 d1 1\nq1\t0\td2\t0\r\nq2 0 d9 2\n");
    Qrels q = read_qrels(qp);
    CHECK(q.size() == 2);
    CHECK(q["q1"]["d1"] == 1);
    CHECK(q["q1"]["d2"] == 0);
    std::string p = put("qrels_bad.txt", "q1 0 d1 1\nq1 0 d2\n");
    CHECK(error_of([&] { read_qrels(p); }) == p + ":2: expected 4 fields 'qid 0 docid rel', found 3");
    p = put("qrels_rel.txt", "q1 0 d1 yes\n");
    CHECK(error_of([&] { read_qrels(p); }) == p + ":1: relevance 'yes' is not an integer");
    p = put("qrels_dup.txt", "q1 0 d1 1\nq1 0 d1 0\n");
    CHECK(error_of([&] { read_qrels(p); }) == p + ":2: duplicate judgment for query 'q1', document 'd1'");

    Run r = read_run(put("run.trec", "q1 Q0 d1 1 2.5 bm25\nq1 Q0 d2 2 -1e-3 bm25\r\nq2 Q0 d9 1 7 bm25\n"));
    REQUIRE(r["q1"].size() == 2);
    CHECK(r["q1"][1].score == -1e-3);
    p = put("run_bad.trec", "q1 Q0 d1 1 2.5\n");
    CHECK(error_of([&] { read_run(p); }) == p + ":1: expected 6 fields 'qid Q0 docid rank score tag', found 5");
    p = put("run_score.trec", "q1 Q0 d1 1 2.5 t\nq1 Q0 d2 2 nan t\n");
    CHECK(error_of([&] { read_run(p); }) == p + ":2: score 'nan' is not a finite number");
    p = put("run_dup.trec", "q1 Q0 d1 1 2.5 t\nq1 Q0 d1 2 2.0 t\n");
    CHECK(error_of([&] { read_run(p); }) == p + ":2: document 'd1' appears twice for query 'q1' (first at line 1)");
    // Lines of one query need not be contiguous for read_run (trec_eval does not require it).
    Run split = read_run(put("run_split.trec", "q1 Q0 d1 1 2 t\nq2 Q0 d1 1 2 t\nq1 Q0 d2 2 1 t\n"));
    CHECK(split["q1"].size() == 2);
}

TEST_CASE("formats: RunReader streams a run one query at a time") {
    std::string p = put("stream.trec", "q1 Q0 d1 1 2 t\nq1 Q0 d2 2 1 t\nq2 Q0 d9 1 7 t\n");
    RunReader r(p);
    std::string qid;
    std::vector<ScoredDoc> docs;
    REQUIRE(r.next(qid, docs));
    CHECK(qid == "q1");
    REQUIRE(docs.size() == 2);
    CHECK(docs[1].docid == "d2");
    REQUIRE(r.next(qid, docs));
    CHECK(qid == "q2");
    CHECK(docs.size() == 1);
    CHECK(!r.next(qid, docs));
    auto all = [](const std::string& path) {
        RunReader rr(path);
        std::string q;
        std::vector<ScoredDoc> d;
        while (rr.next(q, d)) {}
    };
    p = put("stream_split.trec", "q1 Q0 d1 1 2 t\nq2 Q0 d1 1 2 t\nq1 Q0 d2 2 1 t\n");
    CHECK(error_of([&] { all(p); }) ==
          p + ":3: query 'q1' appears again after its lines ended; a query's lines must be contiguous");
    p = put("stream_dup.trec", "q1 Q0 d1 1 2 t\nq1 Q0 d1 2 1 t\n");
    CHECK(error_of([&] { all(p); }) == p + ":2: document 'd1' appears twice for query 'q1'");
}

TEST_CASE("formats: write_run sorts by score, breaks ties by docid descending, and reads back the same") {
    Run run;
    run["q2"] = {{"a", 1.0}, {"c", 3.0}, {"b", 1.0}, {"z", 1.0000000001}};  // z ties a and b once printed
    run["q1"] = {{"x", 0.5}};
    std::string p = tmp_dir() + "/out.trec";
    write_run(p, run, "test");
    std::string s = read_file(p, "run");
    std::printf("%s", s.c_str());
    CHECK(s ==
          "q1 Q0 x 1 0.5 test\n"
          "q2 Q0 c 1 3 test\n"
          "q2 Q0 z 2 1 test\n"
          "q2 Q0 b 3 1 test\n"
          "q2 Q0 a 4 1 test\n");
    Run back = read_run(p);
    std::vector<ScoredDoc> d = back["q2"];
    sort_trec(d);
    CHECK(d[1].docid == "z");  // trec_eval's order of the file is the file's order
    write_run(p, run, "test", 2);
    std::string cut = read_file(p, "run");
    CHECK(std::count(cut.begin(), cut.end(), '\n') == 3);  // depth 2: q1 1 + q2 2
    for (auto& e : fs::directory_iterator(tmp_dir())) CHECK(e.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("formats: an unwritable output path exits 1 with one line and leaves no file") {
    Run run;
    run["q"] = {{"d", 1.0}};
    auto [code, err] = in_child([&] { write_run("/nonexistent-dir/run.trec", run, "t"); });
    std::printf("  child exit %d, stderr: %s", code, err.c_str());
    CHECK(code == 1);
    CHECK(err == "error: /nonexistent-dir/run.trec: cannot write: No such file or directory\n");
    CHECK(!fs::exists("/nonexistent-dir/run.trec"));
}

TEST_CASE("formats: candidates stream one query at a time and must be contiguous") {
    std::string p = put("top1000.tsv",
                        "q1\td1\twhat is x\tdoc one\n"
                        "q1\td2\twhat is x\tdoc two\r\n"
                        "q2\td1\tanother query\tdoc one\n");
    CandidateReader r(p);
    CandidateGroup g;
    REQUIRE(r.next(g));
    CHECK(g.qid == "q1");
    CHECK(g.query == "what is x");
    REQUIRE(g.docs.size() == 2);
    CHECK(g.docs[1].document == "doc two");
    REQUIRE(r.next(g));
    CHECK(g.qid == "q2");
    CHECK(g.docs.size() == 1);
    CHECK(g.first_line == 3);
    CHECK(!r.next(g));

    auto all = [](const std::string& path) {
        CandidateReader rr(path);
        CandidateGroup gg;
        while (rr.next(gg)) {}
    };
    p = put("cand_split.tsv", "q1\td1\tx y\tdoc\nq2\td1\tz w\tdoc\nq1\td3\tx y\tdoc\n");
    CHECK(error_of([&] { all(p); }) ==
          p + ":3: query 'q1' appears again after its rows ended; a query's rows must be contiguous");
    p = put("cand_text.tsv", "q1\td1\tx y\tdoc\nq1\td2\tx z\tdoc\n");
    CHECK(error_of([&] { all(p); }) == p + ":2: query 'q1' has a different text than at line 1");
    p = put("cand_dup.tsv", "q1\td1\tx y\tdoc\nq1\td1\tx y\tdoc\n");
    CHECK(error_of([&] { all(p); }) == p + ":2: document 'd1' appears twice for query 'q1'");
    p = put("cand_fields.tsv", "q1\td1\tx y\n");
    CHECK(error_of([&] { all(p); }) == p + ":1: expected 4 tab-separated fields, found 3");
    p = put("cand_emptyq.tsv", "q1\td1\t \tdoc\n");
    CHECK(error_of([&] { all(p); }) == p + ":1: empty query");
}

TEST_CASE("formats: training groups and MS MARCO triples") {
    GroupReader gr(put("groups.txt", "q1 d1 d5 d7\r\nq2\td2\td9\n"));
    TrainGroup g;
    REQUIRE(gr.next(g));
    CHECK(g.qid == "q1");
    CHECK(g.pos == "d1");
    CHECK(g.negs == std::vector<std::string>{"d5", "d7"});
    REQUIRE(gr.next(g));
    CHECK(g.negs.size() == 1);
    CHECK(!gr.next(g));
    std::string p = put("groups_bad.txt", "q1 d1\n");
    CHECK(error_of([&] {
              GroupReader r(p);
              TrainGroup t;
              r.next(t);
          }) == p + ":1: expected 'qid pos neg1 ... negk' with k >= 1, found 2 field(s)");

    TripleReader tr(put("triples.tsv", "what is x\tx is a letter\tthe weather is fine\n"));
    Triple t;
    REQUIRE(tr.next(t));
    CHECK(t.pos == "x is a letter");
    CHECK(!tr.next(t));
    p = put("triples_bad.tsv", "q\tpos\n");
    CHECK(error_of([&] {
              TripleReader r(p);
              Triple x;
              r.next(x);
          }) == p + ":1: expected 3 tab-separated fields, found 2");
    p = put("triples_empty.tsv", "q\t\tneg\n");
    CHECK(error_of([&] {
              TripleReader r(p);
              Triple x;
              r.next(x);
          }) == p + ":1: empty positive passage");
}

TEST_CASE("formats: duplicate ids in a collection or queries file are errors") {
    std::string p = put("q_dup.tsv", "q1\ta b\nq2\tc d\nq1\te f\n");
    CHECK(error_of([&] { read_queries(p); }) == p + ":3: duplicate qid 'q1' (first at line 1)");
    fs::remove_all(tmp_dir());
}

TEST_CASE("formats: the MS MARCO-layout fixture files read consistently and evaluate as pytrec_eval does") {
    const std::string dir = "tests/fixtures/formats/";
    auto docs = read_collection(dir + "collection.tsv");
    auto queries = read_queries(dir + "queries.dev.small.tsv");
    Qrels qrels = read_qrels(dir + "qrels.dev.small.tsv");
    std::unordered_map<std::string, std::string> doc_text, query_text;
    for (auto& d : docs) doc_text[d.id] = d.text;
    for (auto& q : queries) query_text[q.id] = q.text;
    CHECK(docs.size() == 8);
    CHECK(queries.size() == 4);
    for (auto& [qid, j] : qrels) {
        CHECK(query_text.count(qid));
        for (auto& [docid, rel] : j) CHECK(doc_text.count(docid));
    }
    // Candidates: texts agree with the collection and queries; the file order evaluated per query.
    CandidateReader cr(dir + "top1000.dev.tsv");
    CandidateGroup g;
    MetricsSum input_order;
    size_t rows = 0;
    while (cr.next(g)) {
        CHECK(g.query == query_text[g.qid]);
        std::vector<std::string> ids;
        for (auto& c : g.docs) {
            CHECK(c.document == doc_text[c.docid]);
            ids.push_back(c.docid);
        }
        rows += ids.size();
        auto ranked = ranked_by_position(ids);
        sort_trec(ranked);
        input_order.add(evaluate_query(ranked, qrels[g.qid]));
    }
    CHECK(rows == 12);
    QueryMetrics m = input_order.mean();
    std::printf("top1000 file order: %s\n", format_metrics(m, input_order.n).c_str());
    CHECK(m.mrr10 == doctest::Approx(0.75).epsilon(1e-12));
    CHECK(m.ndcg10 == doctest::Approx(0.7753252713598227).epsilon(1e-12));
    CHECK(m.recall100 == 1.0);
    Evaluation ev = evaluate_run(read_run(dir + "run.dev.trec"), qrels);
    std::printf("run.dev.trec: %s\n", format_metrics(ev.mean, ev.per_query.size()).c_str());
    CHECK(ev.mean.mrr10 == doctest::Approx(0.875).epsilon(1e-12));
    CHECK(ev.mean.ndcg10 == doctest::Approx(0.9233566009043177).epsilon(1e-12));
    // Training data refers to known ids and texts.
    GroupReader gr(dir + "train.groups.txt");
    TrainGroup tg;
    size_t groups = 0;
    while (gr.next(tg)) {
        groups++;
        CHECK(doc_text.count(tg.pos));
        for (auto& n : tg.negs) CHECK(doc_text.count(n));
    }
    CHECK(groups == 2);
    TripleReader tr(dir + "triples.train.small.tsv");
    Triple t;
    size_t triples = 0;
    while (tr.next(t)) {
        triples++;
        CHECK(doc_text["1"].size() > 0);
        CHECK((t.pos == doc_text["1"] || t.pos == doc_text["4"]));
    }
    CHECK(triples == 2);
}

TEST_CASE("formats: messages quote at most 60 bytes of a field and stay on one line") {
    std::string p = put("run_long.trec", "q1 Q0 d1 1 " + std::string(1000, 'x') + " t\n");
    std::string m = error_of([&] { read_run(p); });
    CHECK(m == p + ":1: score '" + std::string(60, 'x') + "...' is not a finite number");
    p = put("c_ctrl.tsv",
            "d\x01"
            "1\ttext\n");
    CHECK(error_of([&] { read_collection(p); }) == p + ":1: docid 'd?1' contains a space or control character");
    fs::remove_all(tmp_dir());
}
