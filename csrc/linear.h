/*
 * The Linear type (linear.c): construction, the method table and the type
 * object, which module.c creates. The methods live in linear_params.c,
 * linear_state.c, linear_forward.c, linear_backward.c and linear_count.c.
 */
#ifndef LINEARC_LINEAR_H
#define LINEARC_LINEAR_H

#include "lc_numpy.h"

PyObject *lc_linear_type_create(PyObject *module);

/* _rebuild(in_features, out_features, bias, dtype, weight, bias_values):
 * the other half of Linear.__reduce__ (a module function). */
PyObject *lc_rebuild_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
