/*
 * linearc._linearc: multi-phase init, module state (the Linear type, the
 * kernel set chosen at import, the thread setting), and the module-level
 * functions.
 */
#define LC_NUMPY_IMPORT
#include "arrays.h" /* Python.h first */
#include "dispatch.h"
#include "config.h"
#include "gemm.h"
#include "linear.h"
#include "linear_forward.h"
#include "linear_state.h"
#include "pack.h"
#include "state.h"
#include "threads.h"
#include "tuning.h"
#include "workspace.h"

#include <stdlib.h>

#ifndef LINEARC_COMPILER
#define LINEARC_COMPILER "unknown"
#endif

static PyObject *
set_num_threads(PyObject *module, PyObject *arg)
{
    lc_state *st = PyModule_GetState(module);
    if (arg == Py_None) {
        atomic_store(&st->threads, 0);
        Py_RETURN_NONE;
    }
    PyObject *idx = lc_as_index(arg, "set_num_threads() takes an int or None");
    if (idx == NULL) {
        return NULL;
    }
    int overflow = 0;
    const long long n = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow != 0 || n < 1 || n > LC_MAX_THREADS) {
        PyErr_Format(PyExc_ValueError,
                     "set_num_threads() needs 1 <= n <= %d (linearc's maximum), got %S",
                     LC_MAX_THREADS, arg);
        return NULL;
    }
    atomic_store(&st->threads, (int)n);
    Py_RETURN_NONE;
}

static PyObject *
get_num_threads(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(lc_state_threads(PyModule_GetState(module)));
}

static PyObject *
cache_dict(const lc_cache *k)
{
    return Py_BuildValue("{snsisisisi}", "size", (Py_ssize_t)k->size, "ways", k->ways, "line",
                         k->line, "sets", k->sets, "sharing", k->sharing);
}

static PyObject *
cpu_dict(void)
{
    const lc_cpu *cpu = lc_cpu_info();
    return Py_BuildValue("{sssisisisssssNsNsN}", "vendor", cpu->vendor, "family", cpu->family,
                         "model", cpu->model, "stepping", cpu->stepping, "brand", cpu->brand,
                         "cache_source", cpu->source, "l1d", cache_dict(&cpu->l1d), "l2",
                         cache_dict(&cpu->l2), "l3", cache_dict(&cpu->l3));
}

/* {name: value} of every parameter, or {name: origin} if origins. */
static PyObject *
params_dict(const lc_params *p, int origins)
{
    lc_params copy = *p;
    PyObject *d = PyDict_New();
    for (int i = 0; d != NULL && i < LC_PARAMS_COUNT; i++) {
        PyObject *v = origins ? PyUnicode_FromString(lc_origin_name(p->origin[i]))
                              : PyLong_FromLong(*lc_param(&copy, i));
        if (v == NULL || PyDict_SetItemString(d, lc_param_names[i], v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(v);
    }
    return d;
}

/* One element type: the tiles, every parameter in use (flat, by name), where
 * each comes from, and what defaults and the cache model alone give. */
static PyObject *
dtype_dict(const lc_context *ctx, lc_dtype t)
{
    const lc_kernel_ops *ops = lc_context_ops(ctx, t);
    const lc_params *p = lc_context_params(ctx, t);
    PyObject *d = params_dict(p, 0);
    if (d == NULL) {
        return NULL;
    }
    PyObject *extra = Py_BuildValue(
        "{s(ii)s(ii)sNsNsz}", "tile", ops->mr, ops->nr, "direct_tile", ops->dmr, ops->dnr,
        "origin", params_dict(p, 1), "model", params_dict(lc_context_model(ctx, t), 0),
        "measured", p->measured);
    if (extra == NULL || PyDict_Update(d, extra) < 0) {
        Py_XDECREF(extra);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(extra);
    return d;
}

/* {name: {"compute": name, "itemsize": bytes}} of every layer dtype: the
 * half types are stored as such and computed in float32 chains, on the
 * float32 kernels and parameters. */
static PyObject *
dtypes_dict(void)
{
    static const lc_dtype all[] = {LC_F32, LC_F64, LC_F16, LC_BF16};
    PyObject *d = PyDict_New();
    for (size_t i = 0; d != NULL && i < sizeof all / sizeof *all; i++) {
        PyObject *v = Py_BuildValue("{sssn}", "compute", lc_dtype_name(lc_compute_type(all[i])),
                                    "itemsize", (Py_ssize_t)lc_dtype_size(all[i]));
        if (v == NULL || PyDict_SetItemString(d, lc_dtype_name(all[i]), v) < 0) {
            Py_CLEAR(d);
        }
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *
build_config(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    lc_state *st = PyModule_GetState(module);
    const lc_context *ctx = lc_state_context(st);
#ifdef LINEARC_HAVE_OPENMP
    PyObject *openmp = Py_True;
    const int omp_version = _OPENMP;
#else
    PyObject *openmp = Py_False;
    const int omp_version = 0;
#endif
    const lc_gemm_limits lim = lc_gemm_planner_limits();
    return Py_BuildValue(
        "{sssssOsisisisssssNsNsNsNsN}", "arch", LC_BUILD_ARCH, "compiler",
        LINEARC_COMPILER " " __VERSION__, "openmp",
        openmp, "openmp_version", omp_version, "threads", lc_state_threads(st), "max_threads",
        LC_MAX_THREADS, "isa", ctx->kernels->name, "isa_supported", lc_supported_isas(),
        "cpu", cpu_dict(), "float32", dtype_dict(ctx, LC_F32), "float64",
        dtype_dict(ctx, LC_F64), "planner",
        Py_BuildValue("{snsi}", "copy_max_bytes", (Py_ssize_t)lim.copy_max_bytes,
                      "row_tiles_per_thread", lim.row_tiles_per_thread),
        "dtypes", dtypes_dict());
}

/* The forward GEMM of a layer on a contiguous (m, k) input, from
 * (m, n, k, dtype, threads). */
static int
forward_args(PyObject *module, PyObject *args, const char *fmt, lc_gemm_args *g)
{
    Py_ssize_t m, n, k;
    int threads;
    PyObject *dtype_obj;
    lc_dtype dtype;
    if (!PyArg_ParseTuple(args, fmt, &m, &n, &k, &dtype_obj, &threads) ||
        lc_dtype_from_object(dtype_obj, &dtype) < 0) {
        return -1;
    }
    if (m < 0 || n < 0 || k < 0 || threads < 1) {
        PyErr_SetString(PyExc_ValueError, "sizes must be >= 0 and threads >= 1");
        return -1;
    }
    /* A half layer's: half operands, bias and result, float32 chains. */
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(dtype);
    *g = (lc_gemm_args){
        .dtype = lc_compute_type(dtype), .m = m, .n = n, .k = k,
        .a = {.data = NULL, .type = dtype, .rs = k * es, .cs = es},
        .b = {.data = NULL, .type = dtype, .rs = n * es, .cs = es},
        .ldc = n, .nthreads = threads, .ctx = lc_state_context(PyModule_GetState(module)),
        .c_type = dtype, .bias_type = dtype, /* (a float32 or float64 C: of dtype) */
    };
    return 0;
}

/* _gemm_path(m, n, k, dtype, threads) -> (path, threads used). */
static PyObject *
gemm_path(PyObject *module, PyObject *args)
{
    lc_gemm_args g;
    if (forward_args(module, args, "nnnOi:_gemm_path", &g) < 0) {
        return NULL;
    }
    const lc_gemm_plan plan = lc_gemm_make_plan(&g);
    return Py_BuildValue("(si)", lc_gemm_path_name(plan.path), plan.threads);
}

/* _gemm_plan(m, n, k, dtype, threads) -> every decision, as a dict. */
static PyObject *
gemm_plan(PyObject *module, PyObject *args)
{
    lc_gemm_args g;
    if (forward_args(module, args, "nnnOi:_gemm_plan", &g) < 0) {
        return NULL;
    }
    const lc_gemm_plan p = lc_gemm_make_plan(&g);
    return Py_BuildValue("{sssisOsOsOsnsnsnsOsnsnsn}", "path", lc_gemm_path_name(p.path),
                         "threads", p.threads, "copy_a", p.copy_a ? Py_True : Py_False,
                         "split_rows", p.split_rows ? Py_True : Py_False, "shared_a",
                         p.shared_a ? Py_True : Py_False, "kc", (Py_ssize_t)p.kc, "nc",
                         (Py_ssize_t)p.nc, "mc", (Py_ssize_t)p.mc, "widen_b",
                         p.widen_b ? Py_True : Py_False, "b_cols", (Py_ssize_t)p.b_cols,
                         "home_rows", (Py_ssize_t)p.home_rows, "workspace_bytes",
                         (Py_ssize_t)p.ws_bytes);
}

/* _time_gemm for the tuner, which times float32 and float64 products (a
 * half layer's run on the float32 parameters): a half dtype is refused
 * here, before tuning.c would take it for a compute type. */
static PyObject *
time_gemm(PyObject *module, PyObject *args)
{
    lc_dtype t;
    if (PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 3 &&
        lc_dtype_from_object(PyTuple_GET_ITEM(args, 3), &t) == 0 && lc_is_half(t)) {
        PyErr_Format(PyExc_TypeError,
                     "_time_gemm times float32 or float64 products, not %s (a %s layer "
                     "computes on the float32 parameters)", lc_dtype_name(t), lc_dtype_name(t));
        return NULL;
    }
    PyErr_Clear(); /* any other bad dtype: lc_time_gemm says it */
    return lc_time_gemm(module, args);
}

static PyObject *
check_measured_table(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    int count = 0;
    const lc_kernel_set *const *sets = lc_built_kernel_sets(&count);
    const char *bad = lc_measured_table_check(sets, count);
    return bad ? PyUnicode_FromString(bad) : Py_NewRef(Py_None);
}

static PyObject *
result_cache_bytes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(lc_result_cached_bytes());
}

static PyObject *
packed_bytes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromUnsignedLongLong(lc_packed_bytes());
}

static PyObject *
workspace_bytes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(lc_workspace_pooled_bytes());
}

static PyMethodDef module_methods[] = {
    {"linear", (PyCFunction)(void (*)(void))lc_functional_linear,
     METH_FASTCALL | METH_KEYWORDS, lc_functional_linear_doc},
    {"set_num_threads", set_num_threads, METH_O,
     "set_num_threads(n, /)\n--\n\nUse n threads in the GEMM (1 <= n <= 256); None goes back\n"
     "to following OpenMP's setting (OMP_NUM_THREADS, threadpoolctl)."},
    {"get_num_threads", get_num_threads, METH_NOARGS,
     "get_num_threads()\n--\n\nThreads the GEMM may use: set_num_threads(), else\n"
     "OpenMP's setting (OMP_NUM_THREADS, threadpoolctl), else the cores available;\n"
     "at most 256 and OMP_THREAD_LIMIT; 1 in a build without OpenMP, and in a\n"
     "fork() child whose parent may have had an OpenMP pool."},
    {"_build_config", build_config, METH_NOARGS,
     "_build_config()\n--\n\nHow the extension was built and what it runs on (raw dict)."},
    {"_gemm_path", gemm_path, METH_VARARGS,
     "_gemm_path(m, n, k, dtype, threads, /)\n--\n\n"
     "(path, threads used) of a forward GEMM of that shape."},
    {"_gemm_plan", gemm_plan, METH_VARARGS,
     "_gemm_plan(m, n, k, dtype, threads, /)\n--\n\n"
     "Every decision the GEMM makes for a forward product of that shape."},
    {"_tune_params", lc_tune_params, METH_VARARGS, lc_tune_params_doc},
    {"_check_measured_table", check_measured_table, METH_NOARGS,
     "_check_measured_table()\n--\n\n"
     "None if every row of the measured table fits its kernel set, else the row."},
    {"_time_gemm", time_gemm, METH_VARARGS, lc_time_gemm_doc},
    {"_workspace_bytes", workspace_bytes, METH_NOARGS,
     "_workspace_bytes()\n--\n\nBytes held by the pool of packing buffers."},
    {"_result_cache_bytes", result_cache_bytes, METH_NOARGS,
     "_result_cache_bytes()\n--\n\nBytes of result buffers kept for reuse."},
    {"_packed_bytes", packed_bytes, METH_NOARGS,
     "_packed_bytes()\n--\n\nBytes the GEMM has packed since import (a running count)."},
    {"_rebuild", (PyCFunction)(void (*)(void))lc_rebuild_linear, METH_FASTCALL,
     "_rebuild(in_features, out_features, bias, dtype, weight, bias_values, /)\n--\n\n"
     "Unpickle a Linear (the other half of Linear.__reduce__)."},
    {NULL, NULL, 0, NULL},
};

static int
module_exec(PyObject *module)
{
    lc_state *st = PyModule_GetState(module);
    if (PyArray_ImportNumPyAPI() < 0) {
        return -1;
    }
    const char *why = lc_kernel_sets_check();
    if (why != NULL) {
        PyErr_Format(PyExc_ImportError, "linearc's kernel tables are inconsistent: %s", why);
        return -1;
    }
    const char *request = getenv("LINEARC_ISA");
    const lc_kernel_set *kernels = lc_select_kernels(request, &why);
    if (kernels == NULL) {
        PyErr_Format(PyExc_ImportError,
                     "LINEARC_ISA=%s cannot be used: %s (this CPU supports: %s)", request,
                     why, lc_supported_isas());
        return -1;
    }
    lc_context_node *node = PyMem_RawMalloc(sizeof *node);
    if (node == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    node->older = NULL;
    atomic_store(&st->ctx, node);
    if (lc_context_make(kernels, &node->ctx, &why) < 0) {
        PyErr_Format(PyExc_ImportError, "linearc's context for this CPU is invalid: %s", why);
        return -1;
    }
    const char *bad = NULL;
    if (lc_context_apply_environment(&node->ctx, &bad, &why) < 0) {
        PyErr_Format(PyExc_ImportError, "%s=%s cannot be used: %s", bad, getenv(bad), why);
        return -1;
    }
    atomic_store(&st->threads, 0);
    lc_threads_init();
    st->linear_type = (PyTypeObject *)lc_linear_type_create(module);
    if (st->linear_type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Linear", (PyObject *)st->linear_type) < 0) {
        return -1;
    }
    return 0;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    lc_state *st = PyModule_GetState(module);
    Py_VISIT(st->linear_type);
    return 0;
}

static int
module_clear(PyObject *module)
{
    lc_state *st = PyModule_GetState(module);
    Py_CLEAR(st->linear_type);
    return 0;
}

static void
module_free(void *module)
{
    lc_state *st = PyModule_GetState((PyObject *)module);
    module_clear((PyObject *)module);
    for (lc_context_node *node = st ? atomic_load(&st->ctx) : NULL; node != NULL;) {
        lc_context_node *older = node->older;
        PyMem_RawFree(node);
        node = older;
    }
    if (st != NULL) {
        atomic_store(&st->ctx, NULL);
    }
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* NumPy itself cannot be loaded in several interpreters. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* Shared state is atomic or behind a mutex. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "linearc._linearc",
    .m_doc = "The C core of linearc: the Linear type, its GEMM and their settings.",
    .m_size = sizeof(lc_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__linearc(void)
{
    return PyModuleDef_Init(&module_def);
}
