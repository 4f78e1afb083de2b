# test/preload/Build.mk — C++ helper programs for the preload tests, and the
# real-program suite (python3, gcc, git, sqlite3, redis and a part of CPython's
# own test suite under LD_PRELOAD), which runs once on defconfig (make
# check-programs), not once per configuration.

cxx-prog-bins := $(patsubst %.cc,$(O)/%,$(wildcard test/preload/progs/*.cc))
test-bins-y += $(cxx-prog-bins)

$(O)/test/preload/progs/%: test/preload/progs/%.cc
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CXX) $(filter-out -std=gnu11,$(TEST_CFLAGS)) -std=gnu++17 $< -o $@ -lpthread

once-suites-y += check-programs
.PHONY: check-programs
check-programs: export HAKMEM_SO := $(abspath $(O)/libhakmem.so)
check-programs: export HK_O := $(abspath $(O))
check-programs: export HK_CONFIG_H := $(abspath $(GEN))
check-programs: build-tests
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL) $(wildcard test/preload/real/*.sh)

# The profiler's test program exports its functions (-rdynamic), so the
# folded stacks and the leak report, which name frames from the dynamic
# symbol tables, can be checked by name.
$(O)/test/preload/progs/leaker: test/preload/progs/leaker.c
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(TEST_CFLAGS) -rdynamic $< -o $@ -lpthread

# C++ code that C helper programs load with dlopen (progs/cxx_host.c): shared
# objects of their own, with the C++ runtime as their dependency.
plugin-bins := $(patsubst %.cc,$(O)/%.so,$(wildcard test/preload/plugin/*.cc))
test-bins-y += $(plugin-bins)

$(O)/test/preload/plugin/%.so: test/preload/plugin/%.cc
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	@$(CXX) $(filter-out -std=gnu11,$(TEST_CFLAGS)) -std=gnu++17 -shared -fPIC $< -o $@
