/*
 * Counting (linear_count.c): Linear.macs and Linear.flops, as thop and
 * torch's FlopCounterMode count.
 */
#ifndef LINEARC_LINEAR_COUNT_H
#define LINEARC_LINEAR_COUNT_H

#include "lc_numpy.h"
#include "linear_object.h"

PyObject *lc_linear_macs(LinearObject *self, PyObject *shape);
PyObject *lc_linear_flops(LinearObject *self, PyObject *args, PyObject *kwds);

#endif
