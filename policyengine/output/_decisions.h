/* Decision records (output/_record.h) for the C modules that make decisions (runtime/_points.c):
 * a decision with a fixed layout instead of a dict, which `eval`'s writer and tally read
 * directly and everything else receives as a dict (output/decisions.py `materialize`). Reached
 * through a capsule, filled at the maker's import; NULL where output/_decisions was not built,
 * and the maker then builds dicts as before. */
#ifndef POLICYENGINE_DECISIONS_H
#define POLICYENGINE_DECISIONS_H

#include <Python.h>

#define DECISION_FIELDS 6            /* fields after ts, policy, rule, action, user and event_id */

typedef struct {
    PyTypeObject *record_type;
    /* A record of a decision at `now` (an event time): ts as `format_us(now) or format_ts(now)`
     * says it, kept as microseconds where format_us writes it (the years 1000–9999); policy,
     * rule and action set; user and event_id NULL where the decision has none; then `n`
     * (key, value) fields in the decision's order (keys interned str). Everything is borrowed. A
     * new reference, or NULL with an exception. */
    PyObject *(*make)(PyObject *now, PyObject *format_us, PyObject *format_ts, PyObject *policy, PyObject *rule,
                      PyObject *action, PyObject *user, PyObject *event_id, int n, PyObject *const *keys,
                      PyObject *const *values);
} DecisionsAPI;

#define DECISIONS_CAPSULE "policyengine.output._decisions.API"

#endif
