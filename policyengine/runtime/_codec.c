/* runtime/codec.py's `encode` in C: a state value as JSON that keeps its kind, for the common
 * shapes — atoms as they are, an exact list as a list, an exact tuple as {"t": [...]}, an exact
 * dict as {"d": [[key, value], ...]} — and anything else (sets, deques, windows, subclasses) by
 * the Python form it is given (`plain_encode`), which hands what it holds back here.
 *
 * Why: a checkpoint of `eval --state` rewrites the whole state, and encoding it in Python was
 * most of one: over 10M events and 1M members ~0.75 s a checkpoint of ~1.2 s. Held to
 * codec.plain_encode by tests/test_state.py. */
#include <Python.h>

static PyObject *s_t, *s_d;

static PyObject *encode(PyObject *value, PyObject *other);

/* The encoded items of a list or tuple, as a new list. */
static PyObject *encode_items(PyObject *const *items, Py_ssize_t n, PyObject *other) {
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *item = encode(items[i], other);
        if (item == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* {key: value}, new. */
static PyObject *tagged(PyObject *key, PyObject *value) {
    if (value == NULL) return NULL;
    PyObject *d = PyDict_New();
    if (d == NULL || PyDict_SetItem(d, key, value) < 0) Py_CLEAR(d);
    Py_DECREF(value);
    return d;
}

static PyObject *encode(PyObject *value, PyObject *other) {
    PyTypeObject *type = Py_TYPE(value);
    if (value == Py_None || type == &PyLong_Type || type == &PyUnicode_Type || type == &PyFloat_Type
        || type == &PyBool_Type)
        return Py_NewRef(value);
    if (Py_EnterRecursiveCall(" while encoding a state value")) return NULL;
    PyObject *out;
    if (type == &PyList_Type) {
        out = encode_items(((PyListObject *)value)->ob_item, PyList_GET_SIZE(value), other);
    } else if (type == &PyTuple_Type) {
        out = tagged(s_t, encode_items(((PyTupleObject *)value)->ob_item, PyTuple_GET_SIZE(value), other));
    } else if (type == &PyDict_Type) {
        PyObject *pairs = PyList_New(0), *k, *v;
        Py_ssize_t pos = 0;
        /* the dict is held while its keys and values are encoded: `other` runs Python */
        Py_INCREF(value);
        while (pairs != NULL && PyDict_Next(value, &pos, &k, &v)) {
            Py_INCREF(k);
            Py_INCREF(v);
            PyObject *ek = encode(k, other), *ev = ek != NULL ? encode(v, other) : NULL;
            PyObject *pair = ev != NULL ? PyList_New(2) : NULL;
            Py_DECREF(k);
            Py_DECREF(v);
            if (pair == NULL) {
                Py_XDECREF(ek);
                Py_XDECREF(ev);
                Py_CLEAR(pairs);
                break;
            }
            PyList_SET_ITEM(pair, 0, ek);
            PyList_SET_ITEM(pair, 1, ev);
            if (PyList_Append(pairs, pair) < 0) Py_CLEAR(pairs);
            Py_DECREF(pair);
        }
        Py_DECREF(value);
        out = tagged(s_d, pairs);
    } else {
        out = PyObject_CallOneArg(other, value);
    }
    Py_LeaveRecursiveCall();
    return out;
}

static PyObject *codec_encode(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode(value, other)");
        return NULL;
    }
    return encode(args[0], args[1]);
}

static PyMethodDef functions[] = {
    {"encode", (PyCFunction)(void (*)(void))codec_encode, METH_FASTCALL,
     "encode(value, other): codec.encode's common shapes in C, other(value) for the rest"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_codec", NULL, 0, functions, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__codec(void) {
    if ((s_t = PyUnicode_InternFromString("t")) == NULL || (s_d = PyUnicode_InternFromString("d")) == NULL) return NULL;
    return PyModule_Create(&module);
}
