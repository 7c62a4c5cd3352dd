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
 * decoder refuses stops the parallel run, which then runs again on one worker (parallel/workers.py).
 */
#include "_text.h"   /* rfc3339_us, utf8_valid */
#include <structmember.h>

#include "_json_scan.h" /* Cursor, the scans, Layout and field_of */
#include "_clock_state.h" /* Clock: the routed iterator takes other shares' times onto it */
#include "_split.h"       /* Cutter: where a chunk's lines are cut, as split_lines cuts them */
#include "../runtime/_columns.h"   /* MemberIndex and its `warm`: the rows of the lines ahead (routed) */

/* crc_table[0] is zlib's byte-at-a-time table; crc_table[k] advances a byte's CRC by k bytes
 * more, so that four bytes are folded in at once (slicing by four: a member's name of 7 bytes took
 * seven dependent table loads, a quarter of the scan of a line). */
static uint32_t crc_table[4][256];

/* zlib's CRC-32 (reflected 0xEDB88320), the one runtime/helpers.share_of uses. */
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 4; k++)
            crc_table[k][i] = crc_table[0][crc_table[k - 1][i] & 0xFF] ^ (crc_table[k - 1][i] >> 8);
}

static uint32_t crc32_of(const unsigned char *p, Py_ssize_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 4; n -= 4, p += 4) {
        c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        c = crc_table[3][c & 0xFF] ^ crc_table[2][(c >> 8) & 0xFF] ^ crc_table[1][(c >> 16) & 0xFF]
            ^ crc_table[0][c >> 24];
    }
    while (n--) c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
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

/* A line the record decoder takes as an event of *user at *ts: 1; unsure: 0.
 *
 * The line must be valid UTF-8 whole, as the decoder checks it. Outside its strings a line the
 * scan takes is all ASCII (the JSON's punctuation, digits, words), and a quote is ASCII, so the
 * line is valid where each string is: a plain string is checked alone when its run saw a byte
 * past ASCII (most of a line is keys, times and ids: checking the text alone spares the rest),
 * a key before it is predicted for the next line (key_as_predicted: the same bytes), and the whole
 * line at the end when a string was not seen that way (an escaped one, one in a list). */
static int scan_line(const unsigned char *s, Py_ssize_t n, const Layout *layout, Predicted *predictions,
                     const unsigned char **user, Py_ssize_t *user_len, int64_t *ts) {
    const unsigned char *p = s, *end = s + n;
    uint64_t seen = 0;
    int whole = 0;                                      /* the line's UTF-8 left to check whole */
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
            unsigned high = 0;
            const unsigned char *key = p + 1, *q = ascii_run(key, end, s, &high);
            if (q >= end || *q != '"') return 0;
            if (high && !utf8_valid(key, q - key)) return 0;
            f = field_of(key, q - key, end, layout);
            predict_key(predicted, p, q, end, f, 0);   /* its UTF-8 checked: equal bytes are as valid */
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
        unsigned high = 0;
        if (p < end && *p == '"' && (e = ascii_run(v, end, s, &high)) < end && *e == '"') {
            /* A string without escapes, the common value: checked here for its field's kind. */
            if (high && !utf8_valid(v, e - v)) return 0;
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
            whole |= *p == '"' || *p == '[' || *p == '{';  /* strings in it (numbers, flags, null: ASCII) */
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
    return p == end && (seen & layout->required) == layout->required && (!whole || utf8_valid(s, n));
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

/* Workers' scans shared (eval --workers): each line is scanned by one worker, not by all.
 *
 * Every worker reads the same lines in the same order, so a line has one number for all of them
 * (counted across logs). Lines go to the scans in blocks of BLOCK: block b is scanned by worker
 * b % workers, which writes what the scan found (the member's share, or unsure, and the time) into
 * a ring in memory shared by the workers; the others read it there. The scan of a line was a
 * fifth of each worker's time on the reference policies, all of it repeated in every worker.
 *
 * A chunk of lines is routed in two passes: first this worker scans its blocks and publishes how
 * far its scans go (`scanned`), then it builds the chunk's items, waiting where another worker's
 * blocks are not scanned yet; then it publishes how many lines it has routed (`routed`). So two
 * workers scan a chunk at the same time, and one waits for the other only when the other is a
 * whole chunk behind (one line at a time, they took turns: twice one worker's time). A worker
 * about to write a slot of the ring waits until every other has routed the line the slot held:
 * the ring holds more than four chunks (parallel/workers.py, _ring_lines: two million lines),
 * which is more than any worker gets ahead (read_routing says why).
 * scan_ahead makes the first pass of the next chunk before the rules run on this one, so a
 * worker waits only for one more than a chunk behind. A worker that
 * leaves (done, stopped, failed) says so (`gone`), and the others scan its blocks themselves. */
#include <time.h>

#define BLOCK 256
#define HEADER 64                        /* bytes each worker's counters take: a cache line */
#define MAX_WORKERS 255                  /* a share and one more in Found's low byte */
#define UNSURE (-1)

/* What a scan found of a line, in the ring: its time (µs) in the high 56 bits, its share + 1 in
 * the low byte, 0 where the scan was not sure. Eight bytes, not sixteen: half the ring's lines
 * cross from the core that scanned them to the others', and a cache line now holds eight. A
 * time the 56 bits cannot hold (before 17 April 828 or from 16 September 3111) is unsure: every
 * worker then decodes the line, as for any line the scan is unsure of. */
typedef uint64_t Found;
#define FOUND_LIMIT (INT64_C(1) << 55)

static inline Found found_of(long share, int64_t ts) {
    if (share == UNSURE || share >= MAX_WORKERS || ts < -FOUND_LIMIT || ts >= FOUND_LIMIT) return 0;
    return (uint64_t)ts << 8 | (uint64_t)(share + 1);
}

static inline long found_share(Found found) { return (long)(found & 0xFF) - 1; }
static inline int64_t found_ts(Found found) { return (int64_t)found >> 8; }     /* arithmetic: gcc, clang */

typedef struct {
    PyObject_HEAD
    Py_buffer view;                      /* the shared memory (an anonymous mmap made before fork) */
    int workers, me;
    int64_t ring;                        /* lines the ring holds: the power of two the memory given has room for */
    uint64_t workers_mask;               /* workers - 1 where workers is a power of two (else 0) */
    int64_t line;                        /* the number of the next line this worker routes */
    int64_t scanned;                     /* the number of the next line this worker's first pass reads */
    int64_t room;                        /* lines below it may be written into the ring without looking */
    int64_t seen[MAX_WORKERS];           /* how far each worker's scans went, as last read */
} Exchange;

static inline int64_t *routed_of(Exchange *x, int w) { return (int64_t *)((char *)x->view.buf + (size_t)w * HEADER); }
static inline int64_t *scanned_of(Exchange *x, int w) { return routed_of(x, w) + 1; }
static inline int64_t *gone_of(Exchange *x, int w) { return routed_of(x, w) + 2; }
static inline Found *found_at(Exchange *x, int64_t line) {
    /* a mask, not a 64-bit division a line: with the masks below and the CRC, two workers over 10M
     * events 1.03× faster */
    return (Found *)((char *)x->view.buf + (size_t)x->workers * HEADER) + ((uint64_t)line & (uint64_t)(x->ring - 1));
}

/* The worker whose scan line `line` is: its block's turn. */
static inline int scanner_of(const Exchange *x, int64_t line) {
    uint64_t block = (uint64_t)line / BLOCK;
    return (int)(x->workers_mask ? block & x->workers_mask : block % (uint64_t)x->workers);
}

static size_t exchange_bytes(int workers, int64_t ring) { return (size_t)workers * HEADER + (size_t)ring * sizeof(Found); }

/* Wait a little: spin first (the other worker is usually a moment away), then sleep 20 µs at a
 * time (sched_yield in a loop cost 0.8 s of system time a worker on 1M lines). -1 with the
 * exception set when a signal's handler raised (Ctrl-C, an alarm): a wait is never for ever. */
static int pause_for(long *spins) {
    if (++*spins < 200) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        return 0;
    }
    struct timespec nap = {0, 20000};
    nanosleep(&nap, NULL);
    return PyErr_CheckSignals();
}

/* Whether worker v's result for `line` can be read (1), or v left before scanning it (0); -1 if
 * a signal stopped the wait. */
/* Whether worker v's result for `line` can be read now (without waiting): what it published
 * last is remembered in `seen`, so a block's lines read the shared counter once. */
static inline int scanned_past(Exchange *x, int v, int64_t line) {
    if (x->seen[v] > line) return 1;
    int64_t p = __atomic_load_n(scanned_of(x, v), __ATOMIC_ACQUIRE);
    if (p <= line) return 0;
    x->seen[v] = p;
    return 1;
}

static int wait_for(Exchange *x, int v, int64_t line) {
    long spins = 0;
    for (;;) {
        if (scanned_past(x, v, line)) return 1;
        if (__atomic_load_n(gone_of(x, v), __ATOMIC_ACQUIRE)) {
            /* how far it scanned was published before it left */
            return __atomic_load_n(scanned_of(x, v), __ATOMIC_ACQUIRE) > line;
        }
        if (pause_for(&spins) < 0) return -1;
    }
}

/* Wait until `line`'s slot in the ring is free: every other worker still here has routed the
 * line the slot held. 0, or -1 if a signal stopped the wait. */
static int wait_for_room(Exchange *x, int64_t line) {
    if (line < x->room) return 0;
    long spins = 0;
    for (;;) {
        int64_t least = INT64_MAX;
        for (int w = 0; w < x->workers; w++) {
            if (w == x->me || __atomic_load_n(gone_of(x, w), __ATOMIC_ACQUIRE)) continue;
            int64_t p = __atomic_load_n(routed_of(x, w), __ATOMIC_ACQUIRE);
            if (p < least) least = p;
        }
        x->room = least == INT64_MAX ? INT64_MAX : least + x->ring;
        if (line < x->room) return 0;
        if (pause_for(&spins) < 0) return -1;
    }
}

static PyObject *Exchange_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *memory;
    int workers, me;
    if (!PyArg_ParseTuple(args, "Oii:Exchange", &memory, &workers, &me)) return NULL;
    if (workers < 1 || workers > MAX_WORKERS || me < 0 || me >= workers) {
        PyErr_SetString(PyExc_ValueError, "Exchange: 1 to 256 workers, and me one of them");
        return NULL;
    }
    Exchange *x = (Exchange *)type->tp_alloc(type, 0);
    if (x == NULL) return NULL;
    if (PyObject_GetBuffer(memory, &x->view, PyBUF_WRITABLE) < 0) {
        x->view.obj = NULL;
        Py_DECREF(x);
        return NULL;
    }
    if ((size_t)x->view.len < exchange_bytes(workers, 4 * BLOCK)) {
        PyErr_Format(PyExc_ValueError, "Exchange: at least %zu bytes of shared memory", exchange_bytes(workers, 4 * BLOCK));
        Py_DECREF(x);
        return NULL;
    }
    x->workers = workers;
    x->me = me;
    size_t room = ((size_t)x->view.len - (size_t)workers * HEADER) / sizeof(Found);
    for (x->ring = 1; (size_t)x->ring * 2 <= room; x->ring *= 2) {}
    x->workers_mask = (workers & (workers - 1)) == 0 ? (uint64_t)workers - 1 : 0;
    return (PyObject *)x;
}

static void Exchange_dealloc(Exchange *x) {
    if (x->view.obj != NULL) PyBuffer_Release(&x->view);
    Py_TYPE(x)->tp_free((PyObject *)x);
}

/* leave(): the others scan this worker's blocks from here on. */
static PyObject *Exchange_leave(Exchange *x, PyObject *Py_UNUSED(ignored)) {
    __atomic_store_n(gone_of(x, x->me), 1, __ATOMIC_RELEASE);
    Py_RETURN_NONE;
}

static PyObject *Exchange_size(PyObject *Py_UNUSED(type), PyObject *args) {
    int workers;
    long long ring;
    if (!PyArg_ParseTuple(args, "iL:size", &workers, &ring)) return NULL;
    if (workers < 1 || workers > MAX_WORKERS || ring < 4 * BLOCK) {
        PyErr_SetString(PyExc_ValueError, "1 to 256 workers, and a ring of at least 1024 lines");
        return NULL;
    }
    return PyLong_FromSize_t(exchange_bytes(workers, ring));
}

static PyObject *Exchange_get_line(Exchange *x, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(x->line); }

static PyMethodDef Exchange_methods[] = {
    {"leave", (PyCFunction)Exchange_leave, METH_NOARGS, "leave(): the other workers scan this one's blocks from here on"},
    {"size", (PyCFunction)Exchange_size, METH_VARARGS | METH_STATIC,
     "size(workers, ring) -> the bytes of shared memory for a ring of `ring` lines (parallel/workers.py: _ring_lines)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Exchange_getset[] = {
    {"line", (getter)Exchange_get_line, NULL, "the number of the next line this worker routes", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ExchangeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.events._route.Exchange",
    .tp_basicsize = sizeof(Exchange),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Exchange(shared memory, workers, me): the workers' line scans, each line scanned by one",
    .tp_new = Exchange_new,
    .tp_dealloc = (destructor)Exchange_dealloc,
    .tp_methods = Exchange_methods,
    .tp_getset = Exchange_getset,
};

/* A chunk's lines as spans of the bytes read (split_spans), for a worker of `eval --workers`:
 * split_lines made a bytes object of every line, and half of them, other shares' lines, were
 * never read again but by the scan (~50 ns a line made and freed). A line is made into bytes
 * only when asked for (an own line, one the scan is unsure of). A sequence, with pop() and
 * append(None) for logs.line_batches, which keeps a chunk's unfinished last line for the next. */
typedef struct {
    Py_ssize_t start, len;               /* len < 0: a line over the limit (None) */
} Span;

typedef struct {
    PyObject_HEAD
    PyObject *data;                      /* the bytes read */
    PyObject *first;                     /* the first line when it began in the chunk before (bytes), or NULL */
    Span *spans;
    Py_ssize_t n, cap;
} Lines;

static PyTypeObject LinesType;

/* Line i's bytes and length, or NULL for an over-long line. */
static inline const unsigned char *lines_at(const Lines *l, Py_ssize_t i, Py_ssize_t *len) {
    if (i == 0 && l->first != NULL) {
        *len = PyBytes_GET_SIZE(l->first);
        return (const unsigned char *)PyBytes_AS_STRING(l->first);
    }
    const Span *span = &l->spans[i];
    *len = span->len;
    return span->len < 0 ? NULL : (const unsigned char *)PyBytes_AS_STRING(l->data) + span->start;
}

static PyObject *lines_item_of(const Lines *l, Py_ssize_t i) {
    if (i == 0 && l->first != NULL) return Py_NewRef(l->first);
    Py_ssize_t len;
    const unsigned char *p = lines_at(l, i, &len);
    return p == NULL ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize((const char *)p, len);
}

static Py_ssize_t Lines_length(Lines *l) { return l->n; }

static PyObject *Lines_item(Lines *l, Py_ssize_t i) {
    if (i < 0 || i >= l->n) {
        PyErr_SetString(PyExc_IndexError, "line index out of range");
        return NULL;
    }
    return lines_item_of(l, i);
}

static PyObject *Lines_pop(Lines *l, PyObject *Py_UNUSED(ignored)) {
    if (l->n == 0) {
        PyErr_SetString(PyExc_IndexError, "pop from no lines");
        return NULL;
    }
    PyObject *last = lines_item_of(l, l->n - 1);
    if (last != NULL && --l->n == 0) Py_CLEAR(l->first);
    return last;
}

/* Room for one more span: 0, or -1 with MemoryError set. */
static inline int lines_room(Lines *l) {
    if (l->n < l->cap) return 0;
    Span *more = PyMem_Realloc(l->spans, (size_t)(l->cap * 2 + 1) * sizeof(Span));
    if (more == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    l->spans = more;
    l->cap = l->cap * 2 + 1;
    return 0;
}

static PyObject *Lines_append(Lines *l, PyObject *line) {
    if (line != Py_None) {
        PyErr_SetString(PyExc_TypeError, "lines take only None (an over-long line) appended");
        return NULL;
    }
    if (lines_room(l) < 0) return NULL;
    l->spans[l->n++] = (Span){0, -1};
    Py_RETURN_NONE;
}

static void Lines_dealloc(Lines *l) {
    Py_XDECREF(l->data);
    Py_XDECREF(l->first);
    PyMem_Free(l->spans);
    Py_TYPE(l)->tp_free((PyObject *)l);
}

static PySequenceMethods Lines_sequence = {
    .sq_length = (lenfunc)Lines_length,
    .sq_item = (ssizeargfunc)Lines_item,
};

static PyMethodDef Lines_methods[] = {
    {"pop", (PyCFunction)Lines_pop, METH_NOARGS, "pop() -> the last line, removed"},
    {"append", (PyCFunction)Lines_append, METH_O, "append(None): an over-long line after the others"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LinesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.events._route.Lines",
    .tp_basicsize = sizeof(Lines),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a chunk's lines as spans of the bytes read (split_spans); each made into bytes when asked for",
    .tp_dealloc = (destructor)Lines_dealloc,
    .tp_as_sequence = &Lines_sequence,
    .tp_methods = Lines_methods,
};

/* split_spans(data, limit, head) → Lines: split_lines(data, limit, head) (events/_lines.c) as
 * spans: the lines of head + data, every piece but the last that is over `limit` None. */
static PyObject *split_spans(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "split_spans(data: bytes, limit: int, head: bytes)");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    PyObject *data = args[0];
    const char *base = PyBytes_AS_STRING(data);
    Py_ssize_t head_len = PyBytes_GET_SIZE(args[2]);
    Cutter cuts = cutter_of(base, PyBytes_GET_SIZE(data), limit, head_len);
    Lines *l = PyObject_New(Lines, &LinesType);
    if (l == NULL) return NULL;
    l->data = Py_NewRef(data);
    l->first = NULL;
    l->n = 0;
    l->cap = PyBytes_GET_SIZE(data) / 64 + 16;           /* grown if the lines are shorter */
    l->spans = PyMem_Malloc((size_t)l->cap * sizeof(Span));
    if (l->spans == NULL) {
        Py_DECREF(l);
        return PyErr_NoMemory();
    }
    for (;;) {
        Piece piece = next_piece(&cuts);
        if (lines_room(l) < 0) {
            Py_DECREF(l);
            return NULL;
        }
        Span span = {piece.start - base, piece.over ? -1 : piece.len};
        if (!piece.over && head_len > 0) {                 /* the line the chunk before began */
            l->first = PyBytes_FromStringAndSize(NULL, head_len + piece.len);
            if (l->first == NULL) {
                Py_DECREF(l);
                return NULL;
            }
            memcpy(PyBytes_AS_STRING(l->first), PyBytes_AS_STRING(args[2]), (size_t)head_len);
            memcpy(PyBytes_AS_STRING(l->first) + head_len, piece.start, (size_t)piece.len);
        }
        head_len = 0;
        l->spans[l->n++] = span;
        if (piece.last) return (PyObject *)l;
    }
}

/* The lines route and the scans read: a list (any item not bytes is unsure) or Lines. */
typedef struct {
    PyObject *list;
    Lines *spans;
    Py_ssize_t n;
} Source;

static int source_of(PyObject *lines, Source *src) {
    src->list = PyList_Check(lines) ? lines : NULL;
    src->spans = Py_IS_TYPE(lines, &LinesType) ? (Lines *)lines : NULL;
    if (src->list == NULL && src->spans == NULL) return -1;
    src->n = src->list != NULL ? PyList_GET_SIZE(lines) : src->spans->n;
    return 0;
}

/* Line i's bytes and length, or NULL where it is not bytes. */
static inline const unsigned char *source_at(const Source *src, Py_ssize_t i, Py_ssize_t *len) {
    if (src->spans != NULL) return lines_at(src->spans, i, len);
    PyObject *line = PyList_GET_ITEM(src->list, i);
    if (!PyBytes_CheckExact(line)) return NULL;
    *len = PyBytes_GET_SIZE(line);
    return (const unsigned char *)PyBytes_AS_STRING(line);
}

static inline PyObject *source_item(const Source *src, Py_ssize_t i) {
    return src->spans != NULL ? lines_item_of(src->spans, i) : Py_NewRef(PyList_GET_ITEM(src->list, i));
}

/* The share of the member whose event line i is (by partition, or CRC-32 modulo shares), its
 * time in *ts; UNSURE if the scan is not sure of the line. */
static long scan_owner(const Source *src, Py_ssize_t i, const Layout *layout, Predicted *predictions,
                       const unsigned char *partition, Py_ssize_t buckets, long shares, int64_t *ts) {
    const unsigned char *user = NULL, *line;
    Py_ssize_t user_len = 0, len;
    if (layout->nfields == 0 || (line = source_at(src, i, &len)) == NULL
        || !scan_line(line, len, layout, predictions, &user, &user_len, ts))
        return UNSURE;
    uint32_t crc = crc32_of(user, user_len);
    if (partition == NULL) return (long)(crc % (uint32_t)shares);
    /* a power of two (parallel: 1 024 buckets) by a mask, not a division */
    return (long)partition[(buckets & (buckets - 1)) == 0 ? crc & (uint32_t)(buckets - 1) : crc % (uint32_t)buckets];
}

/* What route and scan_ahead take: the lines, the layout, the shares (a count or a partition), the
 * share, the exchange (or NULL). */
typedef struct {
    Source src;
    Layout layout;
    const unsigned char *partition;      /* the member's share is the byte at its CRC-32 modulo buckets */
    Py_ssize_t buckets;
    long shares, share;                  /* without a partition: the share is CRC-32 modulo shares */
    Exchange *x;
} Routing;

static int read_routing(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t least, Py_ssize_t most, Routing *r,
                        const char *usage) {
    if (nargs < least || nargs > most || source_of(args[0], &r->src) < 0
        || (nargs >= 5 && args[4] != Py_None && !Py_IS_TYPE(args[4], &ExchangeType))) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    r->x = nargs >= 5 && args[4] != Py_None ? (Exchange *)args[4] : NULL;
    if (read_layout(args[1], &r->layout) < 0) return -1;
    r->partition = NULL;
    r->buckets = 0;
    r->shares = 0;
    r->share = PyLong_AsLong(args[3]);
    if (PyBytes_Check(args[2])) {
        r->partition = (const unsigned char *)PyBytes_AS_STRING(args[2]);
        r->buckets = PyBytes_GET_SIZE(args[2]);
    } else {
        r->shares = PyLong_AsLong(args[2]);
    }
    if (PyErr_Occurred()) return -1;
    if (r->partition != NULL ? r->buckets < 1 || r->share < 0 : r->shares < 1 || r->share < 0 || r->share >= r->shares) {
        PyErr_SetString(PyExc_ValueError, "share must be in range(shares), and a partition not empty");
        return -1;
    }
    if (r->x != NULL && r->x->me != r->share) {
        PyErr_SetString(PyExc_ValueError, "the exchange is another worker's");
        return -1;
    }
    /* A worker writing its scans waits for room in the ring; the others may be waiting for those
     * scans. A worker scans at most two chunks past what it has routed, and routes no further
     * than the others have scanned (less a block each), so the lines between the slot it writes
     * and the one the furthest behind still needs stay under four chunks and a block a worker:
     * the ring must hold more, or both could wait for ever. (eval's chunks hold at most 256 Ki
     * lines, and parallel/workers.py's _ring_lines sizes the ring for them.) */
    if (r->x != NULL && 4 * (int64_t)r->src.n + (int64_t)BLOCK * r->x->workers >= r->x->ring) {
        PyErr_SetString(PyExc_ValueError, "a chunk too long for the exchange's ring: give it more lines");
        return -1;
    }
    return 0;
}

/* The first pass: this worker's blocks of the next chunk to scan, scanned into the ring, and how
 * far its scans go published. -1 if a signal stopped it (the worker then leaves the exchange). */
static int scan_chunk(Routing *r, Predicted *predictions) {
    Exchange *x = r->x;
    Py_ssize_t n = r->src.n;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t number = x->scanned + i;
        if (scanner_of(x, number) != r->share) continue;
        int64_t ts = 0;
        long share = scan_owner(&r->src, i, &r->layout, predictions, r->partition, r->buckets, r->shares, &ts);
        if (wait_for_room(x, number) < 0) return -1;
        *found_at(x, number) = found_of(share, ts);
    }
    x->scanned += n;
    __atomic_store_n(scanned_of(x, (int)r->share), x->scanned, __ATOMIC_RELEASE);
    return 0;
}

/* scan_ahead(lines, fields, shares, share, exchange): the first pass of route for the chunk after
 * the one to be routed next, so that the other workers find its scans there while this one runs
 * the rules on the chunk before (route then makes only the second pass). */
static PyObject *scan_ahead(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    Routing r;
    if (read_routing(args, nargs, 5, 5, &r,
                     "scan_ahead(lines: list | Lines, fields, shares, share, exchange: Exchange)") < 0)
        return NULL;
    if (r.x == NULL) {
        PyErr_SetString(PyExc_TypeError, "scan_ahead needs an exchange");
        return NULL;
    }
    Predicted predictions[PREDICTED];
    memset(predictions, 0, sizeof predictions);
    if (scan_chunk(&r, predictions) < 0) return NULL;
    Py_RETURN_NONE;
}

/* The start of routing a chunk: the number of its first line (*base), its own blocks scanned
 * first unless scan_ahead did it. -1 with an exception set. */
static int route_start(Routing *r, Predicted *predictions, int64_t *base) {
    Exchange *x = r->x;
    *base = x != NULL ? x->line : 0;
    if (x != NULL && x->scanned == *base) return scan_chunk(r, predictions);
    if (x != NULL && x->scanned < *base + r->src.n) {
        PyErr_SetString(PyExc_ValueError, "route: the chunk scanned ahead was not this one");
        return -1;
    }
    return 0;
}

/* Line i's share (or UNSURE) and time: from the ring, scanned by this worker or waited for from
 * another's, or scanned here without an exchange. -1 if a signal stopped a wait. */
static inline int owner_at(Routing *r, Predicted *predictions, int64_t base, Py_ssize_t i, long *owner, int64_t *ts) {
    Exchange *x = r->x;
    int scanner = x != NULL ? scanner_of(x, base + i) : -1;
    int scanned = scanner == r->share ? 1 : scanner >= 0 ? wait_for(x, scanner, base + i) : 0;
    if (scanned < 0) return -1;
    if (scanned) {
        Found found = *found_at(x, base + i);
        *owner = found_share(found);
        *ts = found_ts(found);
    } else {
        *ts = 0;
        *owner = scan_owner(&r->src, i, &r->layout, predictions, r->partition, r->buckets, r->shares, ts);
    }
    return 0;
}

/* The chunk routed to its end (`end`, the number of the line after it): published, so that the
 * ring's slots before it may be written again. */
static void route_done(Routing *r, int64_t end) {
    if (r->x != NULL) {
        r->x->line = end;
        __atomic_store_n(routed_of(r->x, (int)r->share), end, __ATOMIC_RELEASE);
    }
}

/* A routed line as the share's loop takes it: the line (own), its time (another share's), or
 * (line,) (unsure). */
static PyObject *item_of(const Routing *r, Py_ssize_t i, long owner, int64_t ts) {
    if (owner == UNSURE) {
        PyObject *line = source_item(&r->src, i);
        if (line == NULL) return NULL;
        PyObject *item = PyTuple_Pack(1, line);
        Py_DECREF(line);
        return item;
    }
    return owner == r->share ? source_item(&r->src, i) : PyLong_FromLongLong(ts);
}

/* route(lines, fields, shares, share[, exchange]) → a list as long as `lines` (`shares` a count or
 * a partition, as above): for a sure line of a member of `share` the line itself; of another
 * share's member its time in microseconds (an int); for a line the scan is unsure of (or None,
 * an over-long line) a 1-tuple holding it. With an exchange, the scans are the workers' shared
 * ones: the chunk's own blocks scanned first unless scan_ahead did it. `routed` gives the same
 * items with the times its clock takes taken. */
static PyObject *route(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    Routing r;
    if (read_routing(args, nargs, 4, 5, &r,
                     "route(lines: list | Lines, fields, shares, share[, exchange: Exchange])") < 0)
        return NULL;
    Predicted predictions[PREDICTED];                   /* keys predicted from line to line */
    memset(predictions, 0, sizeof predictions);
    int64_t base;
    if (route_start(&r, predictions, &base) < 0) return NULL;
    Py_ssize_t n = r.src.n;
    PyObject *out = PyList_New(n);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        long owner;
        int64_t ts;
        PyObject *item = owner_at(&r, predictions, base, i, &owner, &ts) < 0 ? NULL : item_of(&r, i, owner, ts);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    route_done(&r, base + n);
    return out;
}

/* routed(lines, fields, shares, share, exchange, clock) → taking(clock, route(lines, fields, shares,
 * share, exchange)) (events/clock.py, the definition) in one pass, made as the loop asks: another share's time
 * the clock takes cleanly is taken here and counted (`taken`), never made into an int, and a
 * line is made into bytes only when it is handed on (with Lines, an other share's line never
 * is). The chunk counts as routed when the iterator reaches its end. */
typedef struct {
    PyObject_HEAD
    PyObject *refs[5];                   /* what `r` points into: the lines, the shares, the exchange, the clock; the index */
    Routing r;
    Clock *clock;
    MemberIndex *index;                  /* or NULL: the share's member index, whose rows of the lines ahead are
                                            asked of memory a window ahead (runtime/_columns.c: ahead) */
    Py_ssize_t warmed;                   /* lines before it were */
    Predicted predictions[PREDICTED];
    int64_t base;
    Py_ssize_t next;
    /* The events the loop passes with the item handed on last (the times taken before it, and the
     * item itself when it is an own line), as an int object in a slot: the loop reads it at every
     * item, and the interpreter reads a slot's object without a call (a getter made an int each
     * time). */
    PyObject *taken;
} Routed;

static PyTypeObject RoutedType;
static PyTypeObject *clock_type;         /* events._records.Clock, whose layout _clock_state.h gives */

static PyObject *routed(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    const char *usage = "routed(lines: list | Lines, fields, shares, share, exchange: Exchange | None, clock: Clock"
                        "[, index: MemberIndex | None])";
    int indexed = nargs == 7 && args[6] != Py_None;
    if (nargs < 6 || nargs > 7 || clock_type == NULL || !Py_IS_TYPE(args[5], clock_type)
        || (indexed && (columns_api == NULL || !Py_IS_TYPE(args[6], columns_api->index_type)))) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Routed *it = PyObject_New(Routed, &RoutedType);
    if (it == NULL) return NULL;
    for (int k = 0; k < 5; k++) it->refs[k] = NULL;
    it->index = indexed ? (MemberIndex *)args[6] : NULL;
    it->refs[4] = indexed ? Py_NewRef(args[6]) : NULL;
    it->warmed = 0;
    it->taken = NULL;
    it->clock = NULL;
    if (read_routing(args, 5, 5, 5, &it->r, usage) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    it->refs[0] = Py_NewRef(args[0]);
    it->refs[1] = Py_NewRef(args[2]);
    it->refs[2] = Py_NewRef(args[4]);
    it->refs[3] = Py_NewRef(args[5]);
    it->clock = (Clock *)args[5];
    memset(it->predictions, 0, sizeof it->predictions);
    it->next = 0;
    it->taken = PyLong_FromLong(0);
    if (it->taken == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    if (route_start(&it->r, it->predictions, &it->base) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}

/* An iterator's `taken` slot (Routed's, Parted's) set to `taken`. */
static int set_taken(PyObject **slot, Py_ssize_t taken) {
    PyObject *count = PyLong_FromSsize_t(taken);       /* one of the interpreter's own below 257 */
    if (count == NULL) return -1;
    Py_SETREF(*slot, count);
    return 0;
}

/* Whether line i is known, without waiting, to be another share's event (its scan already in the
 * exchange). */
static inline int known_other(const Routing *r, int64_t base, Py_ssize_t i) {
    Exchange *x = r->x;
    if (x == NULL) return 0;
    int scanner = scanner_of(x, base + i);
    if (scanner != r->share && !scanned_past(x, scanner, base + i)) return 0;
    long owner = found_share(*found_at(x, base + i));
    return owner != UNSURE && owner != r->share;
}

/* The rows of the members of the next window of lines asked of memory, one window ahead of the
 * line handed on: those not known to be another share's (whose members this share's index does
 * not hold). */
static void routed_warm(Routed *it, Py_ssize_t i) {
    Py_ssize_t from, to;
    if (!columns_window(i, it->r.src.n, &it->warmed, &from, &to)) return;
    const char *starts[COLUMNS_AHEAD];
    Py_ssize_t lens[COLUMNS_AHEAD];
    int k = 0;
    for (Py_ssize_t j = from; j < to; j++)
        if (!known_other(&it->r, it->base, j) && (starts[k] = (const char *)source_at(&it->r.src, j, &lens[k])) != NULL)
            k++;
    columns_api->warm(it->index, starts, lens, k);
}

static PyObject *Routed_next(Routed *it) {
    Routing *r = &it->r;
    Clock *c = it->clock;
    Py_ssize_t taken = 0, n = r->src.n;
    while (it->next < n) {
        Py_ssize_t i = it->next++;
        if (it->index != NULL) routed_warm(it, i);
        long owner;
        int64_t ts;
        if (owner_at(r, it->predictions, it->base, i, &owner, &ts) < 0) return NULL;
        if (owner != UNSURE && owner != r->share && clock_took_cleanly(c, ts)) {
            taken++;
            continue;
        }
        if (set_taken(&it->taken, taken + (owner == r->share)) < 0) return NULL;
        PyObject *item = item_of(r, i, owner, ts);
        c->scanned = owner == r->share ? item : NULL;    /* decode_timed takes its time from here */
        c->scanned_us = ts;
        return item;
    }
    c->scanned = NULL;
    if (set_taken(&it->taken, taken) < 0) return NULL;
    if (it->next == n) {
        route_done(r, it->base + n);
        it->next = n + 1;                     /* published once */
    }
    return NULL;
}

static void Routed_dealloc(Routed *it) {
    if (it->clock != NULL) it->clock->scanned = NULL;
    for (int k = 0; k < 5; k++) Py_XDECREF(it->refs[k]);
    Py_XDECREF(it->taken);
    PyObject_Free(it);
}

static PyMemberDef Routed_members[] = {
    {"taken", T_OBJECT_EX, offsetof(Routed, taken), READONLY,
     "events passed with the item handed on last: times taken before it, and itself when an own line (or times before the end)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RoutedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.events._route.Routed",
    .tp_basicsize = sizeof(Routed),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a chunk routed as the share's loop asks, the times its clock takes cleanly taken (routed)",
    .tp_dealloc = (destructor)Routed_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Routed_next,
    .tp_members = Routed_members,
};

/* bucket_counts(lines, fields, buckets) → how many of the lines the scan is sure of are events of
 * members in each bucket (CRC-32 of the name modulo `buckets`): parallel.balanced_partition's
 * sample, read at the scan's speed (orjson took 1 µs a line, in the parent, before any worker
 * starts). */
static PyObject *bucket_counts(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    Source src;
    if (nargs != 3 || !PyList_Check(args[0]) || source_of(args[0], &src) < 0) {
        PyErr_SetString(PyExc_TypeError, "bucket_counts(lines: list, fields, buckets: int)");
        return NULL;
    }
    Layout layout;
    if (read_layout(args[1], &layout) < 0) return NULL;
    long buckets = PyLong_AsLong(args[2]);
    if (buckets == -1 && PyErr_Occurred()) return NULL;
    if (buckets < 1 || buckets > (1 << 20)) {
        PyErr_SetString(PyExc_ValueError, "1 to 2**20 buckets");
        return NULL;
    }
    Py_ssize_t *counts = PyMem_Calloc((size_t)buckets, sizeof *counts);
    if (counts == NULL) return PyErr_NoMemory();
    Predicted predictions[PREDICTED];
    memset(predictions, 0, sizeof predictions);
    for (Py_ssize_t i = 0; i < src.n; i++) {
        int64_t ts;
        long bucket = scan_owner(&src, i, &layout, predictions, NULL, 0, buckets, &ts);
        if (bucket != UNSURE) counts[bucket]++;
    }
    PyObject *out = PyList_New(buckets);
    for (long b = 0; out != NULL && b < buckets; b++) {
        PyObject *count = PyLong_FromSsize_t(counts[b]);
        if (count == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, b, count);
    }
    PyMem_Free(counts);
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

#include "_route_split.h"   /* a log split by member before eval reads it: split_chunk, parted */

static PyMethodDef methods[] = {
    {"route", (PyCFunction)(void (*)(void))route, METH_FASTCALL,
     "route(lines, fields, shares, share[, exchange]) -> per line: the line (own), its time (another share's) or "
     "(line,) (unsure)"},
    {"routed", (PyCFunction)(void (*)(void))routed, METH_FASTCALL,
     "routed(lines, fields, shares, share, exchange, clock[, index]) -> taking(clock, route(...)), made as it is "
     "asked; with a member index, the rows of the lines ahead asked of memory"},
    {"split_spans", (PyCFunction)(void (*)(void))split_spans, METH_FASTCALL,
     "split_spans(data, limit, head) -> split_lines(data, limit, head) as Lines: each line made into bytes when "
     "asked for"},
    {"scan_ahead", (PyCFunction)(void (*)(void))scan_ahead, METH_FASTCALL,
     "scan_ahead(lines, fields, shares, share, exchange): this worker's scans of the chunk after the next to route"},
    {"bucket_counts", (PyCFunction)(void (*)(void))bucket_counts, METH_FASTCALL,
     "bucket_counts(lines, fields, buckets) -> per bucket, the lines the scan is sure of of its members"},
    {"crc32", py_crc32, METH_O, "crc32(data) -> zlib.crc32(data)"},
    {"split_chunk", (PyCFunction)(void (*)(void))split_chunk, METH_FASTCALL,
     "split_chunk(lines, fields, partition, parts) -> (clock entries, [each part's lines, the unsure lines], "
     "over-long lines)"},
    {"interleave", (PyCFunction)(void (*)(void))interleave, METH_FASTCALL,
     "interleave(clock, start, end, sources, at) -> (lines, next, short): a split log's lines back in the log's order"},
    {"parted", (PyCFunction)(void (*)(void))parted, METH_FASTCALL,
     "parted(own, clock, position, share, event_clock, index, unsure, last) -> routed's items over a split log"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_route", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__route(void) {
    crc_init();
    columns_import();                   /* without the columns module, routed takes no index */
    if (PyType_Ready(&ExchangeType) < 0 || PyType_Ready(&LinesType) < 0 || PyType_Ready(&RoutedType) < 0
        || PyType_Ready(&PartedType) < 0) return NULL;
    /* The clock routed moves is the record module's; without it routed refuses every clock, and
     * parallel/share.py takes the times through route and events/clock.py's taking instead. */
    PyObject *records = PyImport_ImportModule("policyengine.events._records");
    if (records != NULL) {
        PyObject *type = PyObject_GetAttrString(records, "Clock");
        clock_type = type != NULL && PyType_Check(type) ? (PyTypeObject *)type : NULL;   /* kept for good */
        if (clock_type == NULL) Py_XDECREF(type);
        Py_DECREF(records);
    }
    PyErr_Clear();
    SplitDamaged = PyErr_NewException("policyengine.events._route.SplitDamaged", PyExc_ValueError, NULL);
    if (SplitDamaged == NULL) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddObjectRef(m, "Exchange", (PyObject *)&ExchangeType) < 0
                      || PyModule_AddObjectRef(m, "SplitDamaged", SplitDamaged) < 0
                      || PyModule_AddObjectRef(m, "Lines", (PyObject *)&LinesType) < 0
                      || PyModule_AddIntConstant(m, "EXCHANGE_WORKERS", MAX_WORKERS) < 0))
        Py_CLEAR(m);
    return m;
}
