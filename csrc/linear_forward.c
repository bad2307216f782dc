/*
 * Forward: y = x @ W.T + b for the layer (vectorcall and .forward) and for
 * the functional linear(), which share argument checks and the GEMM call.
 */
#include "arrays.h" /* Python.h first */
#include "gemm.h"
#include "linear_forward.h"
#include "linear_object.h"
#include "state.h"

#include <string.h>

/* Below this many flops the GEMM runs with the GIL held: releasing and
 * taking it back would cost more than the work. */
#define LC_KEEP_GIL_FLOPS 200000.0

int
lc_run_gemm(const lc_gemm_args *g)
{
    int rc;
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (flops < LC_KEEP_GIL_FLOPS) {
        rc = lc_gemm(g);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        rc = lc_gemm(g);
        Py_END_ALLOW_THREADS
    }
    if (rc < 0) {
        PyErr_Format(PyExc_MemoryError,
                     "cannot allocate %zu bytes of packing buffers for a (%zd x %zd) @ "
                     "(%zd x %zd) product", lc_gemm_workspace_bytes(g), (Py_ssize_t)g->m,
                     (Py_ssize_t)g->k, (Py_ssize_t)g->k, (Py_ssize_t)g->n);
    }
    return rc;
}

/* The array forward writes into: `out` itself, or a new array (of out's
 * type, if given) when there is no `out` or when `out` cannot take the
 * GEMM's stores directly (it overlaps an operand, which the GEMM may read
 * after writing, or it is misaligned). */
static PyArrayObject *
output_array(PyArrayObject *out, int aside, lc_dtype type, int ndim, const npy_intp *dims)
{
    if (out != NULL && !aside) {
        return (PyArrayObject *)Py_NewRef(out);
    }
    return lc_new_result(type, ndim, dims);
}

PyObject *
lc_apply_linear(lc_state *st, PyObject *x, const lc_dense_weights *wt, PyObject *out_obj)
{
    lc_matrix xm = LC_MATRIX_INIT;
    PyArrayObject *out = NULL, *y = NULL;
    npy_intp dims[NPY_MAXDIMS];
    ptrdiff_t ldc = wt->n;
    lc_dtype result_type = wt->dtype; /* a half layer's out= may be float32 */
    const size_t es = lc_dtype_size(wt->dtype);

    if (lc_matrix_from_object(x, wt->dtype, wt->k, "input", "in_features", &xm) < 0) {
        return NULL;
    }
    const int ndim = PyArray_NDIM(xm.array);
    memcpy(dims, PyArray_DIMS(xm.array), (size_t)ndim * sizeof(npy_intp));
    dims[ndim - 1] = wt->n;
    int aside = 0;
    if (out_obj != NULL && out_obj != Py_None) {
        if (lc_check_out(out_obj, wt->dtype, ndim, dims, &ldc, &result_type) < 0) {
            goto error;
        }
        out = (PyArrayObject *)out_obj;
        aside = !PyArray_ISALIGNED(out) || lc_arrays_may_overlap(out, xm.array) ||
                lc_array_overlaps_span(out, wt->w_lo, wt->w_bytes) ||
                (wt->bias && lc_array_overlaps_span(out, wt->bias, (size_t)wt->n * es));
    }
    if ((y = output_array(out, aside, result_type, ndim, dims)) == NULL) {
        goto error;
    }
    if (y != out) {
        ldc = wt->n;
    }
    /* An empty result is complete now, however many rows x has. */
    if (PyArray_SIZE(y) > 0) {
        lc_gemm_args g = {
            .dtype = lc_compute_type(wt->dtype), .m = xm.rows, .n = wt->n, .k = wt->k,
            .a = xm.op, .b = wt->b,
            .bias = wt->bias, .c = PyArray_DATA(y), .ldc = ldc,
            .nthreads = lc_state_threads(st), .ctx = lc_state_context(st),
            .c_type = result_type, .bias_type = wt->dtype,
        };
        if (lc_matrix_index_rows(&xm, "input") < 0 ||
            (g.a.row_off = xm.op.row_off, lc_run_gemm(&g) < 0)) {
            goto error;
        }
    }
    lc_matrix_release(&xm);
    if (out != NULL && y != out) {
        if (PyArray_CopyInto(out, y) < 0) {
            Py_DECREF(y);
            return NULL;
        }
        Py_SETREF(y, (PyArrayObject *)Py_NewRef(out));
    }
    return (PyObject *)y;

error:
    lc_matrix_release(&xm);
    Py_XDECREF(y);
    return NULL;
}

/* Parse (x, /, *, out=None) from a vectorcall. */
static int
parse_forward_args(PyObject *const *args, size_t nargsf, PyObject *kwnames,
                   const char *fname, PyObject **x, PyObject **out)
{
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    *out = NULL;
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes exactly one positional argument (the input), got %zd",
                     fname, nargs);
        return -1;
    }
    *x = args[0];
    for (Py_ssize_t i = 0; kwnames != NULL && i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(key, "out") != 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R",
                         fname, key);
            return -1;
        }
        *out = args[nargs + i];
    }
    return 0;
}

static PyObject *
forward_impl(LinearObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames,
             const char *fname)
{
    PyObject *x = NULL, *out = NULL;
    if (parse_forward_args(args, nargsf, kwnames, fname, &x, &out) < 0) {
        return NULL;
    }
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(self->dtype);
    const lc_dense_weights wt = {
        .dtype = self->dtype, .k = self->in_features, .n = self->out_features,
        .b = {.data = self->weight_t, .type = self->dtype, .rs = self->out_features * es,
              .cs = es},
        .w_lo = self->weight_t,
        .w_bytes = (size_t)(self->in_features * self->out_features * es),
        .bias = self->bias,
    };
    return lc_apply_linear(lc_state_of_type(Py_TYPE(self)), x, &wt, out);
}

PyObject *
lc_linear_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                     PyObject *kwnames)
{
    return forward_impl((LinearObject *)callable, args, nargsf, kwnames, "Linear");
}

PyObject *
lc_linear_forward(LinearObject *self, PyObject *const *args, Py_ssize_t nargs,
                  PyObject *kwnames)
{
    return forward_impl(self, args, (size_t)nargs, kwnames, "forward");
}

const char lc_forward_doc[] =
    "forward($self, x, /, *, out=None)\n--\n\n"
    "y = x @ weight.T + bias for x of shape (*, in_features); the same as calling\n"
    "the layer. x may be any array-like of numbers (a torch tensor too: the result\n"
    "is a NumPy array), with any strides and any dtype that casts to the layer's\n"
    "under 'same_kind' (a float16 or bfloat16 layer rounds other inputs to its\n"
    "dtype first, as torch would). out, if given, must be an array of the\n"
    "result's shape and the layer's dtype (or float32 for a float16 or bfloat16\n"
    "layer: the products before their rounding), contiguous along its last axis\n"
    "(leading axes may be strided if they collapse into one stride); it is\n"
    "returned.";

/* ------------------------------------------------------------------------
 * Functional form: linear(x, weight, bias=None, *, out=None).
 */

/* x, weight, bias, out from positional and keyword arguments. */
static int
parse_functional_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      PyObject *vals[4])
{
    static const char *const names[] = {"x", "weight", "bias", "out"};
    vals[0] = vals[1] = NULL;
    vals[2] = vals[3] = Py_None;
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "linear() takes at most 3 positional arguments (x, weight, bias), got %zd",
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        vals[i] = args[i];
    }
    for (Py_ssize_t i = 0; kwnames != NULL && i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        int slot = -1;
        for (int j = 0; j < 4; j++) {
            if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0) {
                slot = j;
            }
        }
        if (slot < 0 || slot < nargs) {
            PyErr_Format(PyExc_TypeError, "linear() got %s keyword argument %R",
                         slot < 0 ? "an unexpected" : "a repeated", key);
            return -1;
        }
        vals[slot] = args[nargs + i];
    }
    if (vals[0] == NULL || vals[1] == NULL) {
        PyErr_Format(PyExc_TypeError, "linear() missing required argument '%s'",
                     vals[0] == NULL ? "x" : "weight");
        return -1;
    }
    return 0;
}

/* The weight as a C-contiguous (out, in) or (in,) array of the type the
 * product takes from it: its own for float32, float16 and bfloat16 weights
 * (in any byte order), else float64. */
static PyArrayObject *
functional_weight(PyObject *obj, lc_dtype *dtype)
{
    char shape[128];
    PyArrayObject *w = lc_as_numeric_array(obj, "weight");
    if (w == NULL) {
        return NULL;
    }
    if (PyArray_NDIM(w) != 1 && PyArray_NDIM(w) != 2) {
        lc_format_shape(shape, sizeof shape, PyArray_NDIM(w), PyArray_DIMS(w));
        PyErr_Format(PyExc_ValueError,
                     "weight must be 2-D (out_features, in_features) or 1-D (in_features,), "
                     "got shape %s", shape);
        Py_DECREF(w);
        return NULL;
    }
    const int wt = PyArray_TYPE(w);
    *dtype = wt == NPY_FLOAT32                  ? LC_F32
             : wt == NPY_HALF                   ? LC_F16
             : lc_is_bfloat16(PyArray_DESCR(w)) ? LC_BF16
                                                : LC_F64;
    Py_SETREF(w, lc_as_array((PyObject *)w, *dtype, LC_AS_CONTIGUOUS, "weight", NULL));
    return w;
}

/* The bias for n outputs as n contiguous values (a new reference), or NULL
 * for None (*failed tells an error apart). A 0-d bias broadcasts, as in
 * torch; it is the only bias a 1-D weight takes. */
static PyArrayObject *
functional_bias(PyObject *obj, lc_dtype dtype, npy_intp n, int weight_1d, int *failed)
{
    char shape[128];
    *failed = 0;
    if (obj == Py_None) {
        return NULL;
    }
    PyArrayObject *b = lc_as_array(obj, dtype, LC_AS_CONTIGUOUS, "bias", NULL);
    if (b != NULL && PyArray_NDIM(b) == 0) {
        /* Broadcast to the n outputs (one value is already that for n == 1). */
        if (n != 1) {
            PyArray_Descr *descr = lc_descr(dtype); /* (stolen) */
            PyArrayObject *wide =
                descr ? (PyArrayObject *)PyArray_Zeros(1, &n, descr, 0) : NULL;
            if (wide != NULL && PyArray_CopyInto(wide, b) < 0) {
                Py_CLEAR(wide);
            }
            Py_SETREF(b, wide);
        }
    }
    else if (b != NULL && (weight_1d || PyArray_NDIM(b) != 1 || PyArray_DIM(b, 0) != n)) {
        lc_format_shape(shape, sizeof shape, PyArray_NDIM(b), PyArray_DIMS(b));
        if (weight_1d) {
            PyErr_Format(PyExc_ValueError, "bias must be 0-d for a 1-D weight, got shape %s",
                         shape);
        }
        else {
            PyErr_Format(PyExc_ValueError, "bias must have shape (%zd,) or (), got %s",
                         (Py_ssize_t)n, shape);
        }
        Py_CLEAR(b);
    }
    *failed = b == NULL;
    return b;
}

/* A base-class view of `a` with a trailing axis of length 1, built from the
 * array itself: no Python-level indexing, so a subclass's __getitem__ never
 * runs (one that copies would leave `a` unwritten). */
static PyObject *
with_unit_axis(PyArrayObject *a)
{
    npy_intp dims[NPY_MAXDIMS], strides[NPY_MAXDIMS];
    const int nd = PyArray_NDIM(a); /* one less than x's: room for the axis */
    for (int i = 0; i < nd; i++) { /* (a 0-d array may have no dims at all) */
        dims[i] = PyArray_DIM(a, i);
        strides[i] = PyArray_STRIDE(a, i);
    }
    dims[nd] = 1;
    strides[nd] = PyArray_ITEMSIZE(a);
    PyArray_Descr *descr = PyArray_DESCR(a);
    Py_INCREF(descr);
    PyObject *view = PyArray_NewFromDescr(&PyArray_Type, descr, nd + 1, dims, strides,
                                          PyArray_DATA(a),
                                          PyArray_FLAGS(a) & NPY_ARRAY_WRITEABLE, NULL);
    if (view != NULL && PyArray_SetBaseObject((PyArrayObject *)view, Py_NewRef(a)) < 0) {
        Py_CLEAR(view); /* (the base reference was stolen either way) */
    }
    return view;
}

/* A 1-D weight gives results of shape (*,): `out` must have that shape, and
 * the product writes through its (*, 1) view. x is converted here (once,
 * for its shape): *xa receives the array, for the product to use. */
static PyObject *
out_for_vector_weight(PyObject *x, PyObject *out, PyArrayObject **xa)
{
    *xa = NULL;
    if (out == Py_None) {
        return Py_NewRef(out);
    }
    if ((*xa = lc_as_numeric_array(x, "input")) == NULL) {
        return NULL;
    }
    const int lead = PyArray_NDIM(*xa) > 0 ? PyArray_NDIM(*xa) - 1 : 0;
    /* (A 0-d array may have no dims at all: memcmp only real ones.) */
    if (PyArray_Check(out) && (PyArray_NDIM((PyArrayObject *)out) != lead ||
                               (lead > 0 && memcmp(PyArray_DIMS((PyArrayObject *)out),
                                                   PyArray_DIMS(*xa),
                                                   (size_t)lead * sizeof(npy_intp)) != 0))) {
        char want[256], got[256];
        lc_format_shape(want, sizeof want, lead, PyArray_DIMS(*xa));
        lc_format_shape(got, sizeof got, PyArray_NDIM((PyArrayObject *)out),
                        PyArray_DIMS((PyArrayObject *)out));
        PyErr_Format(PyExc_ValueError, "out has shape %s, expected %s", got, want);
        Py_CLEAR(*xa);
        return NULL;
    }
    const int masked = lc_is_masked_array(out);
    if (masked < 0) {
        Py_CLEAR(*xa);
        return NULL;
    }
    if (masked || !PyArray_Check(out)) {
        return Py_NewRef(out); /* lc_check_out refuses it, naming why */
    }
    PyObject *view = with_unit_axis((PyArrayObject *)out);
    if (view == NULL) {
        Py_CLEAR(*xa);
    }
    return view;
}

PyObject *
lc_functional_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    PyObject *vals[4], *out = NULL, *result = NULL;
    PyArrayObject *w = NULL, *b = NULL, *xa = NULL;
    lc_dtype dtype;
    int failed;
    if (parse_functional_args(args, nargs, kwnames, vals) < 0 ||
        (w = functional_weight(vals[1], &dtype)) == NULL) {
        return NULL;
    }
    const int vector = PyArray_NDIM(w) == 1;
    const npy_intp n = vector ? 1 : PyArray_DIM(w, 0);
    b = functional_bias(vals[2], dtype, n, vector, &failed);
    out = failed   ? NULL
          : vector ? out_for_vector_weight(vals[0], vals[3], &xa)
                   : Py_NewRef(vals[3]);
    if (out != NULL) {
        /* W (n x k, C-contiguous) read as B = W.T: rows of B strided. */
        const npy_intp k = PyArray_DIM(w, PyArray_NDIM(w) - 1);
        const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(dtype);
        const lc_dense_weights wt = {
            .dtype = dtype, .n = n, .k = k,
            .b = {.data = PyArray_DATA(w), .type = dtype, .rs = es, .cs = k * es},
            .w_lo = PyArray_DATA(w), .w_bytes = (size_t)PyArray_NBYTES(w),
            .bias = b ? PyArray_DATA(b) : NULL,
        };
        result = lc_apply_linear(PyModule_GetState(module),
                                 xa != NULL ? (PyObject *)xa : vals[0], &wt, out);
    }
    if (result != NULL && vector) {
        /* (*, 1) -> (*,): `out` itself when one was given. */
        PyArrayObject *r = (PyArrayObject *)result;
        PyArray_Dims lead = {PyArray_DIMS(r), PyArray_NDIM(r) - 1};
        Py_SETREF(result, vals[3] != Py_None ? Py_NewRef(vals[3])
                                             : PyArray_Newshape(r, &lead, NPY_CORDER));
    }
    Py_XDECREF(out);
    Py_XDECREF(xa);
    Py_DECREF(w);
    Py_XDECREF(b);
    return result;
}

const char lc_functional_linear_doc[] =
    "linear(x, weight, bias=None, *, out=None)\n--\n\n"
    "Functional form, as torch.nn.functional.linear: x @ weight.T + bias for x\n"
    "of shape (*, in_features) and weight of shape (out_features, in_features),\n"
    "with bias of shape (out_features,) or () (broadcast). A 1-D weight of shape\n"
    "(in_features,) gives a result of shape (*,), with a 0-d bias or none.\n"
    "The weight's dtype is the layer's: float32, float16 and bfloat16 weights\n"
    "give results of their dtype (float16 and bfloat16 computed in float32 and\n"
    "rounded once), any other weight a float64 result; x and bias are cast to\n"
    "it, and the arithmetic is Linear's.";
