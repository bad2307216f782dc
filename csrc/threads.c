/*
 * Thread counts, fork() detection and the fork-safe lock (see threads.h).
 */
#define _GNU_SOURCE /* dladdr, dl_iterate_phdr, syscall */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#ifdef LINEARC_HAVE_OPENMP
#include <omp.h>
#endif

#if defined(LINEARC_HAVE_OPENMP) && defined(__linux__)
#define LC_COUNT_THREADS 1
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "threads.h"

/* Bumped in every fork child: locks taken in an older generation belong to
 * threads that the child does not have. */
static atomic_ulong fork_generation;
/* Set in a child forked while an OpenMP pool may have existed; inherited by
 * its own children (the stale pool is in their memory too). */
static atomic_int serial_child;
/* Set by the prepare handler just before fork(): whether the forking
 * process had a thread that may belong to an OpenMP pool. */
static atomic_int pool_at_fork;

#ifdef LC_COUNT_THREADS
/*
 * Which threads may belong to an OpenMP pool. GNU OpenMP (libgomp) starts a
 * pool on its first parallel region, for whichever library calls it
 * (linearc, or torch on the same libgomp.so.1), and its threads stay. They
 * cannot predate the loading of libgomp: when linearc's import is what
 * loaded it, every thread alive at that import (NumPy's OpenBLAS threads,
 * say) is known not to be one. Any other thread, of any origin, may be.
 * A thread is known by its id and its start time, so a reused id is not.
 * The prepare handler below only makes system calls (open, read, getdents,
 * close): no allocation, no stdio, no locks.
 */
#define LC_KNOWN_THREADS 64

typedef struct {
    long tid;
    unsigned long long start;
} known_thread;

static known_thread known[LC_KNOWN_THREADS];
static int n_known;

struct dirent64_raw {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* "/proc/self/task/<tid>/stat" into buf (at least 48 bytes). */
static void
stat_path(char *buf, long tid)
{
    static const char head[] = "/proc/self/task/";
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + tid % 10);
        tid /= 10;
    } while (tid > 0);
    memcpy(buf, head, sizeof head - 1);
    char *p = buf + sizeof head - 1;
    while (n > 0) {
        *p++ = digits[--n];
    }
    memcpy(p, "/stat", 6);
}

/* The start time of thread tid (field 22 of its stat file), or 0. */
static unsigned long long
thread_start(long tid)
{
    char path[48], buf[1024];
    stat_path(path, tid);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t len = 0, got;
    while (len < (ssize_t)sizeof buf - 1 &&
           (got = read(fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0) {
        len += got;
    }
    close(fd);
    /* The name (field 2) may hold spaces and parentheses: fields 3 on
     * follow its last ')'. */
    const char *p = NULL;
    for (ssize_t i = len - 1; i >= 0 && p == NULL; i--) {
        p = buf[i] == ')' ? buf + i + 1 : NULL;
    }
    const char *end = buf + len;
    for (int field = 2; p != NULL && p < end && field < 22; p++) {
        field += *p == ' ';
        if (field == 22) {
            unsigned long long v = 0;
            for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
                v = v * 10 + (unsigned long long)(*p - '0');
            }
            return v;
        }
    }
    return 0;
}

/*
 * Calls visit(tid, arg) for every thread of this process until it returns
 * nonzero, and returns that value; -1 if the threads cannot be listed.
 */
static int
each_thread(int (*visit)(long tid, void *arg), void *arg)
{
    char buf[4096];
    const int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int result = 0;
    long got = 0;
    while (result == 0 && (got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got && result == 0;) {
            const struct dirent64_raw *d = (const struct dirent64_raw *)(buf + off);
            long tid = 0;
            const char *c = d->d_name;
            for (; *c >= '0' && *c <= '9'; c++) {
                tid = tid * 10 + (*c - '0');
            }
            if (*c == '\0' && c != d->d_name) {
                result = visit(tid, arg);
            }
            off += d->d_reclen;
        }
    }
    close(fd);
    return got < 0 ? -1 : result;
}

static int
remember_thread(long tid, void *arg)
{
    (void)arg;
    if (n_known == LC_KNOWN_THREADS) {
        return 1; /* too many to remember: know none */
    }
    known[n_known++] = (known_thread){tid, thread_start(tid)};
    return 0;
}

/* 1 if tid is neither the forking thread nor a known one. */
static int
is_unknown_thread(long tid, void *self)
{
    if (tid == *(long *)self) {
        return 0;
    }
    for (int i = 0; i < n_known; i++) {
        if (known[i].tid == tid) {
            return known[i].start == 0 || known[i].start != thread_start(tid);
        }
    }
    return 1;
}

/* Where libgomp and linearc's extension come in the load order. */
typedef struct {
    const char *gomp, *self;
    int index, gomp_at, self_at;
} load_order;

static int
note_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    load_order *o = arg;
    if (info->dlpi_name != NULL && o->gomp_at < 0 && strcmp(info->dlpi_name, o->gomp) == 0) {
        o->gomp_at = o->index;
    }
    if (info->dlpi_name != NULL && o->self_at < 0 && strcmp(info->dlpi_name, o->self) == 0) {
        o->self_at = o->index;
    }
    o->index++;
    return 0;
}

/* Whether the libgomp linearc calls was loaded after linearc itself, i.e.
 * by linearc's import: then no OpenMP thread can have started before. */
static int
gomp_loaded_by_us(void)
{
    Dl_info gomp, self;
    if (!dladdr((void *)omp_get_max_threads, &gomp) || !dladdr((void *)lc_threads_init, &self) ||
        gomp.dli_fname == NULL || self.dli_fname == NULL) {
        return 0;
    }
    load_order o = {gomp.dli_fname, self.dli_fname, 0, -1, -1};
    dl_iterate_phdr(note_object, &o);
    return o.self_at >= 0 && o.gomp_at > o.self_at;
}

static void
remember_threads_at_import(void)
{
    n_known = 0;
    if (gomp_loaded_by_us() && each_thread(remember_thread, NULL) != 0) {
        n_known = 0;
    }
}

static int
pool_may_exist(void)
{
    long self = (long)syscall(SYS_gettid);
    /* Unknown (no /proc): assume the worst. */
    return each_thread(is_unknown_thread, &self) != 0;
}
#else
static void
remember_threads_at_import(void)
{
}

static int
pool_may_exist(void)
{
    return 1; /* nothing to tell threads apart: every child is serial */
}
#endif

static void
on_fork_prepare(void)
{
    atomic_store(&pool_at_fork, pool_may_exist());
}

static void
on_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
    /* libgomp's pool threads are gone in the child, but the thread that
     * forked still points to the pool, which would wait for them forever. */
    if (atomic_load(&pool_at_fork)) {
        atomic_store(&serial_child, 1);
    }
}

static void
register_fork_handler(void)
{
    remember_threads_at_import();
    pthread_atfork(on_fork_prepare, NULL, on_fork_child);
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
    return atomic_load(&serial_child);
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
    if (atomic_load(&serial_child)) {
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
    if (atomic_load(&serial_child)) {
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
