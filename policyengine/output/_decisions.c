/* Decisions out, in C: a stretch of decisions as JSON lines, byte for byte what orjson writes, and
 * the (policy, rule, action) tally `eval`'s summary prints.
 *
 * Why: the community pack decides on six events in ten. Each decision cost ~3 000 instructions
 * to write (one orjson call, its buffer and a bytes object per decision, then the join) and
 * ~1 600 to count (an itemgetter tuple, its hash, a Counter lookup and a new int): 12 % of the
 * pack's instructions. Here a decision is one pass over its dict into a shared buffer, and a
 * count is three dict reads and a probe of a table keyed by the three strings' addresses.
 *
 * What this encoder takes: a decision record (_record.h), or an exact dict with exact str keys,
 * whose values are exact str (no surrogates), exact int within 64 bits, True, False or None. Any
 * other decision (a float, a list, a subclass, a bad string) is handed to orjson whole (a record
 * as its dict), so every output and every error is orjson's (output/decisions.py is the
 * definition; tests compare the two). The tally is in _tally.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_decisions.h"
#include "../events/_format.h"   /* format_us_chars */
#include "../runtime/_ints.h"     /* as_int64 */

static PyObject *s_ts, *s_policy, *s_rule, *s_action, *s_user, *s_event_id, *orjson_dumps, *append_newline,
                *option_kw;

#include "_record.h"     /* the Record type, materialize */

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
        long long x;
        if (!as_int64(v, &x)) return 1;            /* past 64 bits: orjson's u64 range and its error */
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

/* Bytes known here (a head key with its comma and colon), as they are. */
static inline int put_raw(const char *text, Py_ssize_t len) {
    if (reserve(len) < 0) return -1;
    memcpy(buf + buf_len, text, (size_t)len);
    buf_len += len;
    return 0;
}
#define PUT_RAW(literal) put_raw(literal, (Py_ssize_t)sizeof literal - 1)

/* `"ts":"…"` from microseconds, the first member of a record's line. */
static int put_time(int64_t us) {
    if (reserve(40) < 0) return -1;
    memcpy(buf + buf_len, "\"ts\":\"", 6);
    buf_len += 6;
    buf_len += format_us_chars(us, buf + buf_len);
    buf[buf_len++] = '"';
    return 0;
}

/* A record's policy, rule and action as one encoded run — `,"policy":…,"rule":…,"action":…` —
 * kept by the three strings' addresses when all three are interned (the program's names): a
 * program's decisions come from a few dozen such triples, and each decision wrote them as six
 * cached strings apart (~400 instructions). The cache holds a reference to each string. */
#define HEAD_SETS 64
typedef struct { PyObject *names[3]; char *text; Py_ssize_t len; } Head;
static Head head_cache[HEAD_SETS];

/* The members of slots 1–3, after the time: 0 written, 1 not mine, -1 error. */
static int put_names(const Record *rec) {
    PyObject *const *names = rec->head + 1;
    uint64_t mix = (uint64_t)(uintptr_t)names[0] ^ ((uint64_t)(uintptr_t)names[1] * 3) ^ ((uint64_t)(uintptr_t)names[2] * 5);
    Head *h = &head_cache[(mix * 0x9E3779B97F4A7C15ull) >> 58];
    if (h->names[0] == names[0] && h->names[1] == names[1] && h->names[2] == names[2] && names[0] != NULL) {
        if (reserve(h->len) < 0) return -1;
        memcpy(buf + buf_len, h->text, (size_t)h->len);
        buf_len += h->len;
        return 0;
    }
    Py_ssize_t start = buf_len;
    int first = 0;                                 /* after the time */
    for (int i = 1; i <= 3; i++) {
        if (rec->head[i] == NULL) continue;
        int r = put_member(&first, head_keys[i], rec->head[i]);
        if (r != 0) return r;
    }
    for (int i = 0; i < 3; i++)
        if (names[i] == NULL || !PyUnicode_CheckExact(names[i]) || !PyUnicode_CHECK_INTERNED(names[i])) return 0;
    char *text = PyMem_Malloc((size_t)(buf_len - start));
    if (text == NULL) return 0;                    /* written; only not kept */
    memcpy(text, buf + start, (size_t)(buf_len - start));
    for (int i = 0; i < 3; i++) Py_XSETREF(h->names[i], Py_NewRef(names[i]));
    PyMem_Free(h->text);
    h->text = text;
    h->len = buf_len - start;
    return 0;
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
        /* The head's keys are known: written as bytes (the time always comes first, so every
         * other member after a comma), not looked up in the cache of encoded strings. */
        const Record *rec = (const Record *)d;
        first = 0;
        r = rec->head[0] != NULL ? put_raw("\"ts\":", 5) < 0 ? -1 : put_value(rec->head[0])
                                 : put_time(rec->ts_us);   /* a time not made into a str */
        if (r == 0) r = put_names(rec);
        if (r == 0 && rec->head[4] != NULL) r = PUT_RAW(",\"user\":") < 0 ? -1 : put_value(rec->head[4]);
        if (r == 0 && rec->head[5] != NULL) r = PUT_RAW(",\"event_id\":") < 0 ? -1 : put_value(rec->head[5]);
        for (int i = 0; i < rec->n && r == 0; i++)
            if (rec->values[i] != NULL) r = put_member(&first, rec->keys[i], rec->values[i]);
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

/* One merge key onto the buffer: the tag's four ints (each within 64 bits) plus 2**63 as 16 hex
 * digits each, which sort as bytes as the tags do. 0, or -1 with an exception. */
static int put_key(PyObject *tag) {
    if (!PyTuple_CheckExact(tag) || PyTuple_GET_SIZE(tag) != 4) {
        PyErr_SetString(PyExc_TypeError, "a merge tag is a tuple of four ints");
        return -1;
    }
    if (reserve(64) < 0) return -1;
    for (int k = 0; k < 4; k++) {
        PyObject *v = PyTuple_GET_ITEM(tag, k);
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);      /* TypeError for a non-int */
        if (overflow) {
            PyErr_SetString(PyExc_OverflowError, "a merge tag's numbers are ints within 64 bits");
            return -1;
        }
        if (x == -1 && PyErr_Occurred()) return -1;
        uint64_t u = (uint64_t)x ^ (UINT64_C(1) << 63);     /* x + 2**63 in 64 bits */
        for (int d = 15; d >= 0; d--, u >>= 4) buf[buf_len + d] = HEX[u & 0xF];
        buf_len += 16;
    }
    return 0;
}

/* The decisions' lines, each after its tag's merge key where `tags` is given (else NULL), as one
 * bytes object. */
static PyObject *dump(PyObject *decisions, PyObject *tags) {
    PyObject *seq = PySequence_Fast(decisions, "dump_lines and dump_tagged take a sequence of decisions");
    if (seq == NULL) return NULL;
    PyObject *keys = tags == NULL ? NULL : PySequence_Fast(tags, "dump_tagged takes a sequence of tags");
    PyObject *out = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (tags != NULL && (keys == NULL || PySequence_Fast_GET_SIZE(keys) != n)) {
        if (keys != NULL) PyErr_SetString(PyExc_ValueError, "dump_tagged takes a tag for each decision");
        goto done;
    }
    buf_len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (keys != NULL && put_key(PySequence_Fast_GET_ITEM(keys, i)) < 0) goto done;
        PyObject *d = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        int r = put_line(d);
        Py_DECREF(d);
        if (r < 0) goto done;
    }
    out = PyBytes_FromStringAndSize(buf, buf_len);
done:
    Py_DECREF(seq);
    Py_XDECREF(keys);
    return out;
}

/* dump_lines(decisions: a sequence) -> bytes */
static PyObject *dump_lines(PyObject *Py_UNUSED(self), PyObject *decisions) { return dump(decisions, NULL); }

/* dump_tagged(decisions, tags) -> bytes: each decision's line (as dump_lines writes it) after its
 * merge key (put_key) — a worker's spool for `eval --workers`, where a decision's key in Python
 * and its line written alone cost ~1.2 us a decision, most of a cheap program's writing. */
static PyObject *dump_tagged(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "dump_tagged(decisions, tags)");
        return NULL;
    }
    return dump(args[0], args[1]);
}

/* merge_spooled(spools, at, limit) -> (bytes, at): the workers' spooled lines (each a MERGE_KEY
 * of 64 bytes, then a decision's JSON line; each spool sorted by key) merged from the offsets `at`
 * as heapq.merge merges them — by key, equal keys in the spools' order — with their keys cut off,
 * until the output holds `limit` bytes or every spool is read; and the offsets reached. The
 * parent's merge in Python (parallel.merged: lines, keys and joins as objects) took ~0.37 us a
 * decision, serial after the workers: 0.23 s of a points-per-message program's 0.8 s. */
#define SPOOL_KEY 64
#define MOST_SPOOLS 256

static PyObject *merge_spooled(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyList_Check(args[0]) || !PyList_Check(args[1])
        || PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1]) || PyList_GET_SIZE(args[0]) > MOST_SPOOLS) {
        PyErr_SetString(PyExc_TypeError, "merge_spooled(spools: list, at: list of offsets, limit: int)");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(args[0]), limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (limit < 1) {
        PyErr_SetString(PyExc_ValueError, "merge_spooled: a limit of a byte or more");   /* or no call would end */
        return NULL;
    }
    Py_buffer views[MOST_SPOOLS];
    Py_ssize_t at[MOST_SPOOLS];
    Py_ssize_t held = 0;
    PyObject *result = NULL, *out = NULL, *offsets = NULL;
    for (; held < n; held++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(args[0], held), &views[held], PyBUF_SIMPLE) < 0) goto done;
        at[held] = PyLong_AsSsize_t(PyList_GET_ITEM(args[1], held));
        if (at[held] == -1 && PyErr_Occurred()) {
            PyBuffer_Release(&views[held]);
            goto done;
        }
        if (at[held] < 0 || at[held] > views[held].len) {
            PyBuffer_Release(&views[held]);
            PyErr_SetString(PyExc_ValueError, "merge_spooled: an offset outside its spool");
            goto done;
        }
    }
    Py_ssize_t room = limit + 4096, used = 0;
    char *buf = PyMem_Malloc((size_t)room);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    while (used < limit) {
        int best = -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (at[i] >= views[i].len) continue;
            if (views[i].len - at[i] < SPOOL_KEY) {
                PyMem_Free(buf);
                PyErr_SetString(PyExc_ValueError, "merge_spooled: a spooled line shorter than its key");
                goto done;
            }
            if (best < 0 || memcmp((const char *)views[i].buf + at[i], (const char *)views[best].buf + at[best],
                                   SPOOL_KEY) < 0)
                best = (int)i;
        }
        if (best < 0) break;
        const char *line = (const char *)views[best].buf + at[best] + SPOOL_KEY;
        Py_ssize_t left = views[best].len - at[best] - SPOOL_KEY;
        const char *end = memchr(line, '\n', (size_t)left);
        Py_ssize_t len = end != NULL ? end - line + 1 : left;     /* the newline kept: a line as written */
        if (used + len > room) {
            Py_ssize_t more = (used + len) * 2;
            char *grown = PyMem_Realloc(buf, (size_t)more);
            if (grown == NULL) {
                PyMem_Free(buf);
                PyErr_NoMemory();
                goto done;
            }
            buf = grown;
            room = more;
        }
        memcpy(buf + used, line, (size_t)len);
        used += len;
        at[best] += SPOOL_KEY + len;
    }
    out = PyBytes_FromStringAndSize(buf, used);
    PyMem_Free(buf);
    if (out == NULL) goto done;
    offsets = PyList_New(n);
    if (offsets == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyLong_FromSsize_t(at[i]);
        if (o == NULL) goto done;
        PyList_SET_ITEM(offsets, i, o);
    }
    result = PyTuple_Pack(2, out, offsets);
done:
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    Py_XDECREF(out);
    Py_XDECREF(offsets);
    return result;
}

#include "_tally.h"      /* Tally */

static PyMethodDef methods[] = {
    {"dump_lines", dump_lines, METH_O, "dump_lines(decisions) -> bytes: JSON lines as orjson writes them"},
    {"merge_spooled", (PyCFunction)(void (*)(void))merge_spooled, METH_FASTCALL,
     "merge_spooled(spools, at, limit) -> (bytes, at): the workers' spools merged by key from `at`, keys cut off"},
    {"dump_tagged", (PyCFunction)(void (*)(void))dump_tagged, METH_FASTCALL,
     "dump_tagged(decisions, tags) -> bytes: each JSON line after its tag's 64-digit merge key"},
    {"materialize", materialize, METH_O, "materialize(decisions: list): records replaced by their dicts, in place"},
    {"record", (PyCFunction)(void (*)(void))py_record, METH_FASTCALL,
     "record(ts, policy, rule, action, user, event_id, fields) -> a decision record"},
    {NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_decisions", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__decisions(void) {
    if (PyType_Ready(&TallyType) < 0 || PyType_Ready(&RecordType) < 0 || PyType_Ready(&DecisionMakerType) < 0)
        return NULL;
    s_reason = PyUnicode_InternFromString("reason");
    if (s_reason == NULL) return NULL;
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
        || PyModule_AddObjectRef(m, "DecisionMaker", (PyObject *)&DecisionMakerType) < 0
        || PyModule_AddObjectRef(m, "Tally", (PyObject *)&TallyType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
