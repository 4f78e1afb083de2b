/*
 * core/stack.h — call stacks of sampled allocations (core/stack.c): capture
 * through libunwind and the section that marks hakmem's own entry frames.
 * Must not allocate through malloc, take a lock of ours or recurse into
 * malloc. Invariant: a captured stack starts at the caller of the hk_* or
 * libc entry point (hakmem's frames are dropped).
 */
#ifndef HK_CORE_STACK_H
#define HK_CORE_STACK_H

#include "core/types.h"

#define HK_STACK_MAX 32

/* Functions between the program and the capture go into this section, so
 * the capture knows where the program's frames start (a frame count would
 * change with inlining and tail calls). ld's default script gathers
 * .text.sorted.* into .text sorted by name, so the section lies between
 * core/stack.c's two markers (".0" and ".2"), and tools that read only
 * .text symbols (valgrind) still name these functions. */
#define HK_ENTRY __attribute__((section(".text.sorted.hk_entry.1")))

/* Writes up to `max` return addresses of the program's frames; returns
 * how many (0 when the sampler is built out). `cached`: through libunwind's
 * per-thread trace cache (~0.3 us a stack, but 256 KiB resident in every
 * thread that uses it), else by stepping (~65 us, nothing kept): the
 * profiler's samples take the cache, the guard's (one per 64 MiB) step. */
int hk_stack_capture(void **out, int max, int cached);
/* Writes one frame per line ("    #i 0xADDR name+off (object)") to fd:
 * symbol names from the dynamic symbol tables only. */
void hk_stack_print(int fd, void *const *frames, int n);

/* Formatters for reports written with write(2) (no stdio, no malloc):
 * each appends to `o` and returns the new end; the caller sizes the buffer. */
char *hk_fmt_str(char *o, const char *s);
char *hk_fmt_hex(char *o, uintptr_t v); /* 0x... */
char *hk_fmt_dec(char *o, uint64_t v);
void hk_fmt_write(int fd, const char *buf, const char *end);

#endif /* HK_CORE_STACK_H */
