/*
 * Backward: grad_input = G @ W, and the gradients the layer accumulates,
 * weight_grad (+)= G^T @ X and bias_grad (+)= the rows of G summed, as
 * torch's .grad does. The products run on the forward's GEMM; the transposes
 * are strided views that the packers read, never copies.
 *
 * The gradient arrays handed out are views of memory the layer owns (through
 * a capsule that is their base), so nobody can resize them under a running
 * backward. Before each accumulation the layer checks that the array it
 * handed out is still as it made it (writable, same shape, strides and
 * dtype); if the user changed it, that array is left alone and the layer
 * continues in a new one: torch's out-of-place accumulation.
 *
 * A float16 or bfloat16 layer keeps its gradients in float32, the type its
 * chains run in (a mixed-precision master gradient: rounding every partial
 * sum to half would lose the small updates), and gives grad_input in its
 * own dtype, rounded once.
 */
#include "arrays.h" /* Python.h first */
#include "gemm.h"
#include "linear_backward.h"
#include "linear_forward.h"
#include "linear_object.h"
#include "state.h"
#include "workspace.h"

#include <string.h>

#define GRAD_CAPSULE "linearc.gradient"

/* ------------------------------------------------------------------------
 * Gradient storage.
 */
static void
free_grad_memory(PyObject *capsule)
{
    free(PyCapsule_GetPointer(capsule, GRAD_CAPSULE));
}

static void
grad_clear(lc_grad *g)
{
    Py_CLEAR(g->array);
    Py_CLEAR(g->owner);
    g->data = NULL;
}

void
lc_linear_clear_grads(LinearObject *self)
{
    grad_clear(&self->weight_grad);
    grad_clear(&self->bias_grad);
}

/* The type of the gradients the layer accumulates. */
static lc_dtype
grad_type(const LinearObject *self)
{
    return lc_compute_type(self->dtype);
}

/* Strides of a gradient array: like the parameter's, so that SGD updates
 * (weight -= lr * weight_grad) run on arrays of one layout. weight_grad is
 * (out, in) over memory in W.T's order; bias_grad is contiguous. */
static void
grad_strides(LinearObject *self, int ndim, npy_intp *strides)
{
    const npy_intp es = (npy_intp)lc_dtype_size(grad_type(self));
    strides[0] = es;
    if (ndim == 2) {
        strides[1] = es * self->out_features;
    }
}

/* A new gradient of this shape in the gradient type: aligned memory owned
 * by a capsule, and a writable array over it. */
static int
grad_new(LinearObject *self, lc_grad *g, int ndim, const npy_intp *dims)
{
    npy_intp strides[2];
    grad_strides(self, ndim, strides);
    const size_t es = lc_dtype_size(grad_type(self));
    const size_t bytes = (size_t)dims[0] * (ndim == 2 ? (size_t)dims[1] : 1) * es;
    lc_grad fresh = {NULL, NULL, lc_alloc_aligned(bytes, NULL)};
    if (fresh.data == NULL) {
        PyErr_Format(PyExc_MemoryError, "cannot allocate %zu bytes for a gradient", bytes);
        return -1;
    }
    fresh.owner = PyCapsule_New(fresh.data, GRAD_CAPSULE, free_grad_memory);
    if (fresh.owner == NULL) {
        free(fresh.data);
        return -1;
    }
    fresh.array = (PyArrayObject *)PyArray_NewFromDescr(
        &PyArray_Type, lc_descr(grad_type(self)), ndim, (npy_intp *)dims, strides, fresh.data,
        NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE, NULL);
    if (fresh.array == NULL ||
        PyArray_SetBaseObject(fresh.array, Py_NewRef(fresh.owner)) < 0) {
        grad_clear(&fresh);
        return -1;
    }
    grad_clear(g);
    *g = fresh;
    return 0;
}

/* Whether the array handed out is still exactly what the layer made. */
static int
grad_untouched(LinearObject *self, const lc_grad *g, int ndim, const npy_intp *dims)
{
    PyArrayObject *a = g->array;
    npy_intp strides[2];
    lc_dtype t;
    grad_strides(self, ndim, strides);
    return PyArray_DATA(a) == g->data && PyArray_ISWRITEABLE(a) && PyArray_NDIM(a) == ndim &&
           memcmp(PyArray_DIMS(a), dims, (size_t)ndim * sizeof(npy_intp)) == 0 &&
           memcmp(PyArray_STRIDES(a), strides, (size_t)ndim * sizeof(npy_intp)) == 0 &&
           lc_dtype_from_descr(PyArray_DESCR(a), &t) == 0 && t == grad_type(self);
}

/*
 * Make g ready to accumulate into: *fresh = 1 when it is new (to be
 * overwritten), 0 when the sum continues in it. If the user changed the
 * array handed out, a new one continues from the old values, which are read
 * from the layer's own memory; the layer's references to the old array go
 * to *old, for the caller to drop once it has released the gradient lock (a
 * deallocation may run arbitrary code, a weakref callback reading the
 * gradients, say).
 */
static int
grad_prepare(LinearObject *self, lc_grad *g, int ndim, const npy_intp *dims, int *fresh,
             lc_grad *old)
{
    *fresh = g->array == NULL;
    if (*fresh || grad_untouched(self, g, ndim, dims)) {
        return *fresh ? grad_new(self, g, ndim, dims) : 0;
    }
    const lc_grad before = *g;
    memset(g, 0, sizeof(lc_grad));
    if (grad_new(self, g, ndim, dims) < 0) {
        *g = before;
        return -1;
    }
    memcpy(g->data, before.data, (size_t)PyArray_NBYTES(g->array));
    *old = before; /* the user's array keeps its memory alive */
    return 0;
}

/* Take the gradient lock; wait for it without the GIL, so that the thread
 * holding it can take the GIL back and finish. */
static void
lock_grads(LinearObject *self)
{
    if (!lc_lock_try(&self->grad_lock)) {
        Py_BEGIN_ALLOW_THREADS
        lc_lock_acquire(&self->grad_lock);
        Py_END_ALLOW_THREADS
    }
}

/* A new reference to a gradient array (or None), taken under the lock:
 * without a GIL, zero_grad() could otherwise release it in between. */
static PyObject *
grad_ref(LinearObject *self, const lc_grad *g)
{
    lock_grads(self);
    PyObject *a = Py_NewRef(g->array ? (PyObject *)g->array : Py_None);
    lc_lock_release(&self->grad_lock);
    return a;
}

PyObject *
lc_linear_get_weight_grad(LinearObject *self, void *Py_UNUSED(closure))
{
    return grad_ref(self, &self->weight_grad);
}

PyObject *
lc_linear_get_bias_grad(LinearObject *self, void *Py_UNUSED(closure))
{
    return grad_ref(self, &self->bias_grad);
}

PyObject *
lc_linear_zero_grad(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    lock_grads(self);
    lc_grad w = self->weight_grad, b = self->bias_grad;
    memset(&self->weight_grad, 0, sizeof(lc_grad));
    memset(&self->bias_grad, 0, sizeof(lc_grad));
    lc_lock_release(&self->grad_lock);
    /* Released outside the lock: a deallocation may run arbitrary code. */
    grad_clear(&w);
    grad_clear(&b);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------
 * The products.
 */

/* Whether m's memory overlaps a gradient the layer will write. */
static int
aliases_grads(LinearObject *self, const lc_matrix *m)
{
    const size_t es = lc_dtype_size(grad_type(self));
    const size_t wbytes = (size_t)self->out_features * (size_t)self->in_features * es;
    lock_grads(self);
    const int overlap =
        (self->weight_grad.data && lc_array_overlaps_span(m->array, self->weight_grad.data, wbytes)) ||
        (self->bias_grad.data &&
         lc_array_overlaps_span(m->array, self->bias_grad.data, (size_t)self->out_features * es));
    lc_lock_release(&self->grad_lock);
    return overlap;
}

/* m, if it shares memory with the gradients (whatever object it came from:
 * an array, a tensor, a memoryview...), replaced by a copy of itself. */
static int
own_copy_if_aliased(LinearObject *self, lc_matrix *m, ptrdiff_t cols, const char *what,
                    const char *feature_name)
{
    if (m->rows == 0 || !aliases_grads(self, m)) {
        return 0;
    }
    PyObject *copy = PyArray_NewCopy(m->array, NPY_CORDER);
    lc_matrix_release(m);
    const int rc = copy ? lc_matrix_from_object(copy, self->dtype, cols, what, feature_name, m)
                        : -1;
    Py_XDECREF(copy);
    return rc;
}

/* x and grad_output as matrices with agreeing leading dimensions. */
static int
backward_operands(LinearObject *self, PyObject *x, PyObject *g, lc_matrix *xm, lc_matrix *gm)
{
    char xs[256], gs[256];
    if (lc_matrix_from_object(x, self->dtype, self->in_features, "input", "in_features",
                              xm) < 0 ||
        lc_matrix_from_object(g, self->dtype, self->out_features, "grad_output",
                              "out_features", gm) < 0) {
        return -1;
    }
    const int xnd = PyArray_NDIM(xm->array), gnd = PyArray_NDIM(gm->array);
    if (xnd != gnd || memcmp(PyArray_DIMS(xm->array), PyArray_DIMS(gm->array),
                             (size_t)(xnd - 1) * sizeof(npy_intp)) != 0) {
        lc_format_shape(xs, sizeof xs, xnd, PyArray_DIMS(xm->array));
        lc_format_shape(gs, sizeof gs, gnd, PyArray_DIMS(gm->array));
        PyErr_Format(PyExc_ValueError,
                     "the leading dimensions of input %s and grad_output %s must agree", xs, gs);
        return -1;
    }
    if (own_copy_if_aliased(self, xm, self->in_features, "input", "in_features") < 0 ||
        own_copy_if_aliased(self, gm, self->out_features, "grad_output", "out_features") < 0 ||
        lc_matrix_index_rows(xm, "input") < 0 || lc_matrix_index_rows(gm, "grad_output") < 0) {
        return -1;
    }
    return 0;
}

/* grad_input (M x K) = G (M x N) @ W (N x K), W read from W.T's memory:
 * its k index (N) runs contiguously. In the layer's dtype. */
static PyObject *
grad_input(LinearObject *self, lc_state *st, const lc_matrix *xm, const lc_matrix *gm)
{
    const size_t es = lc_dtype_size(self->dtype);
    PyObject *gi = (PyObject *)lc_new_result(self->dtype, PyArray_NDIM(xm->array),
                                             PyArray_DIMS(xm->array));
    if (gi == NULL || PyArray_SIZE((PyArrayObject *)gi) == 0) {
        return gi;
    }
    const lc_gemm_args g = {
        .dtype = lc_compute_type(self->dtype), .m = xm->rows, .n = self->in_features,
        .k = self->out_features, .a = gm->op,
        .b = {.data = self->weight_t, .type = self->dtype, .rs = (ptrdiff_t)es,
              .cs = (ptrdiff_t)(self->out_features * (Py_ssize_t)es)},
        .c = PyArray_DATA((PyArrayObject *)gi), .ldc = self->in_features,
        .nthreads = lc_state_threads(st), .ctx = lc_state_context(st),
        .c_type = self->dtype,
    };
    if (lc_run_gemm(&g) < 0) {
        Py_CLEAR(gi);
    }
    return gi;
}

/* Undo grad_prepare after a failure: a gradient made new for this call is
 * dropped (it holds nothing yet: fresh memory, or a copy), and the one it
 * replaced, if any, is put back, so the layer is as before the call. The
 * arrays dropped here were never handed out, so freeing them runs no code
 * of the user's and may happen under the lock. */
static void
grad_rollback(lc_grad *g, int fresh, lc_grad *old)
{
    if (fresh || old->array != NULL) {
        grad_clear(g);
    }
    if (old->array != NULL) {
        *g = *old;
        memset(old, 0, sizeof(lc_grad));
    }
}

/* weight_grad.T (K x N) continues its chains with X^T (K x M) @ G (M x N),
 * in W.T's order like the weight; then bias_grad (+)= the rows of G summed.
 * Under the gradient lock; the GEMM runs without the GIL. All or nothing:
 * on failure both gradients are as they were. */
static int
accumulate_grads(LinearObject *self, lc_state *st, const lc_matrix *xm, const lc_matrix *gm,
                 lc_grad old[2])
{
    const npy_intp wdims[2] = {self->out_features, self->in_features};
    const npy_intp bdims[1] = {self->out_features};
    int wfresh = 0, bfresh = 0;
    if (grad_prepare(self, &self->weight_grad, 2, wdims, &wfresh, &old[0]) < 0) {
        return -1;
    }
    if (self->has_bias && grad_prepare(self, &self->bias_grad, 1, bdims, &bfresh, &old[1]) < 0) {
        grad_rollback(&self->weight_grad, wfresh, &old[0]);
        return -1;
    }
    const lc_operand *g = &gm->op, *x = &xm->op;
    const lc_gemm_args gw = {
        .dtype = grad_type(self), .m = self->in_features, .n = self->out_features, .k = xm->rows,
        .a = lc_operand_transposed(x), .b = *g,
        .c = self->weight_grad.data, .ldc = self->out_features, .accumulate = !wfresh,
        .nthreads = lc_state_threads(st), .ctx = lc_state_context(st),
    };
    if (lc_run_gemm(&gw) < 0) { /* it wrote nothing */
        grad_rollback(&self->weight_grad, wfresh, &old[0]);
        if (self->has_bias) {
            grad_rollback(&self->bias_grad, bfresh, &old[1]);
        }
        return -1;
    }
    if (self->has_bias) {
        lc_sum_rows(g, gm->rows, self->out_features, grad_type(self), !bfresh,
                    self->bias_grad.data);
    }
    return 0;
}

PyObject *
lc_linear_backward(LinearObject *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    PyObject *gi = NULL;
    lc_matrix xm = LC_MATRIX_INIT, gm = LC_MATRIX_INIT;
    lc_grad old[2] = {{NULL, NULL, NULL}, {NULL, NULL, NULL}};
    lc_state *st = lc_state_of_type(Py_TYPE(self));

    if (nargs != 2 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError,
                        "backward(x, grad_output) takes exactly two positional arguments");
        return NULL;
    }
    if (backward_operands(self, args[0], args[1], &xm, &gm) < 0 ||
        (gi = grad_input(self, st, &xm, &gm)) == NULL) {
        goto done;
    }
    lock_grads(self);
    const int rc = accumulate_grads(self, st, &xm, &gm, old);
    lc_lock_release(&self->grad_lock);
    grad_clear(&old[0]); /* outside the lock: see grad_prepare */
    grad_clear(&old[1]);
    if (rc < 0) {
        Py_CLEAR(gi);
    }

done:
    lc_matrix_release(&xm);
    lc_matrix_release(&gm);
    return gi;
}

const char lc_backward_doc[] =
    "backward($self, x, grad_output, /)\n--\n\n"
    "Return grad_input = grad_output @ weight (shape of x), and accumulate\n"
    "grad_output.T @ x into weight_grad and grad_output summed over the leading\n"
    "dimensions into bias_grad, as torch's .grad accumulates (in float32 for a\n"
    "float16 or bfloat16 layer, whose grad_input is of its dtype). If you made\n"
    "weight_grad read-only (or changed it in place), that array is left alone and\n"
    "the layer continues the sum in a new one.";
