#!/usr/bin/env bash
# End to end on small files in the MS MARCO layouts (tests/fixtures/formats): ./train a tiny reranker
# (BM25-run sampling, then a group file), ./rerank the top1000 file with --qrels and with
# --first-stage fusion, and every bad input a clean one-line error with no output file left behind.
# Run by `make test` as one test.
set -u
fail=0
check() {  # check NAME GOT WANT
  if [ "$2" == "$3" ]; then echo "ok: $1"; else echo "FAILED: $1"; echo "  got:  $2"; echo "  want: $3"; fail=1; fi
}
f=tests/fixtures/formats
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# A data directory with the trainer's file names, from the MS MARCO-layout fixtures.
mkdir -p $t/data
cp $f/collection.tsv $t/data/collection.tsv
for s in train dev test; do
  cp $f/queries.dev.small.tsv $t/data/queries.$s.tsv
  cp $f/qrels.dev.small.tsv $t/data/qrels.$s.txt
  cp $f/run.dev.trec $t/data/bm25.$s.trec
done
tiny="--d-model 16 --layers 1 --d-state 4 --max-len 64 --group 2 --batch 2 --eval-queries 10 --eval-depth 5 --threads 2"
./train $tiny --data $t/data --steps 6 --eval-every 3 --checkpoint-every 2 --out $t/m.bin >$t/train.out 2>&1
check "train: exit status and outputs" "$?|$(ls $t | grep -c 'm.bin')" "0|3"
check "train: results table" "$(grep -c '^| reranker fused with BM25' $t/train.out)" "1"
check "train: log has 6 steps and 2 evaluations" "$(grep -c '"loss"' $t/m.bin.log.jsonl) $(grep -c dev_mrr10 $t/m.bin.log.jsonl)" "6 2"
./train $tiny --data $t/data --steps 4 --train-groups $f/train.groups.txt --eval-every 0 --out $t/g.bin >$t/g.out 2>&1
check "train: MS MARCO group file" "$?|$(grep -c 'training queries' $t/g.out)" "0|1"

# Exact resume across passes over the training queries: 12 steps uninterrupted, against 8 steps
# (--stop-at 8 writes the checkpoint) then a resumed run to step 12. The per-step losses and gradient
# norms and the final weights and checkpoint must be identical, byte for byte.
r="$tiny --data $t/data --steps 12 --eval-every 5 --checkpoint-every 0 --seed 3"
./train $r --out $t/a.bin >$t/a.out 2>&1
./train $r --stop-at 8 --out $t/b.bin >$t/b.out 2>&1
check "train --stop-at 8: checkpoint only" "$?|$(ls $t | grep -c '^b\.bin')|$(grep -c 'stopped at step 8 of 12' $t/b.out)" "0|2|1"
./train $r --resume $t/b.bin.ckpt --out $t/b.bin >>$t/b.out 2>&1
usable=$(sed -n 's/.*(\([0-9]*\) usable for groups.*/\1/p' $t/a.out)
check "resume: 12 steps of 2 queries pass over the $usable usable queries more than twice" "$((24 > 2 * usable))" "1"
steps() { grep '"loss"' $1 | sed 's/\("grad_norm": [0-9.e+-]*\).*/\1/'; }
check "resume: the 12 steps' losses and gradient norms equal the uninterrupted run's" \
  "$(steps $t/b.bin.log.jsonl | md5sum) $(steps $t/b.bin.log.jsonl | wc -l)" "$(steps $t/a.bin.log.jsonl | md5sum) 12"
check "resume: final weights and checkpoint byte for byte" \
  "$(cmp $t/a.bin $t/b.bin && cmp $t/a.bin.ckpt $t/b.bin.ckpt && echo same)" "same"

# Rerank: a sorted run with every pair, metrics of the input order as pytrec_eval has them.
./rerank $t/m.bin $f/top1000.dev.tsv $t/run.trec --qrels $f/qrels.dev.small.tsv >$t/rerank.out 2>$t/rerank.err
check "rerank: exit status" "$?" "0"
check "rerank: every pair once" "$(wc -l <$t/run.trec) $(cut -d' ' -f1,3 $t/run.trec | sort -u | wc -l)" "12 12"
check "rerank: ranks 1..n per query" "$(awk '{print $1, $4}' $t/run.trec | tr '\n' ',')" \
  "1001 1,1001 2,1001 3,1002 1,1002 2,1002 3,1002 4,1003 1,1003 2,1004 1,1004 2,1004 3,"
sorted=$(awk '$1==q && $5+0 > p+0 {bad=1} {q=$1; p=$5} END {print bad ? "no" : "yes"}' $t/run.trec)
check "rerank: scores descending within each query" "$sorted" "yes"
check "rerank: input-order metrics (pytrec_eval: MRR 0.75, nDCG@10 0.7753)" "$(head -1 $t/rerank.out)" \
  "input order:    MRR@10 0.7500  MRR@100 0.7500  nDCG@10 0.7753  R@100 1.0000  (4 queries)"
check "rerank: evaluate agrees on the written run" "$(build/bin/evaluate $t/run.trec $f/qrels.dev.small.tsv 2>/dev/null)" \
  "$(sed -n 2p $t/rerank.out | sed 's/^reranked: *//')"
check "rerank: summary line" "$(grep -c '^reranked 4 queries, 12 pairs in' $t/rerank.err)" "1"
# Fusion at weight 1 is the first stage's order (min-max normalisation keeps the order): the run's
# metrics as pytrec_eval has them (MRR 0.875, nDCG@10 0.9234).
./rerank $t/m.bin $f/top1000.dev.tsv $t/fused.trec --first-stage $f/run.dev.trec --fuse 1 --qrels $f/qrels.dev.small.tsv >$t/fused.out 2>/dev/null
check "rerank --first-stage --fuse 1" "$(sed -n 2p $t/fused.out)" \
  "reranked+fused: MRR@10 0.8750  MRR@100 0.8750  nDCG@10 0.9234  R@100 1.0000  (4 queries)"

# --device: auto names its choice on stderr; cuda either runs (a GPU and a CUDA build) or stops with one
# line and exit status 1 (this check runs where there is no GPU: CI, and the machines without one).
err=$(./rerank $t/m.bin $f/top1000.dev.tsv $t/auto.trec --device auto 2>&1 >/dev/null)
check "rerank --device auto names its choice" "$?|$(echo "$err" | grep -cE '^rerank: (cpu|cuda), (bf16|fp32)')" "0|1"
# --precision bf16 on the CPU: runs where the CPU has AMX, else stops with one line naming the reason.
err=$(./rerank $t/m.bin $f/top1000.dev.tsv $t/bf16.trec --device cpu --precision bf16 2>&1 >/dev/null); rc=$?
if [ $rc -eq 0 ]; then
  check "rerank --device cpu --precision bf16 runs (AMX)" "$(echo "$err" | grep -c '^rerank: cpu, bf16$')" "1"
  ./rerank $t/m.bin $f/top1000.dev.tsv $t/fp32.trec --device cpu --precision fp32 2>/dev/null
  check "rerank bf16 ranks like fp32 on the fixture" "$(cut -d' ' -f1,3 $t/bf16.trec | md5sum)" "$(cut -d' ' -f1,3 $t/fp32.trec | md5sum)"
  check "rerank bf16 scores differ from fp32 (the bf16 path ran)" "$(cmp -s $t/bf16.trec $t/fp32.trec; echo $?)" "1"
else
  check "rerank --precision bf16 without AMX: one error line ($err)" "$rc|$(echo "$err" | grep -c '^error: --precision bf16 on the CPU needs AMX: ')|$(echo "$err" | wc -l)" "1|1|1"
fi
for prog in rerank train; do
  if [ $prog = rerank ]; then args="$t/m.bin $f/top1000.dev.tsv $t/cuda.trec"; else args="$tiny --data $t/data --steps 2 --eval-every 0 --out $t/cuda.bin"; fi
  err=$(./$prog $args --device cuda 2>&1 >/dev/null); rc=$?
  if [ $rc -eq 0 ]; then
    check "$prog --device cuda runs" "$(echo "$err" | grep -c "^$prog: cuda, ")" "1"
  else
    check "$prog --device cuda without a usable GPU: one error line ($err)" "$rc|$(echo "$err" | grep -c '^error: --device cuda: ')|$(echo "$err" | wc -l)" "1|1|1"
  fi
done

# Bad input: one "error:" line naming the file (and line), exit status 1, no output file.
bad() {  # bad NAME EXPECTED_SUBSTRING ARGS...
  local name=$1 want=$2; shift 2
  rm -f $t/out.trec*
  err=$(./rerank "$@" 2>&1 >/dev/null); rc=$?
  ok=$([ $rc -eq 1 ] && [ "$(echo "$err" | grep -c '^error: ')" -eq 1 ] && echo "$err" | grep -qF -- "$want" \
       && [ -z "$(ls $t/out.trec* 2>/dev/null)" ] && echo yes || echo no)
  check "rerank bad input: $name ($err)" "$ok" "yes"
}
printf '1001\t0\tq\n' >$t/c_fields.tsv
bad "wrong field count" "$t/c_fields.tsv:1: expected 4 tab-separated fields" $t/m.bin $t/c_fields.tsv $t/out.trec
printf '1001\t0\t\tdoc text\n' >$t/c_empty.tsv
bad "empty query" "$t/c_empty.tsv:1" $t/m.bin $t/c_empty.tsv $t/out.trec
printf '1001\t0\tq\td\n1002\t1\tr\te\n1001\t2\tq\tf\n' >$t/c_split.tsv
bad "a query's rows not contiguous" "$t/c_split.tsv:3" $t/m.bin $t/c_split.tsv $t/out.trec
bad "missing candidates file" "/nonexistent.tsv" $t/m.bin /nonexistent.tsv $t/out.trec
bad "missing weights file" "/nonexistent.bin: cannot open" /nonexistent.bin $f/top1000.dev.tsv $t/out.trec
head -c 1000 $t/m.bin >$t/trunc.bin
bad "truncated weights file" "truncated" $t/trunc.bin $f/top1000.dev.tsv $t/out.trec
bad "unwritable output" "/nonexistent-dir/run.trec: cannot write" $t/m.bin $f/top1000.dev.tsv /nonexistent-dir/run.trec
head -n 7 $f/run.dev.trec >$t/short.trec
bad "first-stage run missing a query" "expected query 1003" $t/m.bin $f/top1000.dev.tsv $t/out.trec --first-stage $t/short.trec --fuse 0.5
head -n 5 $f/run.dev.trec >$t/short.trec
bad "first-stage run missing a document" "query 1002: document 2 of the candidates is not in the run" $t/m.bin $f/top1000.dev.tsv $t/out.trec --first-stage $t/short.trec --fuse 0.5
bad "--fuse out of range" "--fuse 2" $t/m.bin $f/top1000.dev.tsv $t/out.trec --first-stage $f/run.dev.trec --fuse 2
bad "--device unknown" "--device gpu: expected cpu, cuda or auto" $t/m.bin $f/top1000.dev.tsv $t/out.trec --device gpu
bad "--precision unknown" "--precision fp16: expected auto, bf16 or fp32" $t/m.bin $f/top1000.dev.tsv $t/out.trec --precision fp16
# Accepted with a documented treatment: CRLF line ends, invalid UTF-8 (U+FFFD, counted in a warning),
# a 10 MB document (truncated to the model's length).
printf '1001\t0\tq one\tdoc a\r\n1001\t1\tq one\tdoc \xff b\r\n' >$t/c_crlf.tsv
err=$(./rerank $t/m.bin $t/c_crlf.tsv $t/out.trec 2>&1 >/dev/null); rc=$?
check "rerank: CRLF and invalid UTF-8 accepted" "$rc|$(wc -l <$t/out.trec)|$(echo "$err" | grep -c 'invalid UTF-8')" "0|2|1"
{ printf '1001\t0\tq\t'; head -c 10000000 /dev/zero | tr '\0' 'a'; printf '\n1001\t1\tq\tshort doc\n'; } >$t/c_big.tsv
./rerank $t/m.bin $t/c_big.tsv $t/out.trec 2>/dev/null
check "rerank: a 10 MB document" "$?|$(wc -l <$t/out.trec)" "0|2"
exit $fail
