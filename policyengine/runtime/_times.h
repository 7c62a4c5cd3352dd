/* Times: a windowed count's event times, oldest first, as C integers in a ring — what Python keeps
 * as a deque of ints (helpers.window_count), for times that are ints of 64 bits (event times in
 * microseconds always are). Included by _windows.c, whose add_count, window_count and sweep use it.
 *
 * Why: `count(message by user within 10s)` added to a member's deque on every message. A deque
 * is a 0.5 kB block from malloc for each member, an int object for each time, and a method call to
 * append and to pop; the count was ~10 % of the community pack's time. A ring of C integers is
 * 8 bytes a time and no call.
 *
 * A Times reads as the deque would for everything outside the hot path: len, [i], iteration,
 * `evict(low)` (aggregates.evict), and state files write it as the deque (runtime/codec.py). A
 * time that is not an int of 64 bits (a float, a bool, past 64 bits) has the key's times kept as
 * a deque instead (_windows.c), compared by Python. */
#ifndef POLICYENGINE_TIMES_H
#define POLICYENGINE_TIMES_H

#include <Python.h>
#include "_ints.h"

typedef struct {
    PyObject_HEAD
    long long *ring;              /* cap slots; the oldest at head, len of them in use */
    Py_ssize_t head, len, cap;
} Times;

static PyTypeObject TimesType;

static inline long long times_oldest(const Times *t) { return t->ring[t->head]; }

/* Time i from the oldest. The capacity is a power of two (4, then doubled): the wrap is a mask. */
static inline long long times_at(const Times *t, Py_ssize_t i) { return t->ring[(t->head + i) & (t->cap - 1)]; }

/* One more time at the young end; the ring doubles when full. -1 with MemoryError. */
static int times_push(Times *t, long long v) {
    if (t->len == t->cap) {
        Py_ssize_t cap = t->cap ? 2 * t->cap : 4;
        long long *ring = PyMem_Malloc((size_t)cap * sizeof(long long));
        if (ring == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < t->len; i++) ring[i] = times_at(t, i);
        PyMem_Free(t->ring);
        t->ring = ring;
        t->head = 0;
        t->cap = cap;
    }
    t->ring[(t->head + t->len) & (t->cap - 1)] = v;
    t->len++;
    return 0;
}

static inline void times_pop_oldest(Times *t) {
    t->head = (t->head + 1) & (t->cap - 1);
    if (--t->len == 0) t->head = 0;
}

/* An empty Times (zeroed: no ring until the first time). */
static Times *times_new(void) { return (Times *)TimesType.tp_alloc(&TimesType, 0); }

static void Times_dealloc(Times *t) {
    PyMem_Free(t->ring);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t Times_len(Times *t) { return t->len; }

/* t[i], i in range (a negative index has had len added by PySequence_GetItem); iteration too. */
static PyObject *Times_item(Times *t, Py_ssize_t i) {
    if (i < 0 || i >= t->len) {
        PyErr_SetString(PyExc_IndexError, "Times index out of range");
        return NULL;
    }
    return PyLong_FromLongLong(times_at(t, i));
}

static PyObject *Times_repr(Times *t) {
    PyObject *list = PySequence_List((PyObject *)t);
    if (list == NULL) return NULL;
    PyObject *shown = PyUnicode_FromFormat("Times(%R)", list);
    Py_DECREF(list);
    return shown;
}

static PyObject *Times_evict(Times *t, PyObject *low);        /* _windows.c: it compares as windows do */

static PySequenceMethods Times_as_sequence = {.sq_length = (lenfunc)Times_len, .sq_item = (ssizeargfunc)Times_item};

static PyMethodDef Times_methods[] = {
    {"evict", (PyCFunction)Times_evict, METH_O, "evict(low): drop the times at or before low"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TimesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._windows.Times",
    .tp_basicsize = sizeof(Times),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a windowed count's times, oldest first (ints of 64 bits); made by add_count",
    .tp_dealloc = (destructor)Times_dealloc,
    .tp_repr = (reprfunc)Times_repr,
    .tp_methods = Times_methods,
    .tp_as_sequence = &Times_as_sequence,
};

#endif
