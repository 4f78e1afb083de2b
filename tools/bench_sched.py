"""tools/bench_sched.py — where and at which priority tools/bench-run.py runs a row.

Owns: the choice of a single-threaded row's CPU (the faster one at the start of each
round) and of a real program's (the faster one at the start of each run; run.py pins
it), the child's set-up between fork and exec (real-time priority, the pin, a
watchdog on real-time CPU time, death with the runner) and how many rounds a row gets.
Must not: put a benchmark that runs several threads at real-time priority, or leave a
real-time process behind when the runner stops, however it stops.
Invariant: every run of one row and one round, whichever allocator, gets the same CPU
and the same priority; every run of a real program, whichever allocator, gets the CPU
that is the faster one when it starts. A program runs 0.5-3 s, a round of four
allocators 2-12 s: probing both CPUs every 0.4 s for 17 minutes (load 1-2), one was over
1.3x slower than the other 28 % of the time, and the CPU that was faster at some moment
was the slow one 1 s later 5 % of the time, 6 s later 11 % (an unpinned run: 14 %).

Why (measured on this 2-CPU VM, 2026-12-05, under the bench lock at load 2-4):
- The two CPUs do not run at the same speed, and which is slower changes within
  seconds: a pure ALU loop pinned to CPU 1 took 1.7-1.9x the time it took on CPU 0 for a
  minute, then both were equal. random_mixed_8192 (mimalloc, FIFO) gave 80-87M ops/s on
  CPU 0 and 50-68M on CPU 1. An unpinned run lands on either, so a row's rounds were a
  mix of two speeds: that, not the allocators, made batch_inorder read 0.70 / 1.39 / 0.84.
  A busy loop or a memory streamer on the other CPU did not slow CPU 0 (80-84M either way).
- Real-time priority (SCHED_FIFO 1) keeps the machine's other processes off the row's CPU
  (as bench/programs/run.py does for the programs); the pin keeps the row on the CPU
  that is fast now.
- Several threads at SCHED_FIFO on 2 CPUs can starve each other or the machine (prodcons
  spins on its ring), so rows marked `mt` (and T= rows) run at the normal priority,
  unpinned. Threads inherit the policy and the pin: an allocator's helper thread (hakmem's
  purger) shares the row's CPU and priority. (SCHED_RESET_ON_FORK was ruled out while
  hakmem's thread start yielded until the new thread ran: a normal-priority thread waited
  for the real-time throttle, up to 0.95 s. The start now sleeps on a semaphore
  (core/base.c hk_thread_start), which should end that wait (not measured again); the
  rows keep the inherited policy.)
"""
import ctypes
import math
import os
import resource
import signal
import time

FIFO_PRIO = 1
PR_SET_PDEATHSIG = 1
_libc = None


def realtime_allowed():
    """Whether this process may give a child SCHED_FIFO (root, or CAP_SYS_NICE)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO_PRIO))
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return True
    except (OSError, AttributeError):
        return False


def is_realtime(bench):
    """A row runs at real-time priority, pinned, when it is one thread: not a real program
    (bench/programs/run.py sets its own priority), not marked `mt`, not a T= row."""
    return not bench.program and "mt" not in bench.opts and "T" not in bench.opts


def cpu_speed(cpu, n=100000, tries=3):
    """Seconds of CPU time a fixed loop takes on `cpu` (the fastest of a few tries; CPU
    time, so the other processes' turns on that CPU do not count, a slow CPU does)."""
    old = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})
        best = math.inf
        for _ in range(tries):
            t, x = time.thread_time(), 0
            for i in range(n):
                x += i
            best = min(best, time.thread_time() - t)
        return best
    finally:
        os.sched_setaffinity(0, old)


def pick_cpu(prev=None, speed=cpu_speed):
    """The CPU to pin this round to: the fastest one now. The previous choice stays while
    it is within 3 % of the fastest (a tie does not hop). Returns (cpu, {cpu: seconds})."""
    cpus = sorted(os.sched_getaffinity(0))
    secs = {c: speed(c) for c in cpus}
    best = min(cpus, key=lambda c: secs[c])
    if prev in secs and secs[prev] <= secs[best] * 1.03:
        best = prev
    return best, secs


def child_setup(cpu, realtime, timeout):
    """Popen's preexec_fn for one run (None when there is nothing to do). Between fork
    and exec, in the child: dies with the runner (PR_SET_PDEATHSIG: a runner killed by
    SIGKILL leaves no real-time process behind; Ctrl-C, SIGTERM and the row's timeout are
    handled by run_once, which kills the process group), pins to cpu, and at real-time
    priority gets SIGXCPU after `timeout` seconds of CPU time without a blocking call
    (RLIMIT_RTTIME; SIGKILL a second later): a spinning row cannot hold its CPU past its
    own timeout, even if the runner cannot stop it."""
    global _libc
    if cpu is None and not realtime:
        return None
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)  # loaded here: no import after fork
    parent = os.getpid()
    us = int(timeout * 1e6)

    def setup():
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the runner died before prctl took
            os._exit(125)
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if realtime:
            resource.setrlimit(resource.RLIMIT_RTTIME, (us, us + 1000000))  # SIGXCPU, then SIGKILL
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(FIFO_PRIO))
            except OSError:
                pass  # no right: the row runs at the normal priority (realtime_allowed)
    return setup


def row_rounds(rounds, longest, secs, cap):
    """Rounds for a row whose first round's longest run took `longest` seconds: enough to
    spend about `secs` per allocator, never fewer than `rounds` nor more than `cap`.
    The rows last 15 ms-1.2 s; the short ones get the rounds the long ones take time for."""
    if longest <= 0:
        return max(rounds, cap)
    return max(rounds, min(cap, math.ceil(secs / longest)))
