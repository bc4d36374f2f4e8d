#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/common.h"

void TensorTable::add(std::string name, std::vector<int64_t> shape, bool decay, bool trained) {
    ENGINE_ASSERT(find(name) < 0);
    TensorSpec s{std::move(name), std::move(shape), decay, trained};
    offsets.push_back(total);
    total += (s.numel() + 15) / 16 * 16;
    specs.push_back(std::move(s));
}

int TensorTable::find(const std::string& name) const {
    for (size_t i = 0; i < specs.size(); i++)
        if (specs[i].name == name) return (int)i;
    return -1;
}

size_t TensorTable::offset(const std::string& name) const {
    int i = find(name);
    if (i < 0) fatal("internal: no tensor named %s", name.c_str());
    return offsets[i];
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

template <class T>
Buffer<T>::Buffer(size_t n) : count(n) {
    size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    data = (T*)std::aligned_alloc(64, bytes ? bytes : 64);
    if (!data) fatal("out of memory allocating %zu bytes", bytes);
    std::memset((void*)data, 0, bytes);
}

template <class T>
Buffer<T>::~Buffer() { std::free(data); }

template <class T>
Buffer<T>& Buffer<T>::operator=(Buffer&& o) noexcept {
    std::swap(data, o.data);
    std::swap(count, o.count);
    return *this;
}

template struct Buffer<float>;
template struct Buffer<double>;
template struct Buffer<int32_t>;
template struct Buffer<uint8_t>;
