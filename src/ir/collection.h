// The demo collection: WordNet 3.0 definitions as queries, GCIDE (Webster 1913) entries as documents.
// `make data` (src/ir/data.mk) fetches and checks the two Debian packages and runs build/bin/make_collection,
// which calls build_collection(). The recipe, step by step, is in collection.cpp; the outputs and their
// statistics are described in tests/fixtures/DATA_NOTES.md (README material).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ir/formats.h"

// SHA-1 (FIPS 180-4), for the query split. sha1_hex("abc") = a9993e364706816aba3e25717850c26c9cd0d89d.
std::array<uint8_t, 20> sha1(std::string_view data);
std::string sha1_hex(std::string_view data);
// bucket = first 8 hex digits of SHA-1(qid) as an integer, mod 100; 0-4 dev, 5-9 test, 10-99 train.
int split_bucket(std::string_view qid);
const char* split_of(std::string_view qid);

// GCIDE's ASCII accent codes as the dictd text writes them ("[a^]" a breve, "[=e]" e macron, "['e]" e
// acute, "[ae]" ae ligature, "[deg]" degree, "[alpha]" ...) decoded to UTF-8 (NFC where a precomposed
// letter exists). Brackets that are not a code ("[Obs.]") are left as they are.
std::string gcide_decode(std::string_view s);

// dictd index offsets and lengths: base64 digits, most significant first.
uint64_t dictd_b64(std::string_view s);

// A WordNet synset as the queries need it.
struct Synset {
    std::string qid;                  // pos letter (n, v, a, r) + 8-digit offset
    std::vector<std::string> lemmas;  // lower-cased, "_" between words, adjective markers removed
    std::string definition;           // the gloss without its example sentences
};
// Parses one line of a WordNet data.* file (false for the license header lines).
bool parse_wordnet_line(std::string_view line, char pos, Synset& out);
// Removes the quoted example sentences from a gloss and tidies the separators.
std::string wordnet_definition(std::string_view gloss);

// A GCIDE entry split by its source tags; see collection.cpp.
struct GcideEntry {
    std::vector<std::string> headwords;  // as docids: folded, "_" between words
    std::string text;                    // the kept senses, cleaned, one line
    int kept = 0, dropped_wordnet = 0, dropped_modern = 0, untagged = 0;
};
GcideEntry parse_gcide_entry(std::string_view raw);
// The docid form of a headword or lemma: folded (lower case, no accents), spaces and underscores -> "_".
std::string headword_docid(std::string_view word);

struct CollectionStats {
    size_t gcide_entries = 0, docs = 0, senses_kept = 0, senses_untagged = 0, senses_wordnet = 0, senses_modern = 0;
    size_t synsets = 0, no_relevant = 0, merged = 0, own_headword = 0, verbatim = 0, few_words = 0;
    size_t queries[3] = {0, 0, 0};  // train, dev, test
    size_t qrels[3] = {0, 0, 0};
};

// Builds everything under out_dir from the extracted packages (wordnet_dir holds data.noun ...;
// gcide_dict is gcide.dict.dz, gcide_index gcide.index). Prints progress and statistics.
CollectionStats build_collection(const std::string& wordnet_dir, const std::string& gcide_dict,
                                 const std::string& gcide_index, const std::string& out_dir, int depth = 100);
