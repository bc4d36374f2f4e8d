// The reranker's input: one (document, query) pair as one token sequence, and the exact-match flags.
//
// A template such as "Document: {doc}\n\nQuery: {query}" becomes  prefix | doc | middle | query | EOS.
// Each piece is encoded on its own; a space that ends the prefix or the middle is moved to the front
// of the document or query, where the byte-level pre-tokenizer would have attached it ("Document:",
// " small", " elevation", ...). The result equals encoding the whole string whenever the texts have no
// leading or trailing white space (the readers strip it). Truncation: the query keeps at most half of
// what the template leaves free, the document fills the rest, cut at the end.
//
// Exact-match feature: every token carries a 0/1 flag saying whether its word also occurs in the other
// segment. A word is a pre-token of the tokenizer (tokenizer.h, encode_with_words), lower-cased and
// accent-folded (fold_text, normalize.h, the rules BM25 uses too), crudely stemmed by keeping its first 5
// code points; words without a letter or digit (no word byte) and stopwords (is_stopword) never match.
// Template tokens and EOS are 0.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.h"
#include "text/tokenizer.h"

// A document or query encoded once, reused for every pair it is in.
struct EncodedText {
    std::vector<int32_t> ids;
    std::vector<uint32_t> stems;  // per token: its word's stem hash, 0 if the word never matches
};

// Encodes " " + text (at most max_tokens tokens kept).
EncodedText encode_text(const Tokenizer& tok, std::string_view text, int max_tokens);

struct InputFormat {
    std::vector<int32_t> prefix, middle;
    int32_t eos = 0;
    int max_len = 0;
    bool match = false;  // compute exact-match flags
};

// Throws std::runtime_error for a template without "{doc}" before "{query}" or a tokenizer without
// <|endoftext|>, or a max_len too small for the template.
InputFormat input_format(const Tokenizer& tok, const std::string& templ, int max_len, bool match);

// Appends the pair to a packed batch (tokens, match flags when f.match, offsets).
void append_pair(Batch& b, const InputFormat& f, const EncodedText& doc, const EncodedText& query);
