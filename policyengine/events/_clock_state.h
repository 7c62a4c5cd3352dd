/* The record loop's clock as C reads it (events/_clock.h has the type and its methods): shared
 * with events/_route.c, whose routed iterator takes other shares' times onto the same clock that
 * decode_timed compares each own event's time with. Both modules see this one layout; _route
 * checks a clock's type against the _records module's Clock before it reads one. */
#ifndef POLICYENGINE_CLOCK_STATE_H
#define POLICYENGINE_CLOCK_STATE_H
#include <Python.h>
#include <stdint.h>

enum { CLOCK_TAKEN = 0, CLOCK_ASK = 1, CLOCK_LATE = 2, CLOCK_DUE = 3, CLOCK_ITEM = 4 };
#define CLOCK_NO_TIME INT64_MIN           /* the watermark before any event */

typedef struct {
    PyObject_HEAD
    long long watermark;                  /* CLOCK_NO_TIME: none yet */
    long long due;                        /* at or before the earliest timer: too early only costs a look */
    long long ts;                         /* the time of the event last given back without one */
    int stop;                             /* why it was given back without one (CLOCK_*) */
    /* The own line _route's routed iterator handed on last, and its time as the route's scan read
     * it: decode_timed of that very object (compared by identity, never read through) takes the
     * time from here, and the line's UTF-8 as checked, rather than reading them again. Cleared by
     * every other item and by decode_timed, so it never outlives the line the loop holds. */
    PyObject *scanned;
    long long scanned_us;
} Clock;

/* An other share's event time taken where clock_take (events/_clock.h) would say CLOCK_TAKEN — not
 * late, no timer due by it: the watermark moves to it (1). Anything else is left to the loop (0). */
static inline int clock_took_cleanly(Clock *c, long long us) {
    if (us < c->watermark || us >= c->due) return 0;
    c->watermark = us;
    return 1;
}

#endif
