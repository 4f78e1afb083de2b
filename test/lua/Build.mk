# test/lua/ — the Lua 5.4 host of examples/luahost/ (a lua_State per hakmem
# arena, the arena's capacity the script's memory limit), built with the
# tests and checked in every configuration by check-lua.sh; check-sanitize
# runs the same checks on a host built with the sanitized hakmem
# (test/sanitize/Build.mk). bench/lua.suite measures it against Lua's own
# allocator. Lua comes from Debian's liblua5.4-dev (tools/deps.sh build).

LH_DIR    := examples/luahost
LH_SRCS   := $(LH_DIR)/luahost.c $(LH_DIR)/lua_mem.c
LH_DEPS   := $(LH_SRCS) $(LH_DIR)/lua_mem.h include/hakmem.h
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4) -lm

$(O)/examples/luahost/luahost: $(LH_DEPS) $(O)/libhakmem.a
	@mkdir -p $(dir $@)
	@echo "  PROG    $@"
	@$(CC) $(TEST_CFLAGS) -O2 $(LUA_CFLAGS) -I include $(LH_SRCS) -o $@ \
		$(O)/libhakmem.a $(LUA_LIBS) $(LDLIBS)

test-bins-y += $(O)/examples/luahost/luahost
check-run-y += test/lua/check-lua.sh
