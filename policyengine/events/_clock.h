/* The record loop's clock (compiler/loop.py): the latest event time taken (the watermark) and a
 * bound at or before the earliest timer's due time, as C integers decode_timed compares each
 * event's time with (events/_records.c). The loop tested both itself, two comparisons an event of
 * ints past 30 bits, which Python 3.11 does not specialise (~400 instructions and 11 bytecodes an
 * event on the community pack); now it looks only when decode_timed gives no time and says why
 * (`stop`). The store keeps `due` up to date (runtime/store.py: its next_due), the loop
 * `watermark` (set from the store when a stretch starts, written back when it ends).
 *
 * events/records.py's PythonClock is the definition, for where this was not built.
 */
#ifndef POLICYENGINE_CLOCK_H
#define POLICYENGINE_CLOCK_H
#include <Python.h>
#include <math.h>
#include <stdint.h>

#include "_clock_state.h"   /* Clock: what route's iterator (events/_route.c) moves too */

static PyTypeObject ClockType;

/* What the clock decides for an event at `us` (which it then holds in ts): taken (the watermark
 * moved up to it), late, or taken with timers due first. */
static inline int clock_take(Clock *c, long long us) {
    c->ts = us;
    if (us < c->watermark) return c->stop = CLOCK_LATE;
    c->watermark = us;
    return c->stop = us >= c->due ? CLOCK_DUE : CLOCK_TAKEN;
}

/* A number as the clock keeps it: ints as they are, saturated at the ends of 64 bits; a float
 * rounded up (event times are ints: t < x exactly when t < ceil(x)), NaN as the lowest. -1 with
 * TypeError for anything else. */
static int clock_int(PyObject *value, long long *out) {
    if (PyLong_Check(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        *out = overflow > 0 ? INT64_MAX : overflow < 0 ? INT64_MIN : v;
        return 0;
    }
    if (PyFloat_Check(value)) {
        double d = ceil(PyFloat_AS_DOUBLE(value));
        *out = d != d ? INT64_MIN : d >= 9223372036854775807.0 ? INT64_MAX : d <= -9223372036854775808.0 ? INT64_MIN
                                                                                                    : (long long)d;
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "a clock keeps numbers");
    return -1;
}

static PyObject *Clock_get_watermark(Clock *c, void *Py_UNUSED(closure)) {
    return c->watermark == CLOCK_NO_TIME ? Py_NewRef(Py_None) : PyLong_FromLongLong(c->watermark);
}

static int Clock_set_watermark(Clock *c, PyObject *value, void *Py_UNUSED(closure)) {
    if (value == NULL || value == Py_None) {
        c->watermark = CLOCK_NO_TIME;
        return 0;
    }
    return clock_int(value, &c->watermark);
}

static PyObject *Clock_get_due(Clock *c, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(c->due); }

/* A due time the clock cannot hold as itself is held as the nearest that is not later. */
static int Clock_set_due(Clock *c, PyObject *value, void *Py_UNUSED(closure)) {
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "a clock's due time cannot be deleted");
        return -1;
    }
    long long due;
    if (clock_int(value, &due) < 0) return -1;
    if (PyFloat_Check(value) && due != INT64_MIN && (double)due != PyFloat_AS_DOUBLE(value)) due--;   /* not later */
    c->due = due;
    return 0;
}

static PyObject *Clock_get_ts(Clock *c, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(c->ts); }
static PyObject *Clock_get_stop(Clock *c, void *Py_UNUSED(closure)) { return PyLong_FromLong(c->stop); }

static PyGetSetDef Clock_getset[] = {
    {"watermark", (getter)Clock_get_watermark, (setter)Clock_set_watermark, "the latest event time taken, or None", NULL},
    {"due", (getter)Clock_get_due, (setter)Clock_set_due, "at or before the earliest timer's due time", NULL},
    {"ts", (getter)Clock_get_ts, NULL, "the time of the event last given back without one", NULL},
    {"stop", (getter)Clock_get_stop, NULL, "why: 1 ask Python, 2 late, 3 timers due", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *Clock_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (!_PyArg_NoPositional("Clock", args) || !_PyArg_NoKeywords("Clock", kwargs)) return NULL;
    Clock *c = (Clock *)type->tp_alloc(type, 0);
    if (c == NULL) return NULL;
    c->watermark = CLOCK_NO_TIME;
    c->due = INT64_MAX;
    return (PyObject *)c;
}

static PyTypeObject ClockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.events._records.Clock",
    .tp_basicsize = sizeof(Clock),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Clock(): the record loop's watermark and next due time, as decode_timed reads them",
    .tp_new = Clock_new,
    .tp_getset = Clock_getset,
};

#endif
