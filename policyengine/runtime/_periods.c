/* A calendar's day() in C: runtime/periods.py's Calendar.day, which keeps the stretch of UTC
 * microseconds its last answer holds for. Here the stretch is two C integers and the answer one
 * comparison away; outside it, the Python definition works out the day and its stretch.
 *
 * Why: the community pack asks for the day on most messages (active days, the daily cap on
 * points), and the method's frame cost more than the answer. tests/test_incentives.py walks it
 * against zoneinfo through daylight-saving switches.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_ints.h"
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    vectorcallfunc call;
    PyObject *find;              /* fn(us) → (day, low, high): the stretch [low, high), or Nones */
    long long low, high;         /* empty until the first answer with a stretch */
    PyObject *day;
} Day;

static PyObject *Day_call(Day *d, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "day(us)");
        return NULL;
    }
    PyObject *us = args[0];
    long long at;
    if (d->day != NULL && as_int64(us, &at) && d->low <= at && at < d->high) return Py_NewRef(d->day);
    PyObject *found = PyObject_CallOneArg(d->find, us);
    if (found == NULL) return NULL;
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 3) {
        Py_DECREF(found);
        PyErr_SetString(PyExc_TypeError, "find must give (day, low, high)");
        return NULL;
    }
    PyObject *day = PyTuple_GET_ITEM(found, 0), *low = PyTuple_GET_ITEM(found, 1), *high = PyTuple_GET_ITEM(found, 2);
    if (PyLong_CheckExact(low) && PyLong_CheckExact(high)) {
        int o1, o2;
        long long lo = PyLong_AsLongLongAndOverflow(low, &o1), hi = PyLong_AsLongLongAndOverflow(high, &o2);
        if (!o1 && !o2 && !PyErr_Occurred()) {
            d->low = lo;
            d->high = hi;
            Py_XSETREF(d->day, Py_NewRef(day));
        }
        PyErr_Clear();
    }
    Py_INCREF(day);
    Py_DECREF(found);
    return day;
}

static PyObject *Day_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *find;
    static char *names[] = {"find", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Day", names, &find)) return NULL;
    Day *d = (Day *)type->tp_alloc(type, 0);
    if (d == NULL) return NULL;
    d->call = (vectorcallfunc)Day_call;
    d->find = Py_NewRef(find);
    d->low = d->high = 0;
    d->day = NULL;
    return (PyObject *)d;
}

static int Day_traverse(Day *d, visitproc visit, void *arg) {
    Py_VISIT(d->find);
    Py_VISIT(d->day);
    return 0;
}

static int Day_clear(Day *d) {
    Py_CLEAR(d->find);
    Py_CLEAR(d->day);
    return 0;
}

static void Day_dealloc(Day *d) {
    PyObject_GC_UnTrack(d);
    Day_clear(d);
    Py_TYPE(d)->tp_free((PyObject *)d);
}

static PyTypeObject DayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._periods.Day",
    .tp_basicsize = sizeof(Day),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Day(find): day(us) with the stretch of its last answer kept",
    .tp_new = Day_new,
    .tp_dealloc = (destructor)Day_dealloc,
    .tp_traverse = (traverseproc)Day_traverse,
    .tp_clear = (inquiry)Day_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Day, call),
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_periods", NULL, 0, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__periods(void) {
    if (PyType_Ready(&DayType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Day", (PyObject *)&DayType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
