// Readers of the tokenizer's reference files (written by tools/make_tokenizer_fixtures.py, which
// documents the formats): a corpus of text records and, per tokenizer, HF's ids for them. Used by the
// tests and by `tokenize bench` / `tokenize check`. Errors end in fatal() naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct TextRecords {
    std::vector<std::string> texts;
    std::vector<uint8_t> flags;  // bit 0: valid UTF-8 in NFC; bit 1: invalid UTF-8
    size_t bytes = 0;
};
// "TOKTXT1\n" records from a .gz file, or one record per line from any other (text) file.
TextRecords read_text_records(const std::string& path);

struct IdRecords {
    std::vector<std::vector<int32_t>> ids, word_ids;  // word_ids empty when the file has none
};
// "TOKIDS1\n" records from a .gz file.
IdRecords read_id_records(const std::string& path);
