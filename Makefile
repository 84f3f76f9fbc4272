# biopp — build, test, data, bench.  `make help` lists the targets.
#
#   make              build build/biopp (with the CUDA backend when nvcc is found)
#   make CUDA=0       build without CUDA;  make CUDA=1  require it
#   make test         build and run the Criterion test suite (CPU)
#   make test-gpu     GPU tests (skip cleanly without a GPU)
#   make test-gpu-emu GPU tests on the emulated device (no GPU needed; docs/CUDA.md)
#   make test-slurm   biopp slurm against a real one-node Slurm (docs/CLUSTER.md)
#   make deps         install the Debian packages the build needs (as root)
#   make data         fetch/copy the datasets into $(DATA_DIR) with SHA-256 checks
#   make bench        benchmarks (see bench/README.md)

CC       ?= gcc
CUDA_HOME ?= /usr/local/cuda
NVCC     ?= $(or $(shell command -v nvcc 2>/dev/null),$(CUDA_HOME)/bin/nvcc)
BUILD    ?= build
DATA_DIR ?= data

# make test SAN=1: ASan+UBSan (no recovery) build of everything, in its own
# folder $(BUILD)/san; CPU only. See docs/RELIABILITY.md.
ifeq ($(SAN),1)
  override BUILD := $(BUILD)/san
  CUDA   ?= 0
  CFLAGS ?= -O1 -g
  CFLAGS += -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
  # Reports go to files, so that one from a binary a test expected to fail
  # is not lost; `test` fails when any exists.
  SAN_LOG := $(abspath $(BUILD))/sanlog
  export ASAN_OPTIONS := log_path=$(SAN_LOG)/asan:exitcode=86:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
  export LSAN_OPTIONS := suppressions=$(abspath tests/san/lsan.supp):print_suppressions=0
  export UBSAN_OPTIONS := log_path=$(SAN_LOG)/ubsan:print_stacktrace=1:halt_on_error=1
  SAN_CHECK = @if ls $(SAN_LOG)/* >/dev/null 2>&1; then cat $(SAN_LOG)/*; \
      echo "SAN=1: sanitizer reports in $(SAN_LOG)" >&2; exit 1; fi; echo "SAN=1: no sanitizer reports"
  SAN_CLEAN = @rm -rf $(SAN_LOG); mkdir -p $(SAN_LOG)
endif

ifeq ($(origin CUDA), undefined)
  CUDA := $(shell test -x "$(NVCC)" && echo 1 || echo 0)
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Iinclude -I. $(WARN) -MMD -MP -fno-fast-math
LDLIBS   := -lopenblas -linih -lcjson -lz -lmvec -lm -lpthread

LIB_SRC  := $(wildcard src/*.c src/backend/backend.c src/backend/cpu*.c src/rules/*.c src/data/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c) tests/helpers.c
GPU_TEST_SRC := $(wildcard tests/gpu/test_*.c)

ifeq ($(CUDA),1)
  CFLAGS   += -DBIOPP_CUDA=1 -I$(CUDA_HOME)/include
  CU_SRC   := $(wildcard kernels/*.cu)
  LIB_SRC  += src/backend/cuda.c
  NVFLAGS  := -O2 -std=c++17 -Iinclude -I. -Xcompiler -Wall \
              -gencode arch=compute_80,code=sm_80 \
              -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90
  LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcurand -lcudart -lstdc++
else
  LIB_SRC  += src/backend/cuda_unavailable.c
  CU_SRC   :=
endif
LIB_SRC := $(sort $(LIB_SRC))

# Objects of CUDA=0 and CUDA=1 builds live apart; the binaries relink when
# the mode changes (the mode file is rewritten only on a change).
OBJ      := $(BUILD)/obj$(CUDA)
MODE_FILE := $(BUILD)/.cuda-mode
$(shell mkdir -p $(BUILD); echo $(CUDA) | cmp -s - $(MODE_FILE) 2>/dev/null || echo $(CUDA) > $(MODE_FILE))

LIB_OBJ  := $(LIB_SRC:%.c=$(OBJ)/%.o) $(CU_SRC:%.cu=$(OBJ)/%.cu.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(OBJ)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(OBJ)/%.o)
GPU_TEST_OBJ := $(GPU_TEST_SRC:%.c=$(OBJ)/%.o)

.PHONY: all test test-gpu deps data bench clean help check train test-slurm
all: $(BUILD)/biopp

$(OBJ)/libbiopp.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/biopp: $(CLI_OBJ) $(OBJ)/libbiopp.a $(MODE_FILE)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(OBJ)/libbiopp.a $(LDLIBS)

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The commit biopp is built from (include/biopp/version.h), in a header that
# is rewritten only when `git describe --always --dirty` changes, so that a
# new commit recompiles src/version.c alone; "unknown" outside a git checkout.
VERSION_H := $(BUILD)/version_commit.h
$(VERSION_H): FORCE
	@mkdir -p $(@D)
	@c=$$( [ -e .git ] && git describe --always --dirty 2>/dev/null || echo unknown); \
	 printf '#define BIOPP_COMMIT "%s"\n' "$$c" > $@.tmp; \
	 if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(OBJ)/src/version.o: $(VERSION_H)
$(OBJ)/src/version.o: CFLAGS += -I$(BUILD)
.PHONY: FORCE
FORCE:

# The CPU backend's loops: vectorised (-O3), sqrtf without errno so Adam
# vectorises; libmvec supplies vector tanhf/expf. Still IEEE (no fast-math).
$(OBJ)/src/backend/cpu.o: CFLAGS += -O3 -fno-math-errno

$(OBJ)/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/test_biopp: $(TEST_OBJ) $(OBJ)/libbiopp.a $(MODE_FILE)
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(OBJ)/libbiopp.a $(LDLIBS) -lcriterion

$(BUILD)/test_gpu: $(GPU_TEST_OBJ) $(OBJ)/libbiopp.a $(MODE_FILE)
	$(CC) $(CFLAGS) -o $@ $(GPU_TEST_OBJ) $(OBJ)/libbiopp.a $(LDLIBS) -lcriterion

# Tests find MNIST in ../shared/data when present (our machines), else in $(DATA_DIR).
test: $(BUILD)/test_biopp $(BUILD)/biopp
	$(SAN_CLEAN)
	BIOPP_BIN=$(BUILD)/biopp $(BUILD)/test_biopp --jobs 2
	$(SAN_CHECK)

test-gpu: $(BUILD)/test_gpu $(BUILD)/biopp
	BIOPP_BIN=$(BUILD)/biopp $(BUILD)/test_gpu

deps:
	sh scripts/install-deps.sh

# The README's two commands: `make train` (deps, data, build, one quick run)
# and `make check` (deps, build with CUDA when nvcc exists, all CPU tests).
CONFIG ?= configs/quick/mnist_bp.ini
OUT    ?= runs/quick-bp
train: deps
	$(MAKE) data all DATASETS=mnist
	BIOPP_DATA_DIR=$(DATA_DIR) $(BUILD)/biopp train --config $(CONFIG) --out $(OUT) $(if $(wildcard $(OUT)/config.ini),--resume,)

# The GPU tests run first (they skip without a GPU) so that the CPU suite's
# summary closes the output.
check: deps
	$(MAKE) $(BUILD)/test_gpu $(BUILD)/test_biopp $(BUILD)/biopp
	BIOPP_BIN=$(BUILD)/biopp $(BUILD)/test_gpu
	$(MAKE) test-gpu-emu
	$(MAKE) test-slurm
	$(MAKE) test
	$(MAKE) test SAN=1
	$(MAKE) fuzz FUZZ_SECONDS=30
	$(MAKE) check-valgrind

DATASETS ?= mnist cifar-10 fashion-mnist kmnist
data:
	sh scripts/fetch-data.sh $(DATA_DIR) $(DATASETS)

$(BUILD)/bench_biopp: bench/bench.c $(OBJ)/libbiopp.a $(MODE_FILE)
	$(CC) $(CFLAGS) -o $@ bench/bench.c $(OBJ)/libbiopp.a $(LDLIBS)

bench: $(BUILD)/biopp $(BUILD)/bench_biopp
	sh bench/run.sh

# ---- the emulated CUDA device (tests/cuda_emu, docs/CUDA.md) ----------------
# The real src/backend/cuda.c and kernels/*.cu, compiled for the host against
# tests/cuda_emu/include (runtime, kernel model, cuBLAS), with ASan + UBSan;
# runs tests/gpu (against the CPU backend) and tests/cuda_emu (the emulator's
# own checks and the backend fixes it can provoke). Needs no GPU and no nvcc.
EMU       := $(BUILD)/emu
EMU_LEAKS ?= 1
EMU_SAN   ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
EMU_INC   := -Iinclude -I. -Itests/cuda_emu/include
EMU_CFLAGS := -O2 -g -std=c11 -D_GNU_SOURCE $(EMU_INC) $(WARN) -MMD -MP -fno-fast-math \
              -DBIOPP_CUDA=1 $(EMU_SAN)
EMU_CXXFLAGS := -O2 -g -std=c++17 $(EMU_INC) -Wall -Wextra -Wno-unused-parameter -MMD -MP \
                -fno-fast-math $(EMU_SAN)
EMU_C_SRC := $(sort $(wildcard src/*.c src/backend/backend.c src/backend/cpu*.c src/rules/*.c \
               src/data/*.c) src/backend/cuda.c) $(GPU_TEST_SRC) $(wildcard tests/cuda_emu/test_*.c)
EMU_OBJ   := $(EMU_C_SRC:%.c=$(EMU)/%.o) $(patsubst %.cu,$(EMU)/%.cu.o,$(wildcard kernels/*.cu)) \
             $(patsubst %.cpp,$(EMU)/%.o,$(wildcard tests/cuda_emu/*.cpp))

$(EMU)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(EMU_CFLAGS) -c -o $@ $<
$(EMU)/src/version.o: $(VERSION_H)
$(EMU)/src/version.o: EMU_CFLAGS += -I$(BUILD)
$(EMU)/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -c -o $@ $<
$(EMU)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<
$(EMU)/test_gpu_emu: $(EMU_OBJ)
	$(CXX) $(EMU_SAN) -o $@ $^ -lopenblas -linih -lcjson -lz -lpng -lmvec -lm -lpthread -lcriterion

.PHONY: test-gpu-emu
test-gpu-emu: $(EMU)/test_gpu_emu
	ASAN_OPTIONS=detect_leaks=$(EMU_LEAKS):abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(EMU)/test_gpu_emu --jobs 2 $(EMU_ARGS)

-include $(EMU_OBJ:.o=.d)

# ---- clusters (docs/CLUSTER.md) ----
# `biopp slurm --submit` against a real one-node Slurm on localhost: installs
# slurm-wlm and munge when missing (root), starts and stops its own daemons.
# About 1.5 minutes on 2 cores; skips only when Slurm cannot be installed.
test-slurm: $(BUILD)/biopp
	bash scripts/test-slurm.sh $(BUILD)/biopp

clean:
	rm -rf $(BUILD)

# One line per user-facing target (keep in step with the targets below).
help:
	@printf '%s\n' \
	  'make targets:' \
	  '  all (default)     build build/biopp (CUDA backend when nvcc is found; CUDA=0 / CUDA=1)' \
	  '  train             deps, data, build, then one quick run (CONFIG=..., OUT=...)' \
	  '  check             every check: GPU, emulated GPU, Slurm, CPU tests, SAN=1, fuzz, valgrind' \
	  '  test              build and run the CPU test suite (Criterion); SAN=1 for ASan+UBSan' \
	  '  test-gpu          GPU tests (skip cleanly without a GPU)' \
	  '  test-gpu-emu      GPU tests on the emulated device (no GPU needed; docs/CUDA.md)' \
	  '  test-slurm        biopp slurm against a real one-node Slurm (docs/CLUSTER.md)' \
	  '  check-valgrind    a short train and sweep under valgrind memcheck' \
	  '  fuzz              libFuzzer targets, FUZZ_SECONDS each (tests/fuzz/README.md)' \
	  '  fuzz-regress      replay the fuzz seeds and regressions only' \
	  '  deps              install the Debian packages the build needs (as root)' \
	  '  data              fetch the datasets into DATA_DIR with SHA-256 checks (DATASETS=...)' \
	  '  bench             benchmarks (bench/README.md)' \
	  '  clean             remove the build folder' \
	  '  help              this list'

# ---- make check-valgrind: short train and sweep under memcheck ------------
.PHONY: check-valgrind
check-valgrind:
	$(MAKE) CUDA=0 SAN=0 BUILD=$(BUILD)/valgrind $(BUILD)/valgrind/biopp
	sh scripts/valgrind-check.sh $(BUILD)/valgrind/biopp

# ---- Fuzzing (tests/fuzz/README.md) ----------------------------------------
# libFuzzer targets built with clang, ASan and UBSan, over the CPU library
# (own objects in $(BUILD)/fuzz). `make fuzz FUZZ_SECONDS=N` runs each target
# N seconds from its committed seeds (new inputs in $(BUILD)/fuzz/corpus);
# `make fuzz-regress` replays the seeds and tests/fuzz/regress only.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_JOBS    ?= 2
FUZZ         := $(BUILD)/fuzz
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Iinclude -I. -MMD -MP
FUZZ_LIB_SRC := $(sort $(wildcard src/*.c src/backend/backend.c src/backend/cpu*.c \
                src/rules/*.c src/data/*.c) src/backend/cuda_unavailable.c)
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ)/fuzz_%)
FUZZ_LDLIBS  := -lopenblas -linih -lcjson -lz -lmvec -lm -lpthread
FUZZ_ENV     := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(FUZZ)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ)/obj/src/version.o: $(VERSION_H)
$(FUZZ)/obj/src/version.o: FUZZ_FLAGS += -I$(BUILD)

$(FUZZ)/libbiopp.a: $(FUZZ_LIB_SRC:%.c=$(FUZZ)/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(FUZZ)/fuzz_%: $(FUZZ)/obj/tests/fuzz/fuzz_%.o $(FUZZ)/libbiopp.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDLIBS)

.PHONY: fuzz fuzz-build fuzz-regress
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ)/obj/tests/fuzz/fuzz_%.o)
fuzz-build: $(FUZZ_BINS)

# Each target's crashes land in $(FUZZ)/<name>-crash-*; the run fails on one.
fuzz: fuzz-build
	@$(MAKE) --no-print-directory -j$(FUZZ_JOBS) $(FUZZ_NAMES:%=fuzz-run-%)

fuzz-run-%: $(FUZZ)/fuzz_%
	@mkdir -p $(FUZZ)/corpus/$*
	$(FUZZ_ENV) $< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -max_len=16384 -print_final_stats=1 -artifact_prefix=$(FUZZ)/$*- \
	    $(FUZZ)/corpus/$* tests/fuzz/corpus/$* > $(FUZZ)/$*.log 2>&1 \
	    || { tail -60 $(FUZZ)/$*.log; exit 1; }
	@grep -h "stat::number_of_executed_units\|Done" $(FUZZ)/$*.log | tr '\n' ' ' | sed 's/^/fuzz $*: /'; echo

fuzz-regress: fuzz-build
	@for n in $(FUZZ_NAMES); do \
	    set -- tests/fuzz/corpus/$$n/* $$(ls -d tests/fuzz/regress/$$n/* 2>/dev/null); \
	    $(FUZZ_ENV) $(FUZZ)/fuzz_$$n -runs=0 "$$@" >$(FUZZ)/$$n-regress.log 2>&1 \
	        || { tail -40 $(FUZZ)/$$n-regress.log; exit 1; }; echo "fuzz-regress $$n: $$# inputs ok"; \
	done

-include $(wildcard $(FUZZ)/obj/*/*.d $(FUZZ)/obj/*/*/*.d $(FUZZ)/obj/*/*/*/*.d)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(GPU_TEST_OBJ:.o=.d)

# Tools for trained networks (biopp generate writes PNGs with libpng).
LDLIBS += -lpng
