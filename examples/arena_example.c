/*
 * arena_example.c — embedding hakmem: a request-scoped arena with a budget.
 * Each "request" builds its data in the arena and is dropped with one
 * hk_arena_reset(); a runaway request hits the arena's capacity and gets
 * NULL/ENOMEM instead of taking the process down. Uses include/hakmem.h
 * only; exits 0 when everything behaved as documented (make test runs it).
 *
 *   cc -I include examples/arena_example.c build/libhakmem.a -lpthread -luring
 * (-luring when io_uring is configured, as in defconfig; the profiler's unwinder
 * is loaded at run time).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hakmem.h>

struct item {
	struct item *next;
	char *text;
};

/* Builds a list of n items in the arena; NULL if the arena said no. */
static struct item *build_request(hk_arena_t *a, int n)
{
	struct item *head = NULL;
	for (int i = 0; i < n; i++) {
		struct item *it = hk_arena_calloc(a, 1, sizeof(*it));
		char *text = hk_arena_malloc(a, 64);
		if (!it || !text)
			return NULL; /* nothing to free: the reset takes it all */
		snprintf(text, 64, "item %d", i);
		it->text = text;
		it->next = head;
		head = it;
	}
	return head;
}

static int check(int ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "arena_example: unexpected: %s\n", what);
	return ok ? 0 : 1;
}

int main(void)
{
	hk_arena_config_t cfg = {
		.capacity = (size_t)16 << 20, /* never more than 16 MiB committed */
		.numa_node = HK_NODE_LOCAL,
		.hugepages = HK_HUGEPAGE_AUTO,
		.flags = 0,
		.name = "requests",
	};
	hk_arena_t *a = hk_arena_create(&cfg);
	if (!a) {
		perror("hk_arena_create");
		return 1;
	}
	int bad = 0;

	for (int req = 0; req < 3; req++) {
		struct item *list = build_request(a, 100);
		bad += check(list && !strcmp(list->text, "item 99"), "request built");
		bad += check(hk_arena_of(list) == a, "hk_arena_of names the arena");
		/* A growing buffer: realloc keeps the contents, in the same arena. */
		char *buf = hk_arena_malloc(a, 16);
		if (buf) {
			strcpy(buf, "hello");
			buf = hk_arena_realloc(a, buf, 100000);
		}
		bad += check(buf && !strcmp(buf, "hello") && hk_usable_size(buf) >= 100000, "realloc");
		hk_free(buf); /* blocks can still be freed one by one */
		hk_arena_reset(a); /* ...or all at once */
	}

	/* A runaway request: 64 KiB at a time until the budget says no. */
	size_t got = 0;
	void *p;
	errno = 0;
	while ((p = hk_arena_malloc(a, 65536)) != NULL)
		got += 65536;
	bad += check(errno == ENOMEM, "ENOMEM at the capacity");
	bad += check(got > 0 && got <= cfg.capacity, "capacity respected");

	hk_arena_stats_t st;
	if (hk_arena_stats(a, &st) == 0) {
		printf("arena %s: %zu KiB live, %zu KiB committed of %zu KiB, %llu failed allocations\n",
		       st.name, st.live_bytes >> 10, st.committed_bytes >> 10, st.capacity >> 10,
		       (unsigned long long)st.failed_allocs);
		bad += check(st.failed_allocs >= 1 && st.committed_bytes <= cfg.capacity, "stats");
	}
	hk_arena_reset(a);
	bad += check(hk_arena_malloc(a, 65536) != NULL, "usable again after reset");
	hk_arena_destroy(a);

	/* The default heap (behind hk_malloc, and malloc when preloaded) is an arena too. */
	void *q = hk_malloc(100);
	bad += check(q && hk_arena_of(q) == hk_arena_default(), "default arena");
	hk_free(q);
	return bad != 0;
}
