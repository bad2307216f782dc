/*
 * Counting, as the PyTorch tools do: thop's MACs (one per weight per row,
 * the bias never counted) and FlopCounterMode's FLOPs (2 per MAC; 6 for a
 * training step). Exact Python ints.
 *
 * What is counted follows one rule, the same for layer.macs, layer.flops
 * and (through them and _input_shape) linearc.profile and linearc.summary:
 * an ndarray, a torch tensor or a nested list of numbers is the input
 * itself, and its shape is used; a tuple of ints (torch.Size is one) is a
 * shape. Anything else is a TypeError naming both forms. The shape is then
 * checked as forward checks an input.
 */
#include "arrays.h" /* Python.h first */
#include "linear_count.h"
#include "linear_object.h"

#define BOTH_FORMS                                                                          \
    "the input (an ndarray, a torch tensor or a nested list of numbers, whose shape is "   \
    "used) or its shape (a tuple of ints)"

/* Whether obj is a torch.Tensor (Parameter included). torch is only looked
 * up if it was imported: without it no tensor can exist. */
static int
is_torch_tensor(PyObject *obj)
{
    PyObject *name = PyUnicode_FromString("torch");
    if (name == NULL) {
        return -1;
    }
    PyObject *torch = PyImport_GetModule(name);
    Py_DECREF(name);
    if (torch == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *cls = PyObject_GetAttrString(torch, "Tensor");
    Py_DECREF(torch);
    if (cls == NULL) {
        PyErr_Clear(); /* a module named torch that is not PyTorch */
        return 0;
    }
    const int yes = PyType_Check(cls) ? PyObject_IsInstance(obj, cls) : 0;
    Py_DECREF(cls);
    return yes;
}

/* Whether obj is data in the sense of the rule: what a tuple holding it
 * probably meant (thop's inputs=(x,)). */
static int
is_data(PyObject *obj)
{
    return PyArray_Check(obj) || PyList_Check(obj) || is_torch_tensor(obj) > 0;
}

/* A shape tuple's items as Python ints (a new tuple), or NULL with a
 * TypeError naming the first item that is not an int. */
static PyObject *
ints_of_shape(PyObject *shape)
{
    const Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    PyObject *dims = PyTuple_New(nd);
    for (Py_ssize_t i = 0; dims != NULL && i < nd; i++) {
        PyObject *item = PyTuple_GET_ITEM(shape, i);
        PyObject *v = PyBool_Check(item) ? NULL : PyNumber_Index(item);
        if (v == NULL) {
            PyErr_Clear();
            if (is_data(item)) {
                PyErr_Format(PyExc_TypeError,
                             "a tuple is read as a shape and must hold ints, but item %zd is "
                             "a %.100s: pass the input itself, not a tuple holding it (thop's "
                             "form is profile(layer, inputs=(x,)))", i, Py_TYPE(item)->tp_name);
            }
            else {
                PyErr_Format(PyExc_TypeError,
                             "a tuple is read as a shape and must hold ints, but item %zd is "
                             "a %.100s; pass " BOTH_FORMS, i, Py_TYPE(item)->tp_name);
            }
            Py_CLEAR(dims);
            break;
        }
        PyTuple_SET_ITEM(dims, i, v);
    }
    return dims;
}

/* The shape of an array as a tuple of Python ints (new reference). */
static PyObject *
shape_of_array(PyArrayObject *a)
{
    const int nd = PyArray_NDIM(a);
    PyObject *dims = PyTuple_New(nd);
    for (int i = 0; dims != NULL && i < nd; i++) {
        PyObject *v = PyLong_FromSsize_t((Py_ssize_t)PyArray_DIM(a, i));
        if (v == NULL) {
            Py_CLEAR(dims);
            break;
        }
        PyTuple_SET_ITEM(dims, i, v);
    }
    return dims;
}

/* What the rule makes of x: a tuple of Python ints (new reference), or NULL
 * with TypeError (neither form; a tuple holding a non-int; a list of
 * non-numbers) or ValueError (a ragged list). *from_list tells whether x
 * was a list, for the hint of a later error. */
static PyObject *
counted_shape(PyObject *x, int *from_list)
{
    *from_list = 0;
    if (PyTuple_Check(x)) {
        return ints_of_shape(x);
    }
    if (PyArray_Check(x)) {
        return shape_of_array((PyArrayObject *)x);
    }
    if (PyList_Check(x)) {
        PyArrayObject *a = lc_as_numeric_array(x, "a list given to count");
        if (a == NULL) {
            return NULL;
        }
        PyObject *dims = shape_of_array(a);
        Py_DECREF(a);
        *from_list = 1;
        return dims;
    }
    const int tensor = is_torch_tensor(x);
    if (tensor < 0) {
        return NULL;
    }
    if (tensor) {
        PyObject *size = PyObject_GetAttrString(x, "shape");
        if (size == NULL) {
            return NULL;
        }
        PyObject *dims = PyTuple_Check(size) ? ints_of_shape(size) : NULL;
        if (dims == NULL && !PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "the tensor's shape is a %.100s, not a tuple",
                         Py_TYPE(size)->tp_name);
        }
        Py_DECREF(size);
        return dims;
    }
    PyErr_Format(PyExc_TypeError, "expected " BOTH_FORMS ", not %.100s", Py_TYPE(x)->tp_name);
    return NULL;
}

/* The shape of x under the rule, checked as forward checks an input
 * (rank >= 1, no negative dimension, the last equal to in_features), and
 * in *rows the product of its leading dimensions (a Python int). New
 * reference, or NULL with ValueError/TypeError. */
static PyObject *
checked_shape(LinearObject *self, PyObject *x, PyObject **rows)
{
    int from_list;
    PyObject *shape = counted_shape(x, &from_list);
    *rows = NULL;
    if (shape == NULL) {
        return NULL;
    }
    /* A list is data: say so when its shape does not fit, since [32, 3, 4]
     * may have been meant as a shape. */
    const char *hint = from_list ? " (a list is the input itself and this is its shape; "
                                   "give a shape as a tuple of ints)"
                                 : "";
    const char *which = PyTuple_Check(x) ? "input_shape" : "the input's shape";
    const Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (nd == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s %R must have at least 1 dimension (shape (*, in_features))%s", which,
                     shape, hint);
        goto error;
    }
    PyObject *zero = PyLong_FromLong(0);
    *rows = zero ? PyLong_FromLong(1) : NULL;
    for (Py_ssize_t i = 0; i < nd && *rows != NULL; i++) {
        PyObject *v = PyTuple_GET_ITEM(shape, i);
        const int negative = PyObject_RichCompareBool(v, zero, Py_LT);
        if (negative != 0) {
            if (negative > 0) {
                PyErr_Format(PyExc_ValueError, "%s %R has a negative dimension", which, shape);
            }
            Py_CLEAR(*rows);
        }
        else if (i == nd - 1) {
            const Py_ssize_t last = PyLong_AsSsize_t(v);
            PyErr_Clear(); /* too big for Py_ssize_t: not in_features either */
            if (last != self->in_features) {
                PyErr_Format(PyExc_ValueError, "%s %R does not end in in_features=%zd%s", which,
                             shape, self->in_features, hint);
                Py_CLEAR(*rows);
            }
        }
        else {
            Py_SETREF(*rows, PyNumber_Multiply(*rows, v));
        }
    }
    Py_XDECREF(zero);
    if (*rows != NULL) {
        return shape;
    }

error:
    Py_DECREF(shape);
    return NULL;
}

/* prod(shape[:-1]) * in * out for the input x (new reference), or NULL. */
static PyObject *
macs_of(LinearObject *self, PyObject *x)
{
    PyObject *rows;
    PyObject *shape = checked_shape(self, x, &rows);
    if (shape == NULL) {
        return NULL;
    }
    Py_DECREF(shape);
    PyObject *per_row = PyLong_FromLongLong((long long)self->in_features * self->out_features);
    PyObject *macs = per_row ? PyNumber_Multiply(rows, per_row) : NULL;
    Py_XDECREF(per_row);
    Py_DECREF(rows);
    return macs;
}

PyObject *
lc_linear_input_shape(LinearObject *self, PyObject *x)
{
    PyObject *rows;
    PyObject *shape = checked_shape(self, x, &rows);
    Py_XDECREF(rows);
    return shape;
}

PyObject *
lc_linear_macs(LinearObject *self, PyObject *x)
{
    return macs_of(self, x);
}

PyObject *
lc_linear_flops(LinearObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"", "backward", NULL}; /* x positional only */
    PyObject *x;
    int backward = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$p:flops", kwlist, &x, &backward)) {
        return NULL;
    }
    PyObject *macs = macs_of(self, x);
    if (macs == NULL) {
        return NULL;
    }
    /* Forward: one multiply and one add per MAC. A training step adds the
     * two gradient products, each as big as the forward one. */
    PyObject *factor = PyLong_FromLong(backward ? 6 : 2);
    PyObject *flops = factor ? PyNumber_Multiply(macs, factor) : NULL;
    Py_XDECREF(factor);
    Py_DECREF(macs);
    return flops;
}
