/* runtime/codec.py's `dumps` and `decode` in C.
 *
 * `dumps` writes a state value as the JSON `plain_encode` gives it (a tuple as {"t": [...]}, a
 * dict as {"d": [[key, value], ...]}, a set as {"s": [...]} sorted by its items' bytes, a
 * member-keyed column as the dict it stands for), straight to bytes: floats and ints past 64 bits
 * by orjson (its number format), anything else (deques, windows, subclasses) by `plain_encode`'s
 * objects written as they are.
 *
 * `decode` turns what orjson read of a state back into the values: lists, tuples, sets and dicts
 * here, deques and windows by `plain_decode`, which hands what they hold back here.
 *
 * Why: a checkpoint of `eval --state` or `Engine.checkpoint` rewrites the whole state. Encoding it
 * in Python was most of one: over 10M events and 1M members ~0.75 s a checkpoint of ~1.2 s. In C
 * as objects handed to orjson (this module's `encode` until the thirtieth session) it was still
 * ~0.75 s of a bot's 1 s checkpoint at 100 000 members (29 MB of JSON), the objects' making and
 * freeing most of it; decoding in Python was half of loading a state. Held to codec.plain_dumps
 * and plain_decode by tests/test_state.py. */
#include <Python.h>
#include "_columns.h"   /* member-keyed tables, written as the dicts they stand for */

/* ---- dumps: the JSON written as bytes --------------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Out;

typedef struct {
    PyObject *other;    /* plain_encode for what is not written here: gives JSON-shaped objects */
    PyObject *number;   /* orjson.dumps, for floats and ints past 64 bits: orjson's format */
} Writers;

static int grow(Out *out, Py_ssize_t more) {
    if (out->len + more <= out->cap) return 0;
    Py_ssize_t cap = out->cap ? out->cap : 4096;
    while (cap < out->len + more) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *data = PyMem_Realloc(out->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->data = data;
    out->cap = cap;
    return 0;
}

static inline int put(Out *out, const char *bytes, Py_ssize_t n) {
    if (out->len + n > out->cap && grow(out, n) < 0) return -1;
    memcpy(out->data + out->len, bytes, n);
    out->len += n;
    return 0;
}

#define PUT(out, literal) put((out), (literal), (Py_ssize_t)(sizeof(literal) - 1))

/* A str as orjson writes one: UTF-8 as it is; `"`, `\` and control characters escaped, the common
 * ones by letter and the rest as \u00XX. */
static int put_str(Out *out, PyObject *text) {
    Py_ssize_t n;
    const char *bytes = PyUnicode_AsUTF8AndSize(text, &n);
    if (bytes == NULL) return -1;
    if (grow(out, n + 2) < 0) return -1;
    out->data[out->len++] = '"';
    Py_ssize_t run = 0;     /* the start of the bytes not yet written */
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (put(out, bytes + run, i - run) < 0) return -1;
        run = i + 1;
        char escape[7] = {'\\', 0};
        Py_ssize_t size = 2;
        switch (c) {
            case '"': escape[1] = '"'; break;
            case '\\': escape[1] = '\\'; break;
            case '\b': escape[1] = 'b'; break;
            case '\t': escape[1] = 't'; break;
            case '\n': escape[1] = 'n'; break;
            case '\f': escape[1] = 'f'; break;
            case '\r': escape[1] = 'r'; break;
            default:
                snprintf(escape + 1, 6, "u%04x", c);
                size = 6;
        }
        if (put(out, escape, size) < 0) return -1;
    }
    if (put(out, bytes + run, n - run) < 0) return -1;
    return PUT(out, "\"");
}

/* A number in orjson's own format: its bytes. */
static int put_number(Out *out, PyObject *value, Writers *w) {
    PyObject *bytes = PyObject_CallOneArg(w->number, value);
    if (bytes == NULL) return -1;
    int failed = PyBytes_Check(bytes) ? put(out, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes)) : -1;
    if (failed && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a number's writer gave no bytes");
    Py_DECREF(bytes);
    return failed;
}

/* An int, None, a bool, a str or a float: 1 written, 0 not one of them, -1 an error. */
static int put_atom(Out *out, PyObject *value, Writers *w) {
    if (value == Py_None) return PUT(out, "null") < 0 ? -1 : 1;
    if (value == Py_True) return PUT(out, "true") < 0 ? -1 : 1;
    if (value == Py_False) return PUT(out, "false") < 0 ? -1 : 1;
    if (PyLong_Check(value)) {
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (n == -1 && PyErr_Occurred()) return -1;
        if (overflow) return put_number(out, value, w) < 0 ? -1 : 1;
        /* the digits from the end (snprintf was a third of writing a state of ints) */
        char digits[24], *end = digits + sizeof digits, *at = end;
        unsigned long long magnitude = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
        do {
            *--at = (char)('0' + magnitude % 10);
            magnitude /= 10;
        } while (magnitude);
        if (n < 0) *--at = '-';
        return put(out, at, end - at) < 0 ? -1 : 1;
    }
    if (PyUnicode_Check(value)) return put_str(out, value) < 0 ? -1 : 1;
    if (PyFloat_Check(value)) return put_number(out, value, w) < 0 ? -1 : 1;
    return 0;
}

/* What `other` gave: JSON-shaped objects (dicts of str keys, lists, atoms), written as they are. */
static int write_plain(Out *out, PyObject *value, Writers *w) {
    int atom = put_atom(out, value, w);
    if (atom != 0) return atom < 0 ? -1 : 0;
    if (Py_EnterRecursiveCall(" while writing a state value")) return -1;
    int failed = 0;
    if (PyList_Check(value) || PyTuple_Check(value)) {
        PyObject *items = PySequence_Fast(value, "");
        failed = items == NULL || PUT(out, "[") < 0;
        for (Py_ssize_t i = 0; !failed && i < PySequence_Fast_GET_SIZE(items); i++)
            failed = (i > 0 && PUT(out, ",") < 0) || write_plain(out, PySequence_Fast_GET_ITEM(items, i), w) < 0;
        failed = failed || PUT(out, "]") < 0;
        Py_XDECREF(items);
    } else if (PyDict_Check(value)) {
        PyObject *k, *v;
        Py_ssize_t pos = 0, i = 0;
        failed = PUT(out, "{") < 0;
        while (!failed && PyDict_Next(value, &pos, &k, &v)) {
            if (!PyUnicode_Check(k)) {
                PyErr_SetString(PyExc_TypeError, "an encoded state value's keys are strs");
                failed = 1;
                break;
            }
            failed = (i++ > 0 && PUT(out, ",") < 0) || put_str(out, k) < 0 || PUT(out, ":") < 0
                     || write_plain(out, v, w) < 0;
        }
        failed = failed || PUT(out, "}") < 0;
    } else {
        PyErr_Format(PyExc_TypeError, "cannot store a %.100s", Py_TYPE(value)->tp_name);
        failed = 1;
    }
    Py_LeaveRecursiveCall();
    return failed ? -1 : 0;
}

static int write_value(Out *out, PyObject *value, Writers *w);

static int write_items(Out *out, PyObject *const *items, Py_ssize_t n, Writers *w) {
    if (PUT(out, "[") < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        if ((i > 0 && PUT(out, ",") < 0) || write_value(out, items[i], w) < 0) return -1;
    return PUT(out, "]");
}

typedef struct {
    const char *bytes;
    Py_ssize_t size;
} Piece;

static int piece_order(const void *a, const void *b) {
    const Piece *x = a, *y = b;
    int c = memcmp(x->bytes, y->bytes, x->size < y->size ? x->size : y->size);
    return c != 0 ? c : (x->size > y->size) - (x->size < y->size);
}

/* {"s": [...]}: the items written apart, then in the order of their bytes. */
static int write_set(Out *out, PyObject *set, Writers *w) {
    Py_ssize_t n = PySet_GET_SIZE(set), i = 0;
    Py_ssize_t *ends = PyMem_New(Py_ssize_t, n > 0 ? n : 1);
    Piece *pieces = PyMem_New(Piece, n > 0 ? n : 1);
    Out items = {NULL, 0, 0};
    PyObject *item, *iterator = NULL;
    int failed = ends == NULL || pieces == NULL;
    if (failed) PyErr_NoMemory();
    else failed = (iterator = PyObject_GetIter(set)) == NULL;
    while (!failed && (item = PyIter_Next(iterator)) != NULL) {
        if (i == n) PyErr_SetString(PyExc_RuntimeError, "a set changed size while it was written");
        failed = i == n || write_value(&items, item, w) < 0;
        Py_DECREF(item);
        if (!failed) ends[i++] = items.len;
    }
    Py_XDECREF(iterator);
    if (PyErr_Occurred()) failed = 1;
    if (!failed && i != n) {
        PyErr_SetString(PyExc_RuntimeError, "a set changed size while it was written");
        failed = 1;
    }
    if (!failed) {
        for (Py_ssize_t j = 0; j < n; j++) {
            Py_ssize_t start = j > 0 ? ends[j - 1] : 0;
            pieces[j] = (Piece){items.data + start, ends[j] - start};
        }
        qsort(pieces, n, sizeof(Piece), piece_order);
        failed = PUT(out, "{\"s\":[") < 0;
        for (Py_ssize_t j = 0; !failed && j < n; j++)
            failed = (j > 0 && PUT(out, ",") < 0) || put(out, pieces[j].bytes, pieces[j].size) < 0;
        failed = failed || PUT(out, "]}") < 0;
    }
    PyMem_Free(items.data);
    PyMem_Free(ends);
    PyMem_Free(pieces);
    return failed ? -1 : 0;
}

#define AHEAD 16

/* A cache line asked for. As asm: gcc -O3 -DNDEBUG dropped every __builtin_prefetch of the
 * function below once it also read the values it prefetches the items of. */
#if defined(__x86_64__) || defined(__i386__)
#define FETCH(p) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)(p)))
#else
#define FETCH(p) __builtin_prefetch(p)
#endif

/* Of an array of objects (NULL where none) being written, item i + AHEAD asked for from memory,
 * and the first few items of item i + AHEAD / 2 (asked for AHEAD / 2 items ago) where that is a
 * tuple or a list. A state's tables are members met in any order, each value and each of its
 * numbers a cache miss of its own, and writing them one after the other waited on each in turn:
 * ~0.30 s of a checkpoint at 100 000 members, 0.20 s with this. */
static inline void fetch_ahead(PyObject *const *values, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t ahead = i + AHEAD, half = i + AHEAD / 2;
    if (half < n) {
        PyObject *value = values[half], *const *items = NULL;
        Py_ssize_t size = 0;
        if (value != NULL && Py_IS_TYPE(value, &PyTuple_Type)) {
            items = ((PyTupleObject *)value)->ob_item;
            size = Py_SIZE(value);
        } else if (value != NULL && Py_IS_TYPE(value, &PyList_Type)) {
            items = ((PyListObject *)value)->ob_item;
            size = Py_SIZE(value);
        }
        for (Py_ssize_t k = 0; k < size && k < 3; k++) FETCH(items[k]);
    }
    if (ahead < n && values[ahead] != NULL) FETCH(values[ahead]);
}

/* A member-keyed column (runtime/_columns.c) as its `to_dict()` is written: {"d": [[key, value],
 * ...]} in row order, a silence's key the 1-tuple `(member,)` it stands for. Written from the
 * column, the dict is not made: that was ~0.1 s of a checkpoint at 100 000 members. */
static int write_column(Out *out, Column *c, Writers *w) {
    Py_ssize_t r, i = 0;
    int failed = PUT(out, "{\"d\":[") < 0;
    FOR_EACH_PRESENT(c, r) {
        /* `other` runs Python: a row emptied since its word was read is passed by */
        PyObject *value = failed ? NULL : c->values[r];
        if (value == NULL) continue;
        fetch_ahead(c->values, c->room, r);
        if (r + AHEAD < c->index->rows) FETCH(c->index->keys[r + AHEAD]);
        PyObject *key = Py_NewRef(c->index->keys[r]);
        Py_INCREF(value);
        failed = (i++ > 0 && PUT(out, ",") < 0) || PUT(out, "[") < 0
                 || (c->unwrap ? PUT(out, "{\"t\":[") < 0 || write_value(out, key, w) < 0 || PUT(out, "]}") < 0
                               : write_value(out, key, w) < 0)
                 || PUT(out, ",") < 0
                 || (c->lists > 0 ? write_items(out, ((PyTupleObject *)value)->ob_item, PyTuple_GET_SIZE(value), w) < 0
                                  : write_value(out, value, w) < 0)
                 || PUT(out, "]") < 0;
        Py_DECREF(key);
        Py_DECREF(value);
    }
    return failed || PUT(out, "]}") < 0 ? -1 : 0;
}

/* `encode`'s JSON, written. */
static int write_value(Out *out, PyObject *value, Writers *w) {
    PyTypeObject *type = Py_TYPE(value);
    if (value == Py_None || type == &PyLong_Type || type == &PyUnicode_Type || type == &PyFloat_Type
        || type == &PyBool_Type)
        return put_atom(out, value, w) < 0 ? -1 : 0;
    if (Py_EnterRecursiveCall(" while writing a state value")) return -1;
    int failed;
    if (type == &PyList_Type) {
        /* held, and its items read one at a time, while written: `other` runs Python */
        Py_INCREF(value);
        failed = PUT(out, "[") < 0;
        for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(value); i++) {
            fetch_ahead(((PyListObject *)value)->ob_item, PyList_GET_SIZE(value), i);
            PyObject *item = Py_NewRef(PyList_GET_ITEM(value, i));
            failed = (i > 0 && PUT(out, ",") < 0) || write_value(out, item, w) < 0;
            Py_DECREF(item);
        }
        failed = failed || PUT(out, "]") < 0;
        Py_DECREF(value);
    } else if (type == &PyTuple_Type) {
        failed = PUT(out, "{\"t\":") < 0
                 || write_items(out, ((PyTupleObject *)value)->ob_item, PyTuple_GET_SIZE(value), w) < 0
                 || PUT(out, "}") < 0;
    } else if (type == &PyDict_Type) {
        PyObject *k, *v;
        Py_ssize_t pos = 0, i = 0;
        Py_INCREF(value);
        failed = PUT(out, "{\"d\":[") < 0;
        while (!failed && PyDict_Next(value, &pos, &k, &v)) {
            Py_INCREF(k);
            Py_INCREF(v);
            failed = (i++ > 0 && PUT(out, ",") < 0) || PUT(out, "[") < 0 || write_value(out, k, w) < 0
                     || PUT(out, ",") < 0 || write_value(out, v, w) < 0 || PUT(out, "]") < 0;
            Py_DECREF(k);
            Py_DECREF(v);
        }
        Py_DECREF(value);
        failed = failed || PUT(out, "]}") < 0;
    } else if (type == &PySet_Type || type == &PyFrozenSet_Type) {
        Py_INCREF(value);
        failed = write_set(out, value, w) < 0;
        Py_DECREF(value);
    } else if (is_column(value)) {
        Py_INCREF(value);
        failed = write_column(out, (Column *)value, w) < 0;
        Py_DECREF(value);
    } else {
        PyObject *plain = PyObject_CallOneArg(w->other, value);
        failed = plain == NULL || write_plain(out, plain, w) < 0;
        Py_XDECREF(plain);
    }
    Py_LeaveRecursiveCall();
    return failed ? -1 : 0;
}

static PyObject *codec_dumps(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "dumps(value, other, number)");
        return NULL;
    }
    Writers w = {args[1], args[2]};
    Out out = {NULL, 0, 0};
    PyObject *bytes = write_value(&out, args[0], &w) < 0 ? NULL : PyBytes_FromStringAndSize(out.data, out.len);
    PyMem_Free(out.data);
    return bytes;
}

/* ---- decode: what orjson read of a state, back to the values --------------------------------- */

static PyObject *s_t, *s_q, *s_s, *s_w, *s_d;   /* the tags */

static PyObject *decode(PyObject *value, PyObject *other);

/* The decoded items of a list, as a new list. */
static PyObject *decode_items(PyObject *list, PyObject *other) {
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *item = decode(PyList_GET_ITEM(list, i), other);
        if (item == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* The list under a tag, or NULL with a ValueError: a state written here holds lists there. */
static PyObject *tagged_list(PyObject *held) {
    if (PyList_CheckExact(held)) return held;
    PyErr_SetString(PyExc_ValueError, "a tagged state value holds a list");
    return NULL;
}

/* {"d": [[key, value], ...]} as the dict. */
static PyObject *decode_pairs(PyObject *pairs, PyObject *other) {
    PyObject *out = PyDict_New();
    for (Py_ssize_t i = 0; out != NULL && i < PyList_GET_SIZE(pairs); i++) {
        PyObject *pair = PyList_GET_ITEM(pairs, i);
        if (!PyList_CheckExact(pair) || PyList_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_ValueError, "a stored dict's item is a [key, value] pair");
            Py_CLEAR(out);
            break;
        }
        PyObject *key = decode(PyList_GET_ITEM(pair, 0), other);
        PyObject *item = key != NULL ? decode(PyList_GET_ITEM(pair, 1), other) : NULL;
        if (item == NULL || PyDict_SetItem(out, key, item) < 0) Py_CLEAR(out);
        Py_XDECREF(key);
        Py_XDECREF(item);
    }
    return out;
}

/* The tag of an encoded dict, as the definition tries them — 't', 'q', 's', 'w', 'd' — with what
 * it holds in *held (borrowed); 0: none of them; -1: an error. */
static int tag_of(PyObject *dict, PyObject **held) {
    PyObject *const tags[] = {s_t, s_q, s_s, s_w, s_d};
    for (int i = 0; i < 5; i++) {
        *held = PyDict_GetItemWithError(dict, tags[i]);
        if (*held != NULL) return PyUnicode_READ_CHAR(tags[i], 0);
        if (PyErr_Occurred()) return -1;
    }
    return 0;
}

/* codec.plain_decode: lists and the tags t, s and d here, the rest (q, w, anything unknown) by
 * `other`, in the order the definition tries them. */
static PyObject *decode(PyObject *value, PyObject *other) {
    if (!PyList_CheckExact(value) && !PyDict_CheckExact(value)) return Py_NewRef(value);
    if (Py_EnterRecursiveCall(" while decoding a state value")) return NULL;
    PyObject *out = NULL, *held = NULL, *items;
    int tag = PyList_CheckExact(value) ? 'l' : tag_of(value, &held);
    switch (tag) {
        case -1:
            break;
        case 'l':
            out = decode_items(value, other);
            break;
        case 't':
        case 's':
            items = tagged_list(held) ? decode_items(held, other) : NULL;
            if (items != NULL) out = tag == 't' ? PyList_AsTuple(items) : PySet_New(items);
            Py_XDECREF(items);
            break;
        case 'd':
            out = tagged_list(held) ? decode_pairs(held, other) : NULL;
            break;
        default:
            out = PyObject_CallOneArg(other, value);
    }
    Py_LeaveRecursiveCall();
    return out;
}

static PyObject *codec_decode(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode(value, other)");
        return NULL;
    }
    return decode(args[0], args[1]);
}

/* ---- taken: a copy that holds still --------------------------------------------------------- */

/* taken(value) -> what the value holds now, apart from it, or None: for a bot's checkpoint, copied
 * under the engine's lock and written after it while events go on (Engine.checkpoint). A dict
 * whose values cannot change (`unchanging`), a set or frozenset of such values, such a value
 * itself; None for anything else (windows, deques, lists, a dict of dicts), written under the
 * lock as before. Member-keyed columns: Column.taken. */
static PyObject *codec_taken(PyObject *Py_UNUSED(module), PyObject *value) {
    if (unchanging(value)) return Py_NewRef(value);
    Py_ssize_t pos = 0;
    PyObject *item, *held;
    if (PyAnySet_CheckExact(value)) {
        Py_hash_t hash;
        while (_PySet_NextEntry(value, &pos, &item, &hash))
            if (!unchanging(item)) Py_RETURN_NONE;
        return PyFrozenSet_CheckExact(value) ? Py_NewRef(value) : PySet_New(value);
    }
    if (!PyDict_CheckExact(value)) Py_RETURN_NONE;
    while (PyDict_Next(value, &pos, &item, &held))
        if (!unchanging(held)) Py_RETURN_NONE;
    return PyDict_Copy(value);
}

static PyMethodDef functions[] = {
    {"taken", (PyCFunction)codec_taken, METH_O,
     "taken(value): a copy of a dict or set of atoms or tuples of atoms, such a value itself; None for anything else"},
    {"decode", (PyCFunction)(void (*)(void))codec_decode, METH_FASTCALL,
     "decode(value, other): codec.decode's lists and tags t, s and d in C, other(value) for the rest"},
    {"dumps", (PyCFunction)(void (*)(void))codec_dumps, METH_FASTCALL,
     "dumps(value, other, number): orjson.dumps(codec.encode(value)) written in C; other(value) for "
     "what it does not take, number(value) for floats and ints past 64 bits"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_codec", NULL, 0, functions, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__codec(void) {
    columns_import();
    if ((s_t = PyUnicode_InternFromString("t")) == NULL || (s_d = PyUnicode_InternFromString("d")) == NULL
        || (s_q = PyUnicode_InternFromString("q")) == NULL || (s_s = PyUnicode_InternFromString("s")) == NULL
        || (s_w = PyUnicode_InternFromString("w")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
