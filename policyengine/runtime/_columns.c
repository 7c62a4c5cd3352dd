/* MemberIndex and Column (see _columns.h for why): a column is a table keyed by members that
 * behaves as a dict does for everything that reads or writes it — get, [], in, del, pop,
 * setdefault, len, iteration, items, == — so the store, the sweep, state files and the Python
 * paths of the runtime take it where they took a dict. It iterates in the index's row order (the
 * order members were first seen by any column), not in its own insertion order; nothing that
 * decides depends on the order of a member-keyed table (docs/performance-history.md, tenth session). A
 * row is listed under the key the index met first: for strings, the only keys such tables have,
 * an equal string; keys equal across types (1, 1.0, True) would be listed as the first one's type. */
#define PY_SSIZE_T_CLEAN
#define COLUMNS_MODULE
#include "_columns.h"
#include "_huge.h"

static PyTypeObject MemberIndexType, ColumnType;

/* KeyError(key), with a tuple key kept whole (PyErr_SetObject would take it for the arguments). */
static void key_error(PyObject *key) {
    PyObject *args = PyTuple_Pack(1, key);
    if (args != NULL) {
        PyErr_SetObject(PyExc_KeyError, args);
        Py_DECREF(args);
    }
}

static int no_keywords(const char *name, PyObject *kwargs) {
    if (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0) return 1;
    PyErr_Format(PyExc_TypeError, "%s takes no keyword arguments", name);
    return 0;
}

/* ---- the index ---------------------------------------------------------------------------- */

static int index_grow(MemberIndex *ix) {
    size_t size = (ix->mask + 1) * 2;
    RowSlot *slots = huge_calloc(size * sizeof(RowSlot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= ix->mask; i++) {
        RowSlot *old = &ix->slots[i];
        if (old->key == NULL) continue;
        size_t j = (size_t)old->hash & (size - 1);
        while (slots[j].key != NULL) j = (j + 1) & (size - 1);
        slots[j] = *old;
    }
    huge_free(ix->slots, (ix->mask + 1) * sizeof(RowSlot));
    ix->slots = slots;
    ix->mask = size - 1;
    return 0;
}

/* The row of `key`, made if it has none; -1 with an exception. */
static Py_ssize_t index_row(MemberIndex *ix, PyObject *key) {
    Py_ssize_t row = columns_row_of(ix, key);
    if (row != -1) return row < 0 ? -1 : row;
    if (ix->rows >= (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a member index holds at most 2**32 - 1 members");
        return -1;
    }
    if ((size_t)(ix->rows + 1) * 3 > (ix->mask + 1) * 2 && index_grow(ix) < 0) return -1;   /* at most 2/3 full */
    if (ix->rows == ix->keys_room) {
        Py_ssize_t room = ix->keys_room ? ix->keys_room * 2 : 64;
        PyObject **keys = PyMem_Realloc(ix->keys, room * sizeof(PyObject *));
        if (keys == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        ix->keys = keys;
        ix->keys_room = room;
    }
    Py_hash_t hash = PyObject_Hash(key);                 /* cached by strings; known to work */
    size_t i = (size_t)(uint32_t)hash & ix->mask;
    while (ix->slots[i].key != NULL) i = (i + 1) & ix->mask;
    row = ix->rows++;
    ix->slots[i].hash = (uint32_t)hash;
    ix->slots[i].key = Py_NewRef(key);
    ix->slots[i].row = (uint32_t)row;
    ix->keys[row] = Py_NewRef(key);
    Py_INCREF(key);
    Py_XSETREF(ix->last_key, key);
    ix->last_row = row;
    return row;
}

static PyObject *MemberIndex_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (!no_keywords("MemberIndex", kwargs)) return NULL;
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "MemberIndex takes no arguments");
        return NULL;
    }
    MemberIndex *ix = (MemberIndex *)type->tp_alloc(type, 0);
    if (ix == NULL) return NULL;
    ix->slots = huge_calloc(64 * sizeof(RowSlot));
    if (ix->slots == NULL) {
        Py_DECREF(ix);
        return PyErr_NoMemory();
    }
    ix->mask = 63;
    return (PyObject *)ix;
}

static void MemberIndex_dealloc(MemberIndex *ix) {
    if (ix->slots != NULL)
        for (size_t i = 0; i <= ix->mask; i++) Py_XDECREF(ix->slots[i].key);
    for (Py_ssize_t r = 0; r < ix->rows; r++) Py_DECREF(ix->keys[r]);
    huge_free(ix->slots, (ix->mask + 1) * sizeof(RowSlot));
    PyMem_Free(ix->keys);
    PyMem_Free(ix->columns);
    Py_XDECREF(ix->last_key);
    Py_TYPE(ix)->tp_free((PyObject *)ix);
}

static Py_ssize_t MemberIndex_len(MemberIndex *ix) { return ix->rows; }

static PyObject *MemberIndex_columns(MemberIndex *ix, void *Py_UNUSED(closure)) { return PyLong_FromSsize_t(ix->ncolumns); }

static PyGetSetDef MemberIndex_getset[] = {
    {"columns", (getter)MemberIndex_columns, NULL, "how many columns of this index are alive", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods MemberIndex_as_mapping = {.mp_length = (lenfunc)MemberIndex_len};

static PyTypeObject MemberIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._columns.MemberIndex",
    .tp_basicsize = sizeof(MemberIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MemberIndex(): members to rows, shared by the columns of one store",
    .tp_new = MemberIndex_new,
    .tp_dealloc = (destructor)MemberIndex_dealloc,
    .tp_as_mapping = &MemberIndex_as_mapping,
    .tp_getset = MemberIndex_getset,
};

/* ---- columns ------------------------------------------------------------------------------ */

/* A list or tuple of atoms — values of types the cycle collector does not know (ints, strs,
 * floats, None) — can be in no reference cycle, so the collector need not walk it. Member-keyed
 * state is mostly such values: lists (a member's [first seen, joined, messages], active days, a
 * streak's [period, current, best]) and pairs (a ledger's (balance, time), a board's (score,
 * seq)). With 100 000 members that is ~200 000 lists, each walked by every full collection — up
 * to 0.2 s an `Engine.process` call in a bot (docs/performance.md, "The embedded engine") — and
 * ~250 000 values the columns showed the collector, a cache miss each. Taken out of its sight when
 * stored: a tuple cannot change (CPython untracks such tuples itself, but only once a collection
 * has walked them), and the engine only ever puts atoms into such a list after (a count's += 1, a
 * day appended). A list with anything else, or nothing yet, stays tracked. 1 if the value is
 * still one the collector must walk (the row's `traced` bit), 0 for atoms and such lists and tuples. */
static int left_in_sight(PyObject *value) {
    if (!PyObject_IS_GC(value)) return 0;
    PyObject **items;
    Py_ssize_t n;
    if (PyList_CheckExact(value)) {
        items = ((PyListObject *)value)->ob_item;
        n = PyList_GET_SIZE(value);
    } else if (PyTuple_CheckExact(value)) {
        items = ((PyTupleObject *)value)->ob_item;
        n = PyTuple_GET_SIZE(value);
    } else {
        return 1;
    }
    /* untracked already (by an earlier store, or CPython's own for a tuple): neither is tracked
     * again, so nothing here needs walking */
    if (!PyObject_GC_IsTracked(value)) return 0;
    if (n == 0) return 1;                                /* an empty list could be filled with anything */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_IS_GC(items[i])) return 1;
    }
    PyObject_GC_UnTrack(value);
    return 0;
}

static int column_set(Column *c, PyObject *key, PyObject *value) {
    if (c->unwrap) {
        if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 1) {
            PyErr_SetString(PyExc_TypeError, "the keys of this column are 1-tuples");
            return -1;
        }
        key = PyTuple_GET_ITEM(key, 0);
    }
    Py_ssize_t row = index_row(c->index, key);
    if (row < 0) return -1;
    if (row >= c->room) {
        Py_ssize_t room = c->index->keys_room > row ? c->index->keys_room : row + 1;
        PyObject **values = PyMem_Realloc(c->values, room * sizeof(PyObject *));
        if (values == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(values + c->room, 0, (room - c->room) * sizeof(PyObject *));
        c->values = values;
        uint64_t *present = PyMem_Realloc(c->present, PRESENT_WORDS(room) * sizeof(uint64_t));
        if (present == NULL) {
            PyErr_NoMemory();                             /* values grew, harmlessly: room did not */
            return -1;
        }
        memset(present + PRESENT_WORDS(c->room), 0,
               (PRESENT_WORDS(room) - PRESENT_WORDS(c->room)) * sizeof(uint64_t));
        c->present = present;
        uint64_t *traced = PyMem_Realloc(c->traced, PRESENT_WORDS(room) * sizeof(uint64_t));
        if (traced == NULL) {
            PyErr_NoMemory();                             /* as above: room did not grow */
            return -1;
        }
        memset(traced + PRESENT_WORDS(c->room), 0,
               (PRESENT_WORDS(room) - PRESENT_WORDS(c->room)) * sizeof(uint64_t));
        c->traced = traced;
        c->room = room;
    }
    uint64_t bit = UINT64_C(1) << (row & 63);
    if (left_in_sight(value))
        c->traced[row >> 6] |= bit;
    else if (c->traced[row >> 6] & bit)                   /* most sets put an int over an int: no write */
        c->traced[row >> 6] &= ~bit;
    PyObject *old = c->values[row];
    c->values[row] = Py_NewRef(value);
    if (old == NULL) {
        c->len++;
        c->present[row >> 6] |= bit;
    } else {
        Py_DECREF(old);                                   /* last: its finaliser may run code */
    }
    return 0;
}

static int column_del(Column *c, PyObject *key) {
    PyObject *old = column_get(c, key);
    if (old == NULL) {
        if (!PyErr_Occurred()) key_error(key);
        return -1;
    }
    column_vacate(c, c->index->last_row);                /* column_get left the key's row there */
    Py_DECREF(old);
    return 0;
}

/* Column(index, unwrap=False) */
static PyObject *Column_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *index;
    int unwrap = 0;
    if (!no_keywords("Column", kwargs) || !PyArg_ParseTuple(args, "O!|p:Column", &MemberIndexType, &index, &unwrap))
        return NULL;
    Column *c = (Column *)type->tp_alloc(type, 0);
    if (c == NULL) return NULL;
    c->index = (MemberIndex *)Py_NewRef(index);
    c->unwrap = unwrap;
    MemberIndex *ix = c->index;
    if (ix->ncolumns == ix->columns_room) {
        Py_ssize_t room = ix->columns_room ? ix->columns_room * 2 : 16;
        Column **columns = PyMem_Realloc(ix->columns, room * sizeof(Column *));
        if (columns == NULL) {
            Py_DECREF(c);
            return PyErr_NoMemory();
        }
        ix->columns = columns;
        ix->columns_room = room;
    }
    ix->columns[ix->ncolumns++] = c;
    return (PyObject *)c;
}

/* The values `row` holds in every column of the index, asked of memory at once: a message reads
 * a dozen of them, each its own cold object, and asked for one by one as the handler comes to
 * them each miss waited alone. */
static void index_prefetch(MemberIndex *ix, Py_ssize_t row) {
    for (Py_ssize_t i = 0; i < ix->ncolumns; i++) {
        Column *c = ix->columns[i];
        if (row < c->room && c->len > 0) {                  /* an empty column's array is not read */
            PyObject *v = c->values[row];
            if (v != NULL) __builtin_prefetch(v);
        }
    }
}

static int Column_traverse(Column *c, visitproc visit, void *arg) {
    for (Py_ssize_t word = 0; word < PRESENT_WORDS(c->room); word++)
        for (uint64_t bits = c->traced[word]; bits != 0; bits &= bits - 1)
            Py_VISIT(c->values[word * 64 + __builtin_ctzll(bits)]);
    return 0;
}

static int Column_clear_refs(Column *c) {
    /* empty as the values go: a finaliser that lists the column meanwhile finds nothing */
    if (c->present != NULL) memset(c->present, 0, PRESENT_WORDS(c->room) * sizeof(uint64_t));
    if (c->traced != NULL) memset(c->traced, 0, PRESENT_WORDS(c->room) * sizeof(uint64_t));
    c->len = 0;
    for (Py_ssize_t r = 0; r < c->room; r++) Py_CLEAR(c->values[r]);
    return 0;
}

static void Column_dealloc(Column *c) {
    PyObject_GC_UnTrack(c);
    MemberIndex *ix = c->index;
    for (Py_ssize_t i = 0; ix != NULL && i < ix->ncolumns; i++)
        if (ix->columns[i] == c) {
            ix->columns[i] = ix->columns[--ix->ncolumns];
            break;
        }
    Column_clear_refs(c);
    PyMem_Free(c->values);
    PyMem_Free(c->present);
    PyMem_Free(c->traced);
    Py_XDECREF(c->index);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static Py_ssize_t Column_len(Column *c) { return c->len; }

static PyObject *Column_subscript(Column *c, PyObject *key) {
    PyObject *value = column_get(c, key);
    if (value == NULL) {
        if (!PyErr_Occurred()) key_error(key);
        return NULL;
    }
    return Py_NewRef(value);
}

static int Column_ass_subscript(Column *c, PyObject *key, PyObject *value) {
    return value == NULL ? column_del(c, key) : column_set(c, key, value);
}

/* Every (key, value) of a dict set, in the dict's order: a state file's table filled in one call
 * (store.py: as_member_table). In Python, a loop of `column[key] = value` was 0.29 s of resuming a
 * run with 1M members' state. */
static PyObject *Column_update(Column *c, PyObject *held) {
    if (!PyDict_Check(held)) {
        PyErr_SetString(PyExc_TypeError, "update(dict)");
        return NULL;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int failed = 0;
    Py_INCREF(held);
    while (!failed && PyDict_Next(held, &pos, &key, &value)) {
        Py_INCREF(key);
        Py_INCREF(value);
        failed = column_set(c, key, value) < 0;
        Py_DECREF(key);
        Py_DECREF(value);
    }
    Py_DECREF(held);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

static int Column_contains(Column *c, PyObject *key) {
    PyObject *value = column_get(c, key);
    return value != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
}

/* The row's key as the column's users know it: the member, or `(member,)`. New reference. */
static PyObject *shown_key(Column *c, Py_ssize_t row) {
    PyObject *key = c->index->keys[row];
    return c->unwrap ? PyTuple_Pack(1, key) : Py_NewRef(key);
}

/* (key, value) of each row the column holds, in row order: 0 keys, 1 values, 2 pairs. */
static PyObject *column_list(Column *c, int what) {
    PyObject *out = PyList_New(c->len);
    if (out == NULL) return NULL;
    Py_ssize_t n = 0, r;
    FOR_EACH_PRESENT(c, r) {
        /* A tuple made here may run the collector, and a finaliser empty rows: a row's bit read
         * before may be stale, and the list may end short. */
        PyObject *value = c->values[r];
        if (value == NULL || n == PyList_GET_SIZE(out)) continue;
        Py_INCREF(value);
        PyObject *key = what == 1 ? NULL : shown_key(c, r);
        PyObject *item = what == 0 ? key : what == 1 ? Py_NewRef(value) : key == NULL ? NULL : PyTuple_Pack(2, key, value);
        if (what == 2) Py_XDECREF(key);
        Py_DECREF(value);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, n++, item);
    }
    Py_SET_SIZE(out, n);                                  /* its slots past n are NULL */
    return out;
}

static PyObject *Column_keys(Column *c, PyObject *Py_UNUSED(ignored)) { return column_list(c, 0); }
static PyObject *Column_values(Column *c, PyObject *Py_UNUSED(ignored)) { return column_list(c, 1); }
static PyObject *Column_items(Column *c, PyObject *Py_UNUSED(ignored)) { return column_list(c, 2); }

/* Iteration over a list of the keys: a table may be changed while its keys are walked (the
 * sweep deletes as it goes over `list(table)`; a dict would refuse a change mid-iteration). */
static PyObject *Column_iter(Column *c) {
    PyObject *keys = column_list(c, 0);
    if (keys == NULL) return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyObject *Column_to_dict(Column *c, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyDict_New();
    if (out == NULL) return NULL;
    Py_ssize_t r;
    FOR_EACH_PRESENT(c, r) {
        PyObject *key = shown_key(c, r);
        PyObject *value = c->values[r];                   /* read after: see column_list */
        if (value != NULL && c->lists > 0)                /* a taken copy's tuple: the list it was */
            value = PySequence_List(value);
        else
            Py_XINCREF(value);
        int failed = key == NULL || (value != NULL && PyDict_SetItem(out, key, value) < 0)
                     || (value == NULL && PyErr_Occurred());
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *Column_get(Column *c, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    PyObject *value = column_get(c, args[0]);
    if (value != NULL) return Py_NewRef(value);
    if (PyErr_Occurred()) return NULL;
    return Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

static PyObject *Column_pop(Column *c, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    PyObject *value = column_get(c, args[0]);
    if (value == NULL) {
        if (PyErr_Occurred()) return NULL;
        if (nargs == 2) return Py_NewRef(args[1]);
        key_error(args[0]);
        return NULL;
    }
    column_vacate(c, c->index->last_row);                /* handed over: the reference goes to the caller */
    return value;
}

static PyObject *Column_setdefault(Column *c, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "setdefault(key, default=None)");
        return NULL;
    }
    PyObject *value = column_get(c, args[0]);
    if (value != NULL) return Py_NewRef(value);
    if (PyErr_Occurred()) return NULL;
    PyObject *fresh = nargs == 2 ? args[1] : Py_None;
    return column_set(c, args[0], fresh) < 0 ? NULL : Py_NewRef(fresh);
}

/* add(key): the column as a set of members (`once per user`): the key holds True. */
static PyObject *Column_add(Column *c, PyObject *key) {
    if (column_set(c, key, Py_True) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Column_clear(Column *c, PyObject *Py_UNUSED(ignored)) {
    Column_clear_refs(c);
    Py_RETURN_NONE;
}

static PyObject *Column_richcompare(Column *c, PyObject *other, int op) {
    if ((op != Py_EQ && op != Py_NE) || !(PyDict_Check(other) || Py_IS_TYPE(other, &ColumnType)))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *mine = Column_to_dict(c, NULL);
    PyObject *theirs = mine == NULL ? NULL : PyDict_Check(other) ? Py_NewRef(other) : Column_to_dict((Column *)other, NULL);
    PyObject *out = theirs == NULL ? NULL : PyObject_RichCompare(mine, theirs, op);
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return out;
}

static PyObject *Column_repr(Column *c) {
    PyObject *d = Column_to_dict(c, NULL);
    if (d == NULL) return NULL;
    PyObject *out = PyUnicode_FromFormat("Column(%R)", d);
    Py_DECREF(d);
    return out;
}

static inline int list_of_atoms(PyObject *value) {
    if (!PyList_CheckExact(value)) return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++)
        if (!is_atom(PyList_GET_ITEM(value, i))) return 0;
    return 1;
}

#define TAKEN_AHEAD 8       /* rows a copy asks of memory ahead of the one it reads */

/* taken() -> a column holding what this one holds now, or None. For a bot's checkpoint
 * (Engine.checkpoint): copied under the engine's lock and written after it, events going on,
 * where writing it under the lock held every event back (a ledger's 90 000 members: ~13 ms
 * written, ~4 copied). For a column whose values all cannot change (`unchanging`), shared; or
 * whose values are all lists of atoms (members' rows, active days), each copied as a tuple (one
 * object where a list's copy is two) in a `lists` column, written as the lists they were. None
 * for anything else — windows, dicts, a mix — which is written under the lock as before. Not one
 * of the index's columns: `prefetch` does not read it; the index's rows, never removed, keep its
 * keys. */
static PyObject *Column_taken(Column *c, PyObject *Py_UNUSED(ignored)) {
    Py_ssize_t room = c->room, words = PRESENT_WORDS(room), r;
    if (c->lists > 0) Py_RETURN_NONE;                       /* a copy already: its tuples stand for lists */
    for (Py_ssize_t word = 0; word < words; word++)
        if (c->traced[word] != 0) Py_RETURN_NONE;            /* a value the collector walks: no atom */
    Column *t = (Column *)Py_TYPE(c)->tp_alloc(Py_TYPE(c), 0);
    if (t == NULL) return NULL;
    t->index = (MemberIndex *)Py_NewRef(c->index);
    t->unwrap = c->unwrap;
    if (room > 0) {
        t->values = PyMem_Calloc(room, sizeof(PyObject *));
        t->present = PyMem_Calloc(words, sizeof(uint64_t));
        t->traced = PyMem_Calloc(words, sizeof(uint64_t));
        if (t->values == NULL || t->present == NULL || t->traced == NULL) {
            Py_DECREF(t);
            return PyErr_NoMemory();
        }
        t->room = room;
    }
    int lists = -1;                                         /* decided by the first value */
    FOR_EACH_PRESENT(c, r) {
        if (r + TAKEN_AHEAD < room && c->values[r + TAKEN_AHEAD] != NULL) __builtin_prefetch(c->values[r + TAKEN_AHEAD]);
        PyObject *value = c->values[r];
        if (lists == -1) lists = PyList_CheckExact(value);
        if (lists ? !list_of_atoms(value) : !unchanging(value)) {
            Py_DECREF(t);
            Py_RETURN_NONE;
        }
        PyObject *copy = lists ? PyList_AsTuple(value) : Py_NewRef(value);
        if (copy == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        if (lists) PyObject_GC_UnTrack(copy);               /* of atoms: no cycle through it */
        t->values[r] = copy;
        t->present[r >> 6] |= UINT64_C(1) << (r & 63);
        t->len++;
    }
    t->lists = lists > 0;
    return (PyObject *)t;
}

static PyMethodDef Column_methods[] = {
    {"get", (PyCFunction)(void (*)(void))Column_get, METH_FASTCALL, "get(key, default=None)"},
    {"pop", (PyCFunction)(void (*)(void))Column_pop, METH_FASTCALL, "pop(key[, default])"},
    {"setdefault", (PyCFunction)(void (*)(void))Column_setdefault, METH_FASTCALL, "setdefault(key, default=None)"},
    {"keys", (PyCFunction)Column_keys, METH_NOARGS, "the keys held, in row order (a list)"},
    {"values", (PyCFunction)Column_values, METH_NOARGS, "the values held, in row order (a list)"},
    {"items", (PyCFunction)Column_items, METH_NOARGS, "(key, value) pairs held, in row order (a list)"},
    {"clear", (PyCFunction)Column_clear, METH_NOARGS, "hold nothing"},
    {"add", (PyCFunction)Column_add, METH_O, "add(key): as a set's add, for a set of members (the key holds True)"},
    {"to_dict", (PyCFunction)Column_to_dict, METH_NOARGS, "a dict of what the column holds, in row order"},
    {"taken", (PyCFunction)Column_taken, METH_NOARGS,
     "a column holding what this one holds now, apart from it, to write (a list of atoms held as a tuple, given "
     "back as a list by to_dict); None unless its values are all atoms or tuples of atoms, or all lists of atoms"},
    {"update", (PyCFunction)Column_update, METH_O, "update(dict): each of its (key, value) set, in its order"},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods Column_as_mapping = {
    .mp_length = (lenfunc)Column_len,
    .mp_subscript = (binaryfunc)Column_subscript,
    .mp_ass_subscript = (objobjargproc)Column_ass_subscript,
};

static PySequenceMethods Column_as_sequence = {.sq_contains = (objobjproc)Column_contains};

static PyTypeObject ColumnType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._columns.Column",
    .tp_basicsize = sizeof(Column),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Column(index, unwrap=False): a member-keyed table, as a dict, stored by the index's rows; "
              "with unwrap, keyed by (member,) tuples",
    .tp_new = Column_new,
    .tp_dealloc = (destructor)Column_dealloc,
    .tp_traverse = (traverseproc)Column_traverse,
    .tp_clear = (inquiry)Column_clear_refs,
    .tp_richcompare = (richcmpfunc)Column_richcompare,
    .tp_repr = (reprfunc)Column_repr,
    .tp_iter = (getiterfunc)Column_iter,
    .tp_methods = Column_methods,
    .tp_as_mapping = &Column_as_mapping,
    .tp_as_sequence = &Column_as_sequence,
    .tp_hash = PyObject_HashNotImplemented,
};

/* ---- the rows of the members of the lines ahead ------------------------------------------------ */

/* Over many members, each event's first lookup in the index misses the cache twice, one miss
 * waiting on the other (the slot, then the key it holds), and each column's value twice more: a
 * quarter of a run over 1M members (`count_up`). Asked for a window of lines at once, in three
 * passes of independent loads, those misses overlap. Only ever a guess: a line whose member is not
 * found, is not plain ASCII or is not an event at all is passed over, and nothing read here
 * decides anything. */
#define AHEAD COLUMNS_AHEAD             /* lines a window: their rows' memory fits the core's own cache */
#define AHEAD_PROBES 8

typedef struct {
    PyObject_HEAD
    MemberIndex *ix;                    /* held */
    PyObject *lines;                    /* held: a list of bytes (None for an over-long line) */
    Py_ssize_t next, warmed;            /* the next line handed on; lines before `warmed` were asked for */
} Ahead;

static PyTypeObject AheadType;

/* The value of the line's "user" field where it is a plain string (no escape), or NULL. */
static const char *user_of(const char *s, Py_ssize_t n, Py_ssize_t *len) {
    const char *key = memmem(s, (size_t)n, "\"user\"", 6), *end = s + n;
    if (key == NULL) return NULL;
    const char *p = key + 6;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\t')) p++;
    if (p >= end || *p != '"') return NULL;
    const char *v = ++p, *q = memchr(v, '"', (size_t)(end - v));
    if (q == NULL || memchr(v, '\\', (size_t)(q - v)) != NULL) return NULL;
    for (const char *c = v; c < q; c++)
        if ((unsigned char)*c >= 0x80) return NULL;    /* an ASCII string hashes as its bytes do */
    *len = q - v;
    return v;
}

/* The rows of the members of `n` (at most AHEAD) lines asked of memory: the lines' bytes at
 * starts[i], lens[i] (a NULL start for none). */
static void index_warm(MemberIndex *ix, const char *const *starts, const Py_ssize_t *lens, int n) {
    Py_hash_t hashes[AHEAD];
    Py_ssize_t rows[AHEAD];
    for (int j = 0; j < n; j++) {                           /* the slots */
        Py_ssize_t len;
        const char *user = starts[j] != NULL ? user_of(starts[j], lens[j], &len) : NULL;
        hashes[j] = user != NULL ? _Py_HashBytes(user, len) : -1;
        if (hashes[j] != -1) __builtin_prefetch(&ix->slots[(size_t)(uint32_t)hashes[j] & ix->mask]);
    }
    for (int j = 0; j < n; j++) {                           /* the keys they hold, the columns' entries */
        rows[j] = -1;
        if (hashes[j] == -1) continue;
        size_t i = (size_t)(uint32_t)hashes[j] & ix->mask;
        for (int probe = 0; probe < AHEAD_PROBES && ix->slots[i].key != NULL; probe++, i = (i + 1) & ix->mask) {
            if (ix->slots[i].hash == (uint32_t)hashes[j]) {
                rows[j] = ix->slots[i].row;
                __builtin_prefetch(ix->slots[i].key);
                __builtin_prefetch((const char *)ix->slots[i].key + 63);  /* its text, past a line's end */
                for (Py_ssize_t c = 0; c < ix->ncolumns; c++)
                    if (rows[j] < ix->columns[c]->room) __builtin_prefetch(&ix->columns[c]->values[rows[j]]);
                break;
            }
        }
    }
    for (int j = 0; j < n; j++) {                           /* the values */
        if (rows[j] < 0) continue;
        for (Py_ssize_t c = 0; c < ix->ncolumns; c++) {
            Column *col = ix->columns[c];
            if (rows[j] < col->room && col->values[rows[j]] != NULL) __builtin_prefetch(col->values[rows[j]]);
        }
    }
}

static void ahead_warm(Ahead *a, Py_ssize_t from, Py_ssize_t to) {
    const char *starts[AHEAD];
    Py_ssize_t lens[AHEAD];
    int n = 0;
    for (Py_ssize_t i = from; i < to; i++, n++) {
        PyObject *line = PyList_GET_ITEM(a->lines, i);
        starts[n] = PyBytes_Check(line) ? PyBytes_AS_STRING(line) : NULL;
        lens[n] = starts[n] != NULL ? PyBytes_GET_SIZE(line) : 0;
    }
    index_warm(a->ix, starts, lens, n);
}

/* ahead(index, lines) → an iterator over `lines`, a list, that asks memory for the rows of the
 * members of the next AHEAD lines each time it is AHEAD lines from the end of those it asked for. */
static PyObject *ahead(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !Py_IS_TYPE(args[0], &MemberIndexType) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "ahead(index: MemberIndex, lines: list)");
        return NULL;
    }
    Ahead *a = PyObject_New(Ahead, &AheadType);
    if (a == NULL) return NULL;
    a->ix = (MemberIndex *)Py_NewRef(args[0]);
    a->lines = Py_NewRef(args[1]);
    a->next = a->warmed = 0;
    return (PyObject *)a;
}

static PyObject *Ahead_next(Ahead *a) {
    Py_ssize_t n = PyList_GET_SIZE(a->lines);
    if (a->next >= n) return NULL;
    Py_ssize_t from, to;
    if (columns_window(a->next, n, &a->warmed, &from, &to)) ahead_warm(a, from, to);
    return Py_NewRef(PyList_GET_ITEM(a->lines, a->next++));
}

static void Ahead_dealloc(Ahead *a) {
    Py_XDECREF(a->ix);
    Py_XDECREF(a->lines);
    PyObject_Free(a);
}

static PyTypeObject AheadType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._columns.Ahead",
    .tp_basicsize = sizeof(Ahead),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "lines, their members' rows asked of memory a window ahead (ahead)",
    .tp_dealloc = (destructor)Ahead_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Ahead_next,
};

/* The tuples inside a tuple settled first, then the tuple, by CPython's own test (what its
 * collector runs on a tuple it walks, _PyTuple_MaybeUntrack) in public calls: out of sight when
 * no item is one the collector may have to walk. _PyTuple_MaybeUntrack itself is not exported
 * from 3.13 on, where calling it would leave this module unbuilt. */
static void settle(PyObject *tuple) {
    if (!PyObject_GC_IsTracked(tuple)) return;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (item == NULL) return;                           /* one being built */
        if (PyTuple_CheckExact(item)) settle(item);
        if (PyObject_IS_GC(item) && (!PyTuple_CheckExact(item) || PyObject_GC_IsTracked(item))) return;
    }
    PyObject_GC_UnTrack(tuple);
}

/* settled(value) -> value: a tuple that can be in no cycle (a timer's entry: due, order, seq,
 * kind, and its payload) taken out of the collector's sight now, as CPython's own collector does
 * once it has walked it. A young collection walked ~11 000 such tuples each, three a silence
 * timer, ~0.18 s of the pack's 4.8 s over 1M events of 100 000 members (Timeline.schedule). */
static PyObject *settled(PyObject *Py_UNUSED(module), PyObject *value) {
    if (PyTuple_CheckExact(value)) settle(value);
    return Py_NewRef(value);
}

static PyMethodDef module_methods[] = {
    {"settled", (PyCFunction)settled, METH_O,
     "settled(value) -> value, a tuple that can be in no cycle taken out of the cycle collector's sight"},
    {"ahead", (PyCFunction)(void (*)(void))ahead, METH_FASTCALL,
     "ahead(index, lines) -> an iterator over lines that asks memory for their members' rows ahead of use"},
    {NULL, NULL, 0, NULL},
};

static ColumnsAPI api = {&ColumnType, column_set, column_del, index_prefetch, index_warm, &MemberIndexType};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns", NULL, 0, module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__columns(void) {
    if (PyType_Ready(&MemberIndexType) < 0 || PyType_Ready(&ColumnType) < 0 || PyType_Ready(&AheadType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *capsule = PyCapsule_New(&api, COLUMNS_CAPSULE, NULL);
    if (capsule == NULL || PyModule_AddObjectRef(m, "MemberIndex", (PyObject *)&MemberIndexType) < 0
        || PyModule_AddObjectRef(m, "Column", (PyObject *)&ColumnType) < 0
        || PyModule_AddObject(m, "API", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
