/*
 * The Linear object's layout, shared by the files that implement the type
 * (linear.c, linear_forward.c, linear_backward.c, linear_count.c). A struct
 * only: each file exports its functions through its own header.
 */
#ifndef LINEARC_LINEAR_OBJECT_H
#define LINEARC_LINEAR_OBJECT_H

#include "lc_numpy.h"
#include "threads.h"
#include "types.h"

/* A gradient the layer accumulates into. `array` is what weight_grad /
 * bias_grad hand out; `data` is its memory, owned by `owner` (a capsule the
 * array's base also refers to), so the array cannot be resized under the
 * layer and the memory outlives anything a user does to the array. */
typedef struct {
    PyArrayObject *array; /* NULL: None */
    PyObject *owner;
    void *data;
} lc_grad;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Py_ssize_t in_features, out_features;
    lc_dtype dtype;
    int has_bias;
    /* W is kept transposed, as W.T (in x out, row-major), the order the GEMM
     * reads it in; `weight` hands out its (out, in) view, which cannot go
     * stale. */
    void *weight_t;
    void *bias; /* out, or NULL */
    lc_grad weight_grad, bias_grad;
    /* Serialises backward passes on this layer (they accumulate without the
     * GIL), zero_grad() and the gradient getters. */
    lc_lock grad_lock;
} LinearObject;

#endif
