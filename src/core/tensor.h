// Named tensor tables and the arenas carved from them.
//
// Every group of tensors (parameters, gradients, AdamW m and v, activations) is described by one table
// of {name, shape} and lives in ONE allocation: each tensor's offset is the running sum of the sizes
// before it, rounded up to 16 elements (64 bytes for fp32) so every tensor starts cache-line aligned.
// Parameters, gradients, m and v share one table, so the same offset finds a parameter's gradient and
// optimizer state. Names follow the Hugging Face checkpoint names ("backbone.layers.0.mixer.A_log"), so
// checkpoints, converters and test messages share them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct TensorSpec {
    std::string name;
    std::vector<int64_t> shape;
    bool decay = false;     // AdamW weight decay applies (matrices and embeddings; not norms, biases, A_log, D)
    bool trained = true;    // false: the optimizer leaves it (and its gradient) alone
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t s : shape) n *= s;
        return n;
    }
};

struct TensorTable {
    std::vector<TensorSpec> specs;
    std::vector<size_t> offsets;  // in elements, 16-element aligned
    size_t total = 0;             // elements, including alignment padding

    void add(std::string name, std::vector<int64_t> shape, bool decay = false, bool trained = true);
    int find(const std::string& name) const;  // index or -1
    size_t offset(const std::string& name) const;  // fatal() if absent (a bug, not an input error)
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[768, 1536]"

// One zero-initialised, 64-byte aligned allocation of `count` elements of T.
template <class T>
struct Buffer {
    T* data = nullptr;
    size_t count = 0;
    Buffer() = default;
    explicit Buffer(size_t n);
    ~Buffer();
    Buffer(Buffer&& o) noexcept : data(o.data), count(o.count) { o.data = nullptr; o.count = 0; }
    Buffer& operator=(Buffer&& o) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
};
