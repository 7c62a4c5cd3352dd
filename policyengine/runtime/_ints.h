/* An exact int that fits in 64 bits, as a C integer: event times and widths in microseconds,
 * day numbers, cooldown ends. Shared by the C modules of runtime/ that compare times without
 * Python's comparisons (_windows.c, _points.c). Anything else (a bool, a float, an int past 64
 * bits) says 0, and the caller asks Python. */
#ifndef POLICYENGINE_INTS_H
#define POLICYENGINE_INTS_H

#include <Python.h>

static inline int as_int64(PyObject *x, long long *out) {
    if (!PyLong_CheckExact(x)) return 0;
#if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    /* On 3.11 an int of up to two digits is read in place (its size is its sign and length):
     * event times in microseconds (~2^51) are two digits, and the API call was 1 % of the pack's
     * instructions. */
    Py_ssize_t size = Py_SIZE(x);
    if (size >= -2 && size <= 2) {
        const digit *d = ((PyLongObject *)x)->ob_digit;
        long long v = size == 0 ? 0 : (long long)d[0] | (size == 2 || size == -2 ? (long long)d[1] << 30 : 0);
        *out = size < 0 ? -v : v;
        return 1;
    }
#endif
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = v;
    return 1;
}

#endif
