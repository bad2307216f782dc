/*
 * The layer's parameters: their initialisation as torch draws it, the NumPy
 * views of the layer's memory that `weight` and `bias` hand out (their base
 * is the layer), copies, and assignment from anything array-like.
 */
#include "arrays.h" /* Python.h first */
#include "linear_object.h"
#include "linear_params.h"
#include "rng.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Initialisation: torch.nn.Linear.reset_parameters draws weight and bias
 * from U(-1/sqrt(in), 1/sqrt(in)). A half layer draws what a float32 layer
 * of the same seed draws, each value rounded to its type (rng.h).
 */

/* seed: None (fresh entropy from os.urandom) or an int in [0, 2**64). The
 * one place seeds are checked. */
int
lc_linear_parse_seed(PyObject *seed, uint64_t *value)
{
    if (seed == NULL || seed == Py_None) {
        PyObject *bytes = NULL, *os = PyImport_ImportModule("os");
        if (os != NULL) {
            bytes = PyObject_CallMethod(os, "urandom", "i", 8);
            Py_DECREF(os);
        }
        if (bytes == NULL) {
            return -1;
        }
        memcpy(value, PyBytes_AS_STRING(bytes), 8);
        Py_DECREF(bytes);
        return 0;
    }
    PyObject *idx = lc_as_index(seed, "seed must be an int or None");
    if (idx == NULL) {
        return -1;
    }
    const unsigned long long v = PyLong_AsUnsignedLongLong(idx);
    Py_DECREF(idx);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Format(PyExc_ValueError, "seed must be in [0, 2**64), got %S", seed);
        }
        return -1;
    }
    *value = (uint64_t)v;
    return 0;
}

int
lc_linear_init_parameters(LinearObject *self, PyObject *seed)
{
    uint64_t s;
    lc_rng r;
    if (lc_linear_parse_seed(seed, &s) < 0) {
        return -1;
    }
    lc_rng_seed(&r, s);
    const double bound = self->in_features > 0 ? 1.0 / sqrt((double)self->in_features) : 0.0;
    const size_t es = lc_dtype_size(self->dtype), out = (size_t)self->out_features;
    /* Drawn in torch's order, row j of W after row j - 1, into W.T. (No
     * rows to draw when in_features is 0, however many there are.) */
    for (size_t j = 0; self->in_features > 0 && j < out; j++) {
        lc_rng_fill_uniform(&r, (char *)self->weight_t + j * es, self->dtype,
                            (size_t)self->in_features, out, bound);
    }
    if (self->has_bias) {
        lc_rng_fill_uniform(&r, self->bias, self->dtype, out, 1, bound);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Parameters as NumPy views over the layer's buffers, or as copies.
 */
/* An array over the layer's memory: W as (out, in), the view of W.T, or
 * the bias. With `owned`, its base is the layer, which it keeps alive. */
static PyArrayObject *
buffer_view(LinearObject *self, int which, int owned)
{
    const npy_intp es = (npy_intp)lc_dtype_size(self->dtype);
    npy_intp dims[2] = {self->out_features, self->in_features};
    npy_intp strides[2] = {es, es * self->out_features};
    void *buf = which == LC_BIAS ? self->bias : self->weight_t;
    PyArray_Descr *descr = lc_descr(self->dtype);
    if (descr == NULL) {
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)PyArray_NewFromDescr(
        &PyArray_Type, descr, which == LC_BIAS ? 1 : 2, dims, strides, buf,
        NPY_ARRAY_ALIGNED | NPY_ARRAY_WRITEABLE, NULL);
    if (arr != NULL && owned && PyArray_SetBaseObject(arr, Py_NewRef(self)) < 0) {
        Py_CLEAR(arr);
    }
    return arr;
}

/* The weight or the bias (None without one), as a view or as a C-ordered
 * copy. */
PyObject *
lc_linear_parameter(LinearObject *self, int which, int how)
{
    if (which == LC_BIAS && !self->has_bias) {
        Py_RETURN_NONE;
    }
    PyArrayObject *view = buffer_view(self, which, how == LC_AS_VIEW);
    if (view == NULL || how == LC_AS_VIEW) {
        return (PyObject *)view;
    }
    PyObject *copy = PyArray_NewCopy(view, NPY_CORDER);
    Py_DECREF(view);
    return copy;
}

/* `value` converted for the weight or the bias: the layer's dtype, its
 * shape, C-contiguous. New reference, or NULL with the error. */
PyArrayObject *
lc_linear_parameter_from_object(LinearObject *self, int which, PyObject *value)
{
    npy_intp dims[2] = {self->out_features, self->in_features};
    if (which == LC_BIAS) {
        return lc_as_array_of_shape(value, self->dtype, "bias", 1, dims);
    }
    return lc_as_array_of_shape(value, self->dtype, "weight", 2, dims);
}

/* Copy a converted parameter in. NumPy's copy handles the transpose into
 * W.T and a source that overlaps the destination. */
int
lc_linear_store_parameter(LinearObject *self, int which, PyArrayObject *src)
{
    PyArrayObject *dst = buffer_view(self, which, 0);
    const int rc = dst ? PyArray_CopyInto(dst, src) : -1;
    Py_XDECREF(dst);
    return rc;
}

int
lc_linear_set_weight(LinearObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the weight");
        return -1;
    }
    PyArrayObject *arr = lc_linear_parameter_from_object(self, LC_WEIGHT, value);
    if (arr == NULL) {
        return -1;
    }
    const int rc = lc_linear_store_parameter(self, LC_WEIGHT, arr);
    Py_DECREF(arr);
    return rc;
}

int
lc_linear_set_bias(LinearObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the bias");
        return -1;
    }
    if (value == Py_None) {
        if (self->has_bias) {
            PyErr_SetString(PyExc_ValueError,
                            "cannot set bias to None: the layer was built with "
                            "bias=True and its structure is fixed");
            return -1;
        }
        return 0;
    }
    if (!self->has_bias) {
        PyErr_SetString(PyExc_ValueError,
                        "cannot set a bias on a layer built with bias=False");
        return -1;
    }
    PyArrayObject *arr = lc_linear_parameter_from_object(self, LC_BIAS, value);
    if (arr == NULL) {
        return -1;
    }
    const int rc = lc_linear_store_parameter(self, LC_BIAS, arr);
    Py_DECREF(arr);
    return rc;
}

PyObject *
lc_linear_get_weight(LinearObject *self, void *Py_UNUSED(closure))
{
    return lc_linear_parameter(self, LC_WEIGHT, LC_AS_VIEW);
}

PyObject *
lc_linear_get_bias(LinearObject *self, void *Py_UNUSED(closure))
{
    return lc_linear_parameter(self, LC_BIAS, LC_AS_VIEW);
}

PyObject *
lc_linear_get_dtype(LinearObject *self, void *Py_UNUSED(closure))
{
    return (PyObject *)lc_descr(self->dtype);
}

PyObject *
lc_linear_get_num_parameters(LinearObject *self, void *Py_UNUSED(closure))
{
    long long n = (long long)self->in_features * self->out_features;
    if (self->has_bias) {
        n += self->out_features;
    }
    return PyLong_FromLongLong(n);
}

PyObject *
lc_linear_reset_parameters(LinearObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seed", NULL};
    PyObject *seed = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:reset_parameters", kwlist, &seed)) {
        return NULL;
    }
    if (lc_linear_init_parameters(self, seed) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* [weight, bias] or [weight]; with names, [("weight", w), ("bias", b)]. */
static PyObject *
parameter_list(LinearObject *self, int named)
{
    PyObject *w = lc_linear_parameter(self, LC_WEIGHT, LC_AS_VIEW), *b = NULL;
    if (w == NULL) {
        return NULL;
    }
    if (self->has_bias && (b = lc_linear_parameter(self, LC_BIAS, LC_AS_VIEW)) == NULL) {
        Py_DECREF(w);
        return NULL;
    }
    if (named) {
        return b ? Py_BuildValue("[(sN)(sN)]", "weight", w, "bias", b)
                 : Py_BuildValue("[(sN)]", "weight", w);
    }
    return b ? Py_BuildValue("[NN]", w, b) : Py_BuildValue("[N]", w);
}

PyObject *
lc_linear_parameters(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    return parameter_list(self, 0);
}

PyObject *
lc_linear_named_parameters(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    return parameter_list(self, 1);
}

