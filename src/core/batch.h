// A packed batch: B sequences of tokens concatenated into one stream of T tokens, with offsets. No
// padding token ever enters a layer; every layer that mixes tokens (conv1d, scan, attention) reads the
// offsets and never crosses a sequence boundary.
#pragma once
#include <cstdint>
#include <vector>

struct Batch {
    std::vector<int32_t> tokens;   // [T]
    std::vector<uint8_t> match;    // [T] 0/1 exact-match flags; empty when the model has no match feature
    std::vector<int32_t> offsets;  // [B+1]: offsets[0] = 0, offsets[B] = T
    int B() const { return (int)offsets.size() - 1; }
    int T() const { return offsets.empty() ? 0 : offsets.back(); }
};
