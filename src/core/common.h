// Shared by every part of the engine: fatal errors, checks, and files written atomically.
//
// Errors a user can cause (a bad file, a bad flag) end the program with one line on stderr that names
// the file and the fault, and exit status 1. Nothing the engine writes is ever left half-written: output
// goes to "<path>.tmp.<pid>" and is renamed over <path> only when complete.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

// Prints "error: <message>" and exits with status 1. printf-style.
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// For internal invariants (a bug in the engine, not in the input): prints the expression, file, line.
#define ENGINE_ASSERT(cond)                                                                          \
    do {                                                                                             \
        if (!(cond)) fatal("internal: %s failed at %s:%d", #cond, __FILE__, __LINE__);               \
    } while (0)

// A file opened for writing under a temporary name; commit() flushes, closes and renames it over the
// target. Destroyed without commit() (an error path), it removes the temporary file.
struct AtomicFile {
    std::string path, tmp_path;
    FILE* f = nullptr;
    explicit AtomicFile(const std::string& path);  // fatal() when the directory is not writable
    ~AtomicFile();
    void write(const void* data, size_t n);        // fatal() on a short write (disk full)
    void commit();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
};

// Reads a whole file; fatal() naming `what` and the path when it cannot.
std::string read_file(const std::string& path, const char* what);

// Sets flush-to-zero and denormals-are-zero on every OpenMP thread. Denormal floats (below 1.2e-38)
// arise in the selective scan's decaying states and gradients (exp(delta * A) for large |A|) and cost
// ~100 cycles per operation on x86; flushing them changes results by less than 1e-38 absolute. The
// programs call this; the tests do not (they compare with PyTorch, which keeps denormals).
void enable_flush_to_zero();

// printf into a std::string.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Seconds on a monotonic clock (for durations).
double now_seconds();

// Parses the whole of s as a number; false if it is not one.
bool parse_number(const std::string& s, double* out);

// A command-line value: a number in [lo, hi], or an integer in [lo, hi]; fatal() naming the flag
// ("--lr abc: expected a number in [0, 10]") otherwise.
double flag_number(const std::string& flag, const std::string& value, double lo, double hi);
int flag_int(const std::string& flag, const std::string& value, double lo, double hi);
