/* The JSON scanning shared by the C modules that read log lines without decoding them first
 * (_route.c: which worker a line belongs to; _records.c: a line straight into a record). Every
 * scan here is strict: it takes a subset of the JSON msgspec and orjson take (no exponent, no
 * nesting deeper than MAX_DEPTH, no lone surrogate escape) and answers 0 for anything else, which
 * the caller then leaves to a decoder that says why. */
#ifndef POLICYENGINE_JSON_SCAN_H
#define POLICYENGINE_JSON_SCAN_H
#include "_text.h"   /* Python.h, stdint.h, string.h */

/* The record's fields by what the scan must check of their values (events/routing.py sends them). */
enum { K_NAME, K_USER, K_TIME, K_TEXT, K_NUMBER, K_BOOL, K_LIST, K_RAW };

#define MAX_FIELDS 64
#define MAX_DEPTH 32
#define MAX_NUMBER 40
#define INT64_DIGITS 18          /* any integer of up to 18 digits is inside int64 */

typedef struct {
    const char *name;
    Py_ssize_t len;
    int kind;
    uint64_t head;           /* the name's first 8 bytes, zero-padded: most keys are compared by this alone */
    int position;            /* _records.c: the record's argument its value fills */
    int made_as;             /* _records.c: how its strings are made (MADE, TYPE_NAME, KEPT) */
} Field;

static inline uint64_t head_of(const unsigned char *p, Py_ssize_t n) {
    uint64_t word = 0;
    memcpy(&word, p, n < 8 ? (size_t)n : 8);
    return word;
}

typedef struct {
    const unsigned char *p, *end;
} Cursor;

/* Past JSON whitespace: most lines have none between tokens, so the first test is one compare. */
static inline __attribute__((always_inline)) const unsigned char *past_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static inline void skip_ws(Cursor *c) {
    c->p = past_ws(c->p, c->end);
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return 0;
    }
    *out = v;
    return 1;
}

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__SSE2__)
/* The bytes of sixteen where a run stops: a quote, a backslash, a control character. */
static inline unsigned run_stops(__m128i x) {
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), below = _mm_set1_epi8(0x1F);
    __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(x, below), below);      /* x <= 0x1F */
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                                                    control));
}
#endif

/* The first byte from p that is a quote, a backslash or a control character (or end), sixteen
 * bytes at a time while none is (a byte-at-a-time loop cost 11 instructions a byte); *high != 0
 * when a byte before it is past ASCII: the sixteen bytes loaded give their high bits in one
 * instruction (the record scan makes a str of ASCII by copying it). The last fewer than sixteen
 * (a line's last value) are the line's last sixteen, loaded from end - 16 with the bytes before p
 * shifted out, where [floor, end) is readable and that long (floor: the line's first byte); one
 * at a time where it is shorter (the tail cost ~200 instructions a line, a byte at a time). */
static inline const unsigned char *ascii_run(const unsigned char *p, const unsigned char *end,
                                             const unsigned char *floor, unsigned *high) {
#if defined(__SSE2__)
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        unsigned hit = run_stops(x), highs = (unsigned)_mm_movemask_epi8(x);
        if (hit) {
            *high |= highs & ((1u << __builtin_ctz(hit)) - 1);
            return p + __builtin_ctz(hit);
        }
        *high |= highs;
        p += 16;
    }
    if (p < end && end - floor >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(end - 16));
        unsigned before = (unsigned)(p - (end - 16));                    /* 1 to 15 */
        unsigned hit = run_stops(x) >> before, highs = (unsigned)_mm_movemask_epi8(x) >> before;
        if (hit) {
            *high |= highs & ((1u << __builtin_ctz(hit)) - 1);
            return p + __builtin_ctz(hit);
        }
        *high |= highs;
        return end;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) *high |= *p++ & 0x80;
    return p;
}

/* ascii_run where the bytes' class does not matter (scan_string: escaped and skipped strings). */
static inline const unsigned char *plain_run(const unsigned char *p, const unsigned char *end) {
    unsigned high = 0;
    return ascii_run(p, end, p, &high);               /* nothing before p known to be readable */
}

/* A string at c->p (its opening quote): its raw content in *start and *len, *escaped if it has an
 * escape. 0: not one the scan is sure of. */
static inline __attribute__((always_inline)) int scan_string(Cursor *c, const unsigned char **start, Py_ssize_t *len, int *escaped) {
    const unsigned char *p = c->p + 1, *end = c->end;
    *start = p;
    *escaped = 0;
    for (;;) {
        p = plain_run(p, end);
        if (p >= end || *p < 0x20) return 0;           /* cut short, or a raw control character */
        if (*p == '"') break;
        *escaped = 1;
        if (end - p < 2) return 0;
        unsigned char e = p[1];
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            p += 2;
            continue;
        }
        unsigned u, low;
        if (e != 'u' || end - p < 6 || !hex4(p + 2, &u)) return 0;
        p += 6;
        if (u >= 0xDC00 && u <= 0xDFFF) return 0;      /* a low surrogate alone */
        if (u >= 0xD800 && u <= 0xDBFF) {              /* a high one needs its low one next */
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) || low < 0xDC00 || low > 0xDFFF)
                return 0;
            p += 6;
        }
    }
    *len = p - *start;
    c->p = p + 1;
    return 1;
}

/* A number: JSON's grammar without an exponent, at most MAX_NUMBER characters. *fits: a record's
 * number field takes it (a fraction, read as a float, or an integer of at most INT64_DIGITS digits). */
static int scan_number(Cursor *c, int *fits) {
    const unsigned char *p = c->p, *end = c->end, *first = c->p;
    if (p < end && *p == '-') p++;
    const unsigned char *digits = p;
    if (p < end && *p == '0') p++;
    else if (p < end && *p >= '1' && *p <= '9') while (p < end && *p >= '0' && *p <= '9') p++;
    else return 0;
    Py_ssize_t int_digits = p - digits;
    int fraction = 0;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return 0;
        while (p < end && *p >= '0' && *p <= '9') p++;
        fraction = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) return 0;
    if (p - first > MAX_NUMBER) return 0;
    *fits = fraction || int_digits <= INT64_DIGITS;
    c->p = p;
    return 1;
}

static int scan_word(Cursor *c, const char *word, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* Any JSON value, checked and stepped over. */
static int skip_value(Cursor *c, int depth) {
    const unsigned char *start;
    Py_ssize_t len;
    int flag;
    if (c->p >= c->end) return 0;
    switch (*c->p) {
    case '"':
        return scan_string(c, &start, &len, &flag);
    case 't':
        return scan_word(c, "true", 4);
    case 'f':
        return scan_word(c, "false", 5);
    case 'n':
        return scan_word(c, "null", 4);
    case '{':
    case '[': {
        unsigned char close = *c->p == '{' ? '}' : ']';
        if (depth >= MAX_DEPTH) return 0;
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 1;
        }
        for (;;) {
            if (close == '}') {
                if (c->p >= c->end || *c->p != '"' || !scan_string(c, &start, &len, &flag)) return 0;
                skip_ws(c);
                if (c->p >= c->end || *c->p != ':') return 0;
                c->p++;
                skip_ws(c);
            }
            if (!skip_value(c, depth + 1)) return 0;
            skip_ws(c);
            if (c->p >= c->end) return 0;
            if (*c->p == close) {
                c->p++;
                return 1;
            }
            if (*c->p != ',') return 0;
            c->p++;
            skip_ws(c);
        }
    }
    default:
        return scan_number(c, &flag);
    }
}

/* Whitespace, only where there is some: most lines have none between tokens. */
#define SKIP_WS(p, end) do { if ((p) < (end) && *(p) <= ' ') (p) = past_ws((p), (end)); } while (0)

/* Where a key's field is looked up: a slot per (length, first and last byte) hash holds the
 * field's index + 1, 0 for none, MANY when two fields share it (then every field is tried). */
#define SLOTS 64
#define MANY 255

typedef struct {
    Field fields[MAX_FIELDS];
    int nfields;
    uint64_t required;           /* the bits of the fields a record cannot do without */
    unsigned char slot[SLOTS];
} Layout;

static inline unsigned slot_of(const unsigned char *key, Py_ssize_t len) {
    return ((unsigned)len * 7u ^ key[0] ^ (unsigned)key[len - 1] << 1) & (SLOTS - 1);
}

/* Field i of the layout named by the bytes object `name` (its kind is the caller's): the name,
 * its head and its slot. The name is borrowed: the caller keeps the bytes alive. */
static inline void layout_name(Layout *layout, Py_ssize_t i, PyObject *name) {
    Field *f = &layout->fields[i];
    f->name = PyBytes_AS_STRING(name);
    f->len = PyBytes_GET_SIZE(name);
    f->head = head_of((const unsigned char *)f->name, f->len);
    if (f->len == 0) return;                      /* refused by the caller: no slot */
    unsigned char *slot = &layout->slot[slot_of((const unsigned char *)f->name, f->len)];
    *slot = *slot == 0 ? (unsigned char)(i + 1) : MANY;
}

/* The record field named by the key at [key, key + len), or -1. */
static inline int field_of(const unsigned char *key, Py_ssize_t len, const unsigned char *end, const Layout *layout) {
    if (len == 0) return -1;
    unsigned slot = layout->slot[slot_of(key, len)];
    if (slot == 0) return -1;
    uint64_t head;
    if (end - key >= 8) {
        memcpy(&head, key, 8);
        if (len < 8) head &= (1ULL << (8 * len)) - 1;
    } else {
        head = head_of(key, len);
    }
    int first = slot == MANY ? 0 : (int)slot - 1, last = slot == MANY ? layout->nfields : (int)slot;
    for (int i = first; i < last; i++) {
        const Field *f = &layout->fields[i];
        if (f->head == head && f->len == len && (len <= 8 || memcmp(f->name + 8, key + 8, len - 8) == 0)) return i;
    }
    return -1;
}

#define PREDICTED 16      /* keys predicted: the first sixteen of a line */
#define PREDICTED_LEN 32  /* `"key":` up to this long */

/* The key a line had at one position, as its bytes from the opening quote to the colon: most
 * lines of a log list the same keys in the same order, so a key is first compared with the one
 * the last line had there, one memcmp, before it is scanned and looked up. */
typedef struct {
    unsigned char bytes[PREDICTED_LEN];
    unsigned char len;           /* 0: nothing predicted */
    signed char field;           /* its field, -1 for a key no rule reads */
    unsigned char high;          /* _records.c: a key no rule reads with bytes past ASCII */
} Predicted;

/* Whether the key at p (where a key's opening quote belongs) is the predicted one; the caller then
 * takes its field and steps `predicted->len` bytes, past the colon. The bytes hold no quote but the
 * two around the key's name, so equal bytes are the same key. */
static inline int key_as_predicted(const Predicted *predicted, const unsigned char *p, const unsigned char *end) {
    if (predicted == NULL || predicted->len == 0 || end - p < predicted->len) return 0;
    /* A key of 4 to 16 bytes (`"id":` to `"community":`, most of them) as two words that overlap
     * where it is not twice their size: a memcmp call was ~25 instructions a key, seven a line. */
    size_t n = predicted->len;
    const unsigned char *q = predicted->bytes;
    if (n >= 8 && n <= 16) {
        uint64_t a, b, c, d;
        memcpy(&a, p, 8); memcpy(&b, p + n - 8, 8);
        memcpy(&c, q, 8); memcpy(&d, q + n - 8, 8);
        return a == c && b == d;
    }
    if (n >= 4 && n < 8) {
        uint32_t a, b, c, d;
        memcpy(&a, p, 4); memcpy(&b, p + n - 4, 4);
        memcpy(&c, q, 4); memcpy(&d, q + n - 4, 4);
        return a == c && b == d;
    }
    return memcmp(p, q, n) == 0;
}

/* The key from its opening quote at p to its closing one at q, of field f, predicted for the next
 * line when the colon follows at once and it is short enough. */
static inline void predict_key(Predicted *predicted, const unsigned char *p, const unsigned char *q,
                               const unsigned char *end, int f, int high) {
    if (predicted == NULL || q + 1 >= end || q[1] != ':' || q + 2 - p > PREDICTED_LEN) return;
    predicted->len = (unsigned char)(q + 2 - p);
    memcpy(predicted->bytes, p, predicted->len);
    predicted->field = (signed char)f;
    predicted->high = (unsigned char)high;
}

#endif
