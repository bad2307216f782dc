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

/* Sort the keys of `mapping` against the layer's: *missing gets the
 * layer's keys it lacks ("weight", then "bias"), *unexpected the keys it has
 * that the layer does not, in the mapping's order (non-str keys included),
 * as torch lists them. Both new lists; *has_w and *has_b say which of the
 * layer's keys it has. 0, or -1 with the error. */
static int
sort_state_keys(LinearObject *self, PyObject *mapping, PyObject **missing,
                PyObject **unexpected, int *has_w, int *has_b)
{
    PyObject *keys = PyMapping_Keys(mapping);
    int seen_w = 0, seen_b = 0, rc = -1;
    *missing = PyList_New(0);
    *unexpected = PyList_New(0);
    if (keys == NULL || *missing == NULL || *unexpected == NULL) {
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
        else if (PyList_Append(*unexpected, key) < 0) {
            goto done;
        }
    }
    PyObject *w = PyUnicode_FromString("weight"), *b = PyUnicode_FromString("bias");
    const int ok = w && b && (seen_w || PyList_Append(*missing, w) == 0) &&
                   (!self->has_bias || seen_b || PyList_Append(*missing, b) == 0);
    Py_XDECREF(w);
    Py_XDECREF(b);
    rc = ok ? 0 : -1;
    *has_w = seen_w;
    *has_b = seen_b;

done:
    Py_XDECREF(keys);
    if (rc < 0) {
        Py_CLEAR(*missing);
        Py_CLEAR(*unexpected);
    }
    return rc;
}

/* The value of `key` in the mapping as a checked parameter array (new
 * reference), or NULL with the error. */
static PyArrayObject *
state_value(LinearObject *self, PyObject *mapping, const char *key, int which)
{
    PyObject *value = PyMapping_GetItemString(mapping, key);
    if (value == NULL) {
        return NULL;
    }
    PyArrayObject *array = lc_linear_parameter_from_object(self, which, value);
    Py_DECREF(value);
    return array;
}

/* strict=True and the keys differ: KeyError naming both lists. */
static void
refuse_keys(LinearObject *self, PyObject *missing, PyObject *unexpected)
{
    PyErr_Format(PyExc_KeyError,
                 "load_state_dict(): missing keys %R, unexpected keys %R "
                 "(a Linear(bias=%s) has %s; strict=False loads the keys it has)",
                 missing, unexpected, self->has_bias ? "True" : "False",
                 self->has_bias ? "'weight' and 'bias'" : "'weight' only");
}

/* linearc._state._IncompatibleKeys(missing, unexpected): torch's named
 * tuple, defined in Python where its repr can be torch's. */
static PyObject *
incompatible_keys(PyObject *missing, PyObject *unexpected)
{
    PyObject *module = PyImport_ImportModule("linearc._state");
    if (module == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_CallMethod(module, "_IncompatibleKeys", "OO", missing,
                                           unexpected);
    Py_DECREF(module);
    return result;
}

PyObject *
lc_linear_load_state_dict(LinearObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"state_dict", "strict", "assign", NULL};
    PyObject *mapping, *missing = NULL, *unexpected = NULL, *result = NULL;
    PyArrayObject *w = NULL, *b = NULL;
    int strict = 1, assign = 0, has_w = 0, has_b = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|pp:load_state_dict", kwlist, &mapping,
                                     &strict, &assign)) {
        return NULL;
    }
    /* Sequences, str and ndarray pass PyMapping_Check; a mapping has keys(). */
    if (!PyMapping_Check(mapping) || !PyObject_HasAttrString(mapping, "keys")) {
        PyErr_Format(PyExc_TypeError, "load_state_dict() expects a mapping, not %.100s",
                     Py_TYPE(mapping)->tp_name);
        return NULL;
    }
    if (assign) {
        PyErr_SetString(PyExc_ValueError,
                        "load_state_dict(assign=True) is not supported: a linearc.Linear "
                        "owns its memory (the weight is kept transposed and aligned for the "
                        "GEMM), so the state dict's arrays cannot become its parameters; "
                        "assign=False (the default) copies their values in and keeps the "
                        "layer's dtype");
        return NULL;
    }
    if (sort_state_keys(self, mapping, &missing, &unexpected, &has_w, &has_b) < 0) {
        return NULL;
    }
    if (strict && (PyList_GET_SIZE(missing) || PyList_GET_SIZE(unexpected))) {
        refuse_keys(self, missing, unexpected);
        goto done;
    }
    /* Every value present is checked (shape, dtype) before any is stored:
     * with strict=False too, a wrong shape raises and nothing changes. */
    if ((has_w && (w = state_value(self, mapping, "weight", LC_WEIGHT)) == NULL) ||
        (has_b && (b = state_value(self, mapping, "bias", LC_BIAS)) == NULL)) {
        goto done;
    }
    PyObject *keys = incompatible_keys(missing, unexpected);
    if (keys == NULL) {
        goto done;
    }
    /* Everything checked: only now change the layer. */
    if ((w == NULL || lc_linear_store_parameter(self, LC_WEIGHT, w) == 0) &&
        (b == NULL || lc_linear_store_parameter(self, LC_BIAS, b) == 0)) {
        result = keys;
    }
    else {
        Py_DECREF(keys);
    }

done:
    Py_XDECREF(missing);
    Py_XDECREF(unexpected);
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
