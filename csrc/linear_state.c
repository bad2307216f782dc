/*
 * State dicts and pickling: copies out, checked copies in, and the
 * __reduce__ / _rebuild pair that a tampered pickle cannot get past.
 */
#include "arrays.h" /* Python.h first */
#include "linear_object.h"
#include "linear_params.h"
#include "linear_state.h"
#include "state.h"

PyObject *
lc_linear_state_dict(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *d = PyDict_New(), *w = NULL, *b = NULL;
    if (d == NULL || (w = lc_linear_parameter(self, LC_WEIGHT, LC_AS_COPY)) == NULL ||
        PyDict_SetItemString(d, "weight", w) < 0) {
        goto error;
    }
    if (self->has_bias && ((b = lc_linear_parameter(self, LC_BIAS, LC_AS_COPY)) == NULL ||
                           PyDict_SetItemString(d, "bias", b) < 0)) {
        goto error;
    }
    Py_XDECREF(w);
    Py_XDECREF(b);
    return d;

error:
    Py_XDECREF(d);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return NULL;
}

/* KeyError unless the keys of `mapping` are exactly the layer's. */
static int
check_state_keys(LinearObject *self, PyObject *mapping)
{
    PyObject *keys = PyMapping_Keys(mapping), *missing = PyList_New(0),
             *unexpected = PyList_New(0);
    int seen_w = 0, seen_b = 0, rc = -1;
    if (keys == NULL || missing == NULL || unexpected == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        const int is_str = PyUnicode_Check(key);
        if (is_str && PyUnicode_CompareWithASCIIString(key, "weight") == 0) {
            seen_w = 1;
        }
        else if (self->has_bias && is_str && PyUnicode_CompareWithASCIIString(key, "bias") == 0) {
            seen_b = 1;
        }
        else if (PyList_Append(unexpected, key) < 0) {
            goto done;
        }
    }
    PyObject *w = PyUnicode_FromString("weight"), *b = PyUnicode_FromString("bias");
    const int ok = w && b && (seen_w || PyList_Append(missing, w) == 0) &&
                   (!self->has_bias || seen_b || PyList_Append(missing, b) == 0);
    Py_XDECREF(w);
    Py_XDECREF(b);
    if (!ok) {
        goto done;
    }
    if (PyList_GET_SIZE(missing) || PyList_GET_SIZE(unexpected)) {
        PyErr_Format(PyExc_KeyError,
                     "load_state_dict(): missing keys %R, unexpected keys %R "
                     "(a Linear(bias=%s) has %s)", missing, unexpected,
                     self->has_bias ? "True" : "False",
                     self->has_bias ? "'weight' and 'bias'" : "'weight' only");
        goto done;
    }
    rc = 0;

done:
    Py_XDECREF(keys);
    Py_XDECREF(missing);
    Py_XDECREF(unexpected);
    return rc;
}

PyObject *
lc_linear_load_state_dict(LinearObject *self, PyObject *mapping)
{
    PyObject *wv = NULL, *bv = NULL, *result = NULL;
    PyArrayObject *w = NULL, *b = NULL;

    /* Sequences, str and ndarray pass PyMapping_Check; a mapping has keys(). */
    if (!PyMapping_Check(mapping) || !PyObject_HasAttrString(mapping, "keys")) {
        PyErr_Format(PyExc_TypeError, "load_state_dict() expects a mapping, not %.100s",
                     Py_TYPE(mapping)->tp_name);
        return NULL;
    }
    if (check_state_keys(self, mapping) < 0 ||
        (wv = PyMapping_GetItemString(mapping, "weight")) == NULL ||
        (w = lc_linear_parameter_from_object(self, LC_WEIGHT, wv)) == NULL) {
        goto done;
    }
    if (self->has_bias && ((bv = PyMapping_GetItemString(mapping, "bias")) == NULL ||
                           (b = lc_linear_parameter_from_object(self, LC_BIAS, bv)) == NULL)) {
        goto done;
    }
    /* Everything checked: only now change the layer. */
    if (lc_linear_store_parameter(self, LC_WEIGHT, w) == 0 && (b == NULL || lc_linear_store_parameter(self, LC_BIAS, b) == 0)) {
        result = Py_NewRef(Py_None);
    }

done:
    Py_XDECREF(wv);
    Py_XDECREF(bv);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return result;
}

PyObject *
lc_linear_reduce(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *module = PyType_GetModule(Py_TYPE(self));
    if (module == NULL) {
        return NULL;
    }
    PyObject *rebuild = PyObject_GetAttrString(module, "_rebuild");
    if (rebuild == NULL) {
        return NULL;
    }
    PyObject *w = lc_linear_parameter(self, LC_WEIGHT, LC_AS_COPY);
    PyObject *b = w ? lc_linear_parameter(self, LC_BIAS, LC_AS_COPY) : NULL;
    if (b == NULL) {
        Py_XDECREF(w);
        Py_DECREF(rebuild);
        return NULL;
    }
    return Py_BuildValue("N(nnOsNN)", rebuild, self->in_features, self->out_features,
                         self->has_bias ? Py_True : Py_False, lc_dtype_name(self->dtype), w, b);
}
