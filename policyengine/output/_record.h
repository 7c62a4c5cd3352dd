/* Decision records, part of output/_decisions.c (included there once, after its strings): the
 * Record type, `materialize`, and the test-side constructor `record`. */
#ifndef POLICYENGINE_RECORD_H
#define POLICYENGINE_RECORD_H

/* ---- decision records ---------------------------------------------------------------------- */
/* A decision as the giver makes it, without a dict: ts, policy, rule, action, user and
 * event_id in `head` (NULL where absent), then up to DECISION_FIELDS fields in order. Read as a
 * mapping it is the dict helpers.decision would have made (same keys, same order, == to it); the
 * writer and the tally read it directly; `materialize` turns records into dicts wherever
 * decisions leave `eval`'s own path (output/decisions.py).
 *
 * Why: a dict decision is a copy of a template (two allocations), five stores that look up their
 * keys, and at the writer an iteration and at the tally three lookups; the community pack makes
 * one on every other event (its points rule). Not tracked by the cycle collector: a record holds
 * strings and numbers that the rules computed, never a container that could lead back to it. */
#define HEAD 6
typedef struct {
    PyObject_HEAD
    PyObject *head[HEAD];
    int n;
    PyObject *keys[DECISION_FIELDS], *values[DECISION_FIELDS];
} Record;

static PyTypeObject RecordType;
static PyObject *head_keys[HEAD];                   /* "ts", "policy", "rule", "action", "user", "event_id" */

/* The i-th slot's key and value (borrowed), for i in [0, HEAD + n); value NULL: absent. */
static inline void record_slot(const Record *r, int i, PyObject **key, PyObject **value) {
    if (i < HEAD) {
        *key = head_keys[i];
        *value = r->head[i];
    } else {
        *key = r->keys[i - HEAD];
        *value = r->values[i - HEAD];
    }
}

static PyObject *record_make(PyObject *ts, PyObject *policy, PyObject *rule, PyObject *action, PyObject *user,
                             PyObject *event_id, int n, PyObject *const *keys, PyObject *const *values) {
    if (n < 0 || n > DECISION_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "a decision record holds at most six fields");
        return NULL;
    }
    Record *r = PyObject_New(Record, &RecordType);
    if (r == NULL) return NULL;
    PyObject *head[HEAD] = {ts, policy, rule, action, user, event_id};
    for (int i = 0; i < HEAD; i++) r->head[i] = Py_XNewRef(head[i]);
    r->n = n;
    for (int i = 0; i < n; i++) {
        r->keys[i] = Py_NewRef(keys[i]);
        r->values[i] = Py_NewRef(values[i]);
    }
    return (PyObject *)r;
}

static void Record_dealloc(Record *r) {
    for (int i = 0; i < HEAD; i++) Py_XDECREF(r->head[i]);
    for (int i = 0; i < r->n; i++) {
        Py_DECREF(r->keys[i]);
        Py_DECREF(r->values[i]);
    }
    PyObject_Free(r);
}

/* The dict the record stands for. */
static PyObject *record_dict(const Record *r) {
    PyObject *d = _PyDict_NewPresized(HEAD + r->n);
    if (d == NULL) return NULL;
    for (int i = 0; i < HEAD + r->n; i++) {
        PyObject *key, *value;
        record_slot(r, i, &key, &value);
        if (value != NULL && PyDict_SetItem(d, key, value) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyObject *Record_to_dict(Record *r, PyObject *Py_UNUSED(ignored)) { return record_dict(r); }

/* The value for `key` (borrowed), or NULL: with an exception only on failure. */
static PyObject *record_find(const Record *r, PyObject *key) {
    for (int i = 0; i < HEAD + r->n; i++) {
        PyObject *k, *v;
        record_slot(r, i, &k, &v);
        if (v != NULL && k == key) return v;
    }
    if (!PyUnicode_Check(key)) return NULL;              /* no key of a record is anything else */
    for (int i = 0; i < HEAD + r->n; i++) {
        PyObject *k, *v;
        record_slot(r, i, &k, &v);
        if (v == NULL) continue;
        int same = PyUnicode_Compare(k, key);
        if (same == -1 && PyErr_Occurred()) return NULL;
        if (same == 0) return v;
    }
    return NULL;
}

static Py_ssize_t Record_length(Record *r) {
    Py_ssize_t n = r->n;
    for (int i = 0; i < HEAD; i++) n += r->head[i] != NULL;
    return n;
}

static PyObject *Record_subscript(Record *r, PyObject *key) {
    PyObject *v = record_find(r, key);
    if (v == NULL) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return Py_NewRef(v);
}

static int Record_contains(Record *r, PyObject *key) {
    PyObject *v = record_find(r, key);
    return v != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
}

static PyObject *Record_get(Record *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    PyObject *v = record_find(r, args[0]);
    if (v == NULL && PyErr_Occurred()) return NULL;
    return Py_NewRef(v != NULL ? v : nargs == 2 ? args[1] : Py_None);
}

/* keys(), values(), items(), iteration, ==, repr and pickling: the dict's. */
#define AS_DICT(r, call)                                    \
    PyObject *d = record_dict(r);                           \
    if (d == NULL) return NULL;                             \
    PyObject *result = (call);                              \
    Py_DECREF(d);                                           \
    return result;

static PyObject *Record_keys(Record *r, PyObject *Py_UNUSED(ignored)) { AS_DICT(r, PyDict_Keys(d)) }
static PyObject *Record_values(Record *r, PyObject *Py_UNUSED(ignored)) { AS_DICT(r, PyDict_Values(d)) }
static PyObject *Record_items(Record *r, PyObject *Py_UNUSED(ignored)) { AS_DICT(r, PyDict_Items(d)) }
static PyObject *Record_iter(Record *r) { AS_DICT(r, PyObject_GetIter(d)) }
static PyObject *Record_repr(Record *r) { AS_DICT(r, PyObject_Repr(d)) }
static PyObject *Record_reduce(Record *r, PyObject *Py_UNUSED(ignored)) {
    AS_DICT(r, Py_BuildValue("(O(O))", (PyObject *)&PyDict_Type, d))
}

static PyObject *Record_richcompare(Record *r, PyObject *other, int op) {
    if (op != Py_EQ && op != Py_NE) Py_RETURN_NOTIMPLEMENTED;
    PyObject *theirs;
    if (Py_IS_TYPE(other, &RecordType)) theirs = record_dict((Record *)other);
    else if (PyDict_Check(other)) theirs = Py_NewRef(other);
    else Py_RETURN_NOTIMPLEMENTED;
    if (theirs == NULL) return NULL;
    PyObject *mine = record_dict(r);
    PyObject *result = mine == NULL ? NULL : PyObject_RichCompare(mine, theirs, op);
    Py_XDECREF(mine);
    Py_DECREF(theirs);
    return result;
}

static PyMappingMethods Record_as_mapping = {(lenfunc)Record_length, (binaryfunc)Record_subscript, NULL};
static PySequenceMethods Record_as_sequence = {.sq_contains = (objobjproc)Record_contains};

static PyMethodDef Record_methods[] = {
    {"get", (PyCFunction)(void (*)(void))Record_get, METH_FASTCALL, "get(key, default=None)"},
    {"keys", (PyCFunction)Record_keys, METH_NOARGS, "the decision's keys, in order"},
    {"values", (PyCFunction)Record_values, METH_NOARGS, "the decision's values, in order"},
    {"items", (PyCFunction)Record_items, METH_NOARGS, "the decision's (key, value) pairs, in order"},
    {"to_dict", (PyCFunction)Record_to_dict, METH_NOARGS, "the decision as a dict"},
    {"copy", (PyCFunction)Record_to_dict, METH_NOARGS, "the decision as a dict"},
    {"__reduce__", (PyCFunction)Record_reduce, METH_NOARGS, "pickled as the dict it stands for"},
    {NULL},
};

static PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.output._decisions.Record",
    .tp_basicsize = sizeof(Record),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A decision with a fixed layout; reads as the dict it stands for.",
    .tp_dealloc = (destructor)Record_dealloc,
    .tp_as_mapping = &Record_as_mapping,
    .tp_as_sequence = &Record_as_sequence,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_richcompare = (richcmpfunc)Record_richcompare,
    .tp_iter = (getiterfunc)Record_iter,
    .tp_repr = (reprfunc)Record_repr,
    .tp_methods = Record_methods,
};

/* materialize(decisions: list): each record in the list replaced by its dict, in place. */
static PyObject *materialize(PyObject *Py_UNUSED(self), PyObject *decisions) {
    if (!PyList_Check(decisions)) {
        PyErr_SetString(PyExc_TypeError, "materialize takes a list of decisions");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(decisions); i++) {
        PyObject *d = PyList_GET_ITEM(decisions, i);
        if (!Py_IS_TYPE(d, &RecordType)) continue;
        PyObject *made = record_dict((Record *)d);
        if (made == NULL) return NULL;
        if (PyList_SetItem(decisions, i, made) < 0) return NULL;     /* steals made, drops the record */
    }
    Py_RETURN_NONE;
}

/* record(ts, policy, rule, action, user, event_id, fields): a record, for the tests (the giver
 * makes them through the capsule). user, event_id: None where absent; fields: (key, value) pairs. */
static PyObject *py_record(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 || !PyTuple_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError, "record(ts, policy, rule, action, user, event_id, fields: tuple)");
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        if (args[i] == Py_None) {
            PyErr_SetString(PyExc_TypeError, "a record's ts, policy, rule and action are set");
            return NULL;
        }
    Py_ssize_t n = PyTuple_GET_SIZE(args[6]);
    if (n > DECISION_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "a decision record holds at most six fields");
        return NULL;
    }
    PyObject *keys[DECISION_FIELDS], *values[DECISION_FIELDS];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(args[6], i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 0))) {
            PyErr_SetString(PyExc_TypeError, "a field is a (str, value) pair");
            return NULL;
        }
        keys[i] = PyTuple_GET_ITEM(pair, 0);
        values[i] = PyTuple_GET_ITEM(pair, 1);
    }
    return record_make(args[0], args[1], args[2], args[3], args[4] == Py_None ? NULL : args[4],
                       args[5] == Py_None ? NULL : args[5], (int)n, keys, values);
}

static DecisionsAPI api = {&RecordType, record_make};

#endif
