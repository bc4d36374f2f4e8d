// weights.bin: the engine's one binary file format, for model weights, training checkpoints and test
// fixtures. tools/weights_format.py reads and writes the same format; keep the two in step.
//
// Layout, all integers little-endian:
//   offset  size  field
//   0       8     magic "RRNKWTS\n"
//   8       4     u32 version = 1
//   12      4     u32 header_size: bytes from offset 0 to the end of the tensor table
//   16      4     u32 family: 1 = Mamba-1 reranker, 2 = transformer reranker, 0 = no model (fixtures);
//                 the loader accepts any id, src/models/registry.h says which it can run
//   20      4     u32 dtype of the model parameters: 0 = f32, 1 = bf16
//   24      4     u32 n_config
//   28      4     u32 n_tensors
//   32            n_config entries:  char key[32] (NUL-padded, NUL-terminated), f64 value
//                 n_tensors entries: u16 name_len, name bytes, u8 dtype, u8 ndim, i64 shape[ndim],
//                                    u64 offset (from the file start, a multiple of 64), u64 nbytes,
//                                    u32 crc32 of the data
//   header_size   4     u32 crc32 of bytes [0, header_size)
//   then the tensor data, each tensor 64-byte aligned; the file ends at the last tensor's end.
// Tensor dtypes: 0 f32, 1 bf16, 2 u8 (raw bytes: the tokenizer.json, the input template), 3 i64.
//
// What a reranker file holds: the config keys of its family (ModelFamily::config_keys, core/model.h), the
// parameters under their Hugging Face names, "tokenizer.json" and "template" as u8 tensors, and
// optional settings (max_len, fuse_weight). A training checkpoint adds "optim.m", "optim.v" (f32, the
// AdamW moments, laid out as the parameter table) and "train.state" (i64: step, RNG, data position).
//
// Loading memory-maps the file and validates every field before anything is used; every fault is an
// exception whose message is one line "<path>: <fault>" (programs print it and exit 1). Writing goes
// to a temporary file that is renamed over the target when complete.
#pragma once
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

enum class DType : uint8_t { f32 = 0, bf16 = 1, u8 = 2, i64 = 3 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);

constexpr uint32_t WEIGHTS_VERSION = 1;
enum class Family : uint32_t { none = 0, mamba = 1, transformer = 2 };

struct WeightsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct WTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t offset = 0, nbytes = 0;
    uint32_t crc = 0;
    const void* data = nullptr;  // into the mapping (load) or the caller's memory (write)
    int64_t numel() const;
};

struct WeightsFile {
    std::string path;
    Family family = Family::none;
    DType dtype = DType::f32;
    std::vector<std::pair<std::string, double>> config;
    std::vector<WTensor> tensors;
    void* map = nullptr;
    size_t map_size = 0;

    WeightsFile() = default;
    ~WeightsFile();
    WeightsFile(WeightsFile&& o) noexcept;
    WeightsFile& operator=(WeightsFile&& o) noexcept;
    WeightsFile(const WeightsFile&) = delete;
    WeightsFile& operator=(const WeightsFile&) = delete;

    const WTensor* find(const std::string& name) const;
    // The named tensor, checked for dtype and shape; throws "<path>: tensor <name>: ..." otherwise.
    const WTensor& get(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const;
    bool has_config(const std::string& key) const;
    double config_value(const std::string& key) const;              // throws when absent
    double config_or(const std::string& key, double fallback) const;
    // An integer config value in [lo, hi]; throws naming the key otherwise.
    int64_t config_int(const std::string& key, int64_t lo, int64_t hi) const;
    std::string bytes(const std::string& name) const;               // a u8 tensor as a string
    [[noreturn]] void fail(const std::string& what) const;           // throws "<path>: <what>"
};

// Opens, maps and validates a file (every header field, every tensor's bounds and checksum).
WeightsFile weights_load(const std::string& path);

// Builds a file in memory order; tensors point at caller memory that must outlive write().
struct WeightsWriter {
    Family family = Family::none;
    DType dtype = DType::f32;
    std::vector<std::pair<std::string, double>> config;
    std::vector<WTensor> tensors;
    void set(const std::string& key, double value);
    void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data);
    void add_bytes(const std::string& name, const std::string& bytes);  // copies into owned storage
    void write(const std::string& path) const;  // atomic; fatal() if the path cannot be written
    std::deque<std::string> owned;  // storage of add_bytes (stable addresses)
};

uint32_t crc32_of(const void* data, size_t n);
