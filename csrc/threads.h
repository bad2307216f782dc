/*
 * Threads and fork(): how many threads a GEMM may use, whether this process
 * is a fork() child (which must not enter OpenMP), and a lock that a fork
 * child can take over. Nothing here knows about Python.
 */
#ifndef LINEARC_THREADS_H
#define LINEARC_THREADS_H

#include <stdatomic.h>

/* The most threads one GEMM uses; set_num_threads() refuses more. */
#define LC_MAX_THREADS 256

/* Register the fork handlers (idempotent; call once at import). */
void lc_threads_init(void);

/* Whether this process is a fork() child that must not enter OpenMP: one
 * forked (or descended from one forked) while its parent had a thread that
 * may belong to GNU OpenMP's pool, whoever started it (linearc, torch...).
 * That pool does not survive fork(); a child entering OpenMP would wait for
 * its threads forever. Threads known to predate libgomp's loading (alive
 * when linearc's import loaded it) do not count; without /proc, every fork
 * child is serial. */
int lc_in_forked_child(void);

/* The largest thread count this build may use now: OpenMP's setting for
 * the calling thread (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl),
 * capped by OMP_THREAD_LIMIT and LC_MAX_THREADS; 1 without OpenMP or in a
 * serial fork child. */
int lc_max_threads(void);

/* Threads for the next GEMM: `requested` (from set_num_threads, 0 = none)
 * or else lc_max_threads(), capped by OMP_THREAD_LIMIT; always 1 in a
 * serial fork child. */
int lc_threads_for_call(int requested);

/*
 * A mutual-exclusion lock that survives fork(): a lock held when the process
 * forked belongs to a thread the child does not have, so the child takes it
 * over instead of waiting forever. The word holds 0 when free, else the fork
 * generation of the holder plus one; every fork child starts a new
 * generation. Waiting spins briefly, then sleeps in short naps.
 */
typedef struct {
    atomic_ulong word;
} lc_lock;

#define LC_LOCK_INIT {0}

int lc_lock_try(lc_lock *lock);  /* 1 if taken */
void lc_lock_acquire(lc_lock *lock);
void lc_lock_release(lc_lock *lock);

#endif
