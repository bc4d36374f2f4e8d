#include "core/common.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <xmmintrin.h>

void fatal(const char* fmt, ...) {
    std::fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    std::fputs("error: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(1);
}

std::string strfmt(const char* fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, ap);
    va_end(ap);
    std::string s(n > 0 ? n : 0, '\0');
    if (n > 0) std::vsnprintf(s.data(), n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

AtomicFile::AtomicFile(const std::string& p) : path(p) {
    tmp_path = strfmt("%s.tmp.%d", p.c_str(), (int)getpid());
    f = std::fopen(tmp_path.c_str(), "wb");
    if (!f) fatal("%s: cannot write: %s", p.c_str(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
    if (f) {
        std::fclose(f);
        std::remove(tmp_path.c_str());
    }
}

void AtomicFile::write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, f) != n) fatal("%s: write failed: %s", path.c_str(), std::strerror(errno));
}

void AtomicFile::commit() {
    bool ok = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (std::fclose(f) == 0) && ok;
    f = nullptr;
    if (!ok || std::rename(tmp_path.c_str(), path.c_str()) != 0) {
        int e = errno;
        std::remove(tmp_path.c_str());
        fatal("%s: cannot write: %s", path.c_str(), std::strerror(e));
    }
}

std::string read_file(const std::string& path, const char* what) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fatal("%s %s: cannot open: %s", what, path.c_str(), std::strerror(errno));
    std::string s;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    bool err = std::ferror(f);
    std::fclose(f);
    if (err) fatal("%s %s: read error", what, path.c_str());
    return s;
}

void enable_flush_to_zero() {
#pragma omp parallel
    _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool parse_number(const std::string& s, double* out) {
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    return end != s.c_str() && *end == 0;
}

double flag_number(const std::string& flag, const std::string& value, double lo, double hi) {
    double x = 0;
    if (!parse_number(value, &x) || !(x >= lo && x <= hi))
        fatal("%s %s: expected a number in [%g, %g]", flag.c_str(), value.c_str(), lo, hi);
    return x;
}

int flag_int(const std::string& flag, const std::string& value, double lo, double hi) {
    const double x = flag_number(flag, value, lo, hi);
    if (x != std::floor(x)) fatal("%s %s: expected an integer in [%g, %g]", flag.c_str(), value.c_str(), lo, hi);
    return (int)x;
}
