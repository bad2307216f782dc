/*
 * Counting (linear_count.c): Linear.macs and Linear.flops, as thop and
 * torch's FlopCounterMode count.
 */
#ifndef LINEARC_LINEAR_COUNT_H
#define LINEARC_LINEAR_COUNT_H

#include "lc_numpy.h"
#include "linear_object.h"

/* The counting rule (linear_count.c): an ndarray, a torch tensor or a
 * nested list of numbers is the input, a tuple of ints its shape. */
PyObject *lc_linear_macs(LinearObject *self, PyObject *x);
PyObject *lc_linear_flops(LinearObject *self, PyObject *args, PyObject *kwds);
/* Linear._input_shape(x): the shape the rule gives, checked, as a tuple of
 * ints; what linearc.summary counts from. */
PyObject *lc_linear_input_shape(LinearObject *self, PyObject *x);

#endif
