// Argument views shared by the CPU layers (src/cpu/layers.h) and the CUDA launchers (cuda/kernels.h): a
// tensor and its row stride travel together, and a layer's many same-typed tensors travel as named
// fields. Call sites build them with designated initialisers ({.u = {x, ld}, .dt = ...}), so two
// tensors of one type cannot be swapped unnoticed. Views own nothing and are passed by value or const&.
// Glossary: B sequences, T tokens, E d_inner, N d_state.
#pragma once
#include <cstdint>

// A row-major [rows, cols] tensor: element (t, c) at p[t * ld + c], ld >= cols the row stride in
// elements, so that a column slice of a wider tensor (z inside xz [T, 2E]) is a view without a copy.
template <class T>
struct Strided {
    T* p;
    int ld;
};

// ---- the selective scan (src/cpu/scan.cpp, cuda/scan.cu) ---------------------------------------------
// Its activations, of the activation type T. Bm, Cm: the B and C matrices (B and D are glossary letters).
template <class T>
struct ScanInputs {
    Strided<const T> u;   // [T, E] the conv output
    Strided<const T> dt;  // [T, E] dt_proj's output, before dt_bias and softplus
    Strided<const T> Bm;  // [T, N] a slice of x_proj's output [T, R+2N]
    Strided<const T> Cm;  // [T, N] the next slice
    Strided<const T> z;   // [T, E] the gate half of xz [T, 2E]
};

// Its per-channel parameters, of the parameter type P.
template <class P>
struct ScanWeights {
    const P* A_log;    // [E, N]  A = -exp(A_log)
    const P* Dskip;    // [E]     the D skip
    const P* dt_bias;  // [E]
};

// What its backward produces: the activations' gradients, WRITTEN, and the parameters', ACCUMULATED (+=).
template <class T, class P = T>
struct ScanGrads {
    Strided<T> du, ddt, dBm, dCm, dz;  // shapes as ScanInputs
    P* dA_log;                         // [E, N]
    P* dDskip;                         // [E]
    P* ddt_bias;                       // [E]
};

// The packed batch: B sequences of Tn tokens in all, sequence b at tokens offsets[b] .. offsets[b+1]-1
// (offsets [B+1]: host memory for the CPU, device memory for CUDA, offsets[B] = Tn); E channels, N states.
struct ScanDims {
    const int32_t* offsets;
    int B, Tn, E, N;
};
