/*
 * core/profile.c — the heap profiler's records and its outputs. Records
 * are dense (a free list reuses them, so only as many pages are touched as
 * records were ever live at once), found through an open-addressing index
 * of 32-bit numbers (linear probing, backward-shift delete); both mapped
 * from the OS once and never grown: MAX_RECORDS at most, the rest counted
 * as dropped. (Records hashed straight into a 9 MiB table touched a new
 * page per sample: a page fault each, 2x the CPU of random_mixed.) Dumps copy the records out under the lock into
 * a scratch mapping, then write without it (dladdr takes the loader lock,
 * which a thread allocating inside dlopen holds while it waits for ours).
 * Outputs: the gperftools heap profile (pprof un-samples by the rate in its
 * header), folded stacks, a leak report at exit. No malloc, no stdio.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/arena_table.h"
#include "core/base.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/profile.h"
#include "core/stack.h"

#define HK_PROFILE_RECORDS 32768 /* index slots */
#define MAX_RECORDS (HK_PROFILE_RECORDS / 4 * 3)
#define RATE_DEFAULT ((size_t)512 << 10)

typedef struct record {
	uintptr_t p;   /* 0: free */
	uint64_t size;
	uint32_t depth;
	uint32_t next; /* free list */
	uint32_t arena; /* its arena's index (0: the default heap) */
	uint32_t pad;
	void *stack[HK_STACK_MAX];
} record_t;

/* Apart from `P`: 4 KiB of which fork writes only this lock. */
static HK_FORKED hk_lock_t P_lock;

static struct {
	_Atomic size_t rate;     /* 0: not profiling */
	record_t *tab;           /* MAX_RECORDS, or NULL before the first start */
	uint32_t *index;         /* HK_PROFILE_RECORDS: record number + 1, 0 empty */
	uint32_t fresh;          /* records never used: fresh .. MAX_RECORDS-1 */
	uint32_t free;           /* freed records; HK_NIL: none */
	size_t count;
	_Atomic uint64_t dropped;
	_Atomic size_t any;      /* records exist: frees look them up */
	_Atomic uint32_t in_arena[HK_ARENA_MAX]; /* live records per arena */
	char prefix[256];
	unsigned seq;            /* dumps written by this process */
	int signo;
	volatile sig_atomic_t pending; /* a signal came while the lock was held */
} P;

static size_t tab_bytes(void)
{
	size_t page = hk_platform_page_size();
	return (MAX_RECORDS * sizeof(record_t) + HK_PROFILE_RECORDS * sizeof(uint32_t) + page - 1) &
	       ~(page - 1);
}

/* Sets up the table in a fresh mapping (lock held, or init). */
static int tab_map(void)
{
	void *tab;
	if (hk_platform_map(tab_bytes(), 0, 0, &tab))
		return -1;
	P.tab = tab;
	P.index = (uint32_t *)(P.tab + MAX_RECORDS);
	P.free = HK_NIL;
	return 0;
}

size_t hk_profile_rate(void)
{
	if (!CONFIG_HK_PROFILE)
		return 0;
	return atomic_load_explicit(&P.rate, memory_order_relaxed);
}

static size_t slot_of(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ull >> 49) & (HK_PROFILE_RECORDS - 1);
}
_Static_assert(HK_PROFILE_RECORDS == 1 << 15, "slot_of keeps 15 bits");

int hk_profile_add(void *p, size_t size, void *const *stack, int depth, unsigned arena)
{
	int r = -1;
	hk_lock(&P_lock);
	if (P.tab && P.count < MAX_RECORDS) {
		uint32_t n = P.free;
		if (n != HK_NIL)
			P.free = P.tab[n].next;
		else
			n = P.fresh++;
		size_t i = slot_of((uintptr_t)p);
		while (P.index[i])
			i = (i + 1) & (HK_PROFILE_RECORDS - 1);
		P.index[i] = n + 1;
		record_t *e = &P.tab[n];
		e->p = (uintptr_t)p;
		e->size = size;
		e->depth = (uint32_t)depth;
		e->arena = arena;
		memcpy(e->stack, stack, (size_t)depth * sizeof(void *));
		atomic_fetch_add_explicit(&P.in_arena[arena], 1, memory_order_relaxed);
		P.count++;
		atomic_store_explicit(&P.any, P.count, memory_order_relaxed);
		r = 0;
	}
	hk_unlock(&P_lock);
	if (r)
		atomic_fetch_add_explicit(&P.dropped, 1, memory_order_relaxed);
	return r;
}

/* Drops p's record (lock held); 1 if it had one. */
static int remove_locked(uintptr_t p)
{
	int found = 0;
	size_t i = slot_of(p);
	while (P.index[i] && P.tab[P.index[i] - 1].p != p)
		i = (i + 1) & (HK_PROFILE_RECORDS - 1);
	if (P.index[i]) {
		record_t *e = &P.tab[P.index[i] - 1];
		atomic_fetch_sub_explicit(&P.in_arena[e->arena], 1, memory_order_relaxed);
		e->p = 0;
		e->next = P.free;
		P.free = P.index[i] - 1;
		/* Backward shift: later entries of the probe run move up so no
		 * lookup stops early at the hole. */
		size_t j = i;
		for (;;) {
			j = (j + 1) & (HK_PROFILE_RECORDS - 1);
			if (!P.index[j])
				break;
			size_t home = slot_of(P.tab[P.index[j] - 1].p);
			if (((j - home) & (HK_PROFILE_RECORDS - 1)) >= ((j - i) & (HK_PROFILE_RECORDS - 1))) {
				P.index[i] = P.index[j];
				i = j;
			}
		}
		P.index[i] = 0;
		P.count--;
		atomic_store_explicit(&P.any, P.count, memory_order_relaxed);
		found = 1;
	}
	return found;
}

int hk_profile_remove(const void *p)
{
	if (!atomic_load_explicit(&P.any, memory_order_relaxed))
		return 0;
	hk_lock(&P_lock);
	int found = remove_locked((uintptr_t)p);
	hk_unlock(&P_lock);
	return found;
}

size_t hk_profile_forget(unsigned arena)
{
	size_t n = 0;
	if (!atomic_load_explicit(&P.in_arena[arena], memory_order_relaxed))
		return 0;
	hk_lock(&P_lock);
	for (uint32_t i = 0; i < P.fresh && P.in_arena[arena]; i++)
		if (P.tab[i].p && P.tab[i].arena == arena)
			n += (size_t)remove_locked(P.tab[i].p);
	hk_unlock(&P_lock);
	return n;
}

/* While profiling, every arena's hk_arena_malloc takes its slow path,
 * which counts down (core/arena_alloc.c restores fast_bins once the
 * profiler is off). */
static void divert_arenas(int on)
{
	atomic_store(&hk_arena_divert, on);
	for (unsigned i = 0, n = on ? hk_arena_count() : 0; i < n; i++) {
		hk_arena_t *a = hk_arena_at(i);
		if (a && a->magic == HK_ARENA_LIVE)
			__atomic_store_n(&a->fast_bins, HK_BINS_NONE, __ATOMIC_RELAXED);
	}
}

void hk_profile_lock(void)
{
	hk_lock(&P_lock);
}

void hk_profile_unlock(void)
{
	hk_unlock(&P_lock);
}

void hk_profile_counts(size_t *records, size_t *bytes, uint64_t *dropped)
{
	hk_lock(&P_lock);
	*records = P.count;
	*bytes = P.tab ? tab_bytes() : 0;
	hk_unlock(&P_lock);
	*dropped = P.dropped;
}

/* ---- output ---- */

/* exp(-x) for x >= 0 without libm: 2^-k * exp(-r), r in [0, ln 2). */
static double expneg(double x)
{
	int k = (int)(x / 0.6931471805599453);
	double r = x - k * 0.6931471805599453, t = 1, s = 1;
	if (k > 60)
		return 0;
	for (int n = 1; n < 12; n++) {
		t *= -r / n;
		s += t;
	}
	return s / (double)(1ull << k);
}

/* What a sample of `size` stands for: size / P(sampled) (pprof's v2 rule). */
static uint64_t unsampled(uint64_t size, size_t rate)
{
	double q = 1 - expneg((double)size / (double)rate);
	return q > 0 ? (uint64_t)((double)size / q) : size;
}

typedef struct out {
	int fd;
	char *o;
	char buf[8192];
} out_t;

static void out_flush(out_t *w)
{
	hk_fmt_write(w->fd, w->buf, w->o);
	w->o = w->buf;
}

/* Room for one more item of up to 600 bytes. */
static void out_room(out_t *w)
{
	if (w->o - w->buf > (long)sizeof w->buf - 600)
		out_flush(w);
}

static void out_str(out_t *w, const char *s)
{
	while (*s) {
		out_room(w);
		*w->o++ = *s++;
	}
}

static void out_dec(out_t *w, uint64_t v)
{
	out_room(w);
	w->o = hk_fmt_dec(w->o, v);
}

static void out_hex(out_t *w, uintptr_t v)
{
	out_room(w);
	w->o = hk_fmt_hex(w->o, v);
}

/* A copy of the live records, taken under the lock (scratch from the OS). */
typedef struct snap {
	record_t *r;
	size_t n, len;
} snap_t;

static int snapshot(snap_t *s, int try)
{
	size_t page = hk_platform_page_size();
	void *mem;
	s->r = NULL;
	s->n = 0;
	if (try) {
		if (atomic_exchange_explicit(&P_lock.v, 1, memory_order_acquire))
			return -1;
	} else {
		hk_lock(&P_lock);
	}
	s->len = ((P.count ? P.count : 1) * sizeof(record_t) + page - 1) & ~(page - 1);
	if (hk_platform_map(s->len, 0, 0, &mem)) {
		hk_unlock(&P_lock);
		return -1;
	}
	s->r = mem;
	for (size_t i = 0; P.tab && i < P.fresh; i++)
		if (P.tab[i].p)
			s->r[s->n++] = P.tab[i];
	hk_unlock(&P_lock);
	return 0;
}

static void heap_file(int fd, const snap_t *s, size_t rate, int from_signal)
{
	out_t w = { .fd = fd };
	uint64_t bytes = 0;
	w.o = w.buf;
	for (size_t i = 0; i < s->n; i++)
		bytes += s->r[i].size;
	/* Counts are of samples; pprof scales each line by its mean size. */
	out_str(&w, "heap profile: ");
	out_dec(&w, s->n);
	out_str(&w, ": ");
	out_dec(&w, bytes);
	out_str(&w, " [");
	out_dec(&w, s->n);
	out_str(&w, ": ");
	out_dec(&w, bytes);
	out_str(&w, "] @ heap_v2/");
	out_dec(&w, rate);
	out_str(&w, "\n");
	for (size_t i = 0; i < s->n; i++) {
		const record_t *e = &s->r[i];
		out_str(&w, "1: ");
		out_dec(&w, e->size);
		out_str(&w, " [1: ");
		out_dec(&w, e->size);
		out_str(&w, "] @");
		for (uint32_t k = 0; k < e->depth; k++) {
			out_str(&w, " ");
			out_hex(&w, (uintptr_t)e->stack[k]);
		}
		out_str(&w, "\n");
	}
	/* pprof skips lines it does not know: the arenas ride along (not from
	 * a signal handler: arena stats take locks). */
	hk_arena_stats_t st;
	for (unsigned a = 0, n = from_signal ? 0 : hk_arena_count(); a < n; a++) {
		hk_arena_t *ar = hk_arena_at(a);
		if (!ar || ar->magic != HK_ARENA_LIVE || (ar->heap && a) || hk_arena_stats(ar, &st))
			continue;
		out_str(&w, "# arena ");
		out_dec(&w, a);
		out_str(&w, " ");
		out_str(&w, st.name[0] ? st.name : "-");
		out_str(&w, ": live ");
		out_dec(&w, st.live_bytes);
		out_str(&w, " committed ");
		out_dec(&w, st.committed_bytes);
		out_str(&w, "\n");
	}
	out_str(&w, "MAPPED_LIBRARIES:\n");
	out_flush(&w);
	int maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (maps >= 0) {
		ssize_t r;
		while ((r = read(maps, w.buf, sizeof w.buf)) > 0)
			hk_fmt_write(fd, w.buf, w.buf + r);
		close(maps);
	}
}

/* dladdr walks an object's whole symbol table (~64k instructions a call
 * in perl, whose exit dump it made 1.6 % of the run): a dump names each
 * distinct return address once, through this table in scratch memory
 * sized for every frame of the snapshot (so it never fills). */
typedef struct names {
	struct { void *ip; const char *name; } *slot; /* NULL: no scratch */
	size_t mask, len;
} names_t;

static void names_map(names_t *nm, const snap_t *s)
{
	size_t page = hk_platform_page_size(), frames = 0, n = 16;
	void *mem;
	for (size_t i = 0; i < s->n; i++)
		frames += s->r[i].depth;
	while (n < 2 * frames)
		n <<= 1;
	nm->len = (n * sizeof nm->slot[0] + page - 1) & ~(page - 1);
	nm->slot = hk_platform_map(nm->len, 0, 0, &mem) ? NULL : mem;
	nm->mask = n - 1;
}

static const char *frame_name(names_t *nm, void *ip)
{
	Dl_info info;
	/* 24 bits of hash: the table has at most 2^21 slots (every frame of
	 * MAX_RECORDS records, twice). */
	size_t i = (size_t)((uintptr_t)ip * 0x9e3779b97f4a7c15ull >> 40) & nm->mask;
	if (!nm->slot)
		return dladdr((char *)ip - 1, &info) ? info.dli_sname : NULL;
	while (nm->slot[i].ip && nm->slot[i].ip != ip)
		i = (i + 1) & nm->mask;
	if (!nm->slot[i].ip) {
		nm->slot[i].ip = ip;
		nm->slot[i].name = dladdr((char *)ip - 1, &info) ? info.dli_sname : NULL;
	}
	return nm->slot[i].name;
}

static void out_frame(out_t *w, names_t *nm, void *ip)
{
	const char *s = frame_name(nm, ip);
	if (s) {
		out_room(w);
		for (int k = 0; s[k] && k < 200; k++)
			*w->o++ = s[k] == ';' ? ':' : s[k]; /* ';' separates frames */
	} else {
		out_hex(w, (uintptr_t)ip);
	}
}

/* "outer;...;inner bytes", one line per record, bytes un-sampled. */
static void folded_file(int fd, const snap_t *s, size_t rate, names_t *nm)
{
	out_t w = { .fd = fd };
	w.o = w.buf;
	for (size_t i = 0; i < s->n; i++) {
		const record_t *e = &s->r[i];
		for (uint32_t k = e->depth; k-- > 0;) {
			out_frame(&w, nm, e->stack[k]);
			if (k)
				out_str(&w, ";");
		}
		out_str(&w, " ");
		out_dec(&w, unsampled(e->size, rate));
		out_str(&w, "\n");
	}
	out_flush(&w);
}

/* Sampled blocks still live at exit, summed by their allocation site
 * (first frame), biggest first. */
static void leak_file(int fd, const snap_t *s, size_t rate, names_t *nm)
{
	enum { SITES = 64 };
	struct { void *ip; uint64_t n, bytes; } site[SITES];
	unsigned nsite = 0;
	uint64_t total = 0, other = 0;
	out_t w = { .fd = fd };
	w.o = w.buf;
	for (size_t i = 0; i < s->n; i++) {
		void *ip = s->r[i].depth ? s->r[i].stack[0] : NULL;
		uint64_t b = unsampled(s->r[i].size, rate);
		unsigned k = 0;
		total += b;
		while (k < nsite && site[k].ip != ip)
			k++;
		if (k == nsite && nsite < SITES)
			site[nsite++] = (typeof(site[0])){ ip, 0, 0 };
		if (k == nsite) {
			other += b;
			continue;
		}
		site[k].n++;
		site[k].bytes += b;
	}
	out_str(&w, "hakmem heap profile: leaks at exit (sampled blocks still live, by allocation site)\n");
	out_str(&w, "total ");
	out_dec(&w, total);
	out_str(&w, " bytes estimated from ");
	out_dec(&w, s->n);
	out_str(&w, " samples (rate ");
	out_dec(&w, rate);
	out_str(&w, ")\n");
	for (unsigned done = 0; done < nsite; done++) {
		unsigned best = done;
		for (unsigned k = done + 1; k < nsite; k++)
			if (site[k].bytes > site[best].bytes)
				best = k;
		typeof(site[0]) t = site[done];
		site[done] = site[best];
		site[best] = t;
		out_dec(&w, site[done].bytes);
		out_str(&w, " bytes in ");
		out_dec(&w, site[done].n);
		out_str(&w, " samples at ");
		out_hex(&w, (uintptr_t)site[done].ip);
		out_str(&w, " ");
		out_frame(&w, nm, site[done].ip);
		out_str(&w, "\n");
	}
	if (other) {
		out_dec(&w, other);
		out_str(&w, " bytes at other sites\n");
	}
	out_flush(&w);
}

/* "<prefix>.<pid>.<seq><ext>" into buf (256 + 40 bytes). */
static void name(char *buf, unsigned seq, const char *ext)
{
	char *o = hk_fmt_str(buf, P.prefix);
	*o++ = '.';
	o = hk_fmt_dec(o, (uint64_t)getpid());
	*o++ = '.';
	char num[24], *e = hk_fmt_dec(num, seq);
	for (long pad = 4 - (e - num); pad > 0; pad--)
		*o++ = '0';
	memcpy(o, num, (size_t)(e - num));
	o += e - num;
	o = hk_fmt_str(o, ext);
	*o = 0;
}

static int create(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* Writes the heap profile to `path` (and, unless from a signal, the folded
 * stacks to path.folded, the leak report to path.leaks when `leaks`). */
static int dump_to(const char *path, int from_signal, int leaks)
{
	snap_t s;
	size_t rate = hk_profile_rate();
	char more[320];
	int err = 0;
	if (!rate)
		rate = RATE_DEFAULT; /* stopped: the records still stand for this rate */
	if (snapshot(&s, from_signal))
		return EAGAIN;
	int fd = create(path);
	if (fd < 0) {
		err = errno;
	} else {
		heap_file(fd, &s, rate, from_signal);
		close(fd);
	}
	size_t n = strlen(path);
	if (!err && !from_signal && n < 300) {
		names_t nm;
		names_map(&nm, &s);
		memcpy(more, path, n);
		strcpy(more + n, ".folded");
		if ((fd = create(more)) >= 0) {
			folded_file(fd, &s, rate, &nm);
			close(fd);
		}
		if (leaks) {
			strcpy(more + n, ".leaks");
			if ((fd = create(more)) >= 0) {
				leak_file(fd, &s, rate, &nm);
				close(fd);
			}
		}
		if (nm.slot)
			hk_platform_unmap(nm.slot, nm.len);
	}
	hk_platform_unmap(s.r, s.len);
	return err;
}

static int dump_next(int from_signal, int leaks)
{
	char path[320];
	if (!P.prefix[0])
		return EINVAL;
	name(path, __atomic_fetch_add(&P.seq, 1, __ATOMIC_RELAXED), ".heap");
	return dump_to(path, from_signal, leaks);
}

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	if (dump_next(1, 0) == EAGAIN)
		P.pending = 1;
	errno = saved;
}

__attribute__((destructor)) static void at_exit(void)
{
	if (hk_profile_rate())
		dump_next(0, 1);
}

/* ---- the API ---- */

/* hk_profile_start's work once init is done (core/observe.c starts init,
 * then the sampler's countdown). */
int hk_profile_begin(const char *prefix, size_t rate)
{
	if (prefix && strlen(prefix) >= sizeof P.prefix)
		return ENAMETOOLONG;
	hk_lock(&P_lock);
	/* Mapped, untouched: a page costs memory once a record lands in it. */
	if (!P.tab && tab_map()) {
		hk_unlock(&P_lock);
		return ENOMEM;
	}
	if (prefix)
		strcpy(P.prefix, prefix);
	hk_unlock(&P_lock);
	divert_arenas(1);
	atomic_store(&P.rate, rate ? rate : RATE_DEFAULT);
	return 0;
}

void hk_profile_end(void)
{
	atomic_store(&P.rate, 0);
	divert_arenas(0);
}

HK_API int hk_profile_dump(const char *path)
{
	if (!CONFIG_HK_PROFILE)
		return ENOSYS;
	return path ? dump_to(path, 0, 0) : dump_next(0, 0);
}

static int signal_number(const char *s)
{
	if (!strncmp(s, "SIG", 3))
		s += 3;
	if (!strcmp(s, "USR1"))
		return SIGUSR1;
	if (!strcmp(s, "USR2"))
		return SIGUSR2;
	if (!strcmp(s, "PROF"))
		return SIGPROF;
	int n = 0;
	for (const char *d = s; *d && n < 65; d++)
		n = *d >= '0' && *d <= '9' ? n * 10 + (*d - '0') : 65;
	return n > 0 && n < 65 ? n : 0;
}

void hk_profile_init(const char *(*get)(const char *name))
{
	const char *prefix = get("HAKMEM_PROFILE"), *r = get("HAKMEM_PROFILE_RATE");
	const char *sig = get("HAKMEM_PROFILE_SIGNAL");
	if (!CONFIG_HK_PROFILE || !prefix || !prefix[0])
		return;
	size_t rate = hk_env_size("HAKMEM_PROFILE_RATE", r, 0);
	/* init is still running: hk_profile_start's hk_init would wait for itself. */
	atomic_store(&P.rate, 0);
	if (tab_map())
		return;
	strncpy(P.prefix, prefix, sizeof P.prefix - 1);
	if (sig && sig[0] && !(P.signo = signal_number(sig)))
		hk_env_report("HAKMEM_PROFILE_SIGNAL", sig, "USR1|USR2|PROF|SIGUSR1|SIGUSR2|SIGPROF|1..64");
	if (P.signo) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(P.signo, &sa, NULL);
	}
	divert_arenas(1);
	atomic_store(&P.rate, rate ? rate : RATE_DEFAULT);
}

/* A signal found the table locked: the next sample writes the dump. */
void hk_profile_poll(void)
{
	if (P.pending) {
		P.pending = 0;
		dump_next(0, 0);
	}
}
