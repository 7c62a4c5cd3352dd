/* A log split by member before `eval` reads it (`policyengine split`, splitlog/): the C half.
 *
 * Over a log read whole, each worker of `eval --workers` scans a share of every line to learn
 * whose it is and moves its clock by the others' times: on cheap rules that scan, and reading the
 * other shares' lines at all, hold two workers near 1.5-1.6x (docs/performance.md, "Two
 * workers"). A split log holds each part's lines in a file of its own, the lines the scan was
 * unsure of in another, and a clock: eight bytes a line of the log, in its order, saying whose
 * line it was and its time (a Found, as the workers' ring holds it). A worker reads its own part
 * and walks the clock; it never reads another part's line.
 *
 * Included by _route.c, whose scan (scan_owner), Found and Lines these are. */

#define OVERLONG 0xFF                    /* a clock entry's low byte: a line over the limit, kept nowhere */
#define SPLIT_PARTS 64                   /* parts a split log may have: a share + 1 stays below OVERLONG */

static PyObject *SplitDamaged;           /* a ValueError: the clock and the parts disagree */

static PyObject *damaged(const char *what) {
    PyErr_Format(SplitDamaged, "the split log is damaged: %s", what);
    return NULL;
}

/* split_chunk(lines, fields, partition, parts) → (clock, pieces, overlong): each line's clock entry
 * (a Found: its part and time, 0 if the scan was unsure, OVERLONG for an over-long line), the
 * lines of each part, then the unsure ones, each piece its lines with a newline after each, and
 * how many lines were over-long. */
static PyObject *split_chunk(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    Source src;
    Layout layout;
    if (nargs != 4 || source_of(args[0], &src) < 0 || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "split_chunk(lines: list | Lines, fields, partition: bytes, parts: int)");
        return NULL;
    }
    if (read_layout(args[1], &layout) < 0) return NULL;
    const unsigned char *partition = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t buckets = PyBytes_GET_SIZE(args[2]);
    long parts = PyLong_AsLong(args[3]);
    if (parts == -1 && PyErr_Occurred()) return NULL;
    if (parts < 1 || parts > SPLIT_PARTS || buckets < 1) {
        PyErr_SetString(PyExc_ValueError, "1 to 64 parts, and a partition not empty");
        return NULL;
    }
    for (Py_ssize_t b = 0; b < buckets; b++)
        if (partition[b] >= parts) {
            PyErr_SetString(PyExc_ValueError, "the partition names a part past `parts`");
            return NULL;
        }
    Py_ssize_t n = src.n, sizes[SPLIT_PARTS + 1] = {0}, overlong = 0;
    PyObject *clock = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(Found));
    if (clock == NULL) return NULL;
    Found *found = (Found *)PyBytes_AS_STRING(clock);
    Predicted predictions[PREDICTED];
    memset(predictions, 0, sizeof predictions);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len;
        if (source_at(&src, i, &len) == NULL) {
            found[i] = OVERLONG;
            overlong++;
            continue;
        }
        int64_t ts = 0;
        long part = scan_owner(&src, i, &layout, predictions, partition, buckets, 0, &ts);
        found[i] = found_of(part, ts);
        sizes[found[i] == 0 ? parts : part] += len + 1;
    }
    PyObject *pieces = PyList_New(parts + 1);
    char *at[SPLIT_PARTS + 1];
    for (long k = 0; pieces != NULL && k <= parts; k++) {
        PyObject *piece = PyBytes_FromStringAndSize(NULL, sizes[k]);
        if (piece == NULL) {
            Py_CLEAR(pieces);
            break;
        }
        at[k] = PyBytes_AS_STRING(piece);
        PyList_SET_ITEM(pieces, k, piece);
    }
    if (pieces == NULL) {
        Py_DECREF(clock);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (found[i] == OVERLONG) continue;
        Py_ssize_t len = 0;
        const unsigned char *line = source_at(&src, i, &len);
        long k = found[i] == 0 ? parts : found_share(found[i]);
        memcpy(at[k], line, (size_t)len);
        at[k][len] = '\n';
        at[k] += len + 1;
    }
    return Py_BuildValue("(NNn)", clock, pieces, overlong);
}

/* interleave(clock, start, end, sources, at) → (lines, next, short): the log's lines of clock
 * entries [start, end) in its order, for one worker reading a split log back: each the next line
 * of its source (sources[k] a chunk of part k's lines, the last source a chunk of the unsure
 * ones: lists or Lines; at[k] where each stands, advanced), an over-long one None. It stops at an
 * entry whose source's chunk is used up: `next` is that entry and `short` its source, for Python
 * to hand the next chunk (else next == end and short -1). */
static PyObject *interleave(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    const char *usage = "interleave(clock: buffer, start: int, end: int, sources: list, at: list)";
    if (nargs != 5 || !PyList_Check(args[3]) || !PyList_Check(args[4])
        || PyList_GET_SIZE(args[3]) != PyList_GET_SIZE(args[4]) || PyList_GET_SIZE(args[3]) < 2
        || PyList_GET_SIZE(args[3]) > SPLIT_PARTS + 1) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    long parts = (long)PyList_GET_SIZE(args[3]) - 1;
    Source sources[SPLIT_PARTS + 1];
    Py_ssize_t at[SPLIT_PARTS + 1];
    for (long k = 0; k <= parts; k++) {
        at[k] = PyLong_AsSsize_t(PyList_GET_ITEM(args[4], k));
        if ((at[k] == -1 && PyErr_Occurred()) || source_of(PyList_GET_ITEM(args[3], k), &sources[k]) < 0) {
            PyErr_SetString(PyExc_TypeError, usage);
            return NULL;
        }
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    const Found *entries = (const Found *)view.buf;
    Py_ssize_t count = view.len / (Py_ssize_t)sizeof(Found);
    if (start < 0 || end < start || end > count) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "entries within the clock");
        return NULL;
    }
    PyObject *lines = PyList_New(end - start);
    long short_of = -1;
    Py_ssize_t i = start;
    for (; lines != NULL && i < end; i++) {
        Found found = entries[i];
        PyObject *line;
        if ((found & 0xFF) == OVERLONG) {
            line = Py_NewRef(Py_None);
        } else {
            long k = found == 0 ? parts : found_share(found);
            if (k >= parts && found != 0) {
                PyBuffer_Release(&view);
                Py_DECREF(lines);
                return damaged("its clock names a part it does not have");
            }
            if (at[k] >= sources[k].n) {
                short_of = k;
                break;
            }
            line = source_item(&sources[k], at[k]++);
            if (line == NULL) Py_CLEAR(lines);
        }
        if (lines != NULL) PyList_SET_ITEM(lines, i - start, line);
    }
    PyBuffer_Release(&view);
    if (lines == NULL) return NULL;
    Py_SET_SIZE(lines, i - start);                   /* the items past a stop were never set */
    for (long k = 0; k <= parts; k++) {
        PyObject *where = PyLong_FromSsize_t(at[k]);
        if (where == NULL || PyList_SetItem(args[4], k, where) < 0) {
            Py_DECREF(lines);
            return NULL;
        }
    }
    return Py_BuildValue("(Nnl)", lines, i, short_of);
}

/* parted(own, clock, position, share, event_clock, index, unsure, last) → routed's items over a
 * split log: the clock walked from entry `position`, an own entry handing on the next of this
 * chunk of the share's own lines (`own`), another part's entry its time (taken where the clock
 * takes it cleanly), an unsure one (next(unsure),) and an over-long one (None,). It stops at an
 * own entry once `own` is used up, where the next chunk's iterator starts (`position`); with
 * `last` (no own lines left) it walks the clock to its end. A clock and parts that disagree
 * (a part with fewer or more lines than the clock gives it, the unsure lines used up) are a
 * damaged split: SplitDamaged, a ValueError. */
typedef struct {
    PyObject_HEAD
    PyObject *refs[4];                   /* the own lines, the clock, the index, the unsure lines */
    Py_buffer entries;                   /* the clock's entries (held while the iterator lives) */
    int has_entries;
    Source own;
    Py_ssize_t next_own, warmed;
    Py_ssize_t position, end;            /* the next entry to walk; the clock's length */
    long share;
    int last;
    Clock *clock;
    MemberIndex *index;
    PyObject *taken;                     /* as Routed's */
} Parted;

static PyTypeObject PartedType;

static PyObject *parted(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    const char *usage = "parted(own: list | Lines, clock: buffer, position: int, share: int, event_clock: Clock, "
                        "index: MemberIndex | None, unsure: iterator, last: bool)";
    if (nargs != 8 || clock_type == NULL || !Py_IS_TYPE(args[4], clock_type) || !PyIter_Check(args[6])
        || (args[5] != Py_None && (columns_api == NULL || !Py_IS_TYPE(args[5], columns_api->index_type)))) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    Parted *it = PyObject_New(Parted, &PartedType);
    if (it == NULL) return NULL;
    it->has_entries = 0;
    it->taken = NULL;
    it->refs[0] = Py_NewRef(args[0]);
    it->refs[1] = Py_NewRef(args[4]);
    it->refs[2] = Py_NewRef(args[5]);
    it->refs[3] = Py_NewRef(args[6]);
    it->clock = (Clock *)args[4];
    it->index = args[5] != Py_None ? (MemberIndex *)args[5] : NULL;
    it->next_own = it->warmed = 0;
    if (source_of(args[0], &it->own) < 0) {
        Py_DECREF(it);
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &it->entries, PyBUF_SIMPLE) < 0) {
        Py_DECREF(it);
        return NULL;
    }
    it->has_entries = 1;
    it->end = it->entries.len / (Py_ssize_t)sizeof(Found);
    it->position = PyLong_AsSsize_t(args[2]);
    it->share = PyLong_AsLong(args[3]);
    it->last = PyObject_IsTrue(args[7]);
    if (PyErr_Occurred() || it->last < 0) {
        Py_DECREF(it);
        return NULL;
    }
    if (it->position < 0 || it->position > it->end || it->share < 0 || it->share >= SPLIT_PARTS) {
        Py_DECREF(it);
        PyErr_SetString(PyExc_ValueError, "a position within the clock and a share below 64");
        return NULL;
    }
    it->taken = PyLong_FromLong(0);
    if (it->taken == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}


/* The rows of the members of the next window of own lines asked of memory, one window ahead. */
static void parted_warm(Parted *it) {
    Py_ssize_t from, to;
    if (!columns_window(it->next_own, it->own.n, &it->warmed, &from, &to)) return;
    const char *starts[COLUMNS_AHEAD];
    Py_ssize_t lens[COLUMNS_AHEAD];
    int k = 0;
    for (Py_ssize_t j = from; j < to; j++)
        if ((starts[k] = (const char *)source_at(&it->own, j, &lens[k])) != NULL) k++;
    columns_api->warm(it->index, starts, lens, k);
}

static PyObject *Parted_next(Parted *it) {
    const Found *entries = (const Found *)it->entries.buf;
    Clock *c = it->clock;
    Py_ssize_t taken = 0;
    PyObject *item = NULL;
    while (it->position < it->end) {
        Found found = entries[it->position];
        long owner = found_share(found);
        if (owner == it->share && (found & 0xFF) != OVERLONG) {
            if (it->next_own == it->own.n) {
                if (it->last) return damaged("a part holds fewer lines than its clock gives it");
                break;                                   /* the next chunk's */
            }
            if (it->index != NULL) parted_warm(it);
            it->position++;
            if (set_taken(&it->taken, taken + 1) < 0) return NULL;
            item = source_item(&it->own, it->next_own++);
            c->scanned = item;                           /* decode_timed takes its time from here */
            c->scanned_us = found_ts(found);
            return item;
        }
        it->position++;
        if (owner != UNSURE && (found & 0xFF) != OVERLONG) {
            int64_t ts = found_ts(found);
            if (clock_took_cleanly(c, ts)) {
                taken++;
                continue;
            }
            item = PyLong_FromLongLong(ts);
        } else {
            PyObject *line;
            if ((found & 0xFF) == OVERLONG) {
                line = Py_NewRef(Py_None);
            } else if ((line = PyIter_Next(it->refs[3])) == NULL) {
                return PyErr_Occurred() ? NULL : damaged("its file of unsure lines ends early");
            }
            item = PyTuple_Pack(1, line);
            Py_DECREF(line);
        }
        c->scanned = NULL;
        if (item == NULL || set_taken(&it->taken, taken) < 0) {
            Py_XDECREF(item);
            return NULL;
        }
        return item;
    }
    c->scanned = NULL;
    if (it->position == it->end && it->next_own < it->own.n)
        return damaged("a part holds more lines than its clock gives it");
    if (set_taken(&it->taken, taken) < 0) return NULL;
    return NULL;
}

static void Parted_dealloc(Parted *it) {
    if (it->clock != NULL && it->clock->scanned != NULL) it->clock->scanned = NULL;
    if (it->has_entries) PyBuffer_Release(&it->entries);
    for (int k = 0; k < 4; k++) Py_XDECREF(it->refs[k]);
    Py_XDECREF(it->taken);
    PyObject_Free(it);
}

static PyMemberDef Parted_members[] = {
    {"taken", T_OBJECT_EX, offsetof(Parted, taken), READONLY, "as Routed's: events passed with the item handed on last"},
    {"position", T_PYSSIZET, offsetof(Parted, position), READONLY, "the next clock entry to walk"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PartedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.events._route.Parted",
    .tp_basicsize = sizeof(Parted),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a chunk of a share's own lines of a split log, routed by walking its clock (parted)",
    .tp_dealloc = (destructor)Parted_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Parted_next,
    .tp_members = Parted_members,
};
