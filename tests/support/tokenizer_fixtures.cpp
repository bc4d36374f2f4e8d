#include "tokenizer_fixtures.h"

#include <zlib.h>

#include <cstring>
#include <sstream>

#include "core/common.h"

namespace {

std::string read_gz(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fatal("%s: cannot open", path.c_str());
    std::string s;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) s.append(buf, n);
    bool err = n < 0;
    gzclose(f);
    if (err) fatal("%s: not a readable gzip file", path.c_str());
    return s;
}

struct Cursor {
    const std::string& path;
    const std::string& s;
    size_t p = 0;
    void need(size_t n) {
        if (p + n > s.size()) fatal("%s: truncated at byte %zu", path.c_str(), p);
    }
    uint32_t u32() { need(4); uint32_t v; std::memcpy(&v, s.data() + p, 4); p += 4; return v; }
    uint16_t u16() { need(2); uint16_t v; std::memcpy(&v, s.data() + p, 2); p += 2; return v; }
    uint8_t u8() { need(1); return (uint8_t)s[p++]; }
    std::string bytes(size_t n) { need(n); std::string r = s.substr(p, n); p += n; return r; }
};

}  // namespace

TextRecords read_text_records(const std::string& path) {
    TextRecords r;
    if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
        std::string raw = read_gz(path);
        Cursor c{path, raw};
        if (c.bytes(8) != "TOKTXT1\n") fatal("%s: not a TOKTXT1 corpus", path.c_str());
        uint32_t n = c.u32();
        for (uint32_t i = 0; i < n; i++) {
            r.texts.push_back(c.bytes(c.u32()));
            r.flags.push_back(c.u8());
            r.bytes += r.texts.back().size();
        }
        return r;
    }
    std::istringstream in(read_file(path, "text"));
    std::string line;
    while (std::getline(in, line)) {
        r.bytes += line.size();
        r.texts.push_back(std::move(line));
        r.flags.push_back(0);
    }
    return r;
}

IdRecords read_id_records(const std::string& path) {
    IdRecords r;
    std::string raw = read_gz(path);
    Cursor c{path, raw};
    if (c.bytes(8) != "TOKIDS1\n") fatal("%s: not a TOKIDS1 file", path.c_str());
    uint32_t n = c.u32();
    uint8_t width = c.u8(), has_words = c.u8();
    if (width != 2 && width != 4) fatal("%s: id width %d is not 2 or 4", path.c_str(), width);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = c.u32();
        std::vector<int32_t> ids(k);
        for (uint32_t j = 0; j < k; j++) ids[j] = width == 2 ? (int32_t)c.u16() : (int32_t)c.u32();
        r.ids.push_back(std::move(ids));
        if (has_words) {
            std::vector<int32_t> w(k);
            int32_t prev = -1;
            for (uint32_t j = 0; j < k; j++) { prev += c.u8(); w[j] = prev; }
            r.word_ids.push_back(std::move(w));
        }
    }
    if (c.p != raw.size()) fatal("%s: %zu bytes after the last record", path.c_str(), raw.size() - c.p);
    return r;
}
