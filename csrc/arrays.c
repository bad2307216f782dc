/* Python objects to GEMM operands, with the errors users see (arrays.h). */
#include "arrays.h" /* Python.h first */
#include "workspace.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Element types. bfloat16 is not NumPy's: ml_dtypes registers it (a
 * user-defined type number), and linearc loads it only when asked for it.
 */

/* ml_dtypes' bfloat16 descr once loaded: a strong reference kept for the
 * process (the module lives in one interpreter). Atomic: without a GIL two
 * threads may load it at once, and one keeps the other's. */
static _Atomic(PyArray_Descr *) bfloat16_descr;

/* The bfloat16 descr (borrowed), loaded through linearc._bfloat16 on first
 * need; NULL with ImportError naming the "bfloat16" extra if ml_dtypes is
 * missing. */
static PyArray_Descr *
bfloat16(void)
{
    PyArray_Descr *d = atomic_load(&bfloat16_descr);
    if (d != NULL) {
        return d;
    }
    PyObject *module = PyImport_ImportModule("linearc._bfloat16");
    PyObject *obj = module ? PyObject_CallMethod(module, "dtype", NULL) : NULL;
    Py_XDECREF(module);
    if (obj == NULL) {
        return NULL;
    }
    if (!PyArray_DescrCheck(obj) || PyDataType_ELSIZE((PyArray_Descr *)obj) != 2) {
        PyErr_Format(PyExc_TypeError, "ml_dtypes.bfloat16 is not a 2-byte dtype: %R", obj);
        Py_DECREF(obj);
        return NULL;
    }
    d = (PyArray_Descr *)obj;
    PyArray_Descr *expected = NULL;
    if (!atomic_compare_exchange_strong(&bfloat16_descr, &expected, d)) {
        Py_DECREF(d); /* another thread's is kept */
        d = expected;
    }
    return d;
}

/* The bfloat16 descr if it can be known without importing anything:
 * loaded already, or ml_dtypes imported by someone (then arrays of it may
 * exist). NULL otherwise, with no error. */
static PyArray_Descr *
bfloat16_if_imported(void)
{
    PyArray_Descr *d = atomic_load(&bfloat16_descr);
    if (d != NULL || PyErr_Occurred()) {
        return d;
    }
    PyObject *name = PyUnicode_FromString("ml_dtypes");
    PyObject *module = name ? PyImport_GetModule(name) : NULL;
    Py_XDECREF(name);
    if (module != NULL && module != Py_None) {
        d = bfloat16();
    }
    Py_XDECREF(module);
    PyErr_Clear(); /* not known: not bfloat16 */
    return d;
}

int
lc_is_bfloat16(PyArray_Descr *d)
{
    if (d->type_num < NPY_USERDEF) {
        return 0;
    }
    PyArray_Descr *bf = bfloat16_if_imported();
    return bf != NULL && d->type_num == bf->type_num;
}

PyArray_Descr *
lc_descr(lc_dtype t)
{
    switch (t) {
    case LC_F64:
        return PyArray_DescrFromType(NPY_FLOAT64);
    case LC_F16:
        return PyArray_DescrFromType(NPY_HALF);
    case LC_BF16: {
        PyArray_Descr *d = bfloat16();
        Py_XINCREF(d);
        return d;
    }
    default:
        return PyArray_DescrFromType(NPY_FLOAT32);
    }
}

const char *
lc_dtype_name(lc_dtype t)
{
    switch (t) {
    case LC_F64:
        return "float64";
    case LC_F16:
        return "float16";
    case LC_BF16:
        return "bfloat16";
    default:
        return "float32";
    }
}

int
lc_dtype_from_descr(PyArray_Descr *d, lc_dtype *t)
{
    if (!PyArray_ISNBO(d->byteorder)) {
        return -1;
    }
    switch (d->type_num) {
    case NPY_FLOAT32:
        *t = LC_F32;
        return 0;
    case NPY_FLOAT64:
        *t = LC_F64;
        return 0;
    case NPY_HALF:
        *t = LC_F16;
        return 0;
    default:
        if (lc_is_bfloat16(d)) {
            *t = LC_BF16;
            return 0;
        }
        return -1;
    }
}

int
lc_dtype_from_object(PyObject *obj, lc_dtype *t)
{
    /* NumPy knows the name "bfloat16" only once ml_dtypes is imported. */
    if (PyUnicode_Check(obj) && PyUnicode_CompareWithASCIIString(obj, "bfloat16") == 0) {
        *t = LC_BF16;
        return bfloat16() != NULL ? 0 : -1;
    }
    PyArray_Descr *d = NULL;
    if (!PyArray_DescrConverter2(obj, &d)) {
        PyErr_Clear();
        d = NULL;
    }
    int ok = d != NULL && lc_dtype_from_descr(d, t) == 0;
    Py_XDECREF(d);
    if (!ok) {
        PyObject *r = PyObject_Repr(obj);
        PyErr_Format(PyExc_TypeError,
                     "dtype must be float32, float64, float16 or bfloat16, got %s",
                     r ? PyUnicode_AsUTF8(r) : "?");
        Py_XDECREF(r);
        return -1;
    }
    return 0;
}

void
lc_format_shape(char *buf, size_t size, int ndim, const npy_intp *dims)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && used < size; i++) {
        used += (size_t)snprintf(buf + used, size - used, "%s%lld",
                                 i ? ", " : "", (long long)dims[i]);
    }
    if (used < size) {
        snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
    }
}

int
lc_collapse_leading(int ndim, const npy_intp *dims, const npy_intp *strides,
                    ptrdiff_t *stride)
{
    /* Walk the leading axes from the innermost out; `run` is the stride of
     * one step of the flattened index so far, `extent` its number of steps. */
    ptrdiff_t run = 0, extent = 1;
    int have = 0;
    for (int i = ndim - 2; i >= 0; i--) {
        if (dims[i] == 1) {
            continue;
        }
        if (!have) {
            run = strides[i];
            extent = dims[i];
            have = 1;
        }
        else if (strides[i] == run * extent) {
            extent *= dims[i];
        }
        else {
            return 0;
        }
    }
    *stride = run;
    return 1;
}

/* Byte offsets of every row of an array whose leading axes do not collapse. */
static ptrdiff_t *
row_offsets(int ndim, const npy_intp *dims, const npy_intp *strides,
            ptrdiff_t rows)
{
    ptrdiff_t *off = PyMem_New(ptrdiff_t, (size_t)rows);
    if (off == NULL) {
        return NULL;
    }
    npy_intp index[NPY_MAXDIMS] = {0};
    ptrdiff_t cur = 0;
    const int lead = ndim - 1;
    for (ptrdiff_t r = 0; r < rows; r++) {
        off[r] = cur;
        /* odometer increment over the leading axes */
        for (int ax = lead - 1; ax >= 0; ax--) {
            if (++index[ax] < dims[ax]) {
                cur += strides[ax];
                break;
            }
            cur -= strides[ax] * (dims[ax] - 1);
            index[ax] = 0;
        }
    }
    return off;
}

void
lc_matrix_release(lc_matrix *m)
{
    Py_CLEAR(m->array);
    PyMem_Free(m->offsets);
    m->offsets = NULL;
}

PyObject *
lc_as_index(PyObject *obj, const char *expected)
{
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s, not %.100s", expected, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return PyNumber_Index(obj);
}

PyArrayObject *
lc_as_array(PyObject *obj, lc_dtype dtype, int flags, const char *what, lc_dtype *type)
{
    PyArrayObject *arr = lc_as_numeric_array(obj, what);
    if (arr == NULL) {
        return NULL;
    }
    lc_dtype have;
    const int is_float = lc_dtype_from_descr(PyArray_DESCR(arr), &have) == 0;
    /* A half layer rounds its inputs to its own type first, as torch would;
     * float32 and float64 layers let the packers convert either. */
    const int any_float = (flags & LC_AS_ANY_FLOAT) && !lc_is_half(dtype) && !lc_is_half(have);
    const int keep_type = is_float && (have == dtype || any_float);
    const int contiguous_ok = !(flags & LC_AS_CONTIGUOUS) || PyArray_IS_C_CONTIGUOUS(arr);
    if (keep_type && contiguous_ok && PyArray_ISALIGNED(arr)) {
        if (type != NULL) {
            *type = have;
        }
        return arr;
    }
    PyArray_Descr *want = lc_descr(keep_type ? have : dtype);
    if (want == NULL) {
        Py_DECREF(arr);
        return NULL;
    }
    if (!keep_type &&
        !PyArray_CanCastTypeTo(PyArray_DESCR(arr), want, NPY_SAME_KIND_CASTING)) {
        PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(arr));
        PyErr_Format(PyExc_TypeError,
                     "cannot cast %s of dtype %s to %s under the 'same_kind' rule", what,
                     r ? PyUnicode_AsUTF8(r) : "?", lc_dtype_name(dtype));
        Py_XDECREF(r);
        Py_DECREF(want);
        Py_DECREF(arr);
        return NULL;
    }
    /* An aligned copy in the target type (PyArray_FromArray steals `want`);
     * an input that is already right is never copied. */
    const int req = NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST |
                    ((flags & LC_AS_CONTIGUOUS) ? NPY_ARRAY_C_CONTIGUOUS : 0);
    PyArrayObject *cast = (PyArrayObject *)PyArray_FromArray(arr, want, req);
    Py_DECREF(arr);
    if (cast != NULL && type != NULL) {
        *type = keep_type ? have : dtype;
    }
    return cast;
}

PyArrayObject *
lc_as_array_of_shape(PyObject *obj, lc_dtype dtype, const char *what, int ndim,
                     const npy_intp *dims)
{
    char want[128], got[128];
    PyArrayObject *arr = lc_as_numeric_array(obj, what);
    if (arr == NULL) {
        return NULL;
    }
    if (PyArray_NDIM(arr) != ndim ||
        memcmp(PyArray_DIMS(arr), dims, (size_t)ndim * sizeof(npy_intp)) != 0) {
        lc_format_shape(want, sizeof want, ndim, dims);
        lc_format_shape(got, sizeof got, PyArray_NDIM(arr), PyArray_DIMS(arr));
        PyErr_Format(PyExc_ValueError, "%s must have shape %s, got %s", what, want, got);
        Py_DECREF(arr);
        return NULL;
    }
    PyArrayObject *res = lc_as_array((PyObject *)arr, dtype, LC_AS_CONTIGUOUS, what, NULL);
    Py_DECREF(arr);
    return res;
}

/* ------------------------------------------------------------------------
 * Arrays as matrices.
 */
int
lc_matrix_from_object(PyObject *obj, lc_dtype dtype, ptrdiff_t cols, const char *what,
                      const char *feature_name, lc_matrix *m)
{
    char shape[256];
    lc_dtype type;
    PyArrayObject *arr = lc_as_array(obj, dtype, LC_AS_ANY_FLOAT, what, &type);
    if (arr == NULL) {
        return -1;
    }
    const int ndim = PyArray_NDIM(arr);
    const npy_intp *dims = PyArray_DIMS(arr), *strides = PyArray_STRIDES(arr);
    if (ndim == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s must have at least 1 dimension (shape (*, %s)), got a 0-d array",
                     what, feature_name);
        goto error;
    }
    if (dims[ndim - 1] != cols) {
        lc_format_shape(shape, sizeof shape, ndim, dims);
        PyErr_Format(PyExc_ValueError,
                     "%s of shape %s does not end in %s=%zd: expected shape (*, %zd)",
                     what, shape, feature_name, cols, cols);
        goto error;
    }
    /* Zero-size arrays may have leading axes whose product overflows. */
    ptrdiff_t rows = 1;
    for (int i = 0; i < ndim - 1; i++) {
        if (__builtin_mul_overflow(rows, (ptrdiff_t)dims[i], &rows)) {
            lc_format_shape(shape, sizeof shape, ndim, dims);
            PyErr_Format(PyExc_ValueError, "%s of shape %s has too many rows", what, shape);
            goto error;
        }
    }
    m->array = arr;
    m->rows = rows;
    m->cols = cols;
    m->offsets = NULL;
    m->op = (lc_operand){.data = PyArray_BYTES(arr), .type = type, .cs = strides[ndim - 1]};
    if (rows > 0 && !lc_collapse_leading(ndim, dims, strides, &m->op.rs)) {
        m->op.rs = 0; /* lc_matrix_index_rows builds the offsets */
    }
    return 0;

error:
    Py_DECREF(arr);
    return -1;
}

int
lc_matrix_index_rows(lc_matrix *m, const char *what)
{
    const int ndim = PyArray_NDIM(m->array);
    const npy_intp *dims = PyArray_DIMS(m->array), *strides = PyArray_STRIDES(m->array);
    ptrdiff_t stride;
    if (m->rows == 0 || m->offsets != NULL || lc_collapse_leading(ndim, dims, strides, &stride)) {
        return 0;
    }
    m->offsets = row_offsets(ndim, dims, strides, m->rows);
    if (m->offsets == NULL) {
        char shape[256];
        lc_format_shape(shape, sizeof shape, ndim, dims);
        PyErr_Format(PyExc_MemoryError,
                     "cannot allocate %zu bytes for the row offsets of %s of shape %s",
                     (size_t)m->rows * sizeof(ptrdiff_t), what, shape);
        return -1;
    }
    m->op.row_off = m->offsets;
    return 0;
}

/* out's type, dtype (into *type), shape and writability, with the errors. */
static int
check_out_kind(PyObject *out, lc_dtype t, int ndim, const npy_intp *dims, lc_dtype *type)
{
    char want[256], got[256];
    const int masked = lc_is_masked_array(out);
    if (masked != 0) {
        if (masked > 0) {
            PyErr_SetString(PyExc_TypeError,
                            "out is a masked array: linearc would write its data and ignore "
                            "its mask; pass out.data instead");
        }
        return -1;
    }
    if (!PyArray_Check(out)) {
        PyErr_Format(PyExc_TypeError, "out must be a numpy.ndarray, not %.100s",
                     Py_TYPE(out)->tp_name);
        return -1;
    }
    PyArrayObject *o = (PyArrayObject *)out;
    /* A half result may also be taken in float32, before its rounding. */
    if (lc_dtype_from_descr(PyArray_DESCR(o), type) < 0 ||
        (*type != t && !(lc_is_half(t) && *type == LC_F32))) {
        PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(o));
        PyErr_Format(PyExc_TypeError, "out has dtype %s, expected %s%s",
                     r ? PyUnicode_AsUTF8(r) : "?", lc_dtype_name(t),
                     lc_is_half(t) ? " or float32" : "");
        Py_XDECREF(r);
        return -1;
    }
    if (PyArray_NDIM(o) != ndim ||
        memcmp(PyArray_DIMS(o), dims, (size_t)ndim * sizeof(npy_intp)) != 0) {
        lc_format_shape(want, sizeof want, ndim, dims);
        lc_format_shape(got, sizeof got, PyArray_NDIM(o), PyArray_DIMS(o));
        PyErr_Format(PyExc_ValueError, "out has shape %s, expected %s", got, want);
        return -1;
    }
    if (!PyArray_ISWRITEABLE(o)) {
        PyErr_SetString(PyExc_ValueError, "out is read-only");
        return -1;
    }
    return 0;
}

int
lc_check_out(PyObject *out, lc_dtype t, int ndim, const npy_intp *dims, ptrdiff_t *ldc,
             lc_dtype *type)
{
    if (check_out_kind(out, t, ndim, dims, type) < 0) {
        return -1;
    }
    PyArrayObject *o = (PyArrayObject *)out;
    const npy_intp *st = PyArray_STRIDES(o);
    const npy_intp es = (npy_intp)lc_dtype_size(*type);
    const npy_intp n = dims[ndim - 1];
    if (PyArray_SIZE(o) == 0) {
        *ldc = n; /* never written: any strides will do */
        return 0;
    }
    ptrdiff_t rs = 0;
    const int last_ok = n <= 1 || st[ndim - 1] == es;
    if (!last_ok || !lc_collapse_leading(ndim, dims, st, &rs) || rs % es != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "out must be contiguous along its last axis, with leading "
                        "axes that collapse into one stride (a C-contiguous array, "
                        "or a slice of rows of one)");
        return -1;
    }
    /* Rows that share memory would be written over each other. */
    if (PyArray_SIZE(o) > n && (rs < 0 ? -rs : rs) < n * es) {
        PyErr_SetString(PyExc_ValueError,
                        "out has rows that overlap in memory; it cannot hold a result");
        return -1;
    }
    *ldc = rs / es;
    return 0;
}

/* ------------------------------------------------------------------------
 * Results.
 */
#define RESULT_CAPSULE "linearc.result"

typedef struct {
    void *buffer;
    size_t capacity;
} result_memory;

static void
give_back_result(PyObject *capsule)
{
    result_memory *r = PyCapsule_GetPointer(capsule, RESULT_CAPSULE);
    lc_result_give(r->buffer, r->capacity);
    PyMem_RawFree(r);
}

PyArrayObject *
lc_new_result(lc_dtype t, int ndim, const npy_intp *dims)
{
    /* Rows times out_features may not fit, though each operand did: a
     * wrapped product named a wrong size, or allocated a wrong one. */
    size_t bytes = lc_dtype_size(t);
    int empty = 0;
    for (int i = 0; i < ndim; i++) {
        empty |= dims[i] == 0;
    }
    for (int i = 0; i < ndim && !empty; i++) {
        if (__builtin_mul_overflow(bytes, (size_t)dims[i], &bytes) ||
            bytes > (size_t)PY_SSIZE_T_MAX) {
            char shape[256];
            lc_format_shape(shape, sizeof shape, ndim, dims);
            return (PyArrayObject *)PyErr_Format(
                PyExc_ValueError, "a %s result of shape %s has more bytes than an array can hold",
                lc_dtype_name(t), shape);
        }
    }
    bytes = empty ? 0 : bytes;
    PyArray_Descr *descr = lc_descr(t);
    if (descr == NULL) {
        return NULL;
    }
    if (bytes < LC_RESULT_MIN_BYTES) {
        return (PyArrayObject *)PyArray_NewFromDescr(&PyArray_Type, descr, ndim,
                                                     (npy_intp *)dims, NULL, NULL, 0, NULL);
    }
    result_memory *r = PyMem_RawMalloc(sizeof(result_memory));
    if (r == NULL || (r->buffer = lc_result_take(bytes, &r->capacity)) == NULL) {
        PyMem_RawFree(r);
        Py_DECREF(descr);
        return (PyArrayObject *)PyErr_Format(PyExc_MemoryError,
                                             "cannot allocate %zu bytes for a result", bytes);
    }
    PyObject *owner = PyCapsule_New(r, RESULT_CAPSULE, give_back_result);
    if (owner == NULL) {
        lc_result_give(r->buffer, r->capacity);
        PyMem_RawFree(r);
        Py_DECREF(descr);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)PyArray_NewFromDescr(
        &PyArray_Type, descr, ndim, (npy_intp *)dims, NULL, r->buffer, NPY_ARRAY_CARRAY,
        NULL);
    if (arr == NULL || PyArray_SetBaseObject(arr, owner) < 0) {
        Py_XDECREF(arr);
        Py_XDECREF(owner); /* NULL array: owner not stolen */
        return NULL;
    }
    return arr;
}

static void
array_span(PyArrayObject *a, const char **lo, const char **hi)
{
    const char *base = PyArray_BYTES(a);
    *lo = base;
    *hi = base + PyArray_ITEMSIZE(a);
    for (int i = 0; i < PyArray_NDIM(a); i++) {
        const npy_intp step = PyArray_STRIDES(a)[i] * (PyArray_DIMS(a)[i] - 1);
        if (step > 0) {
            *hi += step;
        }
        else {
            *lo += step;
        }
    }
}

int
lc_array_overlaps_span(PyArrayObject *a, const void *lo, size_t bytes)
{
    if (PyArray_SIZE(a) == 0 || bytes == 0) {
        return 0;
    }
    const char *alo, *ahi;
    array_span(a, &alo, &ahi);
    return alo < (const char *)lo + bytes && (const char *)lo < ahi;
}

int
lc_arrays_may_overlap(PyArrayObject *a, PyArrayObject *b)
{
    if (PyArray_SIZE(b) == 0) {
        return 0;
    }
    const char *lo, *hi;
    array_span(b, &lo, &hi);
    return lc_array_overlaps_span(a, lo, (size_t)(hi - lo));
}
