#include <pthread.h>
#include <stdlib.h>

#include "workspace.h"

#define LC_ALIGN 64

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static lc_workspace *pool_head;

static int
grow(lc_workspace *w, size_t bytes)
{
    if (w->capacity >= bytes) {
        return 0;
    }
    size_t rounded = (bytes + LC_ALIGN - 1) / LC_ALIGN * LC_ALIGN;
    void *mem = aligned_alloc(LC_ALIGN, rounded);
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
    pthread_mutex_lock(&pool_lock);
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
    pthread_mutex_lock(&pool_lock);
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
    pthread_mutex_lock(&pool_lock);
    for (lc_workspace *w = pool_head; w != NULL; w = w->next) {
        total += w->capacity;
    }
    pthread_mutex_unlock(&pool_lock);
    return total;
}

/* fork() copies only the forking thread: hold the lock across it so the
 * child never inherits it taken by a thread that no longer exists. */
void
lc_workspace_atfork_prepare(void)
{
    pthread_mutex_lock(&pool_lock);
}

void
lc_workspace_atfork_parent(void)
{
    pthread_mutex_unlock(&pool_lock);
}

void
lc_workspace_atfork_child(void)
{
    pthread_mutex_unlock(&pool_lock);
}
