/* Decision records (output/_decisions.c) for the C modules that make decisions (runtime/_points.c):
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
    /* A record: ts, policy, rule and action set; user and event_id NULL where the decision has
     * none; then `n` (key, value) fields in the decision's order (keys interned str). Values are
     * borrowed. A new reference, or NULL with an exception. */
    PyObject *(*make)(PyObject *ts, PyObject *policy, PyObject *rule, PyObject *action, PyObject *user,
                      PyObject *event_id, int n, PyObject *const *keys, PyObject *const *values);
    /* The same with the time as microseconds in the years 1000–9999 (DECISION_FIRST_US ..
     * DECISION_END_US), written out only when the record is written or read. */
    PyObject *(*make_at)(int64_t us, PyObject *policy, PyObject *rule, PyObject *action, PyObject *user,
                         PyObject *event_id, int n, PyObject *const *keys, PyObject *const *values);
} DecisionsAPI;

#define DECISION_FIRST_US (-354285LL * 86400000000LL)     /* 1000-01-01 */
#define DECISION_END_US (2932897LL * 86400000000LL)       /* 10000-01-01 */

#define DECISIONS_CAPSULE "policyengine.output._decisions.API"

#endif
