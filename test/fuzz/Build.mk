# test/fuzz/Build.mk — the libFuzzer target (clang -fsanitize=fuzzer,address with
# hakmem's sources compiled in, so the allocator itself is instrumented too).
#   make check-fuzz        the once-suite: ~60 s (FUZZ_SECONDS), one PASS/FAIL line
#   make fuzz              a longer run (FUZZ_LONG_SECONDS, default 600 s)
# Crashes are written to $(O)/test/fuzz/ as crash-* files (reproduce: run the
# binary with the file as its argument).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_LONG_SECONDS ?= 600
fuzz-srcs    := $(patsubst %.o,%.c,$(obj-y))
fuzz-bin     := $(O)/test/fuzz/fuzz_hakmem

$(fuzz-bin): test/fuzz/fuzz_hakmem.c $(fuzz-srcs) $(GEN) $(wildcard core/*.h os/*.h hugepage/*.h numa/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address -std=gnu11 \
		-ftls-model=initial-exec $(CPPFLAGS) $< $(fuzz-srcs) -o $@ $(LDLIBS)

once-suites-y += check-fuzz
.PHONY: check-fuzz fuzz
check-fuzz: export FUZZ_BIN := $(abspath $(fuzz-bin))
check-fuzz: export FUZZ_SECONDS := $(FUZZ_SECONDS)
check-fuzz: $(fuzz-bin)
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL) test/fuzz/run-fuzz.sh

fuzz: export FUZZ_BIN := $(abspath $(fuzz-bin))
fuzz: export FUZZ_SECONDS := $(FUZZ_LONG_SECONDS)
fuzz: $(fuzz-bin)
	@bash test/fuzz/run-fuzz.sh
