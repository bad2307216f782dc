/*
 * Any Python object -> an ndarray of numbers (convert.h): the screening of
 * whatever NumPy's own conversion would take silently.
 */
#include "convert.h" /* Python.h first */

#include <string.h>

/*
 * A plain ndarray is taken as it is, unscanned. Anything else is screened on
 * its way to NumPy, because NumPy's conversion silently drops what linearc
 * must refuse or handle: the mask of a masked array (given directly, nested
 * in lists, returned by __array__, declared in __array_interface__, under a
 * memoryview), raw bytes it would read as uint8, and torch tensors it cannot
 * take (requires_grad, bfloat16, quantized...). Nested sequences are walked
 * by linearc; every element that is not a number or a plain ndarray is
 * converted here (one call of its __array__) and handed to NumPy as that
 * array, so NumPy never converts an element linearc has not seen.
 */

/* Deeper nesting than an array can have dimensions is NumPy's to refuse. */
#define LC_MAX_NESTING 64

enum { AT_TOP = 0, NESTED = 1 };

/* Optional attribute: 1 and a new reference, 0 if absent, -1 on error. */
static int
optional_attr(PyObject *obj, const char *name, PyObject **value)
{
    *value = PyObject_GetAttrString(obj, name);
    if (*value != NULL) {
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return -1;
    }
    PyErr_Clear();
    return 0;
}

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

/* The TypeError for a mask linearc would drop; `how` says where it was. */
static void
refuse_mask(const char *what, int where, const char *how)
{
    PyErr_Format(PyExc_TypeError,
                 "%s %s a masked array%s: linearc would ignore its mask; pass "
                 "x.filled(value) or x.data instead",
                 what, where == NESTED ? "holds" : "is", how);
}

/* 0 if obj is not a masked array, else -1 with the error (or on error). */
static int
check_not_masked(PyObject *obj, const char *what, int where, const char *how)
{
    const int masked = lc_is_masked_array(obj);
    if (masked > 0) {
        refuse_mask(what, where, how);
    }
    return masked == 0 ? 0 : -1;
}

/* Numbers, None and str (NumPy scalars included): nothing hides in them. */
static int
is_plain_scalar(PyObject *obj)
{
    return obj == Py_None || PyFloat_Check(obj) || PyLong_Check(obj) ||
           PyComplex_Check(obj) || PyUnicode_Check(obj) || PyArray_IsScalar(obj, Generic);
}

/* Raw bytes: bytes, bytearray, and any other buffer whose items are single
 * bytes (format 'B', 'b' or 'c': mmap, memoryview(bytes), ...). Their type
 * is not known; a buffer of a typed format ('f', 'd', 'i', '?'...) is not
 * raw. 1, 0, or -1 on error. */
static int
is_raw_bytes(PyObject *obj)
{
    if (PyBytes_Check(obj) || PyByteArray_Check(obj)) {
        return 1;
    }
    if (!PyObject_CheckBuffer(obj)) {
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_FULL_RO) < 0) {
        PyErr_Clear(); /* NumPy asks again and reports its own error */
        return 0;
    }
    const char *f = view.format != NULL ? view.format : "B";
    if (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '!') {
        f++;
    }
    const int raw = (f[0] == 'B' || f[0] == 'b' || f[0] == 'c') && f[1] == '\0';
    PyBuffer_Release(&view);
    return raw;
}

/* torch dtypes NumPy has (their tensors convert through __array__). */
static const char *const numpy_torch_dtypes[] = {
    "torch.bool",    "torch.uint8",   "torch.int8",    "torch.int16",     "torch.int32",
    "torch.int64",   "torch.uint16",  "torch.uint32",  "torch.uint64",    "torch.float16",
    "torch.float32", "torch.float64", "torch.complex64", "torch.complex128",
};

/* torch floating dtypes NumPy lacks, all narrower than float32, which
 * holds each of their values exactly: .float() widens them losslessly. */
static int
widens_exactly(const char *name)
{
    return strcmp(name, "torch.bfloat16") == 0 || strncmp(name, "torch.float8_", 13) == 0;
}

/*
 * What NumPy should convert for obj (a new reference): obj itself, or for a
 * torch tensor (recognised by its requires_grad and torch.* dtype, without
 * importing torch) a detached one if it requires grad (no copy), widened to
 * float32 if its dtype is bfloat16 or a float8; a TypeError names any other
 * dtype NumPy has no equivalent for. *tensor tells whether it was one.
 */
static PyObject *
torch_source(PyObject *obj, const char *what, int where, int *tensor)
{
    PyObject *flag = NULL, *dtype = NULL, *name = NULL, *src = NULL;
    const char *dtype_name = "";
    *tensor = 0;
    int found = optional_attr(obj, "requires_grad", &flag);
    if (found <= 0) {
        return found < 0 ? NULL : Py_NewRef(obj);
    }
    const int requires = PyObject_IsTrue(flag);
    if (requires < 0 || (found = optional_attr(obj, "dtype", &dtype)) < 0 ||
        (found && ((name = PyObject_Str(dtype)) == NULL ||
                   (dtype_name = PyUnicode_AsUTF8(name)) == NULL))) {
        goto done;
    }
    *tensor = strncmp(dtype_name, "torch.", 6) == 0;
    src = requires && PyObject_HasAttrString(obj, "detach")
              ? PyObject_CallMethod(obj, "detach", NULL)
              : Py_NewRef(obj);
    int numpy_has = !*tensor;
    for (size_t i = 0; !numpy_has && i < sizeof numpy_torch_dtypes / sizeof *numpy_torch_dtypes;
         i++) {
        numpy_has = strcmp(dtype_name, numpy_torch_dtypes[i]) == 0;
    }
    if (src != NULL && !numpy_has) {
        if (widens_exactly(dtype_name)) {
            Py_SETREF(src, PyObject_CallMethod(src, "float", NULL));
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "%s %s a torch tensor of dtype %s, which NumPy has no dtype for: "
                         "convert it first (e.g. .float(), or .dequantize() if quantized)",
                         what, where == NESTED ? "holds" : "is", dtype_name);
            Py_CLEAR(src);
        }
    }
done:
    Py_XDECREF(flag);
    Py_XDECREF(dtype);
    Py_XDECREF(name);
    return src;
}

/* Whether NumPy takes obj as an array (buffer, __array_struct__,
 * __array_interface__, __array__) rather than as a sequence. -1 on error. */
static int
has_array_protocol(PyObject *obj)
{
    static const char *const names[] = {"__array_struct__", "__array_interface__", "__array__"};
    if (PyObject_CheckBuffer(obj)) {
        return 1;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        PyObject *attr;
        const int found = optional_attr(obj, names[i], &attr);
        Py_XDECREF(attr);
        if (found != 0) {
            return found;
        }
    }
    return 0;
}

static PyArrayObject *screened_array(PyObject *obj, const char *what, int where, int depth);

/*
 * seq (a list or tuple) with each element NumPy would convert replaced by
 * the array linearc converted it to: seq itself (new reference) when no
 * element needed it, else a new list; NULL with the error of a refused
 * element. seq is never modified.
 */
static PyObject *
screened_sequence(PyObject *seq, const char *what, int depth)
{
    PyObject *items = NULL; /* our copy of seq, once anything is screened */
    int changed = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(items ? items : seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(items ? items : seq, i);
        if (PyArray_CheckExact(item) || is_plain_scalar(item)) {
            continue;
        }
        if (items == NULL) {
            /* Screening may run the user's code (__array__...), which could
             * change a list under us: go on over a copy. */
            if ((items = PySequence_List(seq)) == NULL) {
                return NULL;
            }
            item = PyList_GET_ITEM(items, i);
        }
        PyObject *done;
        if (PyList_Check(item) || PyTuple_Check(item)) {
            done = depth < LC_MAX_NESTING ? screened_sequence(item, what, depth + 1)
                                          : Py_NewRef(item);
        }
        else {
            done = (PyObject *)screened_array(item, what, NESTED, depth + 1);
        }
        if (done == NULL) {
            Py_DECREF(items);
            return NULL;
        }
        if (done == item) {
            Py_DECREF(done);
        }
        else {
            PyList_SetItem(items, i, done); /* steals done, drops item */
            changed = 1;
        }
    }
    if (changed) {
        return items;
    }
    Py_XDECREF(items);
    return Py_NewRef(seq);
}

/* The screened sequence of obj, converted by NumPy. */
static PyArrayObject *
array_of_sequence(PyObject *seq, const char *what, int depth)
{
    PyObject *done = screened_sequence(seq, what, depth);
    if (done == NULL) {
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)PyArray_FromAny(done, NULL, 0, 0, 0, NULL);
    Py_DECREF(done);
    return arr;
}

/* Whether obj's __array_interface__ declares a mask (NumPy ignores it).
 * 1, 0, or -1 on error. */
static int
interface_has_mask(PyObject *obj)
{
    PyObject *iface;
    const int found = optional_attr(obj, "__array_interface__", &iface);
    if (found <= 0) {
        return found;
    }
    PyObject *mask = PyDict_Check(iface) ? PyDict_GetItemString(iface, "mask") : NULL;
    const int has = mask != NULL && mask != Py_None;
    Py_DECREF(iface);
    return has;
}

/* What NumPy would take from src without a word: raw bytes as uint8, and
 * the data of a masked array under a memoryview or an __array_interface__
 * that declares a mask. 0, or -1 with the TypeError (or another error). */
static int
refuse_hidden(PyObject *src, const char *what, int where, int tensor)
{
    int yes = is_raw_bytes(src);
    if (yes > 0) {
        PyErr_Format(PyExc_TypeError,
                     "%s %s raw bytes (%.100s): linearc does not guess what numbers "
                     "they hold; read them with np.frombuffer(obj, dtype=...)",
                     what, where == NESTED ? "holds" : "is", Py_TYPE(src)->tp_name);
    }
    if (yes != 0) {
        return -1;
    }
    if (PyMemoryView_Check(src) && PyMemoryView_GET_BUFFER(src)->obj != NULL &&
        check_not_masked(PyMemoryView_GET_BUFFER(src)->obj, what, where,
                         " (under a memoryview)") < 0) {
        return -1;
    }
    if (!tensor && (yes = interface_has_mask(src)) > 0) {
        refuse_mask(what, where, " (its __array_interface__ has a mask)");
    }
    return yes == 0 ? 0 : -1;
}

/* A sequence other than list and tuple (range, deque...) that NumPy would
 * walk, as a list or tuple to screen (new reference); else Py_None. */
static PyObject *
other_sequence(PyObject *src)
{
    const int array_like = has_array_protocol(src);
    if (array_like < 0) {
        return NULL;
    }
    if (array_like || PySequence_Size(src) < 0) {
        PyErr_Clear(); /* unsized: NumPy takes it as one object */
        return Py_NewRef(Py_None);
    }
    return PySequence_Fast(src, "not a sequence");
}

/*
 * obj converted by NumPy after linearc's screening: the array (new
 * reference) whatever its dtype, or NULL with the error. `where` words the
 * messages ("input is ..." or "input holds ...").
 */
static PyArrayObject *
screened_array(PyObject *obj, const char *what, int where, int depth)
{
    if (PyArray_Check(obj)) {
        return check_not_masked(obj, what, where, "") < 0
                   ? NULL
                   : (PyArrayObject *)Py_NewRef(obj);
    }
    if (is_plain_scalar(obj)) {
        return (PyArrayObject *)PyArray_FromAny(obj, NULL, 0, 0, 0, NULL);
    }
    if (PyList_Check(obj) || PyTuple_Check(obj)) {
        return array_of_sequence(obj, what, depth);
    }
    int tensor;
    PyArrayObject *arr = NULL;
    PyObject *seq = NULL, *src = torch_source(obj, what, where, &tensor);
    if (src == NULL || refuse_hidden(src, what, where, tensor) < 0) {
        goto done;
    }
    if (!tensor && depth < LC_MAX_NESTING && PySequence_Check(src)) {
        if ((seq = other_sequence(src)) == NULL) {
            goto done;
        }
        if (seq != Py_None) {
            arr = array_of_sequence(seq, what, depth);
            goto done;
        }
    }
    arr = (PyArrayObject *)PyArray_FromAny(src, NULL, 0, 0, 0, NULL);
    /* __array__ may hand back a masked array, which NumPy passes on. */
    if (arr != NULL && check_not_masked((PyObject *)arr, what, where,
                                        " (returned by its __array__)") < 0) {
        Py_CLEAR(arr);
    }

done:
    Py_XDECREF(seq);
    Py_XDECREF(src);
    return arr;
}

/* Whether arr holds numbers of a user-defined dtype, such as ml_dtypes'
 * bfloat16 (kind 'V', like raw records): one that casts to float64 under
 * "same_kind", which no record type does. */
static int
user_number(PyArrayObject *arr)
{
    PyArray_Descr *d = PyArray_DESCR(arr);
    if (d->type_num < NPY_USERDEF) {
        return 0;
    }
    PyArray_Descr *f64 = PyArray_DescrFromType(NPY_FLOAT64);
    const int yes = PyArray_CanCastTypeTo(d, f64, NPY_SAME_KIND_CASTING);
    Py_DECREF(f64);
    return yes;
}

PyArrayObject *
lc_as_numeric_array(PyObject *obj, const char *what)
{
    if (PyArray_Check(obj)) {
        /* The fast path: a plain ndarray is not scanned. */
        if (!PyArray_CheckExact(obj) && check_not_masked(obj, what, AT_TOP, "") < 0) {
            return NULL;
        }
        return (PyArrayObject *)Py_NewRef(obj);
    }
    PyArrayObject *arr = screened_array(obj, what, AT_TOP, 0);
    if (arr == NULL) {
        return NULL;
    }
    const char kind = PyArray_DESCR(arr)->kind;
    if ((kind != 'O' && kind != 'U' && kind != 'S' && kind != 'V') || user_number(arr)) {
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

