/*
 * The tuner's C half (tuning.h). Every element of a result is one fixed
 * chain, so no parameter changes a bit: the tuner may try anything the
 * context accepts.
 */
#include "arrays.h" /* Python.h first */
#include "config.h"
#include "gemm.h"
#include "state.h"
#include "tuning.h"
#include "workspace.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parameters {name: int} applied together to ctx for type t, from `origin`
 * (a field a stronger origin set keeps its value). Returns 0, or -1 with an
 * error naming the parameter, or saying what is wrong with the set. */
static int
apply_params(lc_context *ctx, lc_dtype t, PyObject *values, lc_origin origin)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    long v[LC_PARAMS_COUNT] = {0};
    int given[LC_PARAMS_COUNT] = {0};
    if (!PyDict_Check(values)) {
        PyErr_SetString(PyExc_TypeError, "parameters must be a dict {name: int}");
        return -1;
    }
    while (PyDict_Next(values, &pos, &key, &value)) {
        int i = 0;
        while (i < LC_PARAMS_COUNT &&
               (!PyUnicode_Check(key) ||
                PyUnicode_CompareWithASCIIString(key, lc_param_names[i]) != 0)) {
            i++;
        }
        if (i == LC_PARAMS_COUNT) {
            PyErr_Format(PyExc_ValueError, "no parameter named %R", key);
            return -1;
        }
        int overflow = 0;
        const int is_int = PyLong_Check(value) && !PyBool_Check(value);
        v[i] = is_int ? PyLong_AsLongAndOverflow(value, &overflow) : 0;
        if (!is_int || overflow) {
            PyErr_Format(PyExc_ValueError, "parameter %R must be an int, got %R", key, value);
            return -1;
        }
        given[i] = 1;
    }
    const char *why = NULL;
    if (lc_context_update(ctx, t, v, given, origin, &why) < 0) {
        PyErr_Format(PyExc_ValueError, "parameters %R: %s", values, why);
        return -1;
    }
    return 0;
}

PyObject *
lc_tune_params(PyObject *module, PyObject *args)
{
    PyObject *f32, *f64;
    if (!PyArg_ParseTuple(args, "OO:_tune_params", &f32, &f64)) {
        return NULL;
    }
    lc_state *st = PyModule_GetState(module);
    lc_context_node *node = PyMem_RawMalloc(sizeof *node);
    if (node == NULL) {
        return PyErr_NoMemory();
    }
    lc_context_node *current = atomic_load(&st->ctx);
    node->ctx = current->ctx;
    if (apply_params(&node->ctx, LC_F32, f32, LC_FROM_TUNED) < 0 ||
        apply_params(&node->ctx, LC_F64, f64, LC_FROM_TUNED) < 0) {
        PyMem_RawFree(node);
        return NULL;
    }
    /* The one replaced stays until the module goes: a GEMM running now on
     * another thread may be reading it. */
    node->older = current;
    atomic_store(&st->ctx, node);
    Py_RETURN_NONE;
}

const char lc_tune_params_doc[] =
    "_tune_params(float32, float64, /)\n--\n\n"
    "Plan from these parameters ({name: int} per element type, as the tuner found\n"
    "them) from now on; all or nothing. Values set in the environment stay.";

static double
now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Small exact values (multiples of 1/8 below 1): no overflow, no denormals,
 * whatever K. */
static void
fill(void *p, size_t count, lc_dtype t, unsigned mod)
{
    for (size_t i = 0; i < count; i++) {
        const double v = (double)(i % mod) / 8.0;
        if (t == LC_F32) {
            ((float *)p)[i] = (float)v;
        }
        else {
            ((double *)p)[i] = v;
        }
    }
}

/* The operands of one of the three products a layer runs, dense, as
 * benchmarks/gemm_harness.c lays them out: "fwd" (x @ W.T + b), "gi"
 * (G @ W, W read from W.T's memory) or "wg" (X^T @ G, continuing C). */
static int
product(const char *layout, lc_gemm_args *g, void *a, void *b, void *bias)
{
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(g->dtype), m = g->m, n = g->n, k = g->k;
    if (strcmp(layout, "fwd") == 0) {
        g->a = (lc_operand){.data = a, .type = g->dtype, .rs = k * es, .cs = es};
        g->b = (lc_operand){.data = b, .type = g->dtype, .rs = n * es, .cs = es};
        g->bias = bias;
    }
    else if (strcmp(layout, "gi") == 0) {
        g->a = (lc_operand){.data = a, .type = g->dtype, .rs = k * es, .cs = es};
        g->b = (lc_operand){.data = b, .type = g->dtype, .rs = es, .cs = k * es};
    }
    else if (strcmp(layout, "wg") == 0) {
        g->a = (lc_operand){.data = a, .type = g->dtype, .rs = es, .cs = m * es};
        g->b = (lc_operand){.data = b, .type = g->dtype, .rs = n * es, .cs = es};
        g->accumulate = 1;
    }
    else {
        PyErr_Format(PyExc_ValueError, "layout must be 'fwd', 'gi' or 'wg', got '%.50s'",
                     layout);
        return -1;
    }
    return 0;
}

/* Seconds of `repeats` calls (after one to warm buffers and threads). */
static int
time_calls(const lc_gemm_args *g, int repeats, double *seconds)
{
    int rc = lc_gemm(g);
    for (int r = 0; rc == 0 && r < repeats; r++) {
        const double t0 = now();
        rc = lc_gemm(g);
        seconds[r] = now() - t0;
    }
    return rc;
}

/* Dense operands for g in the given layout, filled; the GEMM timed.
 * Returns 0, or -1 with a Python error set. */
static int
time_product(lc_gemm_args *g, const char *layout, int repeats, double *seconds)
{
    const size_t es = lc_dtype_size(g->dtype);
    const size_t mk = (size_t)(g->m * g->k), kn = (size_t)(g->k * g->n);
    const size_t mn = (size_t)(g->m * g->n);
    void *a = lc_alloc_aligned(mk * es, NULL), *b = lc_alloc_aligned(kn * es, NULL);
    void *bias = lc_alloc_aligned((size_t)g->n * es, NULL);
    g->c = lc_alloc_aligned(mn * es, NULL);
    int rc = -1;
    if (a && b && bias && g->c && product(layout, g, a, b, bias) == 0) {
        fill(a, mk, g->dtype, 7);
        fill(b, kn, g->dtype, 5);
        fill(bias, (size_t)g->n, g->dtype, 3);
        memset(g->c, 0, mn * es);
        Py_BEGIN_ALLOW_THREADS
        rc = time_calls(g, repeats, seconds);
        Py_END_ALLOW_THREADS
    }
    if (rc < 0 && !PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    free(a);
    free(b);
    free(bias);
    free(g->c);
    return rc;
}

static PyObject *
list_of_floats(const double *v, int count)
{
    PyObject *list = PyList_New(count);
    for (int i = 0; list != NULL && i < count; i++) {
        PyObject *f = PyFloat_FromDouble(v[i]);
        if (f == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, f);
    }
    return list;
}

PyObject *
lc_time_gemm(PyObject *module, PyObject *args)
{
    Py_ssize_t m, n, k;
    int threads, repeats;
    PyObject *dtype_obj, *params, *result = NULL;
    const char *layout;
    lc_dtype t;
    if (!PyArg_ParseTuple(args, "nnnOiOis:_time_gemm", &m, &n, &k, &dtype_obj, &threads,
                          &params, &repeats, &layout) ||
        lc_dtype_from_object(dtype_obj, &t) < 0) {
        return NULL;
    }
    if (m < 1 || n < 1 || k < 1 || threads < 1 || repeats < 1 || repeats > 100000 ||
        (double)m * (double)n + (double)m * (double)k + (double)k * (double)n > 1e9) {
        PyErr_SetString(PyExc_ValueError, "sizes and repeats out of range for a timing");
        return NULL;
    }
    lc_context ctx = *lc_state_context(PyModule_GetState(module));
    if (apply_params(&ctx, t, params, LC_FROM_TUNED) < 0) {
        return NULL;
    }
    lc_gemm_args g = {.dtype = t, .m = m, .n = n, .k = k, .ldc = n, .nthreads = threads,
                      .ctx = &ctx};
    double *seconds = malloc(sizeof(double) * (size_t)repeats);
    if (seconds == NULL) {
        return PyErr_NoMemory();
    }
    if (time_product(&g, layout, repeats, seconds) == 0) {
        result = list_of_floats(seconds, repeats);
    }
    free(seconds);
    return result;
}

const char lc_time_gemm_doc[] =
    "_time_gemm(m, n, k, dtype, threads, params, repeats, layout, /)\n--\n\n"
    "Seconds of each of `repeats` GEMMs (after one warm-up) of a layer's product\n"
    "(layout 'fwd', 'gi' or 'wg') on dense operands, planned from the context\n"
    "with `params` ({name: int}) applied: for the tuner.";
