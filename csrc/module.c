/*
 * linearc._linearc: multi-phase init, module state (the Linear type, the
 * kernel set chosen at import, the thread setting), and the module-level
 * functions.
 */
#define LC_NUMPY_IMPORT
#include "arrays.h" /* Python.h first */
#include "dispatch.h"
#include "module.h"
#include "workspace.h"

#include <stdlib.h>

#ifndef LINEARC_COMPILER
#define LINEARC_COMPILER "unknown"
#endif

int
lc_state_threads(lc_state *st)
{
    const int requested = atomic_load(&st->threads);
    if (requested <= 0) {
        return lc_max_threads(); /* OpenMP's setting for this thread */
    }
    return lc_in_forked_child() ? 1 : requested;
}

static PyObject *
set_num_threads(PyObject *module, PyObject *arg)
{
    lc_state *st = PyModule_GetState(module);
    if (arg == Py_None) {
        atomic_store(&st->threads, 0);
        Py_RETURN_NONE;
    }
    if (PyBool_Check(arg) || !PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "set_num_threads() takes an int, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "set_num_threads() needs n >= 1, got %ld", n);
        return NULL;
    }
    atomic_store(&st->threads, n > 1024 ? 1024 : (int)n);
    Py_RETURN_NONE;
}

static PyObject *
get_num_threads(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(lc_state_threads(PyModule_GetState(module)));
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
    const lc_blocking *b32 = &st->kernels->f32, *b64 = &st->kernels->f64;
    return Py_BuildValue(
        "{sssOsisisssssisisisisi"
        "s(iiiii)s(iiiii)}",
        "compiler", LINEARC_COMPILER " " __VERSION__,
        "openmp", openmp,
        "openmp_version", omp_version,
        "threads", lc_state_threads(st),
        "isa", st->kernels->name,
        "isa_supported", lc_supported_isas(),
        "tile_f32", st->kernels->f32.mr * 1000 + st->kernels->f32.nr,
        "tile_f64", st->kernels->f64.mr * 1000 + st->kernels->f64.nr,
        "dot_max_rows", LC_DOT_MAX_ROWS,
        "rows_max_f32", st->kernels->tilet_f32 ? 2 * st->kernels->tilet_lanes_f32 : 0,
        "rows_max_f64", st->kernels->tilet_f64 ? 2 * st->kernels->tilet_lanes_f64 : 0,
        "blocking_f32", b32->mr, b32->nr, b32->kc, b32->mc, b32->nc,
        "blocking_f64", b64->mr, b64->nr, b64->kc, b64->mc, b64->nc);
}

/* _gemm_path(m, n, k, dtype, threads) -> (path, threads used): how a forward
 * GEMM of that shape runs. For tests and benchmarks. */
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
    lc_gemm_args g = {
        .dtype = dtype, .m = m, .n = n, .k = k,
        .a = {.data = NULL, .type = dtype, .rs = k * es, .cs = es},
        .b = {.data = NULL, .type = dtype, .rs = k * es, .cs = es},
        .ldc = n, .nthreads = threads, .kernels = st->kernels,
    };
    int used = 1;
    const char *path = lc_gemm_path(&g, &used);
    return Py_BuildValue("(si)", path, used);
}

static PyObject *
workspace_bytes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(lc_workspace_pooled_bytes());
}

PyDoc_STRVAR(linear_doc,
"linear(x, weight, bias=None, *, out=None)\n--\n\n"
"Functional form, as torch.nn.functional.linear: x @ weight.T + bias for x\n"
"of shape (*, in_features) and weight of shape (out_features, in_features).\n"
"Computes in float32 when weight is float32 (or float16), else in float64.");

static PyMethodDef module_methods[] = {
    {"linear", (PyCFunction)(void (*)(void))lc_functional_linear,
     METH_FASTCALL | METH_KEYWORDS, linear_doc},
    {"set_num_threads", set_num_threads, METH_O,
     "set_num_threads(n, /)\n--\n\nUse at most n threads in the GEMM (n >= 1); None goes back\n"
     "to following OpenMP's setting (OMP_NUM_THREADS, threadpoolctl)."},
    {"get_num_threads", get_num_threads, METH_NOARGS,
     "get_num_threads()\n--\n\nThreads the GEMM may use: set_num_threads(), else\n"
     "OpenMP's setting (OMP_NUM_THREADS, threadpoolctl), else the cores available."},
    {"_build_config", build_config, METH_NOARGS,
     "_build_config()\n--\n\nHow the extension was built and what it runs on (raw dict)."},
    {"_gemm_path", gemm_path, METH_VARARGS,
     "_gemm_path(m, n, k, dtype, threads, /)\n--\n\n"
     "(path, threads used) of a forward GEMM of that shape."},
    {"_workspace_bytes", workspace_bytes, METH_NOARGS,
     "_workspace_bytes()\n--\n\nBytes held by the pool of packing buffers."},
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
    st->kernels = lc_select_kernels(request, &why);
    if (st->kernels == NULL) {
        PyErr_Format(PyExc_ImportError,
                     "LINEARC_ISA=%s cannot be used: %s (this CPU supports: %s)", request,
                     why, lc_supported_isas());
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
