/*
 * Any Python object -> an ndarray of numbers (convert.h).
 */
#include "convert.h" /* Python.h first */

int
lc_is_masked_array(PyObject *obj)
{
    if (!PyArray_Check(obj) || PyArray_CheckExact(obj)) {
        return 0;
    }
    /* numpy.ma is only looked up if it was imported: without it no masked
     * array can exist. */
    PyObject *name = PyUnicode_FromString("numpy.ma");
    if (name == NULL) {
        return -1;
    }
    PyObject *ma = PyImport_GetModule(name);
    Py_DECREF(name);
    if (ma == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *cls = PyObject_GetAttrString(ma, "MaskedArray");
    Py_DECREF(ma);
    if (cls == NULL) {
        return -1;
    }
    const int yes = PyObject_IsInstance(obj, cls);
    Py_DECREF(cls);
    return yes;
}

/* A torch tensor that requires grad refuses __array__: use its detached
 * view (no copy). Anything else comes back as it is (new reference). */
static PyObject *
detach_if_requires_grad(PyObject *obj)
{
    if (PyList_Check(obj) || PyTuple_Check(obj) || PyFloat_Check(obj) || PyLong_Check(obj) ||
        obj == Py_None) {
        return Py_NewRef(obj);
    }
    PyObject *flag = PyObject_GetAttrString(obj, "requires_grad");
    if (flag == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        return Py_NewRef(obj);
    }
    const int requires = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    if (requires < 0) {
        return NULL;
    }
    if (requires && PyObject_HasAttrString(obj, "detach")) {
        return PyObject_CallMethod(obj, "detach", NULL);
    }
    return Py_NewRef(obj);
}

PyArrayObject *
lc_as_numeric_array(PyObject *obj, const char *what)
{
    if (PyArray_Check(obj)) {
        const int masked = lc_is_masked_array(obj);
        if (masked < 0) {
            return NULL;
        }
        if (masked) {
            PyErr_Format(PyExc_TypeError,
                         "%s is a masked array: linearc would ignore its mask; pass "
                         "x.filled(value) or x.data instead", what);
            return NULL;
        }
        return (PyArrayObject *)Py_NewRef(obj);
    }
    PyObject *src = detach_if_requires_grad(obj);
    if (src == NULL) {
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)PyArray_FromAny(src, NULL, 0, 0, 0, NULL);
    Py_DECREF(src);
    if (arr == NULL) {
        return NULL;
    }
    const char kind = PyArray_DESCR(arr)->kind;
    if (kind != 'O' && kind != 'U' && kind != 'S' && kind != 'V') {
        return arr;
    }
    if ((PyList_Check(obj) || PyTuple_Check(obj)) && kind == 'O') {
        /* NumPy >= 1.24 refuses ragged nested sequences; older ones make an
         * object array of them. Refuse them the same way everywhere. */
        PyErr_Format(PyExc_ValueError,
                     "%s is not a rectangular array of numbers (a ragged nested "
                     "sequence, or one holding non-numbers)", what);
    }
    else if (PyList_Check(obj) || PyTuple_Check(obj)) {
        PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(arr));
        PyErr_Format(PyExc_TypeError, "%s must hold numbers, got a %.100s of dtype %s",
                     what, Py_TYPE(obj)->tp_name, r ? PyUnicode_AsUTF8(r) : "?");
        Py_XDECREF(r);
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "%s must be an array or a nested sequence of numbers, not %.100s",
                     what, Py_TYPE(obj)->tp_name);
    }
    Py_DECREF(arr);
    return NULL;
}

