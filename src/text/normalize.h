// Text normalisation shared by the BM25 analyzer (ir/bm25.h), the demo collection's docids and leak
// filters (ir/collection.h) and the reranker's exact-match flags (text/input.h), so that all three
// agree on what a word is. The demo collection's bytes depend on these rules: change them and
// `make data` builds a different collection.
//
// Folding (fold_text): Unicode NFKD, combining marks stripped, case folded (utf8proc: STABLE | COMPAT |
// DECOMPOSE | STRIPMARK | CASEFOLD; "É" -> "e", "ß" -> "ss", "ﬁ" -> "fi"); then the letters without a
// decomposition folded as Lucene's ASCIIFoldingFilter folds them: æ œ ø ð þ ł đ ŋ ı ȝ -> ae oe o d th l d
// n i gh. An ASCII text is only lower-cased (A-Z -> a-z), which is what the full path gives it; so is
// invalid UTF-8 (the readers repair it, so only a direct caller passes it), whose other bytes are kept.
//
// Words (split_words): maximal runs of word bytes in a folded text, a word byte being an ASCII letter
// or digit or any non-ASCII byte (so a non-ASCII letter or symbol is part of a word, never a separator).
//
// Stopwords (is_stopword): NLTK's English list without its contraction fragments, plus the single
// letters left by apostrophes ("adam's" -> "adam", "s"); it holds folded words only.
#pragma once
#include <string>
#include <string_view>
#include <vector>

std::string fold_text(std::string_view text);                        // lower case, no accents (above)
std::string ascii_lower(std::string_view text);                      // A-Z -> a-z, every other byte kept
bool is_word_byte(unsigned char c);                                  // a-z, 0-9 or non-ASCII (folded text)
std::vector<std::string_view> split_words(std::string_view folded);  // the runs of word bytes, in order
bool is_stopword(std::string_view folded_word);
