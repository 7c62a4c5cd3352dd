/* Member-keyed state as columns of one index (runtime/_columns.c), for the C helpers that read
 * and write tables (_windows.c): the layouts and the lookups, inline, so no call goes through
 * a table of functions.
 *
 * Why: the community pack touches a dozen tables keyed by the event's member on every message,
 * and each dict lookup is two or three cache misses (its index, its entry, the stored key) into a
 * table of its own. Here one index maps a member to a row once an event; every column keyed by
 * members is an array of values by row, and the index keeps the last key it was asked for, so the
 * same key object (an event's `user`, decoded once) finds its row again by a pointer compare. */
#ifndef POLICYENGINE_COLUMNS_H
#define POLICYENGINE_COLUMNS_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject *key;                /* NULL: an empty slot; rows are never removed */
    uint32_t hash;                /* the key's hash, its low 32 bits (all a slot's position uses) */
    uint32_t row;                 /* 16 bytes a slot: 1M members take 32 MB of slots, not 48 */
} RowSlot;

typedef struct {
    PyObject_HEAD
    RowSlot *slots;
    size_t mask;                  /* slots - 1, a power of two less one */
    Py_ssize_t rows;
    PyObject **keys;              /* key by row (held) */
    Py_ssize_t keys_room;
    PyObject *last_key;           /* held, so its address cannot be reused while it is remembered */
    Py_ssize_t last_row;
    struct Column **columns;      /* the columns of this index (not held: each leaves as it goes) */
    Py_ssize_t ncolumns, columns_room;
} MemberIndex;

typedef struct Column {
    PyObject_HEAD
    MemberIndex *index;           /* held */
    PyObject **values;            /* by row; NULL where the column holds nothing for the row */
    Py_ssize_t room;
    Py_ssize_t len;
    int unwrap;                   /* keys are 1-tuples `(member,)` (silences), held by the member */
    /* A bit a row, set where the column holds a value: the sweep lists a column's few live values
     * each time, and walking `values` for them visited every member ever seen (1M members: 1.3 s
     * of an 11 s run, 1 941 sweeps), 64 rows a word here. */
    uint64_t *present;
    /* A bit a row, set where the value is one the cycle collector may have to walk: of a collected
     * type, and not a list or tuple of atoms taken out of its sight (`left_in_sight`, which says
     * which). The
     * collector's walk of a column visits these rows alone: visiting every row read every
     * member's value, a cache miss each, with nothing in them to find. */
    uint64_t *traced;
    /* A copy for a checkpoint to write (Column.taken) of a column of lists of atoms: each list
     * held as the tuple of its items, written as the list it was (runtime/_codec.c), and given
     * back as lists by to_dict. Last in the struct: modules built before it read none of it. */
    int lists;
} Column;

/* What a checkpoint's copy may share with the live state (Column.taken, _codec.c's taken). An
 * atom: an int, float, string, bool or None, of those exact types. Not "what the collector does not
 * track": a C count's Times is not tracked, and changes in place. */
static inline int is_atom(PyObject *value) {
    PyTypeObject *type = Py_TYPE(value);
    return type == &PyLong_Type || type == &PyUnicode_Type || value == Py_None || type == &PyFloat_Type
           || type == &PyBool_Type;
}

/* A value that cannot change: an atom, or a tuple of atoms. */
static inline int unchanging(PyObject *value) {
    if (is_atom(value)) return 1;
    if (!PyTuple_CheckExact(value)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(value); i++)
        if (!is_atom(PyTuple_GET_ITEM(value, i))) return 0;
    return 1;
}

#define PRESENT_WORDS(room) (((room) + 63) / 64)      /* the words of a column's `present` bits */

/* Each row `row` that column `c` holds a value in, in row order, by its `present` bits: a column
 * of a million members' rows may hold a few hundred values. The body must not end the walk with
 * `break` (it would leave only the word's loop). */
#define FOR_EACH_PRESENT(c, row)                                                                   \
    for (Py_ssize_t word_ = 0; word_ < PRESENT_WORDS((c)->room); word_++)                         \
        for (uint64_t bits_ = (c)->present[word_];                                                 \
             bits_ != 0 && ((row) = word_ * 64 + __builtin_ctzll(bits_), 1); bits_ &= bits_ - 1)

/* Row `row` holds nothing any more (its value taken out by the caller). */
static inline void column_vacate(Column *c, Py_ssize_t row) {
    c->values[row] = NULL;
    c->present[row >> 6] &= ~(UINT64_C(1) << (row & 63));
    c->traced[row >> 6] &= ~(UINT64_C(1) << (row & 63));
    c->len--;
}

/* Equal keys as a dict finds them: the same object, or equal hashes and ==. Strings compared
 * here; anything else by Python. 1, 0, or -1 with an exception. */
static inline int columns_same_key(PyObject *held, PyObject *key, uint32_t hash, uint32_t held_hash) {
    if (held == key) return 1;
    if (held_hash != hash) return 0;
    if (PyUnicode_CheckExact(held) && PyUnicode_CheckExact(key)) {
        return PyUnicode_GET_LENGTH(held) == PyUnicode_GET_LENGTH(key)
               && PyUnicode_KIND(held) == PyUnicode_KIND(key)
               && memcmp(PyUnicode_DATA(held), PyUnicode_DATA(key),
                         PyUnicode_GET_LENGTH(key) * PyUnicode_KIND(key)) == 0;
    }
    return PyObject_RichCompareBool(held, key, Py_EQ);
}

/* The row of `key`: >= 0, -1 when it has none, -2 with an exception. */
static inline Py_ssize_t columns_row_of(MemberIndex *ix, PyObject *key) {
    if (key == ix->last_key) return ix->last_row;
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) return -2;
    for (size_t i = (size_t)(uint32_t)hash & ix->mask;; i = (i + 1) & ix->mask) {
        RowSlot *slot = &ix->slots[i];
        if (slot->key == NULL) return -1;
        int same = columns_same_key(slot->key, key, (uint32_t)hash, slot->hash);
        if (same < 0) return -2;
        if (same) {
            Py_INCREF(key);
            Py_XSETREF(ix->last_key, key);
            ix->last_row = slot->row;
            return slot->row;
        }
    }
}

/* The value the column holds for `member`'s row (borrowed), or NULL: with an exception set only
 * on failure. A column of 1-tuples is read this way by the member inside its key. */
static inline PyObject *column_get_member(Column *c, PyObject *member) {
    Py_ssize_t row = columns_row_of(c->index, member);
    if (row < 0 || row >= c->room) return NULL;
    return c->values[row];
}

/* The key's value in the column (borrowed), or NULL: with an exception set only on failure. A
 * column of 1-tuples holds none for any other key. */
static inline PyObject *column_get(Column *c, PyObject *key) {
    if (c->unwrap) {
        if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 1) return NULL;
        key = PyTuple_GET_ITEM(key, 0);
    }
    return column_get_member(c, key);
}

/* Implemented in _columns.c and reached through these pointers, which the module using this
 * header fills from the `_columns` capsule at import. */
typedef struct {
    PyTypeObject *column_type;
    int (*set)(Column *c, PyObject *key, PyObject *value);       /* value held by the column */
    int (*del)(Column *c, PyObject *key);                        /* KeyError when missing */
    void (*prefetch)(MemberIndex *ix, Py_ssize_t row);            /* the row's values in every column */
    /* the rows of the members of n <= COLUMNS_AHEAD lines (bytes at starts[i], lens[i]; NULL: none) */
    void (*warm)(MemberIndex *ix, const char *const *starts, const Py_ssize_t *lens, int n);
    PyTypeObject *index_type;
} ColumnsAPI;

#define COLUMNS_AHEAD 64                /* lines a window of `warm` (see _columns.c: ahead) */

/* The window of lines to `warm` as line `next` of `n` is handed on, those before *warmed being
 * warmed already: 1 with [*from, *to) (*warmed moved to *to), or 0. One window ahead of the
 * loop: the next window is asked for while the loop is still in the one before. */
static inline int columns_window(Py_ssize_t next, Py_ssize_t n, Py_ssize_t *warmed, Py_ssize_t *from,
                                 Py_ssize_t *to) {
    if (next + COLUMNS_AHEAD < *warmed || *warmed >= n) return 0;
    *from = *warmed > next ? *warmed : next;
    *to = *from + COLUMNS_AHEAD < n ? *from + COLUMNS_AHEAD : n;
    *warmed = *to;
    return 1;
}

#define COLUMNS_CAPSULE "policyengine.runtime._columns.API"

#ifndef COLUMNS_MODULE
/* For the modules that read and write tables: a table is a dict, or a column where _columns was
 * built (none is made otherwise). Each such module calls columns_import() once at its import. */
static ColumnsAPI *columns_api;

static int columns_import(void) {
    /* PyCapsule_Import imports only the package; the module is imported first. */
    PyObject *module = PyImport_ImportModule("policyengine.runtime._columns");
    columns_api = module == NULL ? NULL : PyCapsule_Import(COLUMNS_CAPSULE, 0);
    Py_XDECREF(module);
    if (columns_api == NULL) PyErr_Clear();
    return 0;
}

static inline int is_column(PyObject *table) {
    return columns_api != NULL && Py_IS_TYPE(table, columns_api->column_type);
}

/* The table's value for `key` (borrowed), or NULL: with an exception set when the table is
 * neither a dict nor a column or the lookup failed, without one when the key has none. */
static inline PyObject *table_get(PyObject *table, PyObject *key) {
    if (PyDict_Check(table)) return PyDict_GetItemWithError(table, key);
    if (is_column(table)) return column_get((Column *)table, key);
    PyErr_SetString(PyExc_TypeError, "a state table is a dict or a column");
    return NULL;
}

static inline int table_set(PyObject *table, PyObject *key, PyObject *value) {
    return is_column(table) ? columns_api->set((Column *)table, key, value) : PyDict_SetItem(table, key, value);
}

static inline int table_del(PyObject *table, PyObject *key) {
    return is_column(table) ? columns_api->del((Column *)table, key) : PyDict_DelItem(table, key);
}

/* judge(value, arg): 1 when the value's key is to go, 0 when it stays, -1 with an exception. It
 * gets a reference of its own to the value and may change it (a window evicting). */
typedef int (*table_judge)(PyObject *value, void *arg);

/* Every key of a dict or column whose value the judge says goes, gone (the store's sweep). The
 * walk reads each value in place: listing the keys and looking each up again touched every key
 * object and probed the table twice, where most keys swept are cold (a text seen once). A
 * column's row is vacated as it is judged; a dict's keys are deleted after the walk, since a dict
 * must not lose keys while PyDict_Next walks it. 0, or -1 with an exception. */
static inline int table_drop_where(PyObject *table, table_judge judge, void *arg) {
    if (is_column(table)) {
        Column *c = (Column *)table;
        Py_ssize_t r;
        int failed = 0;
        FOR_EACH_PRESENT(c, r) {
            /* A judge's decref may run a finaliser that changes the column: the bit read before
             * may be stale, and the row is vacated only if it still holds the value judged. */
            PyObject *value = r < c->room ? c->values[r] : NULL;
            if (value == NULL || failed) continue;
            Py_INCREF(value);
            int goes = judge(value, arg);
            if (goes < 0) failed = 1;
            if (goes > 0 && r < c->room && c->values[r] == value) {
                column_vacate(c, r);
                Py_DECREF(value);                          /* the column's reference */
            }
            Py_DECREF(value);
        }
        return failed ? -1 : 0;
    }
    if (!PyDict_Check(table)) {
        PyErr_SetString(PyExc_TypeError, "a state table is a dict or a column");
        return -1;
    }
    PyObject *gone = PyList_New(0), *key, *value;
    if (gone == NULL) return -1;
    Py_ssize_t pos = 0;
    int failed = 0;
    while (!failed && PyDict_Next(table, &pos, &key, &value)) {
        Py_INCREF(key);                                    /* a judge's finaliser may take it */
        Py_INCREF(value);
        int goes = judge(value, arg);
        failed = goes < 0 || (goes > 0 && PyList_Append(gone, key) < 0);
        Py_DECREF(value);
        Py_DECREF(key);
    }
    /* After a failed judgement too: the keys judged before it go, as they would have gone one by
     * one (the walk stops where the judge failed, as a loop over the keys deleting would). */
    PyObject *type = NULL, *error = NULL, *trace = NULL;
    if (failed) PyErr_Fetch(&type, &error, &trace);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(gone); i++) {
        /* a judge's finaliser may have taken the key already */
        if (PyDict_DelItem(table, PyList_GET_ITEM(gone, i)) < 0) {
            if (type != NULL || PyErr_ExceptionMatches(PyExc_KeyError)) PyErr_Clear();
            else {
                failed = 1;
                break;
            }
        }
    }
    if (type != NULL) PyErr_Restore(type, error, trace);
    Py_DECREF(gone);
    return failed ? -1 : 0;
}
#endif

#endif
