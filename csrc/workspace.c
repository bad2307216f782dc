#define _DEFAULT_SOURCE /* madvise */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "workspace.h"

/* Big buffers (a B panel is several MiB, a weight can be much more) sit on
 * 2 MiB boundaries and ask for transparent huge pages: the packers and the
 * microkernel stream through them, and 4 KiB pages would cost a TLB miss
 * every 4 KiB (4096^3 float32: +6%). */
#define LC_HUGE_PAGE ((size_t)2 << 20)

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static lc_workspace *pool_head;

/* fork() copies only the forking thread: hold the lock across it so the
 * child never inherits it taken by a thread that no longer exists. */
static void
atfork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}

static void
atfork_release(void)
{
    pthread_mutex_unlock(&pool_lock);
}

static void
register_fork_handlers(void)
{
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* Take the pool lock, registering the fork handlers before its first use. */
static void
lock_pool(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handlers);
    pthread_mutex_lock(&pool_lock);
}

void *
lc_alloc_aligned(size_t bytes, size_t *capacity)
{
    const size_t align = bytes >= 2 * LC_HUGE_PAGE ? LC_HUGE_PAGE : LC_ALIGN;
    size_t rounded = (bytes + align - 1) / align * align;
    if (rounded == 0) {
        rounded = LC_ALIGN;
    }
    void *mem = aligned_alloc(align, rounded);
#ifdef MADV_HUGEPAGE
    if (mem != NULL && align == LC_HUGE_PAGE) {
        madvise(mem, rounded, MADV_HUGEPAGE); /* a hint: failure is harmless */
    }
#endif
    if (capacity != NULL) {
        *capacity = rounded;
    }
    return mem;
}

static int
grow(lc_workspace *w, size_t bytes)
{
    if (w->capacity >= bytes) {
        return 0;
    }
    size_t rounded;
    void *mem = lc_alloc_aligned(bytes, &rounded);
    if (mem == NULL) {
        return -1;
    }
    free(w->data);
    w->data = mem;
    w->capacity = rounded;
    return 0;
}

int
lc_workspace_acquire(int count, size_t bytes, lc_workspace **ws)
{
    int taken = 0;
    lock_pool();
    while (taken < count && pool_head != NULL) {
        ws[taken++] = pool_head;
        pool_head = pool_head->next;
    }
    pthread_mutex_unlock(&pool_lock);
    for (int i = taken; i < count; i++) {
        ws[i] = calloc(1, sizeof(lc_workspace));
        if (ws[i] == NULL) {
            lc_workspace_release(i, ws);
            return -1;
        }
    }
    for (int i = 0; i < count; i++) {
        if (grow(ws[i], bytes) < 0) {
            lc_workspace_release(count, ws);
            return -1;
        }
    }
    return 0;
}

void
lc_workspace_release(int count, lc_workspace **ws)
{
    lock_pool();
    for (int i = 0; i < count; i++) {
        ws[i]->next = pool_head;
        pool_head = ws[i];
    }
    pthread_mutex_unlock(&pool_lock);
}

size_t
lc_workspace_pooled_bytes(void)
{
    size_t total = 0;
    lock_pool();
    for (lc_workspace *w = pool_head; w != NULL; w = w->next) {
        total += w->capacity;
    }
    pthread_mutex_unlock(&pool_lock);
    return total;
}

/* ------------------------------------------------------------------------
 * The result cache (workspace.h). It shares the pool's lock.
 */
typedef struct {
    void *buffer;
    size_t capacity;
} cached_result;

static cached_result results[LC_RESULT_CACHE_BUFFERS];
static int result_count;
static size_t result_bytes;

void *
lc_result_take(size_t bytes, size_t *capacity)
{
    void *found = NULL;
    lock_pool();
    for (int i = 0; i < result_count; i++) {
        /* Big enough, and not so big that a small result pins it. */
        if (results[i].capacity >= bytes && results[i].capacity / 2 <= bytes) {
            found = results[i].buffer;
            *capacity = results[i].capacity;
            result_bytes -= results[i].capacity;
            memmove(results + i, results + i + 1,
                    (size_t)(--result_count - i) * sizeof(cached_result));
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    return found != NULL ? found : lc_alloc_aligned(bytes, capacity);
}

void
lc_result_give(void *buffer, size_t capacity)
{
    void *evicted[LC_RESULT_CACHE_BUFFERS];
    int n_evicted = 0;
    if (capacity > LC_RESULT_CACHE_BYTES) {
        free(buffer);
        return;
    }
    lock_pool();
    /* The most recent results are the likeliest to come back: make room by
     * dropping the oldest (the front of the list). */
    while (result_count == LC_RESULT_CACHE_BUFFERS ||
           result_bytes + capacity > LC_RESULT_CACHE_BYTES) {
        evicted[n_evicted++] = results[0].buffer;
        result_bytes -= results[0].capacity;
        memmove(results, results + 1, (size_t)(--result_count) * sizeof(cached_result));
    }
    results[result_count++] = (cached_result){buffer, capacity};
    result_bytes += capacity;
    pthread_mutex_unlock(&pool_lock);
    for (int i = 0; i < n_evicted; i++) {
        free(evicted[i]);
    }
}

size_t
lc_result_cached_bytes(void)
{
    lock_pool();
    const size_t total = result_bytes;
    pthread_mutex_unlock(&pool_lock);
    return total;
}
