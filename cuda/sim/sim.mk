# The CUDA simulator (cuda/sim): its runtime library, its test binary run under the three thread
# orders, and the nvcc compile check of every .cu file of the project (when nvcc exists).
#
# A simulator build compiles a .cu file with g++ as C++, with cuda/sim/sim.h force-included and the CUB
# shim (cuda/sim/shim) ahead of the CUDA headers; the CUDA headers themselves (cuda_runtime.h,
# cuda_bf16.h, ...) come from the toolkit. Other fragments reuse SIM_CXXFLAGS, the $(BUILD)/sim/%.o
# rule and $(BUILD)/libsim.a to run their own kernels in the simulator.

CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(realpath $(NVCC))),/usr/local/cuda)
SIM_CUDA_INC := $(CUDA_HOME)/include
SIM_CXXFLAGS := -Icuda -Icuda/sim/shim -isystem $(SIM_CUDA_INC)
SIM_LDLIBS   := -rdynamic -lboost_context $(LDLIBS)
SIM_RUN      := $(patsubst %.cpp,$(BUILD)/sim/%.o,$(wildcard cuda/sim/*.cpp))
SIM_TEST_OBJ := $(patsubst %.cu,$(BUILD)/sim/%.o,$(wildcard tests/sim/*.cu))
SIM_SEED     ?= 20261129

ifneq ($(wildcard $(SIM_CUDA_INC)/cuda_bf16.h),)

$(BUILD)/sim/%.o: %.cu $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(SIM_CXXFLAGS) -x c++ -include cuda/sim/sim.h -c $< -o $@

$(BUILD)/sim/%.o: %.cpp $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(SIM_CXXFLAGS) -c $< -o $@

$(BUILD)/libsim.a: $(SIM_RUN)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/test_sim: $(SIM_TEST_OBJ) $(BUILD)/tests/main.o $(BUILD)/libsim.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(SIM_LDLIBS)

TEST_BINS += $(BUILD)/test_sim
TEST_CMDS += 'SIM_ORDER=fwd $(BUILD)/test_sim' 'SIM_ORDER=rev $(BUILD)/test_sim' \
             'SIM_ORDER=rand SIM_SEED=$(SIM_SEED) $(BUILD)/test_sim' \
             'SIM_ORDER=rand SIM_SEED=$(SIM_SEED) SIM_THREADS=2 $(BUILD)/test_sim'
else
$(warning the CUDA headers ($(SIM_CUDA_INC)/cuda_bf16.h) are missing: the CUDA simulator tests are skipped)
endif

# ---- nvcc compile check: every .cu of the project, as the GPU build would compile it -----------------
# Run by `make test` as one test (a failure is a failed test); objects are kept, so only changed files
# are recompiled.
ifneq ($(NVCC),)
NVCC_STD    := $(if $(shell $(NVCC) --help 2>/dev/null | grep -F "'c++20'"),c++20,c++17)
NVCC_FLAGS  := -arch=sm_90 -std=$(NVCC_STD) -O2 -Werror all-warnings -Xcompiler -Wall,-Werror -Icuda -MMD
NVCC_CHECK  := $(patsubst %.cu,$(BUILD)/nvcc/%.o,$(shell find cuda tests -name '*.cu' 2>/dev/null))

$(BUILD)/nvcc/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

nvcc-check: $(NVCC_CHECK)
	@echo "nvcc -arch=sm_90 -std=$(NVCC_STD) compiled $(words $(NVCC_CHECK)) .cu files"

TEST_CMDS += 'MAKEFLAGS= $(MAKE) --no-print-directory -j2 nvcc-check'
.PHONY: nvcc-check
endif
