// weights.bin reader and writer; the format is documented in weights.h.
#include "core/weights.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "core/common.h"
#include "core/tensor.h"

static const char MAGIC[8] = {'R', 'R', 'N', 'K', 'W', 'T', 'S', '\n'};
constexpr size_t FIXED_HEADER = 32, KEY_BYTES = 32, MAX_NDIM = 8, MAX_NAME = 1024;

size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32: return 4;
        case DType::bf16: return 2;
        case DType::u8: return 1;
        case DType::i64: return 8;
    }
    return 0;
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "f32";
        case DType::bf16: return "bf16";
        case DType::u8: return "u8";
        case DType::i64: return "i64";
    }
    return "?";
}

uint32_t crc32_of(const void* data, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef* p = (const Bytef*)data;
    while (n > 0) {  // zlib takes 32-bit lengths
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk, n -= chunk;
    }
    return (uint32_t)c;
}

int64_t WTensor::numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

// ---- reading -----------------------------------------------------------------------------------

WeightsFile::~WeightsFile() {
    if (map) munmap(map, map_size);
}
WeightsFile::WeightsFile(WeightsFile&& o) noexcept { *this = std::move(o); }
WeightsFile& WeightsFile::operator=(WeightsFile&& o) noexcept {
    std::swap(path, o.path), std::swap(family, o.family), std::swap(dtype, o.dtype);
    std::swap(config, o.config), std::swap(tensors, o.tensors);
    std::swap(map, o.map), std::swap(map_size, o.map_size);
    return *this;
}

void WeightsFile::fail(const std::string& what) const { throw WeightsError(path + ": " + what); }

const WTensor* WeightsFile::find(const std::string& name) const {
    for (const WTensor& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

const WTensor& WeightsFile::get(const std::string& name, DType dt, const std::vector<int64_t>& shape) const {
    const WTensor* t = find(name);
    if (!t) fail("tensor " + name + " is missing");
    if (t->dtype != dt)
        fail(strfmt("tensor %s has dtype %s, expected %s", name.c_str(), dtype_name(t->dtype), dtype_name(dt)));
    if (t->shape != shape)
        fail("tensor " + name + " has shape " + shape_str(t->shape) + ", expected " + shape_str(shape));
    return *t;
}

bool WeightsFile::has_config(const std::string& key) const {
    for (auto& kv : config)
        if (kv.first == key) return true;
    return false;
}

double WeightsFile::config_value(const std::string& key) const {
    for (auto& kv : config)
        if (kv.first == key) return kv.second;
    fail("config key " + key + " is missing");
}

double WeightsFile::config_or(const std::string& key, double fallback) const {
    return has_config(key) ? config_value(key) : fallback;
}

int64_t WeightsFile::config_int(const std::string& key, int64_t lo, int64_t hi) const {
    double v = config_value(key);
    if (!(v >= (double)lo && v <= (double)hi) || v != (double)(int64_t)v)
        fail(strfmt("config %s = %g is not an integer in [%lld, %lld]", key.c_str(), v, (long long)lo, (long long)hi));
    return (int64_t)v;
}

std::string WeightsFile::bytes(const std::string& name) const {
    const WTensor* t = find(name);
    if (!t) fail("tensor " + name + " is missing");
    if (t->dtype != DType::u8 || t->shape.size() != 1) fail("tensor " + name + " is not a u8 vector");
    return std::string((const char*)t->data, t->nbytes);
}

// A bounds-checked cursor over the header: every read that would run past `end` is a truncation.
struct Cursor {
    const WeightsFile& f;
    const uint8_t* p;
    const uint8_t* end;
    void need(size_t n, const char* what) {
        if ((size_t)(end - p) < n) f.fail(strfmt("header truncated while reading %s", what));
    }
    template <class U>
    U read(const char* what) {
        need(sizeof(U), what);
        U v;
        std::memcpy(&v, p, sizeof(U));
        p += sizeof(U);
        return v;
    }
};

WeightsFile weights_load(const std::string& path) {
    WeightsFile f;
    f.path = path;
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) f.fail(strfmt("cannot open: %s", std::strerror(errno)));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        f.fail("not a regular file");
    }
    size_t size = (size_t)st.st_size;
    if (size < FIXED_HEADER + 4) {
        close(fd);
        f.fail(strfmt("truncated: %zu bytes, a weights file has at least %zu", size, FIXED_HEADER + 4));
    }
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) f.fail(strfmt("cannot map: %s", std::strerror(errno)));
    f.map = map, f.map_size = size;
    const uint8_t* base = (const uint8_t*)map;

    if (std::memcmp(base, MAGIC, 8) != 0) f.fail("not a weights file (bad magic)");
    Cursor c{f, base + 8, base + size};
    uint32_t version = c.read<uint32_t>("version");
    if (version != WEIGHTS_VERSION)
        f.fail(strfmt("format version %u, this engine reads version %u", version, WEIGHTS_VERSION));
    uint32_t header_size = c.read<uint32_t>("header size");
    if (header_size < FIXED_HEADER || (size_t)header_size + 4 > size)
        f.fail(strfmt("truncated: header of %u bytes does not fit in %zu bytes", header_size, size));
    uint32_t stored_crc;
    std::memcpy(&stored_crc, base + header_size, 4);
    if (crc32_of(base, header_size) != stored_crc) f.fail("header checksum mismatch (corrupted file)");
    c.end = base + header_size;  // the table must end where the header says

    uint32_t family = c.read<uint32_t>("family"), dtype = c.read<uint32_t>("dtype");
    if (dtype > 1) f.fail(strfmt("unknown parameter dtype %u", dtype));
    f.family = (Family)family, f.dtype = (DType)dtype;
    uint32_t n_config = c.read<uint32_t>("config count"), n_tensors = c.read<uint32_t>("tensor count");
    if ((uint64_t)n_config * (KEY_BYTES + 8) > header_size) f.fail(strfmt("config count %u too large", n_config));
    for (uint32_t i = 0; i < n_config; i++) {
        c.need(KEY_BYTES, "a config key");
        const char* key = (const char*)c.p;
        if (std::memchr(key, 0, KEY_BYTES) == nullptr) f.fail(strfmt("config entry %u: key not terminated", i));
        c.p += KEY_BYTES;
        double v = c.read<double>("a config value");
        if (f.has_config(key)) f.fail(strfmt("config key %s appears twice", key));
        f.config.emplace_back(key, v);
    }
    std::set<std::string> names;
    for (uint32_t i = 0; i < n_tensors; i++) {
        WTensor t;
        uint16_t len = c.read<uint16_t>("a tensor name length");
        if (len == 0 || len > MAX_NAME) f.fail(strfmt("tensor %u: bad name length %u", i, len));
        c.need(len, "a tensor name");
        t.name.assign((const char*)c.p, len);
        c.p += len;
        if (!names.insert(t.name).second) f.fail("tensor " + t.name + " appears twice");
        uint8_t dt = c.read<uint8_t>("a tensor dtype"), ndim = c.read<uint8_t>("a tensor rank");
        if (dt > 3) f.fail(strfmt("tensor %s: unknown dtype %u", t.name.c_str(), dt));
        if (ndim > MAX_NDIM) f.fail(strfmt("tensor %s: rank %u exceeds %zu", t.name.c_str(), ndim, MAX_NDIM));
        t.dtype = (DType)dt;
        uint64_t numel = 1;
        for (int d = 0; d < ndim; d++) {
            int64_t s = c.read<int64_t>("a tensor shape");
            if (s < 0 || s > (int64_t)1 << 40) f.fail(strfmt("tensor %s: bad dimension %lld", t.name.c_str(), (long long)s));
            t.shape.push_back(s);
            numel *= (uint64_t)s;
            if (numel > (uint64_t)1 << 40) f.fail(strfmt("tensor %s: too many elements", t.name.c_str()));
        }
        t.offset = c.read<uint64_t>("a tensor offset");
        t.nbytes = c.read<uint64_t>("a tensor size");
        t.crc = c.read<uint32_t>("a tensor checksum");
        if (t.nbytes != numel * dtype_size(t.dtype))
            f.fail(strfmt("tensor %s: %llu bytes do not match shape %s of %s", t.name.c_str(),
                          (unsigned long long)t.nbytes, shape_str(t.shape).c_str(), dtype_name(t.dtype)));
        if (t.offset % 64 != 0 || t.offset < (uint64_t)header_size + 4)
            f.fail(strfmt("tensor %s: bad data offset %llu", t.name.c_str(), (unsigned long long)t.offset));
        if (t.offset > size || t.nbytes > size - t.offset)
            f.fail(strfmt("truncated: tensor %s needs bytes up to %llu, the file has %zu", t.name.c_str(),
                          (unsigned long long)(t.offset + t.nbytes), size));
        t.data = base + t.offset;
        f.tensors.push_back(std::move(t));
    }
    if (c.p != c.end) f.fail("header size does not match its contents");
    for (const WTensor& t : f.tensors)
        if (crc32_of(t.data, t.nbytes) != t.crc) f.fail("tensor " + t.name + ": checksum mismatch (corrupted data)");
    return f;
}

// ---- writing -----------------------------------------------------------------------------------

void WeightsWriter::set(const std::string& key, double value) {
    ENGINE_ASSERT(key.size() < KEY_BYTES);
    for (auto& kv : config)
        if (kv.first == key) {
            kv.second = value;
            return;
        }
    config.emplace_back(key, value);
}

void WeightsWriter::add(const std::string& name, DType dt, std::vector<int64_t> shape, const void* data) {
    WTensor t;
    t.name = name, t.dtype = dt, t.shape = std::move(shape), t.data = data;
    t.nbytes = (uint64_t)t.numel() * dtype_size(dt);
    tensors.push_back(std::move(t));
}

void WeightsWriter::add_bytes(const std::string& name, const std::string& b) {
    owned.push_back(b);
    add(name, DType::u8, {(int64_t)b.size()}, owned.back().data());
}

void WeightsWriter::write(const std::string& path) const {
    std::string h(FIXED_HEADER, '\0');
    auto put = [&](const void* p, size_t n) { h.append((const char*)p, n); };
    std::memcpy(h.data(), MAGIC, 8);
    for (auto& kv : config) {
        char key[KEY_BYTES] = {};
        std::memcpy(key, kv.first.data(), kv.first.size());
        put(key, KEY_BYTES);
        put(&kv.second, 8);
    }
    size_t table_start = h.size();
    auto table_size = [&]() {
        size_t n = 0;
        for (auto& t : tensors) n += 2 + t.name.size() + 2 + 8 * t.shape.size() + 8 + 8 + 4;
        return n;
    };
    size_t header_size = table_start + table_size();
    uint64_t off = (header_size + 4 + 63) / 64 * 64;
    for (auto& t : tensors) {
        uint16_t len = (uint16_t)t.name.size();
        put(&len, 2);
        put(t.name.data(), len);
        uint8_t dt = (uint8_t)t.dtype, nd = (uint8_t)t.shape.size();
        put(&dt, 1), put(&nd, 1);
        for (int64_t s : t.shape) put(&s, 8);
        put(&off, 8);
        put(&t.nbytes, 8);
        uint32_t crc = crc32_of(t.data, t.nbytes);
        put(&crc, 4);
        off = (off + t.nbytes + 63) / 64 * 64;
    }
    ENGINE_ASSERT(h.size() == header_size);
    uint32_t fixed[6] = {WEIGHTS_VERSION, (uint32_t)header_size, (uint32_t)family, (uint32_t)dtype,
                         (uint32_t)config.size(), (uint32_t)tensors.size()};
    std::memcpy(h.data() + 8, fixed, sizeof fixed);
    uint32_t hcrc = crc32_of(h.data(), h.size());
    put(&hcrc, 4);

    AtomicFile out(path);
    out.write(h.data(), h.size());
    uint64_t pos = h.size();
    static const char zeros[64] = {};
    for (auto& t : tensors) {
        uint64_t start = (pos + 63) / 64 * 64;
        out.write(zeros, start - pos);
        out.write(t.data, t.nbytes);
        pos = start + t.nbytes;
    }
    out.commit();
}
