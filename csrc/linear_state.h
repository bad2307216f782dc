/*
 * State dicts and pickling (linear_state.c).
 */
#ifndef LINEARC_LINEAR_STATE_H
#define LINEARC_LINEAR_STATE_H

#include "lc_numpy.h"
#include "linear_object.h"

PyObject *lc_linear_state_dict(LinearObject *self, PyObject *ignored);
/* load_state_dict(state_dict, strict=True, assign=False), as torch's:
 * returns linearc._state._IncompatibleKeys(missing_keys, unexpected_keys). */
PyObject *lc_linear_load_state_dict(LinearObject *self, PyObject *args, PyObject *kwds);
/* (_rebuild, (in_features, out_features, bias, dtype, weight, bias_values));
 * _rebuild lives with the constructor, in linear.c. */
PyObject *lc_linear_reduce(LinearObject *self, PyObject *ignored);

#endif
