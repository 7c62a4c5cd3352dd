/* Where a chunk's lines are cut, for both splitters: split_lines (events/_lines.c, a bytes object
 * a line) and split_spans (events/_route.c, spans of the bytes read). The pieces of head + data
 * at each newline, found with memchr; every piece but the last that is longer than the limit is
 * over it (None in its place, never copied); the last, the start of a line the next chunk
 * finishes, never is. `head`, the start of the first line as the chunk before left it, counts
 * towards the first piece's length; the caller joins it on. */
#ifndef POLICYENGINE_SPLIT_H
#define POLICYENGINE_SPLIT_H
#include <Python.h>
#include <string.h>

typedef struct {
    const char *next, *end;      /* the data not yet cut */
    Py_ssize_t room;             /* the longest the next piece may be: the limit, less the head for the first */
    Py_ssize_t limit;
} Cutter;

typedef struct {
    const char *start;           /* the piece's bytes in the data (after the head's, for the first) */
    Py_ssize_t len;
    int over;                    /* longer than the limit, and not the last: None */
    int last;                    /* no newline after it */
} Piece;

static inline Cutter cutter_of(const char *data, Py_ssize_t n, Py_ssize_t limit, Py_ssize_t head_len) {
    return (Cutter){data, data + n, limit - head_len, limit};
}

static inline Piece next_piece(Cutter *c) {
    const char *cut = memchr(c->next, '\n', (size_t)(c->end - c->next));
    Piece piece = {c->next, (cut != NULL ? cut : c->end) - c->next, 0, cut == NULL};
    piece.over = cut != NULL && piece.len > c->room;
    c->room = c->limit;
    c->next = cut != NULL ? cut + 1 : c->end;
    return piece;
}

#endif
