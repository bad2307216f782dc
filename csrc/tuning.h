/*
 * The tuner's C half (its Python half is src/linearc/_tune.py): timing the
 * GEMM under candidate parameters, on a private copy of the context, and
 * publishing the parameters chosen as the module's new context.
 */
#ifndef LINEARC_TUNING_H
#define LINEARC_TUNING_H

#include "lc_numpy.h"

/* _tune_params(float32, float64) */
PyObject *lc_tune_params(PyObject *module, PyObject *args);
extern const char lc_tune_params_doc[];

/* _time_gemm(m, n, k, dtype, threads, params, repeats, layout) */
PyObject *lc_time_gemm(PyObject *module, PyObject *args);
extern const char lc_time_gemm_doc[];

#endif
