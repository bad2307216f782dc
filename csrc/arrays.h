/*
 * From Python inputs to GEMM operands: array conversion, dtype and shape
 * checks with the errors users see, and the (rows x cols) view of an array of
 * any rank whose last axis is cols.
 */
#ifndef LINEARC_ARRAYS_H
#define LINEARC_ARRAYS_H

#include "lc_numpy.h"
#include "gemm.h"

/* An array of shape (*lead, cols) seen as a (rows x cols) matrix. */
typedef struct {
    PyArrayObject *array; /* strong reference: the input, or its cast copy */
    lc_operand op;        /* rows x cols */
    ptrdiff_t rows, cols;
    ptrdiff_t *offsets;   /* PyMem row offsets when the leading axes do not
                             collapse into one stride; op.row_off points here */
} lc_matrix;

#define LC_MATRIX_INIT {NULL, {NULL, LC_F32, 0, 0, NULL, NULL}, 0, 0, NULL}

/*
 * View obj (any array-like, rank >= 1) as a matrix whose last axis must have
 * `cols` elements. float32 and float64 arrays are used in place; other dtypes
 * that cast to `dtype` under "same_kind" are converted by NumPy; others raise
 * TypeError. `what` names the argument in messages ("input", "grad_output").
 * `feature_name` names cols in messages ("in_features").
 * Returns 0, or -1 with an exception set.
 */
int lc_matrix_from_object(PyObject *obj, lc_dtype dtype, ptrdiff_t cols,
                          const char *what, const char *feature_name,
                          lc_matrix *m);
void lc_matrix_release(lc_matrix *m);

/* numpy dtype <-> lc_dtype */
PyArray_Descr *lc_descr(lc_dtype t); /* new reference */
int lc_dtype_from_descr(PyArray_Descr *d, lc_dtype *t); /* 0, or -1 if neither */
int lc_dtype_from_object(PyObject *obj, lc_dtype *t);  /* TypeError if not f32/f64 */
const char *lc_dtype_name(lc_dtype t);

/* "(32, 3, 4)" into buf */
void lc_format_shape(char *buf, size_t size, int ndim, const npy_intp *dims);

/* If all leading axes (all but the last) collapse into one stride, store it
 * and return 1; else 0. Axes of length 1 never block a collapse. */
int lc_collapse_leading(int ndim, const npy_intp *dims, const npy_intp *strides,
                        ptrdiff_t *stride);

/*
 * Check `out` for a result of shape (ndim, dims) and type t: an ndarray of
 * exactly that shape and dtype, writable, contiguous along its last axis,
 * with leading axes that collapse into one row stride (*ldc, in elements).
 * Returns 0, or -1 with ValueError/TypeError set.
 */
int lc_check_out(PyObject *out, lc_dtype t, int ndim, const npy_intp *dims,
                 ptrdiff_t *ldc);

/* Whether the memory spans of two arrays overlap (a cheap bounds test). */
int lc_arrays_may_overlap(PyArrayObject *a, PyArrayObject *b);
int lc_array_overlaps_span(PyArrayObject *a, const void *lo, size_t bytes);

#endif
