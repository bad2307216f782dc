/*
 * The Linear heap type: construction, destruction, repr, and the tables
 * that bind the methods, which live in their own files (linear.h says
 * which), to the type.
 */
#include "arrays.h" /* Python.h first */
#include "linear.h"
#include "linear_backward.h"
#include "linear_count.h"
#include "linear_forward.h"
#include "linear_object.h"
#include "linear_params.h"
#include "linear_state.h"
#include "state.h"
#include "workspace.h"

#include <stdio.h>
#include <string.h>

#include <structmember.h>

/* ------------------------------------------------------------------------
 * Construction and destruction.
 */
static int
parse_size(PyObject *obj, const char *name, Py_ssize_t *out)
{
    char expected[64];
    snprintf(expected, sizeof expected, "%s must be an int", name);
    PyObject *idx = lc_as_index(obj, expected);
    if (idx == NULL) {
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (overflow == 0 && v < 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0, got %S", name, obj);
        return -1;
    }
    if (overflow > 0 || v > PY_SSIZE_T_MAX) {
        PyErr_Format(PyExc_MemoryError, "%s=%S is too large to allocate", name, obj);
        return -1;
    }
    *out = (Py_ssize_t)v;
    return 0;
}

static void
Linear_dealloc(LinearObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    free(self->weight_t);
    free(self->bias);
    lc_linear_clear_grads(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* Bytes of an array of these dimensions as NumPy counts them: zero-length
 * axes do not excuse the others, since NumPy refuses to describe any array
 * whose non-zero dimensions overflow. -1 if it cannot be described. */
static Py_ssize_t
describable_bytes(Py_ssize_t d0, Py_ssize_t d1, size_t es)
{
    size_t span;
    if (__builtin_mul_overflow((size_t)(d0 > 0 ? d0 : 1), (size_t)(d1 > 0 ? d1 : 1), &span) ||
        __builtin_mul_overflow(span, es, &span) || span > (size_t)PY_SSIZE_T_MAX) {
        return -1;
    }
    return (Py_ssize_t)((size_t)d0 * (size_t)d1 * es);
}

/* A layer with its buffers allocated and not initialised. */
static LinearObject *
linear_alloc(PyTypeObject *type, Py_ssize_t in, Py_ssize_t out, int has_bias,
             lc_dtype dtype)
{
    const size_t es = lc_dtype_size(dtype);
    const Py_ssize_t wbytes = describable_bytes(out, in, es);
    const Py_ssize_t bbytes = describable_bytes(out, 1, es);
    if (wbytes < 0 || (has_bias && bbytes < 0)) {
        PyErr_Format(PyExc_MemoryError,
                     "Linear(%zd, %zd): a %s weight of shape (%zd, %zd) is more memory "
                     "than can be addressed", in, out, lc_dtype_name(dtype), out, in);
        return NULL;
    }
    LinearObject *self = (LinearObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = lc_linear_vectorcall;
    self->grad_lock = (lc_lock)LC_LOCK_INIT;
    self->in_features = in;
    self->out_features = out;
    self->dtype = dtype;
    self->has_bias = has_bias;
    self->weight_t = lc_alloc_aligned((size_t)wbytes, NULL);
    if (self->weight_t != NULL && has_bias) {
        self->bias = lc_alloc_aligned((size_t)bbytes, NULL);
    }
    if (self->weight_t == NULL || (has_bias && self->bias == NULL)) {
        const int weight = self->weight_t == NULL;
        PyErr_Format(PyExc_MemoryError, "cannot allocate %zd bytes for the %s of Linear(%zd, %zd)",
                     weight ? wbytes : bbytes, weight ? "weight" : "bias", in, out);
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

static PyObject *
Linear_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"in_features", "out_features", "bias", "dtype", "seed", NULL};
    PyObject *in_obj, *out_obj, *bias_obj = Py_True, *dtype_obj = NULL, *seed = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O$OO:Linear", kwlist, &in_obj,
                                     &out_obj, &bias_obj, &dtype_obj, &seed)) {
        return NULL;
    }
    Py_ssize_t in, out;
    lc_dtype dtype = LC_F32;
    uint64_t unused;
    if (parse_size(in_obj, "in_features", &in) < 0 ||
        parse_size(out_obj, "out_features", &out) < 0) {
        return NULL;
    }
    const int has_bias = PyObject_IsTrue(bias_obj);
    if (has_bias < 0) {
        return NULL;
    }
    if (dtype_obj != NULL && dtype_obj != Py_None &&
        lc_dtype_from_object(dtype_obj, &dtype) < 0) {
        return NULL;
    }
    /* A bad seed fails before anything is allocated. */
    if (seed != Py_None && lc_linear_parse_seed(seed, &unused) < 0) {
        return NULL;
    }
    LinearObject *self = linear_alloc(type, in, out, has_bias, dtype);
    if (self == NULL) {
        return NULL;
    }
    if (lc_linear_init_parameters(self, seed) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* The weight and bias a pickle carries, checked against the sizes it
 * claims before anything of that size is allocated: a pickle of a few
 * hundred bytes must not make the layer allocate gigabytes. */
static int
rebuild_parameters(PyObject *const *args, Py_ssize_t in, Py_ssize_t out, int has_bias,
                   lc_dtype dtype, PyArrayObject **w, PyArrayObject **b)
{
    const npy_intp wdims[2] = {out, in}, bdims[1] = {out};
    *b = NULL;
    if ((*w = lc_as_array_of_shape(args[4], dtype, "weight", 2, wdims)) == NULL) {
        return -1;
    }
    if (has_bias != (args[5] != Py_None)) {
        PyErr_Format(PyExc_ValueError, "the pickle's bias (%s) does not match bias=%s",
                     args[5] == Py_None ? "None" : "an array", has_bias ? "True" : "False");
        return -1;
    }
    if (has_bias && (*b = lc_as_array_of_shape(args[5], dtype, "bias", 1, bdims)) == NULL) {
        return -1;
    }
    return 0;
}

PyObject *
lc_rebuild_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t in, out;
    lc_dtype dtype;
    PyArrayObject *w = NULL, *b = NULL;
    LinearObject *layer = NULL;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "_rebuild() takes 6 arguments");
        return NULL;
    }
    const int has_bias = PyObject_IsTrue(args[2]);
    if (has_bias < 0 || parse_size(args[0], "in_features", &in) < 0 ||
        parse_size(args[1], "out_features", &out) < 0 ||
        lc_dtype_from_object(args[3], &dtype) < 0 ||
        rebuild_parameters(args, in, out, has_bias, dtype, &w, &b) < 0) {
        goto done;
    }
    layer = linear_alloc(((lc_state *)PyModule_GetState(module))->linear_type, in, out,
                         has_bias, dtype);
    if (layer != NULL && (lc_linear_store_parameter(layer, LC_WEIGHT, w) < 0 ||
                          (b != NULL && lc_linear_store_parameter(layer, LC_BIAS, b) < 0))) {
        Py_CLEAR(layer);
    }

done:
    Py_XDECREF(w);
    Py_XDECREF(b);
    return (PyObject *)layer;
}

static PyObject *
Linear_repr(LinearObject *self)
{
    return PyUnicode_FromFormat("Linear(in_features=%zd, out_features=%zd, bias=%s)",
                                self->in_features, self->out_features,
                                self->has_bias ? "True" : "False");
}

/* ------------------------------------------------------------------------
 * The type.
 */
PyDoc_STRVAR(Linear_doc,
"Linear(in_features, out_features, bias=True, *, dtype='float32', seed=None)\n"
"--\n\n"
"Applies y = x @ weight.T + bias to arrays of shape (*, in_features),\n"
"as torch.nn.Linear does, returning shape (*, out_features).\n\n"
"weight has shape (out_features, in_features) and bias (out_features,);\n"
"both start uniform on [-1/sqrt(in_features), 1/sqrt(in_features)], drawn\n"
"from `seed` (an int in [0, 2**64) gives the same values everywhere; None\n"
"draws fresh entropy). dtype is float32 (the default; None means it too),\n"
"float64, float16 or bfloat16 (ml_dtypes', the \"bfloat16\" extra). float16\n"
"and bfloat16 layers store their parameters in half the memory, start from\n"
"the float32 layer's values rounded to nearest even, and compute each result\n"
"as a float32 chain rounded once; their gradients are float32.");

static PyMethodDef Linear_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))lc_linear_forward, METH_FASTCALL | METH_KEYWORDS,
     lc_forward_doc},
    {"backward", (PyCFunction)(void (*)(void))lc_linear_backward,
     METH_FASTCALL | METH_KEYWORDS, lc_backward_doc},
    {"zero_grad", (PyCFunction)lc_linear_zero_grad, METH_NOARGS,
     "zero_grad($self, /)\n--\n\nSet weight_grad and bias_grad back to None."},
    {"reset_parameters", (PyCFunction)(void (*)(void))lc_linear_reset_parameters,
     METH_VARARGS | METH_KEYWORDS,
     "reset_parameters($self, /, seed=None)\n--\n\n"
     "Draw weight and bias again, as torch.nn.Linear.reset_parameters does."},
    {"parameters", (PyCFunction)lc_linear_parameters, METH_NOARGS,
     "parameters($self, /)\n--\n\n"
     "[weight, bias], or [weight] for a layer without bias: views of the layer's memory."},
    {"named_parameters", (PyCFunction)lc_linear_named_parameters, METH_NOARGS,
     "named_parameters($self, /)\n--\n\n"
     "[('weight', weight), ('bias', bias)], or [('weight', weight)] without bias."},
    {"state_dict", (PyCFunction)lc_linear_state_dict, METH_NOARGS,
     "state_dict($self, /)\n--\n\n{'weight': copy, 'bias': copy}; no 'bias' without bias."},
    {"load_state_dict", (PyCFunction)(void (*)(void))lc_linear_load_state_dict,
     METH_VARARGS | METH_KEYWORDS,
     "load_state_dict($self, /, state_dict, strict=True, assign=False)\n--\n\n"
     "Copy 'weight' (and 'bias') in from a mapping of arrays, array-likes or torch\n"
     "tensors (detached first if they require grad), as torch.nn.Module does, and\n"
     "return torch's named tuple (missing_keys, unexpected_keys).\n\n"
     "strict=True: missing or unexpected keys raise KeyError. strict=False: the\n"
     "keys present are loaded, the others reported in the result. Either way a\n"
     "wrong shape raises ValueError and a dtype that does not cast under\n"
     "'same_kind' TypeError, and on any error the layer is unchanged.\n"
     "assign=True raises ValueError: the layer owns its memory, so values are\n"
     "always copied in (assign=False)."},
    {"macs", (PyCFunction)lc_linear_macs, METH_O,
     "macs($self, x, /)\n--\n\n"
     "Multiply-accumulates of a forward pass, as thop counts them:\n"
     "prod(shape[:-1]) * in_features * out_features (the bias is not counted).\n\n"
     "x is the input (an ndarray, a torch tensor or a nested list of numbers,\n"
     "whose shape is used) or its shape (a tuple of ints, torch.Size too);\n"
     "anything else is a TypeError. The shape is checked as forward checks an\n"
     "input: ValueError unless its rank is >= 1 and it ends in in_features."},
    {"flops", (PyCFunction)(void (*)(void))lc_linear_flops, METH_VARARGS | METH_KEYWORDS,
     "flops($self, x, /, *, backward=False)\n--\n\n"
     "2 * macs(x), as torch.utils.flop_counter.FlopCounterMode counts;\n"
     "with backward=True a training step: forward plus the gradients of the input\n"
     "and of the weight, 6 * macs. x is the input or its shape, as for macs()."},
    {"_input_shape", (PyCFunction)lc_linear_input_shape, METH_O,
     "_input_shape($self, x, /)\n--\n\n"
     "The shape macs(x) counts, as a tuple of ints, checked as macs() checks it."},
    {"__reduce__", (PyCFunction)lc_linear_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Linear_getset[] = {
    {"weight", (getter)lc_linear_get_weight, (setter)lc_linear_set_weight,
     "The (out_features, in_features) weight, a writable view of the layer's memory.", NULL},
    {"bias", (getter)lc_linear_get_bias, (setter)lc_linear_set_bias,
     "The (out_features,) bias as a writable view, or None.", NULL},
    {"dtype", (getter)lc_linear_get_dtype, NULL, "numpy.dtype of parameters and results.", NULL},
    {"num_parameters", (getter)lc_linear_get_num_parameters, NULL,
     "out_features * in_features, plus out_features with a bias.", NULL},
    {"weight_grad", (getter)lc_linear_get_weight_grad, NULL,
     "Accumulated gradient of the weight, or None.", NULL},
    {"bias_grad", (getter)lc_linear_get_bias_grad, NULL,
     "Accumulated gradient of the bias, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Linear_members[] = {
    {"in_features", T_PYSSIZET, offsetof(LinearObject, in_features), READONLY,
     "Size of the last axis of the input."},
    {"out_features", T_PYSSIZET, offsetof(LinearObject, out_features), READONLY,
     "Size of the last axis of the output."},
    /* How a heap type declares its vectorcall slot; removed from the type's
     * dict once created (it would read the function pointer as an int). */
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(LinearObject, vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Linear_slots[] = {
    {Py_tp_new, Linear_new},
    {Py_tp_dealloc, Linear_dealloc},
    {Py_tp_repr, Linear_repr},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_methods, Linear_methods},
    {Py_tp_getset, Linear_getset},
    {Py_tp_members, Linear_members},
    {Py_tp_doc, (void *)Linear_doc},
    {0, NULL},
};

#ifndef Py_TPFLAGS_IMMUTABLETYPE
#define Py_TPFLAGS_IMMUTABLETYPE 0
#endif

static PyType_Spec Linear_spec = {
    .name = "linearc.Linear",
    .basicsize = sizeof(LinearObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Linear_slots,
};

PyObject *
lc_linear_type_create(PyObject *module)
{
    PyTypeObject *tp = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Linear_spec, NULL);
    if (tp == NULL) {
        return NULL;
    }
    /* tp_vectorcall_offset is set; the member would expose a raw address. */
    if (PyDict_GetItemString(tp->tp_dict, "__vectorcalloffset__") != NULL) {
        if (PyDict_DelItemString(tp->tp_dict, "__vectorcalloffset__") < 0) {
            Py_DECREF(tp);
            return NULL;
        }
        PyType_Modified(tp);
    }
    return (PyObject *)tp;
}
