/* A log line straight into the program's record (events/records.py), without msgspec's decoder.
 *
 * msgspec's decode was a sixth of the instructions an event of `eval` ran on the community pack
 * (4 500 of 26 000, docs/performance-history.md): a general decoder looks every key up in a
 * table, checks every value against a union of types, and builds the record through its own
 * machinery. The lines of a log are almost all of one shape — a flat object of short strings —
 * so this scan takes that shape (with the JSON scans _route.c uses) and builds the record with
 * one call of its type; every other line it hands to msgspec's decoder (`fallback`), which takes
 * it or raises the error it always did.
 *
 * Exactness: a record made here must equal, value for value and type for type, the one msgspec
 * makes of the same line (tests/test_native_records.py holds it to msgspec with hypothesis). So
 * the scan takes a subset of what msgspec takes: no key with an escape, no record field twice
 * (msgspec keeps the last), no number but an integer of at most 18 digits where a number or a
 * time goes, no list or raw JSON in a record field (left to msgspec), nesting in fields no rule
 * reads at most MAX_DEPTH deep. Like msgspec, it checks the UTF-8 of the strings it reads and not
 * of those it skips (replay checks the whole line, events/_lines.c event_time).
 */
#include "_json_scan.h" /* Cursor, the scans, Layout and field_of; rfc3339_us, text_us, utf8_valid */
#include <structmember.h>  /* PyMemberDef: where a record type keeps each field */
#include "_clock.h"        /* Clock: the record loop's watermark and next due time */
#include "_noted.h"        /* Noted: where the report's four fields lay (a decoder made `noting`) */

/* Inlined into each copy of the scan (scan_record_as). */
#define ALWAYS_INLINE inline __attribute__((always_inline))

#define MAX_NAMES 64
#define SMALL 256        /* an escaped string up to this long is unescaped on the stack */
#define KEPT_SLOTS 4096  /* members' names kept as str objects, by a hash of their bytes */
#define KEPT_LEN 32      /* longer names are made anew each time */
#define KEPT_JUDGED 4096 /* names between two judgements of how often the kept ones are found */
#define KEPT_HITS 8

/* How a field's strings are made (the spec's fourth item). */
enum { MADE = 0, TYPE_NAME = 1, KEPT = 2 };

typedef struct {
    const char *utf8;
    Py_ssize_t len;
    PyObject *str;
} Name;

typedef struct {
    PyObject_HEAD
    Layout layout;
    int nargs;               /* the record's fields; 0 when the scan takes no line (too many fields) */
    PyObject *spec;          /* the field names the layout points into */
    PyObject *record_type;
    PyObject *fallback;      /* msgspec's decode */
    PyObject *names;         /* a tuple of str: event type names, given as these objects */
    Name name[MAX_NAMES];
    int nnames;
    /* A member's name comes as the str it came as before, while it keeps its slot: no new str a
     * line, its hash computed once for every table keyed by members, and those tables find it by
     * identity. Slots are taken by the last name hashed to them. */
    PyObject *kept[KEPT_SLOTS];
    /* Each slot's name's hash, so that a name not kept costs no read of the str in its slot (over
     * a million members nearly every name: a cache miss a line). And while fewer than one name in
     * KEPT_HITS is found kept (judged every KEPT_JUDGED names), a name not kept takes its slot only
     * one time in 16: giving the slot to the new name cost freeing the old one, another miss. */
    uint32_t kept_hash[KEPT_SLOTS];
    unsigned kept_tries, kept_hits;
    int kept_rarely;
    Predicted predicted[PREDICTED];
    PyObject *pair;          /* decode_timed's last result, filled again when no one else holds it */
    /* Where a record keeps each field (by position), when the record type is a plain msgspec
     * Struct whose fields are object slots: decode_timed then fills the record it handed out last
     * again when only its pair still holds it (the record loop lets go of it before the next
     * line), instead of making a new one and freeing the old (~550 instructions a line). */
    Py_ssize_t offset[MAX_FIELDS];
    int refillable;
    /* With `noting`, where the last line's type, user, channel and id lay (_noted.h): note_of[i]
     * is layout field i's place among them, or -1. A channel no rule reads is a layout field of
     * its own after the record's (`nargs` and on), skipped as any key no rule reads is. */
    int noting;
    signed char note_of[MAX_FIELDS];
    Noted noted;
    PyObject *channel_key;   /* the noted-only field's name, which the layout points into */
} RecordDecoder;

static inline int all_ascii(const char *s, Py_ssize_t n) {
    const char *end = s + n;
    uint64_t bits = 0, word;
    for (; end - s >= 8; s += 8) {
        memcpy(&word, s, 8);
        bits |= word;
    }
    for (; s < end; s++) bits |= (unsigned char)*s;
    return (bits & 0x8080808080808080ULL) == 0;
}

/* Strict UTF-8 [s, s + n) that is not all ASCII → str, as PyUnicode_DecodeUTF8 has it; NULL and
 * no exception for bytes that are not UTF-8 (utf8_multibyte, _text.h, decides). Two passes: the
 * first checks the characters and counts them, and finds the largest lead byte, which tells the
 * widest character's class (leads rise with what they start); the str is made at the narrowest
 * kind its characters fit — str equality compares kinds first — and the second pass writes them.
 * A Chinese message of 20–30 characters took PyUnicode_DecodeUTF8 ~1 375 instructions (its writer
 * over-allocates, then shrinks), and half the messages of a log are one. */
static PyObject *utf8_text(const unsigned char *s, Py_ssize_t n) {
    const unsigned char *p = s, *end = s + n;
    Py_ssize_t chars = 0;
    unsigned top = 0;
    if (n >= 32) {
        /* checked 32 bytes at a time where the CPU can (_text.h); then the characters are the
         * bytes that are not continuations, and the largest byte is the largest lead (in valid
         * UTF-8 a continuation comes after a lead, which is larger): one pass the compiler
         * vectorises, where the first pass went a character at a time */
        if (!utf8_valid(s, n)) return NULL;
        Py_ssize_t continuations = 0;
        unsigned char largest = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            continuations += (s[i] & 0xC0) == 0x80;
            largest = s[i] > largest ? s[i] : largest;
        }
        chars = n - continuations;
        top = largest;
    } else {
        while (p < end) {
            if (*p < 0x80) {
                p++;
            } else {
                int k = utf8_multibyte(p, end);
                if (k == 0) return NULL;
                top = *p > top ? *p : top;
                p += k;
            }
            chars++;
        }
    }
    Py_UCS4 widest = top < 0x80 ? 0x7F : top < 0xC4 ? 0xFF : top < 0xF0 ? 0xFFFF : 0x10FFFF;
    PyObject *text = PyUnicode_New(chars, widest);
    if (text == NULL) return NULL;
    /* Written for each kind apart: a switch on the kind for every character cost more than the
     * decoding. */
#define UTF8_WRITE(T)                                                                       \
    do {                                                                                    \
        T *o = (T *)PyUnicode_DATA(text);                                                   \
        for (p = s; p < end;) {                                                             \
            unsigned u = *p;                                                                \
            if (u < 0x80) {                                                                 \
                p++;                                                                        \
            } else if (u < 0xE0) {                                                          \
                u = (u & 0x1F) << 6 | (p[1] & 0x3F);                                        \
                p += 2;                                                                     \
            } else if (u < 0xF0) {                                                          \
                u = (u & 0x0F) << 12 | (p[1] & 0x3F) << 6 | (p[2] & 0x3F);                  \
                p += 3;                                                                     \
            } else {                                                                        \
                u = (u & 0x07) << 18 | (p[1] & 0x3F) << 12 | (p[2] & 0x3F) << 6 | (p[3] & 0x3F); \
                p += 4;                                                                     \
            }                                                                               \
            *o++ = (T)u;                                                                    \
        }                                                                                   \
    } while (0)
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND: UTF8_WRITE(Py_UCS1); break;
    case PyUnicode_2BYTE_KIND: UTF8_WRITE(Py_UCS2); break;
    default: UTF8_WRITE(Py_UCS4);
    }
#undef UTF8_WRITE
    return text;
}

/* UTF-8 → str; NULL and no exception for bytes that are not UTF-8 (msgspec refuses those). ASCII,
 * most strings of a log (times, ids, names), is copied into a new str: 46 instructions a string
 * fewer than PyUnicode_DecodeUTF8 finding out the same (203 an event on the benchmark log). */
static PyObject *text_of(const char *s, Py_ssize_t n, int ascii) {
    if (ascii) {
        PyObject *text = PyUnicode_New(n, 127);
        if (text != NULL) memcpy(PyUnicode_1BYTE_DATA(text), s, n);
        return text;
    }
    return utf8_text((const unsigned char *)s, n);
}

static char *put_utf8(char *o, unsigned u) {
    if (u < 0x80) {
        *o++ = (char)u;
    } else if (u < 0x800) {
        *o++ = (char)(0xC0 | u >> 6);
        *o++ = (char)(0x80 | (u & 0x3F));
    } else if (u < 0x10000) {
        *o++ = (char)(0xE0 | u >> 12);
        *o++ = (char)(0x80 | (u >> 6 & 0x3F));
        *o++ = (char)(0x80 | (u & 0x3F));
    } else {
        *o++ = (char)(0xF0 | u >> 18);
        *o++ = (char)(0x80 | (u >> 12 & 0x3F));
        *o++ = (char)(0x80 | (u >> 6 & 0x3F));
        *o++ = (char)(0x80 | (u & 0x3F));
    }
    return o;
}

/* The str a string's raw content [s, s + n) stands for, escapes and all; scan_string has checked
 * every escape (known, four hex digits, surrogates in pairs). No escape is shorter than what it
 * stands for in UTF-8, so the result fits in n bytes. */
static PyObject *unescaped(const unsigned char *s, Py_ssize_t n) {
    char small[SMALL], *buf = n <= SMALL ? small : PyMem_Malloc(n);
    if (buf == NULL) return PyErr_NoMemory();
    char *o = buf;
    const unsigned char *p = s, *end = s + n;
    while (p < end) {
        const unsigned char *slash = memchr(p, '\\', end - p);
        if (slash == NULL) slash = end;
        memcpy(o, p, slash - p);
        o += slash - p;
        p = slash;
        if (p >= end) break;
        unsigned char e = p[1];
        p += 2;
        switch (e) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned u = 0, low = 0;             /* hex4 succeeds: the scan checked the escape */
            hex4(p, &u);
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                hex4(p + 2, &low);
                p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
            }
            o = put_utf8(o, u);
            break;
        }
        default: *o++ = (char)e;        /* " \ / */
        }
    }
    PyObject *text = text_of(buf, o - buf, all_ascii(buf, o - buf));
    if (buf != small) PyMem_Free(buf);
    return text;
}

/* What a scan learns of a line besides its record: its event time when the time is an RFC 3339
 * string without escapes, and whether bytes no str was made of hold anything but ASCII (then the
 * line's UTF-8 is checked whole: msgspec does not check skipped strings). */
typedef struct {
    int64_t us;
    int timed;
    int unchecked;
    int scanned;            /* the route's scan read the time (in us) and checked the line's UTF-8 */
    const unsigned char *start;                  /* the line's first byte (ascii_run's floor) */
} LineFacts;

/* The ASCII name [v, v + n) as a str, the one kept in its slot when it is that name. */
static ALWAYS_INLINE PyObject *kept_name(RecordDecoder *self, const unsigned char *v, Py_ssize_t n) {
    uint32_t h = 2166136261u;                              /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ v[i]) * 16777619u;
    size_t at = (h ^ h >> 16) & (KEPT_SLOTS - 1);
    PyObject *kept = self->kept[at];
    if (++self->kept_tries == KEPT_JUDGED) {
        self->kept_rarely = self->kept_hits * KEPT_HITS < KEPT_JUDGED;
        self->kept_tries = self->kept_hits = 0;
    }
    if (kept != NULL && self->kept_hash[at] == h && PyUnicode_GET_LENGTH(kept) == n
        && memcmp(PyUnicode_1BYTE_DATA(kept), v, n) == 0) {
        self->kept_hits++;
        Py_INCREF(kept);
        return kept;
    }
    PyObject *text = text_of((const char *)v, n, 1);
    if (text == NULL) return NULL;
    if (!self->kept_rarely || (self->kept_tries & 15) == 0) {
        self->kept_hash[at] = h;
        Py_INCREF(text);
        Py_XSETREF(self->kept[at], text);
    }
    return text;
}

/* A string value at *p (its opening quote) as str: 1; not one the scan takes: 0; -1 on error. */
static ALWAYS_INLINE int read_string(RecordDecoder *self, const Field *f, const unsigned char **p,
                                     const unsigned char *end, PyObject **out, LineFacts *facts) {
    unsigned high = 0;
    const unsigned char *v = *p + 1, *e = ascii_run(v, end, facts->start, &high);
    if (e < end && *e == '"') {
        *p = e + 1;
        if (f->kind == K_TIME && !facts->scanned) facts->timed = rfc3339_us((const char *)v, e - v, &facts->us);
        if ((f->kind == K_NAME || f->kind == K_USER) && e == v) return 0;           /* msgspec: min_length=1 */
        if (f->made_as == KEPT && high == 0 && e - v <= KEPT_LEN)
            return (*out = kept_name(self, v, e - v)) != NULL ? 1 : -1;
        if (f->made_as == TYPE_NAME) {
            for (int i = 0; i < self->nnames; i++) {
                const Name *name = &self->name[i];
                if (name->len == e - v && memcmp(name->utf8, v, e - v) == 0) {
                    Py_INCREF(name->str);
                    *out = name->str;
                    return 1;
                }
            }
        }
        *out = text_of((const char *)v, e - v, high == 0);
    } else {
        Cursor c = {*p, end};
        const unsigned char *start;
        Py_ssize_t len;
        int escaped;
        if (e >= end || *e != '\\' || !scan_string(&c, &start, &len, &escaped)) return 0;
        *p = c.p;
        *out = unescaped(start, len);                      /* never empty: an escape stands for a character */
        if (f->kind == K_TIME && *out != NULL && !facts->scanned) facts->timed = text_us(*out, &facts->us);
    }
    return *out != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
}

/* An integer of at most INT64_DIGITS digits at *p: 1; anything else (a fraction, an exponent, a
 * longer one, not a number): 0, and msgspec decides. */
static ALWAYS_INLINE int read_integer(const unsigned char **p, const unsigned char *end, PyObject **out) {
    Cursor c = {*p, end};
    int fits;
    if (!scan_number(&c, &fits)) return 0;
    const unsigned char *q = *p;
    int negative = *q == '-';
    q += negative;
    if (c.p - q > INT64_DIGITS) return 0;
    long long value = 0;
    for (; q < c.p; q++) {
        if (*q < '0' || *q > '9') return 0;               /* a fraction */
        value = value * 10 + (*q - '0');
    }
    *out = PyLong_FromLongLong(negative ? -value : value);
    *p = c.p;
    return *out != NULL ? 1 : -1;
}

static int read_word(const unsigned char **p, const unsigned char *end, const char *word, Py_ssize_t n,
                     PyObject *value, PyObject **out) {
    if (end - *p < n || memcmp(*p, word, n) != 0) return 0;
    *p += n;
    Py_INCREF(value);
    *out = value;
    return 1;
}

/* A record field's value at *p, as its kind takes it: 1 (*out a new reference), 0, or -1 on error. */
static ALWAYS_INLINE int read_field(RecordDecoder *self, const Field *f, const unsigned char **p,
                                    const unsigned char *end, PyObject **out, LineFacts *facts) {
    unsigned char first = *p < end ? **p : 0;
    int kind = f->kind;
    if (kind == K_USER) kind = K_NAME;
    if (first == '"')
        return kind == K_NAME || kind == K_TIME || kind == K_TEXT ? read_string(self, f, p, end, out, facts) : 0;
    if (first == 'n')
        return kind == K_TEXT || kind == K_NUMBER || kind == K_BOOL || kind == K_LIST
               ? read_word(p, end, "null", 4, Py_None, out) : 0;
    if (kind == K_BOOL)
        return first == 't' ? read_word(p, end, "true", 4, Py_True, out)
               : first == 'f' ? read_word(p, end, "false", 5, Py_False, out) : 0;
    if ((kind == K_NUMBER || kind == K_TIME) && (first == '-' || (first >= '0' && first <= '9')))
        return read_integer(p, end, out);
    return 0;                                              /* a list, raw JSON, or a value of another type */
}

/* The record of the line, or NULL: with an exception on error, without one when msgspec decides.
 * With `noting` (a constant in each of scan_record's two copies), where the report's four fields
 * lay is noted too. Tested in the loop of one copy, `noting` cost `eval` alone ~85 instructions a
 * line with nothing noted (thirty-sixth session, callgrind); the helpers below are kept inlined in
 * both copies (ALWAYS_INLINE: with two, gcc put them out of line, +150 instructions a line). */
static ALWAYS_INLINE PyObject *scan_record_as(RecordDecoder *self, const unsigned char *s, Py_ssize_t n,
                                              LineFacts *facts, PyObject *into, const int noting) {
    const Layout *layout = &self->layout;
    PyObject *args[MAX_FIELDS], *record = NULL;
    int nargs = self->nargs;
    for (int i = 0; i < nargs; i++) args[i] = NULL;
    const unsigned char *p = s, *end = s + n;
    uint64_t seen = 0;
    facts->start = s;
    if (noting) self->noted = (Noted){NULL, {{NOTED_ABSENT}, {NOTED_ABSENT}, {NOTED_ABSENT}, {NOTED_ABSENT}}};
    SKIP_WS(p, end);
    if (p >= end || *p != '{') return NULL;
    p++;
    SKIP_WS(p, end);
    for (int k = 0;; k++) {
        unsigned high = 0;
        int f;
        Predicted *predicted = k < PREDICTED ? &self->predicted[k] : NULL;
        if (key_as_predicted(predicted, p, end)) {
            f = predicted->field;
            if (predicted->high) facts->unchecked = 1;
            p += predicted->len;
        } else {
            /* The key: no escape (one could spell a field's name). */
            if (p >= end || *p != '"') goto done;
            const unsigned char *key = p + 1, *q = ascii_run(key, end, s, &high);
            if (q >= end || *q != '"') goto done;
            f = field_of(key, q - key, end, layout);
            if (f < 0 && high) facts->unchecked = 1;
            predict_key(predicted, p, q, end, f, f < 0 && high);
            p = q + 1;
            SKIP_WS(p, end);
            if (p >= end || *p != ':') goto done;
            p++;
        }
        SKIP_WS(p, end);
        if (f >= 0 && (!noting || f < nargs)) {
            const Field *field = &layout->fields[f];
            if (seen & (1ULL << f)) goto done;
            seen |= 1ULL << f;
            const unsigned char *v = p;
            int r = read_field(self, field, &p, end, &args[field->position], facts);
            if (r <= 0) goto done;
            if (noting && self->note_of[f] >= 0) self->noted.value[self->note_of[f]] = noted_value(v, p);
        } else {
            const unsigned char *e, *v = p;
            if (p < end && *p == '"' && (e = ascii_run(p + 1, end, s, &high)) < end && *e == '"') {
                p = e + 1;                                 /* the common value: a plain string */
                if (high) facts->unchecked = 1;
            } else {
                Cursor c = {p, end};
                const unsigned char *start = p;
                if (!skip_value(&c, 1)) goto done;
                p = c.p;
                if (!facts->unchecked && !all_ascii((const char *)start, p - start)) facts->unchecked = 1;
            }
            /* a noted-only field: the last one, as orjson keeps it */
            if (noting && f >= 0) self->noted.value[self->note_of[f]] = noted_value(v, p);
        }
        SKIP_WS(p, end);
        if (p >= end) goto done;
        if (*p == '}') break;
        if (*p != ',') goto done;
        p++;
        SKIP_WS(p, end);
    }
    p++;
    SKIP_WS(p, end);
    if (p != end || (seen & layout->required) != layout->required) goto done;
    if (noting) self->noted.line = s;
    for (int i = 0; i < nargs; i++) {
        if (args[i] == NULL) {
            Py_INCREF(Py_None);
            args[i] = Py_None;                             /* an optional field the line leaves out */
        }
    }
    if (into != NULL) {                                    /* every field set, the old values let go after */
        PyObject *old[MAX_FIELDS];
        for (int i = 0; i < nargs; i++) {
            PyObject **slot = (PyObject **)((char *)into + self->offset[i]);
            old[i] = *slot;
            *slot = args[i];
            args[i] = NULL;
        }
        for (int i = 0; i < nargs; i++) Py_XDECREF(old[i]);
        return Py_NewRef(into);
    }
    record = PyObject_Vectorcall(self->record_type, args, nargs, NULL);
done:
    for (int i = 0; i < nargs; i++) Py_XDECREF(args[i]);
    return record;
}

static PyObject *scan_record(RecordDecoder *self, const unsigned char *s, Py_ssize_t n, LineFacts *facts,
                             PyObject *into) {
    return self->noting ? scan_record_as(self, s, n, facts, into, 1) : scan_record_as(self, s, n, facts, into, 0);
}

static PyObject *RecordDecoder_scan(RecordDecoder *self, PyObject *line) {
    LineFacts facts = {0, 0, 0};
    if (self->nargs == 0 || !PyBytes_CheckExact(line)) Py_RETURN_NONE;
    PyObject *record = scan_record(self, (const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), &facts,
                                   NULL);
    if (record == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return record;
}

static PyObject *RecordDecoder_decode(RecordDecoder *self, PyObject *line) {
    LineFacts facts = {0, 0, 0};
    if (self->nargs > 0 && PyBytes_CheckExact(line)) {
        PyObject *record = scan_record(self, (const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line),
                                       &facts, NULL);
        if (record != NULL || PyErr_Occurred()) return record;
    }
    return PyObject_CallOneArg(self->fallback, line);
}

/* events/_lines.c's event_time(record.ts, line) of a record msgspec made: the time if it is an
 * RFC 3339 str and the line valid UTF-8, else "ask Python". */
static int record_time(PyObject *record, PyObject *line, int64_t *us) {
    PyObject *ts = PyObject_GetAttrString(record, "ts");
    if (ts == NULL) return -1;
    int timed = text_us(ts, us) && utf8_valid((const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line));
    Py_DECREF(ts);
    return timed;
}

/* decode_timed(line[, clock]) → (record, event time in µs or None): decode(line) and
 * event_time(record.ts, line) in one call. The time is None exactly where event_time's is: a time
 * in another form than RFC 3339, a number, or a line that is not valid UTF-8; the record loop then
 * leaves the line to replay's per-line path, which asks Python. With the loop's clock (_clock.h),
 * also None for an event that came late or has timers due before it, which the clock says
 * (`stop`, the time in `ts`); a time given back has moved the clock's watermark to it. With the
 * clock, anything but a line or None (an over-long one) is a worker's routed item, no record and
 * no time, `stop` CLOCK_ITEM (events/records.py: python_timed_decoder, the definition). */
static PyObject *RecordDecoder_decode_timed(RecordDecoder *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2 || (nargs == 2 && !Py_IS_TYPE(args[1], &ClockType))) {
        PyErr_SetString(PyExc_TypeError, "decode_timed(line[, clock: Clock])");
        return NULL;
    }
    PyObject *line = args[0];
    Clock *clock = nargs == 2 ? (Clock *)args[1] : NULL;
    LineFacts facts = {0, 0, 0, 0};
    self->noted.line = NULL;                         /* noted again only by a scan that takes the line */
    if (clock != NULL && clock->scanned != NULL) {
        if (clock->scanned == line) facts = (LineFacts){clock->scanned_us, 1, 0, 1};
        clock->scanned = NULL;
    }
    if (clock != NULL && !PyBytes_CheckExact(line) && line != Py_None) {
        clock->stop = CLOCK_ITEM;                    /* a worker's routed item, not a line */
        return PyTuple_Pack(2, Py_None, Py_None);
    }
    PyObject *record = NULL, *pair = self->pair, *into = NULL;
    int is_line = PyBytes_CheckExact(line);          /* else None (an over-long line): msgspec's error */
    if (self->refillable && pair != NULL && Py_REFCNT(pair) == 1) {
        PyObject *last = PyTuple_GET_ITEM(pair, 0);
        if (Py_REFCNT(last) == 1 && Py_IS_TYPE(last, (PyTypeObject *)self->record_type)) into = last;
    }
    if (is_line && self->nargs > 0) {
        const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(line);
        Py_ssize_t n = PyBytes_GET_SIZE(line);
        record = scan_record(self, s, n, &facts, into);
        if (record == NULL && PyErr_Occurred()) return NULL;
        if (record != NULL) facts.timed = facts.timed && (facts.scanned || !facts.unchecked || utf8_valid(s, n));
    }
    if (record == NULL) {
        record = PyObject_CallOneArg(self->fallback, line);
        if (record == NULL) return NULL;
        facts.timed = is_line ? record_time(record, line, &facts.us) : 0;
        if (facts.timed < 0) {
            Py_DECREF(record);
            return NULL;
        }
    }
    if (clock != NULL) {
        if (!facts.timed) clock->stop = CLOCK_ASK;
        else if (clock_take(clock, facts.us) != CLOCK_TAKEN) facts.timed = 0;
    }
    PyObject *ts = facts.timed ? PyLong_FromLongLong(facts.us) : Py_NewRef(Py_None);
    if (ts == NULL) {
        Py_DECREF(record);
        return NULL;
    }
    if (pair != NULL && Py_REFCNT(pair) == 1) {
        /* The pair handed out last time, which only this decoder still holds (the record loop
         * unpacked it): filled again, as zip and enumerate do with their result tuples. */
        PyObject *old_record = PyTuple_GET_ITEM(pair, 0), *old_ts = PyTuple_GET_ITEM(pair, 1);
        PyTuple_SET_ITEM(pair, 0, record);
        PyTuple_SET_ITEM(pair, 1, ts);
        Py_DECREF(old_record);
        Py_DECREF(old_ts);
        if (!PyObject_GC_IsTracked(pair)) PyObject_GC_Track(pair);
        return Py_NewRef(pair);
    }
    pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(record);
        Py_DECREF(ts);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, record);
    PyTuple_SET_ITEM(pair, 1, ts);
    Py_XSETREF(self->pair, Py_NewRef(pair));
    return pair;
}

/* The layout from ((name bytes, kind, position, MADE | TYPE_NAME | KEPT), ...): 0, or -1 with an exception set. */
static int read_spec(RecordDecoder *self, PyObject *spec) {
    Layout *layout = &self->layout;
    memset(layout, 0, sizeof *layout);
    const char *shape = "fields must be a tuple of (bytes, kind, position, how strings are made)";
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, shape);
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(spec);
    if (n > MAX_FIELDS) return 0;                      /* every line to msgspec */
    uint64_t positions = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(spec, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 4 || !PyBytes_Check(PyTuple_GET_ITEM(item, 0))) {
            PyErr_SetString(PyExc_TypeError, shape);
            return -1;
        }
        Field *f = &layout->fields[i];
        layout_name(layout, i, PyTuple_GET_ITEM(item, 0));
        f->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        f->position = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
        f->made_as = (int)PyLong_AsLong(PyTuple_GET_ITEM(item, 3));
        if (PyErr_Occurred()) return -1;
        if (f->kind < K_NAME || f->kind > K_RAW || f->len == 0 || f->position < 0 || f->position >= n
            || f->made_as < MADE || f->made_as > KEPT
            || positions & (1ULL << f->position)) {
            PyErr_SetString(PyExc_ValueError, "a field needs a name, a known kind and a position of its own");
            return -1;
        }
        positions |= 1ULL << f->position;
        if (f->kind == K_NAME || f->kind == K_USER || f->kind == K_TIME) layout->required |= 1ULL << i;
    }
    layout->nfields = (int)n;
    self->nargs = (int)n;
    return 0;
}

static int read_names(RecordDecoder *self, PyObject *names) {
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) > MAX_NAMES) {
        PyErr_SetString(PyExc_TypeError, "names must be a tuple of at most 64 str");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *str = PyTuple_GET_ITEM(names, i);
        Name *name = &self->name[i];
        if (!PyUnicode_CheckExact(str) || (name->utf8 = PyUnicode_AsUTF8AndSize(str, &name->len)) == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "names must be str");
            return -1;
        }
        name->str = str;
    }
    self->nnames = (int)PyTuple_GET_SIZE(names);
    return 0;
}

/* self->offset and self->refillable: a record type whose instances the collector does not track,
 * with no __post_init__, whose __struct_fields__ are the scan's fields in order, each an object
 * slot (msgspec's Structs with gc=False are); anything else is never refilled. 0, or -1. */
static int find_offsets(RecordDecoder *self) {
    PyObject *type = self->record_type;
    self->refillable = 0;
    if (!PyType_Check(type) || PyType_HasFeature((PyTypeObject *)type, Py_TPFLAGS_HAVE_GC)) return 0;
    PyObject *post_init = PyObject_GetAttrString(type, "__post_init__");
    if (post_init != NULL) {
        Py_DECREF(post_init);
        return 0;
    }
    PyErr_Clear();
    PyObject *names = PyObject_GetAttrString(type, "__struct_fields__");
    if (names == NULL || !PyTuple_Check(names) || PyTuple_GET_SIZE(names) != self->nargs) {
        Py_XDECREF(names);
        PyErr_Clear();
        return 0;
    }
    int found = 1;
    for (int i = 0; i < self->nargs && found; i++) {
        PyObject *slot = PyObject_GetAttr(type, PyTuple_GET_ITEM(names, i));
        found = slot != NULL && Py_IS_TYPE(slot, &PyMemberDescr_Type)
                && ((PyMemberDescrObject *)slot)->d_member->type == T_OBJECT_EX;
        if (found) self->offset[i] = ((PyMemberDescrObject *)slot)->d_member->offset;
        Py_XDECREF(slot);
    }
    Py_DECREF(names);
    PyErr_Clear();
    self->refillable = found;
    return 0;
}

/* With `noting`: each of the report's four fields found among the layout's, and a channel no rule
 * reads added after them as a field of its own (`nargs` and on: noted, never stored). 0, or -1. */
static int read_noted(RecordDecoder *self) {
    static const char *noted_names[NOTED_FIELDS] = {"type", "user", "channel", "id"};
    Layout *layout = &self->layout;
    int channel = -1;
    self->noting = 1;
    for (int i = 0; i < layout->nfields; i++) {
        self->note_of[i] = -1;
        for (int k = 0; k < NOTED_FIELDS; k++)
            if (layout->fields[i].len == (Py_ssize_t)strlen(noted_names[k])
                && memcmp(layout->fields[i].name, noted_names[k], layout->fields[i].len) == 0)
                self->note_of[i] = (signed char)k;
        if (self->note_of[i] == NOTED_CHANNEL) channel = i;
    }
    if (channel >= 0) return 0;
    if (layout->nfields >= MAX_FIELDS) {                /* every line to msgspec: nothing noted */
        self->nargs = 0;
        return 0;
    }
    if ((self->channel_key = PyBytes_FromString("channel")) == NULL) return -1;
    int i = layout->nfields++;
    layout_name(layout, i, self->channel_key);
    layout->fields[i].kind = K_RAW;
    layout->fields[i].position = -1;
    self->note_of[i] = NOTED_CHANNEL;
    return 0;
}

static void noted_release(PyObject *capsule) {
    Py_XDECREF(PyCapsule_GetContext(capsule));
}

static PyObject *RecordDecoder_noted(RecordDecoder *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->noting) Py_RETURN_NONE;
    /* The capsule points into the decoder, and holds it. */
    PyObject *capsule = PyCapsule_New(&self->noted, NOTED_CAPSULE, noted_release);
    if (capsule == NULL) return NULL;
    if (PyCapsule_SetContext(capsule, Py_NewRef(self)) < 0) {
        Py_DECREF(self);
        Py_DECREF(capsule);
        return NULL;
    }
    return capsule;
}

/* What the last line noted holds, for the tests: None, or for each of type, user, channel and id
 * (what it was, its bytes) — a string's between its quotes, another value's whole, an absent one's b"". */
static PyObject *RecordDecoder_last_noted(RecordDecoder *self, PyObject *Py_UNUSED(ignored)) {
    if (!self->noting || self->noted.line == NULL) Py_RETURN_NONE;
    PyObject *values = PyTuple_New(NOTED_FIELDS);
    if (values == NULL) return NULL;
    for (int k = 0; k < NOTED_FIELDS; k++) {
        const NotedValue *v = &self->noted.value[k];
        PyObject *pair = Py_BuildValue("(iy#)", v->is, v->is == NOTED_ABSENT ? "" : (const char *)v->start,
                                       v->is == NOTED_ABSENT ? (Py_ssize_t)0 : v->len);
        if (pair == NULL) {
            Py_DECREF(values);
            return NULL;
        }
        PyTuple_SET_ITEM(values, k, pair);
    }
    return values;
}

static PyObject *RecordDecoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *record_type, *spec, *fallback, *names;
    int noting = 0;
    static char *keywords[] = {"record_type", "fields", "fallback", "names", "noting", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|p:RecordDecoder", keywords, &record_type, &spec, &fallback,
                                     &names, &noting))
        return NULL;
    if (!PyCallable_Check(record_type) || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "record_type and fallback must be callable");
        return NULL;
    }
    RecordDecoder *self = (RecordDecoder *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(spec);
    Py_INCREF(record_type);
    Py_INCREF(fallback);
    Py_INCREF(names);
    self->spec = spec;
    self->record_type = record_type;
    self->fallback = fallback;
    self->names = names;
    if (read_spec(self, spec) < 0 || read_names(self, names) < 0 || find_offsets(self) < 0
        || (noting && self->nargs > 0 && read_noted(self) < 0)) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void RecordDecoder_dealloc(RecordDecoder *self) {
    Py_XDECREF(self->pair);
    for (int i = 0; i < KEPT_SLOTS; i++) Py_XDECREF(self->kept[i]);
    Py_XDECREF(self->spec);
    Py_XDECREF(self->record_type);
    Py_XDECREF(self->fallback);
    Py_XDECREF(self->names);
    Py_XDECREF(self->channel_key);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef RecordDecoder_methods[] = {
    {"decode", (PyCFunction)RecordDecoder_decode, METH_O,
     "decode(line) -> the record; lines the scan does not take are msgspec's (its record or its error)"},
    {"decode_timed", (PyCFunction)(void (*)(void))RecordDecoder_decode_timed, METH_FASTCALL,
     "decode_timed(line[, clock]) -> (record, its event time in microseconds or None: ask Python, or "
     "the clock says why)"},
    {"scan", (PyCFunction)RecordDecoder_scan, METH_O, "scan(line) -> the record, or None: msgspec decides"},
    {"noted", (PyCFunction)RecordDecoder_noted, METH_NOARGS,
     "noted() -> with noting=True, a capsule of where the last line's type, user, channel and id lay "
     "(events/_noted.h); else None"},
    {"last_noted", (PyCFunction)RecordDecoder_last_noted, METH_NOARGS,
     "last_noted() -> None, or ((what, bytes) for type, user, channel and id) of the last line noted: what is "
     "0 absent, 1 a string without escapes (its bytes), 2 another value, 3 a string with an escape"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecordDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.events._records.RecordDecoder",
    .tp_basicsize = sizeof(RecordDecoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RecordDecoder(record_type, fields, fallback, names, noting=False): log lines into records",
    .tp_new = RecordDecoder_new,
    .tp_dealloc = (destructor)RecordDecoder_dealloc,
    .tp_methods = RecordDecoder_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_records", NULL, 0, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__records(void) {
    if (PyType_Ready(&RecordDecoderType) < 0 || PyType_Ready(&ClockType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Clock", (PyObject *)&ClockType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&RecordDecoderType);
    if (PyModule_AddObject(m, "RecordDecoder", (PyObject *)&RecordDecoderType) < 0) {
        Py_DECREF(&RecordDecoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
