// The reranker's scoring end: last-token pooling, the linear head, and the group softmax cross-entropy
// (localized contrastive estimation, Gao et al. 2021, as used by RankMamba).
//
//   pooled[b, :] = x[last_b, :] (+ delta[last_b, :])   last_b = offsets[b+1] - 1, the sequence's EOS;
//                                                      delta: the last block's residual add, fused
//   score[b]     = h[b, :] . w + bias                 h = final RMSNorm of pooled, w [1, D], bias [1]
//   loss         = 1/(B/G) sum_groups ( logsumexp(score[g*G .. g*G+G-1]) - score[g*G] )
//
// The positive document is at index 0 of each group of G. Since RMSNorm is per token, the final norm
// is applied after pooling, to B rows instead of T (mamba.cpp).
//
// Backward: dscore[b] = (softmax_g(score)[b] - [b is the group's first]) / (B/G)   (WRITTEN)
//   dh[b, :] = dscore[b] * w (WRITTEN),  dw += sum_b dscore[b] h[b, :],  dbias += sum_b dscore[b]
//   pooling backward scatters dpooled into rows of dx, which is ACCUMULATED (the residual stream).
#include <cmath>

#include "cpu/layers.h"

namespace cpu {

template <class T>
void pool_last(T* pooled, const T* x, const T* delta, const int32_t* offsets, int B, int D) {
    for (int b = 0; b < B; b++) {
        const int64_t src = (int64_t)(offsets[b + 1] - 1) * D;
        for (int i = 0; i < D; i++) pooled[(int64_t)b * D + i] = x[src + i] + (delta ? delta[src + i] : T(0));
    }
}

template <class T>
void pool_last_backward(T* dx, const T* dpooled, const int32_t* offsets, int B, int D) {
    for (int b = 0; b < B; b++) {
        T* dst = dx + (int64_t)(offsets[b + 1] - 1) * D;
        for (int i = 0; i < D; i++) dst[i] += dpooled[(int64_t)b * D + i];
    }
}

template <class T>
void head_forward(T* scores, const T* h, const T* w, const T* bias, int B, int D) {
    for (int b = 0; b < B; b++) {
        T s = bias[0];
        for (int i = 0; i < D; i++) s += h[(int64_t)b * D + i] * w[i];
        scores[b] = s;
    }
}

template <class T>
void head_backward(T* dh, T* dw, T* dbias, const T* dscores, const T* h, const T* w, int B, int D) {
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < D; i++) {
            dh[(int64_t)b * D + i] = dscores[b] * w[i];
            dw[i] += dscores[b] * h[(int64_t)b * D + i];
        }
        dbias[0] += dscores[b];
    }
}

// Returns the mean loss over the B/G groups (accumulated in double) and writes dscores (may be null).
template <class T>
double group_softmax_ce(T* dscores, const T* scores, int B, int G) {
    int groups = B / G;
    double total = 0;
    for (int g = 0; g < groups; g++) {
        const T* s = scores + (int64_t)g * G;
        T mx = s[0];
        for (int j = 1; j < G; j++) mx = s[j] > mx ? s[j] : mx;
        T sum = 0;
        for (int j = 0; j < G; j++) sum += std::exp(s[j] - mx);
        total += (double)(std::log(sum) + mx - s[0]);
        if (dscores)
            for (int j = 0; j < G; j++)
                dscores[(int64_t)g * G + j] = (std::exp(s[j] - mx) / sum - (j == 0 ? T(1) : T(0))) / T(groups);
    }
    return total / groups;
}

#define INSTANTIATE(T)                                                                          \
    template void pool_last<T>(T*, const T*, const T*, const int32_t*, int, int);               \
    template void pool_last_backward<T>(T*, const T*, const int32_t*, int, int);                \
    template void head_forward<T>(T*, const T*, const T*, const T*, int, int);                  \
    template void head_backward<T>(T*, T*, T*, const T*, const T*, const T*, int, int);         \
    template double group_softmax_ce<T>(T*, const T*, int, int);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
