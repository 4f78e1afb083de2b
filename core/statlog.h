/*
 * core/statlog.h — statistics over time (core/statlog.c): with
 * HAKMEM_STATS_INTERVAL=<ms>, a thread of its own appends one line of the
 * main counters per interval to HAKMEM_STATS_FILE (default: stderr).
 * Must not allocate through malloc. Invariant: the thread starts at most
 * once per process, never inside init or a fork handler.
 */
#ifndef HK_CORE_STATLOG_H
#define HK_CORE_STATLOG_H

/* Reads the two variables (init). */
void hk_statlog_init(const char *(*get)(const char *name));
/* Starts the thread if asked and not yet started (a slow path, no lock held). */
void hk_statlog_kick(void);

#endif /* HK_CORE_STATLOG_H */
