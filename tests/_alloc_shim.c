/*
 * An LD_PRELOAD library for tests/test_alloc_failures.py: makes the n-th
 * allocation from now fail (return NULL, errno ENOMEM), once, so that a
 * test can walk every allocation of a call and check what the call leaves
 * behind when that one fails. malloc, calloc, realloc, aligned_alloc,
 * posix_memalign and memalign are counted; the real ones come from
 * dlsym(RTLD_NEXT). Built by the test with the C compiler that built
 * linearc.
 *
 *   shim_fail_nth(n)   the n-th allocation from now fails (n >= 1); 0 disarms
 *   shim_counted()     allocations counted since the last shim_fail_nth
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

static atomic_long countdown; /* 0: disarmed */
static atomic_long counted;

void
shim_fail_nth(long n)
{
    atomic_store(&counted, 0);
    atomic_store(&countdown, n);
}

long
shim_counted(void)
{
    return atomic_load(&counted);
}

/* Whether this allocation is the one to fail. */
static int
should_fail(void)
{
    if (atomic_load(&countdown) == 0) {
        return 0;
    }
    atomic_fetch_add(&counted, 1);
    return atomic_fetch_sub(&countdown, 1) == 1;
}

/* dlsym itself may call calloc before the real one is known: serve those
 * few bytes from a static arena (never freed: free() of them is ignored). */
static char arena[4096];
static atomic_size_t arena_used;

static void *
arena_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    const size_t at = atomic_fetch_add(&arena_used, n);
    return at + n <= sizeof arena ? arena + at : NULL;
}

static int
in_arena(void *p)
{
    return (char *)p >= arena && (char *)p < arena + sizeof arena;
}

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static void *(*real_aligned_alloc)(size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static atomic_int resolving;

static void
resolve(void)
{
    if (real_free != NULL || atomic_exchange(&resolving, 1)) {
        return;
    }
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_free = dlsym(RTLD_NEXT, "free");
}

void *
malloc(size_t n)
{
    resolve();
    if (real_malloc == NULL) {
        return arena_alloc(n);
    }
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(n);
}

void *
calloc(size_t count, size_t n)
{
    resolve();
    if (real_calloc == NULL) {
        return arena_alloc(count * n); /* zeroed: static storage */
    }
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(count, n);
}

void *
realloc(void *p, size_t n)
{
    resolve();
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    if (in_arena(p)) { /* never the case in practice; move it out whole */
        void *q = real_malloc(n);
        const size_t left = (size_t)(arena + sizeof arena - (char *)p);
        if (q != NULL) {
            memcpy(q, p, n < left ? n : left);
        }
        return q;
    }
    return real_realloc(p, n);
}

void
free(void *p)
{
    resolve();
    if (p != NULL && !in_arena(p)) {
        real_free(p);
    }
}

void *
aligned_alloc(size_t align, size_t n)
{
    resolve();
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_aligned_alloc(align, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    if (should_fail()) {
        return ENOMEM;
    }
    return real_posix_memalign(out, align, n);
}

void *
memalign(size_t align, size_t n)
{
    resolve();
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_memalign(align, n);
}
