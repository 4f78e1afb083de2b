# test/kv/ — the embedding examples: examples/arena_example.c (built and run
# in every configuration) and the key-value server of examples/kvserver/,
# checked once (check-kv: loopback only, bounded request count, every value
# read back, the server stopped by its PID) plus the man page's syntax; and
# in every configuration, check-exports.sh (what the libraries export). Once:
# check-install.sh (a fresh configuration, make install, pkg-config).
# The server binaries are also what bench/kv.mk measures.

KV_DIR      := examples/kvserver
KV_OUT      := $(O)/examples/kvserver
KV_CFLAGS   := $(TEST_CFLAGS) -O2
kv-bins     := $(KV_OUT)/kvserver $(KV_OUT)/kvserver-malloc $(KV_OUT)/kvload

$(KV_OUT)/kvserver: $(KV_DIR)/kvserver.c $(KV_DIR)/kv_io.c $(KV_DIR)/kv_mem_arena.c \
		$(wildcard $(KV_DIR)/*.h) $(O)/libhakmem.a include/hakmem.h
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(KV_CFLAGS) -I include $(filter %.c,$^) -o $@ $(O)/libhakmem.a $(LDLIBS)

# The same server on plain malloc: glibc, or whatever LD_PRELOAD supplies.
$(KV_OUT)/kvserver-malloc: $(KV_DIR)/kvserver.c $(KV_DIR)/kv_io.c $(KV_DIR)/kv_mem_malloc.c \
		$(wildcard $(KV_DIR)/*.h)
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(KV_CFLAGS) $(filter %.c,$^) -o $@ -lpthread

$(KV_OUT)/kvload: $(KV_DIR)/kvload.c $(KV_DIR)/kv_io.c $(KV_DIR)/kv_io.h
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(KV_CFLAGS) $(filter %.c,$^) -o $@ -lpthread

$(O)/examples/arena_example: examples/arena_example.c $(O)/libhakmem.a include/hakmem.h
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(TEST_CFLAGS) -I include $< -o $@ $(O)/libhakmem.a $(LDLIBS)

test-bins-y  += $(kv-bins) $(O)/examples/arena_example
check-run-y  += $(O)/examples/arena_example test/kv/check-exports.sh
once-suites-y += check-kv

.PHONY: check-kv
check-kv: export KV_BIN := $(abspath $(KV_OUT))
check-kv: $(kv-bins)
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL) test/kv/check-kv.sh test/kv/check-man.sh

# Set-up as a newcomer meets it: a fresh configuration, install, pkg-config.
once-suites-y += check-install
.PHONY: check-install
check-install: export HK_O := $(abspath $(O))
check-install: all
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL) test/kv/check-install.sh

# The arena API tests share a helper header the generic rule does not know.
$(filter %/test_arena%,$(api-bins)): test/api/arena_test.h
