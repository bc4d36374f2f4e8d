# The CUDA backend's kernels (cuda/*.cu) and their tests (tests/cuda/*.cu), built for the simulator:
# every kernel file and test is compiled with g++ through sim.mk's $(BUILD)/sim/%.o rule (cuda/sim/sim.h
# force-included), linked with the simulator runtime (libsim.a) and the CPU backend (libengine.a) that
# the tests compare against. `make test` runs the binary under SIM_ORDER fwd, rev and rand, and rand
# with blocks on two OS threads (SIM_THREADS=2: blocks that race on one location would disagree).
# The nvcc build of the same sources for a real GPU is tests/gpu_check.sh (make gpu-check); its kernel
# objects (GPU_KERNEL_OBJ, with cuda/backend.cu and cuda/mamba_model.cu, the cuda backend) and GPU_LDLIBS are also what ./train
# and ./rerank are linked with (Makefile).

SIM_SEED        ?= 20261129
CUDA_KERNEL_SRC := $(wildcard cuda/*.cu)
CUDA_TEST_SRC   := $(wildcard tests/cuda/*.cu)
CUDA_SIM_OBJ    := $(patsubst %.cu,$(BUILD)/sim/%.o,$(CUDA_KERNEL_SRC) $(CUDA_TEST_SRC))

# (This fragment is read before sim.mk, so it finds the CUDA headers as sim.mk does.)
CUDA_TEST_INC   := $(or $(CUDA_HOME),$(if $(NVCC),$(patsubst %/bin/nvcc,%,$(realpath $(NVCC))),/usr/local/cuda))/include
ifneq ($(wildcard $(CUDA_TEST_INC)/cuda_bf16.h),)
$(BUILD)/test_cuda_sim: $(CUDA_SIM_OBJ) $(BUILD)/tests/main.o $(BUILD)/libsim.a $(BUILD)/libengine.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(SIM_LDLIBS)

TEST_BINS += $(BUILD)/test_cuda_sim
TEST_CMDS += 'SIM_ORDER=fwd $(BUILD)/test_cuda_sim' 'SIM_ORDER=rev $(BUILD)/test_cuda_sim' \
             'SIM_ORDER=rand SIM_SEED=$(SIM_SEED) $(BUILD)/test_cuda_sim' \
             'SIM_ORDER=rand SIM_SEED=$(SIM_SEED) SIM_THREADS=2 $(BUILD)/test_cuda_sim'
endif

# The kernel files and their tests include src/ headers (tensor.h, optim.h, cpu/layers.h).
$(BUILD)/nvcc/cuda/%.o $(BUILD)/nvcc/tests/cuda/%.o: NVCC_FLAGS += -Isrc

# The GPU binaries: the same kernel and test sources compiled by nvcc for sm_90 (the objects of sim.mk's
# nvcc-check), linked with g++ against cuBLAS, the CUDA runtime and the CPU backend. nvcc-check links
# them too, so that `make test` proves the GPU build links; they run only where there is a GPU
# (tests/gpu_check.sh, `make gpu-check`).
ifneq ($(NVCC),)
CUDA_LIBDIR    := $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))/lib64
GPU_KERNEL_OBJ := $(patsubst %.cu,$(BUILD)/nvcc/%.o,$(CUDA_KERNEL_SRC))
GPU_TEST_OBJ   := $(patsubst %.cu,$(BUILD)/nvcc/%.o,$(CUDA_TEST_SRC))
GPU_LDLIBS     := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublas -lcudart $(LDLIBS)

$(BUILD)/gpu/test_cuda_gpu: $(GPU_KERNEL_OBJ) $(GPU_TEST_OBJ) $(BUILD)/tests/main.o $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(GPU_LDLIBS)

$(BUILD)/gpu/bench_cuda: $(BUILD)/nvcc/cuda/bench/bench_cuda.o $(GPU_KERNEL_OBJ) $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(GPU_LDLIBS)

nvcc-check: $(BUILD)/gpu/test_cuda_gpu $(BUILD)/gpu/bench_cuda
endif

# The GPU check: builds the GPU binaries and runs the tests and the benchmarks on the GPU, one table.
gpu-check:
	tests/gpu_check.sh
.PHONY: gpu-check
