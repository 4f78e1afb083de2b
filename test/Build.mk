# test/ — how tests are built and run. Tests are sorted by what they may see:
#   test/unit/*.c     Criterion; internals (links libhakmem_internal.a)
#   test/api/*.c      Criterion; include/hakmem.h only (links libhakmem.a)
#   test/preload/*.sh programs under LD_PRELOAD=$(O)/libhakmem.so; helper
#                     programs in test/preload/progs/*.c are plain C programs
# Dropping a file in one of these folders adds it to the suite. A folder's
# own Build.mk (test/*/Build.mk) may add binaries, suites run once
# (once-suites-y: make targets run by make test on defconfig only) or
# special link rules.

TEST_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -D_GNU_SOURCE
ifeq ($(WERROR),1)
TEST_CFLAGS  += -Werror
endif
LABEL        ?= $(notdir $(O))
HK_TEST_RESULTS ?= $(abspath $(O))/test-results.txt

unit-bins    := $(patsubst %.c,$(O)/%,$(wildcard test/unit/*.c))
api-bins     := $(patsubst %.c,$(O)/%,$(wildcard test/api/*.c))
prog-bins    := $(patsubst %.c,$(O)/%,$(wildcard test/preload/progs/*.c))
preload-scripts := $(wildcard test/preload/*.sh)

test-bins-y  := $(unit-bins) $(api-bins) $(prog-bins)
check-run-y  := $(unit-bins) $(api-bins) $(preload-scripts)
once-suites-y :=

-include $(wildcard test/*/Build.mk)

$(O)/test/unit/%: test/unit/%.c $(O)/libhakmem_internal.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(TEST_CFLAGS) -I include -I $(O)/include -I . $< -o $@ $(TEST_LDFLAGS) \
		$(O)/libhakmem_internal.a -lcriterion $(LDLIBS)

$(O)/test/api/%: test/api/%.c $(O)/libhakmem.a include/hakmem.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(TEST_CFLAGS) -I include $< -o $@ $(O)/libhakmem.a -lcriterion $(LDLIBS)

$(O)/test/preload/progs/%: test/preload/progs/%.c
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(TEST_CFLAGS) $< -o $@ -lpthread

.PHONY: build-tests check-run check list-once-suites
build-tests: all $(test-bins-y)

# Environment every test script gets: where the build is.
check-run: export HAKMEM_SO := $(abspath $(O)/libhakmem.so)
check-run: export HK_O := $(abspath $(O))
check-run: export HK_CONFIG_H := $(abspath $(GEN))
check-run:
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL) $(check-run-y)

# One configuration's whole suite (make test runs it for every config).
check: build-tests
	@: >$(HK_TEST_RESULTS)
	@$(MAKE) -s check-run
	@echo "$$(grep -c ^PASS $(HK_TEST_RESULTS)) passed, $$(grep -c ^FAIL $(HK_TEST_RESULTS)) failed," \
		"$$(grep -c ^SKIP $(HK_TEST_RESULTS)) skipped"
	@! grep -q ^FAIL $(HK_TEST_RESULTS)

list-once-suites:
	@echo $(once-suites-y)
