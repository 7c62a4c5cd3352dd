/* Which worker of `eval --workers` a line belongs to, read without decoding it.
 *
 * Every worker keeps the one event clock, so it needs the time of every event, and it used to
 * decode every line for it: on cheap rules decoding is most of an event's cost, and two workers
 * ran no faster than one. This scan reads a line once and answers either "sure: an event of
 * member U at time T" or "unsure". A worker decodes only the sure lines of its own members; of
 * the others it takes T alone, to move the clock; unsure lines every worker decodes, as before.
 *
 * Exactness rests on "sure" never being wrong: a sure line must be one the program's record
 * decoder (events/records.py, msgspec) takes, whose `user` is U and whose event_time is T. So the
 * scan takes a strict subset of what the decoder takes and calls everything else unsure: the
 * line must be valid UTF-8, one JSON object, no key with an escape (it could spell a field's
 * name), no record field twice, `user` a non-empty string without escapes, `ts` an RFC 3339
 * string event_time reads, every field of the record of its kind, no number with an exponent or
 * over 40 characters, no nesting deeper than 32, no lone surrogate escape. tests/test_route.py
 * checks "sure" against the decoders with hypothesis, and a worker handed a sure line that its
 * decoder refuses stops the parallel run, which then runs again on one worker (parallel.py).
 */
#include "_text.h"   /* rfc3339_us, utf8_valid */

#include "_json_scan.h" /* Cursor, the scans, Layout and field_of */

static uint32_t crc_table[256];

/* zlib's CRC-32 (reflected 0xEDB88320), the one runtime/helpers.share_of uses. */
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, Py_ssize_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* A record field's value that is not a plain string (scan_line checks those itself), checked for
 * its kind. */
static int scan_field(Cursor *c, int kind) {
    const unsigned char *start;
    Py_ssize_t len;
    int escaped, fits;
    unsigned char first = c->p < c->end ? *c->p : 0;
    switch (kind) {
    case K_NAME:
        return first == '"' && scan_string(c, &start, &len, &escaped) && len > 0;
    case K_USER:
    case K_TIME:
        return 0;                                      /* escaped, or not a string: unsure */
    case K_TEXT:
        return first == 'n' ? scan_word(c, "null", 4) : first == '"' && scan_string(c, &start, &len, &escaped);
    case K_NUMBER:
        if (first == 'n') return scan_word(c, "null", 4);
        if (first != '-' && (first < '0' || first > '9')) return 0;
        return scan_number(c, &fits) && fits;
    case K_BOOL:
        return first == 'n' ? scan_word(c, "null", 4) : first == 't' ? scan_word(c, "true", 4)
               : first == 'f' && scan_word(c, "false", 5);
    case K_LIST:
        return first == 'n' ? scan_word(c, "null", 4) : first == '[' && skip_value(c, 1);
    default:                                           /* K_RAW: any JSON */
        return skip_value(c, 1);
    }
}

/* A line the record decoder takes as an event of *user at *ts: 1; unsure: 0. */
static int scan_line(const unsigned char *s, Py_ssize_t n, const Layout *layout, Predicted *predictions,
                     const unsigned char **user, Py_ssize_t *user_len, int64_t *ts) {
    if (!utf8_valid(s, n)) return 0;
    const unsigned char *p = s, *end = s + n;
    uint64_t seen = 0;
    SKIP_WS(p, end);
    if (p >= end || *p != '{') return 0;
    p++;
    SKIP_WS(p, end);
    for (int k = 0;; k++) {
        int f;
        Predicted *predicted = k < PREDICTED ? &predictions[k] : NULL;
        if (key_as_predicted(predicted, p, end)) {
            f = predicted->field;                       /* the key the last line had here */
            p += predicted->len;
        } else {
            /* The key: no escape (one could spell a field's name). */
            if (p >= end || *p != '"') return 0;
            const unsigned char *key = p + 1, *q = plain_run(key, end);
            if (q >= end || *q != '"') return 0;
            f = field_of(key, q - key, end, layout);
            predict_key(predicted, p, q, end, f, 0);   /* the line's UTF-8 is checked whole */
            p = q + 1;
            SKIP_WS(p, end);
            if (p >= end || *p != ':') return 0;
            p++;
        }
        SKIP_WS(p, end);
        if (f >= 0) {
            if (seen & (1ULL << f)) return 0;           /* a field twice: the decoders keep the last */
            seen |= 1ULL << f;
        }
        int kind = f >= 0 ? layout->fields[f].kind : K_RAW;
        const unsigned char *v = p + 1, *e;
        if (p < end && *p == '"' && (e = plain_run(v, end)) < end && *e == '"') {
            /* A string without escapes, the common value: checked here for its field's kind. */
            p = e + 1;
            if (kind == K_USER) {
                if (e == v) return 0;
                *user = v;
                *user_len = e - v;
            } else if (kind == K_TIME) {
                if (!rfc3339_us((const char *)v, e - v, ts)) return 0;
            } else if (kind == K_NAME) {
                if (e == v) return 0;
            } else if (kind != K_TEXT && kind != K_RAW) {
                return 0;                               /* a string where a number, a flag or a list goes */
            }
        } else {
            Cursor c = {p, end};
            if (!scan_field(&c, kind)) return 0;
            p = c.p;
        }
        SKIP_WS(p, end);
        if (p >= end) return 0;
        if (*p == '}') break;
        if (*p != ',') return 0;
        p++;
        SKIP_WS(p, end);
    }
    p++;
    SKIP_WS(p, end);
    return p == end && (seen & layout->required) == layout->required;
}

/* The layout from Python's ((name bytes, kind), ...); -1 with an exception set if malformed; 0
 * fields (so every line unsure) if there are more than MAX_FIELDS or no single user field. */
static int read_layout(PyObject *spec, Layout *layout) {
    memset(layout, 0, sizeof *layout);
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "fields must be a tuple of (bytes, int)");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(spec);
    if (n > MAX_FIELDS) return 0;
    int users = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(spec, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(item, 0))
            || !PyLong_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "fields must be a tuple of (bytes, int)");
            return -1;
        }
        Field *f = &layout->fields[i];
        layout_name(layout, i, PyTuple_GET_ITEM(item, 0));
        f->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        if (f->kind < K_NAME || f->kind > K_RAW || f->len == 0) {
            PyErr_SetString(PyExc_ValueError, "a field needs a name and a known kind");
            return -1;
        }
        users += f->kind == K_USER;
        if (f->kind == K_NAME || f->kind == K_USER || f->kind == K_TIME) layout->required |= 1ULL << i;
    }
    layout->nfields = users == 1 ? (int)n : 0;
    return layout->nfields;
}

/* route(lines, fields, shares, share) → a list as long as `lines` (`shares` a count or a
 * partition, as above): for a sure line of a member
 * of `share` the line itself; of another share's member its time in microseconds (an int);
 * for a line the scan is unsure of (or None, an over-long line) a 1-tuple holding it. */
static PyObject *route(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "route(lines: list, fields, shares, share)");
        return NULL;
    }
    Layout layout;
    if (read_layout(args[1], &layout) < 0) return NULL;
    /* shares: how many (a member's share its CRC-32 modulo that), or a partition (bytes: the
     * member's share is the byte at its CRC-32 modulo the length), as helpers.share_of reads it */
    const unsigned char *partition = NULL;
    Py_ssize_t buckets = 0;
    long shares = 0, share = PyLong_AsLong(args[3]);
    if (PyBytes_Check(args[2])) {
        partition = (const unsigned char *)PyBytes_AS_STRING(args[2]);
        buckets = PyBytes_GET_SIZE(args[2]);
    } else {
        shares = PyLong_AsLong(args[2]);
    }
    if (PyErr_Occurred()) return NULL;
    if (partition != NULL ? buckets < 1 || share < 0 : shares < 1 || share < 0 || share >= shares) {
        PyErr_SetString(PyExc_ValueError, "share must be in range(shares), and a partition not empty");
        return NULL;
    }
    PyObject *lines = args[0];
    Py_ssize_t n = PyList_GET_SIZE(lines);
    Predicted predictions[PREDICTED];                   /* keys predicted from line to line */
    memset(predictions, 0, sizeof predictions);
    PyObject *out = PyList_New(n);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i), *item;
        const unsigned char *user = NULL;
        Py_ssize_t user_len = 0;
        int64_t ts = 0;
        if (layout.nfields > 0 && PyBytes_CheckExact(line)
            && scan_line((const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), &layout,
                         predictions, &user, &user_len, &ts)) {
            uint32_t crc = crc32_of(user, user_len);
            long owner = partition != NULL ? (long)partition[crc % (uint32_t)buckets] : (long)(crc % (uint32_t)shares);
            if (owner == share) {
                Py_INCREF(line);
                item = line;
            } else {
                item = PyLong_FromLongLong(ts);
            }
        } else {
            item = PyTuple_Pack(1, line);
        }
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* crc32(data) → zlib.crc32(data); for the tests, which hold it to zlib's. */
static PyObject *py_crc32(PyObject *Py_UNUSED(self), PyObject *data) {
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "crc32 takes bytes");
        return NULL;
    }
    return PyLong_FromUnsignedLong(crc32_of((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data)));
}

static PyMethodDef methods[] = {
    {"route", (PyCFunction)(void (*)(void))route, METH_FASTCALL,
     "route(lines, fields, shares, share) -> per line: the line (own), its time (another share's) or (line,) (unsure)"},
    {"crc32", py_crc32, METH_O, "crc32(data) -> zlib.crc32(data)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_route", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__route(void) {
    crc_init();
    return PyModule_Create(&module);
}
