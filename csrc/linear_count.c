/*
 * Counting, as the PyTorch tools do: thop's MACs (one per weight per row,
 * the bias never counted) and FlopCounterMode's FLOPs (2 per MAC; 6 for a
 * training step). Exact Python ints, the shape checked as forward checks an
 * input.
 */
#include "arrays.h" /* Python.h first */
#include "linear_count.h"
#include "linear_object.h"

/* Dimension i of a shape as a Python int >= 0 (new reference), or NULL. */
static PyObject *
shape_dim(PyObject *shape, PyObject *d)
{
    PyObject *v = lc_as_index(d, "input_shape must hold ints");
    if (v == NULL) {
        return NULL;
    }
    PyObject *zero = PyLong_FromLong(0);
    const int negative = zero ? PyObject_RichCompareBool(v, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (negative != 0) {
        if (negative > 0) {
            PyErr_Format(PyExc_ValueError, "input_shape %R has a negative dimension", shape);
        }
        Py_DECREF(v);
        return NULL;
    }
    return v;
}

/* prod(shape[:-1]) * in * out for a forward input of that shape, checked as
 * forward checks an input; NULL with ValueError/TypeError otherwise. */
static PyObject *
macs_of_shape(LinearObject *self, PyObject *shape)
{
    PyObject *seq = PySequence_Fast(shape, "input_shape must be a sequence of ints");
    if (seq == NULL) {
        return NULL;
    }
    const Py_ssize_t nd = PySequence_Fast_GET_SIZE(seq);
    PyObject *total = nd > 0 ? PyLong_FromLongLong((long long)self->in_features *
                                                   self->out_features)
                             : NULL;
    if (nd == 0) {
        PyErr_SetString(PyExc_ValueError,
                        "input_shape must have at least 1 dimension (shape (*, in_features))");
    }
    for (Py_ssize_t i = 0; i < nd && total != NULL; i++) {
        PyObject *v = shape_dim(shape, PySequence_Fast_GET_ITEM(seq, i));
        if (v == NULL) {
            Py_CLEAR(total);
            break;
        }
        if (i == nd - 1) {
            const Py_ssize_t last = PyLong_AsSsize_t(v);
            PyErr_Clear(); /* too big for Py_ssize_t: not in_features either */
            if (last != self->in_features) {
                PyErr_Format(PyExc_ValueError, "input_shape %R does not end in in_features=%zd",
                             shape, self->in_features);
                Py_CLEAR(total);
            }
        }
        else {
            Py_SETREF(total, PyNumber_Multiply(total, v));
        }
        Py_DECREF(v);
    }
    Py_DECREF(seq);
    return total;
}

PyObject *
lc_linear_macs(LinearObject *self, PyObject *shape)
{
    return macs_of_shape(self, shape);
}

PyObject *
lc_linear_flops(LinearObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"input_shape", "backward", NULL};
    PyObject *shape;
    int backward = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$p:flops", kwlist, &shape, &backward)) {
        return NULL;
    }
    PyObject *macs = macs_of_shape(self, shape);
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
