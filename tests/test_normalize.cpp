// Tests of the text normalisation shared by BM25, the collection and the exact-match flags
// (src/text/normalize.h): folding on the Unicode and ASCII paths, Lucene's extra letters, the fallback
// for invalid UTF-8, word splitting and the stopword list.
#include <doctest/doctest.h>

#include <cstdio>

#include "text/normalize.h"

TEST_CASE("normalize: folding lower-cases, strips accents, folds ligatures and Lucene's letters") {
    CHECK(fold_text("Caf\u00C9 \u0101E") == "cafe ae");
    CHECK(fold_text("Am\u0153ba \u00C6sir Stra\u00DFe") == "amoeba aesir strasse");
    CHECK(fold_text("\uFB01ne \u00D8re \u0141\u00F3d\u017A \u021Dat") == "fine ore lodz ghat");
    CHECK(fold_text("Plain ASCII, 42 Words!") == "plain ascii, 42 words!");  // the ASCII path
    CHECK(fold_text("Bad \xFF Byte") == "bad \xFF byte");  // invalid UTF-8: ASCII lower-cased, rest kept
    CHECK(ascii_lower("\u00C9Tude") == "\u00C9tude");    // ascii_lower leaves non-ASCII alone
    std::printf("fold_text(\"Am\\u0153ba \\u00C6sir Stra\\u00DFe\") = %s\n",
                fold_text("Am\u0153ba \u00C6sir Stra\u00DFe").c_str());
}

TEST_CASE("normalize: words are runs of ASCII alphanumerics and non-ASCII bytes; stopwords are folded") {
    std::string f = fold_text("Zo\u00F6logy \u2014 Adam's 2nd-rate");
    auto w = split_words(f);
    CHECK(w == std::vector<std::string_view>{"zoology", "\u2014", "adam", "s", "2nd", "rate"});
    CHECK(split_words(" ,;! ").empty());
    CHECK(is_word_byte('a'));
    CHECK(is_word_byte('7'));
    CHECK(is_word_byte(0xC3));
    CHECK(!is_word_byte('A'));  // folded text has no upper case
    CHECK(!is_word_byte('_'));
    CHECK(is_stopword("the"));
    CHECK(is_stopword("s"));
    CHECK(is_stopword("yourselves"));
    CHECK(!is_stopword("The"));
    CHECK(!is_stopword("zoology"));
}
