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
 * microseconds took a quarter of the engine's instructions an event (docs/performance.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int two(const char *p) {
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: y-m-d of a day count from 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 29;
    return days[m - 1];
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM) → microseconds since the epoch, in *out; 0 if the text
 * is not of that form or not a real time (then fromisoformat decides). Digits past the sixth of
 * the fraction are dropped, as fromisoformat drops them. */
static int rfc3339_us(const char *s, Py_ssize_t n, int64_t *out) {
    if (n < 20 || n > 35) return 0;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return 0;
    int y_hi = two(s), y_lo = two(s + 2), mo = two(s + 5), d = two(s + 8);
    int h = two(s + 11), mi = two(s + 14), sec = two(s + 17);
    if ((y_hi | y_lo | mo | d | h | mi | sec) < 0) return 0;
    int y = y_hi * 100 + y_lo;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return 0;
    Py_ssize_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        int digits = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (digits < 6) frac = frac * 10 + (s[i] - '0');
        if (digits < 1 || digits > 9) return 0;
        for (; digits < 6; digits++) frac *= 10;
    }
    int64_t offset = 0;
    if (i + 1 == n && s[i] == 'Z') {
        offset = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = two(s + i + 1), om = two(s + i + 4);
        if (oh < 0 || om < 0 || oh > 23 || om > 59) return 0;
        offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    } else {
        return 0;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out = secs * 1000000 + frac;
    return 1;
}

/* Valid UTF-8 as Python's strict decoder sees it (Unicode Table 3-7: no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
static int utf8_valid(const unsigned char *p, Py_ssize_t n) {
    const unsigned char *end = p + n;
    while (p < end) {
        /* ASCII runs 32 bytes at a time: most of a line is keys, times and ids. */
        while (end - p >= 32) {
            uint64_t a, b, c, d;
            memcpy(&a, p, 8); memcpy(&b, p + 8, 8); memcpy(&c, p + 16, 8); memcpy(&d, p + 24, 8);
            if ((a | b | c | d) & 0x8080808080808080ULL) break;
            p += 32;
        }
        if (end - p >= 8) {
            uint64_t word;
            memcpy(&word, p, 8);
            if (!(word & 0x8080808080808080ULL)) { p += 8; continue; }
        }
        if (*p < 0x80) { p++; continue; }
        /* A run of multi-byte characters (Chinese text is 3 bytes a character) is checked without
         * going back to the ASCII test between characters. */
        do {
            unsigned char c = *p;
            if (c >= 0xE0 && c <= 0xEF) {
                if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
                if (c == 0xE0 && p[1] < 0xA0) return 0;          /* overlong */
                if (c == 0xED && p[1] > 0x9F) return 0;          /* surrogates */
                p += 3;
            } else if (c >= 0xC2 && c <= 0xDF) {
                if (end - p < 2 || (p[1] & 0xC0) != 0x80) return 0;
                p += 2;
            } else if (c >= 0xF0 && c <= 0xF4) {
                if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
                if (c == 0xF0 && p[1] < 0x90) return 0;          /* overlong */
                if (c == 0xF4 && p[1] > 0x8F) return 0;          /* past U+10FFFF */
                p += 4;
            } else {
                return 0;
            }
        } while (p < end && *p >= 0x80);
    }
    return 1;
}

/* rfc3339_us for a str object: only an exact str of ASCII text can be one. */
static int text_us(PyObject *text, int64_t *out) {
    return PyUnicode_CheckExact(text) && PyUnicode_IS_ASCII(text)
           && rfc3339_us((const char *)PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text), out);
}

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

/* split_lines(data) → data.split(b"\n"), found with memchr: bytes.split looks at a single-byte
 * separator one byte at a time, 150 ns a line of the benchmark log against 50 ns here. */
static PyObject *split_lines(PyObject *Py_UNUSED(self), PyObject *data) {
    if (!PyBytes_CheckExact(data)) {
        PyErr_SetString(PyExc_TypeError, "split_lines takes bytes");
        return NULL;
    }
    const char *start = PyBytes_AS_STRING(data), *end = start + PyBytes_GET_SIZE(data);
    PyObject *lines = PyList_New(0);
    if (lines == NULL) return NULL;
    for (;;) {
        const char *cut = memchr(start, '\n', end - start);
        PyObject *line = PyBytes_FromStringAndSize(start, (cut != NULL ? cut : end) - start);
        if (line == NULL || PyList_Append(lines, line) < 0) {
            Py_XDECREF(line);
            Py_DECREF(lines);
            return NULL;
        }
        Py_DECREF(line);
        if (cut == NULL) return lines;
        start = cut + 1;
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
    const int64_t day_us = 86400000000LL;
    int64_t day = us / day_us, rest = us % day_us;
    if (rest < 0) {
        rest += day_us;
        day -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    if (y < 1000 || y > 9999) Py_RETURN_NONE;
    int64_t secs = rest / 1000000, frac = rest % 1000000;
    int h = (int)(secs / 3600), mi = (int)(secs / 60 % 60), s = (int)(secs % 60);
    char buf[32];
    int n;
    if (frac == 0)
        n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m, d, h, mi, s);
    else if (frac % 1000 == 0)
        n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d, h, mi, s, (int)(frac / 1000));
    else
        n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (int)y, m, d, h, mi, s, (int)frac);
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

/* casefold(text) → text.casefold(). Word tests fold every message's text; str.casefold looks every
 * character up in Unicode's tables (700 instructions a message of the benchmark log). Text of
 * ASCII and the characters above folds here, and comes back as itself when nothing changes; any
 * other text goes to str.casefold. */
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

static PyMethodDef methods[] = {
    {"split_lines", split_lines, METH_O, "split_lines(data) -> data.split(b'\\n'), faster"},
    {"event_time", (PyCFunction)(void (*)(void))event_time, METH_FASTCALL,
     "event_time(ts, line) -> microseconds since the epoch, or None to ask Python"},
    {"rfc3339_us", py_rfc3339_us, METH_O, "rfc3339_us(text) -> microseconds since the epoch, or None"},
    {"utf8_valid", py_utf8_valid, METH_O, "utf8_valid(data) -> whether bytes.decode() would take it"},
    {"casefold", casefold, METH_O, "casefold(text) -> text.casefold() (None for None), faster for Chinese and ASCII text"},
    {"format_us", format_us, METH_O, "format_us(us) -> the RFC 3339 text of a time in microseconds, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lines", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__lines(void) { return PyModule_Create(&module); }
