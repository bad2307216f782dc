/*
 * Any Python object -> an ndarray of numbers, with what NumPy's conversion
 * would let through silently refused or handled first: masked arrays
 * wherever they hide, raw bytes, torch tensors NumPy cannot take.
 */
#ifndef LINEARC_CONVERT_H
#define LINEARC_CONVERT_H

#include "lc_numpy.h"

/*
 * obj as an ndarray of numbers (a new reference), or NULL with the error:
 * TypeError naming the type for None, str, dicts, sets, generators and
 * other non-numbers; TypeError for raw bytes (bytes, bytearray, buffers of
 * format 'B', 'b' or 'c': np.frombuffer says what they hold); TypeError for
 * masked arrays (their mask would be ignored) wherever they are: given
 * directly, nested in sequences, returned by __array__, under a memoryview,
 * or declared as the mask of an __array_interface__; ValueError for ragged
 * nested sequences. torch tensors (recognised without importing torch) that
 * require grad are detached first; bfloat16 and float8 ones are widened to
 * float32 (exactly); other dtypes NumPy lacks are a TypeError naming them.
 * A plain ndarray is returned as it is, without any scan. `what` names the
 * argument ("input"). obj itself is never modified.
 */
PyArrayObject *lc_as_numeric_array(PyObject *obj, const char *what);

/* Whether obj is a numpy.ma.MaskedArray: 1, 0, or -1 with an error. */
int lc_is_masked_array(PyObject *obj);

#endif
