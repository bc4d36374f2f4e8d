// The engine's random numbers: xoshiro256** (Blackman & Vigna), seeded through splitmix64. Its whole
// state is four 64-bit words, saved in training checkpoints so that a resumed run draws the same
// numbers as an uninterrupted one.
#pragma once
#include <cmath>
#include <cstdint>

struct Rng {
    uint64_t s[4];

    explicit Rng(uint64_t seed = 0) {
        for (auto& w : s) {  // splitmix64
            seed += 0x9e3779b97f4a7c15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            w = z ^ (z >> 31);
        }
    }
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t next() {
        uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
        return r;
    }
    double uniform() { return (next() >> 11) * 0x1.0p-53; }  // [0, 1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }  // modulo bias < 2^-40 for n < 2^24
    double normal() {  // Box-Muller; one of the pair is dropped to keep the state a pure word stream
        double u1 = uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
    }
};
