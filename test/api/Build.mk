# test/api/Build.mk — the API tests share test/api/hk_test.h (sizes, fill patterns):
# a change to it rebuilds them.
$(api-bins): test/api/hk_test.h
