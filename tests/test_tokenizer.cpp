// Tests of src/tokenizer: exact ids of HF tokenizers on the committed corpus (fixtures made by
// tools/make_tokenizer_fixtures.py, formats documented there), round trips, the pre-tokenizer's
// semantics on hand examples, invalid UTF-8, NFC, speed bounds on 1 MB words, and bad files.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <utf8proc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/common.h"
#include "text/tokenizer.h"
#include "support/tokenizer_fixtures.h"

namespace {

const std::string FIX = "tests/fixtures/tokenizer/";

const TextRecords& corpus() {
    static TextRecords c = read_text_records(FIX + "corpus.bin.gz");
    return c;
}

std::string show(std::string_view s, size_t max = 60) {
    std::string o;
    for (unsigned char c : s.substr(0, max)) {
        if (c < 0x20 || c == 0x7F) o += strfmt("\\x%02X", c);
        else o.push_back((char)c);
    }
    return o;
}

std::string show_ids(const std::vector<int32_t>& v, size_t from, size_t n = 8) {
    std::string o;
    for (size_t i = from; i < v.size() && i < from + n; i++) o += strfmt("%d ", v[i]);
    return o;
}

// Every record of the corpus encodes to HF's ids (and word ids when the fixture has them). The words
// tile the normalized text; decode gives it back unless the tokenizer adds or strips spaces
// (add_prefix_space, lstrip/rstrip tokens), and gives the text itself back when that is valid NFC.
enum class RoundTrip { Text, Normalized, None };
void check_against_reference(const std::string& name, RoundTrip round_trip) {
    Tokenizer tok = tokenizer_load(FIX + name + ".json");
    IdRecords exp = read_id_records(FIX + "ids_" + name + ".bin.gz");
    const TextRecords& c = corpus();
    REQUIRE(exp.ids.size() <= c.texts.size());
    size_t n_ids = 0, n_bytes = 0, bad_ids = 0, bad_words = 0, bad_decode = 0;
    for (size_t i = 0; i < exp.ids.size(); i++) {
        const std::string& text = c.texts[i];
        Encoding enc = encode_with_words(tok, text);
        std::vector<int32_t> plain = encode(tok, text);
        n_ids += exp.ids[i].size();
        n_bytes += text.size();
        if (enc.ids != exp.ids[i] || plain != enc.ids) {
            if (bad_ids++ < 5) {
                size_t k = 0;
                while (k < enc.ids.size() && k < exp.ids[i].size() && enc.ids[k] == exp.ids[i][k]) k++;
                MESSAGE(name << " record " << i << " \"" << show(text) << "\": first difference at id " << k
                              << ": HF " << show_ids(exp.ids[i], k) << "| ours " << show_ids(enc.ids, k));
            }
            continue;
        }
        if (!exp.word_ids.empty() && enc.word_of_token != exp.word_ids[i]) {
            if (bad_words++ < 5) MESSAGE(name << " record " << i << ": word ids differ");
        }
        // words tile the normalized text
        uint32_t at = 0;
        bool tiled = true;
        for (auto [b, e] : enc.words) { tiled = tiled && b == at && e > b; at = e; }
        tiled = (tiled && at == enc.normalized.size()) || round_trip == RoundTrip::None;  // HF's spans may overlap there
        std::string decoded = decode(tok, enc.ids);
        bool ok = tiled;
        if (round_trip != RoundTrip::None) ok = ok && decoded == enc.normalized;
        if (round_trip == RoundTrip::Text && (c.flags[i] & 1)) ok = ok && decoded == text;
        if (!ok && bad_decode++ < 5) MESSAGE(name << " record " << i << ": decode \"" << show(decoded) << "\" vs \"" << show(text) << "\"");
    }
    MESSAGE(name << ": " << exp.ids.size() << " records (" << n_bytes << " bytes), " << n_ids
                 << " ids compared with HF tokenizers; mismatched records: ids " << bad_ids << ", word ids "
                 << bad_words << ", decode " << bad_decode);
    CHECK(bad_ids == 0);
    CHECK(bad_words == 0);
    CHECK(bad_decode == 0);
}

std::vector<std::string> pieces(std::string_view s) {
    std::vector<uint32_t> ends;
    gpt2_split(s, 0, s.size(), ends);
    std::vector<std::string> out;
    uint32_t b = 0;
    for (uint32_t e : ends) { out.emplace_back(s.substr(b, e - b)); b = e; }
    return out;
}

std::string parse_error(const std::string& json_text) {
    try {
        tokenizer_parse(json_text, "bad.json");
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "(no error)";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("tokenizer: GPT-NeoX-20B configuration gives HF's ids and word ids on the whole corpus") {
    const TextRecords& c = corpus();
    MESSAGE("corpus: " << c.texts.size() << " records, " << c.bytes << " bytes");
    CHECK(c.bytes >= 1000000);
    check_against_reference("neox_config", RoundTrip::Text);
}

TEST_CASE("tokenizer: demo tokenizer and its variants (prefix space, Digits, options) give HF's ids") {
    check_against_reference("demo_tokenizer", RoundTrip::Text);
    check_against_reference("prefix_space", RoundTrip::Normalized);  // no normalizer; a space in front
    check_against_reference("digits", RoundTrip::Text);
    check_against_reference("options", RoundTrip::None);  // lstrip/rstrip tokens swallow white space
}

TEST_CASE("tokenizer: without a decoder, decode joins the tokens with spaces as HF does") {
    std::string j = read_file(FIX + "demo_tokenizer.json", "fixture");
    size_t p = j.find("\"decoder\": {");
    REQUIRE(p != std::string::npos);
    size_t e = j.find('}', p);
    j.replace(p, e + 1 - p, "\"decoder\": null");
    Tokenizer tok = tokenizer_parse(j, "no_decoder.json");
    // expected: HF tokenizers 0.23.3, demo tokenizer with "decoder": null
    CHECK(decode(tok, encode(tok, "Hello world  x")) == "H el lo \u0120w or ld    x");
}

TEST_CASE("tokenizer: the GPT-2 pattern splits as Oniguruma does (expected pieces from HF)") {
    using V = std::vector<std::string>;
    CHECK(pieces("Hello world's  end\n\n  x") == V{"Hello", " world", "'s", " ", " end", "\n\n ", " x"});
    CHECK(pieces("a  b") == V{"a", " ", " b"});
    CHECK(pieces("  a") == V{" ", " a"});
    CHECK(pieces("x ") == V{"x", " "});
    CHECK(pieces("it's 'S 'll'd") == V{"it", "'s", " '", "S", " '", "ll", "'d"});
    CHECK(pieces(" 's") == V{" '", "s"});
    CHECK(pieces("\t\t\n a") == V{"\t\t\n", " a"});
    CHECK(pieces("\u00a0\u00a0x") == V{"\u00a0", "\u00a0", "x"});
    CHECK(pieces("12ab34 !!? ...'s") == V{"12", "ab", "34", " !!?", " ...'", "s"});
    CHECK(pieces(" \u3000 y") == V{" \u3000", " y"});
    CHECK(pieces("\x1c\x1fz") == V{"\x1c\x1f", "z"});  // U+001C..U+001F are not \s for Oniguruma
    CHECK(pieces("") == V{});
}

TEST_CASE("tokenizer: invalid UTF-8 becomes U+FFFD per maximal ill-formed subsequence, never a crash") {
    auto fix = [](std::string_view s) { std::string o; return utf8_sanitize(s, o) ? o : std::string(s); };
    const std::string R = "\xEF\xBF\xBD";
    CHECK(fix("abc") == "abc");
    CHECK(fix("\xE2\x82") == R);                 // truncated 3-byte sequence: one
    CHECK(fix("\xED\xA0\x80") == R + R + R);     // encoded surrogate: each byte
    CHECK(fix("\xC0\xAF") == R + R);             // overlong
    CHECK(fix("\xF0\x9F\x98 x") == R + " x");
    CHECK(fix("\xF4\x90\x80\x80") == R + R + R + R);
    CHECK(fix("\xC3\xA9\xFF") == "\xC3\xA9" + R);
    Tokenizer tok = tokenizer_load(FIX + "neox_config.json");
    // random bytes: no crash, and the same ids as the repaired text
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 2000; i++) {
        std::string s;
        int n = i % 64;
        for (int j = 0; j < n; j++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; s.push_back((char)(x & 0xFF)); }
        std::vector<int32_t> a = encode(tok, s), b = encode(tok, fix(s));
        REQUIRE(a == b);
        std::string d = decode(tok, a);
        std::string tmp;
        CHECK(!utf8_sanitize(d, tmp));  // decode always returns valid UTF-8
    }
}

TEST_CASE("tokenizer: NFC by runs agrees with utf8proc_NFC on the whole string, for every code point") {
    size_t checked = 0, bad = 0;
    for (uint32_t cp = 1; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp < 0xE000) continue;
        utf8proc_uint8_t buf[4];
        std::string c((const char*)buf, utf8proc_encode_char((utf8proc_int32_t)cp, buf));
        for (const std::string& s : {"e" + c + "\u0301x", "\u1100" + c + "\u1161", "x\u0323" + c + "\u0307", c + "\u05b4\u05b0"}) {
            utf8proc_uint8_t* ref = utf8proc_NFC((const utf8proc_uint8_t*)s.c_str());
            std::string out;
            std::string ours = nfc_normalize(s, out) ? out : s;
            if (ours != (const char*)ref && bad++ < 5) MESSAGE("U+" << std::hex << cp << std::dec << " differs");
            std::free(ref);
            checked++;
        }
    }
    MESSAGE(checked << " strings checked against utf8proc_NFC");
    CHECK(bad == 0);
}

TEST_CASE("tokenizer: special tokens, token_id, decode") {
    Tokenizer tok = tokenizer_load(FIX + "neox_config.json");
    CHECK(token_id(tok, "<|endoftext|>") == 0);
    CHECK(token_id(tok, "<|padding|>") == 1);
    CHECK(token_id(tok, std::string(24, ' ')) == 16425);
    CHECK(token_id(tok, std::string(2, ' ')) == 16447);
    CHECK(token_id(tok, "\u0120the") >= 0);
    CHECK(token_id(tok, "no such token") == -1);
    CHECK(vocab_size(tok) == 16448);
    std::vector<int32_t> ids = encode(tok, "a<|endoftext|>b   c");
    CHECK(ids.size() >= 4);
    CHECK(ids[1] == 0);
    CHECK(decode(tok, ids) == "a<|endoftext|>b   c");
    CHECK(decode(tok, ids, true) == "ab   c");
    CHECK(decode(tok, {-5, 1 << 30}) == "");  // unknown ids are skipped, as HF does
    Encoding enc = encode_with_words(tok, "Hello world, it's   me");
    std::vector<std::string> words;
    for (size_t w = 0; w < enc.words.size(); w++) words.emplace_back(enc.word(w));
    // the three spaces are GPT-NeoX's added token, so "me" loses its space
    CHECK(words == std::vector<std::string>{"Hello", " world", ",", " it", "'s", "   ", "me"});
}

TEST_CASE("tokenizer: encode_batch (OpenMP) equals encode, one text at a time") {
    Tokenizer tok = tokenizer_load(FIX + "neox_config.json");
    const TextRecords& c = corpus();
    std::vector<std::string_view> texts(c.texts.begin(), c.texts.end());
    std::vector<std::vector<int32_t>> out;
    encode_batch(tok, texts, out);
    REQUIRE(out.size() == texts.size());
    size_t bad = 0;
    for (size_t i = 0; i < texts.size(); i++) bad += out[i] != encode(tok, texts[i]);
    CHECK(bad == 0);
}

TEST_CASE("tokenizer: a 1 MB word is encoded in near-linear time (BPE and NFC)") {
    Tokenizer tok = tokenizer_load(FIX + "neox_config.json");
    uint64_t x = 1;
    auto rnd = [&] { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };
    std::string letters, same(1 << 20, 'a'), digits, punct;
    for (int i = 0; i < (1 << 20); i++) {
        letters.push_back((char)('a' + rnd() % 26));
        digits.push_back((char)('0' + rnd() % 10));
        punct.push_back("!#$%&*+-./:;<=>?@^_|~"[rnd() % 21]);
    }
    std::string spaces(1 << 20, ' ');  // all one added-token run after another
    std::string ws;
    for (int i = 0; i < (1 << 20); i++) ws.push_back(" \t\n"[rnd() % 3]);
    // combining marks of classes 230 and 220 alternating after one letter: canonical ordering must
    // sort 2^19 marks (utf8proc's own sort is quadratic: hours); HF and Python give a + dot below
    // composed, then the other 2^18 - 1 dots below, then the 2^18 acutes
    std::string marks = "a", nfc_marks = "\u1ea1";
    for (int i = 0; i < (1 << 18); i++) marks += "\u0301\u0323";
    for (int i = 0; i < (1 << 18) - 1; i++) nfc_marks += "\u0323";
    for (int i = 0; i < (1 << 18); i++) nfc_marks += "\u0301";
    for (auto& [label, s] : std::vector<std::pair<const char*, std::string*>>{
             {"random letters", &letters}, {"one letter repeated", &same}, {"digits", &digits},
             {"punctuation", &punct}, {"spaces", &spaces}, {"mixed white space", &ws}, {"combining marks", &marks}}) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<int32_t> ids = encode(tok, *s);
        double t = seconds_since(t0);
        MESSAGE(std::string(label) << ": " << s->size() << " bytes -> " << ids.size() << " ids in " << t << " s (bound 20 s)");
        CHECK(t < 20.0);
        CHECK(decode(tok, ids) == (s == &marks ? nfc_marks : *s));
    }
}

TEST_CASE("tokenizer: bad files give one-line errors naming the file and the field") {
    const std::string good = R"({"added_tokens": [], "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";
    CHECK_NOTHROW(tokenizer_parse(good, "good.json"));
    auto with = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        size_t p = s.find(from);
        REQUIRE(p != std::string::npos);
        return s.replace(p, from.size(), to);
    };
    struct Case { std::string json, expect; };
    std::vector<Case> cases = {
        {"{\"model\": ", "bad.json: malformed JSON"},
        {"[1, 2]", "bad.json: (top level): expected an object"},
        {with(R"("type": "BPE")", R"("type": "WordPiece")"), "bad.json: model.type: unknown model type 'WordPiece'"},
        {with(R"("type": "ByteLevel", "add_prefix_space")", R"("type": "Whitespace", "add_prefix_space")"),
         "bad.json: pre_tokenizer.type: unknown pre-tokenizer type 'Whitespace'"},
        {with(R"({"type": "ByteLevel", "add_prefix_space": false})",
              R"({"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": false}, {"type": "Digits"}]})"),
         "bad.json: pre_tokenizer.pretokenizers[1].type: 'Digits' after ByteLevel is not supported"},
        {with(R"(["a b"])", R"(["a c"])"), "bad.json: model.merges[0]: names unknown token 'c'"},
        {with(R"("ab": 2)", R"("ba": 2)"), "bad.json: model.merges[0]: merged token 'ab' is not in model.vocab"},
        {with(R"(["a b"])", R"(["a  b"])"), "bad.json: model.merges[0]: expected \"left right\" with one space"},
        {with(R"(["a b"])", R"([["a"]])"), "bad.json: model.merges[0]: expected"},
        {with(R"("b": 1)", R"("b": "one")"), "bad.json: model.vocab[\"b\"]: expected an integer id in [0, 2^24)"},
        {with(R"("b": 1)", R"("b": 4000000000)"), "bad.json: model.vocab[\"b\"]: expected an integer id in [0, 2^24)"},
        {with(R"("vocab": {"a": 0, "b": 1, "ab": 2}, )", ""), "bad.json: model.vocab: missing"},
        {with(R"("normalizer": null)", R"("normalizer": {"type": "Lowercase"})"), "bad.json: normalizer.type: unknown normalizer type 'Lowercase'"},
        {with(R"("decoder": {"type": "ByteLevel"})", R"("decoder": {"type": "WordPiece"})"), "bad.json: decoder.type: unknown decoder type"},
        {with(R"("added_tokens": [])", R"("added_tokens": [{"id": 5}])"), "bad.json: added_tokens[0].content: missing"},
        {with(R"("added_tokens": [])", R"("added_tokens": [], "truncation": {"max_length": 5})"), "bad.json: truncation: must be null"},
    };
    for (const Case& c : cases) {
        std::string msg = parse_error(c.json);
        INFO("message: " << msg);
        CHECK(msg.rfind(c.expect, 0) == 0);
        CHECK(msg.find('\n') == std::string::npos);
    }
    // a directory, a missing file
    try {
        tokenizer_parse_file("tests");
        CHECK(false);
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "tests: cannot read: Is a directory");
    }
    try {
        tokenizer_parse_file("no/such/tokenizer.json");
        CHECK(false);
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "no/such/tokenizer.json: cannot open: No such file or directory");
    }
}

TEST_CASE("tokenizer: the program exits 1 with one line on stderr for a bad file") {
    if (!std::filesystem::exists("build/bin/tokenize")) { MESSAGE("build/bin/tokenize not built; skipped"); return; }
    auto dir = std::filesystem::temp_directory_path() / "engine_test_tokenizer";
    std::filesystem::create_directories(dir);
    std::string bad = (dir / "bad.json").string(), err = (dir / "stderr.txt").string();
    {
        FILE* f = std::fopen(bad.c_str(), "w");
        std::fputs(R"({"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": {"type": "ByteLevel"}})", f);
        std::fclose(f);
    }
    for (const std::string& path : {bad, (dir / "missing.json").string()}) {
        int status = std::system(("echo hi | build/bin/tokenize encode " + path + " >/dev/null 2>" + err).c_str());
        std::string msg = read_file(err, "stderr");
        INFO("stderr: " << msg);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 1);
        CHECK(msg.rfind("error: " + path + ": ", 0) == 0);
        CHECK(std::count(msg.begin(), msg.end(), '\n') == 1);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("tokenizer: bytes missing from the vocab become unk_token (fused or not) or are dropped, as in HF") {
    auto make = [](const char* unk, bool fuse) {
        return tokenizer_parse(strfmt(R"({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
            "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "unk_token": %s, "fuse_unk": %s,
            "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4}, "merges": ["a b"]}})", unk, fuse ? "true" : "false"),
            "unk.json");
    };
    // expected: HF tokenizers 0.23.3 on the same JSON
    const char* text = "abxyab a!\u00e9";
    CHECK(encode(make("\"<unk>\"", false), text) == std::vector<int32_t>{3, 0, 0, 3, 4, 1, 0, 0, 0});
    CHECK(encode(make("\"<unk>\"", true), text) == std::vector<int32_t>{3, 0, 3, 4, 1, 0, 0});
    CHECK(encode(make("null", false), text) == std::vector<int32_t>{3, 3, 4, 1});
    CHECK(encode(make("null", true), text) == std::vector<int32_t>{3, 3, 4, 1});
}
