/* Decisions byte for byte the same in both versions of a `diff`, set aside before any is parsed
 * (cli/unchanged.py has the definition, the argument why it is exact, and the tests' oracle).
 *
 * A light edit changes a few decisions in a million, and the parent parsed and matched every one:
 * 1.4 s of a 3 s diff, competing with the two replays for the two cores. Here a line is read only
 * as far as its identity's first field and rule, hashed, and set aside with its twin when both are
 * the only ones of that key in their batches and no decision of that key waits unmatched. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define IS_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')   /* JSON's four */
#define SEED 0x243F6A8885A308D3ULL
#define GOLDEN 0x9E3779B97F4A7C15ULL
#define NO_RULE ((Py_ssize_t)-1)     /* the rule absent or null: a length no bytes have */

/* Eight bytes at a step, the length folded in (a byte at a step, FNV, was a fifth of the time).
 * A collision only keeps lines that could have been set aside. */
static inline uint64_t hash_bytes(uint64_t h, const unsigned char *p, Py_ssize_t n) {
    uint64_t w;
    h = (h ^ (uint64_t)n) * GOLDEN;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * GOLDEN;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, (size_t)n);
    h = (h ^ w) * GOLDEN;
    return h ^ (h >> 29);
}

/* murmur3's finaliser, kept under 2**63 so that Python's int of it is the same number either way. */
static inline uint64_t mixed(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h >> 1;
}

static uint64_t key_hash(const unsigned char *first, Py_ssize_t first_len, const unsigned char *rule, Py_ssize_t rule_len) {
    uint64_t h = hash_bytes(SEED, first, first_len);
    return mixed(rule != NULL ? hash_bytes(h, rule, rule_len) : (h ^ (uint64_t)NO_RULE) * GOLDEN);
}

/* A value after a key's colon: a string without escapes (1, its bytes in *v and *len), null (0,
 * *v NULL), or anything else (-1). */
static int value_at(const unsigned char *p, const unsigned char *end, const unsigned char **v, Py_ssize_t *len) {
    while (p < end && IS_SPACE(*p)) p++;
    if (p < end && *p == '"') {
        const unsigned char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (q == NULL) return -1;
        *v = p + 1;
        *len = q - p - 1;
        return 1;
    }
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        *v = NULL;
        *len = 0;
        return 0;
    }
    return -1;
}

/* The key (hash) of a decision line as cli/unchanged.line_key reads it: 1, or 0 when unsure. With
 * no backslash every quote opens or closes a string, and with no brace outside a string but the
 * first every key is the object's own. */
static int line_key(const unsigned char *s, Py_ssize_t n, uint64_t *key) {
    const unsigned char *end = s + n, *p = s + 1;
    const unsigned char *value[3] = {NULL, NULL, NULL};       /* ts, event_id, rule */
    Py_ssize_t value_len[3] = {0, 0, 0};
    int seen[3] = {0, 0, 0}, kind[3] = {0, 0, 0};           /* kind: 1 a string, 0 null or absent, -1 other */
    if (n < 2 || s[0] != '{' || end[-1] != '}' || memchr(s, '\\', (size_t)n) != NULL) return 0;
    /* Most lines have no brace but the first: then no stretch between strings needs a look. The
     * strings are short (a call of memchr each was half the time), so they are walked here. */
    int braces = memchr(s + 1, '{', (size_t)(n - 1)) != NULL;
    for (;;) {
        const unsigned char *q = p;
        while (q < end && *q != '"') q++;
        if (braces && memchr(p, '{', (size_t)(q - p)) != NULL) return 0;
        if (q >= end) break;
        const unsigned char *close = q + 1;
        while (close < end && *close != '"') close++;
        if (close >= end) return 0;
        const unsigned char *after = close + 1;
        while (after < end && IS_SPACE(*after)) after++;
        p = after;
        if (after >= end || *after != ':') continue;          /* a value, not a key */
        Py_ssize_t klen = close - q - 1;
        int f = klen == 2 && memcmp(q + 1, "ts", 2) == 0 ? 0
                : klen == 8 && memcmp(q + 1, "event_id", 8) == 0 ? 1
                : klen == 4 && memcmp(q + 1, "rule", 4) == 0 ? 2 : -1;
        p = after + 1;
        if (f < 0) continue;
        if (seen[f]) return 0;                                  /* twice: a parse keeps the last */
        seen[f] = 1;
        kind[f] = value_at(p, end, &value[f], &value_len[f]);
        if (kind[f] > 0) p = value[f] + value_len[f] + 1;       /* past the value's closing quote */
    }
    if (kind[0] < 0 || kind[1] < 0 || kind[2] < 0) return 0;   /* one of them a number, a list: as line_key */
    int by_event = kind[1] > 0 && value_len[1] > 0;           /* `event_id or ts`: "" and null are false */
    if (!by_event && kind[0] <= 0) return 0;
    int f = by_event ? 1 : 0;
    *key = key_hash(value[f], value_len[f], kind[2] > 0 ? value[2] : NULL, value_len[2]);
    return 1;
}

/* key_of(first, rule) → the key of an identity whose first field and rule these are, as a line of
 * it hashes (the rule a str or None); any other first field, a key no line of it has. */
static PyObject *key_of(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "key_of(first, rule)");
        return NULL;
    }
    Py_ssize_t first_len = 0, rule_len = 0;
    const char *first = PyUnicode_Check(args[0]) ? PyUnicode_AsUTF8AndSize(args[0], &first_len) : NULL;
    const char *rule = PyUnicode_Check(args[1]) ? PyUnicode_AsUTF8AndSize(args[1], &rule_len) : NULL;
    if (PyErr_Occurred()) {                                     /* a lone surrogate: no line spells it */
        PyErr_Clear();
        first = NULL;
    }
    if (first == NULL || (rule == NULL && args[1] != Py_None))
        return PyLong_FromUnsignedLongLong(mixed(SEED));        /* a key no line has, but by chance */
    return PyLong_FromUnsignedLongLong(key_hash((const unsigned char *)first, first_len, (const unsigned char *)rule, rule_len));
}

typedef struct {
    uint64_t key;                    /* the key + 1; 0: empty */
    int32_t count[2];                /* lines of it in the old batch, in the new */
    Py_ssize_t at[2];                /* the last of them in each */
} Slot;

static Slot *slot_of(Slot *table, size_t mask, uint64_t key) {
    size_t i = (size_t)key & mask;
    while (table[i].key != 0 && table[i].key != key + 1) i = (i + 1) & mask;
    return &table[i];
}

static PyObject *kept(PyObject *lines, const char *dropped) {
    Py_ssize_t n = PyList_GET_SIZE(lines);
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!dropped[i] && PyList_Append(out, PyList_GET_ITEM(lines, i)) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    return out;
}

/* unchanged_out(old, new, waiting) → (old, new) without the lines cli/unchanged.unchanged_out sets
 * aside: lists of bytes; `waiting` the keys (key_of) of the identities that wait unmatched. */
static PyObject *unchanged_out(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_Check(args[0]) || !PyList_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "unchanged_out(old: list[bytes], new: list[bytes], waiting: dict)");
        return NULL;
    }
    PyObject *lists[2] = {args[0], args[1]}, *waiting = args[2], *result = NULL;
    Py_ssize_t n[2] = {PyList_GET_SIZE(args[0]), PyList_GET_SIZE(args[1])};
    if (n[0] == 0 || n[1] == 0) return PyTuple_Pack(2, lists[0], lists[1]);
    size_t size = 16;
    while (size < 2 * (size_t)(n[0] + n[1])) size *= 2;
    uint64_t *keys = PyMem_Malloc((size_t)(n[0] + n[1]) * sizeof *keys);
    Slot *table = PyMem_Calloc(size, sizeof *table);
    char *dropped = PyMem_Calloc((size_t)(n[0] + n[1]), 1);
    if (keys == NULL || table == NULL || dropped == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (int side = 0; side < 2; side++)
        for (Py_ssize_t i = 0; i < n[side]; i++) {
            PyObject *line = PyList_GET_ITEM(lists[side], i);
            uint64_t key;
            /* A line whose identity cannot be read here could share one with a line that can:
             * then no line of the two batches is set aside. */
            if (!PyBytes_CheckExact(line)
                || !line_key((const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), &key)) {
                result = PyTuple_Pack(2, lists[0], lists[1]);
                goto done;
            }
            keys[side * n[0] + i] = key;
            Slot *slot = slot_of(table, size - 1, key);
            slot->key = key + 1;
            slot->count[side]++;
            slot->at[side] = i;
        }
    Py_ssize_t set_aside = 0;
    for (Py_ssize_t i = 0; i < n[0]; i++) {
        Slot *slot = slot_of(table, size - 1, keys[i]);
        if (slot->count[0] != 1 || slot->count[1] != 1) continue;
        PyObject *a = PyList_GET_ITEM(lists[0], i), *b = PyList_GET_ITEM(lists[1], slot->at[1]);
        if (PyBytes_GET_SIZE(a) != PyBytes_GET_SIZE(b)
            || memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(a)) != 0)
            continue;
        if (PyDict_GET_SIZE(waiting) > 0) {
            PyObject *key = PyLong_FromUnsignedLongLong(keys[i]);
            int waits = key == NULL ? -1 : PyDict_Contains(waiting, key);
            Py_XDECREF(key);
            if (waits < 0) goto done;
            if (waits) continue;
        }
        dropped[i] = dropped[n[0] + slot->at[1]] = 1;
        set_aside++;
    }
    if (set_aside == 0) {
        result = PyTuple_Pack(2, lists[0], lists[1]);
        goto done;
    }
    PyObject *old = kept(lists[0], dropped), *new = old == NULL ? NULL : kept(lists[1], dropped + n[0]);
    if (new != NULL) result = PyTuple_Pack(2, old, new);
    Py_XDECREF(old);
    Py_XDECREF(new);
done:
    PyMem_Free(keys);
    PyMem_Free(table);
    PyMem_Free(dropped);
    return result;
}

static PyMethodDef methods[] = {
    {"key_of", (PyCFunction)(void (*)(void))key_of, METH_FASTCALL,
     "key_of(first, rule) -> the key of an identity with this first field and rule"},
    {"unchanged_out", (PyCFunction)(void (*)(void))unchanged_out, METH_FASTCALL,
     "unchanged_out(old, new, waiting) -> (old, new) without the lines equal in both that need no parse"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_unchanged", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__unchanged(void) { return PyModule_Create(&module); }
