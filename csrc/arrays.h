/*
 * From Python objects to arrays the GEMM can read, with the errors users
 * see: one conversion for every argument (inputs, gradients, parameters,
 * state dicts, the functional form; its first step, any object to an array
 * of numbers, is convert.h), the (rows x cols) view of an array of any
 * rank, and the checks on `out=`.
 */
#ifndef LINEARC_ARRAYS_H
#define LINEARC_ARRAYS_H

#include "convert.h"
#include "lc_numpy.h"
#include "types.h"

enum {
    LC_AS_ANY_FLOAT = 1,  /* for a float32 or float64 dtype, keep float32 and
                             float64 data as it is (a half dtype keeps only
                             its own: other data is rounded to it first) */
    LC_AS_CONTIGUOUS = 2, /* a C-contiguous array (copied if needed) */
};

/*
 * obj as an aligned, native-byte-order array of `dtype` (a new reference):
 * other dtypes are converted when NumPy casts them to `dtype` under
 * "same_kind", else TypeError names both dtypes. With LC_AS_ANY_FLOAT and
 * a float32 or float64 `dtype`, a float32 or float64 array stays as it is
 * (the packers convert on the fly); *type (if not NULL) receives its
 * element type.
 */
PyArrayObject *lc_as_array(PyObject *obj, lc_dtype dtype, int flags, const char *what,
                           lc_dtype *type);

/* lc_as_array(LC_AS_CONTIGUOUS) of exactly this shape, else ValueError
 * "<what> must have shape (2, 4), got (3,)". */
PyArrayObject *lc_as_array_of_shape(PyObject *obj, lc_dtype dtype, const char *what,
                                    int ndim, const npy_intp *dims);

/* An array of shape (*lead, cols) seen as a (rows x cols) matrix. */
typedef struct {
    PyArrayObject *array; /* strong reference: the input, or its copy */
    lc_operand op;        /* rows x cols */
    ptrdiff_t rows, cols;
    ptrdiff_t *offsets;   /* row offsets (PyMem) when the leading axes do
                             not collapse into one stride */
} lc_matrix;

#define LC_MATRIX_INIT {NULL, {NULL, LC_F32, 0, 0, NULL, NULL}, 0, 0, NULL}

/*
 * obj (rank >= 1) as a matrix whose last axis must have `cols` elements,
 * converted by lc_as_array(LC_AS_ANY_FLOAT). `what` names the argument and
 * `feature_name` the last axis in messages ("in_features"). The row offsets
 * a strided view may need are not built yet: lc_matrix_index_rows does that,
 * once the product is known to have work. Returns 0, or -1 with the error.
 */
int lc_matrix_from_object(PyObject *obj, lc_dtype dtype, ptrdiff_t cols,
                          const char *what, const char *feature_name, lc_matrix *m);
int lc_matrix_index_rows(lc_matrix *m, const char *what);
void lc_matrix_release(lc_matrix *m);

/* obj as a Python int (a new reference): an int or anything with __index__
 * (NumPy integers), never a bool; else TypeError "<expected>, not <type>",
 * e.g. expected = "seed must be an int or None". */
PyObject *lc_as_index(PyObject *obj, const char *expected);

/*
 * numpy dtype <-> lc_dtype. bfloat16 is ml_dtypes' (an optional
 * dependency), loaded on first need: lc_descr(LC_BF16) and
 * lc_dtype_from_object("bfloat16") raise ImportError naming the
 * "bfloat16" extra without it. Once either has succeeded (every bfloat16
 * layer went through lc_dtype_from_object) lc_descr(LC_BF16) cannot fail.
 */
PyArray_Descr *lc_descr(lc_dtype t); /* new reference, or NULL (bfloat16 only) */
/* Native byte order float32, float64, float16 or bfloat16: 0, else -1 (no
 * error set). Never imports ml_dtypes: a user-defined dtype is bfloat16
 * only if ml_dtypes was imported (by anyone). */
int lc_dtype_from_descr(PyArray_Descr *d, lc_dtype *t);
/* Whether d is ml_dtypes' bfloat16, in any byte order (the same rule). */
int lc_is_bfloat16(PyArray_Descr *d);
/* A dtype argument: TypeError listing the four, ImportError for a bfloat16
 * without ml_dtypes. */
int lc_dtype_from_object(PyObject *obj, lc_dtype *t);
const char *lc_dtype_name(lc_dtype t);

/* "(32, 3, 4)" into buf */
void lc_format_shape(char *buf, size_t size, int ndim, const npy_intp *dims);

/* If all leading axes (all but the last) collapse into one stride, store it
 * and return 1; else 0. Axes of length 1 never block a collapse. */
int lc_collapse_leading(int ndim, const npy_intp *dims, const npy_intp *strides,
                        ptrdiff_t *stride);

/*
 * Check `out` for a result of shape (ndim, dims) and type t: an ndarray (not
 * a masked one) of exactly that shape and of dtype t, or float32 if t is a
 * half type (it then receives the chains unrounded), writable, contiguous
 * along its last axis, with leading axes that collapse into one row stride
 * (*ldc, in elements). *type receives out's element type. Returns 0, or -1
 * with ValueError/TypeError set. A misaligned `out` passes: the caller
 * computes aside and copies in.
 */
int lc_check_out(PyObject *out, lc_dtype t, int ndim, const npy_intp *dims,
                 ptrdiff_t *ldc, lc_dtype *type);

/* A new C-contiguous array for a result: big ones over a buffer from the
 * result cache (workspace.h), which the array's base gives back when the
 * array goes; small ones from NumPy. New reference, or NULL with
 * MemoryError. */
PyArrayObject *lc_new_result(lc_dtype t, int ndim, const npy_intp *dims);

/* Whether the memory spans of two arrays overlap (a cheap bounds test). */
int lc_arrays_may_overlap(PyArrayObject *a, PyArrayObject *b);
int lc_array_overlaps_span(PyArrayObject *a, const void *lo, size_t bytes);

#endif
