# The one build of the engine. `make` builds the programs, `make test` runs every test and ends with
# "N passed, M failed", `make train` is the main job, `make bench` the benchmarks, `make data` the
# demo collection. CUDA parts are built only when nvcc is on the PATH; the CPU build never needs it.

CXX      ?= g++
CXXFLAGS ?= -O3 -march=native
# OpenBLAS built for OpenMP, so that BLAS and the engine's own loops share one thread pool (the pthread
# build and OpenMP spin against each other on 2 cores).
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
CXXFLAGS += -std=c++20 -fopenmp -Wall -Wextra -Wno-unused-parameter -MMD -MP -Isrc \
            -I/usr/include/x86_64-linux-gnu/openblas-openmp
LDLIBS   += -fopenmp -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lz -lutf8proc
BUILD    := build
NVCC     := $(shell command -v nvcc 2>/dev/null)

# ---- Debian dependencies: checked before anything is compiled ------------------------------------
# A header that proves the package is there, and the package that provides it.
DEPS := /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:libopenblas-openmp-dev \
        /usr/include/doctest/doctest.h:doctest-dev \
        /usr/include/nlohmann/json.hpp:nlohmann-json3-dev \
        /usr/include/utf8proc.h:libutf8proc-dev \
        /usr/include/boost/context/fiber.hpp:libboost-context-dev \
        /usr/include/zlib.h:zlib1g-dev
MISSING := $(strip $(foreach d,$(DEPS),$(if $(wildcard $(word 1,$(subst :, ,$(d)))),,$(word 2,$(subst :, ,$(d))))))

$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	@if [ -n "$(MISSING)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $(MISSING)"; \
	    (apt-get install -y --no-install-recommends $(MISSING) || \
	     (apt-get update && apt-get install -y --no-install-recommends $(MISSING))) >$(BUILD)/apt.log 2>&1 || \
	     { echo "error: apt-get install $(MISSING) failed, see $(BUILD)/apt.log"; exit 1; }; \
	  else \
	    echo "error: missing Debian packages; run: sudo apt-get install -y $(MISSING)"; exit 1; \
	  fi; \
	fi
	@touch $@

# The Debian packages that are missing here (empty when none): tests/gpu_check.sh asks before building.
deps-missing:
	@echo $(MISSING)
.PHONY: deps-missing

# ---- Library, programs, tests -----------------------------------------------------------------------
# Every src/<part>/**/*.cpp is part of the engine library except the programs (src/programs/*_main.cpp),
# which become build/bin/<name>, and the CUDA stand-in (src/backend/cuda_none.cpp); the two user-facing
# programs, rerank and train, are also linked at the top (./rerank, ./train) by `make` (./train is a
# link, not a target: `make train` is the main job). Test-support code (tests/support/) is linked into
# the tests and the tokenize program only.
LIB_SRC   := $(filter-out src/programs/% src/backend/cuda_none.cpp,$(wildcard src/*/*.cpp src/*/*/*.cpp))
LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/%.o)
PROGRAMS  := $(patsubst src/programs/%_main.cpp,$(BUILD)/bin/%,$(wildcard src/programs/*_main.cpp))
TOP       := $(filter rerank train,$(notdir $(PROGRAMS)))
SUPPORT_OBJ := $(patsubst %.cpp,$(BUILD)/%.o,$(wildcard tests/support/*.cpp))
TEST_SRC  := $(wildcard tests/test_*.cpp) tests/main.cpp
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/%.o) $(SUPPORT_OBJ)

# Commands run by `make test`, each a shell command line; fragments append to it. The runner sums the
# doctest counts (or counts exit status for commands that are not doctest binaries).
TEST_CMDS := '$(BUILD)/test_engine'
TEST_BINS := $(BUILD)/test_engine
BENCH_CMDS :=

.DEFAULT_GOAL := all
all: $(PROGRAMS)
	@for p in $(TOP); do ln -sf $(BUILD)/bin/$$p $$p; done

$(BUILD)/%.o: %.cpp $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/libengine.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/src/programs/%_main.o $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# The tokenize program reads the tokenizer's reference files through the tests' support code.
$(BUILD)/src/programs/tokenize_main.o: CXXFLAGS += -Itests
$(BUILD)/bin/tokenize: $(BUILD)/src/programs/tokenize_main.o $(SUPPORT_OBJ) $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# The CPU tests run without the CUDA backend (src/backend/cuda_none.cpp); the simulator binary has it.
$(BUILD)/test_engine: $(TEST_OBJ) $(BUILD)/src/backend/cuda_none.o $(BUILD)/libengine.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# Fragments owned by parts of the engine (the simulator, the CUDA backend, the data builder).
include $(wildcard src/*/*.mk cuda/*.mk cuda/sim/*.mk)

# ./train and ./rerank run on the CPU or on the GPU (--device). With nvcc on the PATH they are linked
# with the cuda backend: cuda/*.cu compiled by nvcc for sm_90 (cuda.mk's GPU objects, shared with
# nvcc-check) and cuBLAS and the CUDA runtime, found through an rpath; they still run on a machine
# without a GPU (--device auto then takes the CPU). Without nvcc, src/backend/cuda_none.cpp stands in and
# --device cuda says that the build has no CUDA backend.
ifneq ($(NVCC),)
BACKEND_OBJ    := $(GPU_KERNEL_OBJ)
BACKEND_LDLIBS := $(GPU_LDLIBS)
else
BACKEND_OBJ    := $(BUILD)/src/backend/cuda_none.o
BACKEND_LDLIBS := $(LDLIBS)
endif
$(BUILD)/bin/train $(BUILD)/bin/rerank: $(BUILD)/bin/%: $(BUILD)/src/programs/%_main.o $(BACKEND_OBJ) $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $^ -o $@ $(BACKEND_LDLIBS)

test: $(TEST_BINS) all
	@tests/run_tests.sh $(TEST_CMDS)

bench: all
	@tests/run_bench.sh $(BENCH_CMDS)

# The demo: a small Mamba-1 reranker with the exact-match feature, trained from scratch on the CPU.
DEMO_FLAGS := --d-model 128 --layers 3 --d-state 16 --max-len 128 --group 8 --batch 8 --steps 4200 \
              --lr 2e-3 --beta2 0.95 --match 1 --eval-every 2100 --eval-queries 500 --eval-depth 30 --seed 1
train: all data
	./train $(DEMO_FLAGS) --out weights/demo-mamba.bin

clean:
	rm -rf $(BUILD) $(TOP)

.PHONY: all test bench train clean data
.DELETE_ON_ERROR:
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- Benchmarks --------------------------------------------------------------------------------------
# The CPU reranker against PyTorch on the same weights (needs torch + transformers from PyPI).
BENCH_CMDS += 'python3 tools/bench_torch.py --threads $(shell nproc)'
bench: $(BUILD)/bin/bench
TEST_CMDS += 'tests/test_e2e.sh'
