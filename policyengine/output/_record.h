/* Decision records, part of output/_decisions.c (included there once, after its strings): the
 * Record type, `materialize`, and the test-side constructor `record`. */
#ifndef POLICYENGINE_RECORD_H
#define POLICYENGINE_RECORD_H

/* ---- decision records ---------------------------------------------------------------------- */
/* A decision without a dict (every decision, where this module is built): ts, policy, rule, action, user and
 * event_id in `head` (NULL where absent), then up to DECISION_FIELDS fields in order. Read as a
 * mapping it is the dict helpers.decision would have made (same keys, same order, == to it); the
 * writer and the tally read it directly; `materialize` turns records into dicts wherever
 * decisions leave `eval`'s own path (output/decisions.py).
 *
 * Why: a dict decision is a copy of a template (two allocations), five stores that look up their
 * keys, and at the writer an iteration and at the tally three lookups; the community pack decides
 * on six events in ten. Not tracked by the cycle collector: a record holds
 * strings and numbers that the rules computed, never a container that could lead back to it. */
#define HEAD 6
typedef struct {
    PyObject_HEAD
    PyObject *head[HEAD];        /* head[0], the time, NULL until read: the writer writes ts_us */
    int64_t ts_us;
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

/* A record whose time is `ts` (a str), or with `ts` NULL the microseconds `us` (in
 * [FORMAT_US_FIRST, FORMAT_US_END): record_at checks), written out when the record is written or read. */
static PyObject *record_make_either(PyObject *ts, int64_t us, PyObject *policy, PyObject *rule, PyObject *action,
                                    PyObject *user, PyObject *event_id, int n, PyObject *const *keys,
                                    PyObject *const *values) {
    if (n < 0 || n > DECISION_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "a decision record holds at most six fields");
        return NULL;
    }
    Record *r = PyObject_New(Record, &RecordType);
    if (r == NULL) return NULL;
    PyObject *head[HEAD] = {ts, policy, rule, action, user, event_id};
    for (int i = 0; i < HEAD; i++) r->head[i] = Py_XNewRef(head[i]);
    r->ts_us = us;
    r->n = n;
    for (int i = 0; i < n; i++) {
        r->keys[i] = Py_NewRef(keys[i]);
        r->values[i] = Py_NewRef(values[i]);
    }
    return (PyObject *)r;
}

static PyObject *record_make(PyObject *ts, PyObject *policy, PyObject *rule, PyObject *action, PyObject *user,
                             PyObject *event_id, int n, PyObject *const *keys, PyObject *const *values) {
    return record_make_either(ts, 0, policy, rule, action, user, event_id, n, keys, values);
}

/* A record of a decision at `now`, its time as helpers.python_decision writes it: `format_us(now)
 * or format_ts(now)`. An int time format_us_chars writes is kept as microseconds, written out
 * when the record is written or read; any other is made text here, by the two functions. */
static PyObject *record_at(PyObject *now, PyObject *format_us, PyObject *format_ts, PyObject *policy,
                           PyObject *rule, PyObject *action, PyObject *user, PyObject *event_id, int n,
                           PyObject *const *keys, PyObject *const *values) {
    long long us;
    if (as_int64(now, &us) && us >= FORMAT_US_FIRST && us < FORMAT_US_END)
        return record_make_either(NULL, us, policy, rule, action, user, event_id, n, keys, values);
    PyObject *ts = PyObject_CallOneArg(format_us, now);
    int truth = ts == NULL ? -1 : PyObject_IsTrue(ts);
    if (truth == 0) Py_SETREF(ts, PyObject_CallOneArg(format_ts, now));
    if (truth < 0 || ts == NULL) {
        Py_XDECREF(ts);
        return NULL;
    }
    PyObject *made = record_make(ts, policy, rule, action, user, event_id, n, keys, values);
    Py_DECREF(ts);
    return made;
}

/* The time as a str, made on the first read of it. 0, or -1 with an exception. */
static int record_ts(Record *r) {
    if (r->head[0] != NULL) return 0;
    char text[32];
    int n = format_us_chars(r->ts_us, text);
    r->head[0] = PyUnicode_New(n, 127);
    if (r->head[0] == NULL) return -1;
    memcpy(PyUnicode_DATA(r->head[0]), text, (size_t)n);
    return 0;
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
static PyObject *record_dict(Record *r) {
    if (record_ts(r) < 0) return NULL;
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
static PyObject *record_find(Record *r, PyObject *key) {
    if (record_ts(r) < 0) return NULL;
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
    Py_ssize_t n = r->n + 1;                            /* the time, made or not */
    for (int i = 1; i < HEAD; i++) n += r->head[i] != NULL;
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

static DecisionsAPI api = {&RecordType, record_at};

/* ---- decisions made by the generated code --------------------------------------------------- */
/* DecisionMaker(format_us, format_ts, definition): called as decision(ts, policy, rule, action,
 * user, event_id, fields, reason), it is runtime/helpers.python_decision (the definition) making
 * a record: ts as `format_us(ts) or format_ts(ts)`, user and event id where not None, then the
 * fields whose value is not None, then the reason where not None. A decision with more fields than
 * a record holds, or a field that is not a (str, value) pair, is made by the definition. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc call;
    PyObject *format_us, *format_ts, *definition;
} DecisionMaker;

static PyObject *s_reason;

/* Whether `name` is among `keys[0..n)` or the record's head keys: a dict would keep one value
 * under it, so such a decision is the definition's to make. -1 on error. */
static int taken(PyObject *name, PyObject *const *keys, int n) {
    for (int i = 0; i < HEAD + n; i++) {
        PyObject *k = i < HEAD ? head_keys[i] : keys[i - HEAD];
        if (k == name) return 1;
    }
    for (int i = 0; i < HEAD + n; i++) {
        PyObject *k = i < HEAD ? head_keys[i] : keys[i - HEAD];
        int c = PyUnicode_Compare(k, name);
        if (c == -1 && PyErr_Occurred()) return -1;
        if (c == 0) return 1;
    }
    return 0;
}

static PyObject *DecisionMaker_call(DecisionMaker *m, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 8 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "decision(ts, policy, rule, action, user, event_id, fields, reason)");
        return NULL;
    }
    PyObject *fields = args[6], *reason = args[7];
    PyObject *keys[DECISION_FIELDS], *values[DECISION_FIELDS];
    int n = 0, mine = PyTuple_CheckExact(fields);
    for (Py_ssize_t i = 0; mine && i < PyTuple_GET_SIZE(fields); i++) {
        PyObject *pair = PyTuple_GET_ITEM(fields, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 0)))
            mine = 0;
        else if (PyTuple_GET_ITEM(pair, 1) == Py_None)
            continue;
        else if (n == DECISION_FIELDS)
            mine = 0;
        else {
            int seen = taken(PyTuple_GET_ITEM(pair, 0), keys, n);
            if (seen < 0) return NULL;
            mine = !seen;
            keys[n] = PyTuple_GET_ITEM(pair, 0);
            values[n++] = PyTuple_GET_ITEM(pair, 1);
        }
    }
    if (mine && reason != Py_None) {
        int seen = n == DECISION_FIELDS ? 1 : taken(s_reason, keys, n);
        if (seen < 0) return NULL;
        mine = !seen;
        if (mine) {
            keys[n] = s_reason;
            values[n++] = reason;
        }
    }
    if (!mine) return PyObject_Vectorcall(m->definition, args, nargs, NULL);
    for (int i = 1; i < 4; i++)
        if (args[i] == Py_None) return PyObject_Vectorcall(m->definition, args, nargs, NULL);  /* a record's are set */
    return record_at(args[0], m->format_us, m->format_ts, args[1], args[2], args[3],
                     args[4] == Py_None ? NULL : args[4], args[5] == Py_None ? NULL : args[5], n, keys, values);
}

static PyObject *DecisionMaker_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *format_us, *format_ts, *definition;
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0)
        || !PyArg_ParseTuple(args, "OOO:DecisionMaker", &format_us, &format_ts, &definition))
        return NULL;
    DecisionMaker *m = (DecisionMaker *)type->tp_alloc(type, 0);
    if (m == NULL) return NULL;
    m->call = (vectorcallfunc)DecisionMaker_call;
    m->format_us = Py_NewRef(format_us);
    m->format_ts = Py_NewRef(format_ts);
    m->definition = Py_NewRef(definition);
    return (PyObject *)m;
}

static void DecisionMaker_dealloc(DecisionMaker *m) {
    Py_XDECREF(m->format_us);
    Py_XDECREF(m->format_ts);
    Py_XDECREF(m->definition);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyTypeObject DecisionMakerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.output._decisions.DecisionMaker",
    .tp_basicsize = sizeof(DecisionMaker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "decision(ts, policy, rule, action, user, event_id, fields, reason) as a record",
    .tp_new = DecisionMaker_new,
    .tp_dealloc = (destructor)DecisionMaker_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(DecisionMaker, call),
};

#endif
