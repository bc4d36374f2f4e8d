// The reranker's input assembly (src/text/input.h): the pieces equal encoding the whole templated string,
// truncation keeps the template and EOS, and the exact-match flags mark exactly the words shared by
// the document and the query (folded, first 5 characters, no stopwords or punctuation).
#include <doctest/doctest.h>

#include "text/input.h"

TEST_CASE("input: pieces equal the whole string, flags mark shared words") {
    Tokenizer tok = tokenizer_load("weights/tokenizer.json");
    const std::string doc = "Tooth, a small bony structure; the grinding surfaces of Teeth.";
    const std::string query = "small elevation on the grinding surface of a tooth";
    InputFormat f = input_format(tok, "Document: {doc}\n\nQuery: {query}", 128, true);
    Batch b;
    append_pair(b, f, encode_text(tok, doc, 128), encode_text(tok, query, 128));
    std::vector<int32_t> whole = encode(tok, "Document: " + doc + "\n\nQuery: " + query);
    whole.push_back(token_id(tok, "<|endoftext|>"));
    CHECK(b.tokens == whole);
    REQUIRE(b.match.size() == b.tokens.size());
    // Decode each flagged token: every one belongs to a shared word (tooth/teeth share no 5-prefix).
    std::string flagged;
    for (size_t i = 0; i < b.tokens.size(); i++)
        if (b.match[i]) flagged += decode(tok, {b.tokens[i]}) + "|";
    std::printf("  %zu tokens; flagged: %s\n", b.tokens.size(), flagged.c_str());
    // Shared words: tooth/Tooth, small, grinding, surface/surfaces (stem "surfa"); "the", "of", "a" are
    // stopwords; "Teeth" matches nothing.
    CHECK(flagged.find("the|") == std::string::npos);
    CHECK(flagged.find(" of|") == std::string::npos);
    Encoding d = encode_with_words(tok, " " + doc), q = encode_with_words(tok, " " + query);
    int doc_words_flagged = 0;
    for (size_t i = f.prefix.size(); i < f.prefix.size() + d.ids.size(); i++) doc_words_flagged += b.match[i];
    int expected = 0;  // tokens of the doc's words Tooth, small, grinding, surfaces
    for (size_t i = 0; i < d.ids.size(); i++) {
        std::string w(d.word(d.word_of_token[i]));
        expected += (w == " Tooth" || w == " small" || w == " grinding" || w == " surfaces");
    }
    CHECK(doc_words_flagged == expected);
    int query_flagged = 0, query_expected = 0;
    size_t q0 = f.prefix.size() + d.ids.size() + f.middle.size();
    for (size_t i = 0; i < q.ids.size(); i++) {
        query_flagged += b.match[q0 + i];
        std::string w(q.word(q.word_of_token[i]));
        query_expected += (w == " small" || w == " grinding" || w == " surface" || w == " tooth");
    }
    CHECK(query_flagged == query_expected);
    CHECK(b.match.back() == 0);  // EOS
}

TEST_CASE("input: truncation keeps the template, half the free room for the query, and EOS") {
    Tokenizer tok = tokenizer_load("weights/tokenizer.json");
    InputFormat f = input_format(tok, "Document: {doc}\n\nQuery: {query}", 40, false);
    std::string long_text;
    for (int i = 0; i < 100; i++) long_text += "word" + std::to_string(i) + " ";
    long_text.pop_back();
    Batch b;
    append_pair(b, f, encode_text(tok, long_text, 40), encode_text(tok, long_text, 40));
    append_pair(b, f, encode_text(tok, long_text, 40), encode_text(tok, "short query", 40));
    CHECK(b.offsets == std::vector<int32_t>{0, 40, 80});
    CHECK(b.match.empty());
    CHECK(b.tokens[39] == token_id(tok, "<|endoftext|>"));
    CHECK(std::vector<int32_t>(b.tokens.begin(), b.tokens.begin() + f.prefix.size()) == f.prefix);
    CHECK_THROWS(input_format(tok, "{query} then {doc}", 40, false));
    CHECK_THROWS(input_format(tok, "Document: {doc}\n\nQuery: {query}", 5, false));
}
