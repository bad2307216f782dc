/*
 * The layer's parameters (linear_params.c): initialisation, the weight and
 * bias views and copies, assignment, and the methods and properties that
 * expose them.
 */
#ifndef LINEARC_LINEAR_PARAMS_H
#define LINEARC_LINEAR_PARAMS_H

#include <stdint.h>

#include "lc_numpy.h"
#include "linear_object.h"

enum { LC_WEIGHT = 0, LC_BIAS = 1 };
enum { LC_AS_VIEW = 0, LC_AS_COPY = 1 };

/* A seed: None (fresh entropy) or an int in [0, 2**64); the one place
 * seeds are checked. 0, or -1 with TypeError/ValueError. */
int lc_linear_parse_seed(PyObject *seed, uint64_t *value);
/* Draw weight and bias from U(-1/sqrt(in), 1/sqrt(in)) as torch does. */
int lc_linear_init_parameters(LinearObject *self, PyObject *seed);

/* LC_WEIGHT or LC_BIAS (None without one), as a view of the layer's memory
 * (base: the layer) or as a C-ordered copy. */
PyObject *lc_linear_parameter(LinearObject *self, int which, int how);
/* `value` checked and converted for that parameter (new reference). */
PyArrayObject *lc_linear_parameter_from_object(LinearObject *self, int which,
                                               PyObject *value);
/* Copy a converted value in; 0 or -1. */
int lc_linear_store_parameter(LinearObject *self, int which, PyArrayObject *src);

/* Properties. */
PyObject *lc_linear_get_weight(LinearObject *self, void *closure);
int lc_linear_set_weight(LinearObject *self, PyObject *value, void *closure);
PyObject *lc_linear_get_bias(LinearObject *self, void *closure);
int lc_linear_set_bias(LinearObject *self, PyObject *value, void *closure);
PyObject *lc_linear_get_dtype(LinearObject *self, void *closure);
PyObject *lc_linear_get_num_parameters(LinearObject *self, void *closure);

/* Methods. */
PyObject *lc_linear_reset_parameters(LinearObject *self, PyObject *args, PyObject *kwds);
PyObject *lc_linear_parameters(LinearObject *self, PyObject *ignored);
PyObject *lc_linear_named_parameters(LinearObject *self, PyObject *ignored);

#endif
