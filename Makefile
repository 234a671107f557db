# wirematch build.  `make help` lists the targets.
#
# Build variants live side by side under build/<variant>/:
#   release  -O2 -march=x86-64-v3 (the data plane's flavour, the default)
#   asan     ASan + UBSan, -O1 -g
#   tsan     ThreadSanitizer, -O1 -g
#   portable -O2 -march=x86-64 (no AVX2), and
#   aarch64  cross-compiled with $(AARCH64_CC): the matcher library only
#            (`make matcher-lib VARIANT=portable`, see "The matcher library")
# Each holds libwirematch.so, the cffi extension (python/), the C unit tests
# (tests/) and the benchmark programs (bench/).  Python picks the variant
# named by WIREMATCH_BUILD (default release).

SHELL      := /bin/bash
# The project virtualenv `make deps` creates (tools/deps.sh); python3 before it exists.
VENV_PY    := .venv/bin/python
PYTHON     ?= $(if $(wildcard $(VENV_PY)),$(VENV_PY),python3)
VARIANT    ?= release
BUILD      := build/$(VARIANT)
CC         ?= gcc
AARCH64_CC ?= aarch64-linux-gnu-gcc
AARCH64_AR ?= aarch64-linux-gnu-ar
BENCH      ?=

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE_CFLAGS:= -std=gnu11 -fPIC -pthread $(WARN) -Inative/include -Inative -D_GNU_SOURCE
ifeq ($(VARIANT),release)
  OPT      := -O2 -march=x86-64-v3 -g
else ifeq ($(VARIANT),asan)
  OPT      := -O1 -g -march=x86-64-v3 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(VARIANT),tsan)
  OPT      := -O1 -g -march=x86-64-v3 -fsanitize=thread
else ifeq ($(VARIANT),portable)
  OPT      := -O2 -march=x86-64 -mtune=generic -g
else ifeq ($(VARIANT),aarch64)
  OPT      := -O2 -g
  CC       := $(AARCH64_CC)
  AR       := $(AARCH64_AR)
else
  $(error unknown VARIANT=$(VARIANT): use release, asan, tsan, portable or aarch64)
endif
CFLAGS_ALL := $(BASE_CFLAGS) $(OPT) $(EXTRA_CFLAGS)
LDLIBS     := -luring -lxdp -lbpf -lpthread -lm

# Library sources: every .c below native/ except tests, fuzzers, BPF programs
# and the DPDK plugin (native/nic/dpdk, see below).
LIB_SRCS   := $(shell find native -name '*.c' -not -path 'native/tests/*' -not -path 'native/fuzz/*' -not -path 'native/bpf/*' -not -path 'native/nic/dpdk/*' | sort)
LIB_HDRS   := $(shell find native -name '*.h' | sort)
LIB_OBJS   := $(patsubst native/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB        := $(BUILD)/libwirematch.so

# ---- The matcher library ------------------------------------------------------
# libwirematch_matcher.so / .a: the matching engine (native/matcher) and the
# object pool it is built on (native/pool), nothing else: it needs libc only
# (no liburing, libxdp, libbpf or DPDK), exports only wm_matcher_* (the .so's
# version script), and its public headers are wirematch/matcher.h and
# wirematch/common.h.  libwirematch.so is linked with the archive whole
# (--whole-archive), so the appliance runs the same objects an integrator
# links, and stays one shared object with no second library to find at run
# time.  `make matcher-lib` builds the library and the programs that use it
# alone (the matcher's C test, the example); VARIANT=portable builds them for
# plain x86-64 (no AVX2), VARIANT=aarch64 with $(AARCH64_CC).
# `make install-matcher PREFIX=... [DESTDIR=...]` installs the library, its
# headers and wirematch-matcher.pc (pkg-config).
MATCHER_SRCS   := native/matcher/matcher.c native/pool/pool.c
MATCHER_OBJS   := $(patsubst native/%.c,$(BUILD)/obj/%.o,$(MATCHER_SRCS))
MATCHER_HDRS   := native/include/wirematch/common.h native/include/wirematch/matcher.h
MATCHER_SONAME := libwirematch_matcher.so.0
MATCHER_SO_REAL:= $(BUILD)/$(MATCHER_SONAME)
MATCHER_SO     := $(BUILD)/libwirematch_matcher.so
MATCHER_A      := $(BUILD)/libwirematch_matcher.a
MATCHER_MAP    := native/matcher/libwirematch_matcher.map
MATCHER_BINS   := $(BUILD)/tests/test_matcher $(BUILD)/examples/matcher_embed
# The portable build's matcher benchmark (`make bench BENCH=matcher` runs it
# beside the default build's): the same program, linked to the archive.
ifeq ($(VARIANT),portable)
  MATCHER_BINS += $(BUILD)/bench/matcher_bench
endif
WM_VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
PREFIX         ?= /usr/local
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include

.PHONY: matcher-lib install-matcher
matcher-lib: $(MATCHER_SO) $(MATCHER_A) $(MATCHER_BINS)
native: $(MATCHER_SO) $(MATCHER_A) $(BUILD)/examples/matcher_embed

$(MATCHER_A): $(MATCHER_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(MATCHER_SO_REAL): $(MATCHER_OBJS) $(MATCHER_MAP)
	$(CC) $(CFLAGS_ALL) -shared -Wl,-soname,$(MATCHER_SONAME) -Wl,--version-script,$(MATCHER_MAP) -o $@ $(MATCHER_OBJS)

$(MATCHER_SO): $(MATCHER_SO_REAL)
	ln -sfn $(MATCHER_SONAME) $@

# The matcher's C test links the matcher library alone (it proves the
# library is self-sufficient, in every variant).
$(BUILD)/tests/test_matcher: native/tests/test_matcher.c native/tests/check.h $(MATCHER_SO) $(MATCHER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(BUILD) -lwirematch_matcher -Wl,-rpath,'$$ORIGIN/..'

# The embedding example (examples/matcher_embed.c), built like an integrator's
# program: the public header and the matcher library only.
$(BUILD)/examples/matcher_embed: examples/matcher_embed.c $(MATCHER_SO) $(MATCHER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(BUILD) -lwirematch_matcher -Wl,-rpath,'$$ORIGIN/..'

ifeq ($(VARIANT),portable)
$(BUILD)/bench/matcher_bench: tools/bench/matcher_bench.c $(MATCHER_A) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(MATCHER_A) -lm
endif

install-matcher: $(MATCHER_SO) $(MATCHER_A)
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/wirematch
	install -m 0755 $(MATCHER_SO_REAL) $(DESTDIR)$(LIBDIR)/$(MATCHER_SONAME)
	ln -sfn $(MATCHER_SONAME) $(DESTDIR)$(LIBDIR)/libwirematch_matcher.so
	install -m 0644 $(MATCHER_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(MATCHER_HDRS) $(DESTDIR)$(INCLUDEDIR)/wirematch/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: wirematch-matcher' \
	  'Description: wirematch price-time matching engine (embedded, libc only)' \
	  'Version: $(WM_VERSION)' \
	  'Libs: -L$${libdir} -lwirematch_matcher' \
	  'Cflags: -I$${includedir}' > $(DESTDIR)$(LIBDIR)/pkgconfig/wirematch-matcher.pc
# ---- end of the matcher library -----------------------------------------------

# C unit tests: native/tests/test_*.c, one program each, linked to the library.
TEST_SRCS  := $(wildcard native/tests/test_*.c)
TEST_BINS  := $(patsubst native/tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

# Benchmark programs: tools/bench/*.c, linked to the library and, when
# pkg-config finds it, to DPDK (the peer for the ring benchmark).  Debian's
# libdpdk.pc adds -march=corei7, so our own -march comes after it.
BENCH_SRCS := $(wildcard tools/bench/*.c)
BENCH_BINS := $(patsubst tools/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
DPDK_CFLAGS:= $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS  := $(shell pkg-config --libs libdpdk 2>/dev/null)
ifneq ($(DPDK_LIBS),)
  BENCH_DPDK := -DWM_HAVE_DPDK $(DPDK_CFLAGS)
endif

# The matcher benchmark's peer: Liquibook's order book, header-only C++,
# from the PyPI package `liquibook` (a dev extra: `make deps` installs it in
# the virtualenv; the headers sit at site-packages/include/liquibook).  Its
# driver is built only where the headers are found; bench_matcher.py
# refuses to run without it and says why.
CXX        ?= g++
LIQUIBOOK_INC := $(shell $(PYTHON) -c 'import importlib.metadata as m; f = [p for p in m.distribution("liquibook").files if str(p).endswith("liquibook/book/order_book.h")]; print(f[0].locate().resolve().parents[2])' 2>/dev/null)
ifneq ($(LIQUIBOOK_INC),)
  LIQUIBOOK_BENCH := $(BUILD)/bench/liquibook_bench
endif

# The XDP program (native/bpf), compiled for BPF and embedded in the library
# by nic_xdp.c (.incbin of this object).
BPF_CC     ?= clang
BPF_OBJ    := $(BUILD)/bpf/wm_xdp.o
$(BUILD)/obj/nic/nic_xdp.o: $(BPF_OBJ)
$(BUILD)/obj/nic/nic_xdp.o: CFLAGS_ALL += -DWM_XDP_OBJ_PATH='"$(abspath $(BPF_OBJ))"'

# The DPDK backend: a plugin libwirematch loads on the first "dpdk" open
# (dlopen), so that the library and its users do not load DPDK otherwise.
DPDK_PLUGIN:= $(BUILD)/libwirematch_dpdk.so
ifneq ($(DPDK_LIBS),)
  PLUGINS  := $(DPDK_PLUGIN)
  $(BUILD)/obj/nic/nic_dpdk.o: CFLAGS_ALL += -DWM_HAVE_DPDK
endif

# What a build depends on besides its sources and the Makefile: whether
# pkg-config found DPDK, and EXTRA_CFLAGS.  The stamp is rewritten only when
# that changes, and the objects depend on it, so a tree built before
# libdpdk-dev was installed is rebuilt with the DPDK backend instead of
# keeping objects compiled without it.
CONFIG_STAMP := $(BUILD)/config.stamp
export WM_CONFIG_LINE := dpdk=$(if $(DPDK_LIBS),yes,no) extra=$(EXTRA_CFLAGS)
$(CONFIG_STAMP): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' "$$WM_CONFIG_LINE" | cmp -s - $@ || printf '%s\n' "$$WM_CONFIG_LINE" > $@
FORCE:

# The load generator (tools/loadgen/*.c), with AF_XDP transmit through libxdp.
LOADGEN_SRCS := $(wildcard tools/loadgen/*.c)
LOADGEN_HDRS := $(wildcard tools/loadgen/*.h)
LOADGEN      := $(BUILD)/tools/loadgen
# The capture replayer (tools/replay/*.c; docs/replay.md).
REPLAYER     := $(BUILD)/tools/wm_replay

PYEXT_STAMP:= $(BUILD)/python/.built

.PHONY: FORCE all help deps build native runtime python-ext test test-c asan tsan lint run bench clean fuzz fuzz-campaign

all: build

help:
	@echo "make deps     install apt packages and the Python package (idempotent)"
	@echo "make build    native library, cffi extension, C tests, benchmarks (VARIANT=release|asan|tsan)"
	@echo "make test     deps + build + the whole test suite (the CI command)"
	@echo "make run      deps + build + the demo run (see README)"
	@echo "make bench    every benchmark; BENCH=ring runs one; results in bench-results/"
	@echo "make asan     ASan+UBSan build, then the test suite against it"
	@echo "make tsan     TSan build, then the C unit and stress tests against it"
	@echo "make lint     ruff, and the C sources with warnings as errors"
	@echo "make fuzz     build the libFuzzer targets (native/fuzz) and run each FUZZ_SECONDS (60)"
	@echo "make fuzz-campaign  each target for FUZZ_RUNS (1e8) or FUZZ_CAMPAIGN_SECONDS, corpus merged back, summary table"
	@echo "make clean    remove build/ and bench-results/"
	@echo "make matcher-lib       the matcher alone: libwirematch_matcher.so/.a and its C test (VARIANT=portable: no AVX2)"
	@echo "make install-matcher   install it, its headers and wirematch-matcher.pc (PREFIX, DESTDIR)"

deps:
	@bash tools/deps.sh

build: native python-ext

native: $(LIB) $(PLUGINS) $(TEST_BINS) $(BENCH_BINS) $(LIQUIBOOK_BENCH) $(LOADGEN) $(REPLAYER)

# What the installed package carries (setup.py copies it into wirematch/_native).
runtime: $(LIB) $(PLUGINS) $(LOADGEN) $(REPLAYER) python-ext

$(BPF_OBJ): native/bpf/wm_xdp.bpf.c native/bpf/wm_xdp_maps.h Makefile
	@mkdir -p $(dir $@)
	$(BPF_CC) -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Wall -Werror -c $< -o $@

$(DPDK_PLUGIN): $(wildcard native/nic/dpdk/*.c) $(LIB) $(LIB_HDRS) $(CONFIG_STAMP)
	$(CC) -DWM_HAVE_DPDK $(DPDK_CFLAGS) $(CFLAGS_ALL) -shared -o $@ $(filter %.c,$^) -L$(BUILD) -lwirematch -Wl,-rpath,'$$ORIGIN' $(DPDK_LIBS) -lpthread

$(BUILD)/obj/%.o: native/%.c $(LIB_HDRS) Makefile $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# The matcher's objects come from the matcher library's archive (below).
$(LIB): $(filter-out $(MATCHER_OBJS),$(LIB_OBJS)) $(MATCHER_A)
	$(CC) $(CFLAGS_ALL) -shared -o $@ $(filter-out $(MATCHER_A),$^) -Wl,--whole-archive $(MATCHER_A) -Wl,--no-whole-archive $(LDLIBS)

$(BUILD)/tests/%: native/tests/%.c $(LIB) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(BUILD) -lwirematch -Wl,-rpath,'$$ORIGIN/..' $(LDLIBS)

$(BUILD)/bench/%: tools/bench/%.c $(LIB) $(LIB_HDRS) $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_DPDK) $(CFLAGS_ALL) -o $@ $< -L$(BUILD) -lwirematch -Wl,-rpath,'$$ORIGIN/..' $(DPDK_LIBS) $(LDLIBS)

$(BUILD)/bench/matcher_bench: tools/bench/matcher_stream.h

# Liquibook's headers are third-party: -isystem keeps their warnings out of -Werror.
$(BUILD)/bench/liquibook_bench: tools/bench/liquibook_bench.cpp tools/bench/matcher_stream.h Makefile
	@mkdir -p $(@D)
	$(CXX) -std=c++17 $(OPT) -Wall -Wextra -Werror -isystem $(LIQUIBOOK_INC) -o $@ $<

$(LOADGEN): $(LOADGEN_SRCS) $(LOADGEN_HDRS) $(LIB) $(LIB_HDRS) $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itools/loadgen -o $@ $(LOADGEN_SRCS) -L$(BUILD) -lwirematch -Wl,-rpath,'$$ORIGIN/..' -lxdp -lbpf $(LDLIBS)

$(REPLAYER): $(wildcard tools/replay/*.c) $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c,$^) -lm

python-ext: $(PYEXT_STAMP)

$(PYEXT_STAMP): $(LIB) $(LIB_HDRS) native/build_ffi.py
	$(PYTHON) native/build_ffi.py --variant $(VARIANT) --cflags "$(OPT)"
	@touch $@

test: deps
	@$(MAKE) --no-print-directory build
	$(PYTHON) -m pytest -q tests

test-c: build
	WIREMATCH_BUILD=$(VARIANT) $(PYTHON) -m pytest -q tests/test_native_units.py

# The sanitizer builds run the suite in the same process as CPython, so the
# runtime is preloaded; leak checking is off because CPython itself keeps
# memory until exit.
ASAN_RT := $(shell $(CC) -print-file-name=libasan.so)
UBSAN_RT:= $(shell $(CC) -print-file-name=libubsan.so)
asan:
	@$(MAKE) --no-print-directory build VARIANT=asan
	WIREMATCH_BUILD=asan LD_PRELOAD="$(ASAN_RT) $(UBSAN_RT)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests -m "not no_sanitizer"

tsan:
	@$(MAKE) --no-print-directory build VARIANT=tsan
	WIREMATCH_BUILD=tsan TSAN_OPTIONS=halt_on_error=1 $(PYTHON) -m pytest -q -p no:cacheprovider tests/test_native_units.py

PY_DIRS := wirematch pipeline nic classify replay tests tools native examples setup.py
lint:
	$(PYTHON) -m ruff check $(PY_DIRS)
	$(PYTHON) -m ruff format --check $(PY_DIRS)
	@$(MAKE) --no-print-directory -B native VARIANT=release >/dev/null

run: deps
	@$(MAKE) --no-print-directory build
	$(PYTHON) -m wirematch demo

bench: deps
	@$(MAKE) --no-print-directory build
	$(PYTHON) -m tools.bench.run $(BENCH)

# libFuzzer targets: native/fuzz/<target>.c, built with clang against the
# codec sources (ASan + UBSan), each run for FUZZ_SECONDS over a scratch
# corpus seeded from the saved one in native/fuzz/corpus/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_CC    ?= clang
FUZZ_SRCS  := $(wildcard native/fuzz/*.c)
FUZZ_BINS  := $(patsubst native/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB   := $(wildcard native/codec/*.c native/matcher/*.c native/pool/*.c) native/app/frame.c native/journal/crc32c.c native/journal/journal_reader.c
FUZZ_FLAGS := -std=gnu11 -g -O1 -march=x86-64-v3 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Inative/include -Inative -D_GNU_SOURCE

# The library part is compiled once into objects every target links (the
# sanitizer and coverage flags are the same), not once per target.
FUZZ_OBJS  := $(patsubst native/%.c,build/fuzz/obj/%.o,$(FUZZ_LIB))
.SECONDARY: $(FUZZ_OBJS)

build/fuzz/obj/%.o: native/%.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c -o $@ $<

build/fuzz/%: native/fuzz/%.c $(FUZZ_OBJS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_OBJS)

fuzz: $(FUZZ_BINS)
	@set -e; for bin in $(FUZZ_BINS); do t=$$(basename $$bin); \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus/$$t native/fuzz/corpus/$$t; \
	done

# The long run (docs/fuzzing.md): each target (FUZZ_TARGETS, default all)
# for FUZZ_RUNS executions or FUZZ_CAMPAIGN_SECONDS, whichever ends first;
# the saved corpus merged and minimised; a summary table on stdout and in
# build/fuzz/campaign/summary.md.
FUZZ_RUNS  ?= 100000000
FUZZ_CAMPAIGN_SECONDS ?= 0
FUZZ_TARGETS ?=
fuzz-campaign: $(FUZZ_BINS)
	$(PYTHON) tools/fuzz_campaign.py --runs $(FUZZ_RUNS) --seconds $(FUZZ_CAMPAIGN_SECONDS) $(if $(FUZZ_TARGETS),--targets $(FUZZ_TARGETS))

clean:
	rm -rf build bench-results
