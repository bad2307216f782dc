/*
 * Packing buffers: a pool of 64-byte aligned blocks, reused across calls and
 * threads. A GEMM takes one block per thread before it writes anything, so an
 * allocation failure leaves the output untouched, and gives them back after.
 * Blocks only grow to the largest size asked for, which the block sizes bound.
 */
#ifndef LINEARC_WORKSPACE_H
#define LINEARC_WORKSPACE_H

#include <stddef.h>

typedef struct lc_workspace {
    struct lc_workspace *next;
    size_t capacity;
    void *data; /* 64-byte aligned, capacity bytes */
} lc_workspace;

/* Take `count` blocks of at least `bytes` each into ws[]; 0 on success,
 * -1 (and nothing taken) when memory runs out. */
int lc_workspace_acquire(int count, size_t bytes, lc_workspace **ws);
void lc_workspace_release(int count, lc_workspace **ws);

/* 64-byte aligned memory for `bytes` (at least one byte), on huge pages when
 * big; free() releases it. *capacity, if given, receives the usable size. */
void *lc_alloc_aligned(size_t bytes, size_t *capacity);

/* Bytes held by the pool (for the leak tests). The pool's lock is held
 * across fork(), so a child never inherits it taken. */
size_t lc_workspace_pooled_bytes(void);

/*
 * Result buffers. A fresh multi-megabyte result costs a page fault per page
 * on its first write (a quarter of a (4096, 768) -> 3072 call in a VM), so
 * big results come from a small cache of aligned buffers on huge pages that
 * earlier results gave back: a loop of calls reuses the same pages.
 * lc_result_take returns a buffer of at least `bytes` (its size in
 * *capacity), or NULL; lc_result_give keeps it for reuse, dropping the
 * oldest buffers kept so that the cache never holds more than
 * LC_RESULT_CACHE_BUFFERS buffers and LC_RESULT_CACHE_BYTES bytes.
 */
#define LC_RESULT_MIN_BYTES ((size_t)1 << 20)
#define LC_RESULT_CACHE_BUFFERS 4
#define LC_RESULT_CACHE_BYTES ((size_t)1 << 30)
void *lc_result_take(size_t bytes, size_t *capacity);
void lc_result_give(void *buffer, size_t capacity);
size_t lc_result_cached_bytes(void);

#endif
