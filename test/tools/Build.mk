# test/tools/Build.mk — tests of the scripts under tools/ (no allocator is loaded):
# each test/tools/*.sh runs in make check like the preload scripts.
check-run-y += $(wildcard test/tools/*.sh)
