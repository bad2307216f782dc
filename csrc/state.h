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

typedef struct {
    PyTypeObject *linear_type;
    lc_config config;   /* kernel set (dispatch.c) and block sizes (config.c) */
    atomic_int threads; /* set_num_threads(); 0 follows OpenMP */
} lc_state;

static inline lc_state *
lc_state_of_type(PyTypeObject *tp)
{
    return (lc_state *)PyType_GetModuleState(tp);
}

/* Threads the next GEMM may use. */
static inline int
lc_state_threads(lc_state *st)
{
    return lc_threads_for_call(atomic_load(&st->threads));
}

#endif
