/*
 * Forward (linear_forward.c): the layer's call and .forward, the functional
 * linear(), and the GEMM call that backward shares.
 */
#ifndef LINEARC_LINEAR_FORWARD_H
#define LINEARC_LINEAR_FORWARD_H

#include "gemm.h"
#include "lc_numpy.h"
#include "linear_object.h"
#include "state.h"

/* The weights of one product: W.T as the k x n operand B, the memory it
 * spans, and n bias values or NULL, all of type `dtype`, which is also the
 * type inputs are cast to and results are given in. A half type is
 * computed in float32 chains, each result rounded once. */
typedef struct {
    lc_dtype dtype;
    Py_ssize_t n, k;
    lc_operand b;
    const void *w_lo;
    size_t w_bytes;
    const void *bias;
} lc_dense_weights;

/* y = x @ W.T + bias for x of shape (*, k), into a new array or `out`. */
PyObject *lc_apply_linear(lc_state *st, PyObject *x, const lc_dense_weights *wt,
                          PyObject *out);

/* lc_gemm, without the GIL when the work is worth it; MemoryError saying
 * what could not be allocated. */
int lc_run_gemm(const lc_gemm_args *g);

PyObject *lc_linear_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                               PyObject *kwnames);
PyObject *lc_linear_forward(LinearObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames);
PyObject *lc_functional_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames);
extern const char lc_forward_doc[];
extern const char lc_functional_linear_doc[];

#endif
