/* One NumPy C-API table for the whole extension: module.c imports it, every
 * other file includes this header and uses the same symbol. */
#ifndef LINEARC_LC_NUMPY_H
#define LINEARC_LC_NUMPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PY_ARRAY_UNIQUE_SYMBOL linearc_ARRAY_API
#ifndef LC_NUMPY_IMPORT
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#endif
