/*
 * core/stack.c — captures and prints the call stacks of sampled blocks.
 * The guard's stacks (one sample per 64 MiB, and its reports) follow the
 * frame-pointer chain: no library, no file page touched (libunwind linked
 * in cost every process ~110 KiB of resident libunwind and liblzma pages,
 * and its first unw_step ~150 KiB more of .eh_frame and caches). hakmem is
 * built with frame pointers outside leaf functions, so its frames and the
 * program's call into it are always there; a program built without them
 * gives that caller and, past it, what its frame pointer chain holds
 * (read through the kernel, so a stray pointer never faults). The profiler, which
 * needs whole stacks, loads libgcc's unwinder (_Unwind_Backtrace, from the
 * .eh_frame tables) with dlopen on its first sample. libunwind was used
 * before: it opens a pipe at the lowest free descriptors (3 and 4) to check
 * addresses, which the program saw (CPython's test_subprocess pass_fds tests
 * failed under HAKMEM_PROFILE) and which, once a program closed its
 * descriptors and opened files there, it read from, wrote to and closed.
 * Frames up to the last one inside the hk_entry section are hakmem's and
 * are dropped. Printing uses dladdr (no malloc).
 */
#include <errno.h>
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/base.h"
#include "core/stack.h"

/* The ThreadSanitizer build walks frame pointers: libunwind's per-thread
 * cache took a mutex in its thread-exit destructor after TSan tore the
 * thread down (test_api_threads crashed at exit), and a dlopen'd unwinder
 * is code TSan does not see. */
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

/* ---- frame pointers ---- */

extern void *__libc_stack_end; /* the main thread's stack top (ld.so) */

#define STACK_SPAN ((uintptr_t)1 << 30) /* no thread stack is bigger */

/* The end of the stack that holds sp, a bound for the walk. glibc puts a
 * thread's descriptor at the top of its stack block (its own or the one
 * given with pthread_attr_setstack); the main thread's stack ends where
 * _start found it; any other stack (a coroutine's, a signal stack) is
 * walked to the end of sp's page only. */
static uintptr_t stack_end(uintptr_t sp)
{
	uintptr_t self = (uintptr_t)pthread_self(), top = (uintptr_t)__libc_stack_end;
	if (sp < self && self - sp < STACK_SPAN)
		return self;
	if (sp < top && top - sp < STACK_SPAN)
		return top;
	return (sp | 4095) + 1;
}

/*
 * The words of the stack are read through the kernel (process_vm_readv of
 * our own process, a window of up to 1 KiB, at most two pages): a frame
 * pointer a program left stray (a frame built without one, a coroutine's
 * stack below a thread's descriptor) may point at a guard page or a
 * PROT_NONE reservation inside [sp, end), and such a read fails with
 * EFAULT instead of faulting. The window is one remote iovec per page: the
 * kernel transfers whole elements up to the first that fails, so a window
 * that runs into an unreadable page keeps the part before it. Each read
 * costs ~8 us here (a guarded sample walks twice, with ~100 us of system
 * calls and faults around it): with 256-byte windows within a page, a walk
 * of random_mixed's shallow stack took 2 reads, now 1 (strace -c, 2498
 * samples: 9956 -> 4996 reads).
 */
#define WINDOW_WORDS 128

struct window {
	pid_t pid;
	uintptr_t lo, hi; /* [lo, hi) is in w */
	uintptr_t w[WINDOW_WORDS];
};

/* The frame's two words at fp (16-aligned, at least 16 bytes below the
 * stack's end), or NULL when unreadable. */
static const uintptr_t *frame_at(struct window *win, uintptr_t fp)
{
	if (fp < win->lo || fp >= win->hi || win->hi - fp < 16) {
		uintptr_t page_end = (fp | 4095) + 1;
		size_t len = sizeof win->w, first = page_end - fp;
		if (first > len)
			first = len;
		struct iovec here = { win->w, len };
		struct iovec there[2] = { { (void *)fp, first }, { (void *)page_end, len - first } };
		ssize_t got = process_vm_readv(win->pid, &here, 1, there, first < len ? 2 : 1, 0);
		if (got < 16)
			return NULL;
		win->lo = fp;
		win->hi = fp + (size_t)got;
	}
	return &win->w[(fp - win->lo) / sizeof(uintptr_t)];
}

/* The process's id for process_vm_readv: read once (getpid is a system
 * call, ~1-3 us here, twice a guarded sample), forgotten in a fork's child
 * (hk_stack_atfork_child). 0: not read yet. */
static HK_FORKED _Atomic pid_t self_pid;

static pid_t pid_of_self(void)
{
	pid_t pid = atomic_load_explicit(&self_pid, memory_order_relaxed);
	if (!pid) {
		pid = getpid();
		atomic_store_explicit(&self_pid, pid, memory_order_relaxed);
	}
	return pid;
}

void hk_stack_atfork_child(void)
{
	atomic_store_explicit(&self_pid, 0, memory_order_relaxed);
}

/* Return addresses along the chain from frame fp: a frame is two words
 * (the caller's frame, the return address), each one higher on the stack
 * than the last and 16-aligned, as the x86-64 ABI leaves them. A program
 * frame without a frame pointer ends the chain or adds a stray address.
 * The bounds are differences, never fp + 16: a frame pointer register a
 * program used for data may hold any value, and binutils' `as` leaves -16
 * there, where fp + 16 wraps to 0 and passed the old test. */
static int walk(void **buf, int want, uintptr_t fp, uintptr_t sp)
{
	struct window win = { .pid = pid_of_self() };
	uintptr_t end = stack_end(sp);
	int n = 0;
	while (n < want && fp >= sp && fp < end && end - fp >= 16 && !(fp & 15)) {
		const uintptr_t *f = frame_at(&win, fp);
		if (!f || f[1] < 4096)
			break;
		buf[n++] = (void *)f[1];
		if (f[0] <= fp)
			break;
		fp = f[0];
	}
	return n;
}

/* ---- libgcc's unwinder, for the profiler ---- */

struct _Unwind_Context;
typedef int (*unwind_trace_fn)(struct _Unwind_Context *, void *);
enum { URC_NO_REASON = 0, URC_END_OF_STACK = 5 };

enum { UNW_NONE, UNW_LOADING, UNW_READY, UNW_FAILED };
static _Atomic int unw_state;
static int (*unwind_backtrace)(unwind_trace_fn fn, void *arg);
static uintptr_t (*unwind_get_ip)(struct _Unwind_Context *ctx);

/* _Unwind_Backtrace and _Unwind_GetIP, loaded on the first call. dlopen
 * allocates: the allocations it makes (and other threads' samples
 * meanwhile) find UNW_LOADING and walk frame pointers instead. No lock of
 * ours is held here (a thread inside dlopen may be waiting in malloc).
 * libgcc finds a frame's tables with glibc's _dl_find_object, which takes
 * no lock, so a sample taken inside dlopen (which holds the loader's lock)
 * cannot deadlock. */
static int unwinder(void)
{
	int s = atomic_load_explicit(&unw_state, memory_order_acquire), none = UNW_NONE;
	if (s != UNW_NONE || !atomic_compare_exchange_strong(&unw_state, &none, UNW_LOADING))
		return s == UNW_READY;
	void *h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
	if (h) {
		unwind_backtrace = (int (*)(unwind_trace_fn, void *))dlsym(h, "_Unwind_Backtrace");
		unwind_get_ip = (uintptr_t (*)(struct _Unwind_Context *))dlsym(h, "_Unwind_GetIP");
	}
	int ok = unwind_backtrace && unwind_get_ip;
	atomic_store_explicit(&unw_state, ok ? UNW_READY : UNW_FAILED, memory_order_release);
	return ok;
}

struct trace {
	void **buf;
	int n, want;
};

static int trace_frame(struct _Unwind_Context *ctx, void *arg)
{
	struct trace *t = arg;
	uintptr_t ip = unwind_get_ip(ctx);
	if (t->n >= t->want || ip < 4096)
		return URC_END_OF_STACK;
	t->buf[t->n++] = (void *)ip;
	return URC_NO_REASON;
}

/* Whole stacks from the .eh_frame tables; a frame without them (JIT code)
 * ends the stack there. No cache: ~1.6k instructions a frame, against
 * ~110 for libunwind's cached traces (callgrind, progs/leaker at a 32 KiB
 * rate: 0.70 G -> 4.36 G instructions, 254k stacks of ~9 frames); at the
 * default rate, bench/programs/run.py callgrind --scale 0.3 gave python3
 * +0.09 %, sqlite3 +0.25 %, perl +0.04 % instructions over libunwind. */
static int unwind(void **buf, int want)
{
	struct trace t = { buf, 0, want };
	unwind_backtrace(trace_frame, &t);
	return t.n;
}

/* Drops hakmem's frames (up to the last in the hk_entry section). */
static int drop_ours(void **out, int max, void *const *buf, int n)
{
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

/* Set while this thread captures a stack. The unwinder may allocate (the
 * dlopen that loads it; libunwind's first use in a thread allocated its TLS
 * block), and the sampler must not sample that in turn: with
 * HAKMEM_PROFILE_RATE=1 every program recursed until its stack overflowed
 * (test/preload/profile.sh). */
static __thread int capturing __attribute__((tls_model("initial-exec")));

int hk_stack_capturing(void)
{
	return capturing;
}

HK_ENTRY __attribute__((noinline)) int hk_stack_capture(void **out, int max, int profile)
{
	void *buf[HK_STACK_MAX + ENTRY_DEPTH];
	if (!CONFIG_HK_SAMPLE)
		return 0;
	int want = max + ENTRY_DEPTH, n;
	if (want > (int)(sizeof buf / sizeof buf[0]))
		want = (int)(sizeof buf / sizeof buf[0]);
	/* errno kept: a malloc that succeeds leaves it alone, and the
	 * unwinder's may not (libunwind's check of the addresses it read left
	 * EAGAIN: test/preload family.c under HAKMEM_PROFILE failed about 1
	 * run in 8 with errno 11; dlopen may set it too). */
	int saved = errno;
	capturing = 1;
	if (profile && !HK_STACK_SLOW && unwinder())
		n = unwind(buf, want);
	else
		n = walk(buf, want, (uintptr_t)__builtin_frame_address(0),
			 (uintptr_t)__builtin_frame_address(0));
	capturing = 0;
	errno = saved;
	return drop_ours(out, max, buf, n);
}

int hk_stack_capture_at(void **out, int max, uintptr_t ip, uintptr_t fp, uintptr_t sp)
{
	if (!CONFIG_HK_SAMPLE || max < 1)
		return 0;
	out[0] = (void *)ip;
	return 1 + walk(out + 1, max - 1, fp, sp);
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
