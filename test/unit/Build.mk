# test/unit/Build.mk — fake-OS unit tests. A test named test_fakeos*.c links
# the library's objects with os/os.o and os/purge_uring.o replaced by
# os/fake_os.o (os/fake_os.h), so every OS failure can be injected. The
# fake is never part of libhakmem.
FAKEOS_OBJS := $(filter-out $(O)/os/os.o $(O)/os/purge_uring.o,$(OBJS)) $(O)/os/fake_os.o

$(O)/libhakmem_fakeos.a: $(FAKEOS_OBJS)
	@rm -f $@
	@$(AR) rcs $@ $^

# More specific than test/Build.mk's $(O)/test/unit/% rule, so make picks it.
$(O)/test/unit/test_fakeos%: test/unit/test_fakeos%.c $(O)/libhakmem_fakeos.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@ (fake OS)"
	@$(CC) $(TEST_CFLAGS) -I include -I $(O)/include -I . $< -o $@ \
		$(O)/libhakmem_fakeos.a -lcriterion $(LDLIBS)

# Tests that resize a hugetlb pool share test/common/hugetlb_pool.h.
$(O)/test/unit/test_hugepage: test/common/hugetlb_pool.h
# Tests that run misuse in a child or read their RSS share test/common/child.h.
$(O)/test/unit/test_reliability $(O)/test/unit/test_os: test/common/child.h
# test_fork acts as a runtime that wraps pthread_create (its thread start-up
# holds a lock of its own): hakmem's calls to pthread_create go to its wrapper.
$(O)/test/unit/test_fork: TEST_LDFLAGS := -Wl,--wrap=pthread_create
