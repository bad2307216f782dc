/*
 * Backward (linear_backward.c): backward(), the gradients it accumulates,
 * their getters and zero_grad().
 */
#ifndef LINEARC_LINEAR_BACKWARD_H
#define LINEARC_LINEAR_BACKWARD_H

#include "lc_numpy.h"
#include "linear_object.h"

PyObject *lc_linear_backward(LinearObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames);
PyObject *lc_linear_zero_grad(LinearObject *self, PyObject *ignored);
PyObject *lc_linear_get_weight_grad(LinearObject *self, void *closure);
PyObject *lc_linear_get_bias_grad(LinearObject *self, void *closure);
/* Drop the layer's references to its gradients (for dealloc). */
void lc_linear_clear_grads(LinearObject *self);
extern const char lc_backward_doc[];

#endif
