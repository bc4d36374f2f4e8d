# `make data`: the demo collection (WordNet 3.0 definitions as queries, GCIDE / Webster 1913 entries as
# documents), built from two Debian packages fetched with apt-get download and checked against pinned
# SHA-256 sums. Outputs in data/ (see tests/fixtures/DATA_NOTES.md); nothing to do when they are newer
# than the packages and the builder's sources. No Python on this path.

DATA_DIR    := data
DATA_DEBS   := $(DATA_DIR)/debs
DATA_PKGS   := $(DATA_DIR)/pkgs
DATA_STAMP  := $(DATA_DIR)/.built
WORDNET_PIN := wordnet-base=1:3.0-37
WORDNET_SHA := 61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752
GCIDE_PIN   := dict-gcide=0.48.5+nmu2
GCIDE_SHA   := 7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f
# The sources whose change changes the collection (a change elsewhere in the engine does not rebuild it).
DATA_SRC    := $(wildcard src/ir/collection*.cpp src/ir/collection*.h src/ir/bm25.cpp src/ir/bm25.h src/ir/formats.cpp \
                 src/ir/formats.h src/ir/metrics.cpp src/ir/metrics.h src/text/normalize.* \
                 src/programs/make_collection_main.cpp) src/ir/data.mk

# Fetch (once; the .deb files are kept in data/debs), verify, extract. The stamp names the pinned
# versions, so a new pin extracts again and nothing else does.
DATA_EXTRACTED := $(DATA_PKGS)/.extracted-wordnet-base_3.0-37-dict-gcide_0.48.5+nmu2
$(DATA_EXTRACTED):
	@mkdir -p $(DATA_DEBS)
	@cd $(DATA_DEBS) && for p in $(WORDNET_PIN) $(GCIDE_PIN); do \
	  name=$${p%%=*}; ver=$${p#*=}; ver=$${ver#*:}; \
	  ls $${name}_*$${ver}_all.deb >/dev/null 2>&1 || { echo "apt-get download $$p"; \
	    apt-get download $$p >apt-download.log 2>&1 || \
	    { [ "$$(id -u)" = 0 ] && echo "apt-get update" && apt-get update >>apt-download.log 2>&1 && \
	      apt-get download $$p >>apt-download.log 2>&1; } || { cat apt-download.log; \
	      echo "error: apt-get download $$p failed (see above; as root, apt-get update may help)"; exit 1; }; }; \
	done
	@cd $(DATA_DEBS) && printf '%s  %s\n' $(WORDNET_SHA) wordnet-base_*3.0-37_all.deb $(GCIDE_SHA) dict-gcide_*0.48.5+nmu2_all.deb \
	  | sha256sum -c --quiet - || { echo "error: SHA-256 mismatch in $(DATA_DEBS); delete the .deb files there and rerun make data"; exit 1; }
	@rm -rf $(DATA_PKGS) && mkdir -p $(DATA_PKGS)
	@echo "dpkg-deb -x: $(DATA_PKGS)"
	@for d in $(DATA_DEBS)/*.deb; do dpkg-deb -x $$d $(DATA_PKGS) || exit 1; done
	@touch $@

# The program is order-only: make still rebuilds it when stale, but a relink alone (another part of the
# engine changed) does not rebuild the collection.
$(DATA_STAMP): $(DATA_EXTRACTED) $(DATA_SRC) | $(BUILD)/bin/make_collection
	@$(BUILD)/bin/make_collection $(DATA_PKGS) $(DATA_DIR)
	@touch $@

data: $(DATA_STAMP)
	@echo "make data: the collection is in $(DATA_DIR)/ (collection.tsv, queries.*.tsv, qrels.*.txt, bm25.*.trec, candidates.{dev,test}.tsv)"

# The data programs end to end (evaluate on the metric fixtures, bm25 on a tiny collection).
TEST_CMDS += 'tests/test_data_cli.sh'

# Keep the data programs' objects (the generic chain would delete them as intermediates and relink the
# programs on every `make data`).
