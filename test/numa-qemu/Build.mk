# test/numa-qemu/ — the two-node NUMA test in a qemu guest (run.sh, guest.c).
# `make test-numa` builds the static guest /init from the layer objects (os/,
# hugepage/, numa/) and libhakmem.a (the default heap's node arenas) and boots it; make test
# runs it once, on defconfig (once-suites-y). It needs CONFIG_HK_NUMA=y.
NUMA_GUEST := $(O)/test/numa-qemu/init
NUMA_GUEST_OBJS := $(filter $(O)/os/% $(O)/hugepage/% $(O)/numa/%,$(OBJS))
# The guest sets its own policy (set_mempolicy) through libnuma.
NUMA_GUEST_LIBS := -lnuma

$(NUMA_GUEST): test/numa-qemu/guest.c test/common/hugetlb_pool.h $(NUMA_GUEST_OBJS) $(O)/libhakmem.a
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	@$(CC) $(TEST_CFLAGS) -static -I include -I $(O)/include -I . $< $(NUMA_GUEST_OBJS) \
		$(O)/libhakmem.a -o $@ $(LDLIBS) $(NUMA_GUEST_LIBS) -lpthread 2>$@.log; rc=$$?; \
		grep -v -e 'getaddrinfo' -e 'affinity_ip' -e 'dlopen' -e 'unwinder' $@.log >&2; exit $$rc

# run.sh bounds the boot itself (HK_NUMA_TIMEOUT, 240 s), run-tests.sh the whole (1200 s).

.PHONY: test-numa
ifeq ($(CONFIG_HK_NUMA),y)
test-numa: $(NUMA_GUEST)
	@HK_NUMA_GUEST=$(abspath $(NUMA_GUEST)) bash tools/run-tests.sh $(HK_TEST_RESULTS) $(LABEL) test/numa-qemu/run.sh
else
test-numa:
	@echo "SKIP $(LABEL)/numa-qemu: CONFIG_HK_NUMA=n" >>$(HK_TEST_RESULTS)
	@echo "  skip  $(LABEL)/numa-qemu: CONFIG_HK_NUMA=n"
endif
once-suites-y += test-numa
