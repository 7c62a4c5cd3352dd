/* The (policy, rule, action) tally, part of output/_decisions.c (included there once, after the
 * Record type it reads directly). */
#ifndef POLICYENGINE_TALLY_H
#define POLICYENGINE_TALLY_H

/* ---- the tally ------------------------------------------------------------------------------ */
/* Counts by the addresses of the three strings: a decision's policy, rule and action are the
 * compiled program's own constants, the same objects every time. Two equal keys held by
 * different objects take two slots and are added together in `drain`, so the counts are the
 * same as counting by value. */
typedef struct { PyObject *policy, *rule, *action; Py_ssize_t n; } Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;                 /* open addressing, linear probing; cap a power of two */
    Py_ssize_t cap, used;
} Tally;

static inline size_t slot_of(PyObject *p, PyObject *r, PyObject *a, size_t mask) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)r * 0xC2B2AE3D27D4EB4Full;
    h ^= (uint64_t)(uintptr_t)a * 0x165667B19E3779F9ull;
    return (size_t)(h >> 32) & mask;
}

static int tally_grow(Tally *t) {
    Py_ssize_t cap = t->cap ? t->cap * 2 : 64;
    Slot *slots = PyMem_Calloc((size_t)cap, sizeof(Slot));
    if (slots == NULL) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        Slot *s = &t->slots[i];
        if (s->policy == NULL) continue;
        size_t j = slot_of(s->policy, s->rule, s->action, (size_t)cap - 1);
        while (slots[j].policy != NULL) j = (j + 1) & ((size_t)cap - 1);
        slots[j] = *s;
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static PyObject *Tally_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Tally() takes no arguments");
        return NULL;
    }
    Tally *t = (Tally *)type->tp_alloc(type, 0);
    if (t == NULL) return NULL;
    if (tally_grow(t) < 0) { Py_DECREF(t); return NULL; }
    return (PyObject *)t;
}

static void Tally_dealloc(Tally *t) {
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        Py_XDECREF(t->slots[i].policy);
        Py_XDECREF(t->slots[i].rule);
        Py_XDECREF(t->slots[i].action);
    }
    PyMem_Free(t->slots);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

/* A decision's value for `key` (a new reference), or NULL with KeyError as itemgetter raises it. */
static PyObject *field(PyObject *d, PyObject *key) {
    if (!PyDict_CheckExact(d)) return PyObject_GetItem(d, key);
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return Py_NewRef(v);
}

/* One decision counted; -1 with an exception. */
static int tally_one(Tally *t, PyObject *d) {
    PyObject *p, *r, *a;
    if (Py_IS_TYPE(d, &RecordType)) {
        p = Py_NewRef(((Record *)d)->head[1]);
        r = Py_NewRef(((Record *)d)->head[2]);
        a = Py_NewRef(((Record *)d)->head[3]);
    } else {
        p = field(d, s_policy);
        r = p == NULL ? NULL : field(d, s_rule);
        a = r == NULL ? NULL : field(d, s_action);
    }
    if (a == NULL) {
        Py_XDECREF(p);
        Py_XDECREF(r);
        return -1;
    }
    /* Room for a new key first (at most half full), so one probe finds the key or its place. */
    if ((t->used + 1) * 2 > t->cap && tally_grow(t) < 0) {
        Py_DECREF(p);
        Py_DECREF(r);
        Py_DECREF(a);
        return -1;
    }
    size_t mask = (size_t)t->cap - 1, j = slot_of(p, r, a, mask);
    Slot *s = &t->slots[j];
    while (s->policy != NULL && !(s->policy == p && s->rule == r && s->action == a)) {
        j = (j + 1) & mask;
        s = &t->slots[j];
    }
    if (s->policy == NULL) {
        s->policy = Py_NewRef(p);
        s->rule = Py_NewRef(r);
        s->action = Py_NewRef(a);
        s->n = 0;
        t->used++;
    }
    s->n++;
    Py_DECREF(p);
    Py_DECREF(r);
    Py_DECREF(a);
    return 0;
}

/* tally.add(decisions): count each decision of a sequence by (policy, rule, action). */
static PyObject *Tally_add(Tally *t, PyObject *decisions) {
    PyObject *seq = PySequence_Fast(decisions, "Tally.add takes a sequence of decisions");
    if (seq == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        /* held: reading a mapping that is not a dict runs Python code */
        PyObject *d = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        int r = tally_one(t, d);
        Py_DECREF(d);
        if (r < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

/* tally.drain(counts): add the counts since the last drain to `counts` (a dict or Counter
 * keyed by (policy, rule, action)) and start again from zero. */
static PyObject *Tally_drain(Tally *t, PyObject *counts) {
    if (!PyDict_Check(counts)) {
        PyErr_SetString(PyExc_TypeError, "Tally.drain takes a dict");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        Slot *s = &t->slots[i];
        if (s->policy == NULL || s->n == 0) continue;
        PyObject *key = PyTuple_Pack(3, s->policy, s->rule, s->action);
        if (key == NULL) return NULL;
        PyObject *old = PyDict_GetItemWithError(counts, key);
        if (old == NULL && PyErr_Occurred()) { Py_DECREF(key); return NULL; }
        PyObject *n = PyLong_FromSsize_t(s->n);
        PyObject *sum = n == NULL ? NULL : old == NULL ? Py_NewRef(n) : PyNumber_Add(old, n);
        Py_XDECREF(n);
        int failed = sum == NULL || PyDict_SetItem(counts, key, sum) < 0;
        Py_XDECREF(sum);
        Py_DECREF(key);
        if (failed) return NULL;
        s->n = 0;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Tally_methods[] = {
    {"add", (PyCFunction)Tally_add, METH_O, "add(decisions): count each by (policy, rule, action)"},
    {"drain", (PyCFunction)Tally_drain, METH_O, "drain(counts): add the counts so far to counts; start from zero"},
    {NULL},
};

static PyTypeObject TallyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.output._decisions.Tally",
    .tp_basicsize = sizeof(Tally),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Decisions counted by (policy, rule, action), drained into a Counter.",
    .tp_new = Tally_new,
    .tp_dealloc = (destructor)Tally_dealloc,
    .tp_methods = Tally_methods,
};

#endif
