// mamba_ssm's selective-scan backward for bf16 inputs and real fp32 weights, at the one block shape
// PEER_NTHREADS x PEER_NITEMS that tools/bench_mamba_ssm.py passes (see binding.cpp). One file per
// direction and input type, so that the four compile in parallel.
#include "selective_scan_bwd_kernel.cuh"

template void selective_scan_bwd_launch<PEER_NTHREADS, PEER_NITEMS, at::BFloat16, float>(SSMParamsBwd& params, cudaStream_t stream);
