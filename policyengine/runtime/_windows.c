/* Sliding windows in C: runtime/aggregates.py's Window, add_window and window reads, and
 * helpers.window_count, with the same results and the same state (a Window shows `kind`, a
 * deque of (time, value) `entries` and a `summary`, as the Python class does, so state files,
 * `policyengine state` and the sweep read it the same way).
 *
 * Why: the community pack keeps five windows a message (copies by text, repeats and link
 * channels by member, message counts), and each add or read was one to three Python frames.
 * tests/test_windows.py holds every function here to its Python definition.
 *
 * A window keeps its entries in a ring of C slots, not in a deque of tuples: most windows of
 * the pack hold one or two entries (a text seen once, a member's last minute), and a deque
 * costs a 0.5 kB block from malloc, a tuple an entry and a method call an operation. `entries`
 * builds the deque when asked (state files, `policyengine state`, similar-text reads).
 *
 * A distinct or repeats window of at most SMALL entries has no summary dict (NULL): its reads scan
 * the ring, comparing as a dict's lookup does (the same object, or an equal hash and ==). The
 * copypasta window is one per new text and most texts come once; a member's minute of messages
 * holds a few. A dict cost an allocation, a hash insert and a delete on every entry, and its own
 * cache line to touch (the pack's repeats and copypasta windows were ~20 % of its time). The dict
 * is made from the ring when an entry past SMALL comes and kept from
 * then on; `summary` shows the dict without keeping it. A dict made from the ring lists its values
 * in the ring's order, where Python's lists them in the order each first came since it was last
 * absent, and holds the first of equal values (1, 1.0) the ring holds: nothing reads either (rules
 * count and look up; state files keep entries, not summaries).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include "_columns.h"
#include "_ints.h"
#include "_times.h"

enum { K_SUM, K_COUNTED, K_SIMILAR };    /* summary: a number; value → entries holding it; None */
enum { SMALL = 8 };                      /* a counted window of at most SMALL entries has no summary dict */

static PyObject *deque_type, *deque_append, *deque_popleft;   /* collections.deque and two methods */
static PyObject *one;                                          /* the int 1 */
/* Kinds, interned: the generated code passes them as literals, which Python interns too, so a
 * kind is usually one pointer comparison away (comparing the text was 1 % of the pack). */
static PyObject *s_sum, *s_similar, *s_repeats, *s_distinct;

static inline int kind_is(PyObject *kind, PyObject *interned, const char *text) {
    return kind == interned || (PyUnicode_Check(kind) && PyUnicode_CompareWithASCIIString(kind, text) == 0);
}

/* Which of the four kinds `kind` is (K_KINDS order), or -1: every pointer first, then the texts,
 * so that a kind passed as a literal costs no text comparison whichever it is. */
enum { KIND_SUM, KIND_SIMILAR, KIND_REPEATS, KIND_DISTINCT, K_KINDS };
static int kind_of(PyObject *kind) {
    PyObject *interned[K_KINDS] = {s_sum, s_similar, s_repeats, s_distinct};
    static const char *texts[K_KINDS] = {"sum", "similar", "repeats", "distinct"};
    for (int i = 0; i < K_KINDS; i++)
        if (kind == interned[i]) return i;
    for (int i = 0; i < K_KINDS; i++)
        if (kind_is(kind, interned[i], texts[i])) return i;
    return -1;
}

/* An entry: its value, and its time as a C integer when it fits in 64 bits (ts NULL), the object
 * otherwise. Keeping no int object for the time spares an allocation-lived reference an entry and,
 * at eviction, the touch of a cold object. `hash`: the value's, kept by a small counted window so
 * that its scans compare hashes without reading the values. */
typedef struct {
    PyObject *ts;
    PyObject *value;
    long long t;
    Py_hash_t hash;
} Slot;

enum { INLINE_SLOTS = 2 };     /* a ring this small lives in the window itself */

typedef struct {
    PyObject_HEAD
    PyObject *kind;
    PyObject *summary;           /* NULL: a counted window that has held one entry only */
    int code;
    Slot *ring;                  /* cap slots; the oldest entry at head, len of them in use */
    Py_ssize_t head, len, cap;
    /* The first ring: most windows hold one or two entries (a text seen once, a member's last
     * minute), and a ring of its own was an allocation, a free and a cache line more a window —
     * the copypasta window alone is one new window a message. */
    Slot inline_ring[INLINE_SLOTS];
} Window;

static PyTypeObject WindowType;

/* A window's lower edge: the object, and as a C integer when it fits in 64 bits, so that most
 * entry times compare without a Python comparison. */
typedef struct {
    PyObject *obj;
    long long v;
    int fits;
} Edge;

static inline Edge edge_of(PyObject *low) {
    Edge e = {low, 0, 0};
    e.fits = as_int64(low, &e.v);
    return e;
}

/* The edge now − width. When both are ints that fit in 64 bits (event times and widths in
 * microseconds always do) it is a C integer and no object: the int object `now - width` was an
 * allocation and a free on every read of a window (~200 instructions, 2 % of the community
 * pack's). Otherwise the object, as Python computes it; release it with edge_release. */
static inline int edge_below(PyObject *now, PyObject *width, Edge *e) {
    long long a, b;
    if (as_int64(now, &a) && as_int64(width, &b) && !__builtin_sub_overflow(a, b, &e->v)) {
        e->obj = NULL;
        e->fits = 1;
        return 0;
    }
    e->v = 0;
    e->obj = PyNumber_Subtract(now, width);
    if (e->obj == NULL) return -1;
    e->fits = as_int64(e->obj, &e->v);
    return 0;
}

static inline void edge_release(Edge *e) { Py_CLEAR(e->obj); }

/* t against an edge (op: Py_LE, Py_GT) as Python compares them, for a t that is not a C integer. */
static int edge_compare(PyObject *t, const Edge *edge, int op) {
    if (edge->obj != NULL) return PyObject_RichCompareBool(t, edge->obj, op);
    PyObject *low = PyLong_FromLongLong(edge->v);              /* an edge kept as a C integer only */
    if (low == NULL) return -1;
    int result = PyObject_RichCompareBool(t, low, op);
    Py_DECREF(low);
    return result;
}

/* t <= the edge, for a time t. -1: error. */
static inline int le(PyObject *t, const Edge *edge) {
    long long x;
    if (edge->fits && as_int64(t, &x)) return x <= edge->v;
    return edge_compare(t, edge, Py_LE);
}

/* An entry's time as an object (new reference). */
static inline PyObject *slot_time(const Slot *slot) {
    return slot->ts != NULL ? Py_NewRef(slot->ts) : PyLong_FromLongLong(slot->t);
}

/* The same for a time kept as a C integer (an entry's, a Times'). */
static inline int int64_le(long long t, const Edge *edge) {
    if (edge->fits) return t <= edge->v;
    PyObject *obj = PyLong_FromLongLong(t);
    int old = obj == NULL ? -1 : edge_compare(obj, edge, Py_LE);
    Py_XDECREF(obj);
    return old;
}

/* The same for an entry, whose time was made a C integer when it was added if it fit. */
static inline int slot_le(const Slot *slot, const Edge *edge) {
    return slot->ts == NULL ? int64_le(slot->t, edge) : edge_compare(slot->ts, edge, Py_LE);
}

static inline Slot *oldest(Window *w) { return &w->ring[w->head]; }

/* Drop a Times' entries at or before the edge: how many are left, or -1 with an exception. */
static Py_ssize_t times_evict(Times *t, const Edge *edge) {
    while (t->len > 0) {
        int old = int64_le(times_oldest(t), edge);
        if (old < 0) return -1;
        if (!old) break;
        times_pop_oldest(t);
    }
    return t->len;
}

static PyObject *Times_evict(Times *t, PyObject *low) {
    Edge edge = edge_of(low);
    return times_evict(t, &edge) < 0 ? NULL : Py_NewRef(Py_None);
}

/* Entry i from the oldest. A ring's capacity is a power of two (2, then doubled), so the wrap is
 * a mask, not a division. */
static inline Slot *slot_at(const Window *w, Py_ssize_t i) { return &w->ring[(w->head + i) & (w->cap - 1)]; }

/* One more entry at the young end; the ring doubles when full. */
static int push(Window *w, PyObject *ts, PyObject *value, Py_hash_t hash) {
    if (w->len == w->cap) {
        Py_ssize_t cap = w->cap ? 2 * w->cap : INLINE_SLOTS;
        Slot *ring = cap == INLINE_SLOTS ? w->inline_ring : PyMem_Malloc((size_t)cap * sizeof(Slot));
        if (ring == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (ring != w->ring) {
            for (Py_ssize_t i = 0; i < w->len; i++) ring[i] = *slot_at(w, i);
            if (w->ring != w->inline_ring) PyMem_Free(w->ring);
        }
        w->ring = ring;
        w->head = 0;
        w->cap = cap;
    }
    Slot *slot = slot_at(w, w->len);
    slot->ts = as_int64(ts, &slot->t) ? NULL : Py_NewRef(ts);
    slot->value = Py_NewRef(value);
    slot->hash = hash;
    w->len++;
    if ((PyObject_IS_GC(value) || (slot->ts != NULL && PyObject_IS_GC(slot->ts))) && !PyObject_GC_IsTracked((PyObject *)w))
        PyObject_GC_Track(w);                               /* it may now be part of a cycle (window_new) */
    return 0;
}

/* The oldest entry out: its time (NULL when it was a C integer) and value handed to the caller
 * (new references). */
static void pop_oldest(Window *w, PyObject **ts, PyObject **value) {
    Slot *slot = oldest(w);
    *ts = slot->ts;
    *value = slot->value;
    w->head = (w->head + 1) & (w->cap - 1);
    w->len--;
    if (w->len == 0) w->head = 0;
}

static Window *window_new(PyTypeObject *type, PyObject *kind) {
    if (!PyUnicode_Check(kind)) {
        PyErr_SetString(PyExc_TypeError, "a window's kind is a str");
        return NULL;
    }
    int which = kind_of(kind);
    int code = which == KIND_SUM ? K_SUM : which == KIND_SIMILAR ? K_SIMILAR : K_COUNTED;
    Window *w = (Window *)type->tp_alloc(type, 0);
    if (w == NULL) return NULL;
    /* Out of the cycle collector's sight until it holds something that could lead back to it
     * (push): a window of strings and numbers is in no cycle. */
    PyObject_GC_UnTrack(w);
    w->code = code;
    w->kind = Py_NewRef(kind);
    if (code != K_COUNTED) {
        w->summary = code == K_SUM ? PyLong_FromLong(0) : Py_NewRef(Py_None);
        if (w->summary == NULL) {
            Py_DECREF(w);
            return NULL;
        }
    }
    return w;
}

static PyObject *Window_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *kind;
    static char *names[] = {"kind", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Window", names, &kind)) return NULL;
    return (PyObject *)window_new(type, kind);
}

static int Window_traverse(Window *w, visitproc visit, void *arg) {
    Py_VISIT(w->kind);
    Py_VISIT(w->summary);
    for (Py_ssize_t i = 0; i < w->len; i++) {
        Slot *slot = slot_at(w, i);
        Py_VISIT(slot->ts);
        Py_VISIT(slot->value);
    }
    return 0;
}

static int Window_clear(Window *w) {
    Py_CLEAR(w->kind);
    Py_CLEAR(w->summary);
    while (w->len > 0) {
        PyObject *ts, *value;
        pop_oldest(w, &ts, &value);
        Py_XDECREF(ts);
        Py_DECREF(value);
    }
    if (w->ring != w->inline_ring) PyMem_Free(w->ring);
    w->ring = NULL;
    w->cap = 0;
    return 0;
}

static void Window_dealloc(Window *w) {
    PyObject_GC_UnTrack(w);
    Window_clear(w);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

/* The summary dict of a counted window that has none: its entries counted, oldest first. */
static PyObject *summary_of_ring(Window *w) {
    PyObject *summary = PyDict_New();
    for (Py_ssize_t i = 0; summary != NULL && i < w->len; i++) {
        PyObject *value = slot_at(w, i)->value;
        PyObject *held = PyDict_GetItemWithError(summary, value);           /* borrowed */
        PyObject *now = held != NULL ? PyNumber_Add(held, one) : PyErr_Occurred() ? NULL : Py_NewRef(one);
        if (now == NULL || PyDict_SetItem(summary, value, now) < 0) Py_CLEAR(summary);
        Py_XDECREF(now);
    }
    return summary;
}

/* Whether a dict holding the entry's value would find it by `wanted` (hash: wanted's): the same
 * object, or an equal hash and value == wanted. -1: error. */
static int same_key(const Slot *held, PyObject *wanted, Py_hash_t hash) {
    if (held->value == wanted) return 1;
    if (held->hash != hash) return 0;
    PyObject *value = Py_NewRef(held->value);       /* == may call back and change the window */
    int same = PyObject_RichCompareBool(value, wanted, Py_EQ);
    Py_DECREF(value);
    return same;
}

/* Window.add: the entry, and the summary kept exact. The summary first, as in Python: a value it
 * cannot count (unhashable, or not a number for a sum) fails and is not kept. */
static int add_entry(Window *w, PyObject *ts, PyObject *value) {
    if (w->code == K_COUNTED && w->summary == NULL) {
        Py_hash_t hash = PyObject_Hash(value);              /* the dict's error for what it cannot hold */
        if (hash == -1) return -1;
        if (w->len < SMALL) return push(w, ts, value, hash);
        w->summary = summary_of_ring(w);                    /* past SMALL: the dict, from the ring */
        if (w->summary == NULL) return -1;
    }
    if (w->code == K_SUM) {
        PyObject *total = PyNumber_Add(w->summary, value);
        if (total == NULL) return -1;
        Py_SETREF(w->summary, total);
    } else if (w->summary != Py_None) {
        if (!PyDict_Check(w->summary)) {
            PyErr_SetString(PyExc_TypeError, "a window's summary must be a dict");
            return -1;
        }
        PyObject *held = PyDict_GetItemWithError(w->summary, value);      /* borrowed */
        if (held == NULL && PyErr_Occurred()) return -1;
        PyObject *now = held == NULL ? Py_NewRef(one) : PyNumber_Add(held, one);
        if (now == NULL) return -1;
        int failed = PyDict_SetItem(w->summary, value, now);
        Py_DECREF(now);
        if (failed) return -1;
    }
    return push(w, ts, value, -1);
}

/* Window.evict: drop entries at or before `low`, the summary with them. */
static int evict(Window *w, const Edge *low) {
    while (w->len > 0) {
        int old = slot_le(oldest(w), low);
        if (old <= 0) return old;
        PyObject *ts, *value;
        pop_oldest(w, &ts, &value);
        Py_XDECREF(ts);
        int failed = 0;
        if (w->summary == NULL) {
            /* a small window without its dict: nothing else to count */
        } else if (w->code == K_SUM) {
            PyObject *total = PyNumber_Subtract(w->summary, value);
            if (total == NULL) failed = 1;
            else Py_SETREF(w->summary, total);
        } else if (w->summary != Py_None) {
            PyObject *held = PyObject_GetItem(w->summary, value);             /* KeyError as in Python */
            PyObject *left = held == NULL ? NULL : PyNumber_Subtract(held, one);
            Py_XDECREF(held);
            if (left == NULL) failed = 1;
            else {
                int truth = PyObject_IsTrue(left);
                failed = truth < 0 || (truth ? PyObject_SetItem(w->summary, value, left) : PyObject_DelItem(w->summary, value)) < 0;
                Py_DECREF(left);
            }
        }
        Py_DECREF(value);
        if (failed) return -1;
    }
    if (w->code == K_SUM && w->len == 0) {
        PyObject *zero = PyLong_FromLong(0);                   /* no float drift once the window is empty */
        if (zero == NULL) return -1;
        Py_SETREF(w->summary, zero);
    }
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *Window_add(Window *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(ts, value)");
        return NULL;
    }
    if (add_entry(w, args[0], args[1]) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Window_evict(Window *w, PyObject *low) {
    Edge edge = edge_of(low);
    if (evict(w, &edge) < 0) return NULL;
    Py_RETURN_NONE;
}

/* Window.entries: the entries as the Python class keeps them, a deque of (time, value). */
static PyObject *Window_entries(Window *w, void *Py_UNUSED(closure)) {
    PyObject *entries = PyObject_CallNoArgs(deque_type);
    if (entries == NULL) return NULL;
    for (Py_ssize_t i = 0; i < w->len; i++) {
        Slot *slot = slot_at(w, i);
        PyObject *ts = slot_time(slot);
        PyObject *entry = ts == NULL ? NULL : PyTuple_Pack(2, ts, slot->value);
        Py_XDECREF(ts);
        PyObject *call[2] = {entries, entry};
        PyObject *done = entry == NULL ? NULL : PyObject_Vectorcall(deque_append, call, 2, NULL);
        Py_XDECREF(entry);
        if (done == NULL) {
            Py_DECREF(entries);
            return NULL;
        }
        Py_DECREF(done);
    }
    return entries;
}

/* Window.summary: a small window without its dict shows one (made for the reader only). */
static PyObject *Window_summary(Window *w, void *Py_UNUSED(closure)) {
    return w->summary != NULL ? Py_NewRef(w->summary) : summary_of_ring(w);
}

static int Window_set_summary(Window *w, PyObject *value, void *Py_UNUSED(closure)) {
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a window's summary cannot be deleted");
        return -1;
    }
    Py_XSETREF(w->summary, Py_NewRef(value));
    return 0;
}

static Py_ssize_t Window_len(Window *w) { return w->len; }

static PySequenceMethods Window_as_sequence = {.sq_length = (lenfunc)Window_len};

static PyGetSetDef Window_getset[] = {
    {"entries", (getter)Window_entries, NULL, "deque of (time, value), oldest first (a copy)", NULL},
    {"summary", (getter)Window_summary, (setter)Window_set_summary, "the sum, value → entries holding it, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Window_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Window_add, METH_FASTCALL, "add(ts, value): one more entry"},
    {"evict", (PyCFunction)Window_evict, METH_O, "evict(low): drop entries at or before low"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Window_members[] = {
    {"kind", T_OBJECT_EX, offsetof(Window, kind), READONLY, "sum | distinct | repeats | similar"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject WindowType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._windows.Window",
    .tp_basicsize = sizeof(Window),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Window(kind): entries in a sliding window and their running summary",
    .tp_new = Window_tp_new,
    .tp_dealloc = (destructor)Window_dealloc,
    .tp_traverse = (traverseproc)Window_traverse,
    .tp_clear = (inquiry)Window_clear,
    .tp_methods = Window_methods,
    .tp_members = Window_members,
    .tp_getset = Window_getset,
    .tp_as_sequence = &Window_as_sequence,
};

/* Drop the window's entries at or before now − width (the caller holds `w`). */
static int evict_older(Window *w, PyObject *now, PyObject *width) {
    if (w->len == 0) return 0;
    Edge edge;
    if (edge_below(now, width, &edge) < 0) return -1;
    int old = slot_le(oldest(w), &edge);                        /* only then is there anything to drop */
    int failed = old < 0 || (old && evict(w, &edge) < 0);
    edge_release(&edge);
    return failed ? -1 : 0;
}

/* The table's window for `key` once entries at or before now − width are gone; NULL without an
 * error when there is none (a window left empty is dropped from the table). */
static Window *current(PyObject *table, PyObject *key, PyObject *now, PyObject *width) {
    PyObject *found = table_get(table, key);                     /* borrowed */
    if (found == NULL) return NULL;
    if (!PyObject_TypeCheck(found, &WindowType)) {
        PyErr_SetString(PyExc_TypeError, "a window table holds windows");
        return NULL;
    }
    Window *w = (Window *)found;
    Py_INCREF(w);
    int failed = evict_older(w, now, width);
    Py_ssize_t left = w->len;
    Py_DECREF(w);                                               /* the table still holds it */
    if (failed) return NULL;
    if (left == 0) {
        table_del(table, key);
        return NULL;
    }
    return w;
}

/* How many values a window holds; how many of its entries hold `wanted`. */
static PyObject *distinct_of(Window *w) {
    if (w->summary == NULL) {                       /* a small window: the values no older entry holds */
        Py_ssize_t n = 0;
        /* Each slot read afresh and the value held: a comparison that calls back may change the
         * ring (the answer is then Python's loop's over a changing dict: some count), never freed
         * memory. */
        for (Py_ssize_t i = 0; i < w->len; i++) {
            PyObject *value = Py_NewRef(slot_at(w, i)->value);
            Py_hash_t hash = slot_at(w, i)->hash;
            int seen = 0;
            for (Py_ssize_t j = 0; j < i && j < w->len && !seen; j++) seen = same_key(slot_at(w, j), value, hash);
            Py_DECREF(value);
            if (seen < 0) return NULL;
            n += !seen;
        }
        return PyLong_FromSsize_t(n);
    }
    Py_ssize_t n = PyObject_Length(w->summary);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

static PyObject *repeats_of(Window *w, PyObject *wanted) {
    if (w->summary == NULL) {                       /* a small window: its entries holding `wanted` */
        Py_hash_t hash = PyObject_Hash(wanted);
        if (hash == -1) return NULL;
        Py_ssize_t n = 0;
        for (Py_ssize_t i = 0; i < w->len; i++) {
            int same = same_key(slot_at(w, i), wanted, hash);
            if (same < 0) return NULL;
            n += same;
        }
        return PyLong_FromSsize_t(n);
    }
    if (!PyDict_Check(w->summary)) {
        PyErr_SetString(PyExc_TypeError, "a repeats window counts its values");
        return NULL;
    }
    PyObject *held = PyDict_GetItemWithError(w->summary, wanted);
    if (held == NULL) return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
    return Py_NewRef(held);
}

/* window_distinct(table, key, now, width) → values in the window */
static PyObject *window_distinct(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "window_distinct(table, key, now, width)");
        return NULL;
    }
    Window *w = current(args[0], args[1], args[2], args[3]);
    if (w == NULL) return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
    Py_INCREF(w);                                   /* a comparison may call back and drop the table's */
    PyObject *n = distinct_of(w);
    Py_DECREF(w);
    return n;
}

/* window_repeats(table, key, now, width, wanted) → entries in the window holding `wanted` */
static PyObject *window_repeats(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "window_repeats(table, key, now, width, wanted)");
        return NULL;
    }
    if (args[4] == Py_None) return PyLong_FromLong(0);
    Window *w = current(args[0], args[1], args[2], args[3]);
    if (w == NULL) return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
    Py_INCREF(w);
    PyObject *n = repeats_of(w, args[4]);
    Py_DECREF(w);
    return n;
}

/* window_sum(table, key, now, width) → the sum of the values in the window */
static PyObject *window_sum(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "window_sum(table, key, now, width)");
        return NULL;
    }
    Window *w = current(args[0], args[1], args[2], args[3]);
    if (w == NULL) return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
    return w->summary != NULL ? Py_NewRef(w->summary) : summary_of_ring(w);
}

/* The table's window for `key` with one more entry, in a new window if the key has none
 * (borrowed: the table holds it); NULL with an exception set. */
static Window *added(PyObject *table, PyObject *key, PyObject *kind, PyObject *ts, PyObject *value) {
    PyObject *found = table_get(table, key);                     /* borrowed */
    Window *w;
    if (found == NULL) {
        if (PyErr_Occurred()) return NULL;
        w = window_new(&WindowType, kind);
        if (w == NULL) return NULL;
        int failed = table_set(table, key, (PyObject *)w);
        Py_DECREF(w);                                   /* the table holds it */
        if (failed) return NULL;
    } else if (PyObject_TypeCheck(found, &WindowType)) {
        w = (Window *)found;
    } else {
        PyErr_SetString(PyExc_TypeError, "a window table holds windows");
        return NULL;
    }
    return add_entry(w, ts, value) < 0 ? NULL : w;
}

/* add_window(table, key, kind, ts, value): one entry, in a new window if the key has none */
static PyObject *add_window(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "add_window(table, key, kind, ts, value)");
        return NULL;
    }
    if (args[4] == Py_None) Py_RETURN_NONE;
    if (added(args[0], args[1], args[2], args[3], args[4]) == NULL) return NULL;
    Py_RETURN_NONE;
}

/* A deque of `n` times without those at or before the edge (a windowed count's state): how many
 * are left, or -1 with an exception set. The caller holds a reference to `times`. */
static inline Py_ssize_t evict_times(PyObject *times, Py_ssize_t n, const Edge *edge) {
    while (n > 0) {
        PyObject *first = PySequence_GetItem(times, 0);
        int old = first == NULL ? -1 : le(first, edge);
        Py_XDECREF(first);
        if (old <= 0) return old < 0 ? -1 : n;
        PyObject *gone = PyObject_Vectorcall(deque_popleft, &times, 1, NULL);
        if (gone == NULL) return -1;
        Py_DECREF(gone);
        n--;
    }
    return n;
}

/* The times in (now − width, now] of `times`, the table's deque for `key` (borrowed), the older
 * ones dropped, and the key with them if none is left. */
static PyObject *times_within(PyObject *table, PyObject *key, PyObject *times, PyObject *now, PyObject *width) {
    int ring = Py_IS_TYPE(times, &TimesType);
    Py_ssize_t n = ring ? ((Times *)times)->len : PyObject_Length(times);
    if (n <= 0) return n < 0 ? NULL : PyLong_FromLong(0);
    Edge edge;
    if (edge_below(now, width, &edge) < 0) return NULL;
    Py_INCREF(times);
    n = ring ? times_evict((Times *)times, &edge) : evict_times(times, n, &edge);
    Py_DECREF(times);
    edge_release(&edge);
    if (n < 0) return NULL;
    if (n == 0 && table_del(table, key) < 0) return NULL;
    return PyLong_FromSsize_t(n);
}

/* window_count(table, key, now, width) → times in (now − width, now] of the key's deque */
static PyObject *window_count(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "window_count(table, key, now, width)");
        return NULL;
    }
    PyObject *times = table_get(args[0], args[1]);                   /* borrowed */
    if (times == NULL) return PyErr_Occurred() ? NULL : PyLong_FromLong(0);
    return times_within(args[0], args[1], times, args[2], args[3]);
}

/* A handler that adds to a window before its rules read it, with no filter in between, hands
 * the rules the value in a local (compiler/codegen.py): one call an event, one lookup of the key,
 * where there were two of each. */

/* add_read(table, key, kind, ts, value, width): add_window(table, key, kind, ts, value), then what
 * window_repeats(table, key, ts, width, value) ('repeats') or window_distinct(table, key, ts,
 * width) ('distinct') reads. */
static PyObject *add_read(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "add_read(table, key, kind, ts, value, width)");
        return NULL;
    }
    int which = kind_of(args[2]), repeats = which == KIND_REPEATS;
    if (!repeats && which != KIND_DISTINCT) {
        PyErr_SetString(PyExc_ValueError, "add_read reads a 'repeats' or a 'distinct' window");
        return NULL;
    }
    if (args[4] == Py_None) {                           /* nothing added: what the read alone says */
        PyObject *read[4] = {args[0], args[1], args[3], args[5]};
        return repeats ? PyLong_FromLong(0) : window_distinct(m, read, 4);
    }
    Window *w = added(args[0], args[1], args[2], args[3], args[4]);
    if (w == NULL) return NULL;
    Py_INCREF(w);
    PyObject *out = NULL;
    if (evict_older(w, args[3], args[5]) == 0) {
        if (w->len == 0)                                /* a width of 0 or less leaves nothing */
            out = table_del(args[0], args[1]) < 0 ? NULL : PyLong_FromLong(0);
        else
            out = repeats ? repeats_of(w, args[4]) : distinct_of(w);
    }
    Py_DECREF(w);
    return out;
}

/* add_count(table, key, ts, width): the key's times (made if it has none) take `ts`, then what
 * window_count(table, key, ts, width) reads. The times are a Times while every one is an int of 64
 * bits, and otherwise the deque Python keeps (a state file's deque stays one until it empties). */
static PyObject *add_count(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "add_count(table, key, ts, width)");
        return NULL;
    }
    PyObject *table = args[0], *key = args[1];
    long long t = 0;
    int fits = as_int64(args[2], &t);
    PyObject *times = table_get(table, key);                         /* borrowed */
    if (times == NULL || (!fits && Py_IS_TYPE(times, &TimesType))) {
        if (times == NULL && PyErr_Occurred()) return NULL;
        /* new times, or a Times that cannot take this one: a deque of what it holds */
        times = fits ? (PyObject *)times_new() : times == NULL ? PyObject_CallNoArgs(deque_type)
                                                              : PyObject_CallOneArg(deque_type, times);
        if (times == NULL) return NULL;
        int failed = table_set(table, key, times);
        Py_DECREF(times);                                           /* the table holds it */
        if (failed) return NULL;
    }
    if (Py_IS_TYPE(times, &TimesType)) {
        Py_INCREF(times);
        PyObject *out = times_push((Times *)times, t) < 0 ? NULL : times_within(table, key, times, args[2], args[3]);
        Py_DECREF(times);
        return out;
    }
    PyObject *call[2] = {times, args[2]};
    Py_INCREF(times);
    PyObject *appended = PyObject_Vectorcall(deque_append, call, 2, NULL);
    PyObject *out = appended == NULL ? NULL : times_within(table, key, times, args[2], args[3]);
    Py_XDECREF(appended);
    Py_DECREF(times);
    return out;
}

/* count_up(table, key): table[key] = table.get(key, 0) + 1, and that count (an all-time count's
 * update, helpers.count_up). */
static PyObject *count_up(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "count_up(table, key)");
        return NULL;
    }
    PyObject *held = table_get(args[0], args[1]);                    /* borrowed */
    if (held == NULL && PyErr_Occurred()) return NULL;
    long long n;
    PyObject *count = held == NULL ? Py_NewRef(one)
                      : as_int64(held, &n) && n < LLONG_MAX ? PyLong_FromLongLong(n + 1) : PyNumber_Add(held, one);
    if (count == NULL) return NULL;
    if (table_set(args[0], args[1], count) < 0) {
        Py_DECREF(count);
        return NULL;
    }
    return count;
}

/* active_days_add_read(table, key, day, span): incentives.active_days_add(table, key, day, span),
 * then what incentives.active_days_now(table, key, day, span) reads. The usual cases here — a
 * day after the last kept, or the same — and the rest (a day before the last, a list that is not
 * one) through the Python functions. */
static PyObject *python_active_days_add_read;

static PyObject *active_days_in_python(PyObject *const *args) {
    if (python_active_days_add_read == NULL) {
        PyObject *incentives = PyImport_ImportModule("policyengine.runtime.incentives");
        if (incentives == NULL) return NULL;
        python_active_days_add_read = PyObject_GetAttrString(incentives, "python_active_days_add_read");
        Py_DECREF(incentives);
        if (python_active_days_add_read == NULL) return NULL;
    }
    return PyObject_Vectorcall(python_active_days_add_read, args, 4, NULL);
}

static PyObject *active_days_add_read(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "active_days_add_read(table, key, day, span)");
        return NULL;
    }
    PyObject *table = args[0], *key = args[1], *day = args[2];
    PyObject *days = table_get(table, key);                          /* borrowed */
    if (days == NULL && PyErr_Occurred()) return NULL;
    if (days == NULL || (PyList_CheckExact(days) && PyList_GET_SIZE(days) == 0)) {
        PyObject *fresh = PyList_New(1);                            /* `if not days: table[key] = [day]` */
        if (fresh == NULL) return NULL;
        PyList_SET_ITEM(fresh, 0, Py_NewRef(day));
        int failed = table_set(table, key, fresh);
        Py_DECREF(fresh);
        if (failed) return NULL;
        Edge low;                                                   /* the day counts if the span holds it */
        if (edge_below(day, args[3], &low) < 0) return NULL;
        long long d;
        int inside;
        if (low.fits && as_int64(day, &d)) inside = d > low.v;
        else inside = edge_compare(day, &low, Py_GT);
        edge_release(&low);
        return inside < 0 ? NULL : PyLong_FromLong(inside);
    }
    if (!PyList_CheckExact(days)) return active_days_in_python(args);
    PyObject *last = PyList_GET_ITEM(days, PyList_GET_SIZE(days) - 1);
    long long l, d;
    int before, same = 0;
    if (as_int64(last, &l) && as_int64(day, &d)) {                 /* day numbers: ints */
        before = l < d;
        same = l == d;
    } else {
        before = PyObject_RichCompareBool(last, day, Py_LT);
        if (before < 0) return NULL;
        if (!before) {
            same = PyObject_RichCompareBool(last, day, Py_EQ);
            if (same < 0) return NULL;
        }
    }
    if (!before && !same) return active_days_in_python(args);      /* a day before the last kept */
    Py_INCREF(days);                                                /* callbacks below may drop the table's */
    if (before && PyList_Append(days, day) < 0) {
        Py_DECREF(days);
        return NULL;
    }
    Edge low;
    if (edge_below(day, args[3], &low) < 0) {
        Py_DECREF(days);
        return NULL;
    }
    while (PyList_GET_SIZE(days) > 0) {                             /* while days[0] <= day - span: pop(0) */
        int old = le(PyList_GET_ITEM(days, 0), &low);
        if (old < 0 || (old && PyList_SetSlice(days, 0, 1, NULL) < 0)) {
            edge_release(&low);
            Py_DECREF(days);
            return NULL;
        }
        if (!old) break;
    }
    edge_release(&low);
    /* Ascending, the last is `day` and the first after day − span: active_days_now's usual case. */
    PyObject *count = PyLong_FromSsize_t(PyList_GET_SIZE(days));
    Py_DECREF(days);
    return count;
}

/* A state's entries at or before the edge `arg` dropped: 1 when none is left (its key goes). */
static int evicted_empty(PyObject *state, void *arg) {
    const Edge *edge = arg;
    Py_ssize_t left;
    if (PyObject_TypeCheck(state, &WindowType)) {
        left = evict((Window *)state, edge) < 0 ? -1 : ((Window *)state)->len;
    } else if (Py_IS_TYPE(state, &TimesType)) {
        left = times_evict((Times *)state, edge);
    } else if (Py_IS_TYPE(state, (PyTypeObject *)deque_type)) {
        left = PyObject_Length(state);
        if (left > 0) left = evict_times(state, left, edge);
    } else {                                          /* a Python window: its own evict */
        PyObject *done = PyObject_CallMethod(state, "evict", "O", edge->obj);
        Py_XDECREF(done);
        left = done == NULL ? -1 : PyObject_Length(state);
    }
    return left < 0 ? -1 : left == 0;
}

/* evict_all(table, low): every key's entries at or before `low` dropped, keys left empty with them
 * (aggregates.evict for each key; the store's sweep). Windows, Times and deques of times alike. */
static PyObject *evict_all(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !(PyDict_Check(args[0]) || is_column(args[0]))) {
        PyErr_SetString(PyExc_TypeError, "evict_all(table: dict or column, low)");
        return NULL;
    }
    Edge edge = edge_of(args[1]);
    return table_drop_where(args[0], evicted_empty, &edge) < 0 ? NULL : Py_NewRef(Py_None);
}

/* Updates(steps, failed, failed_read): a handler's aggregate updates made on every event of its type
 * before its rules, in one call (runtime/updates.py says why and holds the Python definition). A
 * step is (op, table, key, value, width, index): `key` and `value` are positions in the call's
 * arguments (event, ts, local, …), `value` -1 when the op takes none, or for active days the
 * calendar's function of ts giving the event's day or week; `width` a count window's
 * width in µs or active days' span. Called as updates(event, ts, local, …), it hands back a tuple
 * of what each step read; a step that raises an Exception is reported as failed(index, exc,
 * event) and reads failed_read, and the steps after it still run. */
enum { OP_COUNT_WINDOW, OP_COUNT, OP_REPEATS, OP_DISTINCT, OP_ACTIVE_DAYS, K_OPS };
static const char *op_names[K_OPS] = {"count_window", "count", "repeats", "distinct", "active_days"};

typedef struct {
    int op;
    Py_ssize_t key, value;
    PyObject *table, *width, *index;
    PyObject *period;                  /* active days: fn(ts) → the event's day (value -1), or NULL */
} Step;

typedef struct {
    PyObject_HEAD
    vectorcallfunc call;
    Py_ssize_t nsteps, nargs;          /* nargs: the arguments a call takes */
    Step *step;
    PyObject *failed, *failed_read;
    PyObject *reads;                   /* the tuple handed out last, filled again when no one else holds it */
} Updates;

static PyObject *Updates_call(Updates *u, PyObject *const *args, size_t nargsf, PyObject *kwnames);

static int Updates_traverse(Updates *u, visitproc visit, void *arg) {
    for (Py_ssize_t i = 0; i < u->nsteps; i++) {
        Py_VISIT(u->step[i].table); Py_VISIT(u->step[i].width); Py_VISIT(u->step[i].index);
        Py_VISIT(u->step[i].period);
    }
    Py_VISIT(u->failed); Py_VISIT(u->failed_read); Py_VISIT(u->reads);
    return 0;
}

static int Updates_clear(Updates *u) {
    for (Py_ssize_t i = 0; i < u->nsteps; i++) {
        Py_CLEAR(u->step[i].table); Py_CLEAR(u->step[i].width); Py_CLEAR(u->step[i].index);
        Py_CLEAR(u->step[i].period);
    }
    Py_CLEAR(u->failed); Py_CLEAR(u->failed_read); Py_CLEAR(u->reads);
    return 0;
}

static void Updates_dealloc(Updates *u) {
    PyObject_GC_UnTrack(u);
    Updates_clear(u);
    PyMem_Free(u->step);
    Py_TYPE(u)->tp_free((PyObject *)u);
}

static int step_of(PyObject *item, Step *step, Py_ssize_t *nargs) {
    PyObject *op, *value;
    if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "UOnOOO!:step", &op, &step->table, &step->key, &value,
                                                  &step->width, &PyLong_Type, &step->index)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a step is (op, table, key, value, width, index)");
        return -1;
    }
    step->op = -1;
    for (int i = 0; i < K_OPS; i++)
        if (PyUnicode_CompareWithASCIIString(op, op_names[i]) == 0) step->op = i;
    int takes_value = step->op == OP_REPEATS || step->op == OP_DISTINCT || step->op == OP_ACTIVE_DAYS;
    if (step->op < 0) {
        PyErr_Format(PyExc_ValueError, "no update op %R", op);
        return -1;
    }
    /* Active days' value: a position, or the calendar's day function, called here with ts (the
     * generated code called it before the call, ~120 instructions a message). */
    PyObject *period = step->op == OP_ACTIVE_DAYS && !PyLong_Check(value) && PyCallable_Check(value) ? value : NULL;
    if (period != NULL) {
        step->value = -1;                                 /* no argument: the day comes from period(ts) */
        takes_value = 0;
    } else if (PyLong_Check(value)) {
        step->value = PyLong_AsSsize_t(value);
        if (step->value == -1 && PyErr_Occurred()) return -1;
    } else {
        PyErr_SetString(PyExc_TypeError, "a step's value is a position (or, for active days, a function of ts)");
        return -1;
    }
    if (!PyDict_Check(step->table) && !is_column(step->table)) {
        PyErr_SetString(PyExc_TypeError, "a step's table is a dict or a column");
        return -1;
    }
    if (step->key < 2 || (takes_value ? step->value < 2 : step->value != -1)) {
        PyErr_SetString(PyExc_ValueError, "a step's key and value are positions past (event, ts); -1 for no value");
        return -1;
    }
    if (step->key >= *nargs) *nargs = step->key + 1;
    if (step->value >= *nargs) *nargs = step->value + 1;
    Py_INCREF(step->table); Py_INCREF(step->width); Py_INCREF(step->index);
    step->period = Py_XNewRef(period);                    /* held only once the step is whole */
    return 0;
}

static PyObject *Updates_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *steps, *failed, *failed_read;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Updates takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!OO:Updates", &PyTuple_Type, &steps, &failed, &failed_read)) return NULL;
    Updates *u = (Updates *)type->tp_alloc(type, 0);
    if (u == NULL) return NULL;
    u->call = (vectorcallfunc)Updates_call;
    u->failed = Py_NewRef(failed);
    u->failed_read = Py_NewRef(failed_read);
    u->nargs = 2;
    Py_ssize_t n = PyTuple_GET_SIZE(steps);
    u->step = PyMem_Calloc(n ? n : 1, sizeof(Step));
    if (u->step == NULL) {
        Py_DECREF(u);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (step_of(PyTuple_GET_ITEM(steps, i), &u->step[i], &u->nargs) < 0) {
            Py_DECREF(u);
            return NULL;
        }
        u->nsteps = i + 1;             /* held from here: cleared with the rest */
    }
    return (PyObject *)u;
}

static PyObject *step_read(const Step *step, PyObject *const *args) {
    PyObject *ts = args[1], *key = args[step->key];
    switch (step->op) {
    case OP_COUNT_WINDOW: {
        PyObject *a[4] = {step->table, key, ts, step->width};
        return add_count(NULL, a, 4);
    }
    case OP_COUNT: {
        PyObject *a[2] = {step->table, key};
        return count_up(NULL, a, 2);
    }
    case OP_ACTIVE_DAYS: {
        PyObject *day = step->period != NULL ? PyObject_CallOneArg(step->period, ts) : Py_NewRef(args[step->value]);
        if (day == NULL) return NULL;
        PyObject *a[4] = {step->table, key, day, step->width};
        PyObject *read = active_days_add_read(NULL, a, 4);
        Py_DECREF(day);
        return read;
    }
    default: {
        PyObject *a[6] = {step->table, key, step->op == OP_REPEATS ? s_repeats : s_distinct, ts,
                          args[step->value], step->width};
        return add_read(NULL, a, 6);
    }
    }
}

/* What the steps will read of the member's state, asked of memory before the first step runs: a
 * window's oldest entry (evicted first) and the slot it adds into, the last of a list of active
 * days. The member's values in each column were asked for when the message's member was counted
 * (member_seen); these are the allocations they point to, each another miss when met in turn. */
static void steps_prefetch(const Updates *u, PyObject *const *args) {
    for (Py_ssize_t i = 0; i < u->nsteps; i++) {
        const Step *step = &u->step[i];
        if (!is_column(step->table) || ((Column *)step->table)->unwrap) continue;
        PyObject *member = args[step->key];
        if (!PyUnicode_CheckExact(member)) continue;
        PyObject *held = column_get_member((Column *)step->table, member);
        if (held == NULL) {
            if (PyErr_Occurred()) PyErr_Clear();           /* the step meets the failure again and reports it */
            continue;
        }
        if (Py_IS_TYPE(held, &WindowType)) {
            Window *w = (Window *)held;
            if (w->ring == NULL || w->cap == 0) continue;
            __builtin_prefetch(&w->ring[w->head]);
            __builtin_prefetch(&w->ring[(w->head + w->len) % w->cap]);
        } else if (PyList_CheckExact(held) && PyList_GET_SIZE(held) > 0) {
            __builtin_prefetch(PyList_GET_ITEM(held, PyList_GET_SIZE(held) - 1));
        }
    }
}

static PyObject *Updates_call(Updates *u, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != u->nargs || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_Format(PyExc_TypeError, "these updates take %zd arguments (event, ts, ...), not %zd", u->nargs, nargs);
        return NULL;
    }
    steps_prefetch(u, args);
    PyObject *reads = u->reads;
    int reused = reads != NULL && Py_REFCNT(reads) == 1;   /* unpacked and let go by the handler, as zip does */
    if (!reused) {
        reads = PyTuple_New(u->nsteps);
        if (reads == NULL) return NULL;
    }
    for (Py_ssize_t i = 0; i < u->nsteps; i++) {
        PyObject *read = step_read(&u->step[i], args);
        if (read == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception)) goto fail;     /* as `except Exception` lets through */
            PyObject *type, *exc, *tb;
            PyErr_Fetch(&type, &exc, &tb);
            PyErr_NormalizeException(&type, &exc, &tb);
            if (tb != NULL) PyException_SetTraceback(exc, tb);
            PyObject *call[3] = {u->step[i].index, exc, args[0]};
            PyObject *done = PyObject_Vectorcall(u->failed, call, 3, NULL);
            Py_XDECREF(type); Py_XDECREF(exc); Py_XDECREF(tb);
            if (done == NULL) goto fail;
            Py_DECREF(done);
            read = Py_NewRef(u->failed_read);
        }
        if (reused) Py_XSETREF(PyTuple_GET_ITEM(reads, i), read);
        else PyTuple_SET_ITEM(reads, i, read);
    }
    if (reused) {
        if (!PyObject_GC_IsTracked(reads)) PyObject_GC_Track(reads);
        return Py_NewRef(reads);
    }
    Py_XSETREF(u->reads, Py_NewRef(reads));
    return reads;
fail:
    if (!reused) Py_DECREF(reads);
    return NULL;
}

static PyTypeObject UpdatesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._windows.Updates",
    .tp_basicsize = sizeof(Updates),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Updates(steps, failed, failed_read)(event, ts, local, ...) -> what each step read",
    .tp_new = Updates_new,
    .tp_dealloc = (destructor)Updates_dealloc,
    .tp_traverse = (traverseproc)Updates_traverse,
    .tp_clear = (inquiry)Updates_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Updates, call),
};

static PyMethodDef methods[] = {
    {"evict_all", (PyCFunction)(void (*)(void))evict_all, METH_FASTCALL, "evict_all(table, low)"},
    {"add_window", (PyCFunction)(void (*)(void))add_window, METH_FASTCALL, "add_window(table, key, kind, ts, value)"},
    {"window_distinct", (PyCFunction)(void (*)(void))window_distinct, METH_FASTCALL, "window_distinct(table, key, now, width)"},
    {"window_repeats", (PyCFunction)(void (*)(void))window_repeats, METH_FASTCALL, "window_repeats(table, key, now, width, wanted)"},
    {"window_sum", (PyCFunction)(void (*)(void))window_sum, METH_FASTCALL, "window_sum(table, key, now, width)"},
    {"window_count", (PyCFunction)(void (*)(void))window_count, METH_FASTCALL, "window_count(table, key, now, width)"},
    {"add_read", (PyCFunction)(void (*)(void))add_read, METH_FASTCALL,
     "add_read(table, key, kind, ts, value, width) -> add_window, then the window's repeats of value or distinct values"},
    {"active_days_add_read", (PyCFunction)(void (*)(void))active_days_add_read, METH_FASTCALL,
     "active_days_add_read(table, key, day, span) -> active_days_add, then active_days_now"},
    {"count_up", (PyCFunction)(void (*)(void))count_up, METH_FASTCALL, "count_up(table, key) -> table[key] = table.get(key, 0) + 1"},
    {"add_count", (PyCFunction)(void (*)(void))add_count, METH_FASTCALL,
     "add_count(table, key, ts, width) -> the key's times take ts, then window_count"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_windows", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__windows(void) {
    PyObject *collections = PyImport_ImportModule("collections");
    if (collections == NULL) return NULL;
    deque_type = PyObject_GetAttrString(collections, "deque");
    Py_DECREF(collections);
    if (deque_type == NULL) return NULL;
    deque_append = PyObject_GetAttrString(deque_type, "append");
    deque_popleft = PyObject_GetAttrString(deque_type, "popleft");
    one = PyLong_FromLong(1);
    if (deque_append == NULL || deque_popleft == NULL || one == NULL) return NULL;
    s_sum = PyUnicode_InternFromString("sum");
    s_similar = PyUnicode_InternFromString("similar");
    s_repeats = PyUnicode_InternFromString("repeats");
    s_distinct = PyUnicode_InternFromString("distinct");
    if (s_sum == NULL || s_similar == NULL || s_repeats == NULL || s_distinct == NULL) return NULL;
    if (PyType_Ready(&WindowType) < 0 || PyType_Ready(&TimesType) < 0 || PyType_Ready(&UpdatesType) < 0) return NULL;
    columns_import();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Window", (PyObject *)&WindowType) < 0
        || PyModule_AddObjectRef(m, "Times", (PyObject *)&TimesType) < 0
        || PyModule_AddObjectRef(m, "Updates", (PyObject *)&UpdatesType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
