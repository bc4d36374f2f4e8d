// Token embedding, plus the optional exact-match flag embedding.
//
//   x[t, :] = wte[tokens[t], :] + (wme ? wme[match[t], :] : 0)
//
// Shapes: tokens [T] int32, match [T] uint8 in {0, 1} (nullptr when the model has no match feature),
// wte [V, D], wme [2, D], x [T, D]. The exact-match flag says whether the token's word also occurs in
// the other segment (query vs document); see src/text/input.h.
//
// Backward: dwte[tokens[t], :] += dx[t, :], dwme[match[t], :] += dx[t, :]. Rows repeat, so the sum over
// t is order dependent in floating point; each thread owns a slice of columns and walks t in order,
// which makes the result independent of the thread count. Memory traffic: forward reads and writes
// T*D elements; backward reads T*D and updates at most T*D.
#include <omp.h>

#include "cpu/layers.h"

namespace cpu {

template <class T>
void embedding_forward(T* x, const int32_t* tokens, const uint8_t* match, const T* wte, const T* wme,
                       int Tn, int D) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < Tn; t++) {
        const T* row = wte + (int64_t)tokens[t] * D;
        T* out = x + (int64_t)t * D;
        if (wme) {
            const T* m = wme + (int64_t)match[t] * D;
            for (int i = 0; i < D; i++) out[i] = row[i] + m[i];
        } else {
            for (int i = 0; i < D; i++) out[i] = row[i];
        }
    }
}

template <class T>
void embedding_backward(T* dwte, T* dwme, const T* dx, const int32_t* tokens, const uint8_t* match,
                        int Tn, int D) {
    constexpr int COLS = 64;  // columns per task: one cache line of fp32 per row
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < D; c0 += COLS) {
        int c1 = c0 + COLS < D ? c0 + COLS : D;
        for (int t = 0; t < Tn; t++) {
            const T* g = dx + (int64_t)t * D;
            T* row = dwte + (int64_t)tokens[t] * D;
            for (int i = c0; i < c1; i++) row[i] += g[i];
            if (dwme) {
                T* m = dwme + (int64_t)match[t] * D;
                for (int i = c0; i < c1; i++) m[i] += g[i];
            }
        }
    }
}

#define INSTANTIATE(T)                                                                              \
    template void embedding_forward<T>(T*, const int32_t*, const uint8_t*, const T*, const T*, int,  \
                                       int);                                                        \
    template void embedding_backward<T>(T*, T*, const T*, const int32_t*, const uint8_t*, int, int);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
