/*
 * core/stack.h — call stacks of sampled allocations (core/stack.c): capture
 * along frame pointers or through libgcc's unwinder, and the section that
 * marks hakmem's own entry frames. Takes no lock of ours; allocates through
 * malloc only inside the dlopen of the profiler's first sample (those
 * allocations' own samples walk frame pointers: no recursion).
 * Invariant: a captured stack starts at the caller of the hk_* or libc
 * entry point (hakmem's frames are dropped).
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
 * how many (0 when the sampler is built out). `profile`: the profiler's
 * whole stacks, through libgcc's _Unwind_Backtrace (loaded on first use;
 * no descriptor, no per-thread cache); else the guard's, along the frame
 * pointers (nothing loaded or kept: the caller of hakmem, and whatever
 * frame pointers the program keeps beyond it). */
int hk_stack_capture(void **out, int max, int profile);
/* 1 while this thread is inside hk_stack_capture (whose unwinder may
 * malloc: such a block is not sampled). */
int hk_stack_capturing(void);
/* The stack of an interrupted context (a signal's ucontext): ip, then the
 * frame pointer chain from fp, bounded by sp's stack; an unreadable frame
 * ends it (never a fault). */
int hk_stack_capture_at(void **out, int max, uintptr_t ip, uintptr_t fp, uintptr_t sp);
/* fork's child: the process id the walks read through is the child's now. */
void hk_stack_atfork_child(void);
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
