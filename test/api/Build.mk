# test/api/Build.mk — the API tests share test/api/hk_test.h (sizes, fill patterns),
# test_arena_hugetlb also test/common/hugetlb_pool.h: a change rebuilds them.
$(api-bins): test/api/hk_test.h
$(O)/test/api/test_arena_hugetlb: test/common/hugetlb_pool.h
$(O)/test/api/test_api_misuse: test/common/child.h
