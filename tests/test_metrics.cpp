// Tests of src/metrics against pytrec_eval (trec_eval 9): tests/fixtures/metrics holds a run and qrels
// with ties, graded relevance, missing and unjudged queries, and the values tools/make_metric_fixtures.py
// got from pytrec_eval. Tolerance: |a - b| <= 1e-9 * |b| + 1e-15 (both sides are doubles computed from the
// same integers and scores; only summation order differs).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "ir/metrics.h"

static const char* kDir = "tests/fixtures/metrics/";

static bool close_rel(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::fabs(b) + 1e-15; }

TEST_CASE("metrics: MRR@10, MRR@100, nDCG@10, R@100 equal pytrec_eval's on the fixtures, per query and mean") {
    Run run = read_run(std::string(kDir) + "run.trec");
    Qrels qrels = read_qrels(std::string(kDir) + "qrels.txt");
    Evaluation ev = evaluate_run(run, qrels);
    std::ifstream in(std::string(kDir) + "expected.txt");
    REQUIRE(in.good());
    std::string line;
    size_t checked = 0;
    double max_err = 0;
    std::set<std::string> seen_q;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ss(line);
        std::string measure, qid;
        double want;
        ss >> measure >> qid >> want;
        const QueryMetrics* m;
        if (qid == "all") m = &ev.mean;
        else if (qid == "all_c") m = &ev.mean_all;
        else {
            auto it = ev.per_query.find(qid);
            REQUIRE_MESSAGE(it != ev.per_query.end(), "query " << qid << " missing from the evaluation");
            m = &it->second;
            seen_q.insert(qid);
        }
        double got = NAN;
        if (measure == "RR@10") got = m->mrr10;
        else if (measure == "RR@100") got = m->mrr100;
        else if (measure == "nDCG@10") got = m->ndcg10;
        else if (measure == "R@100") got = m->recall100;
        else FAIL("expected.txt names an unknown measure '" << measure << "' (line: " << line << ")");
        CHECK_MESSAGE(close_rel(got, want), measure << " " << qid << ": engine " << got << ", pytrec_eval " << want);
        max_err = std::max(max_err, std::fabs(got - want));
        checked++;
    }
    CHECK(seen_q.size() == ev.per_query.size());  // the engine evaluates exactly pytrec_eval's queries
    CHECK(ev.run_only == 1);                      // t_runonly
    CHECK(ev.qrels_only == 1);                    // t_missing
    std::printf(
        "metrics vs pytrec_eval: %zu values over %zu queries, max |diff| %.3g (tol 1e-9 rel); mean "
        "MRR@10 %.6f nDCG@10 %.6f R@100 %.6f\n",
        checked, ev.per_query.size(), max_err, ev.mean.mrr10, ev.mean.ndcg10, ev.mean.recall100);
    CHECK(checked > 100);
}

TEST_CASE("metrics: ties rank by docid descending, as trec_eval does") {
    std::vector<ScoredDoc> d = {{"a", 1}, {"c", 1}, {"b", 2}, {"d", 1}};
    sort_trec(d);
    CHECK(d[0].docid == "b");
    CHECK(d[1].docid == "d");
    CHECK(d[2].docid == "c");
    CHECK(d[3].docid == "a");
    Judgments j = {{"a", 1}};
    QueryMetrics m = evaluate_query(d, j);
    CHECK(m.mrr10 == doctest::Approx(0.25));
    CHECK(m.recall100 == 1.0);
    // nDCG@10 with graded gains: ranks 1..4 hold rels 0,0,0,1 -> DCG 1/log2(5); ideal 1/log2(2) = 1.
    CHECK(m.ndcg10 == doctest::Approx(1.0 / std::log2(5.0)).epsilon(1e-12));
}

TEST_CASE("metrics: a run and qrels with no query in common is an error, not a zero") {
    Run run = {{"q1", {{"d", 1.0}}}};
    Qrels qrels = {{"Q1", {{"d", 1}}}};
    CHECK_THROWS_WITH_AS(evaluate_run(run, qrels, "run r.trec", "qrels q.txt"), doctest::Contains("share no query id"),
                         FormatError);
}

TEST_CASE("metrics: a running mean and the input order of a candidate list") {
    Judgments j = {{"b", 1}, {"c", 2}};
    auto in_order = ranked_by_position({"a", "b", "c"});
    std::vector<ScoredDoc> sorted = in_order;
    sort_trec(sorted);
    CHECK(sorted[0].docid == "a");  // the order is kept
    CHECK(sorted[2].docid == "c");
    MetricsSum s;
    s.add(evaluate_query(sorted, j));
    s.add(evaluate_query(ranked_by_position({"c"}), j));
    QueryMetrics m = s.mean();
    CHECK(s.n == 2);
    CHECK(m.mrr10 == doctest::Approx((0.5 + 1.0) / 2));
    CHECK(m.recall100 == doctest::Approx((1.0 + 0.5) / 2));
}
