/* Decisions out, in C: a stretch of decisions as JSON lines, byte for byte what orjson writes, and
 * the (policy, rule, action) tally `eval`'s summary prints.
 *
 * Why: the community pack decides on six events in ten. Each decision cost ~3 000 instructions
 * to write (one orjson call, its buffer and a bytes object per decision, then the join) and
 * ~1 600 to count (an itemgetter tuple, its hash, a Counter lookup and a new int): 12 % of the
 * pack's instructions. Here a decision is one pass over its dict into a shared buffer, and a
 * count is three dict reads and a probe of a table keyed by the three strings' addresses.
 *
 * What this encoder takes: an exact dict with exact str keys and values that are exact str (no
 * surrogates), exact int within 64 bits, True, False or None. Any other decision (a float, a
 * list, a subclass, a bad string) is handed to orjson whole, so every output and every error is
 * orjson's (output/decisions.py is the definition; tests compare the two).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_decisions.h"

static PyObject *s_ts, *s_policy, *s_rule, *s_action, *s_user, *s_event_id, *orjson_dumps, *append_newline,
                *option_kw;

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

/* ---- the line buffer: grown as needed, kept between calls ---------------------------------- */
static char *buf;
static Py_ssize_t buf_len, buf_cap;

static int grow(Py_ssize_t more) {
    Py_ssize_t cap = buf_cap ? buf_cap : 1 << 16;
    while (cap < buf_len + more) {
        if (cap > PY_SSIZE_T_MAX / 2) { PyErr_NoMemory(); return -1; }
        cap *= 2;
    }
    char *grown = PyMem_Realloc(buf, (size_t)cap);
    if (grown == NULL) { PyErr_NoMemory(); return -1; }
    buf = grown;
    buf_cap = cap;
    return 0;
}

static inline int reserve(Py_ssize_t more) { return buf_len + more <= buf_cap ? 0 : grow(more); }

static const char HEX[] = "0123456789abcdef";

/* One ASCII character that JSON needs escaped, written at `o` as orjson writes it; returns the
 * end. */
static inline char *put_escape(char *o, unsigned char c) {
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\b': *o++ = 'b'; break;
    case '\t': *o++ = 't'; break;
    case '\n': *o++ = 'n'; break;
    case '\f': *o++ = 'f'; break;
    case '\r': *o++ = 'r'; break;
    default: *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
    }
    return o;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether any of 8 ASCII bytes is below 0x20, '"' or '\': the bytes are all below 0x80, so
 * each test is a subtraction whose high bit marks a byte below the bound or equal to the byte
 * looked for (the usual "has zero byte" trick). */
static inline int needs_escape8(uint64_t w) {
    uint64_t below = w - ONES * 0x20;
    uint64_t quote = w ^ (ONES * '"'), slash = w ^ (ONES * '\\');
    return ((below | (quote - ONES) | (slash - ONES)) & HIGHS) != 0;
}

static inline int needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

/* A str as a JSON string, escaped as orjson escapes: `"`, `\`, and below U+0020 the short forms
 * \b \t \n \f \r or \u00xx; everything else as UTF-8. 0: written; 1: not mine (a surrogate);
 * -1: out of memory. */
static int put_str(PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (reserve(n * 6 + 2) < 0) return -1;         /* the longest form of any character, \u00xx */
    char *o = buf + buf_len;
    *o++ = '"';
    if (PyUnicode_IS_ASCII(s)) {
        const unsigned char *p = PyUnicode_DATA(s), *end = p + n;
        while (p < end) {
            /* copy clean runs eight bytes at a time, then one byte at a time */
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (needs_escape8(w)) break;
                memcpy(o, &w, 8);
                o += 8;
                p += 8;
            }
            while (p < end && !needs_escape(*p)) *o++ = (char)*p++;
            if (p < end) o = put_escape(o, *p++);
        }
    } else {
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c < 0x80) {
                if (needs_escape((unsigned char)c)) o = put_escape(o, (unsigned char)c);
                else *o++ = (char)c;
            } else if (c < 0x800) {
                *o++ = (char)(0xC0 | (c >> 6));
                *o++ = (char)(0x80 | (c & 0x3F));
            } else if (c < 0x10000) {
                if (c >= 0xD800 && c <= 0xDFFF) return 1;
                *o++ = (char)(0xE0 | (c >> 12));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
                *o++ = (char)(0x80 | (c & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (c >> 18));
                *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
                *o++ = (char)(0x80 | (c & 0x3F));
            }
        }
    }
    *o++ = '"';
    buf_len = o - buf;
    return 0;
}

/* A 64-bit int in decimal at `o`; returns the end. */
static char *put_int(char *o, long long x) {
    char digits[20];
    int n = 0;
    unsigned long long u = x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x;
    if (x < 0) *o++ = '-';
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (n > 0) *o++ = digits[--n];
    return o;
}

/* Interned strings — a decision's keys, and the program's constants (policy, rule and action
 * names, fixed messages: compiler/program.py interns its pool) — are written from their
 * encoded form, kept here by the string's address. The cache holds a reference to each string
 * it keeps, so an address is never reused while it is here. */
#define CACHE_SETS 256             /* two strings a set, the set by a multiplicative hash of the address */
typedef struct { PyObject *s; char *text; Py_ssize_t len; } Encoded;
static Encoded cache[CACHE_SETS][2];

static inline int put_encoded(const Encoded *e) {
    if (reserve(e->len) < 0) return -1;
    memcpy(buf + buf_len, e->text, (size_t)e->len);
    buf_len += e->len;
    return 0;
}

static int put_known_str(PyObject *s) {
    /* Addresses of strings of one size step by the allocator's block size: `address >> 4` as the
     * index left most slots unused and two hot strings in one slot half the time (the pack's cost
     * moved by ~370 instructions an event with where its strings were allocated). */
    Encoded *set = cache[((uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull) >> 56];
    if (set[0].s == s) return put_encoded(&set[0]);
    if (set[1].s == s) return put_encoded(&set[1]);
    Py_ssize_t start = buf_len;
    int r = put_str(s);
    if (r != 0 || !PyUnicode_CHECK_INTERNED(s)) return r;
    char *text = PyMem_Malloc((size_t)(buf_len - start));
    if (text == NULL) return 0;                    /* written; only not kept */
    memcpy(text, buf + start, (size_t)(buf_len - start));
    Py_XDECREF(set[1].s);                          /* the older of the two goes */
    PyMem_Free(set[1].text);
    set[1] = set[0];
    set[0].s = Py_NewRef(s);
    set[0].text = text;
    set[0].len = buf_len - start;
    return 0;
}

/* A value: 0 written, 1 not mine, -1 error. */
static int put_value(PyObject *v) {
    if (PyUnicode_CheckExact(v)) return put_known_str(v);
    if (v == Py_None || v == Py_True || v == Py_False) {
        const char *word = v == Py_None ? "null" : v == Py_True ? "true" : "false";
        size_t len = strlen(word);
        if (reserve((Py_ssize_t)len) < 0) return -1;
        memcpy(buf + buf_len, word, len);
        buf_len += (Py_ssize_t)len;
        return 0;
    }
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) return 1;                    /* orjson's u64 range and its error */
        if (x == -1 && PyErr_Occurred()) return -1;
        if (reserve(21) < 0) return -1;
        buf_len = put_int(buf + buf_len, x) - buf;
        return 0;
    }
    return 1;
}

/* `"key":value`, after a comma unless it is the first: 0, 1 (not mine), -1. */
static inline int put_member(int *first, PyObject *key, PyObject *value) {
    if (reserve(1) < 0) return -1;
    if (!*first) buf[buf_len++] = ',';
    *first = 0;
    int r = put_known_str(key);
    if (r != 0) return r;
    if (reserve(1) < 0) return -1;
    buf[buf_len++] = ':';
    return put_value(value);
}

/* One decision — a record, or an exact dict with str keys — as a line; 1: not mine (a key or a
 * value the encoder does not take), the buffer back where it was. */
static int put_decision(PyObject *d) {
    Py_ssize_t start = buf_len, pos = 0;
    PyObject *key, *value;
    int first = 1, r = 0;
    int record = Py_IS_TYPE(d, &RecordType);
    if (!record && !PyDict_CheckExact(d)) return 1;
    if (reserve(1) < 0) return -1;
    buf[buf_len++] = '{';
    if (record) {
        const Record *rec = (const Record *)d;
        for (int i = 0; i < HEAD + rec->n && r == 0; i++) {
            record_slot(rec, i, &key, &value);
            if (value != NULL) r = put_member(&first, key, value);
        }
    } else {
        while (r == 0 && PyDict_Next(d, &pos, &key, &value))
            r = PyUnicode_CheckExact(key) ? put_member(&first, key, value) : 1;
    }
    if (r == 1) buf_len = start;
    if (r != 0) return r;
    if (reserve(2) < 0) return -1;
    buf[buf_len++] = '}';
    buf[buf_len++] = '\n';
    return 0;
}

/* One decision onto the buffer: in C, or by orjson. 0, or -1 with orjson's error. */
static int put_line(PyObject *d) {
    int r = put_decision(d);
    if (r != 1) return r;
    /* orjson writes it (a record as its dict), or says why it cannot */
    PyObject *made = Py_IS_TYPE(d, &RecordType) ? record_dict((Record *)d) : Py_NewRef(d);
    if (made == NULL) return -1;
    PyObject *args[2] = {made, append_newline};
    PyObject *line = PyObject_Vectorcall(orjson_dumps, args, 1, option_kw);
    Py_DECREF(made);
    if (line == NULL) return -1;
    Py_ssize_t len = PyBytes_GET_SIZE(line);
    if (reserve(len) < 0) {
        Py_DECREF(line);
        return -1;
    }
    memcpy(buf + buf_len, PyBytes_AS_STRING(line), (size_t)len);
    buf_len += len;
    Py_DECREF(line);
    return 0;
}

/* dump_lines(decisions: a sequence) -> bytes */
static PyObject *dump_lines(PyObject *Py_UNUSED(self), PyObject *decisions) {
    PyObject *seq = PySequence_Fast(decisions, "dump_lines takes a sequence of decisions");
    if (seq == NULL) return NULL;
    buf_len = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *d = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        int r = put_line(d);
        Py_DECREF(d);
        if (r < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    return PyBytes_FromStringAndSize(buf, buf_len);
}

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
    size_t mask = (size_t)t->cap - 1, j = slot_of(p, r, a, mask);
    Slot *s;
    for (;;) {
        s = &t->slots[j];
        if (s->policy == NULL || (s->policy == p && s->rule == r && s->action == a)) break;
        j = (j + 1) & mask;
    }
    if (s->policy == NULL) {
        if ((t->used + 1) * 2 > t->cap) {
            if (tally_grow(t) < 0) {
                Py_DECREF(p);
                Py_DECREF(r);
                Py_DECREF(a);
                return -1;
            }
            mask = (size_t)t->cap - 1;
            j = slot_of(p, r, a, mask);
            while (t->slots[j].policy != NULL) j = (j + 1) & mask;
            s = &t->slots[j];
        }
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

static PyMethodDef methods[] = {
    {"dump_lines", dump_lines, METH_O, "dump_lines(decisions) -> bytes: JSON lines as orjson writes them"},
    {"materialize", materialize, METH_O, "materialize(decisions: list): records replaced by their dicts, in place"},
    {"record", (PyCFunction)(void (*)(void))py_record, METH_FASTCALL,
     "record(ts, policy, rule, action, user, event_id, fields) -> a decision record"},
    {NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_decisions", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__decisions(void) {
    if (PyType_Ready(&TallyType) < 0 || PyType_Ready(&RecordType) < 0) return NULL;
    s_ts = PyUnicode_InternFromString("ts");
    s_policy = PyUnicode_InternFromString("policy");
    s_rule = PyUnicode_InternFromString("rule");
    s_action = PyUnicode_InternFromString("action");
    s_user = PyUnicode_InternFromString("user");
    s_event_id = PyUnicode_InternFromString("event_id");
    if (s_ts == NULL || s_user == NULL || s_event_id == NULL) return NULL;
    PyObject *heads[HEAD] = {s_ts, s_policy, s_rule, s_action, s_user, s_event_id};
    memcpy(head_keys, heads, sizeof heads);
    PyObject *option = PyUnicode_InternFromString("option");
    if (s_policy == NULL || s_rule == NULL || s_action == NULL || option == NULL) return NULL;
    option_kw = PyTuple_Pack(1, option);
    Py_DECREF(option);
    PyObject *orjson = PyImport_ImportModule("orjson");
    if (option_kw == NULL || orjson == NULL) return NULL;
    orjson_dumps = PyObject_GetAttrString(orjson, "dumps");
    append_newline = PyObject_GetAttrString(orjson, "OPT_APPEND_NEWLINE");
    Py_DECREF(orjson);
    if (orjson_dumps == NULL || append_newline == NULL) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *capsule = PyCapsule_New(&api, DECISIONS_CAPSULE, NULL);
    if (capsule == NULL || PyModule_AddObject(m, "API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Record", (PyObject *)&RecordType) < 0
        || PyModule_AddObjectRef(m, "Tally", (PyObject *)&TallyType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
