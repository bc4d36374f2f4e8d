// Folding, words and stopwords; the rules are in normalize.h.
#include "text/normalize.h"

#include <utf8proc.h>

#include <cstdlib>
#include <unordered_set>
#include <utility>

std::string ascii_lower(std::string_view text) {
    std::string s(text);
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return s;
}

std::string fold_text(std::string_view text) {
    bool ascii = true;
    for (unsigned char c : text)
        if (c >= 0x80) {
            ascii = false;
            break;
        }
    if (ascii) return ascii_lower(text);
    utf8proc_uint8_t* out = nullptr;
    auto opts = utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK |
                                  UTF8PROC_CASEFOLD);
    utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), (utf8proc_ssize_t)text.size(), &out, opts);
    if (n < 0) return ascii_lower(text);  // invalid UTF-8: fold the ASCII part
    std::string s(reinterpret_cast<char*>(out), (size_t)n);
    std::free(out);
    // Letters with no decomposition that Lucene's ASCIIFoldingFilter also folds (ß is case-folded to ss).
    static const std::pair<std::string_view, std::string_view> letters[] = {
        {"\u00E6", "ae"}, {"\u0153", "oe"}, {"\u00F8", "o"}, {"\u00F0", "d"}, {"\u00FE", "th"},
        {"\u0142", "l"},  {"\u0111", "d"},  {"\u014B", "n"}, {"\u0131", "i"}, {"\u021D", "gh"}};
    std::string r;
    r.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        bool hit = false;
        if ((unsigned char)s[i] >= 0x80)
            for (auto [from, to] : letters)
                if (s.compare(i, from.size(), from) == 0) {
                    r += to;
                    i += from.size();
                    hit = true;
                    break;
                }
        if (!hit) r += s[i++];
    }
    return r;
}

bool is_word_byte(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80; }

std::vector<std::string_view> split_words(std::string_view folded) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < folded.size()) {
        while (i < folded.size() && !is_word_byte(folded[i])) i++;
        size_t j = i;
        while (j < folded.size() && is_word_byte(folded[j])) j++;
        if (j > i) out.push_back(folded.substr(i, j - i));
        i = j;
    }
    return out;
}

bool is_stopword(std::string_view folded_word) {
    static const std::unordered_set<std::string_view> stopwords = {
        "a",         "about",      "above",   "after",   "again",  "against", "all",     "am",       "an",
        "and",       "any",        "are",     "as",      "at",     "be",      "because", "been",     "before",
        "being",     "below",      "between", "both",    "but",    "by",      "can",     "could",    "d",
        "did",       "do",         "does",    "doing",   "down",   "during",  "each",    "few",      "for",
        "from",      "further",    "had",     "has",     "have",   "having",  "he",      "her",      "here",
        "hers",      "herself",    "him",     "himself", "his",    "how",     "i",       "if",       "in",
        "into",      "is",         "it",      "its",     "itself", "just",    "ll",      "m",        "me",
        "more",      "most",       "my",      "myself",  "no",     "nor",     "not",     "now",      "o",
        "of",        "off",        "on",      "once",    "only",   "or",      "other",   "our",      "ours",
        "ourselves", "out",        "over",    "own",     "re",     "s",       "same",    "she",      "should",
        "so",        "some",       "such",    "t",       "than",   "that",    "the",     "their",    "theirs",
        "them",      "themselves", "then",    "there",   "these",  "they",    "this",    "those",    "through",
        "to",        "too",        "under",   "until",   "up",     "ve",      "very",    "was",      "we",
        "were",      "what",       "when",    "where",   "which",  "while",   "who",     "whom",     "why",
        "will",      "with",       "would",   "y",       "you",    "your",    "yours",   "yourself", "yourselves"};
    return stopwords.count(folded_word) > 0;
}
