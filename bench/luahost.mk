# bench/luahost.mk — the Lua host of examples/luahost/ as a benchmark
# (bench/luahost.suite): its states on hakmem arenas vs on Lua's default
# allocator (realloc) under glibc and each peer preloaded. Built like the
# *_hk binaries (bench-hk-y: it links libhakmem.a, and a hakmem that does
# not build leaves it out); the rule's variables come from test/lua/Build.mk.

bench-hk-y += $(O)/bench/luahost

$(O)/bench/luahost: $(LH_DEPS) $(O)/libhakmem.a
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	@$(CC) $(BENCH_CFLAGS) $(LUA_CFLAGS) -I include $(LH_SRCS) -o $@ \
		$(O)/libhakmem.a $(LUA_LIBS) $(LDLIBS)
