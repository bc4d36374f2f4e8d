# The CUDA backend's kernels (cuda/*.cu) and their tests (tests/cuda/*.cu), built for the simulator:
# every kernel file and test is compiled with g++ through sim.mk's $(BUILD)/sim/%.o rule (cuda/sim/sim.h
# force-included), linked with the simulator runtime (libsim.a) and the CPU backend (libengine.a) that
# the tests compare against. `make test` runs the binary under SIM_ORDER fwd, rev and rand.
# The nvcc build of the same sources for a real GPU is tests/gpu_check.sh (make gpu-check).

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
             'SIM_ORDER=rand SIM_SEED=$(SIM_SEED) $(BUILD)/test_cuda_sim'
endif

# The kernel files and their tests include src/ headers (tensor.h, optim.h, cpu/layers.h).
$(BUILD)/nvcc/cuda/%.o $(BUILD)/nvcc/tests/cuda/%.o: NVCC_FLAGS += -Isrc

# The GPU check: builds everything with nvcc for sm_90 and runs the tests and benchmarks on the GPU.
gpu-check:
	tests/gpu_check.sh
.PHONY: gpu-check
