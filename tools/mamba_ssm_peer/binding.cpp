// Torch operators over mamba_ssm's selective-scan CUDA kernels for tools/bench_mamba_ssm.py: the peer of
// cuda/scan.cu, built from the fetched sources in .peer/mamba_ssm/csrc/selective_scan (mamba-ssm
// 2.2.6.post3, Apache-2.0; tools/fetch_mamba_ssm.sh). This file is ours; theirs are only compiled.
//
// Why not their selective_scan.cpp: its dispatch names every input type (fp32, fp16, bf16) and both
// weight types (real, complex), and their selective_scan_fwd_<dtype>.cu files instantiate the complex
// forward beside the real one, so building it compiles every variant (5 block sizes x 16-32 flag
// combinations each). This binding serves only the benchmark's case and fills their parameter structs
// (selective_scan.h) the way their selective_scan_fwd / selective_scan_bwd do for it:
//   u, delta, z [B, D, L] (bf16 or fp32, contiguous), A [D, N] fp32 (real), B and C "variable"
//   [B, 1, N, L] (one group, the dtype of u), D and delta_bias [D] fp32, always present; z always
//   present (the SiLU gate); delta_softplus as given.
// The kernels are instantiated by the four peer_{fwd,bwd}_{bf16,fp32}.cu files, each for one block shape
// only, PEER_NTHREADS x PEER_NITEMS, the one their selective_scan_{fwd,bwd}_cuda picks for
// PEER_LEN_MIN <= L <= PEER_LEN_MAX (bench_mamba_ssm.py passes all four as -D flags); other lengths are
// refused here. Inside that block shape their launchers still compile both even/odd-length variants
// and every B/C/z/softplus combination.
//
// Returned, as their selective_scan_cuda.fwd / .bwd return them (so that timing covers what
// selective_scan_fn pays per call: these allocations, the zero fills and the dB/dC casts included):
//   fwd -> [out (pre-gate y), x (chunk states [B, D, n_chunks, 2N] fp32), out_z (gated output)]
//   bwd -> [du, ddelta, dA, dB, dC, dD, ddelta_bias, dz]; dA, dD, ddelta_bias fp32; dB, dC accumulated
//          in fp32 by atomics, then cast to the dtype of B and C.
// The entry points are registered as torch operators (TORCH_LIBRARY: torch.ops.mamba_ssm_peer.fwd and
// .bwd), not as a Python module: nothing here includes Python.h, so the build needs no Python headers,
// and ATen alone (not <torch/extension.h>, all of libtorch's C++ API) keeps this file off the build's
// critical path.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "selective_scan.h"

// Defined in their selective_scan_{fwd,bwd}_kernel.cuh, instantiated in peer_*.cu.
template <int kNThreads, int kNItems, typename input_t, typename weight_t>
void selective_scan_fwd_launch(SSMParamsBase& params, cudaStream_t stream);
template <int kNThreads, int kNItems, typename input_t, typename weight_t>
void selective_scan_bwd_launch(SSMParamsBwd& params, cudaStream_t stream);

namespace {

// Their forward keeps the state at the end of every 2048 steps in x (selective_scan.cpp: n_chunks).
constexpr int64_t PEER_X_CHUNK = 2048;

void check_input(const at::Tensor& t, const char* name, at::ScalarType dtype, std::initializer_list<int64_t> shape) {
    TORCH_CHECK(t.is_cuda(), name, " must be on the GPU");
    TORCH_CHECK(t.scalar_type() == dtype, name, " has dtype ", t.scalar_type(), ", expected ", dtype);
    TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), name, " has shape ", t.sizes(), ", expected ", at::IntArrayRef(shape));
    TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

struct Dims {
    int64_t batch, dim, len, dstate;
};

// Checks every input of the benchmark's case and returns its dimensions.
Dims check_inputs(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                  const at::Tensor& D, const at::Tensor& z, const at::Tensor& delta_bias) {
    TORCH_CHECK(u.dim() == 3, "u must be [B, D, L]");
    TORCH_CHECK(A.dim() == 2, "A must be [D, N]");
    const Dims d{u.size(0), u.size(1), u.size(2), A.size(1)};
    const auto it = u.scalar_type();
    TORCH_CHECK(it == at::kBFloat16 || it == at::kFloat, "u must be bf16 or fp32 (the only instantiated input types)");
    TORCH_CHECK(d.len >= PEER_LEN_MIN && d.len <= PEER_LEN_MAX, "L = ", d.len, ": this build has only the block shape ",
                PEER_NTHREADS, " x ", PEER_NITEMS, ", for ", PEER_LEN_MIN, " <= L <= ", PEER_LEN_MAX,
                " (tools/bench_mamba_ssm.py --len L builds the one for L)");
    TORCH_CHECK(d.dstate <= 256, "N must be <= 256 (their MAX_DSTATE)");
    check_input(u, "u", it, {d.batch, d.dim, d.len});
    check_input(delta, "delta", it, {d.batch, d.dim, d.len});
    check_input(z, "z", it, {d.batch, d.dim, d.len});
    check_input(A, "A", at::kFloat, {d.dim, d.dstate});
    check_input(B, "B", it, {d.batch, 1, d.dstate, d.len});
    check_input(C, "C", it, {d.batch, 1, d.dstate, d.len});
    check_input(D, "D", at::kFloat, {d.dim});
    check_input(delta_bias, "delta_bias", at::kFloat, {d.dim});
    return d;
}

// The fields both directions read. Strides are in elements; all tensors are contiguous.
void fill_forward_params(SSMParamsBase& p, const Dims& d, const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                         const at::Tensor& B, const at::Tensor& C, const at::Tensor& D, const at::Tensor& z,
                         const at::Tensor& delta_bias, const at::Tensor& out, void* out_z_ptr, const at::Tensor& x,
                         bool delta_softplus) {
    p.batch = (int)d.batch, p.dim = (int)d.dim, p.seqlen = (int)d.len, p.dstate = (int)d.dstate;
    p.n_groups = 1, p.dim_ngroups_ratio = (int)d.dim;  // every channel reads group 0 of B and C
    p.n_chunks = (int)((d.len + PEER_X_CHUNK - 1) / PEER_X_CHUNK);
    p.is_variable_B = p.is_variable_C = true;
    p.delta_softplus = delta_softplus;
    p.A_d_stride = A.stride(0), p.A_dstate_stride = A.stride(1);
    p.B_batch_stride = B.stride(0), p.B_group_stride = B.stride(1), p.B_dstate_stride = B.stride(2);
    p.C_batch_stride = C.stride(0), p.C_group_stride = C.stride(1), p.C_dstate_stride = C.stride(2);
    p.u_batch_stride = u.stride(0), p.u_d_stride = u.stride(1);
    p.delta_batch_stride = delta.stride(0), p.delta_d_stride = delta.stride(1);
    p.z_batch_stride = z.stride(0), p.z_d_stride = z.stride(1);
    p.out_batch_stride = out.stride(0), p.out_d_stride = out.stride(1);
    p.out_z_batch_stride = z.stride(0), p.out_z_d_stride = z.stride(1);  // out_z is shaped like z
    p.A_ptr = A.data_ptr(), p.B_ptr = B.data_ptr(), p.C_ptr = C.data_ptr(), p.D_ptr = D.data_ptr();
    p.u_ptr = u.data_ptr(), p.delta_ptr = delta.data_ptr(), p.delta_bias_ptr = delta_bias.data_ptr();
    p.z_ptr = z.data_ptr(), p.out_ptr = out.data_ptr(), p.out_z_ptr = out_z_ptr, p.x_ptr = x.data_ptr();
}

std::vector<at::Tensor> forward(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
                                const at::Tensor& C, const at::Tensor& D, const at::Tensor& z, const at::Tensor& delta_bias,
                                bool delta_softplus) {
    const Dims d = check_inputs(u, delta, A, B, C, D, z, delta_bias);
    at::Tensor out = at::empty_like(delta), out_z = at::empty_like(z);
    at::Tensor x = at::empty({d.batch, d.dim, (d.len + PEER_X_CHUNK - 1) / PEER_X_CHUNK, 2 * d.dstate},
                                u.options().dtype(at::kFloat));
    SSMParamsBase p{};
    fill_forward_params(p, d, u, delta, A, B, C, D, z, delta_bias, out, out_z.data_ptr(), x, delta_softplus);
    const at::cuda::CUDAGuard guard{u.device()};
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
    if (u.scalar_type() == at::kBFloat16)
        selective_scan_fwd_launch<PEER_NTHREADS, PEER_NITEMS, at::BFloat16, float>(p, stream);
    else
        selective_scan_fwd_launch<PEER_NTHREADS, PEER_NITEMS, float, float>(p, stream);
    return {out, x, out_z};
}

// out and x are forward's first two results; the gated output is not recomputed (their
// recompute_out_z = false, as selective_scan_fn's backward calls it).
std::vector<at::Tensor> backward(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
                                 const at::Tensor& C, const at::Tensor& D, const at::Tensor& z, const at::Tensor& delta_bias,
                                 const at::Tensor& dout, const at::Tensor& x, const at::Tensor& out, bool delta_softplus) {
    const Dims d = check_inputs(u, delta, A, B, C, D, z, delta_bias);
    check_input(dout, "dout", u.scalar_type(), {d.batch, d.dim, d.len});
    check_input(out, "out", u.scalar_type(), {d.batch, d.dim, d.len});
    check_input(x, "x", at::kFloat, {d.batch, d.dim, (d.len + PEER_X_CHUNK - 1) / PEER_X_CHUNK, 2 * d.dstate});
    at::Tensor du = at::empty_like(u), ddelta = at::empty_like(delta), dz = at::empty_like(z);
    at::Tensor dA = at::zeros_like(A), dD = at::zeros_like(D), ddelta_bias = at::zeros_like(delta_bias);
    at::Tensor dB = at::zeros_like(B, B.options().dtype(at::kFloat)), dC = at::zeros_like(C, C.options().dtype(at::kFloat));

    SSMParamsBwd p{};
    fill_forward_params(p, d, u, delta, A, B, C, D, z, delta_bias, out, nullptr, x, delta_softplus);
    p.dout_batch_stride = dout.stride(0), p.dout_d_stride = dout.stride(1);
    p.dA_d_stride = dA.stride(0), p.dA_dstate_stride = dA.stride(1);
    p.dB_batch_stride = dB.stride(0), p.dB_group_stride = dB.stride(1), p.dB_dstate_stride = dB.stride(2);
    p.dC_batch_stride = dC.stride(0), p.dC_group_stride = dC.stride(1), p.dC_dstate_stride = dC.stride(2);
    p.du_batch_stride = du.stride(0), p.du_d_stride = du.stride(1);
    p.ddelta_batch_stride = ddelta.stride(0), p.ddelta_d_stride = ddelta.stride(1);
    p.dz_batch_stride = dz.stride(0), p.dz_d_stride = dz.stride(1);
    p.dout_ptr = dout.data_ptr(), p.du_ptr = du.data_ptr(), p.ddelta_ptr = ddelta.data_ptr(), p.dz_ptr = dz.data_ptr();
    p.dA_ptr = dA.data_ptr(), p.dB_ptr = dB.data_ptr(), p.dC_ptr = dC.data_ptr();
    p.dD_ptr = dD.data_ptr(), p.ddelta_bias_ptr = ddelta_bias.data_ptr();

    const at::cuda::CUDAGuard guard{u.device()};
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
    if (u.scalar_type() == at::kBFloat16)
        selective_scan_bwd_launch<PEER_NTHREADS, PEER_NITEMS, at::BFloat16, float>(p, stream);
    else
        selective_scan_bwd_launch<PEER_NTHREADS, PEER_NITEMS, float, float>(p, stream);
    return {du, ddelta, dA, dB.to(B.scalar_type()), dC.to(C.scalar_type()), dD, ddelta_bias, dz};
}

}  // namespace

TORCH_LIBRARY(mamba_ssm_peer, m) {
    m.def("fwd", &forward);
    m.def("bwd", &backward);
}
