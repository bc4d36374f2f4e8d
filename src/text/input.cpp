#include "text/input.h"

#include <algorithm>
#include <stdexcept>

#include "text/normalize.h"

static uint32_t stem_hash(std::string_view word) {
    size_t i = 0;
    while (i < word.size() && (word[i] == ' ' || word[i] == '\t' || word[i] == '\n' || word[i] == '\r')) i++;
    std::string f = fold_text(word.substr(i));
    bool alnum = false;
    for (unsigned char c : f) alnum |= is_word_byte(c);
    if (!alnum || is_stopword(f)) return 0;
    size_t end = 0;
    for (int cps = 0; end < f.size() && cps < 5; cps++) {  // first 5 code points
        end++;
        while (end < f.size() && ((unsigned char)f[end] & 0xC0) == 0x80) end++;
    }
    uint32_t h = 2166136261u;  // FNV-1a
    for (size_t k = 0; k < end; k++) h = (h ^ (unsigned char)f[k]) * 16777619u;
    return h | 1;  // never 0
}

EncodedText encode_text(const Tokenizer& tok, std::string_view text, int max_tokens) {
    std::string s;
    s.reserve(text.size() + 1);
    s += ' ';
    s += text;
    Encoding enc = encode_with_words(tok, s);
    size_t n = std::min(enc.ids.size(), (size_t)std::max(max_tokens, 0));
    EncodedText out;
    out.ids.assign(enc.ids.begin(), enc.ids.begin() + n);
    std::vector<uint32_t> word_stem(enc.words.size(), 0);
    for (size_t w = 0; w < enc.words.size(); w++) word_stem[w] = stem_hash(enc.word(w));
    out.stems.resize(n);
    for (size_t i = 0; i < n; i++) out.stems[i] = word_stem[enc.word_of_token[i]];
    return out;
}

InputFormat input_format(const Tokenizer& tok, const std::string& templ, int max_len, bool match) {
    size_t d = templ.find("{doc}"), q = templ.find("{query}");
    if (d == std::string::npos || q == std::string::npos || q < d)
        throw std::runtime_error("input template \"" + templ + "\" needs {doc} followed by {query}");
    std::string prefix = templ.substr(0, d), middle = templ.substr(d + 5, q - d - 5);
    if (q + 7 != templ.size()) throw std::runtime_error("input template must end with {query}");
    // A trailing space belongs to the next piece's first pre-token; encode_text adds it there.
    if (!prefix.empty() && prefix.back() == ' ') prefix.pop_back();
    if (!middle.empty() && middle.back() == ' ') middle.pop_back();
    InputFormat f;
    f.prefix = prefix.empty() ? std::vector<int32_t>{} : encode(tok, prefix);
    f.middle = middle.empty() ? std::vector<int32_t>{} : encode(tok, middle);
    f.eos = token_id(tok, "<|endoftext|>");
    if (f.eos < 0) throw std::runtime_error("the tokenizer has no <|endoftext|> token");
    f.max_len = max_len;
    f.match = match;
    if ((int)(f.prefix.size() + f.middle.size()) + 3 > max_len)
        throw std::runtime_error("max_len " + std::to_string(max_len) + " leaves no room for text in the template");
    return f;
}

void append_pair(Batch& b, const InputFormat& f, const EncodedText& doc, const EncodedText& query) {
    const int fixed = (int)(f.prefix.size() + f.middle.size()) + 1;
    const int free = f.max_len - fixed;
    const int nq = std::min((int)query.ids.size(), std::max(free / 2, free - (int)doc.ids.size()));
    const int nd = std::min((int)doc.ids.size(), free - nq);
    if (b.offsets.empty()) b.offsets.push_back(0);
    auto put = [&](int32_t id, uint8_t flag) {
        b.tokens.push_back(id);
        if (f.match) b.match.push_back(flag);
    };
    auto in = [](const EncodedText& t, int n, uint32_t s) {
        if (s == 0) return false;
        for (int i = 0; i < n; i++)
            if (t.stems[i] == s) return true;
        return false;
    };
    for (int32_t id : f.prefix) put(id, 0);
    for (int i = 0; i < nd; i++) put(doc.ids[i], f.match && in(query, nq, doc.stems[i]));
    for (int32_t id : f.middle) put(id, 0);
    for (int i = 0; i < nq; i++) put(query.ids[i], f.match && in(doc, nd, query.stems[i]));
    put(f.eos, 0);
    b.offsets.push_back((int32_t)b.tokens.size());
}
