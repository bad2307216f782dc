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
    return Py_BuildValue("{sssisisssssNsNsN}", "vendor", cpu->vendor, "family", cpu->family,
                         "model", cpu->model, "brand", cpu->brand, "cache_source", cpu->source,
                         "l1d", cache_dict(&cpu->l1d), "l2", cache_dict(&cpu->l2), "l3",
                         cache_dict(&cpu->l3));
}

/* The kernels and block sizes of one element type. */
static PyObject *
dtype_dict(const lc_config *config, lc_dtype t)
{
    const lc_kernel_ops *ops = lc_config_ops(config, t);
    const lc_blocking *b = lc_config_blocking(config, t);
    const lc_blocking *m = lc_config_model(config, t);
    return Py_BuildValue("{s(ii)s(ii)sisisisisisisisssN}", "tile", ops->mr, ops->nr,
                         "direct_tile", ops->dmr, ops->dnr, "kc", b->kc, "mc", b->mc, "nc",
                         b->nc, "kc_direct", b->kc_direct, "kc_stream", b->kc_stream,
                         "direct_rows", b->direct_rows, "direct_cols", b->direct_cols,
                         "blocking_source", b->source, "model",
                         Py_BuildValue("{sisisisi}", "kc", m->kc, "mc", m->mc, "nc", m->nc,
                                       "kc_direct", m->kc_direct));
}

static PyObject *
build_config(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    lc_state *st = PyModule_GetState(module);
#ifdef LINEARC_HAVE_OPENMP
    PyObject *openmp = Py_True;
    const int omp_version = _OPENMP;
#else
    PyObject *openmp = Py_False;
    const int omp_version = 0;
#endif
    const lc_gemm_limits lim = lc_gemm_planner_limits();
    return Py_BuildValue(
        "{sssOsisisisssssNsNsNsN}", "compiler", LINEARC_COMPILER " " __VERSION__, "openmp",
        openmp, "openmp_version", omp_version, "threads", lc_state_threads(st), "max_threads",
        LC_MAX_THREADS, "isa", st->config.kernels->name, "isa_supported", lc_supported_isas(),
        "cpu", cpu_dict(), "float32", dtype_dict(&st->config, LC_F32), "float64",
        dtype_dict(&st->config, LC_F64), "planner",
        Py_BuildValue("{sdsnsn}", "serial_flops", lim.serial_flops, "copy_max_bytes",
                      (Py_ssize_t)lim.copy_max_bytes,
                      "direct_parallel_bytes", (Py_ssize_t)lim.direct_parallel_bytes));
}

/* _gemm_path(m, n, k, dtype, threads) -> (path, threads used): how the
 * forward GEMM of a layer runs on a contiguous input of that shape. */
static PyObject *
gemm_path(PyObject *module, PyObject *args)
{
    Py_ssize_t m, n, k;
    int threads;
    PyObject *dtype_obj;
    lc_dtype dtype;
    if (!PyArg_ParseTuple(args, "nnnOi:_gemm_path", &m, &n, &k, &dtype_obj, &threads) ||
        lc_dtype_from_object(dtype_obj, &dtype) < 0) {
        return NULL;
    }
    const ptrdiff_t es = (ptrdiff_t)lc_dtype_size(dtype);
    lc_state *st = PyModule_GetState(module);
    const lc_gemm_args g = {
        .dtype = dtype, .m = m, .n = n, .k = k,
        .a = {.data = NULL, .type = dtype, .rs = k * es, .cs = es},
        .b = {.data = NULL, .type = dtype, .rs = n * es, .cs = es},
        .ldc = n, .nthreads = threads, .config = &st->config,
    };
    int used = 1;
    const char *path = lc_gemm_path(&g, &used);
    return Py_BuildValue("(si)", path, used);
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
    const char *why = NULL;
    const char *request = getenv("LINEARC_ISA");
    const lc_kernel_set *kernels = lc_select_kernels(request, &why);
    if (kernels == NULL) {
        PyErr_Format(PyExc_ImportError,
                     "LINEARC_ISA=%s cannot be used: %s (this CPU supports: %s)", request,
                     why, lc_supported_isas());
        return -1;
    }
    if (lc_config_make(kernels, &st->config, &why) < 0) {
        PyErr_Format(PyExc_ImportError, "LINEARC_BLOCKING_F32/_F64 %s", why);
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
    module_clear((PyObject *)module);
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
