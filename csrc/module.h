/* What the files of the extension share: the module state and the entry
 * points that linear.c offers module.c. */
#ifndef LINEARC_MODULE_H
#define LINEARC_MODULE_H

#include <stdatomic.h>

#include "lc_numpy.h"
#include "gemm.h"

typedef struct {
    PyTypeObject *linear_type;
    const lc_kernel_set *kernels;
    atomic_int threads; /* set_num_threads(); 0 follows OpenMP's setting */
} lc_state;

/* Threads the next GEMM may use. */
int lc_state_threads(lc_state *st);

/* linear.c */
PyObject *lc_linear_type_create(PyObject *module);
PyObject *lc_functional_linear(PyObject *module, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames);
PyObject *lc_rebuild_linear(PyObject *module, PyObject *const *args,
                            Py_ssize_t nargs);

#endif
