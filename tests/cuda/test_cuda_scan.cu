// The selective scan forward/backward (cuda/scan.cu) against cpu::scan_* (src/cpu/scan.cpp): a packed
// batch of sequences of lengths 1, 37 and 300 (crossing the forward's 32-step and the backward's 16-step
// tiles and 8-step checkpoints; 37 ends 5 steps into a tile, so the backward skips an empty sub-tile),
// a batch of lengths 256, 5, 513 and 512 (whole tiles and one step past), N 16, 8, 5 and 12 (states
// past N inside a thread's group of 4), E 37, 21, 40 and 33 (not multiples of the 32-channel block),
// B and C as slices of x_proj's output [T, R+2N], z as the gate half of xz [T, 2E], and a few
// channels with dt + dt_bias past softplus's threshold of 20.
#include <omp.h>

#include "cuda_test.h"

// seg_len: the cut over time, forward and backward (0: as the launchers choose for the simulator's 132
// SMs, which cuts these small batches; 1 << 30: no cut; else segments of seg_len steps).
template <class T>
static void check_scan(const std::vector<int>& lens, int E, int N, int seg_len = 1 << 30) {
    std::string tag = std::string(type_name<T>()) + " E" + std::to_string(E) + " N" + std::to_string(N) + " seg" +
                      (seg_len == 1 << 30 ? std::string("-") : std::to_string(seg_len)) + " lens";
    for (int l : lens) tag += ' ' + std::to_string(l);  // (char + string: g++ 12 -O3 warns on " " + string&&)
    const std::vector<int32_t> off = offsets_of(lens);
    const int B = (int)lens.size(), Tn = off.back(), R = 5, P = R + 2 * N, ldz = 2 * E;
    int max_len = 0;
    for (int l : lens) max_len = std::max(max_len, l);
    std::vector<float> u = rounded<T>(uniform((size_t)Tn * E, -1, 1, 51)), dt = rounded<T>(uniform((size_t)Tn * E, -1, 1, 52));
    std::vector<float> dbc = rounded<T>(uniform((size_t)Tn * P, -1, 1, 53)), xz = rounded<T>(uniform((size_t)Tn * ldz, -2, 2, 54));
    std::vector<float> dout = rounded<T>(uniform((size_t)Tn * E, -1, 1, 55));
    std::vector<float> A_log((size_t)E * N), Dskip = uniform(E, 0.5f, 1.5f, 56), dt_bias(E);
    std::vector<float> noise = uniform((size_t)E * N, -0.1f, 0.1f, 57), dt0 = uniform(E, std::log(1e-3f), std::log(1e-1f), 58);
    for (int e = 0; e < E; e++) {
        for (int n = 0; n < N; n++) A_log[(size_t)e * N + n] = std::log((float)(n + 1)) + noise[(size_t)e * N + n];
        const float d = std::exp(dt0[e]);
        dt_bias[e] = e % 7 == 3 ? 20.5f : d + std::log(-std::expm1(-d));  // mamba's dt init; some past 20
    }
    std::vector<float> dA0 = uniform((size_t)E * N, -1, 1, 59), dD0 = uniform(E, -1, 1, 60), dbias0 = uniform(E, -1, 1, 61);

    Dev<int32_t> d_off(off);
    Dev<T> d_u(to_type<T>(u)), d_dt(to_type<T>(dt)), d_dbc(to_type<T>(dbc)), d_xz(to_type<T>(xz)), d_dout(to_type<T>(dout));
    Dev<T> d_out((size_t)Tn * E), d_du((size_t)Tn * E), d_ddt((size_t)Tn * E), d_ddbc((size_t)Tn * P), d_dxz((size_t)Tn * ldz);
    Dev<float> d_A(A_log), d_D(Dskip), d_bias(dt_bias), d_dA(dA0), d_dD(dD0), d_dbias(dbias0);
    Dev<float> ckpt(gpu::scan_checkpoint_size(B, Tn, E, N)), scratch(gpu::scan_backward_scratch(B, Tn, E, N));
    Dev<float> fwd_scratch(gpu::scan_forward_scratch(B, Tn, E, N));
    const ScanInputs<T> d_in = {.u = {d_u.p, E}, .dt = {d_dt.p, E}, .Bm = {d_dbc.p + R, P}, .Cm = {d_dbc.p + R + N, P},
                                .z = {d_xz.p + E, ldz}};
    const ScanWeights<float> d_weights = {.A_log = d_A.p, .Dskip = d_D.p, .dt_bias = d_bias.p};
    const ScanDims d_dims = {.offsets = d_off.p, .B = B, .Tn = Tn, .E = E, .N = N};
    gpu::scan_forward<T>({d_out.p, E}, ckpt.p, fwd_scratch.p, d_in, d_weights, d_dims, nullptr, seg_len);
    gpu::scan_backward<T>({.du = {d_du.p, E}, .ddt = {d_ddt.p, E}, .dBm = {d_ddbc.p + R, P},
                           .dCm = {d_ddbc.p + R + N, P}, .dz = {d_dxz.p + E, ldz}, .dA_log = d_dA.p, .dDskip = d_dD.p,
                           .ddt_bias = d_dbias.p},
                          scratch.p, {d_dout.p, E}, ckpt.p, d_in, d_weights, d_dims, nullptr, seg_len);

    std::vector<float> out((size_t)Tn * E), du((size_t)Tn * E), ddt((size_t)Tn * E), ddbc((size_t)Tn * P), dxz((size_t)Tn * ldz);
    std::vector<float> dA = dA0, dD = dD0, dbias = dbias0;
    std::vector<float> cpu_scratch(cpu::scan_scratch_size(Tn, max_len, N, omp_get_max_threads()));
    const ScanInputs<float> in = {.u = {u.data(), E}, .dt = {dt.data(), E}, .Bm = {dbc.data() + R, P},
                                  .Cm = {dbc.data() + R + N, P}, .z = {xz.data() + E, ldz}};
    const ScanWeights<float> weights = {.A_log = A_log.data(), .Dskip = Dskip.data(), .dt_bias = dt_bias.data()};
    const ScanDims dims = {.offsets = off.data(), .B = B, .Tn = Tn, .E = E, .N = N};
    cpu::scan_forward<float>({out.data(), E}, in, weights, dims);
    cpu::scan_backward<float>({.du = {du.data(), E}, .ddt = {ddt.data(), E}, .dBm = {ddbc.data() + R, P},
                               .dCm = {ddbc.data() + R + N, P}, .dz = {dxz.data() + E, ldz}, .dA_log = dA.data(),
                               .dDskip = dD.data(), .ddt_bias = dbias.data()},
                              cpu_scratch.data(), {dout.data(), E}, in, weights, dims, max_len);
    CHECK(check_close("scan fwd out " + tag, to_f32(d_out.back()), out, rtol_of<T>(RTOL_FWD)));
    CHECK(check_close("scan bwd du " + tag, to_f32(d_du.back()), du, rtol_of<T>(RTOL_GRAD)));
    CHECK(check_close("scan bwd ddt " + tag, to_f32(d_ddt.back()), ddt, rtol_of<T>(RTOL_GRAD)));
    const std::vector<float> ddbc_got = to_f32(d_ddbc.back());
    CHECK(check_close("scan bwd dB " + tag, columns(ddbc_got, Tn, P, R, N), columns(ddbc, Tn, P, R, N), rtol_of<T>(RTOL_GRAD)));
    CHECK(check_close("scan bwd dC " + tag, columns(ddbc_got, Tn, P, R + N, N), columns(ddbc, Tn, P, R + N, N),
                      rtol_of<T>(RTOL_GRAD)));
    CHECK(check_close("scan bwd dz " + tag, columns(to_f32(d_dxz.back()), Tn, ldz, E, E), columns(dxz, Tn, ldz, E, E),
                      rtol_of<T>(RTOL_GRAD)));
    CHECK(check_close("scan bwd dA_log " + tag, d_dA.back(), dA, RTOL_GRAD));
    CHECK(check_close("scan bwd dD " + tag, d_dD.back(), dD, RTOL_GRAD));
    CHECK(check_close("scan bwd ddt_bias " + tag, d_dbias.back(), dbias, RTOL_GRAD));
    // Nothing written outside the slices: the dt_rank columns of ddbc and the x half of dxz keep the poison.
    size_t clean = 0, total = 0;
    for (float v : columns(ddbc_got, Tn, P, 0, R)) clean += std::isnan(v), total++;
    for (float v : columns(to_f32(d_dxz.back()), Tn, ldz, 0, E)) clean += std::isnan(v), total++;
    CHECK(clean == total);
}

TEST_CASE("cuda selective scan forward/backward vs CPU, N 16, fp32") { check_scan<float>({1, 37, 300}, 37, 16); }
TEST_CASE("cuda selective scan forward/backward vs CPU, N 8, lengths of exactly one and two chunks, three chunks, fp32") {
    check_scan<float>({256, 5, 513, 512}, 21, 8);
}
TEST_CASE("cuda selective scan forward/backward vs CPU, N 16, bf16") { check_scan<__nv_bfloat16>({1, 37, 300}, 37, 16); }
TEST_CASE("cuda selective scan forward/backward vs CPU, N 5 and 12 (states past N in a thread's group), fp32") {
    check_scan<float>({37, 1, 64}, 40, 5);
    check_scan<float>({70}, 33, 12);
}
TEST_CASE("cuda selective scan forward/backward vs CPU, edge shapes: lengths at tile and checkpoint edges, E 1, N 1") {
    check_scan<float>({8, 16, 32, 7, 9, 15, 17, 31, 33}, 3, 16);  // sequences ending on and around 8/16/32-step edges
    check_scan<float>({40, 2}, 1, 1);                              // one channel, one state (1 state per thread)
    check_scan<float>({24}, 64, 4);                                // two whole 32-channel blocks, N 4
}
TEST_CASE("cuda selective scan forward/backward vs CPU, long sequences cut over time (segment summaries folded)") {
    // Forward: summaries (decay, end state) folded forwards; backward: (decay, adjoint at the first step)
    // folded backwards, and the parameter gradients summed over (sequence, segment) rows.
    check_scan<float>({1, 37, 300}, 37, 16, 0);          // as chosen for the simulator's 132 SMs (segments of 64)
    check_scan<float>({256, 5, 513, 512}, 21, 8, 96);    // segments of 96: ends inside tiles and between chunks
    check_scan<float>({700, 64, 65}, 33, 12, 128);       // a sequence of exactly one segment, one just past
    check_scan<__nv_bfloat16>({1, 37, 300}, 37, 16, 64);
}
TEST_CASE("cuda selective scan forward/backward vs CPU, random shapes") {
    std::mt19937 rng(20261129);
    for (int trial = 0; trial < 6; trial++) {
        std::vector<int> lens(1 + rng() % 4);
        for (int& l : lens) l = 1 + (int)(rng() % 200);
        const int E = 1 + (int)(rng() % 70), N = 1 + (int)(rng() % 16);
        const int cuts[4] = {1 << 30, 0, 64, 96};
        check_scan<float>(lens, E, N, cuts[trial % 4]);
    }
}
