/* Per-line work of `policyengine eval` in C: splitting chunks into lines, the event time and
 * UTF-8 validity, the time a decision carries, written out, and case folding of chat text.
 *
 * Both are answered in Python too (timestamps.parse_ts, bytes.decode); this module only answers
 * the common case faster and says "don't know" (None) for everything else, which then goes the
 * Python way. So it may take less than Python does, never more, and where it answers it gives the
 * same number: tests/test_native_lines.py checks it against datetime.fromisoformat,
 * bytes.decode and timestamps.format_ts.
 *
 * Why C: on the reference policies, parsing `ts` with fromisoformat and turning it into
 * microseconds took a quarter of the engine's instructions an event (docs/performance-history.md).
 */
#include "_text.h"   /* rfc3339_us, text_us, utf8_valid */
#include "_format.h" /* format_us_chars */
#include "_split.h"  /* Cutter: where a chunk's lines are cut */


/* event_time(ts, line) → microseconds, or None: "ask Python" (another form of time, a number, a
 * time that is not real, or a line that is not valid UTF-8). */
static PyObject *event_time(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "event_time(ts, line) takes two arguments");
        return NULL;
    }
    PyObject *line = args[1];
    int64_t us;
    if (!PyBytes_CheckExact(line) || !text_us(args[0], &us))
        Py_RETURN_NONE;
    if (!utf8_valid((const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line)))
        Py_RETURN_NONE;
    return PyLong_FromLongLong(us);
}

/* rfc3339_us(text) → microseconds, or None; exposed for parse_ts and for the tests. */
static PyObject *py_rfc3339_us(PyObject *Py_UNUSED(self), PyObject *text) {
    int64_t us;
    if (!text_us(text, &us))
        Py_RETURN_NONE;
    return PyLong_FromLongLong(us);
}

static PyObject *py_utf8_valid(PyObject *Py_UNUSED(self), PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    int ok = utf8_valid((const unsigned char *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

/* split_lines(data[, limit[, head]]) → (head + data).split(b"\n"), found with memchr: bytes.split looks at a
 * single-byte separator one byte at a time, 150 ns a line of the benchmark log against 50 ns
 * here. With `limit`, every piece but the last that is longer is None (an over-long line is
 * never copied; the last piece is the start of a line the next chunk finishes). */
static PyObject *split_lines(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 3 || !PyBytes_CheckExact(args[0]) || (nargs == 3 && !PyBytes_CheckExact(args[2]))) {
        PyErr_SetString(PyExc_TypeError, "split_lines takes bytes, an optional limit and optional head bytes");
        return NULL;
    }
    Py_ssize_t limit = PY_SSIZE_T_MAX;
    if (nargs >= 2 && args[1] != Py_None) {
        limit = PyLong_AsSsize_t(args[1]);
        if (limit == -1 && PyErr_Occurred()) return NULL;
    }
    /* `head`: the start of the first line, read before (a chunk's unfinished last line, which
     * holds no newline): joined to it here, where `head + data` copied the whole chunk (~160
     * instructions an event). */
    const char *head = nargs == 3 ? PyBytes_AS_STRING(args[2]) : NULL;
    Py_ssize_t head_len = nargs == 3 ? PyBytes_GET_SIZE(args[2]) : 0;
    Cutter cuts = cutter_of(PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), limit, head_len);
    PyObject *lines = PyList_New(0);
    if (lines == NULL) return NULL;
    for (;;) {
        Piece piece = next_piece(&cuts);
        PyObject *line;
        if (piece.over) {
            line = Py_NewRef(Py_None);
        } else if (head_len > 0) {
            line = PyBytes_FromStringAndSize(NULL, head_len + piece.len);
            if (line != NULL) {
                memcpy(PyBytes_AS_STRING(line), head, (size_t)head_len);
                memcpy(PyBytes_AS_STRING(line) + head_len, piece.start, (size_t)piece.len);
            }
        } else {
            line = PyBytes_FromStringAndSize(piece.start, piece.len);
        }
        head_len = 0;
        if (line == NULL || PyList_Append(lines, line) < 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
        if (piece.last) return lines;
    }
}


/* format_us(us) → "YYYY-MM-DDTHH:MM:SS[.mmm|.uuuuuu]Z", as timestamps.format_ts writes it, or None
 * outside the years 1000–9999 (format_ts then decides; strftime does not pad years below 1000).
 * Every decision carries one: 2 µs a decision in Python. */
static PyObject *format_us(PyObject *Py_UNUSED(self), PyObject *arg) {
    if (!PyLong_CheckExact(arg)) Py_RETURN_NONE;
    int overflow;
    long long us = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (overflow || (us == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    char buf[32];
    int n = format_us_chars(us, buf);
    if (n == 0) Py_RETURN_NONE;
    PyObject *text = PyUnicode_New(n, 127);
    if (text == NULL) return NULL;
    memcpy(PyUnicode_DATA(text), buf, n);
    return text;
}

/* Code points outside ASCII whose case folding is themselves: CJK, kana, hangul, their
 * punctuation, general punctuation and emoji (tests/test_native_lines.py checks every one against
 * str.casefold). Text made of these and ASCII folds by lowering A-Z. */
static int folds_to_itself(Py_UCS4 c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3000 && c <= 0x30FF) || (c >= 0xFF01 && c <= 0xFF20)
        || (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) || (c >= 0x2000 && c <= 0x206F)
        || (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xAC00 && c <= 0xD7A3)
        || (c >= 0xFE30 && c <= 0xFE4F);
}

/* Whether text of one width folds here: 0 no (ask str.casefold), 1 yes and unchanged, 2 yes with
 * A-Z to lower. */
#define FOLD_SCAN(TYPE)                                                          \
    {                                                                            \
        const TYPE *p = (const TYPE *)data, *end = p + n;                       \
        for (; p < end; p++) {                                                   \
            Py_UCS4 c = *p;                                                      \
            if (c < 0x80) upper |= (c - 'A') < 26u;                              \
            else if (!folds_to_itself(c)) return 0;                              \
        }                                                                        \
    }

static int foldable(int kind, const void *data, Py_ssize_t n) {
    unsigned upper = 0;
    if (kind == PyUnicode_1BYTE_KIND) FOLD_SCAN(Py_UCS1)
    else if (kind == PyUnicode_2BYTE_KIND) FOLD_SCAN(Py_UCS2)
    else FOLD_SCAN(Py_UCS4)
    return upper ? 2 : 1;
}

#define LOWER_ASCII(TYPE)                                                        \
    {                                                                            \
        TYPE *p = (TYPE *)to, *end = p + n;                                      \
        for (; p < end; p++)                                                     \
            if ((unsigned)(*p - 'A') < 26u) *p += 32;                            \
    }

/* casefold(text) → text.casefold(). Word tests fold every message's text, and str.casefold looks
 * each character up in Unicode's tables outside ASCII (0.35 µs for a Chinese message of the
 * benchmark log, 0.13 µs here). Text of ASCII and the characters above folds here, and comes back
 * as itself when nothing changes; any other text goes to str.casefold; None stays None. */
static PyObject *casefold(PyObject *Py_UNUSED(self), PyObject *text) {
    if (text == Py_None) Py_RETURN_NONE;     /* a record's missing text: the handlers need no test of their own */
    if (!PyUnicode_CheckExact(text)) return PyObject_CallMethod(text, "casefold", NULL);
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {          /* one pass: up to the first capital, then lowering */
        const Py_UCS1 *from = (const Py_UCS1 *)data;
        Py_ssize_t i = 0;
        while (i < n && (unsigned)(from[i] - 'A') >= 26u) i++;
        if (i == n) {
            Py_INCREF(text);
            return text;
        }
        PyObject *out = PyUnicode_New(n, 0x7F);
        if (out == NULL) return NULL;
        Py_UCS1 *to = PyUnicode_1BYTE_DATA(out);
        memcpy(to, from, (size_t)i);
        for (; i < n; i++) to[i] = (unsigned)(from[i] - 'A') < 26u ? from[i] + 32 : from[i];
        return out;
    }
    int how = foldable(kind, data, n);
    if (how == 0) return PyObject_CallMethod(text, "casefold", NULL);
    if (how == 1) {
        Py_INCREF(text);
        return text;
    }
    /* Lowering ASCII keeps the widest character, so the copy has the original's width. */
    PyObject *out = PyUnicode_New(n, kind == PyUnicode_1BYTE_KIND ? 0x7F : kind == PyUnicode_2BYTE_KIND ? 0xFFFF : 0x10FFFF);
    if (out == NULL) return NULL;
    void *to = PyUnicode_DATA(out);
    memcpy(to, data, (size_t)n * kind);
    if (kind == PyUnicode_1BYTE_KIND) LOWER_ASCII(Py_UCS1)
    else if (kind == PyUnicode_2BYTE_KIND) LOWER_ASCII(Py_UCS2)
    else LOWER_ASCII(Py_UCS4)
    return out;
}

/* ---- normalize: NFKC, case folding, no white space, no format characters ----------------------
 * runtime/text.py's normalize_in_python is the definition. Most chat text is made of characters
 * whose part of it is their own: kept, dropped, or a full-width form of ASCII (the table,
 * _normalize_table.h, says which; events/normalize_table.py writes it and says why that is
 * enough). Such text is normalised here in one pass, and comes back as itself when nothing
 * changes; other text goes to the Python definition, which text.py hands over first. */
#include "_normalize_table.h"

static PyObject *normalize_fallback = NULL;

#define N_DROP 0xFFFFFFFFu
#define N_PYTHON 0xFFFFFFFEu

/* The range of `ranges` (sorted, apart) holding c, or NULL. */
static const CodeRange *find_range(const CodeRange *ranges, int n, Py_UCS4 c) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        if (c < ranges[mid].lo) hi = mid - 1;
        else if (c > ranges[mid].hi) lo = mid + 1;
        else return &ranges[mid];
    }
    return NULL;
}

/* What a character becomes: a character, N_DROP (nothing) or N_PYTHON (the text goes to Python). */
static inline Py_UCS4 normal_char(Py_UCS4 c) {
    static const CodeRange *last = &KEEP[0];     /* text keeps to a script: its range first */
    if (c < 0x80) {
        if (c == ' ' || (c - 0x09u) < 5u || (c - 0x1Cu) < 4u) return N_DROP;
        return (c - 'A') < 26u ? c + 32 : c;
    }
    if (c >= last->lo && c <= last->hi) return c;
    if ((c - 0xFF01u) <= 0xFF5Eu - 0xFF01u) {
        Py_UCS4 a = c - 0xFEE0;
        return (a - 'A') < 26u ? a + 32 : a;
    }
    const CodeRange *kept = find_range(KEEP, (int)(sizeof KEEP / sizeof KEEP[0]), c);
    if (kept != NULL) {
        last = kept;
        return c;
    }
    return find_range(DROP, (int)(sizeof DROP / sizeof DROP[0]), c) ? N_DROP : N_PYTHON;
}

/* What each Latin-1 character becomes, normal_char's answer made once (module init): most English
 * chat is text of one byte a character, and a lookup a character is cheaper than its tests. */
static Py_UCS4 latin1_normal[256];

static inline Py_UCS4 latin1_char(Py_UCS4 c) { return latin1_normal[c]; }

/* One pass: each character's part goes into `to` (room for n of the text's own width: no part of
 * a character is wider than it — a Latin-1 character's is Latin-1 or nothing, a full-width
 * form's is ASCII), or the text goes to Python. */
#define NORMAL_SCAN(TYPE, NORMAL)                                                \
    {                                                                            \
        const TYPE *p = (const TYPE *)data;                                      \
        TYPE *o = (TYPE *)to;                                                    \
        for (Py_ssize_t i = 0; i < n; i++) {                                     \
            Py_UCS4 c = p[i], m = NORMAL(c);                                     \
            if (m == N_PYTHON) {                                                 \
                if (to != small) PyMem_Free(to);                                 \
                return PyObject_CallOneArg(normalize_fallback, text);            \
            }                                                                    \
            if (m == N_DROP) { changed = 1; continue; }                          \
            changed |= m != c;                                                   \
            bits |= m;                                                           \
            o[length++] = (TYPE)m;                                               \
        }                                                                        \
    }

/* `length` characters of width `from` at `src` into `dst` of width `to` (no wider), as they are. */
static void narrow(void *dst, int to, const void *src, int from, Py_ssize_t length) {
    if (to == from) {
        memcpy(dst, src, (size_t)length * (size_t)from);
        return;
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = from == PyUnicode_2BYTE_KIND ? ((const Py_UCS2 *)src)[i] : ((const Py_UCS4 *)src)[i];
        if (to == PyUnicode_1BYTE_KIND) ((Py_UCS1 *)dst)[i] = (Py_UCS1)c;
        else ((Py_UCS2 *)dst)[i] = (Py_UCS2)c;
    }
}

static PyObject *normalize(PyObject *Py_UNUSED(self), PyObject *text) {
    if (!PyUnicode_CheckExact(text)) Py_RETURN_NONE;     /* as the definition: not text, no form */
    if (normalize_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "normalize: set_normalize_fallback was not called");
        return NULL;
    }
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_UCS4 small[256];                       /* a chat message fits; a longer text borrows memory */
    void *to = small;
    if (n > 256 && (to = PyMem_Malloc((size_t)n * sizeof(Py_UCS4))) == NULL) return PyErr_NoMemory();
    Py_ssize_t length = 0;
    int changed = 0;
    Py_UCS4 bits = 0;        /* every kept character OR-ed: below 2^k exactly when each one is */
    if (kind == PyUnicode_1BYTE_KIND) NORMAL_SCAN(Py_UCS1, latin1_char)
    else if (kind == PyUnicode_2BYTE_KIND) NORMAL_SCAN(Py_UCS2, normal_char)
    else NORMAL_SCAN(Py_UCS4, normal_char)
    PyObject *out;
    if (changed) {
        /* Made at the narrowest kind its characters fit (the kinds' bounds are powers of two),
         * then written: PyUnicode_FromKindAndData looked for the widest again (323 instructions). */
        out = PyUnicode_New(length, bits < 0x80 ? 0x7F : bits < 0x100 ? 0xFF : bits < 0x10000 ? 0xFFFF : 0x10FFFF);
        if (out != NULL) narrow(PyUnicode_DATA(out), PyUnicode_KIND(out), to, kind, length);
    } else {
        Py_INCREF(text);
        out = text;
    }
    if (to != small) PyMem_Free(to);
    return out;
}

static PyObject *set_normalize_fallback(PyObject *Py_UNUSED(self), PyObject *fn) {
    Py_INCREF(fn);
    Py_XSETREF(normalize_fallback, fn);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"split_lines", (PyCFunction)(void (*)(void))split_lines, METH_FASTCALL,
     "split_lines(data[, limit[, head]]) -> (head + data).split(b'\\n'), faster; with limit, longer lines but the last are None"},
    {"event_time", (PyCFunction)(void (*)(void))event_time, METH_FASTCALL,
     "event_time(ts, line) -> microseconds since the epoch, or None to ask Python"},
    {"rfc3339_us", py_rfc3339_us, METH_O, "rfc3339_us(text) -> microseconds since the epoch, or None"},
    {"utf8_valid", py_utf8_valid, METH_O, "utf8_valid(data) -> whether bytes.decode() would take it"},
    {"casefold", casefold, METH_O, "casefold(text) -> text.casefold() (None for None), faster for Chinese and ASCII text"},
    {"format_us", format_us, METH_O, "format_us(us) -> the RFC 3339 text of a time in microseconds, or None"},
    {"normalize", normalize, METH_O, "normalize(text) -> runtime.text's normal form (None for non-text), in C for most chat text"},
    {"set_normalize_fallback", set_normalize_fallback, METH_O, "set_normalize_fallback(fn): normalize hands fn the text it does not handle"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lines", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__lines(void) {
    for (Py_UCS4 c = 0; c < 256; c++) latin1_normal[c] = normal_char(c);
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "NORMALIZE_UNICODE", NORMALIZE_UNICODE) < 0) Py_CLEAR(m);
    return m;
}
