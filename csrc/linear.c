/*
 * The Linear heap type: parameters in aligned C buffers, exposed to Python as
 * NumPy views whose base is the layer; forward through vectorcall; state,
 * pickling and initialisation as torch.nn.Linear does them.
 */
#include "arrays.h" /* Python.h first */
#include "module.h"
#include "workspace.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <structmember.h>

/* Below this many flops the GEMM runs with the GIL held: releasing and
 * taking it back would cost more than the work. */
#define LC_KEEP_GIL_FLOPS 200000.0

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Py_ssize_t in_features, out_features;
    lc_dtype dtype;
    int has_bias;
    void *weight;      /* out x in, row-major */
    void *bias;        /* out, or NULL */
    /* Gradients are arrays of their own, as torch's .grad tensors are: a
     * reference kept by the user stays valid after zero_grad(), and the next
     * backward starts a new array. NULL means None. */
    PyArrayObject *weight_grad;
    PyArrayObject *bias_grad;
    /* Serialises the backward passes that accumulate into the gradients
     * (they run without the GIL) and zero_grad(). */
    pthread_mutex_t grad_lock;
} LinearObject;

static lc_state *
state_of_type(PyTypeObject *tp)
{
    return (lc_state *)PyType_GetModuleState(tp);
}

/* ------------------------------------------------------------------------
 * Initialisation: torch.nn.Linear.reset_parameters draws weight and bias
 * from U(-1/sqrt(in), 1/sqrt(in)). Our generator is xoshiro256** seeded by
 * splitmix64, so a seed gives the same values on every machine.
 */
typedef struct {
    uint64_t s[4];
} rng_state;

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(rng_state *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void
fill_uniform(rng_state *r, void *buf, lc_dtype t, size_t count, double bound)
{
    for (size_t i = 0; i < count; i++) {
        const double u = (double)(rng_next(r) >> 11) * 0x1.0p-53; /* [0, 1) */
        const double v = bound * (2.0 * u - 1.0);
        if (t == LC_F32) {
            ((float *)buf)[i] = (float)v;
        }
        else {
            ((double *)buf)[i] = v;
        }
    }
}

/* seed: None (fresh entropy from os.urandom) or an int. */
static int
seed_rng(PyObject *seed, rng_state *r)
{
    uint64_t x;
    if (seed == NULL || seed == Py_None) {
        PyObject *os = PyImport_ImportModule("os");
        if (os == NULL) {
            return -1;
        }
        PyObject *bytes = PyObject_CallMethod(os, "urandom", "i", 8);
        Py_DECREF(os);
        if (bytes == NULL) {
            return -1;
        }
        memcpy(&x, PyBytes_AS_STRING(bytes), 8);
        Py_DECREF(bytes);
    }
    else {
        if (PyBool_Check(seed) || !PyIndex_Check(seed)) {
            PyErr_Format(PyExc_TypeError, "seed must be an int or None, not %.100s",
                         Py_TYPE(seed)->tp_name);
            return -1;
        }
        PyObject *idx = PyNumber_Index(seed);
        if (idx == NULL) {
            return -1;
        }
        x = (uint64_t)PyLong_AsUnsignedLongLongMask(idx);
        Py_DECREF(idx);
        if (x == (uint64_t)-1 && PyErr_Occurred()) {
            return -1;
        }
    }
    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&x);
    }
    return 0;
}

static int
init_parameters(LinearObject *self, PyObject *seed)
{
    rng_state r;
    if (seed_rng(seed, &r) < 0) {
        return -1;
    }
    const double bound = self->in_features > 0 ? 1.0 / sqrt((double)self->in_features) : 0.0;
    fill_uniform(&r, self->weight, self->dtype,
                 (size_t)self->in_features * (size_t)self->out_features, bound);
    if (self->has_bias) {
        fill_uniform(&r, self->bias, self->dtype, (size_t)self->out_features, bound);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Construction and destruction.
 */
static int
parse_size(PyObject *obj, const char *name, Py_ssize_t *out)
{
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *idx = PyNumber_Index(obj);
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
    free(self->weight);
    free(self->bias);
    Py_XDECREF(self->weight_grad);
    Py_XDECREF(self->bias_grad);
    pthread_mutex_destroy(&self->grad_lock);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *Linear_vectorcall(PyObject *callable, PyObject *const *args,
                                   size_t nargsf, PyObject *kwnames);

/* A layer with its buffers allocated and not initialised. */
static LinearObject *
linear_alloc(PyTypeObject *type, Py_ssize_t in, Py_ssize_t out, int has_bias,
             lc_dtype dtype)
{
    size_t wbytes, bbytes = 0;
    const size_t es = lc_dtype_size(dtype);
    const int bias_too_big = has_bias && (__builtin_mul_overflow((size_t)out, es, &bbytes) ||
                                          bbytes > (size_t)PY_SSIZE_T_MAX);
    if (__builtin_mul_overflow((size_t)in, (size_t)out, &wbytes) ||
        __builtin_mul_overflow(wbytes, es, &wbytes) || wbytes > (size_t)PY_SSIZE_T_MAX ||
        bias_too_big) {
        PyErr_Format(PyExc_MemoryError,
                     "Linear(%zd, %zd) needs more memory than can be addressed", in, out);
        return NULL;
    }
    LinearObject *self = (LinearObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = Linear_vectorcall;
    pthread_mutex_init(&self->grad_lock, NULL);
    self->in_features = in;
    self->out_features = out;
    self->dtype = dtype;
    self->has_bias = has_bias;
    self->weight = lc_alloc_aligned(wbytes, NULL);
    if (self->weight == NULL) {
        PyErr_Format(PyExc_MemoryError,
                     "cannot allocate %zu bytes for the weight of Linear(%zd, %zd)",
                     wbytes, in, out);
        Py_DECREF(self);
        return NULL;
    }
    if (has_bias) {
        self->bias = lc_alloc_aligned(bbytes, NULL);
        if (self->bias == NULL) {
            PyErr_Format(PyExc_MemoryError,
                         "cannot allocate %zu bytes for the bias of Linear(%zd, %zd)",
                         bbytes, in, out);
            Py_DECREF(self);
            return NULL;
        }
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
    if (seed != Py_None && (PyBool_Check(seed) || !PyIndex_Check(seed))) {
        PyErr_Format(PyExc_TypeError, "seed must be an int or None, not %.100s",
                     Py_TYPE(seed)->tp_name);
        return NULL;
    }
    LinearObject *self = linear_alloc(type, in, out, has_bias, dtype);
    if (self == NULL) {
        return NULL;
    }
    if (init_parameters(self, seed) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* ------------------------------------------------------------------------
 * Parameters as NumPy views over the layer's buffers.
 */
static PyObject *
buffer_view(LinearObject *self, void *buf, int ndim, npy_intp *dims)
{
    PyArray_Descr *descr = lc_descr(self->dtype);
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, descr, ndim, dims, NULL, buf,
                                         NPY_ARRAY_CARRAY, NULL);
    if (arr == NULL) {
        return NULL;
    }
    Py_INCREF(self);
    if (PyArray_SetBaseObject((PyArrayObject *)arr, (PyObject *)self) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* A copy of a buffer as a new C-contiguous array. */
static PyObject *
buffer_copy(LinearObject *self, void *buf, int ndim, npy_intp *dims)
{
    PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, lc_descr(self->dtype), ndim, dims,
                                         NULL, NULL, 0, NULL);
    if (arr != NULL) {
        memcpy(PyArray_DATA((PyArrayObject *)arr), buf,
               (size_t)PyArray_NBYTES((PyArrayObject *)arr));
    }
    return arr;
}

/* The weight, or the bias (None without one), as a view of the layer's
 * memory or as a copy. */
enum { WEIGHT = 0, BIAS = 1 };
enum { AS_VIEW = 0, AS_COPY = 1 };

static PyObject *
parameter_array(LinearObject *self, int which, int how)
{
    npy_intp dims[2] = {self->out_features, self->in_features};
    if (which == BIAS && !self->has_bias) {
        Py_RETURN_NONE;
    }
    void *buf = which == BIAS ? self->bias : self->weight;
    const int ndim = which == BIAS ? 1 : 2;
    return how == AS_COPY ? buffer_copy(self, buf, ndim, dims)
                          : buffer_view(self, buf, ndim, dims);
}


/* Convert `value` for a parameter of shape dims: same_kind cast to the
 * layer's dtype, C-contiguous. New reference, or NULL with the error. */
static PyArrayObject *
parameter_from_object(LinearObject *self, PyObject *value, const char *name,
                      int ndim, const npy_intp *dims)
{
    char want[128], got[128];
    PyArrayObject *arr = (PyArrayObject *)PyArray_FromAny(value, NULL, 0, 0, 0, NULL);
    if (arr == NULL) {
        return NULL;
    }
    if (PyArray_NDIM(arr) != ndim ||
        memcmp(PyArray_DIMS(arr), dims, (size_t)ndim * sizeof(npy_intp)) != 0) {
        lc_format_shape(want, sizeof want, ndim, dims);
        lc_format_shape(got, sizeof got, PyArray_NDIM(arr), PyArray_DIMS(arr));
        PyErr_Format(PyExc_ValueError, "%s must have shape %s, got %s", name, want, got);
        Py_DECREF(arr);
        return NULL;
    }
    PyArray_Descr *descr = lc_descr(self->dtype);
    if (!PyArray_CanCastTypeTo(PyArray_DESCR(arr), descr, NPY_SAME_KIND_CASTING)) {
        PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(arr));
        PyErr_Format(PyExc_TypeError,
                     "cannot cast %s of dtype %s to the layer's dtype %s under the "
                     "'same_kind' rule", name, r ? PyUnicode_AsUTF8(r) : "?",
                     lc_dtype_name(self->dtype));
        Py_XDECREF(r);
        Py_DECREF(descr);
        Py_DECREF(arr);
        return NULL;
    }
    PyArrayObject *c = (PyArrayObject *)PyArray_FromArray(
        arr, descr, NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST);
    Py_DECREF(arr);
    return c;
}

/* Copy a converted parameter into a buffer (memmove: it may be a view of it). */
static void
store_parameter(void *buf, PyArrayObject *src)
{
    memmove(buf, PyArray_DATA(src), (size_t)PyArray_NBYTES(src));
}

static int
Linear_set_weight(LinearObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the weight");
        return -1;
    }
    npy_intp dims[2] = {self->out_features, self->in_features};
    PyArrayObject *arr = parameter_from_object(self, value, "weight", 2, dims);
    if (arr == NULL) {
        return -1;
    }
    store_parameter(self->weight, arr);
    Py_DECREF(arr);
    return 0;
}

static int
Linear_set_bias(LinearObject *self, PyObject *value, void *Py_UNUSED(closure))
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
    npy_intp dims[1] = {self->out_features};
    PyArrayObject *arr = parameter_from_object(self, value, "bias", 1, dims);
    if (arr == NULL) {
        return -1;
    }
    store_parameter(self->bias, arr);
    Py_DECREF(arr);
    return 0;
}

static PyObject *
Linear_get_weight(LinearObject *self, void *Py_UNUSED(closure))
{
    return parameter_array(self, WEIGHT, AS_VIEW);
}

static PyObject *
Linear_get_bias(LinearObject *self, void *Py_UNUSED(closure))
{
    return parameter_array(self, BIAS, AS_VIEW);
}

static PyObject *
Linear_get_dtype(LinearObject *self, void *Py_UNUSED(closure))
{
    return (PyObject *)lc_descr(self->dtype);
}

static PyObject *
Linear_get_num_parameters(LinearObject *self, void *Py_UNUSED(closure))
{
    long long n = (long long)self->in_features * self->out_features;
    if (self->has_bias) {
        n += self->out_features;
    }
    return PyLong_FromLongLong(n);
}

/* Take the gradient lock; wait for it without the GIL, so that the thread
 * holding it can take the GIL back and finish. */
static void
lock_grads(LinearObject *self)
{
    if (pthread_mutex_trylock(&self->grad_lock) != 0) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&self->grad_lock);
        Py_END_ALLOW_THREADS
    }
}

/* A new reference to a gradient (or None), taken under the gradient lock:
 * without a GIL, zero_grad() could otherwise release it in between. */
static PyObject *
grad_ref(LinearObject *self, PyArrayObject *const *slot)
{
    lock_grads(self);
    PyObject *g = *slot ? (PyObject *)*slot : Py_None;
    Py_INCREF(g);
    pthread_mutex_unlock(&self->grad_lock);
    return g;
}

static PyObject *
Linear_get_weight_grad(LinearObject *self, void *Py_UNUSED(closure))
{
    return grad_ref(self, &self->weight_grad);
}

static PyObject *
Linear_get_bias_grad(LinearObject *self, void *Py_UNUSED(closure))
{
    return grad_ref(self, &self->bias_grad);
}

/* ------------------------------------------------------------------------
 * Forward.
 */
/* Run one GEMM, releasing the GIL when the work is worth it. */
static int
run_gemm(const lc_gemm_args *g)
{
    int rc;
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (flops < LC_KEEP_GIL_FLOPS) {
        rc = lc_gemm(g);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        rc = lc_gemm(g);
        Py_END_ALLOW_THREADS
    }
    if (rc < 0) {
        PyErr_NoMemory();
    }
    return rc;
}

/*
 * y = x @ w.T + bias for x of shape (*, in) into a new array or `out`.
 * w is (n, in) C-contiguous in `dtype`; bias has n values or is NULL.
 */
static PyObject *
apply_linear(lc_state *st, PyObject *x, lc_dtype dtype, Py_ssize_t in,
             Py_ssize_t n, const void *w, const void *bias, PyObject *out)
{
    lc_matrix xm = LC_MATRIX_INIT;
    PyArrayObject *y = NULL, *target = NULL;
    npy_intp dims[NPY_MAXDIMS];
    ptrdiff_t ldc = n;
    const size_t es = lc_dtype_size(dtype);

    if (lc_matrix_from_object(x, dtype, in, "input", "in_features", &xm) < 0) {
        return NULL;
    }
    const int ndim = PyArray_NDIM(xm.array);
    memcpy(dims, PyArray_DIMS(xm.array), (size_t)ndim * sizeof(npy_intp));
    dims[ndim - 1] = n;

    if (out != NULL && out != Py_None) {
        if (lc_check_out(out, dtype, ndim, dims, &ldc) < 0) {
            goto error;
        }
        target = (PyArrayObject *)out;
        Py_INCREF(out);
        /* The GEMM writes y before it has read all of x: compute aside
         * when out shares memory with an operand. */
        const int overlap =
            lc_arrays_may_overlap(target, xm.array) ||
            lc_array_overlaps_span(target, w, (size_t)n * (size_t)in * es) ||
            (bias && lc_array_overlaps_span(target, bias, (size_t)n * es));
        if (!overlap) {
            y = target;
            Py_INCREF(y);
        }
    }
    if (y == NULL) {
        y = (PyArrayObject *)PyArray_NewFromDescr(&PyArray_Type, lc_descr(dtype), ndim, dims,
                                                  NULL, NULL, 0, NULL);
        if (y == NULL) {
            goto error;
        }
        ldc = n;
    }
    lc_gemm_args g = {
        .dtype = dtype,
        .m = xm.rows,
        .n = n,
        .k = in,
        .a = xm.op,
        .b = {.data = w, .type = dtype, .rs = (ptrdiff_t)(in * (Py_ssize_t)es),
              .cs = (ptrdiff_t)es},
        .bias = bias,
        .c = PyArray_DATA(y),
        .ldc = ldc,
        .accumulate = 0,
        .nthreads = lc_state_threads(st),
        .kernels = st->kernels,
    };
    if (run_gemm(&g) < 0) {
        goto error;
    }
    lc_matrix_release(&xm);
    if (target != NULL && target != y) {
        if (PyArray_CopyInto(target, y) < 0) {
            goto error;
        }
        Py_SETREF(y, target);
        target = NULL;
    }
    Py_XDECREF(target);
    return (PyObject *)y;

error:
    lc_matrix_release(&xm);
    Py_XDECREF(y);
    Py_XDECREF(target);
    return NULL;
}

/* Parse (x, /, *, out=None) from a vectorcall. */
static int
parse_forward_args(PyObject *const *args, size_t nargsf, PyObject *kwnames,
                   const char *fname, PyObject **x, PyObject **out)
{
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    *out = NULL;
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes exactly one positional argument (the input), got %zd",
                     fname, nargs);
        return -1;
    }
    *x = args[0];
    if (kwnames != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, i);
            if (PyUnicode_CompareWithASCIIString(key, "out") != 0) {
                PyErr_Format(PyExc_TypeError,
                             "%s() got an unexpected keyword argument %R", fname, key);
                return -1;
            }
            *out = args[nargs + i];
        }
    }
    return 0;
}

static PyObject *
linear_forward_impl(LinearObject *self, PyObject *const *args, size_t nargsf,
                    PyObject *kwnames, const char *fname)
{
    PyObject *x = NULL, *out = NULL;
    if (parse_forward_args(args, nargsf, kwnames, fname, &x, &out) < 0) {
        return NULL;
    }
    lc_state *st = state_of_type(Py_TYPE(self));
    return apply_linear(st, x, self->dtype, self->in_features, self->out_features,
                        self->weight, self->bias, out);
}

static PyObject *
Linear_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    return linear_forward_impl((LinearObject *)callable, args, nargsf, kwnames, "Linear");
}

static PyObject *
Linear_forward(LinearObject *self, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    return linear_forward_impl(self, args, (size_t)nargs, kwnames, "forward");
}

/* ------------------------------------------------------------------------
 * Backward: grad_input = G @ W, weight_grad += G^T @ X, bias_grad += sum G.
 * All three are GEMMs on the same machinery; the transposes are views that
 * the packers read, never copies.
 */

/* A copy of obj when it shares memory with a gradient we will write. */
static PyObject *
detach_from_grads(LinearObject *self, PyObject *obj)
{
    if (PyArray_Check(obj)) {
        PyArrayObject *a = (PyArrayObject *)obj;
        lock_grads(self);
        const int overlap =
            (self->weight_grad && lc_arrays_may_overlap(a, self->weight_grad)) ||
            (self->bias_grad && lc_arrays_may_overlap(a, self->bias_grad));
        pthread_mutex_unlock(&self->grad_lock);
        if (overlap) {
            return PyArray_NewCopy(a, NPY_CORDER);
        }
    }
    Py_INCREF(obj);
    return obj;
}

static PyArrayObject *
new_grad_array(LinearObject *self, int ndim, npy_intp *dims)
{
    return (PyArrayObject *)PyArray_NewFromDescr(&PyArray_Type, lc_descr(self->dtype), ndim,
                                                 dims, NULL, NULL, 0, NULL);
}

static PyObject *
Linear_backward(LinearObject *self, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames)
{
    static const char usage[] = "backward(x, grad_output)";
    PyObject *x_obj = NULL, *g_obj = NULL, *grad_input = NULL;
    lc_matrix xm = LC_MATRIX_INIT, gm = LC_MATRIX_INIT;
    char xs[256], gs[256];
    const size_t es = lc_dtype_size(self->dtype);
    lc_state *st = state_of_type(Py_TYPE(self));

    if (nargs != 2 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_Format(PyExc_TypeError, "%s takes exactly two positional arguments", usage);
        return NULL;
    }
    x_obj = detach_from_grads(self, args[0]);
    g_obj = x_obj ? detach_from_grads(self, args[1]) : NULL;
    if (g_obj == NULL) {
        goto error;
    }
    if (lc_matrix_from_object(x_obj, self->dtype, self->in_features, "input",
                              "in_features", &xm) < 0 ||
        lc_matrix_from_object(g_obj, self->dtype, self->out_features, "grad_output",
                              "out_features", &gm) < 0) {
        goto error;
    }
    const int xnd = PyArray_NDIM(xm.array), gnd = PyArray_NDIM(gm.array);
    if (xnd != gnd || memcmp(PyArray_DIMS(xm.array), PyArray_DIMS(gm.array),
                             (size_t)(xnd - 1) * sizeof(npy_intp)) != 0) {
        lc_format_shape(xs, sizeof xs, xnd, PyArray_DIMS(xm.array));
        lc_format_shape(gs, sizeof gs, gnd, PyArray_DIMS(gm.array));
        PyErr_Format(PyExc_ValueError,
                     "the leading dimensions of input %s and grad_output %s must agree",
                     xs, gs);
        goto error;
    }
    grad_input = PyArray_NewFromDescr(&PyArray_Type, lc_descr(self->dtype), xnd,
                                      PyArray_DIMS(xm.array), NULL, NULL, 0, NULL);
    if (grad_input == NULL) {
        goto error;
    }
    const int nthreads = lc_state_threads(st);
    const ptrdiff_t M = xm.rows, N = self->out_features, K = self->in_features;
    npy_intp wdims[2] = {N, K}, bdims[1] = {N};
    /* grad_input (M x K) = G (M x N) @ (W^T)^T, W^T being K x N. */
    lc_gemm_args gi = {
        .dtype = self->dtype, .m = M, .n = K, .k = N,
        .a = gm.op,
        .b = {.data = self->weight, .type = self->dtype, .rs = (ptrdiff_t)es,
              .cs = (ptrdiff_t)(K * (ptrdiff_t)es)},
        .c = PyArray_DATA((PyArrayObject *)grad_input), .ldc = K,
        .nthreads = nthreads, .kernels = st->kernels,
    };
    /* weight_grad (N x K) += G^T (N x M) @ (X^T)^T, X^T being K x M. */
    lc_gemm_args gw = {
        .dtype = self->dtype, .m = N, .n = K, .k = M,
        .a = {.data = gm.op.data, .type = gm.op.type, .rs = gm.op.cs, .cs = gm.op.rs,
              .col_off = gm.op.row_off},
        .b = {.data = xm.op.data, .type = xm.op.type, .rs = xm.op.cs, .cs = xm.op.rs,
              .col_off = xm.op.row_off},
        .ldc = K,
        .nthreads = nthreads, .kernels = st->kernels,
    };
    /* bias_grad (N x 1) += G^T (N x M) @ ones (1 x M): a zero-stride operand. */
    static const float one_f32 = 1.0f;
    static const double one_f64 = 1.0;
    lc_gemm_args gb = gw;
    gb.n = 1;
    gb.b = (lc_operand){.data = self->dtype == LC_F32 ? (const char *)&one_f32
                                                      : (const char *)&one_f64,
                        .type = self->dtype};
    gb.ldc = 1;
    if (run_gemm(&gi) < 0) {
        goto error;
    }
    /* The accumulation: one backward at a time per layer. */
    lock_grads(self);
    const int first = self->weight_grad == NULL;
    if (first) {
        self->weight_grad = new_grad_array(self, 2, wdims);
        if (self->weight_grad != NULL && self->has_bias) {
            self->bias_grad = new_grad_array(self, 1, bdims);
        }
    }
    int failed = self->weight_grad == NULL || (self->has_bias && self->bias_grad == NULL);
    if (!failed) {
        gw.c = PyArray_DATA(self->weight_grad);
        gw.accumulate = gb.accumulate = !first;
        gb.c = self->has_bias ? PyArray_DATA(self->bias_grad) : NULL;
        failed = run_gemm(&gw) < 0 || (self->has_bias && run_gemm(&gb) < 0);
    }
    if (failed && first) {
        /* Half-made gradients would be accumulated into next time. */
        Py_CLEAR(self->weight_grad);
        Py_CLEAR(self->bias_grad);
    }
    pthread_mutex_unlock(&self->grad_lock);
    if (failed) {
        goto error;
    }
    lc_matrix_release(&xm);
    lc_matrix_release(&gm);
    Py_DECREF(x_obj);
    Py_DECREF(g_obj);
    return grad_input;

error:
    lc_matrix_release(&xm);
    lc_matrix_release(&gm);
    Py_XDECREF(x_obj);
    Py_XDECREF(g_obj);
    Py_XDECREF(grad_input);
    return NULL;
}

static PyObject *
Linear_zero_grad(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    lock_grads(self);
    PyArrayObject *w = self->weight_grad, *b = self->bias_grad;
    self->weight_grad = self->bias_grad = NULL;
    pthread_mutex_unlock(&self->grad_lock);
    /* Released outside the lock: a deallocation may run arbitrary code. */
    Py_XDECREF(w);
    Py_XDECREF(b);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------
 * Parameters, state and pickling.
 */
static PyObject *
Linear_reset_parameters(LinearObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seed", NULL};
    PyObject *seed = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:reset_parameters", kwlist, &seed)) {
        return NULL;
    }
    if (init_parameters(self, seed) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Linear_parameters(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *w = parameter_array(self, WEIGHT, AS_VIEW), *b = NULL;
    if (w == NULL) {
        return NULL;
    }
    if (!self->has_bias) {
        return Py_BuildValue("[N]", w);
    }
    b = parameter_array(self, BIAS, AS_VIEW);
    if (b == NULL) {
        Py_DECREF(w);
        return NULL;
    }
    return Py_BuildValue("[NN]", w, b);
}

static PyObject *
Linear_named_parameters(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *w = parameter_array(self, WEIGHT, AS_VIEW), *b = NULL;
    if (w == NULL) {
        return NULL;
    }
    if (!self->has_bias) {
        return Py_BuildValue("[(sN)]", "weight", w);
    }
    b = parameter_array(self, BIAS, AS_VIEW);
    if (b == NULL) {
        Py_DECREF(w);
        return NULL;
    }
    return Py_BuildValue("[(sN)(sN)]", "weight", w, "bias", b);
}


static PyObject *
Linear_state_dict(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *d = PyDict_New(), *w = NULL, *b = NULL;
    if (d == NULL || (w = parameter_array(self, WEIGHT, AS_COPY)) == NULL ||
        PyDict_SetItemString(d, "weight", w) < 0) {
        goto error;
    }
    if (self->has_bias) {
        if ((b = parameter_array(self, BIAS, AS_COPY)) == NULL || PyDict_SetItemString(d, "bias", b) < 0) {
            goto error;
        }
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

static int
append_str(PyObject *list, const char *s)
{
    PyObject *str = PyUnicode_FromString(s);
    int rc = str ? PyList_Append(list, str) : -1;
    Py_XDECREF(str);
    return rc;
}

static PyObject *
Linear_load_state_dict(LinearObject *self, PyObject *mapping)
{
    PyObject *keys = NULL, *missing = NULL, *unexpected = NULL, *wv = NULL, *bv = NULL;
    PyArrayObject *w = NULL, *b = NULL;
    PyObject *result = NULL;

    /* Sequences, str and ndarray pass PyMapping_Check; a mapping has keys(). */
    if (!PyMapping_Check(mapping) || !PyObject_HasAttrString(mapping, "keys")) {
        PyErr_Format(PyExc_TypeError, "load_state_dict() expects a mapping, not %.100s",
                     Py_TYPE(mapping)->tp_name);
        return NULL;
    }
    if ((keys = PyMapping_Keys(mapping)) == NULL || (missing = PyList_New(0)) == NULL ||
        (unexpected = PyList_New(0)) == NULL) {
        goto done;
    }
    int seen_w = 0, seen_b = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        if (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, "weight") == 0) {
            seen_w = 1;
        }
        else if (self->has_bias && PyUnicode_Check(key) &&
                 PyUnicode_CompareWithASCIIString(key, "bias") == 0) {
            seen_b = 1;
        }
        else if (PyList_Append(unexpected, key) < 0) {
            goto done;
        }
    }
    if ((!seen_w && append_str(missing, "weight") < 0) ||
        (self->has_bias && !seen_b && append_str(missing, "bias") < 0)) {
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
    npy_intp wdims[2] = {self->out_features, self->in_features};
    npy_intp bdims[1] = {self->out_features};
    if ((wv = PyMapping_GetItemString(mapping, "weight")) == NULL ||
        (w = parameter_from_object(self, wv, "weight", 2, wdims)) == NULL) {
        goto done;
    }
    if (self->has_bias) {
        if ((bv = PyMapping_GetItemString(mapping, "bias")) == NULL ||
            (b = parameter_from_object(self, bv, "bias", 1, bdims)) == NULL) {
            goto done;
        }
    }
    /* Everything checked: only now change the layer. */
    store_parameter(self->weight, w);
    if (b != NULL) {
        store_parameter(self->bias, b);
    }
    result = Py_None;
    Py_INCREF(result);

done:
    Py_XDECREF(keys);
    Py_XDECREF(missing);
    Py_XDECREF(unexpected);
    Py_XDECREF(wv);
    Py_XDECREF(bv);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return result;
}

static PyObject *
Linear_reduce(LinearObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *module = PyType_GetModule(Py_TYPE(self));
    if (module == NULL) {
        return NULL;
    }
    PyObject *rebuild = PyObject_GetAttrString(module, "_rebuild");
    if (rebuild == NULL) {
        return NULL;
    }
    PyObject *w = parameter_array(self, WEIGHT, AS_COPY);
    PyObject *b = w ? parameter_array(self, BIAS, AS_COPY) : NULL;
    if (b == NULL) {
        Py_XDECREF(w);
        Py_DECREF(rebuild);
        return NULL;
    }
    return Py_BuildValue("N(nnOsNN)", rebuild, self->in_features, self->out_features,
                         self->has_bias ? Py_True : Py_False, lc_dtype_name(self->dtype), w, b);
}

/* _rebuild(in_features, out_features, bias, dtype, weight, bias_values):
 * the other half of __reduce__, checking everything a pickle could carry. */
PyObject *
lc_rebuild_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "_rebuild() takes 6 arguments");
        return NULL;
    }
    lc_state *st = PyModule_GetState(module);
    PyObject *kwargs = Py_BuildValue("{sOsi}", "dtype", args[3], "seed", 0);
    if (kwargs == NULL) {
        return NULL;
    }
    PyObject *ctor_args = PyTuple_Pack(3, args[0], args[1], args[2]);
    if (ctor_args == NULL) {
        Py_DECREF(kwargs);
        return NULL;
    }
    PyObject *layer = PyObject_Call((PyObject *)st->linear_type, ctor_args, kwargs);
    Py_DECREF(ctor_args);
    Py_DECREF(kwargs);
    if (layer == NULL) {
        return NULL;
    }
    if (Linear_set_weight((LinearObject *)layer, args[4], NULL) < 0 ||
        Linear_set_bias((LinearObject *)layer, args[5], NULL) < 0) {
        Py_DECREF(layer);
        return NULL;
    }
    return layer;
}

static PyObject *
Linear_repr(LinearObject *self)
{
    return PyUnicode_FromFormat("Linear(in_features=%zd, out_features=%zd, bias=%s)",
                                self->in_features, self->out_features,
                                self->has_bias ? "True" : "False");
}

/* ------------------------------------------------------------------------
 * Counting: thop's and FlopCounterMode's conventions, as Python ints.
 */

/* prod(shape[:-1]) * in * out for a forward input of that shape, checked as
 * forward checks an input; NULL with ValueError/TypeError otherwise. */
static PyObject *
macs_of_shape(LinearObject *self, PyObject *shape_obj)
{
    PyObject *seq = PySequence_Fast(shape_obj, "input_shape must be a sequence of ints");
    if (seq == NULL) {
        return NULL;
    }
    const Py_ssize_t nd = PySequence_Fast_GET_SIZE(seq);
    PyObject *total = PyLong_FromLong(1), *tmp;
    PyObject *zero = PyLong_FromLong(0);
    if (nd == 0) {
        PyErr_SetString(PyExc_ValueError,
                        "input_shape must have at least 1 dimension (shape (*, in_features))");
        goto error;
    }
    for (Py_ssize_t i = 0; i < nd && total; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(seq, i);
        if (PyBool_Check(d) || !PyIndex_Check(d)) {
            PyErr_Format(PyExc_TypeError, "input_shape holds %.100s, not ints",
                         Py_TYPE(d)->tp_name);
            goto error;
        }
        PyObject *v = PyNumber_Index(d);
        if (v == NULL) {
            goto error;
        }
        const int negative = PyObject_RichCompareBool(v, zero, Py_LT);
        if (negative) {
            Py_DECREF(v);
            if (negative > 0) {
                PyErr_Format(PyExc_ValueError, "input_shape %R has a negative dimension",
                             shape_obj);
            }
            goto error;
        }
        if (i == nd - 1) {
            const Py_ssize_t last = PyLong_AsSsize_t(v);
            if (last != self->in_features) {
                Py_DECREF(v);
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError,
                             "input_shape %R does not end in in_features=%zd", shape_obj,
                             self->in_features);
                goto error;
            }
            Py_DECREF(v);
            break;
        }
        tmp = PyNumber_Multiply(total, v);
        Py_DECREF(v);
        Py_SETREF(total, tmp);
    }
    if (total == NULL) {
        goto error;
    }
    PyObject *per_row = PyLong_FromLongLong((long long)self->in_features * self->out_features);
    if (per_row == NULL) {
        goto error;
    }
    tmp = PyNumber_Multiply(total, per_row);
    Py_DECREF(per_row);
    Py_DECREF(total);
    Py_DECREF(seq);
    Py_XDECREF(zero);
    return tmp;

error:
    Py_XDECREF(total);
    Py_XDECREF(zero);
    Py_DECREF(seq);
    return NULL;
}

static PyObject *
Linear_macs(LinearObject *self, PyObject *shape)
{
    return macs_of_shape(self, shape);
}

static PyObject *
Linear_flops(LinearObject *self, PyObject *args, PyObject *kwds)
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

/* ------------------------------------------------------------------------
 * Functional form: linear(x, weight, bias=None, *, out=None).
 */
PyObject *
lc_functional_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    static const char *const names[] = {"x", "weight", "bias", "out"};
    PyObject *vals[4] = {NULL, NULL, Py_None, Py_None};
    PyArrayObject *w = NULL, *b = NULL, *w_in = NULL;
    PyObject *result = NULL;
    char shape[128];

    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "linear() takes 2 or 3 positional arguments (x, weight, bias), got %zd",
                     nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        vals[i] = args[i];
    }
    for (Py_ssize_t i = 0; kwnames && i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        int slot = -1;
        for (int j = 2; j < 4; j++) {
            if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0) {
                slot = j;
            }
        }
        if (slot < 0 || (slot == 2 && nargs == 3)) {
            PyErr_Format(PyExc_TypeError, "linear() got an unexpected or repeated "
                         "keyword argument %R", key);
            return NULL;
        }
        vals[slot] = args[nargs + i];
    }

    w_in = (PyArrayObject *)PyArray_FromAny(vals[1], NULL, 0, 0, 0, NULL);
    if (w_in == NULL) {
        return NULL;
    }
    if (PyArray_NDIM(w_in) != 2) {
        lc_format_shape(shape, sizeof shape, PyArray_NDIM(w_in), PyArray_DIMS(w_in));
        PyErr_Format(PyExc_ValueError,
                     "weight must be 2-D (out_features, in_features), got shape %s", shape);
        goto done;
    }
    /* The result type: float32 for float32 (and float16) weights, else
     * float64 for anything that casts to it under "same_kind". */
    const int wt = PyArray_TYPE(w_in);
    lc_dtype dtype = (wt == NPY_FLOAT32 || wt == NPY_FLOAT16) ? LC_F32 : LC_F64;
    PyArray_Descr *descr = lc_descr(dtype);
    if (!PyArray_CanCastTypeTo(PyArray_DESCR(w_in), descr, NPY_SAME_KIND_CASTING)) {
        PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(w_in));
        PyErr_Format(PyExc_TypeError,
                     "weight has dtype %s; linear() computes in float32 or float64",
                     r ? PyUnicode_AsUTF8(r) : "?");
        Py_XDECREF(r);
        Py_DECREF(descr);
        goto done;
    }
    w = (PyArrayObject *)PyArray_FromArray(w_in, descr,
                                           NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST);
    if (w == NULL) {
        goto done;
    }
    const npy_intp n = PyArray_DIM(w, 0), k = PyArray_DIM(w, 1);
    if (vals[2] != Py_None) {
        PyArrayObject *b_in = (PyArrayObject *)PyArray_FromAny(vals[2], NULL, 0, 0, 0, NULL);
        if (b_in == NULL) {
            goto done;
        }
        if (PyArray_NDIM(b_in) != 1 || PyArray_DIM(b_in, 0) != n) {
            lc_format_shape(shape, sizeof shape, PyArray_NDIM(b_in), PyArray_DIMS(b_in));
            PyErr_Format(PyExc_ValueError, "bias must have shape (%zd,), got %s",
                         (Py_ssize_t)n, shape);
            Py_DECREF(b_in);
            goto done;
        }
        descr = lc_descr(dtype);
        if (!PyArray_CanCastTypeTo(PyArray_DESCR(b_in), descr, NPY_SAME_KIND_CASTING)) {
            PyObject *r = PyObject_Str((PyObject *)PyArray_DESCR(b_in));
            PyErr_Format(PyExc_TypeError,
                         "cannot cast bias of dtype %s to %s under the 'same_kind' rule",
                         r ? PyUnicode_AsUTF8(r) : "?", lc_dtype_name(dtype));
            Py_XDECREF(r);
            Py_DECREF(descr);
            Py_DECREF(b_in);
            goto done;
        }
        b = (PyArrayObject *)PyArray_FromArray(b_in, descr,
                                               NPY_ARRAY_CARRAY_RO | NPY_ARRAY_FORCECAST);
        Py_DECREF(b_in);
        if (b == NULL) {
            goto done;
        }
    }
    result = apply_linear(PyModule_GetState(module), vals[0], dtype, k, n, PyArray_DATA(w),
                          b ? PyArray_DATA(b) : NULL, vals[3]);

done:
    Py_XDECREF(w_in);
    Py_XDECREF(w);
    Py_XDECREF(b);
    return result;
}

/* ------------------------------------------------------------------------
 * The type.
 */
PyDoc_STRVAR(Linear_doc,
"Linear(in_features, out_features, bias=True, *, dtype=None, seed=None)\n"
"--\n\n"
"Applies y = x @ weight.T + bias to arrays of shape (*, in_features),\n"
"as torch.nn.Linear does, returning shape (*, out_features).\n\n"
"weight has shape (out_features, in_features) and bias (out_features,);\n"
"both start uniform on [-1/sqrt(in_features), 1/sqrt(in_features)], drawn\n"
"from `seed` (an int gives the same values everywhere; None draws fresh\n"
"entropy). dtype is float32 (the default, also for None) or float64.");

PyDoc_STRVAR(forward_doc,
"forward($self, x, /, *, out=None)\n--\n\n"
"y = x @ weight.T + bias for x of shape (*, in_features); the same as calling\n"
"the layer. x may have any strides and any dtype that casts to the layer's\n"
"under 'same_kind'. out, if given, must be an array of the result's shape\n"
"and the layer's dtype, contiguous along its last axis (leading axes may\n"
"be strided if they collapse into one stride); it is returned.");

PyDoc_STRVAR(backward_doc,
"backward($self, x, grad_output, /)\n--\n\n"
"Return grad_input = grad_output @ weight (shape of x), and accumulate\n"
"grad_output.T @ x into weight_grad and grad_output summed over the leading\n"
"dimensions into bias_grad, as torch's .grad accumulates.");

static PyMethodDef Linear_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))Linear_forward, METH_FASTCALL | METH_KEYWORDS,
     forward_doc},
    {"backward", (PyCFunction)(void (*)(void))Linear_backward, METH_FASTCALL | METH_KEYWORDS,
     backward_doc},
    {"zero_grad", (PyCFunction)Linear_zero_grad, METH_NOARGS,
     "zero_grad($self, /)\n--\n\nSet weight_grad and bias_grad back to None."},
    {"reset_parameters", (PyCFunction)(void (*)(void))Linear_reset_parameters,
     METH_VARARGS | METH_KEYWORDS,
     "reset_parameters($self, /, seed=None)\n--\n\n"
     "Draw weight and bias again, as torch.nn.Linear.reset_parameters does."},
    {"parameters", (PyCFunction)Linear_parameters, METH_NOARGS,
     "parameters($self, /)\n--\n\n[weight] or [weight, bias], views of the layer's memory."},
    {"named_parameters", (PyCFunction)Linear_named_parameters, METH_NOARGS,
     "named_parameters($self, /)\n--\n\n[('weight', weight), ('bias', bias)]."},
    {"state_dict", (PyCFunction)Linear_state_dict, METH_NOARGS,
     "state_dict($self, /)\n--\n\n{'weight': copy, 'bias': copy}; no 'bias' without bias."},
    {"load_state_dict", (PyCFunction)Linear_load_state_dict, METH_O,
     "load_state_dict($self, state_dict, /)\n--\n\n"
     "Copy 'weight' (and 'bias') in from a mapping of arrays, array-likes or torch\n"
     "tensors. Missing or unexpected keys raise KeyError, a wrong shape ValueError,\n"
     "a dtype that does not cast under 'same_kind' TypeError; on any error the\n"
     "layer is unchanged."},
    {"macs", (PyCFunction)Linear_macs, METH_O,
     "macs($self, input_shape, /)\n--\n\n"
     "Multiply-accumulates of a forward pass on input_shape, as thop counts them:\n"
     "prod(input_shape[:-1]) * in_features * out_features (the bias is not counted)."},
    {"flops", (PyCFunction)(void (*)(void))Linear_flops, METH_VARARGS | METH_KEYWORDS,
     "flops($self, input_shape, /, *, backward=False)\n--\n\n"
     "2 * macs(input_shape), as torch.utils.flop_counter.FlopCounterMode counts;\n"
     "with backward=True a training step: forward plus the gradients of the input\n"
     "and of the weight, 6 * macs."},
    {"__reduce__", (PyCFunction)Linear_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Linear_getset[] = {
    {"weight", (getter)Linear_get_weight, (setter)Linear_set_weight,
     "The (out_features, in_features) weight, a writable view of the layer's memory.", NULL},
    {"bias", (getter)Linear_get_bias, (setter)Linear_set_bias,
     "The (out_features,) bias as a writable view, or None.", NULL},
    {"dtype", (getter)Linear_get_dtype, NULL, "numpy.dtype of parameters and results.", NULL},
    {"num_parameters", (getter)Linear_get_num_parameters, NULL,
     "out_features * in_features, plus out_features with a bias.", NULL},
    {"weight_grad", (getter)Linear_get_weight_grad, NULL,
     "Accumulated gradient of the weight, or None.", NULL},
    {"bias_grad", (getter)Linear_get_bias_grad, NULL,
     "Accumulated gradient of the bias, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Linear_members[] = {
    {"in_features", T_PYSSIZET, offsetof(LinearObject, in_features), READONLY,
     "Size of the last axis of the input."},
    {"out_features", T_PYSSIZET, offsetof(LinearObject, out_features), READONLY,
     "Size of the last axis of the output."},
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
    return PyType_FromModuleAndSpec(module, &Linear_spec, NULL);
}
