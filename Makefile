# hakmem — top-level Makefile.
#
# Kernel style: the configuration lives in $(O)/.config (O=build by default),
# Kconfig is read by python3-kconfiglib, and each directory's Build.mk adds
# its objects to obj-y / obj-$(CONFIG_...) lists, so a disabled backend is
# never compiled. `make help` lists the targets.

O        ?= build
CONFIG   := $(O)/.config
KPY      := /usr/bin/python3
KCONFIG  := Kconfig
CC       ?= gcc
CXX      ?= g++
AR       ?= ar
PREFIX   ?= /usr/local
DESTDIR  ?=
WERROR   ?= 0
comma    := ,

# The .config is valid make syntax: CONFIG_HK_TINY=y and so on.
-include $(CONFIG)

GEN      := $(O)/include/hk_config.h
CPPFLAGS += -I include -I $(O)/include -I . -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -fPIC -fvisibility=hidden -fno-plt -ftls-model=initial-exec \
	    -Wall -Wextra -Wshadow -Wstrict-prototypes -MMD -MP
# Frame pointers outside leaf functions: the guard's stacks walk them
# (core/stack.c). The fast paths are leaves or tail calls: unchanged.
CFLAGS   += -fno-omit-frame-pointer -momit-leaf-frame-pointer
ifeq ($(WERROR),1)
CFLAGS   += -Werror
endif
LDLIBS   := -lpthread

obj-y    :=
preload-y :=
libs-y   :=
so-static-y :=
include os/Build.mk hugepage/Build.mk numa/Build.mk core/Build.mk
LDLIBS   += $(libs-y)
# What libhakmem.so links: the libraries of so-static-y from their archives,
# their symbols made local (every object a process loads costs resident
# pages of its own: headers, data, a text page's fault-around).
SO_LDLIBS := $(filter-out $(addprefix -l,$(so-static-y)),$(LDLIBS))
ifneq ($(so-static-y),)
SO_LDLIBS += -Wl,-Bstatic $(addprefix -l,$(so-static-y)) -Wl,-Bdynamic \
	     $(patsubst %,-Wl$(comma)--exclude-libs$(comma)lib%.a,$(so-static-y))
endif

OBJS     := $(addprefix $(O)/,$(obj-y))
PRELOAD_OBJS := $(addprefix $(O)/,$(preload-y))

.PHONY: all
all: $(O)/libhakmem.so $(O)/libhakmem.a $(O)/hakmem.pc

# ---- configuration ---------------------------------------------------------

KCONFIG_ENV := KCONFIG_CONFIG=$(CONFIG)

$(O) $(O)/include:
	@mkdir -p $@

# No .config yet: start from configs/defconfig, as `make defconfig` would. make
# remakes this included file before any goal, so on a fresh machine it installs
# the build packages first (as root; otherwise deps.sh names them and stops):
# a `deps` prerequisite of `test` would come too late for kconfiglib.
DEPS_BUILD ?= bash tools/deps.sh build
$(CONFIG): | $(O)
	@$(KPY) -c 'import kconfiglib' 2>/dev/null || $(DEPS_BUILD)
	@echo "  CONFIG  $@ (none yet: configs/defconfig)"
	@$(KCONFIG_ENV) $(KPY) -m defconfig --kconfig $(KCONFIG) configs/defconfig >/dev/null

$(GEN): $(CONFIG) $(KCONFIG) tools/genconfig.py | $(O)/include
	@$(KPY) tools/genconfig.py $(KCONFIG) $(CONFIG) $@

.PHONY: defconfig %_defconfig menuconfig olddefconfig savedefconfig
defconfig: | $(O)
	@$(KCONFIG_ENV) $(KPY) -m defconfig --kconfig $(KCONFIG) configs/defconfig
%_defconfig: configs/%_defconfig | $(O)
	@$(KCONFIG_ENV) $(KPY) -m defconfig --kconfig $(KCONFIG) $<
menuconfig: | $(O)
	@$(KCONFIG_ENV) $(KPY) -m menuconfig $(KCONFIG)
olddefconfig: | $(O)
	@$(KCONFIG_ENV) $(KPY) -m olddefconfig $(KCONFIG)
savedefconfig: $(CONFIG)
	@$(KCONFIG_ENV) $(KPY) -m savedefconfig --kconfig $(KCONFIG) --out $(O)/defconfig
	@echo "  saved $(O)/defconfig"

# ---- libraries -------------------------------------------------------------

$(O)/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(O)/%.o: %.cc $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	@$(CXX) $(CPPFLAGS) $(filter-out -std=gnu11 -Wstrict-prototypes,$(CFLAGS)) -std=gnu++17 -fno-exceptions -c $< -o $@

# The preload library: the allocator, the hk_* API and the libc names.
# core/preload.lds, an implicit linker script, adds the libc names that are
# aliases of hk_* functions.
$(O)/libhakmem.so: $(OBJS) $(PRELOAD_OBJS) core/preload.lds
	@echo "  LD      $@"
	@$(CC) -shared -Wl,-z,now -Wl,-soname,libhakmem.so $(LDFLAGS) -o $@ $^ $(SO_LDLIBS)

# Everything, internal symbols too: what unit tests link against.
$(O)/libhakmem_internal.a: $(OBJS)
	@rm -f $@
	@$(AR) rcs $@ $^

# The static library exports only hk_*: one relocatable object whose hidden
# symbols are made local, so internal names cannot clash with the program's.
$(O)/libhakmem.a: $(OBJS)
	@echo "  AR      $@"
	@ld -r -o $(O)/hakmem-static.o $^
	@objcopy --localize-hidden $(O)/hakmem-static.o
	@rm -f $@
	@$(AR) rcs $@ $(O)/hakmem-static.o

# hakmem.pc names PREFIX. $(O)/prefix holds the PREFIX of the last make and is
# rewritten only when it changes, so `make install PREFIX=dir` after a plain
# `make` writes a hakmem.pc for dir, not for /usr/local.
$(O)/prefix: FORCE | $(O)
	@[ "$$(cat $@ 2>/dev/null)" = '$(PREFIX)' ] || echo '$(PREFIX)' >$@

$(O)/hakmem.pc: Makefile include/hakmem.h $(O)/prefix | $(O)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: hakmem' 'Description: hakmem memory allocator' \
	  'Version: $(shell sed -n 's/^#define HAKMEM_VERSION "\(.*\)"/\1/p' include/hakmem.h)' \
	  'Libs: -L$${libdir} -lhakmem' 'Libs.private: $(LDLIBS)' 'Cflags: -I$${includedir}' > $@

# ---- install ---------------------------------------------------------------

.PHONY: install uninstall
install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 include/hakmem.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(O)/libhakmem.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(O)/libhakmem.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(O)/hakmem.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	if [ -f doc/hakmem.3 ]; then install -m 644 doc/hakmem.3 $(DESTDIR)$(PREFIX)/share/man/man3/; fi
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/hakmem.h $(DESTDIR)$(PREFIX)/lib/libhakmem.so \
	  $(DESTDIR)$(PREFIX)/lib/libhakmem.a $(DESTDIR)$(PREFIX)/lib/pkgconfig/hakmem.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man3/hakmem.3

# ---- tests and benchmarks --------------------------------------------------

include test/Build.mk bench/Build.mk

# The README's test command: dependencies, then every configs/* defconfig
# in its own build directory, then the extra suites; one summary line.
.PHONY: test deps
deps:
	@bash tools/deps.sh
test: deps
	@bash tools/test-all.sh

.PHONY: clean distclean help FORCE
FORCE:
clean:
	rm -rf $(O)/*/ $(O)/*.so $(O)/*.a $(O)/*.o $(O)/*.pc $(O)/prefix
distclean:
	rm -rf build
help:
	@echo 'Configuration:  defconfig <name>_defconfig menuconfig olddefconfig savedefconfig'
	@echo 'Build:          all (libhakmem.so, libhakmem.a), install, clean'
	@echo 'Test:           test (every config), check (this config), check-* suites'
	@echo 'Benchmarks:     bench, bench-full, bench-callgrind'
	@echo 'Configs:        $(notdir $(wildcard configs/*defconfig))'
	@echo 'O=dir builds in dir (default: build); WERROR=1 turns warnings into errors.'

-include $(OBJS:.o=.d) $(PRELOAD_OBJS:.o=.d)
