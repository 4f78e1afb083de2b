/*
 * core/guard.c — the sampling guard's slots (GWP-ASan style). A pool of
 * HK_GUARD_SLOTS slots of two pages (the block's page, then a PROT_NONE
 * page) is reserved on the first sampled block; a block sits at the end of
 * its page, so reading or writing past its end faults at once; a freed
 * block's page goes PROT_NONE at once and keeps its memory: the last
 * freed slots (HK_GUARD_KEPT at most) wait in a FIFO, and once
 * HK_GUARD_WAIT wait each new sample takes the oldest, whose page needs no
 * fault (a first touch costs ~9 us here, a touch of a kept page ~4: the
 * hypervisor's part), so a use after free faults for at least
 * HK_GUARD_WAIT - 1 later guarded frees. A slot pushed out of that FIFO
 * gives its page back and waits in a second FIFO, reused only after every
 * fresh slot. Overflow into the few bytes that align a block to 16 is
 * caught at free by a pattern. The SIGSEGV handler reports and aborts.
 * After the guarded slots, HK_OPEN_SLOTS open slots of one page serve the
 * blocks the profiler samples and the guard does not pick: no guard page,
 * committed in batches and kept committed, reused last-freed first, so a
 * profiled sample costs no system call (each guarded one costs two and a
 * page fault: ~100 us here, where the profiler's budget is ~1 us).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "core/base.h"
#include "core/guard.h"
#include "core/lock.h"
#include "core/platform.h"
#include "core/stack.h"

#define HK_GUARD_SLOTS 8192 /* 64 MiB of address space with 4 KiB pages */
/* Freed guarded slots that keep their page: at most HK_GUARD_KEPT (128 KiB
 * resident), reused once HK_GUARD_WAIT are, so a freed page stays
 * inaccessible for at least 15 later guarded frees (a GiB allocated at the
 * default rate). The gap between the two absorbs bursts of frees: a page
 * given back costs a TLB flush (~10 us), then a first-touch fault (~9). */
#define HK_GUARD_KEPT 32
#define HK_GUARD_WAIT 16
#define HK_OPEN_SLOTS 8192  /* 32 MiB, committed as used, never given back */
#define OPEN_BATCH 16       /* open slots committed per system call */
#define GUARD_STACK 16
#define SLACK_BYTE 0xa5

enum { SLOT_NEVER = 0, SLOT_LIVE, SLOT_FREED };

typedef struct slot {
	uintptr_t block;
	uint32_t size;
	uint8_t state;
	uint8_t nalloc, nfree;
	uint8_t kept;  /* freed, its page PROT_NONE but resident */
	uint32_t next; /* FIFO of freed slots */
	void *alloc_stack[GUARD_STACK];
	void *free_stack[GUARD_STACK];
} slot_t;

_Atomic uintptr_t hk_guard_base, hk_guard_end;

static struct {
	hk_lock_t lock;
	size_t page, stride;
	slot_t *slots;
	uint32_t fresh;      /* slots never used: fresh .. HK_GUARD_SLOTS-1 */
	struct fifo {
		uint32_t head, tail; /* oldest first; HK_NIL: none */
		uint32_t n;
	} kept, cold;        /* freed slots with their page, and without */
	size_t live;
	/* Open slots: indexes HK_GUARD_SLOTS.. in G.slots; pages from `open`. */
	uintptr_t open;
	uint32_t open_fresh;     /* never used: open_fresh .. HK_OPEN_SLOTS-1 */
	uint32_t open_committed; /* committed: 0 .. open_committed-1 */
	uint32_t open_free;      /* freed, last freed first; HK_NIL: none */
	size_t open_live;        /* of G.live */
	int failed;          /* the pool could not be reserved: never again */
	/* The SIGSEGV action found at install, valid once `installed` is set
	 * (on_segv waits for it); `old_spent`: its SA_RESETHAND handler ran. */
	struct sigaction old;
	_Atomic int installed, old_spent;
} G HK_FORKED = { .kept = { HK_NIL, HK_NIL, 0 }, .cold = { HK_NIL, HK_NIL, 0 }, .open_free = HK_NIL };

static size_t pool_len(void)
{
	return HK_GUARD_SLOTS * G.stride + HK_OPEN_SLOTS * G.page;
}

/* Lock held. */
static int pool_init(void)
{
	void *base, *meta;
	if (G.failed)
		return -1;
	G.page = hk_platform_page_size();
	G.stride = 2 * G.page;
	if (hk_platform_reserve(pool_len(), G.page, &base)) {
		G.failed = 1;
		return -1;
	}
	size_t mlen = ((HK_GUARD_SLOTS + HK_OPEN_SLOTS) * sizeof(slot_t) + G.page - 1) &
		      ~(G.page - 1);
	if (hk_platform_map(mlen, 0, 0, &meta)) {
		hk_platform_release(base, pool_len());
		G.failed = 1;
		return -1;
	}
	G.slots = meta;
	G.open = (uintptr_t)base + HK_GUARD_SLOTS * G.stride;
	atomic_store_explicit(&hk_guard_end, (uintptr_t)base + pool_len(), memory_order_relaxed);
	atomic_store_explicit(&hk_guard_base, (uintptr_t)base, memory_order_release);
	return 0;
}

static char *slot_page(uint32_t i)
{
	if (i < HK_GUARD_SLOTS)
		return (char *)hk_guard_base + (size_t)i * G.stride;
	return (char *)G.open + (size_t)(i - HK_GUARD_SLOTS) * G.page;
}

/* Lock held. */
static void push(struct fifo *f, uint32_t i)
{
	G.slots[i].next = HK_NIL;
	if (f->tail != HK_NIL)
		G.slots[f->tail].next = i;
	else
		f->head = i;
	f->tail = i;
	f->n++;
}

/* Lock held: the oldest slot of f, or HK_NIL. */
static uint32_t pop(struct fifo *f)
{
	uint32_t i = f->head;
	if (i != HK_NIL) {
		f->head = G.slots[i].next;
		if (f->head == HK_NIL)
			f->tail = HK_NIL;
		f->n--;
	}
	return i;
}

/* Lock held: a guarded slot, its page PROT_NONE: the oldest kept one once
 * HK_GUARD_WAIT are kept (no fault), else a fresh one, else the one freed
 * longest ago. */
static uint32_t take_guarded(void)
{
	if (G.kept.n >= HK_GUARD_WAIT)
		return pop(&G.kept);
	if (G.fresh < HK_GUARD_SLOTS)
		return G.fresh++;
	uint32_t i = pop(&G.cold);
	return i != HK_NIL ? i : pop(&G.kept);
}

/* Lock held: slot i, freed, gives its page back (if it still has one)
 * and waits behind every other freed slot. */
static void give_back(uint32_t i)
{
	if (G.slots[i].kept)
		hk_platform_decommit(slot_page(i), G.page);
	G.slots[i].kept = 0;
	push(&G.cold, i);
}

/* Lock held: an open slot, the last freed, else a fresh one (committing
 * the next batch when needed). Its page is read-write. */
static uint32_t take_open(void)
{
	uint32_t i = G.open_free;
	if (i != HK_NIL) {
		G.open_free = G.slots[i].next;
		return i;
	}
	if (G.open_fresh == HK_OPEN_SLOTS)
		return HK_NIL;
	if (G.open_fresh == G.open_committed) {
		if (hk_platform_commit((char *)G.open + (size_t)G.open_committed * G.page,
				       OPEN_BATCH * G.page))
			return HK_NIL;
		G.open_committed += OPEN_BATCH;
	}
	return HK_GUARD_SLOTS + G.open_fresh++;
}
_Static_assert(HK_OPEN_SLOTS % OPEN_BATCH == 0, "batches fill the open area");

static size_t round16(size_t n)
{
	return n ? (n + 15) & ~(size_t)15 : 16;
}

static void install(void);

void *hk_guard_alloc(size_t size, void *const *stack, int depth, int guarded)
{
	void *p = NULL;
	if (size > hk_platform_page_size())
		return NULL;
	hk_lock(&G.lock);
	if (!G.slots && pool_init())
		goto out;
	if (guarded)
		install();
	uint32_t i = guarded ? take_guarded() : take_open();
	if (i == HK_NIL)
		goto out;
	char *page = slot_page(i);
	if (guarded && hk_platform_commit(page, G.page)) {
		/* At the end of the FIFO: tried again after the others. */
		give_back(i);
		goto out;
	}
	slot_t *s = &G.slots[i];
	s->kept = 0;
	p = page + G.page - round16(size);
	memset((char *)p + size, SLACK_BYTE, round16(size) - size);
	s->block = (uintptr_t)p;
	s->size = (uint32_t)size;
	s->nalloc = (uint8_t)(depth < GUARD_STACK ? depth : GUARD_STACK);
	memcpy(s->alloc_stack, stack, s->nalloc * sizeof(void *));
	s->nfree = 0;
	s->state = SLOT_LIVE;
	G.live++;
	G.open_live += !guarded;
out:
	hk_unlock(&G.lock);
	return p;
}

static slot_t *slot_of(uintptr_t p)
{
	if (p >= G.open)
		return &G.slots[HK_GUARD_SLOTS + (p - G.open) / G.page];
	return &G.slots[(p - hk_guard_base) / G.stride];
}

static int is_open(const slot_t *s)
{
	return s - G.slots >= HK_GUARD_SLOTS;
}

size_t hk_guard_usable(const void *p, const char *call)
{
	slot_t *s = slot_of((uintptr_t)p);
	if (s->state == SLOT_FREED && s->block == (uintptr_t)p)
		hk_fatal(call, "double free or use of freed block", p);
	if (s->state != SLOT_LIVE || s->block != (uintptr_t)p)
		hk_fatal(call, "invalid pointer (inside a guarded block)", p);
	return s->size;
}

static void report_stacks(const slot_t *s, int fd);

HK_ENTRY void hk_guard_free(void *p)
{
	void *stack[GUARD_STACK];
	slot_t *s = slot_of((uintptr_t)p);
	int open = is_open(s);
	/* An open slot's page stays readable: a use after free goes unseen,
	 * so its free stack would never be reported. */
	int depth = open ? 0 : hk_stack_capture(stack, GUARD_STACK, 0);
	const unsigned char *slack = (const unsigned char *)p + s->size;
	for (size_t k = 0; k < round16(s->size) - s->size; k++) {
		if (slack[k] != SLACK_BYTE) {
			char buf[256], *o = buf;
			o = hk_fmt_str(o, "hakmem: guard: heap-buffer-overflow found at free: byte ");
			o = hk_fmt_dec(o, s->size + k);
			o = hk_fmt_str(o, " of guarded block ");
			o = hk_fmt_hex(o, s->block);
			o = hk_fmt_str(o, " of ");
			o = hk_fmt_dec(o, s->size);
			o = hk_fmt_str(o, " bytes was written\n");
			hk_fmt_write(2, buf, o);
			report_stacks(s, 2);
			hk_fatal("free", "heap-buffer-overflow of guarded block", p);
		}
	}
	char *page = (char *)(s->block & ~(uintptr_t)(G.page - 1));
	hk_lock(&G.lock);
	s->nfree = (uint8_t)depth;
	memcpy(s->free_stack, stack, (size_t)depth * sizeof(void *));
	s->state = SLOT_FREED;
	G.live--;
	uint32_t i = (uint32_t)(s - G.slots);
	if (open) {
		G.open_live--;
		s->next = G.open_free;
		G.open_free = i;
		hk_unlock(&G.lock);
		return;
	}
	/* Any access faults from now on. Giving the page back instead costs
	 * as much (the TLB flush is most of either: 7-9 us idle here, 20 us
	 * and more under load) and the next sample a first-touch fault. */
	if (hk_platform_protect(page, G.page)) {
		hk_platform_decommit(page, G.page); /* fresh PROT_NONE pages */
		push(&G.cold, i);
	} else {
		s->kept = 1;
		push(&G.kept, i);
		if (G.kept.n > HK_GUARD_KEPT)
			give_back(pop(&G.kept));
	}
	hk_unlock(&G.lock);
}

void hk_guard_lock(void)
{
	hk_lock(&G.lock);
}

void hk_guard_unlock(void)
{
	hk_unlock(&G.lock);
}

void hk_guard_counts(size_t *live, size_t *kept, size_t *open, size_t *committed)
{
	hk_lock(&G.lock);
	*live = G.live - G.open_live;
	*kept = G.kept.n;
	*open = G.open_live;
	*committed = (G.live - G.open_live + G.kept.n + G.open_committed) * G.page;
	hk_unlock(&G.lock);
}

/* ---- the report ---- */

static void report_stacks(const slot_t *s, int fd)
{
	static const char a[] = "  allocated at:\n", f[] = "  freed at:\n";
	hk_fmt_write(fd, a, a + sizeof a - 1);
	hk_stack_print(fd, s->alloc_stack, s->nalloc);
	if (s->state == SLOT_FREED) {
		hk_fmt_write(fd, f, f + sizeof f - 1);
		hk_stack_print(fd, s->free_stack, s->nfree);
	}
}

/* x86-64: bit 1 of the page-fault error code says write. */
static const char *access_kind(const void *uctx)
{
	const ucontext_t *uc = uctx;
	return uc && (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "write" : "read";
}

static __attribute__((noreturn)) void report(uintptr_t addr, const void *uctx)
{
	char buf[512], *o = buf;
	slot_t *s = slot_of(addr);
	int in_guard = !is_open(s) && (addr - hk_guard_base) % G.stride >= G.page;
	o = hk_fmt_str(o, "hakmem: guard: ");
	if (s->state == SLOT_NEVER) {
		o = hk_fmt_str(o, "wild access");
	} else if (s->state == SLOT_FREED) {
		o = hk_fmt_str(o, "use-after-free");
	} else {
		o = hk_fmt_str(o, in_guard ? "heap-buffer-overflow" : "wild access");
	}
	o = hk_fmt_str(o, " (");
	o = hk_fmt_str(o, access_kind(uctx));
	o = hk_fmt_str(o, ") at ");
	o = hk_fmt_hex(o, addr);
	if (s->state != SLOT_NEVER) {
		if (addr >= s->block + s->size) {
			o = hk_fmt_str(o, ", ");
			o = hk_fmt_dec(o, addr - (s->block + s->size) + 1);
			o = hk_fmt_str(o, " bytes past the end of");
		} else if (addr >= s->block) {
			o = hk_fmt_str(o, ", byte ");
			o = hk_fmt_dec(o, addr - s->block);
			o = hk_fmt_str(o, " of");
		} else {
			o = hk_fmt_str(o, ", ");
			o = hk_fmt_dec(o, s->block - addr);
			o = hk_fmt_str(o, " bytes before");
		}
		o = hk_fmt_str(o, s->state == SLOT_FREED ? " freed block " : " block ");
		o = hk_fmt_hex(o, s->block);
		o = hk_fmt_str(o, " of ");
		o = hk_fmt_dec(o, s->size);
		o = hk_fmt_str(o, " bytes");
	}
	o = hk_fmt_str(o, "\n  access at:\n");
	hk_fmt_write(2, buf, o);
	/* The program's frames start at the faulting instruction: from the
	 * interrupted context, not through the handler and the trampoline. */
	void *here[GUARD_STACK];
	const ucontext_t *uc = uctx;
	int n = 0;
	if (uc) {
		const greg_t *r = uc->uc_mcontext.gregs;
		n = hk_stack_capture_at(here, GUARD_STACK, (uintptr_t)r[REG_RIP], (uintptr_t)r[REG_RBP],
					(uintptr_t)r[REG_RSP]);
	}
	hk_stack_print(2, here, n);
	if (s->state != SLOT_NEVER)
		report_stacks(s, 2);
	signal(SIGABRT, SIG_DFL);
	abort();
}

/*
 * A fault outside the pool goes to the handler found at install, as the
 * kernel would have run it: the program may have installed it first, as
 * this one comes only with the first guarded block. So its sa_mask and
 * SA_NODEFER set the mask (a handler that expects to be entered again by
 * a fault of its own was killed instead), and SA_RESETHAND runs it once,
 * the default action after (a returning one ran forever: the access
 * faulted again into us, and we into it; test/preload/sigchain.sh). That
 * default is the chain's, not the kernel's: put back in the kernel, it
 * dropped this handler too, and a later fault of the pool killed the
 * program with no report (sigchain.sh resethand_then_guard).
 */
static void chain(int sig, siginfo_t *si, void *uctx)
{
	static const struct sigaction default_action; /* SIG_DFL, no flags */
	const struct sigaction *o = &G.old;
	if ((o->sa_flags & SA_RESETHAND) &&
	    atomic_exchange_explicit(&G.old_spent, 1, memory_order_relaxed))
		o = &default_action;
	if (!(o->sa_flags & SA_SIGINFO) && (o->sa_handler == SIG_DFL || o->sa_handler == SIG_IGN)) {
		/* si_code <= 0: sent by kill() or raise(), not a fault, so it
		 * does not come again by itself: ignored, or sent once more
		 * (pending until we return) to meet the default action. */
		if (si->si_code <= 0 && o->sa_handler == SIG_IGN)
			return;
		sigaction(sig, o, NULL);
		if (si->si_code <= 0)
			raise(sig);
		return; /* a fault: the access runs again, under the old action */
	}
	sigset_t mask, saved;
	if (uctx)
		mask = ((const ucontext_t *)uctx)->uc_sigmask;
	else
		pthread_sigmask(SIG_SETMASK, NULL, &mask);
	sigorset(&mask, &mask, &o->sa_mask);
	if (o->sa_flags & SA_NODEFER)
		sigdelset(&mask, sig);
	else
		sigaddset(&mask, sig);
	pthread_sigmask(SIG_SETMASK, &mask, &saved);
	if (o->sa_flags & SA_SIGINFO)
		o->sa_sigaction(sig, si, uctx);
	else
		o->sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	if (G.slots && hk_guard_owns((void *)addr))
		report(addr, uctx);
	/* Installed, and the kernel is still writing G.old back to install():
	 * a system call's return away. */
	while (!atomic_load_explicit(&G.installed, memory_order_acquire))
		__builtin_ia32_pause();
	chain(sig, si, uctx);
}

/* At the first guarded block, not at init: a system call that most short
 * processes (a sample per 64 MiB allocated) never need. Lock held. */
static void install(void)
{
	struct sigaction sa;
	sigset_t segv, saved;
	if (atomic_load_explicit(&G.installed, memory_order_relaxed))
		return;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	/* One call swaps the actions: read first and installed by a second
	 * call, a handler another thread installed in between was overwritten
	 * and never run, the chain going to the one before it. Blocked
	 * meanwhile: a SIGSEGV sent to this thread would wait in on_segv for
	 * the store below, which only this thread makes. */
	sigemptyset(&segv);
	sigaddset(&segv, SIGSEGV);
	pthread_sigmask(SIG_BLOCK, &segv, &saved);
	if (sigaction(SIGSEGV, &sa, &G.old) == 0)
		atomic_store_explicit(&G.installed, 1, memory_order_release);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}
