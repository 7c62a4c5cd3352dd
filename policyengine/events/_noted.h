/* What the record scan (_records.c) saw of the four fields `eval --report` counts (type, user,
 * channel, id: report/_observe.c), for the line it took last.
 *
 * Why: the report used to scan each evaluated line a second time for those four values, ~10 % of
 * an `eval --report` run (thirty-sixth session, perf over 1M events of the reference policies),
 * right after the record scan had read the same line. A decoder asked to note them (`noting()`,
 * a capsule of this struct) says where each value lay; the report reads them from there and
 * scans the line itself only when the decoder did not take it, or was unsure of a value. */
#ifndef POLICYENGINE_NOTED_H
#define POLICYENGINE_NOTED_H
#include <Python.h>

#define NOTED_CAPSULE "policyengine.events._records.Noted"

enum { NOTED_TYPE, NOTED_USER, NOTED_CHANNEL, NOTED_ID, NOTED_FIELDS };
/* What a value was: absent, a string without escapes (its bytes between the quotes), another
 * JSON value, or a string with an escape (the report then scans the line itself). */
enum { NOTED_ABSENT, NOTED_TEXT, NOTED_OTHER, NOTED_ESCAPED };

typedef struct {
    int is;
    const unsigned char *start;
    Py_ssize_t len;
} NotedValue;

typedef struct {
    const unsigned char *line;      /* the first byte of the line noted; NULL when the last call noted none */
    NotedValue value[NOTED_FIELDS];
} Noted;

/* The value at [v, end) of a line a scan took: a string's bytes, or what else it is. */
static inline NotedValue noted_value(const unsigned char *v, const unsigned char *end) {
    if (v >= end || *v != '"') return (NotedValue){NOTED_OTHER, v, end - v};
    const unsigned char *inside = v + 1;
    Py_ssize_t len = end - v - 2;               /* the scan checked the string whole: it ends in a quote */
    if (memchr(inside, '\\', (size_t)len) != NULL) return (NotedValue){NOTED_ESCAPED, inside, len};
    return (NotedValue){NOTED_TEXT, inside, len};
}

#endif
