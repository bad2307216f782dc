/*
 * Any Python object -> an ndarray of numbers, the first step of every
 * conversion (arrays.h).
 */
#ifndef LINEARC_CONVERT_H
#define LINEARC_CONVERT_H

#include "lc_numpy.h"

/*
 * obj as an ndarray of numbers (a new reference), or NULL with the error:
 * TypeError naming the type for None, str, bytes, dicts, sets, generators and
 * other non-numbers; TypeError for masked arrays (their mask would be
 * ignored); ValueError for ragged nested sequences. torch tensors that
 * require grad are detached first. `what` names the argument ("input").
 * obj itself is never modified.
 */
PyArrayObject *lc_as_numeric_array(PyObject *obj, const char *what);

/* Whether obj is a numpy.ma.MaskedArray: 1, 0, or -1 with an error. */
int lc_is_masked_array(PyObject *obj);

#endif
