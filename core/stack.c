/*
 * core/stack.c — captures and prints the call stacks of sampled blocks.
 * Debian builds programs without frame pointers, so the capture unwinds
 * with libunwind (DWARF CFI; unw_backtrace's per-thread trace cache, its
 * memory mmap'd: no malloc, no lock of ours). Frames up to the last one
 * inside the hk_entry section are hakmem's and are dropped. Printing uses
 * dladdr (no malloc).
 */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include "core/stack.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* unw_backtrace's per-thread cache has a thread-exit destructor that takes
 * a mutex after ThreadSanitizer tore the thread down (test_api_threads
 * crashed at exit under TSan): the sanitizer build steps instead. */
#if defined(__SANITIZE_THREAD__)
#define HK_STACK_SLOW 1
#else
#define HK_STACK_SLOW 0
#endif

/* The bounds of the HK_ENTRY functions (core/stack.h). */
static __attribute__((section(".text.sorted.hk_entry.0"), noinline, used)) void hk_entry_begin(void)
{
	__asm__ volatile("");
}

static __attribute__((section(".text.sorted.hk_entry.2"), noinline, used)) void hk_entry_end(void)
{
	__asm__ volatile("");
}

static int in_entry(const void *ip)
{
	return (uintptr_t)ip > (uintptr_t)hk_entry_begin && (uintptr_t)ip < (uintptr_t)hk_entry_end;
}

/* Our frames are the first few: look no deeper for the last of them. */
#define ENTRY_DEPTH 12

HK_ENTRY __attribute__((noinline)) int hk_stack_capture(void **out, int max, int cached)
{
	void *buf[HK_STACK_MAX + ENTRY_DEPTH];
	if (!CONFIG_HK_SAMPLE)
		return 0;
	int want = max + ENTRY_DEPTH;
	if (want > (int)(sizeof buf / sizeof buf[0]))
		want = (int)(sizeof buf / sizeof buf[0]);
	int n = 0;
	if (cached && !HK_STACK_SLOW) {
		/* libunwind's trace cache: one hash probe per frame once a
		 * return address was seen (~0.3 us for 7 frames here, against
		 * ~65 us for unw_step, which blocks signals twice per frame and
		 * walks the loaded objects). Frames it cannot trace it steps.
		 * The cache costs its thread 256 KiB, all written on the first
		 * call: worth it at the profiler's rate, not at the guard's. */
		n = unw_backtrace(buf, want);
	} else {
		unw_context_t uc;
		unw_cursor_t c;
		if (unw_getcontext(&uc) || unw_init_local(&c, &uc))
			return 0;
		while (n < want && unw_step(&c) > 0) {
			unw_word_t ip;
			if (unw_get_reg(&c, UNW_REG_IP, &ip) || !ip)
				break;
			buf[n++] = (void *)ip;
		}
	}
	int skip = 0;
	for (int i = 0; i < n && i < ENTRY_DEPTH; i++)
		if (in_entry(buf[i]))
			skip = i + 1;
	n -= skip;
	if (n > max)
		n = max;
	if (n < 0)
		n = 0;
	memcpy(out, buf + skip, (size_t)n * sizeof *out);
	return n;
}

char *hk_fmt_hex(char *o, uintptr_t v)
{
	int shift = 60;
	*o++ = '0';
	*o++ = 'x';
	while (shift > 0 && !((v >> shift) & 0xf))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		*o++ = "0123456789abcdef"[(v >> shift) & 0xf];
	return o;
}

char *hk_fmt_dec(char *o, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*o++ = tmp[--n];
	return o;
}

char *hk_fmt_str(char *o, const char *s)
{
	while (*s)
		*o++ = *s++;
	return o;
}

void hk_fmt_write(int fd, const char *buf, const char *end)
{
	while (buf < end) {
		ssize_t r = write(fd, buf, (size_t)(end - buf));
		if (r <= 0)
			return;
		buf += r;
	}
}

/* hk_fmt_str bounded by `end` (names from symbol tables can be long). */
static char *put_str(char *o, const char *end, const char *s)
{
	while (*s && o < end)
		*o++ = *s++;
	return o;
}

void hk_stack_print(int fd, void *const *frames, int n)
{
	for (int i = 0; i < n; i++) {
		char line[512], *o = line, *end = line + sizeof line - 40;
		Dl_info info;
		o = hk_fmt_str(o, "    #");
		o = hk_fmt_dec(o, (uint64_t)i);
		*o++ = ' ';
		o = hk_fmt_hex(o, (uintptr_t)frames[i]);
		/* The caller's call instruction ends at the return address. */
		if (dladdr((char *)frames[i] - 1, &info)) {
			if (info.dli_sname) {
				*o++ = ' ';
				o = put_str(o, end, info.dli_sname);
				*o++ = '+';
				o = hk_fmt_hex(o, (uintptr_t)frames[i] - (uintptr_t)info.dli_saddr);
			}
			if (info.dli_fname && info.dli_fname[0]) {
				/* object+offset: what addr2line -e object wants */
				o = put_str(o, end, " (");
				o = put_str(o, end, info.dli_fname);
				*o++ = '+';
				o = hk_fmt_hex(o, (uintptr_t)frames[i] - (uintptr_t)info.dli_fbase);
				*o++ = ')';
			}
		}
		*o++ = '\n';
		hk_fmt_write(fd, line, o);
	}
}
