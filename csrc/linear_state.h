/*
 * State dicts and pickling (linear_state.c).
 */
#ifndef LINEARC_LINEAR_STATE_H
#define LINEARC_LINEAR_STATE_H

#include "lc_numpy.h"
#include "linear_object.h"

PyObject *lc_linear_state_dict(LinearObject *self, PyObject *ignored);
PyObject *lc_linear_load_state_dict(LinearObject *self, PyObject *mapping);
PyObject *lc_linear_reduce(LinearObject *self, PyObject *ignored);
/* _rebuild(in_features, out_features, bias, dtype, weight, bias_values):
 * the other half of __reduce__ (a module function). */
PyObject *lc_rebuild_linear(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
