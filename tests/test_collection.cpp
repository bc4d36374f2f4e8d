// Tests of the demo collection builder (src/collection) and BM25 (src/bm25): SHA-1 against FIPS test
// vectors, the split buckets against Python's hashlib, GCIDE accent codes and sense filtering, WordNet
// lines, the analyzer, and a BM25 score computed by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "ir/bm25.h"
#include "ir/collection.h"

TEST_CASE("collection: SHA-1 test vectors (FIPS 180-4) and the split buckets (values from Python hashlib)") {
    CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(sha1_hex(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // hashlib.sha1(qid).hexdigest()[:8] -> int mod 100
    CHECK(split_bucket("n02084071") == 44);  // 8f7cddd8
    CHECK(split_bucket("a00003939") == 3);   // 32dc3c17
    CHECK(split_bucket("a00007208") == 9);   // 437a787d
    CHECK(std::string(split_of("a00003939")) == "dev");
    CHECK(std::string(split_of("a00007208")) == "test");
    CHECK(std::string(split_of("n02084071")) == "train");
    std::printf("sha1(abc) = %s; bucket(n02084071) = %d\n", sha1_hex("abc").c_str(), split_bucket("n02084071"));
}

TEST_CASE("collection: dictd base64 offsets and GCIDE accent codes") {
    CHECK(dictd_b64("A") == 0);
    CHECK(dictd_b64("BA") == 64);
    CHECK(dictd_b64("Kj") == 10 * 64 + 35);
    CHECK(gcide_decode("b[a^][ng]k") == "b\u0103\u014Bk");         // ă ŋ
    CHECK(gcide_decode("A[\"e]ronautics") == "A\u00EBronautics");  // ë
    CHECK(gcide_decode("abb['e], [ae]sthete, [=e]ve") == "abb\u00E9, \u00E6sthete, \u0113ve");
    CHECK(gcide_decode("f[=oo]d, [alpha], 45[deg]") == "fo\u035Eod, \u03B1, 45\u00B0");
    CHECK(gcide_decode("[Obs.] [R.] [1913 Webster]") == "[Obs.] [R.] [1913 Webster]");  // not codes
    CHECK(gcide_decode("odd \x92 byte") == "odd \xEF\xBF\xBD byte");  // a stray cp1252 byte is repaired
}

TEST_CASE("collection: a GCIDE entry keeps Webster's senses and drops WordNet and modern-only ones") {
    const char* raw =
        "Banc \\Banc\\, Bank \\Bank\\ (b[a^][ng]k), n. [OE. banke.]\n"
        "   1. A mound of earth; as, a {bank} of snow.\n"
        "      [1913 Webster]\n"
        "\n"
        "   2. A modern sense.\n"
        "      [PJC]\n"
        "\n"
        "   3. A sense copied from WordNet.\n"
        "      [WordNet 1.5]\n"
        "\n"
        "   4. Merged with WordNet. [1913 Webster + WordNet 1.5]\n"
        "   5. A supplement sense. [Obs.]\n"
        "      [Webster 1913 Suppl.]\n"
        "   6. Edited by a contributor.\n"
        "      [1913 Webster +PJC]\n";
    GcideEntry e = parse_gcide_entry(raw);
    CHECK(e.headwords == std::vector<std::string>{"banc", "bank"});
    CHECK(e.kept == 3);
    CHECK(e.dropped_wordnet == 2);
    CHECK(e.dropped_modern == 1);
    std::printf("entry text: %s\n", e.text.c_str());
    CHECK(e.text ==
          "Banc, Bank, n. [OE. banke.] 1. A mound of earth; as, a bank of snow. "
          "5. A supplement sense. [Obs.] 6. Edited by a contributor.");
    // The dictd text's faults: a tag broken over lines, a tag never opened, one never closed, text after
    // a tag, and the next entries' headwords appended at the end.
    const char* broken =
        "Book \\Book\\, n.\n"
        "   1. A volume.\n"
        "      [1913 Webster] 2. A second sense that follows its tag.\n"
        "      [1913 Webster]\n"
        "   Syn: ledger, book of account. [1913\n"
        "        Webster + WordNet 1.5]\n"
        "   3. From WordNet, never opened. WordNet 1.5]\n"
        "   4. From WordNet, never closed. [WordNet 1.5\n"
        "   5. Six tricks. [WordNet sense 1,2]\n"
        "   6. The last sense, tagged.\n"
        "      [Webster 1913 Suppl. + PJC ] anopsia\n"
        "   anopia\n";
    GcideEntry b = parse_gcide_entry(broken);
    std::printf("repaired entry text: %s\n", b.text.c_str());
    CHECK(b.text == "Book, n. 1. A volume. 2. A second sense that follows its tag. 6. The last sense, tagged.");
    CHECK(b.dropped_wordnet == 4);
    CHECK(parse_gcide_entry("Entomere \\En\"to*mere\\, n. (Biol.)\n   Cells of mammals. Entomic\n").text ==
          "Entomere, n. (Biol.) Cells of mammals.");
    CHECK(headword_docid("Adam's apple") == "adam's_apple");
    CHECK(headword_docid("laser_printer") == "laser_printer");
    CHECK(headword_docid("Abb\u00E9") == "abbe");
    CHECK(parse_gcide_entry("\n\n   A preface without a headword.\n").headwords.empty());
}

TEST_CASE("collection: WordNet data lines give qid, lemmas and the definition without examples") {
    Synset s;
    CHECK(!parse_wordnet_line("  1 This software and database is being provided", 'n', s));
    REQUIRE(parse_wordnet_line(
        "00021110 00 s 02 complaisant 0 Obliging(a) 0 003 & 00020787 a 0000 + 04641153 n 0204 | showing a cheerful "
        "willingness to do favors for others; \"to close one's eyes like a complaisant husband\"; \"the obliging "
        "waiter was in no hurry\"  ",
        'a', s));
    CHECK(s.qid == "a00021110");
    CHECK(s.lemmas == std::vector<std::string>{"complaisant", "obliging"});
    CHECK(s.definition == "showing a cheerful willingness to do favors for others");
    CHECK(wordnet_definition("a fruit; a tree; \"an apple a day\" - Proverb") == "a fruit; a tree");
    CHECK(wordnet_definition("(botany) a leaf;   \"green; wide\"") == "(botany) a leaf");
}

TEST_CASE("bm25: analyzer folds case and accents, drops stopwords, stems plurals") {
    CHECK(bm25_stem("ponies") == "pony");
    CHECK(bm25_stem("horses") == "horse");
    CHECK(bm25_stem("cats") == "cat");
    CHECK(bm25_stem("glass") == "glass");
    CHECK(bm25_stem("virus") == "virus");
    CHECK(bm25_stem("toes") == "toe");
    CHECK(bm25_stem("gas") == "gas");  // under 4 bytes: untouched
    auto t = bm25_tokens("The Ponies of Zo\u00F6logy, and their CAFES!");
    CHECK(t == std::vector<std::string>{"pony", "zoology", "cafe"});
    auto all = bm25_tokens("The Ponies", false);
    CHECK(all == std::vector<std::string>{"the", "pony"});
}

TEST_CASE("bm25: scores equal the formula computed by hand; ties by docid descending; deterministic") {
    std::vector<TextRecord> docs = {
        {"d1", "apple banana"}, {"d2", "apple apple cherry"}, {"d3", "banana"}, {"d0", "apple banana"}};
    Bm25Index ix = bm25_build(docs);
    // N 4, df(apple) 3, avgdl (2+3+1+2)/4 = 2.
    double idf = std::log(1.0 + (4 - 3 + 0.5) / (3 + 0.5));
    double s1 = idf * 1 * 1.9 / (1 + 0.9 * (0.6 + 0.4 * 2 / 2.0));
    double s2 = idf * 2 * 1.9 / (2 + 0.9 * (0.6 + 0.4 * 3 / 2.0));
    auto res = bm25_search(ix, {{"q", "apples"}}, 10);
    REQUIRE(res[0].size() == 3);
    std::printf("bm25: d2 %.7f (hand %.7f), d1 %.7f (hand %.7f)\n", res[0][0].score, s2, res[0][1].score, s1);
    CHECK(res[0][0].docid == "d2");
    CHECK(res[0][0].score == doctest::Approx(s2).epsilon(1e-6));  // fp32 accumulation
    CHECK(res[0][1].docid == "d1");                               // d1 and d0 tie: docid descending
    CHECK(res[0][2].docid == "d0");
    CHECK(res[0][1].score == res[0][2].score);
    CHECK(res[0][1].score == doctest::Approx(s1).epsilon(1e-6));
    auto again = bm25_search(ix, {{"q", "apples"}, {"q2", "banana cherry"}}, 2);
    CHECK(again[0].size() == 2);
    CHECK(again[0][0].score == res[0][0].score);
    CHECK(again[1][0].docid == "d2");  // cherry is rarer than banana
    CHECK(bm25_search(ix, {{"q", "zebra"}}, 10)[0].empty());
}
