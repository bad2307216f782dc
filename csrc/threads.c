/*
 * Thread counts, fork() detection and the fork-safe lock (see threads.h).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#ifdef LINEARC_HAVE_OPENMP
#include <omp.h>
#endif

#include "threads.h"

/* Bumped in every fork child: locks taken in an older generation belong to
 * threads that the child does not have. */
static atomic_ulong fork_generation;
static atomic_int forked_child;

static void
on_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
    /* Whoever started the OpenMP pool in the parent (linearc or any other
     * library sharing libgomp), its threads are gone in the child. */
    atomic_store(&forked_child, 1);
}

static void
register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

void
lc_threads_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handler);
}

int
lc_in_forked_child(void)
{
    return atomic_load(&forked_child);
}

#ifdef LINEARC_HAVE_OPENMP
/* OpenMP's cap on the threads of the whole program (OMP_THREAD_LIMIT). */
static int
thread_limit(void)
{
    const int limit = omp_get_thread_limit();
    return limit < 1 ? 1 : (limit > LC_MAX_THREADS ? LC_MAX_THREADS : limit);
}
#endif

int
lc_max_threads(void)
{
#ifdef LINEARC_HAVE_OPENMP
    if (atomic_load(&forked_child)) {
        return 1;
    }
    const int n = omp_get_max_threads(), limit = thread_limit();
    return n < 1 ? 1 : (n > limit ? limit : n);
#else
    return 1;
#endif
}

int
lc_threads_for_call(int requested)
{
    if (requested <= 0) {
        return lc_max_threads();
    }
#ifdef LINEARC_HAVE_OPENMP
    if (atomic_load(&forked_child)) {
        return 1;
    }
    const int limit = thread_limit();
    return requested > limit ? limit : requested;
#else
    return 1;
#endif
}

int
lc_lock_try(lc_lock *lock)
{
    const unsigned long mine = atomic_load(&fork_generation) + 1;
    unsigned long seen = 0;
    if (atomic_compare_exchange_strong(&lock->word, &seen, mine)) {
        return 1;
    }
    /* Held in an earlier generation: by a thread of the parent process. */
    return seen != mine && atomic_compare_exchange_strong(&lock->word, &seen, mine);
}

void
lc_lock_acquire(lc_lock *lock)
{
    for (int spin = 0; !lc_lock_try(lock); spin++) {
        if (spin < 64) {
            sched_yield();
        }
        else {
            /* The holder runs a GEMM that may take milliseconds. */
            struct timespec nap = {0, spin < 256 ? 20000 : 200000};
            nanosleep(&nap, NULL);
        }
    }
}

void
lc_lock_release(lc_lock *lock)
{
    atomic_store(&lock->word, 0);
}
