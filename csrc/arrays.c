#include "arrays.h" /* Python.h first */

#include <stdio.h>
#include <string.h>

PyArray_Descr *
lc_descr(lc_dtype t)
{
    return PyArray_DescrFromType(t == LC_F32 ? NPY_FLOAT32 : NPY_FLOAT64);
}

const char *
lc_dtype_name(lc_dtype t)
{
    return t == LC_F32 ? "float32" : "float64";
}

int
lc_dtype_from_descr(PyArray_Descr *d, lc_dtype *t)
{
    if (!PyArray_ISNBO(d->byteorder)) {
        return -1;
    }
    if (d->type_num == NPY_FLOAT32) {
        *t = LC_F32;
        return 0;
    }
    if (d->type_num == NPY_FLOAT64) {
        *t = LC_F64;
        return 0;
    }
    return -1;
}

int
lc_dtype_from_object(PyObject *obj, lc_dtype *t)
{
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
                     "dtype must be float32 or float64, got %s",
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
        PyErr_NoMemory();
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

int
lc_matrix_from_object(PyObject *obj, lc_dtype dtype, ptrdiff_t cols,
                      const char *what, const char *feature_name, lc_matrix *m)
{
    PyArrayObject *arr;
    char shape[256];

    if (PyArray_Check(obj)) {
        Py_INCREF(obj);
        arr = (PyArrayObject *)obj;
    }
    else {
        arr = (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
        if (arr == NULL) {
            return -1;
        }
        /* NumPy >= 1.24 refuses ragged nested sequences; older ones make an
         * object array of them. Refuse them the same way everywhere. */
        if (PyArray_TYPE(arr) == NPY_OBJECT && PySequence_Check(obj)) {
            PyErr_Format(PyExc_ValueError,
                         "%s is not a rectangular numeric array (a ragged nested "
                         "sequence, or one holding non-numbers)", what);
            goto error;
        }
    }
    if (PyArray_NDIM(arr) == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s must have at least 1 dimension (shape (*, %s)), "
                     "got a 0-d array", what, feature_name);
        goto error;
    }
    lc_dtype src_type;
    if (lc_dtype_from_descr(PyArray_DESCR(arr), &src_type) < 0) {
        PyArray_Descr *want = lc_descr(dtype);
        if (!PyArray_CanCastTypeTo(PyArray_DESCR(arr), want, NPY_SAME_KIND_CASTING)) {
            PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(arr));
            PyErr_Format(PyExc_TypeError,
                         "cannot cast %s of dtype %s to the layer's dtype %s "
                         "under the 'same_kind' rule",
                         what, r ? PyUnicode_AsUTF8(r) : "?", lc_dtype_name(dtype));
            Py_XDECREF(r);
            Py_DECREF(want);
            goto error;
        }
        /* PyArray_FromArray steals the descriptor reference. */
        PyArrayObject *cast = (PyArrayObject *)PyArray_FromArray(arr, want, NPY_ARRAY_FORCECAST);
        if (cast == NULL) {
            goto error;
        }
        Py_SETREF(arr, cast);
        src_type = dtype;
    }
    const int ndim = PyArray_NDIM(arr);
    const npy_intp *dims = PyArray_DIMS(arr), *strides = PyArray_STRIDES(arr);
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
            PyErr_Format(PyExc_ValueError, "%s of shape %s has too many rows",
                         what, shape);
            goto error;
        }
    }
    m->array = arr;
    m->rows = rows;
    m->cols = cols;
    m->offsets = NULL;
    m->op.data = PyArray_BYTES(arr);
    m->op.type = src_type;
    m->op.cs = strides[ndim - 1];
    m->op.col_off = NULL;
    m->op.row_off = NULL;
    m->op.rs = 0;
    if (rows > 0 && !lc_collapse_leading(ndim, dims, strides, &m->op.rs)) {
        m->offsets = row_offsets(ndim, dims, strides, rows);
        if (m->offsets == NULL) {
            m->array = NULL;
            goto error;
        }
        m->op.row_off = m->offsets;
    }
    return 0;

error:
    Py_DECREF(arr);
    return -1;
}

int
lc_check_out(PyObject *out, lc_dtype t, int ndim, const npy_intp *dims,
             ptrdiff_t *ldc)
{
    char want[256], got[256];
    if (!PyArray_Check(out)) {
        PyErr_Format(PyExc_TypeError, "out must be a numpy.ndarray, not %.100s",
                     Py_TYPE(out)->tp_name);
        return -1;
    }
    PyArrayObject *o = (PyArrayObject *)out;
    lc_dtype ot;
    if (lc_dtype_from_descr(PyArray_DESCR(o), &ot) < 0 || ot != t) {
        PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(o));
        PyErr_Format(PyExc_TypeError, "out has dtype %s, expected %s",
                     r ? PyUnicode_AsUTF8(r) : "?", lc_dtype_name(t));
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
    const npy_intp *st = PyArray_STRIDES(o);
    const npy_intp es = (npy_intp)lc_dtype_size(t);
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
