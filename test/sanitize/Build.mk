# test/sanitize/Build.mk — the API suite with hakmem's sources compiled in, through
# the hk_ API: under ASan + UBSan (every test/api/*.c) and TSan (the threaded tests).
# A once-suite (make check-sanitize), run on defconfig only.

san-srcs  := $(patsubst %.o,%.c,$(obj-y))
SAN_ASAN  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_TSAN  := -fsanitize=thread
san-cflags := -std=gnu11 -O1 -g -ftls-model=initial-exec -fno-omit-frame-pointer -D_GNU_SOURCE -MMD -MP

asan-objs := $(patsubst %.c,$(O)/test/sanitize/asan-obj/%.o,$(san-srcs))
tsan-objs := $(patsubst %.c,$(O)/test/sanitize/tsan-obj/%.o,$(san-srcs))
-include $(asan-objs:.o=.d) $(tsan-objs:.o=.d)
asan-bins := $(patsubst test/api/%.c,$(O)/test/sanitize/asan/%,$(wildcard test/api/*.c))
tsan-bins := $(O)/test/sanitize/tsan/test_api_threads $(O)/test/sanitize/tsan/test_arena_lanes \
	     $(O)/test/sanitize/tsan/test_arena_bump_threads $(O)/test/sanitize/tsan/test_api_profile

$(O)/test/sanitize/asan-obj/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC-ASAN $<"
	@$(CC) $(CPPFLAGS) $(san-cflags) $(SAN_ASAN) -c $< -o $@

$(O)/test/sanitize/tsan-obj/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC-TSAN $<"
	@$(CC) $(CPPFLAGS) $(san-cflags) $(SAN_TSAN) -c $< -o $@

$(O)/test/sanitize/asan/%: test/api/%.c $(asan-objs) $(wildcard test/api/*.h)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(TEST_CFLAGS) $(SAN_ASAN) -I include $< $(asan-objs) -o $@ -lcriterion $(LDLIBS)

# Criterion's runner crashes under TSan: test/sanitize/mini stands in for it.
$(O)/test/sanitize/tsan/%: test/api/%.c $(tsan-objs) $(wildcard test/api/*.h) test/sanitize/mini/criterion/criterion.h
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(TEST_CFLAGS) $(SAN_TSAN) -I test/sanitize/mini -I include $< $(tsan-objs) -o $@ $(LDLIBS)

# The Lua host (test/lua/Build.mk) on the sanitized hakmem, for check-lua.sh: arenas
# created, reset and destroyed by several threads, under ASan+UBSan and TSan.
san-lua := $(O)/test/sanitize/asan/luahost $(O)/test/sanitize/tsan/luahost
$(O)/test/sanitize/asan/luahost: $(LH_DEPS) $(asan-objs)
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(TEST_CFLAGS) $(SAN_ASAN) $(LUA_CFLAGS) -I include $(LH_SRCS) $(asan-objs) -o $@ \
		$(LUA_LIBS) $(LDLIBS)
$(O)/test/sanitize/tsan/luahost: $(LH_DEPS) $(tsan-objs)
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(TEST_CFLAGS) $(SAN_TSAN) $(LUA_CFLAGS) -I include $(LH_SRCS) $(tsan-objs) -o $@ \
		$(LUA_LIBS) $(LDLIBS)

once-suites-y += check-sanitize
.PHONY: check-sanitize
# detect_leaks=0: hakmem's blocks live in its own mappings, invisible to LeakSanitizer.
check-sanitize: export ASAN_OPTIONS := detect_leaks=0
check-sanitize: export UBSAN_OPTIONS := print_stacktrace=1
check-sanitize: export TSAN_OPTIONS := die_after_fork=0
check-sanitize: $(asan-bins) $(tsan-bins) $(san-lua)
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL)-asan $(asan-bins)
	@bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL)-tsan $(tsan-bins)
	@LUAHOST=$(abspath $(O)/test/sanitize/asan/luahost) \
		bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL)-asan test/lua/check-lua.sh
	@LUAHOST=$(abspath $(O)/test/sanitize/tsan/luahost) LUA_CHECK_JOBS=6 \
		bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL)-tsan test/lua/check-lua.sh
