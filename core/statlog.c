/*
 * core/statlog.c — statistics over time. A detached thread (all signals
 * blocked, 64 KiB stack) wakes every HAKMEM_STATS_INTERVAL ms and appends
 * "ms live committed rss purged large guarded profiled tiny mid pool"
 * (bytes, records; the last three: the slab bands with the blocks threads
 * cache, and POOL, beside large) to HAKMEM_STATS_FILE; tools/stats-plot.sh
 * charts it. Started from the
 * sampler's slow path, so never inside init or a fork handler; a forked
 * child has no such thread (its lines would mix with the parent's).
 * Formats with the report formatters and writes with write(2): no malloc.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base.h"
#include "core/guard.h"
#include "core/large.h"
#include "core/platform.h"
#include "core/profile.h"
#include "core/stack.h"
#include "core/statlog.h"
#include "core/stats.h"

static struct {
	unsigned interval_ms; /* 0: off */
	int fd;
	_Atomic int started;
	pid_t pid;            /* the process that asked: a child never starts */
	uint64_t t0;
} S = { .fd = 2 };

void hk_statlog_init(const char *(*get)(const char *name))
{
	const char *path = get("HAKMEM_STATS_FILE");
	/* atoi read "1s" as 1 ms and 4294967297 as 1: a line every millisecond. */
	unsigned ms = hk_env_ms("HAKMEM_STATS_INTERVAL", get("HAKMEM_STATS_INTERVAL"));
	if (!ms)
		return;
	if (path && path[0]) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			return;
		S.fd = fd;
	}
	S.interval_ms = ms;
	S.pid = getpid();
	S.t0 = hk_platform_now_ms();
}

static size_t rss_bytes(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *sp = strchr(buf, ' ');
	return sp ? (size_t)strtoull(sp + 1, NULL, 10) * hk_platform_page_size() : 0;
}

static char *field(char *o, uint64_t v)
{
	*o++ = ' ';
	return hk_fmt_dec(o, v);
}

static void line(void)
{
	hk_stats_t s;
	size_t glive, gkept, gopen, gbytes, records, tbytes, band[HK_BANDS];
	uint64_t dropped;
	char buf[256], *o = buf;
	hk_stats_collect(&s);
	hk_guard_counts(&glive, &gkept, &gopen, &gbytes);
	hk_profile_counts(&records, &tbytes, &dropped);
	o = hk_fmt_dec(o, hk_platform_now_ms() - S.t0);
	o = field(o, s.live_bytes);
	o = field(o, s.committed_bytes);
	o = field(o, rss_bytes());
	o = field(o, s.purged_bytes);
	o = field(o, hk_large_bytes());
	o = field(o, gbytes);
	o = field(o, records);
	hk_stats_bands(band);
	o = field(o, band[HK_BAND_TINY]);
	o = field(o, band[HK_BAND_MID]);
	o = field(o, band[HK_BAND_POOL]);
	*o++ = '\n';
	hk_fmt_write(S.fd, buf, o);
}

static void *run(void *arg)
{
	static const char head[] =
		"# hakmem stats: ms live committed rss purged large guarded profiled tiny mid pool\n";
	(void)arg;
	hk_fmt_write(S.fd, head, head + sizeof head - 1);
	for (;;) {
		line();
		struct timespec ts = { S.interval_ms / 1000, (long)(S.interval_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts))
			;
	}
	return NULL;
}

void hk_statlog_kick(void)
{
	if (!S.interval_ms || atomic_load_explicit(&S.started, memory_order_relaxed) ||
	    getpid() != S.pid || atomic_exchange(&S.started, 1))
		return;
	if (hk_thread_start(run, (size_t)64 << 10))
		S.interval_ms = 0;
}
