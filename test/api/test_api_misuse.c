/*
 * test/api/test_api_misuse.c — invalid frees abort at the faulty call (DESIGN §8.10).
 *
 * Owns: double free (small, medium, POOL, large, interleaved with other frees),
 * interior, misaligned, stack, global and foreign (mmap'ed) pointers, a POOL
 * position never handed out, realloc and usable_size of a freed block,
 * wrong-size hk_free_sized; each checks the one-line message naming the call
 * and the pointer (expect_abort_msg). Each Criterion test runs
 * in its own process, so an abort fails only the test that expected none.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hakmem.h"
#include "hk_test.h"
#include "../common/child.h"

/* Sizes per band: Tiny, MID, POOL, direct mapping. */
#define SMALL 48
#define MEDIUM (20 * KiB)
#define POOLSZ (1 * MiB)
#define LARGE (48 * MiB)

static void *volatile sink; /* keeps the compiler from reasoning about freed pointers */

/*
 * Every .signal = SIGABRT test names the call and the pointer it expects
 * (DESIGN §8.10: the message names both) before its misuse: stderr goes to
 * a file, and a SIGABRT handler lets the abort through only if the file
 * holds "hakmem: <call>(): " and the pointer; otherwise the test process
 * exits 2, and the test fails for want of its signal.
 */
static const char *want_call;
static const void *want_ptr;
static int want_err = -1, saved_err = -1;

static void check_message(int sig)
{
	char buf[1024], call[64], hex[32];
	ssize_t n = pread(want_err, buf, sizeof buf - 1, 0);
	(void)sig;
	buf[n > 0 ? n : 0] = 0;
	snprintf(call, sizeof call, "hakmem: %s(): ", want_call);
	snprintf(hex, sizeof hex, " 0x%lx\n", (unsigned long)(uintptr_t)want_ptr);
	if (strstr(buf, call) && strstr(buf, hex))
		return; /* abort() raises SIGABRT again, now uncaught */
	dprintf(saved_err, "abort message \"%s\" lacks \"%s\" or \"%s\"\n", buf, call, hex);
	_exit(2);
}

static void expect_abort_msg(const char *call, const void *ptr)
{
	char path[] = "/tmp/hk-misuse-XXXXXX";
	want_call = call;
	want_ptr = ptr;
	if (want_err < 0) {
		cr_assert_geq(want_err = mkstemp(path), 0);
		unlink(path);
		saved_err = dup(2);
		dup2(want_err, 2);
		signal(SIGABRT, check_message);
	}
}

static void double_free(size_t n)
{
	void *p = hk_malloc(n);
	cr_assert_not_null(p);
	sink = p;
	hk_free(p);
	expect_abort_msg("free", p);
	hk_free(sink);
}

Test(misuse, double_free_small, .signal = SIGABRT) { double_free(SMALL); }
Test(misuse, double_free_tiny_16, .signal = SIGABRT) { double_free(16); }
Test(misuse, double_free_medium, .signal = SIGABRT) { double_free(MEDIUM); }
Test(misuse, double_free_pool, .signal = SIGABRT) { double_free(POOLSZ); }
Test(misuse, double_free_large, .signal = SIGABRT) { double_free(LARGE); }

/* a, b freed, then a again: the second free of a is not the latest free. */
static void double_free_interleaved(size_t n)
{
	void *a = hk_malloc(n), *b = hk_malloc(n), *c = hk_malloc(n);
	cr_assert(a && b && c);
	sink = a;
	hk_free(a);
	hk_free(b);
	hk_free(c);
	expect_abort_msg("free", a);
	hk_free(sink);
}

Test(misuse, double_free_interleaved_small, .signal = SIGABRT) { double_free_interleaved(SMALL); }
Test(misuse, double_free_interleaved_medium, .signal = SIGABRT) { double_free_interleaved(MEDIUM); }
Test(misuse, double_free_interleaved_pool, .signal = SIGABRT) { double_free_interleaved(POOLSZ); }
Test(misuse, double_free_interleaved_large, .signal = SIGABRT) { double_free_interleaved(LARGE); }

/* Thousands of frees of the same class between the two frees of a: the lane's bin
 * has been flushed back to the page by then; the double free must still be caught. */
static void double_free_after_flush(size_t n, int others)
{
	void **v = hk_malloc(sizeof(void *) * (size_t)others);
	cr_assert_not_null(v);
	void *a = hk_malloc(n);
	for (int i = 0; i < others; i++)
		v[i] = hk_malloc(n);
	sink = a;
	hk_free(a);
	for (int i = 0; i < others; i++)
		hk_free(v[i]);
	expect_abort_msg("free", a);
	hk_free(sink);
}

Test(misuse, double_free_after_flush_small, .signal = SIGABRT) { double_free_after_flush(SMALL, 5000); }
Test(misuse, double_free_after_flush_medium, .signal = SIGABRT) { double_free_after_flush(MEDIUM, 300); }

/* The double free comes from another thread than the first free. */
static void *free_in_thread(void *p) { hk_free(p); return NULL; }
Test(misuse, double_free_cross_thread, .signal = SIGABRT)
{
	pthread_t t;
	void *p = hk_malloc(SMALL);
	sink = p;
	hk_free(p);
	expect_abort_msg("free", p);
	pthread_create(&t, NULL, free_in_thread, sink);
	pthread_join(t, NULL);
}

static void interior(size_t n, size_t off)
{
	char *p = hk_malloc(n);
	cr_assert_not_null(p);
	sink = p + off;
	expect_abort_msg("free", p + off);
	hk_free(sink);
}

Test(misuse, interior_small, .signal = SIGABRT) { interior(64, 16); }
Test(misuse, interior_medium, .signal = SIGABRT) { interior(MEDIUM, 4096); }
Test(misuse, interior_pool, .signal = SIGABRT) { interior(POOLSZ, 64 * KiB); }
Test(misuse, interior_large, .signal = SIGABRT) { interior(LARGE, 2 * MiB); }
Test(misuse, misaligned_small, .signal = SIGABRT) { interior(64, 1); }
Test(misuse, misaligned_small_8, .signal = SIGABRT) { interior(64, 8); }
Test(misuse, misaligned_medium, .signal = SIGABRT) { interior(MEDIUM, 8); }
Test(misuse, misaligned_pool, .signal = SIGABRT) { interior(POOLSZ, 16); }
Test(misuse, misaligned_large, .signal = SIGABRT) { interior(LARGE, 16); }

Test(misuse, stack_pointer, .signal = SIGABRT)
{
	char buf[64] = { 0 };
	sink = buf;
	expect_abort_msg("free", buf);
	hk_free(sink);
}

static char global_buf[4096] __attribute__((aligned(4096)));
Test(misuse, global_pointer, .signal = SIGABRT)
{
	sink = global_buf;
	expect_abort_msg("free", global_buf);
	hk_free(sink);
}

Test(misuse, foreign_mmap_page, .signal = SIGABRT)
{
	void *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	sink = m;
	expect_abort_msg("free", m);
	hk_free(sink);
}

Test(misuse, foreign_libc_block, .signal = SIGABRT)
{
	sink = malloc(100); /* libc's block (this test links hakmem statically) */
	expect_abort_msg("free", sink);
	hk_free(sink);
}

static void realloc_of_freed(size_t n, size_t to)
{
	void *p = hk_malloc(n);
	cr_assert_not_null(p);
	sink = p;
	hk_free(p);
	expect_abort_msg("realloc", p);
	sink = hk_realloc(sink, to);
}

Test(misuse, realloc_of_freed_small, .signal = SIGABRT) { realloc_of_freed(SMALL, 200); }
Test(misuse, realloc_of_freed_medium, .signal = SIGABRT) { realloc_of_freed(MEDIUM, MEDIUM + 100); }
Test(misuse, realloc_of_freed_pool, .signal = SIGABRT) { realloc_of_freed(POOLSZ, POOLSZ + 100); }
Test(misuse, realloc_of_freed_large, .signal = SIGABRT) { realloc_of_freed(LARGE, LARGE * 2); }

/* The 64 KiB unit after a POOL block: never handed out (the rest of its run
 * is a free span; without POOL the block is a mapping and the address is
 * no block of hakmem's). */
Test(misuse, free_never_handed_out_pool, .signal = SIGABRT)
{
	char *p = hk_malloc(POOLSZ);
	cr_assert_not_null(p);
	char *q = p + ((hk_usable_size(p) + 2 * 64 * KiB - 1) & ~(64 * KiB - 1));
	sink = q;
	expect_abort_msg("free", q);
	hk_free(sink);
}

/* hk_usable_size answers a default-heap slab block inline: its checks must
 * still see a freed block and a pointer inside a block. */
Test(misuse, usable_size_of_freed_small, .signal = SIGABRT)
{
	void *p = hk_malloc(SMALL);
	sink = p;
	hk_free(p);
	expect_abort_msg("malloc_usable_size", p);
	sink = (void *)hk_usable_size(sink);
}

Test(misuse, usable_size_of_interior_small, .signal = SIGABRT)
{
	char *p = hk_malloc(64);
	sink = p + 16;
	expect_abort_msg("malloc_usable_size", p + 16);
	sink = (void *)hk_usable_size(sink);
}

Test(misuse, realloc_of_interior, .signal = SIGABRT)
{
	char *p = hk_malloc(256);
	sink = p + 32;
	expect_abort_msg("realloc", p + 32);
	sink = hk_realloc(sink, 1000);
}

/* A size the block cannot hold (past its usable size: a configuration may serve a
 * small request from a big block, nomid_defconfig gives 32 B a 64 KiB span). */
static void free_sized_too_big(size_t n)
{
	void *p = hk_malloc(n);
	cr_assert_not_null(p);
	sink = p;
	expect_abort_msg("free_sized", p);
	hk_free_sized(sink, hk_usable_size(p) + 1);
}

Test(misuse, free_sized_too_big_small, .signal = SIGABRT) { free_sized_too_big(32); }
Test(misuse, free_sized_too_big_medium, .signal = SIGABRT) { free_sized_too_big(MEDIUM); }
Test(misuse, free_sized_too_big_pool, .signal = SIGABRT) { free_sized_too_big(POOLSZ); }
Test(misuse, free_sized_too_big_large, .signal = SIGABRT) { free_sized_too_big(LARGE); }

Test(misuse, free_sized_double, .signal = SIGABRT)
{
	void *p = hk_malloc(SMALL);
	sink = p;
	hk_free_sized(p, SMALL);
	expect_abort_msg("free_sized", p);
	hk_free_sized(sink, SMALL);
}

/* Runs fn(arg) in a child, returns its stderr and sets *sig to the signal that ended it. */
static void run_child(void (*fn)(void *), void *arg, char *out, size_t cap, int *sig)
{
	int st = child_stderr(fn, arg, out, cap);
	cr_assert_neq(st, -1);
	*sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void do_double_free(void *p) { hk_free(p); hk_free(p); }
static void do_foreign_free(void *p) { hk_free(p); }

/* The message names the call (free) and the pointer: the bar of DESIGN §8.10. */
static void message_names_call_and_pointer(size_t n)
{
	char out[1024], hex[32];
	int sig;
	void *p = hk_malloc(n);
	cr_assert_not_null(p);
	run_child(do_double_free, p, out, sizeof out, &sig);
	cr_assert_eq(sig, SIGABRT, "double free of a %zu-byte block: child ended with signal %d, stderr: %s", n, sig, out);
	snprintf(hex, sizeof hex, "%lx", (unsigned long)(uintptr_t)p);
	cr_assert(strstr(out, "free"), "message does not name the call: \"%s\"", out);
	cr_assert(strstr(out, hex), "message does not name the pointer %s: \"%s\"", hex, out);
	cr_assert(strstr(out, "double") || strstr(out, "invalid"), "message does not say what is wrong: \"%s\"", out);
	hk_free(p);
}

Test(misuse_message, double_free_small) { message_names_call_and_pointer(SMALL); }
Test(misuse_message, double_free_medium) { message_names_call_and_pointer(MEDIUM); }
Test(misuse_message, double_free_large) { message_names_call_and_pointer(LARGE); }

Test(misuse_message, foreign_pointer)
{
	char out[1024], hex[32];
	int sig;
	static char g[64] __attribute__((aligned(16)));
	run_child(do_foreign_free, g + 16, out, sizeof out, &sig);
	cr_assert_eq(sig, SIGABRT, "child ended with signal %d", sig);
	snprintf(hex, sizeof hex, "%lx", (unsigned long)(uintptr_t)(g + 16));
	cr_assert(strstr(out, "free") && strstr(out, hex), "message \"%s\" lacks the call or pointer %s", out, hex);
}

/* Valid uses next to the misuse tests: none of these may abort. */
/* free()'s fast path compares one byte of a block's word 1 (byte 15) with the
 * double-free mark's fixed top byte and leaves a match to the slow path, which
 * compares the whole mark: a block filled with any byte value (0xfa among them)
 * frees, reallocs and reports its size as usual. */
Test(misuse, mark_byte_lookalikes_do_not_abort)
{
	for (unsigned v = 0; v < 256; v++)
		for (size_t n = 16; n <= 1024; n *= 4) {
			unsigned char *p = hk_malloc(n);
			cr_assert_not_null(p);
			memset(p, (int)v, n);
			cr_assert_geq(hk_usable_size(p), n);
			unsigned char *q = hk_realloc(p, n / 2); /* in place (not hardened) */
			cr_assert_not_null(q);
			cr_assert_eq(q[n / 2 - 1], v);
			p = q;
			q = hk_realloc(p, 2 * n); /* moves: frees p */
			cr_assert_not_null(q);
			cr_assert_eq(q[n / 2 - 1], v);
			memset(q, (int)v, 2 * n);
			hk_free(q);
		}
}

Test(misuse, valid_frees_do_not_abort)
{
	for (size_t n = 1; n <= 64 * MiB; n = n * 2 + 1) {
		void *p = hk_malloc(n);
		cr_assert_not_null(p);
		hk_free_sized(p, n);
		p = hk_malloc(n);
		hk_free_sized(p, hk_usable_size(p)); /* the usable size fits too */
	}
}
