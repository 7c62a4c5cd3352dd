/* An award of points in C: runtime/rewards.py's giver — award(), its decision and awarded() for
 * one rule whose currency is a constant — with the same state and the same decision.
 *
 * Why: the community pack's points rule awards on most messages, and the giver in Python was
 * an eighth of the pack's run. Everything here keeps Python's arithmetic (ints stay ints, floats
 * floats, NaN reaches no level): the numbers go through PyNumber_* and rich comparisons. What is
 * rare — a balance that decays, a level that changes — calls back into Python.
 * tests/test_incentives.py holds it to award() + decision + awarded().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include "_columns.h"   /* member-keyed tables: dicts or columns */
#include "_ints.h"      /* times as C integers */
#include "../output/_decisions.h"   /* decision records, where output/_decisions was built */

static DecisionsAPI *decisions_api;

enum { LEDGER, EARNED, BOARD, LEVEL = BOARD + 6, SITES = LEVEL + 4 };   /* tables an award reads: boards past six, levels past four are not kept */

typedef struct {
    PyObject_HEAD
    vectorcallfunc call;               /* how the type is called: vectorcall, no argument tuple */
    PyObject *currency, *policy, *rule;
    PyObject *ledgers, *earned_tables, *board_tables, *level_tables;   /* the store's dicts */
    PyObject *store;                   /* read for events_seen (leaderboard ties) */
    PyObject *balance_of;              /* fn(record or None, now) → balance: decay and floors */
    int plain_ledger;                  /* a record's balance is its first item */
    PyObject *cap, *period_of;         /* the cap and fn(now) → its period; NULL without a cap */
    PyObject *floor;                   /* NULL without a floor */
    int named;                         /* the decision says which currency */
    PyObject *boards;                  /* tuple of leaderboard keys */
    PyObject *levels;                  /* tuple of (index, spec, thresholds list or None) */
    PyObject *relevel;                 /* Rewards._relevel */
    PyObject *format_us, *format_ts, *plain_number;
    /* The decision's keys in helpers.decision's order, with the constant values in place: a
     * copy of one and five values set is cheaper than eight inserts into a new dict. */
    PyObject *with_id, *without_id;
    /* The tables an award reads — its ledger, its cap's, its leaderboards' (SITES in all) — as
     * found last, with the version of the store's dict they were found in (see member_table). */
    struct { PyObject *table; uint64_t version; } found[SITES];
} Giver;

static PyObject *Giver_call(Giver *g, PyObject *const *args, size_t nargsf, PyObject *kwnames);

static PyObject *s_events_seen, *s_ts, *s_policy, *s_rule, *s_action, *s_user, *s_event_id, *s_points,
                *s_currency, *s_balance, *s_reason, *s_award_points, *zero, *one, *two;

static int Giver_traverse(Giver *g, visitproc visit, void *arg) {
    Py_VISIT(g->currency); Py_VISIT(g->policy); Py_VISIT(g->rule);
    Py_VISIT(g->ledgers); Py_VISIT(g->earned_tables); Py_VISIT(g->board_tables); Py_VISIT(g->level_tables);
    Py_VISIT(g->store); Py_VISIT(g->balance_of); Py_VISIT(g->cap); Py_VISIT(g->period_of); Py_VISIT(g->floor);
    Py_VISIT(g->boards); Py_VISIT(g->levels); Py_VISIT(g->relevel);
    Py_VISIT(g->format_us); Py_VISIT(g->format_ts); Py_VISIT(g->plain_number);
    Py_VISIT(g->with_id); Py_VISIT(g->without_id);
    return 0;
}

static int Giver_clear(Giver *g) {
    Py_CLEAR(g->currency); Py_CLEAR(g->policy); Py_CLEAR(g->rule);
    Py_CLEAR(g->ledgers); Py_CLEAR(g->earned_tables); Py_CLEAR(g->board_tables); Py_CLEAR(g->level_tables);
    Py_CLEAR(g->store); Py_CLEAR(g->balance_of); Py_CLEAR(g->cap); Py_CLEAR(g->period_of); Py_CLEAR(g->floor);
    Py_CLEAR(g->boards); Py_CLEAR(g->levels); Py_CLEAR(g->relevel);
    Py_CLEAR(g->format_us); Py_CLEAR(g->format_ts); Py_CLEAR(g->plain_number);
    Py_CLEAR(g->with_id); Py_CLEAR(g->without_id);
    return 0;
}

static void Giver_dealloc(Giver *g) {
    PyObject_GC_UnTrack(g);
    Giver_clear(g);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

/* A decision with every key it can have but `reason`, values to be set: ts, policy, rule,
 * action, user, [event_id], points, [currency], balance. Room for `reason` without a resize. */
static PyObject *template_of(Giver *g, int with_id) {
    PyObject *t = _PyDict_NewPresized(10);
    if (t == NULL) return NULL;
    if (PyDict_SetItem(t, s_ts, Py_None) < 0 || PyDict_SetItem(t, s_policy, g->policy) < 0
        || PyDict_SetItem(t, s_rule, g->rule) < 0 || PyDict_SetItem(t, s_action, s_award_points) < 0
        || PyDict_SetItem(t, s_user, Py_None) < 0
        || (with_id && PyDict_SetItem(t, s_event_id, Py_None) < 0)
        || PyDict_SetItem(t, s_points, Py_None) < 0
        || (g->named && PyDict_SetItem(t, s_currency, g->currency) < 0)
        || PyDict_SetItem(t, s_balance, Py_None) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

/* Giver(currency, policy, rule, named, ledgers, earned, boards_table, levels_table, store, balance_of,
 *       plain_ledger, cap or None, period_of or None, floor or None, boards, levels, relevel,
 *       format_us, format_ts, plain_number) */
static PyObject *Giver_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *a[20];
    int named, plain;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Giver takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "UUUpO!O!O!O!OOpOOOO!O!OOOO:Giver", &a[0], &a[1], &a[2], &named,
                          &PyDict_Type, &a[4], &PyDict_Type, &a[5], &PyDict_Type, &a[6], &PyDict_Type, &a[7],
                          &a[8], &a[9], &plain, &a[11], &a[12], &a[13], &PyTuple_Type, &a[14], &PyTuple_Type, &a[15],
                          &a[16], &a[17], &a[18], &a[19]))
        return NULL;
    Giver *g = (Giver *)type->tp_alloc(type, 0);
    if (g == NULL) return NULL;
    g->currency = Py_NewRef(a[0]); g->policy = Py_NewRef(a[1]); g->rule = Py_NewRef(a[2]);
    g->named = named;
    g->ledgers = Py_NewRef(a[4]); g->earned_tables = Py_NewRef(a[5]);
    g->board_tables = Py_NewRef(a[6]); g->level_tables = Py_NewRef(a[7]);
    g->store = Py_NewRef(a[8]); g->balance_of = Py_NewRef(a[9]);
    g->plain_ledger = plain;
    g->cap = a[11] != Py_None ? Py_NewRef(a[11]) : NULL;
    g->period_of = g->cap != NULL ? Py_NewRef(a[12]) : NULL;
    g->floor = a[13] != Py_None ? Py_NewRef(a[13]) : NULL;
    g->boards = Py_NewRef(a[14]); g->levels = Py_NewRef(a[15]); g->relevel = Py_NewRef(a[16]);
    g->format_us = Py_NewRef(a[17]); g->format_ts = Py_NewRef(a[18]); g->plain_number = Py_NewRef(a[19]);
    g->call = (vectorcallfunc)Giver_call;
    g->with_id = template_of(g, 1);
    g->without_id = g->with_id == NULL ? NULL : template_of(g, 0);
    if (g->without_id == NULL) {
        Py_DECREF(g);
        return NULL;
    }
    return (PyObject *)g;
}

/* Where CPython keeps a dict's version (PEP 509, to 3.11: every change of the dict gives it a new
 * one, unique in the process), the column found at a site is kept with the version it was found
 * in, and while the dict has not changed it still holds that column under that key: an award
 * looked up its currency and its boards' keys (a tuple hashed anew each time) three times, ~400
 * instructions. The dict changes when a period opens a board or a state file is loaded. */
#if PY_VERSION_HEX < 0x030C0000
#define DICT_VERSION(d) (((PyDictObject *)(d))->ma_version_tag)
#endif

/* tables[key] (borrowed, or NULL: an exception set only on failure) for the award's `site`, kept
 * with the dict's version where it has one. */
static inline PyObject *found_get(Giver *g, int site, PyObject *tables, PyObject *key) {
#ifdef DICT_VERSION
    if (site < SITES && g->found[site].table != NULL && g->found[site].version == DICT_VERSION(tables))
        return g->found[site].table;
#endif
    PyObject *table = PyDict_GetItemWithError(tables, key);
#ifdef DICT_VERSION
    if (table != NULL && site < SITES) {
        g->found[site].table = table;                      /* borrowed: the dict holds it */
        g->found[site].version = DICT_VERSION(tables);
    }
#endif
    return table;
}

/* tables[key] (borrowed) for the award's `site`: a ledger, a cap table, a period's leaderboard.
 * The store makes it when it is missing, and makes a column of its member index of one a state
 * file restored as a dict (Store.member_table, the one place that does either); either changes the
 * dict, so what found_get kept of it is not read again. */
static PyObject *member_table(Giver *g, int site, PyObject *tables, PyObject *key) {
    PyObject *table = found_get(g, site, tables, key);
    if (table != NULL ? is_column(table) || columns_api == NULL : PyErr_Occurred() != NULL) return table;
    table = PyObject_CallMethod(g->store, "member_table", "OO", tables, key);
    if (table == NULL) return NULL;
    Py_DECREF(table);                                      /* the store's tables hold it */
    return table;
}

/* Ints that fit in 64 bits (points, caps, thresholds, days) compare in C (_ints.h); anything else
 * as Python compares it. */
static int compare(PyObject *a, PyObject *b, int op) {
    if (a == b && op == Py_EQ) return 1;                    /* as PyObject_RichCompareBool */
    long long x, y;
    if (as_int64(a, &x) && as_int64(b, &y)) {
        switch (op) {
        case Py_LT: return x < y;
        case Py_GT: return x > y;
        case Py_EQ: return x == y;
        default: break;
        }
    }
    return PyObject_RichCompareBool(a, b, op);
}

/* Whether a balance equals itself (is not NaN), as `after == after` says; an int always does.
 * -1 with an exception. */
static int not_nan(PyObject *x) {
    if (PyLong_CheckExact(x)) return 1;
    PyObject *same = PyObject_RichCompare(x, x, Py_EQ);
    int truth = same == NULL ? -1 : PyObject_IsTrue(same);
    Py_XDECREF(same);
    return truth;
}

static int greater(PyObject *a, PyObject *b) { return compare(a, b, Py_GT); }
static int less(PyObject *a, PyObject *b) { return compare(a, b, Py_LT); }

/* A number as decisions carry it: ints as they are, others through plain_number. New ref. */
static PyObject *plain(Giver *g, PyObject *n) {
    return PyLong_CheckExact(n) ? Py_NewRef(n) : PyObject_CallOneArg(g->plain_number, n);
}

/* a + b and a - b as Python computes them, in C for ints of 64 bits that do not overflow (points,
 * balances, caps: an award added and subtracted four times through the number protocol). */
static inline PyObject *num_add(PyObject *a, PyObject *b) {
    long long x, y, z;
    if (as_int64(a, &x) && as_int64(b, &y) && !__builtin_add_overflow(x, y, &z)) return PyLong_FromLongLong(z);
    return PyNumber_Add(a, b);
}

static inline PyObject *num_sub(PyObject *a, PyObject *b) {
    long long x, y, z;
    if (as_int64(a, &x) && as_int64(b, &y) && !__builtin_sub_overflow(x, y, &z)) return PyLong_FromLongLong(z);
    return PyNumber_Subtract(a, b);
}

/* seq[i] (new reference), as PySequence_GetItem gives it: straight from an exact tuple or list
 * (a ledger's record, a pair, a list of thresholds) where the index is inside it. */
static inline PyObject *item_of(PyObject *seq, Py_ssize_t i) {
    if (PyTuple_CheckExact(seq) && i < PyTuple_GET_SIZE(seq)) return Py_NewRef(PyTuple_GET_ITEM(seq, i));
    if (PyList_CheckExact(seq) && i < PyList_GET_SIZE(seq)) return Py_NewRef(PyList_GET_ITEM(seq, i));
    return PySequence_GetItem(seq, i);
}

/* The level `after` reaches by a rising list of thresholds, as max(0, bisect_right(...) - 1). */
static Py_ssize_t level_by(PyObject *thresholds, PyObject *after) {
    Py_ssize_t lo = 0, hi = PySequence_Size(thresholds);
    if (hi < 0) return -1;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        PyObject *t = item_of(thresholds, mid);
        if (t == NULL) return -1;
        int below = less(after, t);
        Py_DECREF(t);
        if (below < 0) return -1;
        if (below) hi = mid;
        else lo = mid + 1;
    }
    return lo > 0 ? lo - 1 : 0;
}

static int set_item(PyObject *d, PyObject *key, PyObject *value) {   /* steals value */
    if (value == NULL) return -1;
    int failed = PyDict_SetItem(d, key, value);
    Py_DECREF(value);
    return failed;
}

/* table[member] = (a, b). The pair the table holds is rewritten in place when nothing but the
 * table holds it (an exact tuple of two, one reference): an award replaced three such pairs, and
 * each replaced pair was an allocation and the free of a cold object (its GC links included).
 * Safe because no one else can see the tuple, tuples keep no hash, and what is written in place
 * is nothing the cycle collector follows (numbers; a tuple of such may be untracked already).
 * `held`: what the table holds under `member` (borrowed), looked up after any callback. */
static inline int pair_rewritable(PyObject *held, PyObject *a, PyObject *b) {
    return held != NULL && PyTuple_CheckExact(held) && PyTuple_GET_SIZE(held) == 2 && Py_REFCNT(held) == 1
           && !PyObject_IS_GC(a) && !PyObject_IS_GC(b);
}

static int put_pair_over(PyObject *table, PyObject *member, PyObject *held, PyObject *a, PyObject *b) {
    if (pair_rewritable(held, a, b)) {
        PyObject *old_a = PyTuple_GET_ITEM(held, 0), *old_b = PyTuple_GET_ITEM(held, 1);
        PyTuple_SET_ITEM(held, 0, Py_NewRef(a));
        PyTuple_SET_ITEM(held, 1, Py_NewRef(b));
        Py_DECREF(old_a);
        Py_DECREF(old_b);
        return 0;
    }
    PyObject *pair = PyTuple_Pack(2, a, b);
    if (pair == NULL) return -1;
    int failed = table_set(table, member, pair);
    Py_DECREF(pair);
    return failed;
}

static int put_pair(PyObject *table, PyObject *member, PyObject *a, PyObject *b) {
    PyObject *held = table_get(table, member);                          /* borrowed */
    if (held == NULL && PyErr_Occurred()) return -1;
    return put_pair_over(table, member, held, a, b);
}

/* A leaderboard counting (helpers.python_board_add): board[member] = (its value + amount, `seen`,
 * the store's events_seen where NULL: who reached a value first wins a tie). 0, or -1. */
static inline int board_count(PyObject *board, PyObject *member, PyObject *amount, PyObject *store, PyObject *seen) {
    PyObject *held = table_get(board, member);
    if (held == NULL && PyErr_Occurred()) return -1;
    PyObject *was = held == NULL ? Py_NewRef(zero) : item_of(held, 0);
    PyObject *value = was == NULL ? NULL : num_add(was, amount);
    Py_XDECREF(was);
    PyObject *at = value == NULL ? NULL : seen != NULL ? Py_NewRef(seen) : PyObject_GetAttr(store, s_events_seen);
    int failed = at == NULL || put_pair(board, member, value, at) < 0;
    Py_XDECREF(value);
    Py_XDECREF(at);
    return failed ? -1 : 0;
}

/* give(member, amount, now, event_id, reason, event, out[, seen]): `seen`, the store's events_seen,
 * which the record loop holds in a local (its getattr here was ~220 instructions an award). */
static PyObject *Giver_call(Giver *g, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((nargs != 7 && nargs != 8) || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "give(member, amount, now, event_id, reason, event, out[, seen])");
        return NULL;
    }
    PyObject *member = args[0], *amount = args[1], *now = args[2], *event_id = args[3], *reason = args[4],
             *event = args[5], *out = args[6];
    if (member == Py_None || amount == Py_None) Py_RETURN_NONE;
    if (!PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "out must be a list");
        return NULL;
    }
    PyObject *before = NULL, *actual = NULL, *after = NULL, *made = NULL, *result = NULL;
    PyObject *ledger = member_table(g, LEDGER, g->ledgers, g->currency);
    if (ledger == NULL) return NULL;
    PyObject *record = table_get(ledger, member);            /* borrowed */
    if (record == NULL && PyErr_Occurred()) return NULL;
    if (record != NULL && g->plain_ledger) {
        before = item_of(record, 0);
    } else if (record == NULL && g->plain_ledger && g->floor == NULL) {
        before = Py_NewRef(zero);                             /* a new member: _balance(spec, None, now) */
    } else {
        PyObject *call[2] = {record != NULL ? record : Py_None, now};
        before = PyObject_Vectorcall(g->balance_of, call, 2, NULL);
    }
    if (before == NULL) return NULL;
    actual = Py_NewRef(amount);
    if (g->cap != NULL) {
        int positive = greater(amount, zero);
        if (positive < 0) goto done;
        if (positive) {
            PyObject *period = PyObject_CallOneArg(g->period_of, now);
            if (period == NULL) goto done;
            PyObject *earned = member_table(g, EARNED, g->earned_tables, g->currency);
            PyObject *held = earned == NULL ? NULL : table_get(earned, member);
            PyObject *so_far = NULL;
            if (earned != NULL && !(held == NULL && PyErr_Occurred())) {
                so_far = Py_NewRef(zero);
                if (held != NULL) {
                    PyObject *when = item_of(held, 0);
                    int same = when == NULL ? -1 : compare(when, period, Py_EQ);
                    Py_XDECREF(when);
                    if (same < 0) Py_CLEAR(so_far);
                    else if (same) Py_SETREF(so_far, item_of(held, 1));
                }
            }
            PyObject *room = so_far == NULL ? NULL : num_sub(g->cap, so_far);
            int over = room == NULL ? -1 : less(room, amount);
            if (over > 0) {                                   /* max(0, min(amount, room)) */
                int left = greater(room, zero);
                if (left < 0) over = -1;
                else Py_SETREF(actual, Py_NewRef(left ? room : zero));
            }
            PyObject *total = over < 0 ? NULL : num_add(so_far, actual);
            int failed = total == NULL || put_pair(earned, member, period, total) < 0;
            Py_XDECREF(total);
            Py_XDECREF(room);
            Py_XDECREF(so_far);
            Py_DECREF(period);
            if (failed) goto done;
        }
    }
    if (g->floor != NULL) {
        int negative = less(amount, zero);
        if (negative < 0) goto done;
        if (negative) {                                       /* max(amount, min(0, floor - before)) */
            PyObject *room = num_sub(g->floor, before);
            if (room == NULL) goto done;
            int under = less(room, zero);
            PyObject *bound = under < 0 ? NULL : Py_NewRef(under ? room : zero);
            Py_DECREF(room);
            if (bound == NULL) goto done;
            int more = greater(bound, amount);
            if (more < 0) {
                Py_DECREF(bound);
                goto done;
            }
            Py_SETREF(actual, more ? bound : Py_NewRef(amount));
            if (!more) Py_DECREF(bound);
        }
    }
    after = num_add(before, actual);
    if (after == NULL || put_pair(ledger, member, after, now) < 0) goto done;
    int truth = PyObject_IsTrue(actual);
    if (truth < 0) goto done;
    if (!truth) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* The decision, as helpers.decision builds it, keys in its order: a record where
     * output/_decisions was built (eval's writer and tally read it; materialize makes it the
     * dict below wherever else decisions go), else the dict. */
    if (decisions_api != NULL) {
        PyObject *points = plain(g, actual), *balance = points == NULL ? NULL : plain(g, after);
        if (balance != NULL) {
            PyObject *keys[4] = {s_points, s_currency, s_balance, s_reason};
            PyObject *values[4] = {points, g->currency, balance, reason};
            int n = 0;
            for (int i = 0; i < 4; i++) {                 /* currency only when named, reason when given */
                if ((i == 1 && !g->named) || (i == 3 && reason == Py_None)) continue;
                keys[n] = keys[i];
                values[n++] = values[i];
            }
            made = decisions_api->make(now, g->format_us, g->format_ts, g->policy, g->rule, s_award_points, member,
                                       event_id != Py_None ? event_id : NULL, n, keys, values);
        }
        Py_XDECREF(points);
        Py_XDECREF(balance);
        if (made == NULL || PyList_Append(out, made) < 0) goto done;
    } else {
        PyObject *ts = PyObject_CallOneArg(g->format_us, now);
        if (ts != NULL && ts == Py_None) Py_SETREF(ts, PyObject_CallOneArg(g->format_ts, now));
        made = ts == NULL ? NULL : PyDict_Copy(event_id != Py_None ? g->with_id : g->without_id);
        if (made == NULL) {
            Py_XDECREF(ts);
            goto done;
        }
        if (set_item(made, s_ts, ts) < 0 || PyDict_SetItem(made, s_user, member) < 0
            || (event_id != Py_None && PyDict_SetItem(made, s_event_id, event_id) < 0)
            || set_item(made, s_points, plain(g, actual)) < 0
            || set_item(made, s_balance, plain(g, after)) < 0
            || (reason != Py_None && PyDict_SetItem(made, s_reason, reason) < 0)
            || PyList_Append(out, made) < 0)
            goto done;
    }
    /* Leaderboards count it (Rewards.board_add). */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(g->boards); i++) {
        PyObject *board = member_table(g, i < LEVEL - BOARD ? BOARD + (int)i : SITES, g->board_tables, PyTuple_GET_ITEM(g->boards, i));  /* anew each period */
        if (board == NULL) goto done;
        if (board_count(board, member, actual, g->store, nargs == 8 ? args[7] : NULL) < 0) goto done;
    }
    /* Levels may change: the rare case is Rewards._relevel's. */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(g->levels); i++) {
        PyObject *level = PyTuple_GET_ITEM(g->levels, i);       /* (index, spec, thresholds or None) */
        PyObject *index = PyTuple_GET_ITEM(level, 0), *thresholds = PyTuple_GET_ITEM(level, 2);
        if (thresholds != Py_None) {
            PyObject *table = found_get(g, i < SITES - LEVEL ? LEVEL + (int)i : SITES, g->level_tables, index);
            if (table == NULL && PyErr_Occurred()) goto done;
            int number = table == NULL ? 0 : not_nan(after);
            if (number < 0) goto done;
            if (number) {
                Py_ssize_t reached = level_by(thresholds, after);
                if (reached < 0) goto done;
                PyObject *had = table_get(table, member);
                if (had == NULL && PyErr_Occurred()) goto done;
                PyObject *now_level = PyLong_FromSsize_t(reached);
                int same = now_level == NULL ? -1 : compare(now_level, had != NULL ? had : zero, Py_EQ);
                Py_XDECREF(now_level);
                if (same < 0) goto done;
                if (same) continue;                              /* the level it had: nothing to decide */
            }
        }
        PyObject *call[8] = {index, PyTuple_GET_ITEM(level, 1), thresholds, member, after, event, now, out};
        PyObject *done_relevel = PyObject_Vectorcall(g->relevel, call, 8, NULL);
        if (done_relevel == NULL) goto done;
        Py_DECREF(done_relevel);
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(made);
    Py_XDECREF(after);
    Py_XDECREF(actual);
    Py_XDECREF(before);
    return result;
}

static PyTypeObject GiverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._points.Giver",
    .tp_basicsize = sizeof(Giver),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "give(member, amount, now, event_id, reason, event, out[, seen]): an award, its decision, what follows",
    .tp_new = Giver_new,
    .tp_dealloc = (destructor)Giver_dealloc,
    .tp_traverse = (traverseproc)Giver_traverse,
    .tp_clear = (inquiry)Giver_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Giver, call),
};

/* replace_pair(table, key, a, b): table[key] = (a, b) if the key is there (in place, as put_pair),
 * and True; False, touching nothing, if it is not. A silence re-armed by every message
 * (Timeline.arm's common case, written out in the generated code) was a membership test, a new
 * tuple, a second lookup to store it and the free of the old one. */
static PyObject *replace_pair(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "replace_pair(table, key, a, b)");
        return NULL;
    }
    PyObject *table = args[0];
    PyObject *held = table_get(table, args[1]);                             /* borrowed; a dict or a column */
    if (held == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_FALSE;
    }
    if (put_pair_over(table, args[1], held, args[2], args[3]) < 0) return NULL;
    Py_RETURN_TRUE;
}

/* A silence by one member (key `(member,)`): its value in the table (borrowed), or NULL, with an
 * exception set only on failure. A column of 1-tuples (silences by member) is read by the member
 * itself; a dict is read by the tuple, made here (`*key`, new, or NULL where none was made). */
static PyObject *silence_get(PyObject *table, PyObject *member, PyObject **key) {
    *key = NULL;
    if (is_column(table) && ((Column *)table)->unwrap) return column_get_member((Column *)table, member);
    *key = PyTuple_Pack(1, member);
    return *key == NULL ? NULL : table_get(table, *key);
}

/* replace_pair_of(table, member, a, b): replace_pair(table, (member,), a, b), the tuple made only
 * where it is needed — a silence by member re-armed by every message made it anew each time (and
 * freed it), ~90 instructions. */
static PyObject *replace_pair_of(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "replace_pair_of(table, member, a, b)");
        return NULL;
    }
    PyObject *table = args[0], *key;
    PyObject *held = silence_get(table, args[1], &key);                      /* borrowed */
    if (held == NULL) {
        Py_XDECREF(key);
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_FALSE;
    }
    if (key == NULL && !pair_rewritable(held, args[2], args[3]) && (key = PyTuple_Pack(1, args[1])) == NULL)
        return NULL;
    int failed = put_pair_over(table, key, held, args[2], args[3]);        /* key unread when rewritten */
    Py_XDECREF(key);
    if (failed) return NULL;
    Py_RETURN_TRUE;
}

/* pop_of(table, member): table.pop((member,), None), the tuple made only where the key is held (a
 * silence every message ends, held for few members). */
static PyObject *pop_of(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pop_of(table, member)");
        return NULL;
    }
    PyObject *table = args[0], *key;
    PyObject *held = silence_get(table, args[1], &key);
    if (held != NULL && key == NULL) key = PyTuple_Pack(1, args[1]);
    int failed = held == NULL ? PyErr_Occurred() != NULL : key == NULL || table_del(table, key) < 0;
    Py_XDECREF(key);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* member_seen(members, member, ts): a message's member counted, as the record loop did it — a
 * member not seen before is [ts, ts, 1], one seen has its row's third item (messages since it
 * joined) one more. Two lookups of a method, a list item read and written back and three tests
 * of the loop's were ~15 bytecodes a message. */
static PyObject *member_seen(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "member_seen(members, member, ts)");
        return NULL;
    }
    PyObject *members = args[0], *member = args[1], *ts = args[2], *row;     /* row borrowed */
    if (is_column(members) && !((Column *)members)->unwrap) {
        /* the member's row in every column asked of memory, then this column's value read by it */
        Column *c = (Column *)members;
        Py_ssize_t at = columns_row_of(c->index, member);
        if (at == -2) return NULL;
        if (at >= 0) columns_api->prefetch(c->index, at);
        row = at >= 0 && at < c->room ? c->values[at] : NULL;
    } else {
        row = table_get(members, member);
    }
    if (row == NULL) {
        if (PyErr_Occurred()) return NULL;
        PyObject *fresh = PyList_New(3);
        if (fresh == NULL) return NULL;
        PyList_SET_ITEM(fresh, 0, Py_NewRef(ts));
        PyList_SET_ITEM(fresh, 1, Py_NewRef(ts));
        PyList_SET_ITEM(fresh, 2, PyLong_FromLong(1));
        int failed = table_set(members, member, fresh);
        Py_DECREF(fresh);
        if (failed) return NULL;
        Py_RETURN_NONE;
    }
    long long n;
    if (PyList_CheckExact(row) && PyList_GET_SIZE(row) > 2 && as_int64(PyList_GET_ITEM(row, 2), &n) && n < LLONG_MAX) {
        PyObject *more = PyLong_FromLongLong(n + 1);    /* an int's += 1, without a call back */
        if (more == NULL) return NULL;
        PyObject *was = PyList_GET_ITEM(row, 2);
        PyList_SET_ITEM(row, 2, more);
        Py_DECREF(was);
        Py_RETURN_NONE;
    }
    Py_INCREF(row);                                      /* `+= 1` may call back into anything */
    PyObject *count = PyObject_GetItem(row, two), *more = count == NULL ? NULL : PyNumber_InPlaceAdd(count, one);
    int failed = more == NULL || PyObject_SetItem(row, two, more) < 0;
    Py_XDECREF(count);
    Py_XDECREF(more);
    Py_DECREF(row);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* board_add(store, boards, key, member, amount[, seen]): helpers.python_board_add — a count's or
 * a sum's leaderboard, on every event its handler counts (a points board is the Giver's, which
 * shares board_count): the member's entry with `amount` added. As a Python call through Rewards
 * it was ~300 ns an event a board. */
static PyObject *board_add(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 5 || nargs > 6 || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "board_add(store, boards: dict, key, member, amount[, seen])");
        return NULL;
    }
    PyObject *store = args[0], *tables = args[1], *key = args[2], *member = args[3], *amount = args[4];
    if (member == Py_None) Py_RETURN_NONE;
    int counts = PyObject_IsTrue(amount);
    if (counts <= 0) {
        if (counts < 0) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *board = PyDict_GetItemWithError(tables, key);                       /* borrowed */
    if (board == NULL && PyErr_Occurred()) return NULL;
    if (board == NULL || !(is_column(board) || columns_api == NULL)) {
        /* made, or a state file's dict made a column: the store's own way (MemoryStore._table) */
        board = PyObject_CallMethod(store, "member_table", "OO", tables, key);
        if (board == NULL) return NULL;
        Py_DECREF(board);                                  /* the store's tables hold it */
    }
    PyObject *seen = nargs == 6 && args[5] != Py_None ? args[5] : NULL;
    return board_count(board, member, amount, store, seen) < 0 ? NULL : Py_NewRef(Py_None);
}

/* cooldown_take(table, key, now, width): helpers.python_cooldown_take, in one lookup of the key and
 * with times compared as C integers. The gate every `cooldown` rule passes when its conditions
 * hold (the community pack's points rule: on most messages). */
static PyObject *cooldown_take(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "cooldown_take(table, key, now, width)");
        return NULL;
    }
    PyObject *table = args[0], *key = args[1], *now = args[2], *width = args[3];
    PyObject *until = table_get(table, key);                                /* borrowed; a dict or a column */
    if (until == NULL && PyErr_Occurred()) return NULL;
    long long t, u, w, end;
    int now_fits = as_int64(now, &t);
    if (until != NULL && until != Py_None) {
        int running;
        if (now_fits && as_int64(until, &u)) running = t < u;
        else {
            int ended = PyObject_RichCompareBool(now, until, Py_GE);         /* `now >= until`, as Python says it */
            if (ended < 0) return NULL;
            running = !ended;
        }
        if (running) Py_RETURN_FALSE;
    }
    PyObject *ends = now_fits && as_int64(width, &w) && !__builtin_add_overflow(t, w, &end)
                     ? PyLong_FromLongLong(end) : PyNumber_Add(now, width);
    if (ends == NULL) return NULL;
    int failed = table_set(table, key, ends);
    Py_DECREF(ends);
    if (failed < 0) return NULL;
    Py_RETURN_TRUE;
}

/* Whether a cooldown's end `until` is at or before `arg` (the sweep's now): 1, 0, or -1. */
static int ended_by(PyObject *until, void *arg) {
    PyObject *now = arg;
    long long u, t;
    if (as_int64(until, &u) && as_int64(now, &t)) return u <= t;
    return PyObject_RichCompareBool(until, now, Py_LE);
}

/* drop_ended(table, now): helpers.python_drop_ended, each value read in place. The sweep's walk of
 * the cooldowns: the pack's points rule keeps one a member who spoke within a minute. */
static PyObject *drop_ended(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "drop_ended(table, now)");
        return NULL;
    }
    return table_drop_where(args[0], ended_by, args[1]) < 0 ? NULL : Py_NewRef(Py_None);
}

/* ---- a board's winners ------------------------------------------------------------------- */
/* incentives.python_ranking in C (the definition): the `top` entries of a leaderboard — a dict or
 * a column of member → (value, seq) — highest value first, then who reached it first (seq), then
 * the member; values <= 0 never win; `allowed` (or None) says who may. The Python form built a
 * 4-tuple an entry and the column's list of items: at 100 000 members a monthly close was ~60 ms
 * of one `Engine.process` call, the embedded engine's slowest by twelve times. Here the entries
 * are read where they lie, and only one that would enter the top so far is asked of `allowed`
 * (a pure test of the member: rewards._among's). NotImplemented for a board it does not read (a
 * value that is not a pair, a column keyed by 1-tuples, a top over 1 024): the Python form decides. */
typedef struct {
    PyObject *member, *pair;                    /* held: `allowed` runs Python, which could change the board */
    PyObject *value, *seq;                      /* the pair's */
} Entry;

/* 1 when a ranks before b, 0 when not, -1 with an exception. */
static int ranks_before(const Entry *a, const Entry *b) {
    int c = PyObject_RichCompareBool(a->value, b->value, Py_GT);
    if (c != 0) return c;
    if ((c = PyObject_RichCompareBool(a->value, b->value, Py_LT)) != 0) return c < 0 ? -1 : 0;
    if ((c = PyObject_RichCompareBool(a->seq, b->seq, Py_LT)) != 0) return c;
    if ((c = PyObject_RichCompareBool(a->seq, b->seq, Py_GT)) != 0) return c < 0 ? -1 : 0;
    return PyObject_RichCompareBool(a->member, b->member, Py_LT);
}

/* The entry offered, kept among the best n so far (best first, at most top of them): 1 when it
 * was not a pair (the caller gives up), 0, or -1 with an exception. */
static int offer(Entry *best, Py_ssize_t *n, Py_ssize_t top, PyObject *member, PyObject *pair, PyObject *allowed) {
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) return 1;
    Entry e = {member, pair, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)};
    int positive = PyObject_RichCompareBool(e.value, zero, Py_GT);
    if (positive <= 0) return positive;
    Py_ssize_t at = *n;                         /* where it goes: after every entry that ranks before it */
    while (at > 0) {
        int before = ranks_before(&e, &best[at - 1]);
        if (before < 0) return -1;
        if (!before) break;
        at--;
    }
    if (at >= top) return 0;
    if (allowed != Py_None) {
        PyObject *may = PyObject_CallOneArg(allowed, member);
        int yes = may != NULL ? PyObject_IsTrue(may) : -1;
        Py_XDECREF(may);
        if (yes <= 0) return yes;
    }
    if (*n == top) {                            /* the last goes */
        Py_DECREF(best[top - 1].member);
        Py_DECREF(best[top - 1].pair);
    }
    Py_ssize_t kept = *n < top ? *n + 1 : top;
    memmove(&best[at + 1], &best[at], (kept - at - 1) * sizeof(Entry));
    Py_INCREF(member);
    Py_INCREF(pair);
    best[at] = e;
    *n = kept;
    return 0;
}

static PyObject *top_of(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "top_of(board, top, allowed)");
        return NULL;
    }
    PyObject *board = args[0], *allowed = args[2];
    Py_ssize_t top = PyLong_AsSsize_t(args[1]);
    if (top == -1 && PyErr_Occurred()) return NULL;
    if (top <= 0) return PyList_New(0);
    int column = is_column(board);
    if ((!column && !PyDict_CheckExact(board)) || (column && ((Column *)board)->unwrap) || top > 1024)
        return Py_NewRef(Py_NotImplemented);
    Entry *best = PyMem_Malloc(top * sizeof(Entry));
    if (best == NULL) return PyErr_NoMemory();
    /* The board is held while it is read: `allowed` runs Python, which could let go of it. */
    Py_INCREF(board);
    Py_ssize_t n = 0;
    int status = 0;
    if (column) {
        Column *c = (Column *)board;
        Py_ssize_t row;
        FOR_EACH_PRESENT(c, row) {
            if (status == 0 && row < c->room && c->values[row] != NULL)
                status = offer(best, &n, top, c->index->keys[row], c->values[row], allowed);
        }
    } else {
        Py_ssize_t pos = 0;
        PyObject *member, *pair;
        while (status == 0 && PyDict_Next(board, &pos, &member, &pair)) status = offer(best, &n, top, member, pair, allowed);
    }
    PyObject *winners = status == 0 ? PyList_New(n) : NULL;
    for (Py_ssize_t i = 0; winners != NULL && i < n; i++) {
        PyObject *pair = PyTuple_Pack(2, best[i].member, best[i].value);
        if (pair == NULL) Py_CLEAR(winners);
        else PyList_SET_ITEM(winners, i, pair);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(best[i].member);
        Py_DECREF(best[i].pair);
    }
    PyMem_Free(best);
    Py_DECREF(board);
    return status > 0 ? Py_NewRef(Py_NotImplemented) : winners;
}

static PyMethodDef functions[] = {
    {"replace_pair", (PyCFunction)(void (*)(void))replace_pair, METH_FASTCALL,
     "replace_pair(table, key, a, b) -> bool: table[key] = (a, b) where the key is already held"},
    {"member_seen", (PyCFunction)(void (*)(void))member_seen, METH_FASTCALL,
     "member_seen(members, member, ts): a message's member counted ([ts, ts, 1] when new, its third item one more)"},
    {"replace_pair_of", (PyCFunction)(void (*)(void))replace_pair_of, METH_FASTCALL,
     "replace_pair_of(table, member, a, b) -> bool: replace_pair(table, (member,), a, b)"},
    {"pop_of", (PyCFunction)(void (*)(void))pop_of, METH_FASTCALL, "pop_of(table, member): table.pop((member,), None)"},
    {"drop_ended", (PyCFunction)(void (*)(void))drop_ended, METH_FASTCALL,
     "drop_ended(table, now): every key whose value (a cooldown's end) is at or before now, gone"},
    {"board_add", (PyCFunction)(void (*)(void))board_add, METH_FASTCALL,
     "board_add(store, boards, key, member, amount[, seen]): a leaderboard's entry for member, amount added"},
    {"top_of", (PyCFunction)(void (*)(void))top_of, METH_FASTCALL,
     "top_of(board, top, allowed) -> [(member, value)]: incentives.ranking, or NotImplemented for a board it does not read"},
    {"cooldown_take", (PyCFunction)(void (*)(void))cooldown_take, METH_FASTCALL,
     "cooldown_take(table, key, now, width) -> bool: when no cooldown runs at now, table[key] = now + width and True"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_points", NULL, 0, functions, NULL, NULL, NULL, NULL};

#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__points(void) {
    columns_import();
    /* PyCapsule_Import imports only the package; the module is imported first. */
    PyObject *decisions = PyImport_ImportModule("policyengine.output._decisions");
    decisions_api = decisions == NULL ? NULL : PyCapsule_Import(DECISIONS_CAPSULE, 0);
    Py_XDECREF(decisions);
    if (decisions_api == NULL) PyErr_Clear();
    INTERN(s_events_seen, "events_seen"); INTERN(s_ts, "ts"); INTERN(s_policy, "policy"); INTERN(s_rule, "rule");
    INTERN(s_action, "action"); INTERN(s_user, "user"); INTERN(s_event_id, "event_id"); INTERN(s_points, "points");
    INTERN(s_currency, "currency"); INTERN(s_balance, "balance"); INTERN(s_reason, "reason");
    INTERN(s_award_points, "award_points");
    zero = PyLong_FromLong(0);
    one = PyLong_FromLong(1);
    two = PyLong_FromLong(2);
    if (zero == NULL || one == NULL || two == NULL) return NULL;
    if (PyType_Ready(&GiverType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Giver", (PyObject *)&GiverType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
