// AdamW with global-norm clipping (cuda/adamw.cu) against adamw_step (src/core/optim.cpp) on a table with
// odd-sized tensors (one longer than a 16384-element piece), decayed and not, and one untrained tensor
// that must be left alone; three steps with warmup, clipping active, and the bf16 working copy; then the
// same with buffers that are not 16-byte aligned (the scalar kernels).
#include <algorithm>

#include "cuda_test.h"

TEST_CASE("cuda AdamW + clipping vs CPU, three steps, bf16 working copy") {
    TensorTable table;
    table.add("matrix", {37, 45}, true);
    table.add("vector", {45});
    table.add("big", {20001}, true);
    table.add("frozen", {7}, false, false);
    AdamWConfig c;
    c.lr = 3e-3f, c.weight_decay = 0.1f, c.clip = 0.5f, c.warmup = 2, c.total_steps = 10;
    const size_t n = table.total;
    std::vector<float> p = uniform(n, -1, 1, 71), m(n, 0.0f), v(n, 0.0f);
    Dev<float> d_p(p), d_g(n), d_m(m), d_v(v);
    Dev<__nv_bfloat16> d_pb(n);
    gpu::AdamWPlan plan = gpu::adamw_plan(table);
    for (int step = 0; step < 3; step++) {
        std::vector<float> g = uniform(n, -1, 1, 72 + step);
        d_g.upload(g);
        gpu::adamw_step(c, plan, d_p.p, d_pb.p, d_g.p, d_m.p, d_v.p, step, nullptr);
        const double norm = adamw_step(c, table, p.data(), g.data(), m.data(), v.data(), step);
        const std::string tag = " step " + std::to_string(step);
        CHECK(check_close("adamw grad norm" + tag, {(float)gpu::adamw_last_norm(plan)}, {(float)norm}, RTOL_FWD));
        CHECK(check_close("adamw params" + tag, d_p.back(), p, RTOL_FWD));
        CHECK(check_close("adamw m" + tag, d_m.back(), m, RTOL_FWD));
        CHECK(check_close("adamw v" + tag, d_v.back(), v, RTOL_FWD));
    }
    // The bf16 copy is the rounding of the fp32 master weights, for every updated tensor.
    const std::vector<float> pb = to_f32(d_pb.back()), pm = d_p.back();
    for (const char* name : {"matrix", "vector", "big"}) {
        const int k = table.find(name);
        const size_t o = table.offsets[k], len = (size_t)table.specs[k].numel();
        std::vector<float> got(pb.begin() + o, pb.begin() + o + len), want(pm.begin() + o, pm.begin() + o + len);
        CHECK(check_close(std::string("adamw bf16 copy of ") + name, got, rounded<__nv_bfloat16>(want), 0.0, 0.0));
    }
    // The untrained tensor: unchanged parameters, moments still 0.
    const int k = table.find("frozen");
    const size_t o = table.offsets[k];
    std::vector<float> p_now = d_p.back(), m_now = d_m.back();
    CHECK(std::equal(p_now.begin() + o, p_now.begin() + o + 7, p.begin() + o));
    CHECK(std::all_of(m_now.begin() + o, m_now.begin() + o + 7, [](float x) { return x == 0.0f; }));
    gpu::adamw_plan_free(plan);
}

// Buffers one element past an aligned start: the launcher takes the one-element (scalar) kernels.
TEST_CASE("cuda AdamW + clipping vs CPU, unaligned buffers (scalar path)") {
    TensorTable table;
    table.add("matrix", {37, 45}, true);
    table.add("big", {20001}, true);
    AdamWConfig c;
    c.lr = 3e-3f, c.weight_decay = 0.1f, c.clip = 0.5f, c.warmup = 2, c.total_steps = 10;
    const size_t n = table.total;
    std::vector<float> p = uniform(n, -1, 1, 81), m(n, 0.0f), v(n, 0.0f);
    auto shifted = [](const std::vector<float>& x) {  // one leading element, then x
        std::vector<float> r(x.size() + 1, 0.0f);
        std::copy(x.begin(), x.end(), r.begin() + 1);
        return r;
    };
    auto unshifted = [](const std::vector<float>& x) { return std::vector<float>(x.begin() + 1, x.end()); };
    Dev<float> d_p(shifted(p)), d_g(n + 1), d_m(shifted(m)), d_v(shifted(v));
    Dev<__nv_bfloat16> d_pb(n + 1);
    gpu::AdamWPlan plan = gpu::adamw_plan(table);
    for (int step = 0; step < 2; step++) {
        std::vector<float> g = uniform(n, -1, 1, 82 + step);
        d_g.upload(shifted(g));
        gpu::adamw_step(c, plan, d_p.p + 1, d_pb.p + 1, d_g.p + 1, d_m.p + 1, d_v.p + 1, step, nullptr);
        const double norm = adamw_step(c, table, p.data(), g.data(), m.data(), v.data(), step);
        const std::string tag = " unaligned step " + std::to_string(step);
        CHECK(check_close("adamw grad norm" + tag, {(float)gpu::adamw_last_norm(plan)}, {(float)norm}, RTOL_FWD));
        CHECK(check_close("adamw params" + tag, unshifted(d_p.back()), p, RTOL_FWD));
        CHECK(check_close("adamw m" + tag, unshifted(d_m.back()), m, RTOL_FWD));
        CHECK(check_close("adamw v" + tag, unshifted(d_v.back()), v, RTOL_FWD));
    }
    const std::vector<float> pb = unshifted(to_f32(d_pb.back()));
    for (const char* name : {"matrix", "big"}) {  // the tensors, not the alignment padding between them
        const int k = table.find(name);
        const size_t o = table.offsets[k], len = (size_t)table.specs[k].numel();
        std::vector<float> got(pb.begin() + o, pb.begin() + o + len), want(p.begin() + o, p.begin() + o + len);
        CHECK(check_close(std::string("adamw bf16 copy unaligned of ") + name, got, rounded<__nv_bfloat16>(want), 0.0, 0.0));
    }
    gpu::adamw_plan_free(plan);
}
