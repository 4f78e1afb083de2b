/*
 * core/observe.c — the public calls that look at the heap and may come
 * before a program's first malloc: hk_stats_get, hk_stats_print,
 * hk_profile_start and hk_profile_stop. Each makes sure of init, then asks
 * the file that owns the data (core/stats.c, core/profile.c, the sampler's
 * countdown in core/sample.c). They sit above core/init.c, which sets those
 * files up, so nothing init starts calls back up into it.
 */
#include <errno.h>
#include <string.h>

#include "core/base.h"
#include "core/init.h"
#include "core/profile.h"
#include "core/sample.h"
#include "core/stats.h"

static int started(void)
{
	return hk_ready() || hk_init() == 0;
}

HK_API int hk_stats_get(hk_stats_t *out)
{
	if (!out)
		return -1;
	if (!started()) {
		memset(out, 0, sizeof *out);
		return -1;
	}
	hk_stats_collect(out);
	return 0;
}

HK_API void hk_stats_print(int fd)
{
	if (started())
		hk_stats_write(fd);
}

/* The calling thread's countdown restarts at the new rate at once; other
 * threads take it at their next sample. */
HK_API int hk_profile_start(const char *prefix, size_t rate)
{
	if (!CONFIG_HK_PROFILE)
		return ENOSYS;
	if (!started())
		return ENOMEM;
	int err = hk_profile_begin(prefix, rate);
	if (!err)
		hk_sample_reset_self();
	return err;
}

HK_API void hk_profile_stop(void)
{
	hk_profile_end();
	hk_sample_reset_self();
}
