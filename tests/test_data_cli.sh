#!/usr/bin/env bash
# End-to-end checks of the data programs (run by `make test`; one test): build/bin/evaluate on the
# pytrec_eval fixtures (means as tools/make_metric_fixtures.py recorded them, rounded to 4 places), and
# build/bin/bm25 on a tiny collection; bad input gives one "error:" line, exit status 1, no output file.
set -u
fail=0
check() {  # check NAME GOT WANT
  if [ "$2" == "$3" ]; then echo "ok: $1"; else echo "FAILED: $1"; echo "  got:  $2"; echo "  want: $3"; fail=1; fi
}
f=tests/fixtures/metrics
check "evaluate (trec_eval default)" "$(build/bin/evaluate $f/run.trec $f/qrels.txt 2>/dev/null)" \
  "MRR@10 0.2972  MRR@100 0.3050  nDCG@10 0.2086  R@100 0.6740  (26 queries)"
check "evaluate -c" "$(build/bin/evaluate $f/run.trec $f/qrels.txt -c 2>/dev/null)" \
  "MRR@10 0.2862  MRR@100 0.2937  nDCG@10 0.2008  R@100 0.6490  (27 queries)"
err=$(build/bin/evaluate /nonexistent.trec $f/qrels.txt 2>&1 >/dev/null); rc=$?
check "evaluate: missing run" "$rc|$err" "1|error: run /nonexistent.trec: cannot open: No such file or directory"

t=$(mktemp -d)
printf 'd1\tthe apple fell from the tree\nd2\tapples and pears\r\nd3\ta pear tree\n' >$t/collection.tsv
printf 'q1\tapple\nq2\tpear trees\n' >$t/queries.tsv
printf 'q1 0 d1 1\nq1 0 d2 1\nq2 0 d3 1\n' >$t/qrels.txt
build/bin/bm25 $t/collection.tsv $t/queries.tsv $t/run.trec --depth 2 --candidates $t/cand.tsv 2>/dev/null
check "bm25: run" "$(cut -d' ' -f1,3,4 $t/run.trec | tr '\n' ',')" "q1 d2 1,q1 d1 2,q2 d3 1,q2 d2 2,"
check "bm25: candidates" "$(cut -f1,2,3 $t/cand.tsv | tr '\t\n' '|,')" "q1|d2|apple,q1|d1|apple,q2|d3|pear trees,q2|d2|pear trees,"
check "bm25 + evaluate" "$(build/bin/evaluate $t/run.trec $t/qrels.txt 2>/dev/null)" \
  "MRR@10 1.0000  MRR@100 1.0000  nDCG@10 1.0000  R@100 1.0000  (2 queries)"
printf 'q1\tapple\nq2\n' >$t/bad.tsv
err=$(build/bin/bm25 $t/collection.tsv $t/bad.tsv $t/out.trec 2>&1); rc=$?
check "bm25: bad queries file" "$rc|$err|$(ls $t/out.trec* 2>/dev/null)" "1|error: $t/bad.tsv:2: expected 2 tab-separated fields, found 1|"
err=$(build/bin/bm25 $t/collection.tsv $t/queries.tsv /nonexistent-dir/run.trec 2>&1 | tail -n 1); 
check "bm25: unwritable output" "$err" "error: /nonexistent-dir/run.trec: cannot write: No such file or directory"
rm -rf "$t"
exit $fail
