// The cuBLAS matmul interface (cuda/matmul.cu) against cpu::matmul_* (src/cpu/matmul.cpp): column
// slices with leading dimensions, write and accumulate, dw +=, fp32 and bf16 (fp32 accumulation).
#include "cuda_test.h"

template <class T>
static void check_matmul(int M, int Nout, int Kin) {
    const std::string tag = std::string(type_name<T>()) + " " + std::to_string(M) + "x" + std::to_string(Nout) + "x" +
                            std::to_string(Kin);
    const int lda = Kin + 3, ldo = Nout + 5;  // slices of wider row-major tensors
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    std::vector<float> a = rounded<T>(uniform((size_t)M * lda, -1, 1, 21)), w = rounded<T>(uniform((size_t)Nout * Kin, -1, 1, 22));
    std::vector<float> out0 = rounded<T>(uniform((size_t)M * ldo, -1, 1, 23)), dout = rounded<T>(uniform((size_t)M * ldo, -1, 1, 24));
    std::vector<float> da0 = rounded<T>(uniform((size_t)M * lda, -1, 1, 25)), dw0 = uniform((size_t)Nout * Kin, -1, 1, 26);
    for (int acc = 0; acc < 2; acc++) {
        Dev<T> d_a(to_type<T>(a)), d_w(to_type<T>(w)), d_out(to_type<T>(out0)), d_dout(to_type<T>(dout)), d_da(to_type<T>(da0));
        Dev<float> d_dw(dw0);
        if (!acc) d_out.poison(), d_da.poison();  // written, not read: poison shows a read
        gpu::matmul_forward<T>(h, d_out.p, ldo, d_a.p, lda, d_w.p, M, Nout, Kin, acc);
        gpu::matmul_backward<T>(h, d_da.p, lda, d_dw.p, d_dout.p, ldo, d_a.p, lda, d_w.p, M, Nout, Kin, acc);
        std::vector<float> out = out0, da = da0, dw = dw0;
        cpu::matmul_forward(out.data(), ldo, a.data(), lda, w.data(), M, Nout, Kin, acc);
        cpu::matmul_backward(da.data(), lda, dw.data(), dout.data(), ldo, a.data(), lda, w.data(), M, Nout, Kin, acc);
        const std::string t2 = tag + (acc ? " +=" : " =");
        CHECK(check_close("matmul fwd out " + t2, columns(to_f32(d_out.back()), M, ldo, 0, Nout), columns(out, M, ldo, 0, Nout),
                          rtol_of<T>(RTOL_FWD)));
        CHECK(check_close("matmul bwd da " + t2, columns(to_f32(d_da.back()), M, lda, 0, Kin), columns(da, M, lda, 0, Kin),
                          rtol_of<T>(RTOL_GRAD)));
        CHECK(check_close("matmul bwd dw " + t2, d_dw.back(), dw, RTOL_GRAD));
    }
    CUBLAS_CHECK(cublasDestroy(h));
}

TEST_CASE("cuda matmul (cuBLAS) forward/backward vs CPU, fp32 and bf16") {
    check_matmul<float>(338, 37, 45);
    check_matmul<__nv_bfloat16>(338, 37, 45);
}
