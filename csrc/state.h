/*
 * The module state: what the extension's Python-facing files share. A header
 * only, so the type (linear*.c) and the module (module.c) both read it
 * without depending on each other.
 */
#ifndef LINEARC_STATE_H
#define LINEARC_STATE_H

#include <stdatomic.h>

#include "config.h"
#include "lc_numpy.h"
#include "threads.h"

/* A context the module made, kept until the module goes: a GEMM on
 * another thread may still read one that was replaced. */
typedef struct lc_context_node {
    struct lc_context_node *older;
    lc_context ctx;
} lc_context_node;

typedef struct {
    PyTypeObject *linear_type;
    /* The kernel set (dispatch.c) and the planner's numbers (config.c).
     * Never changed in place: changing it (tuned values) publishes a new
     * copy, so a GEMM always plans from one consistent context. */
    _Atomic(lc_context_node *) ctx;
    atomic_int threads; /* set_num_threads(); 0 follows OpenMP */
} lc_state;

static inline lc_state *
lc_state_of_type(PyTypeObject *tp)
{
    return (lc_state *)PyType_GetModuleState(tp);
}

/* The context GEMMs plan from now. */
static inline const lc_context *
lc_state_context(lc_state *st)
{
    return &atomic_load(&st->ctx)->ctx;
}

/* Threads the next GEMM may use. */
static inline int
lc_state_threads(lc_state *st)
{
    return lc_threads_for_call(atomic_load(&st->threads));
}

#endif
