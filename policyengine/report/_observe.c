/* The report's counts of the events a replay evaluates and of the decisions made
 * (report/counts.py: PythonEventCounts, and report/collect.py: ReportData.python_observe_decisions,
 * are the definitions; tests/test_report_counts.py holds these to them).
 *
 * Why: the report reads four fields of each event (type, user, channel, id), and it used to be
 * handed each evaluated line as the dict orjson makes of the whole of it. Over 1M events of the
 * reference policies that was ~1.8 µs an event: `eval --report` 2.42 s against `eval` 0.66 s.
 * Here the line's top-level keys are scanned, the four values taken where they are plain strings,
 * and the counts kept without a dict of the event. A line the scan is not sure of (an escaped key,
 * an escaped value among the four, a member who is not a string, JSON the strict scan refuses)
 * goes to orjson and the dict path, as before. Who posted in an hour is kept as bits of member
 * numbers, the event id → channel memo as bytes, so that an event makes no object. */
#include "../events/_json_scan.h"   /* Cursor, scan_string, skip_value, past_ws; Python.h */
#include "../runtime/_huge.h"        /* the members' table in huge pages */
#include "../events/_noted.h"        /* where the record scan found the four fields (Observing) */
#include <structmember.h>

#define HOUR_US 3600000000LL
#define CHANNELS_KEPT 100000          /* counts.py: CHANNELS_KEPT */

/* ---- which channel each recent event came from --------------------------------------------- */
/* The memo was a dict of str ids, two generations of CHANNELS_KEPT: each event's id made into a
 * str, and an insert into a dict of 100 000 — 0.24 s of the reference policies' report over 1M
 * events, and most of the pack's decisions' cost, a cold lookup each. Here an id is its UTF-8
 * bytes in a generation's arena, found by a hash table of entry numbers: the same answers as the
 * dicts (counts.py), without an object an event. */
#define MEMO_SLOTS (1 << 18)          /* a power of two, over twice CHANNELS_KEPT */
#define CACHED_CHANNELS 8             /* channels by their bytes, so that an event makes no str for one */
#define CACHED_CHANNEL 32

typedef struct Generation Generation;

/* A name's first NAME_HEAD bytes are kept in its slot: a lookup of a name no longer than that
 * reads no str (over 1M members, the str's cache miss was half of a member's lookup). */
#define NAME_HEAD 16

typedef struct {
    Py_hash_t hash;
    PyObject *name;                             /* held; NULL: an empty slot */
    uint32_t number;                            /* the member's number: its bit in an hour's map */
    uint32_t len;                               /* the name's UTF-8 bytes, up to UINT32_MAX */
    char head[NAME_HEAD];                       /* the first of them, zeros after */
} Named;

#define LATER (-2)                      /* add_active's member: set later, by observe_line (Pending) */

/* A message's member by the line's bytes (held by `line`), to be set in map `map`: over 1M
 * members a member's slot is a cache miss, ~18 % of `eval --report`'s time; the slot is asked of
 * memory when the line is observed and read PENDING lines later, so that the misses overlap. */
#define PENDING 16

typedef struct {
    Py_hash_t hash;
    const char *bytes;
    Py_ssize_t len, map;
    PyObject *line;
} Pending;

/* The members who posted in one hour: a bit a member number. */
typedef struct {
    PyObject *hour;                             /* held */
    uint64_t *words;
    Py_ssize_t nwords;
} HourMap;

typedef struct {
    Py_hash_t hash;
    Py_ssize_t id_at, id_len;                   /* the id's bytes in the generation's arena */
    Py_ssize_t user_at, user_len;               /* its event's member's (by_id's), there too; len < 0: none */
    PyObject *channel;                          /* held */
} Remembered;

struct Generation {
    Remembered *entries;                        /* CHANNELS_KEPT of them; n used */
    Py_ssize_t n;
    uint32_t *slots;                            /* MEMO_SLOTS: an entry's number + 1, or 0 */
    char *ids;
    Py_ssize_t ids_len, ids_room;
};

static Generation *generation_new(void) {
    Generation *g = PyMem_Calloc(1, sizeof(Generation));
    if (g == NULL) return (Generation *)PyErr_NoMemory();
    g->entries = PyMem_Malloc(CHANNELS_KEPT * sizeof(Remembered));
    g->slots = PyMem_Calloc(MEMO_SLOTS, sizeof(uint32_t));
    if (g->entries == NULL || g->slots == NULL) {
        PyMem_Free(g->entries);
        PyMem_Free(g->slots);
        PyMem_Free(g);
        return (Generation *)PyErr_NoMemory();
    }
    return g;
}

static void generation_empty(Generation *g) {
    for (Py_ssize_t i = 0; i < g->n; i++) Py_DECREF(g->entries[i].channel);
    if (g->n) memset(g->slots, 0, MEMO_SLOTS * sizeof(uint32_t));
    g->n = g->ids_len = 0;
}

static void generation_free(Generation *g) {
    if (g == NULL) return;
    generation_empty(g);
    PyMem_Free(g->entries);
    PyMem_Free(g->slots);
    PyMem_Free(g->ids);
    PyMem_Free(g);
}

/* The slot of the id's entry, or of the empty slot where it would go. */
static uint32_t *generation_slot(Generation *g, Py_hash_t hash, const char *id, Py_ssize_t len) {
    for (size_t i = (size_t)hash & (MEMO_SLOTS - 1);; i = (i + 1) & (MEMO_SLOTS - 1)) {
        uint32_t e = g->slots[i];
        if (e == 0) return &g->slots[i];
        const Remembered *r = &g->entries[e - 1];
        if (r->hash == hash && r->id_len == len && memcmp(g->ids + r->id_at, id, len) == 0) return &g->slots[i];
    }
}

/* A str's bytes as the memo keeps ids: UTF-8, with lone surrogates (which only a str made in
 * Python can hold) passed through, so that distinct strs stay distinct. *owner, new or NULL,
 * holds them. NULL with an exception on failure. */
static const char *id_bytes(PyObject *id, Py_ssize_t *len, PyObject **owner) {
    *owner = NULL;
    const char *utf8 = PyUnicode_AsUTF8AndSize(id, len);
    if (utf8 != NULL || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return utf8;
    PyErr_Clear();
    *owner = PyUnicode_AsEncodedString(id, "utf-8", "surrogatepass");
    if (*owner == NULL) return NULL;
    *len = PyBytes_GET_SIZE(*owner);
    return PyBytes_AS_STRING(*owner);
}

static PyObject *orjson_loads, *one, *s_type, *s_user, *s_channel, *s_id, *s_get, *hour_us;

/* A memo of which channel each recent key came from: two generations, the older dropped whole. */
typedef struct {
    Generation *of, *before;
} Memo;

/* A member and an event id as one key of the memo's: the member's bytes, 0xFF (never in UTF-8),
 * the id's. Keys up to MEMBER_KEY bytes are made on the stack. */
#define MEMBER_KEY 256

typedef struct {
    PyObject_HEAD
    long long events;
    PyObject *messages, *joins;                 /* hour → count */
    /* Who posted in each hour, as bits of member numbers: sets of names were ~500 MB of the
     * reference policies' report over 10M events and 1M members (a set a hour of ~60 000). */
    PyObject *by_number;                        /* list: each member by number */
    PyObject *others;                           /* members that are not strs (the dict path) → number */
    PyObject *hour_index;                       /* hour → its map's index */
    HourMap *maps;
    Py_ssize_t nmaps, maps_room, last_map;      /* last_map: the map used last, or -1 */
    /* event id → channel, and member and event id → channel: the first answers for a decision
     * about another member than its event's (a referral's inviter), the second for the rest,
     * where one id may name events of several members (Telegram's message ids count per chat) */
    Memo by_id, by_member;
    struct { PyObject *text; Py_ssize_t len; char bytes[CACHED_CHANNEL]; } cached[CACHED_CHANNELS];
    Named *members;                             /* each member by name, made once (member_number) */
    size_t members_mask;
    Py_ssize_t members_n;
    int next_cached;                            /* the cache's entry to replace next */
    long long hour;                             /* the last hour made into `hour_obj` */
    PyObject *hour_obj;
    /* A line's member set in its hour's map PENDING lines later, its slot asked of memory now. */
    Pending pending[PENDING];
    int pending_from, pending_n;
} EventCounts;

/* A new generation for `m` if this one holds CHANNELS_KEPT (as counts.py: before a key is looked for). */
static void memo_turn(Memo *m) {
    if (m->of->n < CHANNELS_KEPT) return;
    Generation *old = m->before;
    generation_empty(old);
    m->before = m->of;
    m->of = old;
}

/* `len` bytes put at the end of g's arena: their place, or -1 with MemoryError. */
static Py_ssize_t arena_put(Generation *g, const char *bytes, Py_ssize_t len) {
    if (g->ids_len + len > g->ids_room) {
        Py_ssize_t room = (g->ids_len + len) * 2 + 4096;
        char *grown = PyMem_Realloc(g->ids, room);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        g->ids = grown;
        g->ids_room = room;
    }
    if (len > 0) memcpy(g->ids + g->ids_len, bytes, len);
    g->ids_len += len;
    return g->ids_len - len;
}

/* The entry of `key` in m's generation, made (its channel None, no member) if it was not there;
 * NULL with MemoryError. The generation turns first if it is full. */
static Remembered *memo_slot(Memo *m, const char *key, Py_ssize_t len) {
    memo_turn(m);
    Generation *g = m->of;
    Py_hash_t hash = _Py_HashBytes(key, len);
    uint32_t *slot = generation_slot(g, hash, key, len);
    if (*slot != 0) return &g->entries[*slot - 1];
    Py_ssize_t at = arena_put(g, key, len);
    if (at < 0) return NULL;
    Remembered *r = &g->entries[g->n];
    *r = (Remembered){hash, at, len, 0, -1, Py_NewRef(Py_None)};
    *slot = (uint32_t)++g->n;
    return r;
}

/* The entry of `key` in m's generation, else in the one before (*in: which), or NULL. */
static Remembered *memo_entry(Memo *m, const char *key, Py_ssize_t len, Generation **in) {
    Py_hash_t hash = _Py_HashBytes(key, len);
    for (int k = 0; k < 2; k++) {
        Generation *g = k == 0 ? m->of : m->before;
        uint32_t *slot = generation_slot(g, hash, key, len);
        if (*slot != 0) {
            *in = g;
            return &g->entries[*slot - 1];
        }
    }
    return NULL;
}

static int same_user(const Generation *g, const Remembered *r, const char *user, Py_ssize_t user_len) {
    return user != NULL && r->user_len == user_len && memcmp(g->ids + r->user_at, user, (size_t)user_len) == 0;
}

/* The member's and the id's bytes as one key (MEMBER_KEY above); in `stack` if they fit, else in
 * memory the caller frees (*heap). NULL with MemoryError. */
static const char *member_key(const char *user, Py_ssize_t user_len, const char *id, Py_ssize_t id_len,
                              char stack[MEMBER_KEY], char **heap, Py_ssize_t *len) {
    *len = user_len + 1 + id_len;
    *heap = NULL;
    char *key = *len <= MEMBER_KEY ? stack : (*heap = PyMem_Malloc((size_t)*len));
    if (key == NULL) return (const char *)PyErr_NoMemory();
    memcpy(key, user, (size_t)user_len);
    key[user_len] = (char)0xFF;
    memcpy(key + user_len + 1, id, (size_t)id_len);
    return key;
}


/* The event's id remembered with its member (NULL: none) and channel: where the id's last event
 * in this generation was another member's, that member's channel is kept by member and id
 * (counts.py: _remember). One probe of the table an event, as before members were kept. */
static int remember_both(EventCounts *s, const char *user, Py_ssize_t user_len, const char *id, Py_ssize_t id_len,
                         PyObject *channel) {
    Remembered *r = memo_slot(&s->by_id, id, id_len);
    if (r == NULL) return -1;
    Generation *g = s->by_id.of;
    if (r->user_len >= 0 && !same_user(g, r, user, user_len)) {
        char stack[MEMBER_KEY], *heap;
        Py_ssize_t len;
        const char *key = member_key(g->ids + r->user_at, r->user_len, id, id_len, stack, &heap, &len);
        Remembered *theirs = key != NULL ? memo_slot(&s->by_member, key, len) : NULL;
        PyMem_Free(heap);
        if (theirs == NULL) return -1;
        Py_SETREF(theirs->channel, Py_NewRef(r->channel));
    }
    Py_SETREF(r->channel, Py_NewRef(channel));
    if (user == NULL) {
        r->user_len = -1;
    } else if (!same_user(g, r, user, user_len)) {
        Py_ssize_t at = arena_put(g, user, user_len);
        if (at < 0) return -1;
        r->user_at = at;
        r->user_len = user_len;
    }
    return 0;
}

/* The channel named by these bytes (valid UTF-8), new: one of the last few made, or a str made now. */
static PyObject *channel_named(EventCounts *s, const unsigned char *bytes, Py_ssize_t len) {
    if (len > CACHED_CHANNEL) return PyUnicode_DecodeUTF8((const char *)bytes, len, NULL);
    for (int i = 0; i < CACHED_CHANNELS; i++)
        if (s->cached[i].text != NULL && s->cached[i].len == len && memcmp(s->cached[i].bytes, bytes, len) == 0)
            return Py_NewRef(s->cached[i].text);
    PyObject *text = PyUnicode_DecodeUTF8((const char *)bytes, len, NULL);
    if (text == NULL) return NULL;
    int i = s->next_cached;
    s->next_cached = (i + 1) % CACHED_CHANNELS;
    Py_XSETREF(s->cached[i].text, Py_NewRef(text));
    s->cached[i].len = len;
    memcpy(s->cached[i].bytes, bytes, len);
    return text;
}


/* The hour of a time in µs, floored as Python's // floors (-1 µs is in hour -1). */
static inline long long floor_hour(long long us) {
    return us / HOUR_US - (us % HOUR_US < 0);
}

/* The hour of `ts` (µs) as an int, new. */
static PyObject *hour_of(EventCounts *s, PyObject *ts) {
    int overflow = 0;
    long long us = PyLong_Check(ts) ? PyLong_AsLongLongAndOverflow(ts, &overflow) : 0;
    if (!PyLong_Check(ts) || overflow) return PyNumber_FloorDivide(ts, hour_us);
    if (us == -1 && PyErr_Occurred()) return NULL;
    long long h = floor_hour(us);
    if (s->hour_obj == NULL || h != s->hour) {
        PyObject *made = PyLong_FromLongLong(h);
        if (made == NULL) return NULL;
        Py_XSETREF(s->hour_obj, made);
        s->hour = h;
    }
    return Py_NewRef(s->hour_obj);
}

/* counter[key] += 1, as a Counter counts. */
static int bump(PyObject *counter, PyObject *key) {
    PyObject *held = PyDict_GetItemWithError(counter, key);          /* borrowed */
    if (held == NULL && PyErr_Occurred()) return -1;
    PyObject *now = held == NULL ? Py_NewRef(one) : PyNumber_Add(held, one);
    if (now == NULL) return -1;
    int failed = PyDict_SetItem(counter, key, now);
    Py_DECREF(now);
    return failed;
}

/* The map of `hour` (made empty when the hour has none), or NULL with an exception. */
static HourMap *map_of(EventCounts *s, PyObject *hour) {
    if (s->last_map >= 0 && s->maps[s->last_map].hour == hour) return &s->maps[s->last_map];
    PyObject *index = PyDict_GetItemWithError(s->hour_index, hour);          /* borrowed */
    if (index != NULL) {
        s->last_map = PyLong_AsSsize_t(index);
        return &s->maps[s->last_map];
    }
    if (PyErr_Occurred()) return NULL;
    if (s->nmaps == s->maps_room) {
        Py_ssize_t room = s->maps_room * 2 + 16;
        HourMap *grown = PyMem_Realloc(s->maps, room * sizeof(HourMap));
        if (grown == NULL) return (HourMap *)PyErr_NoMemory();
        s->maps = grown;
        s->maps_room = room;
    }
    PyObject *at = PyLong_FromSsize_t(s->nmaps);
    if (at == NULL || PyDict_SetItem(s->hour_index, hour, at) < 0) {
        Py_XDECREF(at);
        return NULL;
    }
    Py_DECREF(at);
    s->maps[s->nmaps] = (HourMap){Py_NewRef(hour), NULL, 0};
    s->last_map = s->nmaps++;
    return &s->maps[s->last_map];
}

static int map_set(HourMap *map, Py_ssize_t number) {
    Py_ssize_t word = number >> 6;
    if (word >= map->nwords) {
        Py_ssize_t nwords = word + 1 + word / 2;
        uint64_t *grown = PyMem_Realloc(map->words, nwords * sizeof(uint64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(grown + map->nwords, 0, (nwords - map->nwords) * sizeof(uint64_t));
        map->words = grown;
        map->nwords = nwords;
    }
    map->words[word] |= UINT64_C(1) << (number & 63);
    return 0;
}

static Py_ssize_t member_number_hashed(EventCounts *s, const char *bytes, Py_ssize_t len, PyObject *name,
                                       Py_hash_t hash);

static inline Py_ssize_t member_number(EventCounts *s, const char *bytes, Py_ssize_t len, PyObject *name) {
    return member_number_hashed(s, bytes, len, name, _Py_HashBytes(bytes, len));
}

/* The oldest pending member numbered and set in its map. */
static int settle_one(EventCounts *s) {
    Pending *p = &s->pending[s->pending_from];
    s->pending_from = (s->pending_from + 1) % PENDING;
    s->pending_n--;
    Py_ssize_t number = member_number_hashed(s, p->bytes, p->len, NULL, p->hash);
    int failed = number < 0 || map_set(&s->maps[p->map], number) < 0;
    Py_CLEAR(p->line);
    return failed ? -1 : 0;
}

/* The pending members let go of, unset. */
static void drop_pending(EventCounts *s) {
    for (; s->pending_n > 0; s->pending_n--, s->pending_from = (s->pending_from + 1) % PENDING)
        Py_CLEAR(s->pending[s->pending_from].line);
}

/* Every pending member set, before the maps are read. -1 with the exception of the first that
 * failed (only memory can), the ones after it dropped. */
static int settle(EventCounts *s) {
    int failed = 0;
    while (!failed && s->pending_n > 0) failed = settle_one(s) < 0;
    drop_pending(s);
    return failed ? -1 : 0;
}

/* The number of a member given as an object (the dict path): a str by its UTF-8 bytes, as the
 * line path numbers names; anything else by equality, as a set would hold it. -1 with an
 * exception (an unhashable member, as set.add raises). */
static Py_ssize_t member_number_of(EventCounts *s, PyObject *user) {
    if (PyUnicode_Check(user)) {
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(user, &len);
        if (utf8 != NULL) return member_number(s, utf8, len, user);
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear();                          /* a lone surrogate: numbered by equality below */
    }
    PyObject *held = PyDict_GetItemWithError(s->others, user);              /* borrowed */
    if (held != NULL) return PyLong_AsSsize_t(held);
    if (PyErr_Occurred()) return -1;
    PyObject *number = PyLong_FromSsize_t(PyList_GET_SIZE(s->by_number));
    if (number == NULL || PyDict_SetItem(s->others, user, number) < 0 || PyList_Append(s->by_number, user) < 0) {
        Py_XDECREF(number);
        return -1;
    }
    Py_DECREF(number);
    return PyList_GET_SIZE(s->by_number) - 1;
}

/* active[hour].add(user), as a defaultdict(set) takes it: the hour's map made first. `number`:
 * the member's, or -1 to number `user` here. */
static int add_active(EventCounts *s, PyObject *hour, PyObject *user, Py_ssize_t number) {
    HourMap *map = map_of(s, hour);
    if (map == NULL) return -1;
    if (number == LATER) return 0;              /* the map is s->last_map: observe_line sets it later */
    if (number < 0 && (number = member_number_of(s, user)) < 0) return -1;
    return map_set(map, number);
}

/* What the counts take of one event: its kind (1 message, 2 join, 0 other), its member (for a
 * message: its number, or -1 and the object to number), its member's bytes (NULL: not a str), its
 * id's bytes and its channel (NULL: not both strings). */
static int count(EventCounts *s, PyObject *ts, int kind, PyObject *user, Py_ssize_t number, const char *user_bytes,
                 Py_ssize_t user_len, const char *id, Py_ssize_t id_len, PyObject *channel) {
    PyObject *hour = hour_of(s, ts);
    if (hour == NULL) return -1;
    s->events++;
    int failed = kind == 1 ? bump(s->messages, hour) < 0 || add_active(s, hour, user, number) < 0
                 : kind == 2 ? bump(s->joins, hour) < 0 : 0;
    Py_DECREF(hour);
    if (failed) return -1;
    return channel != NULL ? remember_both(s, user_bytes, user_len, id, id_len, channel) : 0;
}

/* event.get(key), new. */
static PyObject *get(PyObject *event, PyObject *key) {
    if (PyDict_Check(event)) {
        PyObject *value = PyDict_GetItemWithError(event, key);
        if (value == NULL && PyErr_Occurred()) return NULL;
        return Py_NewRef(value != NULL ? value : Py_None);
    }
    return PyObject_CallMethodOneArg(event, s_get, key);
}

static int kind_of(PyObject *kind) {
    if (!PyUnicode_Check(kind)) return 0;
    return PyUnicode_CompareWithASCIIString(kind, "message") == 0 ? 1
           : PyUnicode_CompareWithASCIIString(kind, "join") == 0 ? 2 : 0;
}

static PyObject *observe_dict(EventCounts *s, PyObject *event, PyObject *ts) {
    PyObject *kind = get(event, s_type), *user = NULL, *channel = NULL, *event_id = NULL;
    if (kind == NULL) return NULL;
    int k = kind_of(kind);
    Py_DECREF(kind);
    if ((user = get(event, s_user)) == NULL) return NULL;
    PyObject *result = NULL;
    if ((channel = get(event, s_channel)) == NULL || (event_id = get(event, s_id)) == NULL) goto done;
    PyObject *owner = NULL, *user_owner = NULL;
    const char *id = NULL, *member = NULL;
    Py_ssize_t id_len = 0, member_len = 0;
    int both = PyUnicode_Check(channel) && PyUnicode_Check(event_id);
    if (both && (id = id_bytes(event_id, &id_len, &owner)) == NULL) goto done;
    if (both && PyUnicode_Check(user) && (member = id_bytes(user, &member_len, &user_owner)) == NULL) {
        Py_XDECREF(owner);
        goto done;
    }
    if (count(s, ts, k, k == 1 ? user : NULL, -1, member, member_len, id, id_len, both ? channel : NULL) == 0)
        result = Py_NewRef(Py_None);
    Py_XDECREF(owner);
    Py_XDECREF(user_owner);
done:
    Py_XDECREF(user);
    Py_XDECREF(channel);
    Py_XDECREF(event_id);
    return result;
}

static PyObject *EventCounts_observe(EventCounts *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "observe(event, ts)");
        return NULL;
    }
    return observe_dict(s, args[0], args[1]);
}

/* ---- a line's four fields, scanned ------------------------------------------------------- */

/* The four fields in the record scan's order (_noted.h), and what a value was: ABSENT, TEXT (a
 * plain string) or OTHER, as the record scan notes them too. */
enum { F_TYPE = NOTED_TYPE, F_USER = NOTED_USER, F_CHANNEL = NOTED_CHANNEL, F_ID = NOTED_ID, FOUR = NOTED_FIELDS };
enum { ABSENT = NOTED_ABSENT, TEXT = NOTED_TEXT, OTHER = NOTED_OTHER };

typedef NotedValue Found;

static int field_named(const unsigned char *key, Py_ssize_t len) {
    switch (len) {
    case 2: return memcmp(key, "id", 2) == 0 ? F_ID : -1;
    case 4: return memcmp(key, "type", 4) == 0 ? F_TYPE : memcmp(key, "user", 4) == 0 ? F_USER : -1;
    case 7: return memcmp(key, "channel", 7) == 0 ? F_CHANNEL : -1;
    default: return -1;
    }
}

/* The line's four fields in found[]: 1, or 0 when the scan is not sure of them. */
static int scan_four(const unsigned char *p, Py_ssize_t n, Found found[FOUR]) {
    Cursor c = {p, p + n};
    for (int f = 0; f < FOUR; f++) found[f].is = ABSENT;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return 0;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') c.p++;
    else for (;;) {
        const unsigned char *key, *value;
        Py_ssize_t key_len, value_len;
        int escaped;
        if (c.p >= c.end || *c.p != '"' || !scan_string(&c, &key, &key_len, &escaped) || escaped) return 0;
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') return 0;
        c.p++;
        skip_ws(&c);
        int f = field_named(key, key_len);
        if (f < 0) {
            if (!skip_value(&c, 1)) return 0;
        } else if (c.p < c.end && *c.p == '"') {      /* a key twice: the last, as orjson keeps it */
            if (!scan_string(&c, &value, &value_len, &escaped) || escaped) return 0;
            found[f] = (Found){TEXT, value, value_len};
        } else {
            if (!skip_value(&c, 1)) return 0;
            found[f].is = OTHER;
        }
        skip_ws(&c);
        if (c.p >= c.end) return 0;
        if (*c.p == '}') {
            c.p++;
            break;
        }
        if (*c.p != ',') return 0;
        c.p++;
        skip_ws(&c);
    }
    skip_ws(&c);
    return c.p == c.end;
}

static int text_is(const Found *f, const char *word, Py_ssize_t len) {
    return f->is == TEXT && f->len == len && memcmp(f->start, word, len) == 0;
}

/* The number of the member named by these UTF-8 bytes: given in order of first sight, the name
 * made a str then (or `name`, when given, is it) and kept by number. -1 with an exception when
 * the bytes are not UTF-8. */
static Py_ssize_t member_number_hashed(EventCounts *s, const char *bytes, Py_ssize_t len, PyObject *name,
                                       Py_hash_t hash) {
    size_t i = (size_t)hash & s->members_mask;
    Py_ssize_t head = len < NAME_HEAD ? len : NAME_HEAD;
    for (; s->members[i].name != NULL; i = (i + 1) & s->members_mask) {
        const Named *m = &s->members[i];
        if (m->hash != hash || m->len != (uint64_t)len || memcmp(m->head, bytes, head) != 0) continue;
        if (len <= NAME_HEAD) return m->number;
        Py_ssize_t held_len;
        const char *held = PyUnicode_AsUTF8AndSize(m->name, &held_len);    /* kept by the str */
        if (held != NULL && held_len == len && memcmp(held, bytes, len) == 0) return m->number;
    }
    if ((uint64_t)len > UINT32_MAX || PyList_GET_SIZE(s->by_number) >= (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a member's name or the members are too many to count");
        return -1;
    }
    name = name != NULL ? Py_NewRef(name) : PyUnicode_DecodeUTF8(bytes, len, NULL);
    if (name == NULL) return -1;
    if (PyList_Append(s->by_number, name) < 0) {
        Py_DECREF(name);
        return -1;
    }
    if ((size_t)(s->members_n + 1) * 2 > s->members_mask + 1) {       /* at most half full */
        size_t room = (s->members_mask + 1) * 2;
        Named *grown = huge_calloc(room * sizeof(Named));         /* 80 MB at 1M members: huge pages */
        if (grown == NULL) {
            Py_DECREF(name);                    /* by_number keeps it: numbered, not found again */
            PyErr_NoMemory();
            return -1;
        }
        for (size_t j = 0; j <= s->members_mask; j++) {
            if (s->members[j].name == NULL) continue;
            size_t k = (size_t)s->members[j].hash & (room - 1);
            while (grown[k].name != NULL) k = (k + 1) & (room - 1);
            grown[k] = s->members[j];
        }
        huge_free(s->members, (s->members_mask + 1) * sizeof(Named));
        s->members = grown;
        s->members_mask = room - 1;
        for (i = (size_t)hash & s->members_mask; s->members[i].name != NULL; i = (i + 1) & s->members_mask) {}
    }
    Named *m = &s->members[i];
    *m = (Named){hash, name, (uint32_t)(PyList_GET_SIZE(s->by_number) - 1), (uint32_t)len, {0}};
    memcpy(m->head, bytes, head);
    s->members_n++;
    return s->members[i].number;
}

/* The event of `line` counted from its four fields found (by scan_four or the record scan): 1;
 * 0 when the line is left to orjson (a member or an id that is not UTF-8), nothing counted; -1
 * with an exception. */
static int observe_found(EventCounts *s, PyObject *line, const Found found[FOUR], PyObject *ts) {
    int kind = text_is(&found[F_TYPE], "message", 7) ? 1 : text_is(&found[F_TYPE], "join", 4) ? 2 : 0;
    if (kind != 1 || found[F_USER].is != OTHER) {
        /* Every string made before anything is counted, so that a failure leaves the dict path
         * a line not counted at all. */
        PyObject *channel = NULL;
        Py_ssize_t number = -1;             /* the member's, for a message; -1: None's, numbered in count */
        int made = 1;
        const char *user = (const char *)found[F_USER].start;
        Py_ssize_t user_len = found[F_USER].len;
        if (kind == 1 && found[F_USER].is == TEXT) {
            /* numbered later (settle_one), as member_number would now: its one failure but
             * memory's, bytes that are not UTF-8 (a name once made is), said now */
            number = LATER;
            if (!utf8_valid((const unsigned char *)user, user_len)) {
                PyErr_SetString(PyExc_UnicodeDecodeError, "a member that is not UTF-8");   /* to orjson, below */
                made = 0;
            }
        }
        int both = found[F_CHANNEL].is == TEXT && found[F_ID].is == TEXT;
        if (made && both && !utf8_valid(found[F_ID].start, found[F_ID].len)) {
            PyErr_SetString(PyExc_UnicodeDecodeError, "an id that is not UTF-8");    /* to orjson, below */
            made = 0;
        }
        /* the member and the id make a key of the memo's: a member not read as plain UTF-8 here
         * (a message's was checked above) goes to orjson's dict too */
        if (made && both && kind != 1 && (found[F_USER].is != TEXT
                                          || !utf8_valid((const unsigned char *)user, user_len))) {
            PyErr_SetString(PyExc_UnicodeDecodeError, "a member not read here");     /* to orjson, below */
            made = 0;
        }
        if (made && both) made = (channel = channel_named(s, found[F_CHANNEL].start, found[F_CHANNEL].len)) != NULL;
        int counted = made ? count(s, ts, kind, Py_None, number, found[F_USER].is == TEXT ? user : NULL, user_len,
                                   (const char *)found[F_ID].start, found[F_ID].len, channel) : -1;
        Py_XDECREF(channel);
        if (counted == 0 && number == LATER) {
            if (s->pending_n == PENDING && settle_one(s) < 0) return -1;
            Py_hash_t hash = _Py_HashBytes(user, user_len);
            __builtin_prefetch(&s->members[(size_t)hash & s->members_mask]);
            int at = (s->pending_from + s->pending_n++) % PENDING;
            s->pending[at] = (Pending){hash, user, user_len, s->last_map, Py_NewRef(line)};
        }
        if (counted == 0) return 1;
        if (made) return -1;                /* the counting failed, not the scan */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return -1;
        PyErr_Clear();
    }
    return 0;
}

/* The event of `line` counted from the dict orjson makes of it. */
static PyObject *observe_loaded(EventCounts *s, PyObject *line, PyObject *ts) {
    PyObject *event = PyObject_CallOneArg(orjson_loads, line);
    if (event == NULL) return NULL;
    PyObject *result = observe_dict(s, event, ts);
    Py_DECREF(event);
    return result;
}

/* The event of `line` counted from its four fields where they were found (`found`, or NULL),
 * else from orjson's dict. */
static PyObject *observe_from(EventCounts *s, PyObject *line, const Found *found, PyObject *ts) {
    int counted = found != NULL ? observe_found(s, line, found, ts) : 0;
    if (counted < 0) return NULL;
    return counted > 0 ? Py_NewRef(Py_None) : observe_loaded(s, line, ts);
}

static PyObject *observe_line(EventCounts *s, PyObject *line, PyObject *ts) {
    if (!PyBytes_Check(line)) {
        PyErr_SetString(PyExc_TypeError, "observe_line(line: bytes, ts)");
        return NULL;
    }
    Found found[FOUR];
    int scanned = scan_four((const unsigned char *)PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line), found);
    return observe_from(s, line, scanned ? found : NULL, ts);
}

/* observe_line of the line the record scan has just taken, from where it found the four fields
 * (`noted`, _noted.h), without scanning the line again; the scan where the record scan did not
 * take this line or was unsure of a value (an escaped string). */
static PyObject *observe_noted(EventCounts *s, PyObject *line, const Noted *noted, PyObject *ts) {
    if (noted == NULL || !PyBytes_Check(line) || noted->line != (const unsigned char *)PyBytes_AS_STRING(line))
        return observe_line(s, line, ts);
    for (int f = 0; f < FOUR; f++)
        if (noted->value[f].is == NOTED_ESCAPED) return observe_line(s, line, ts);
    return observe_from(s, line, noted->value, ts);
}

static PyObject *EventCounts_observe_line(EventCounts *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "observe_line(line: bytes, ts)");
        return NULL;
    }
    return observe_line(s, args[0], args[1]);
}

/* ---- the record loop's decoder, observing ------------------------------------------------- */
/* replay.observed_timed in C: decode_timed(line, clock), and the line observed when it gave a time,
 * or when the clock stopped at one of `stops` (late, timers due: evaluated all the same, at the
 * clock's `ts`). The Python wrapper's frame was ~0.1 µs of each event. Given the decoder's `noted`
 * (a record decoder made `noting`), the four fields are read where its scan found them. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *decode_timed, *stops;
    EventCounts *counts;
    PyObject *capsule;                  /* held, or NULL; `noted` points into the decoder it holds */
    const Noted *noted;
} Observing;

static PyObject *Observing_call(Observing *o, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    PyObject *pair = PyObject_Vectorcall(o->decode_timed, args, nargsf, kwnames);
    if (pair == NULL) return NULL;
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || PyVectorcall_NARGS(nargsf) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "observing: decode_timed(line, clock) gives (record, ts)");
        return NULL;
    }
    PyObject *ts = PyTuple_GET_ITEM(pair, 1), *observed = NULL;
    if (ts != Py_None) observed = observe_noted(o->counts, args[0], o->noted, ts);
    else {
        PyObject *stop = PyObject_GetAttrString(args[1], "stop");
        int stopped = stop != NULL ? PySequence_Contains(o->stops, stop) : -1;
        Py_XDECREF(stop);
        if (stopped == 0) return pair;
        PyObject *at = stopped > 0 ? PyObject_GetAttrString(args[1], "ts") : NULL;
        if (at != NULL) observed = observe_noted(o->counts, args[0], o->noted, at);
        Py_XDECREF(at);
    }
    if (observed == NULL) {
        Py_DECREF(pair);
        return NULL;
    }
    Py_DECREF(observed);
    return pair;
}

static int Observing_traverse(Observing *o, visitproc visit, void *arg) {
    Py_VISIT(o->decode_timed);
    Py_VISIT(o->stops);
    Py_VISIT(o->counts);
    Py_VISIT(o->capsule);
    return 0;
}

static int Observing_clear(Observing *o) {
    Py_CLEAR(o->decode_timed);
    Py_CLEAR(o->stops);
    Py_CLEAR(o->counts);
    Py_CLEAR(o->capsule);
    o->noted = NULL;
    return 0;
}

static void Observing_dealloc(Observing *o) {
    PyObject_GC_UnTrack(o);
    Observing_clear(o);
    PyObject_GC_Del(o);
}

static PyTypeObject ObservingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.report._observe.Observing",
    .tp_basicsize = sizeof(Observing),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "decode_timed(line, clock), observing what the record loop evaluates (EventCounts.observing)",
    .tp_vectorcall_offset = offsetof(Observing, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_dealloc = (destructor)Observing_dealloc,
    .tp_traverse = (traverseproc)Observing_traverse,
    .tp_clear = (inquiry)Observing_clear,
};

static PyObject *EventCounts_observing(EventCounts *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 2 || nargs > 3 || !PyCallable_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "observing(decode_timed, stops[, noted])");
        return NULL;
    }
    const Noted *noted = NULL;
    if (nargs == 3 && args[2] != Py_None && (noted = PyCapsule_GetPointer(args[2], NOTED_CAPSULE)) == NULL)
        return NULL;
    Observing *o = PyObject_GC_New(Observing, &ObservingType);
    if (o == NULL) return NULL;
    o->vectorcall = (vectorcallfunc)Observing_call;
    o->decode_timed = Py_NewRef(args[0]);
    o->stops = Py_NewRef(args[1]);
    o->counts = (EventCounts *)Py_NewRef(s);
    o->capsule = noted != NULL ? Py_NewRef(args[2]) : NULL;
    o->noted = noted;
    PyObject_GC_Track(o);
    return (PyObject *)o;
}

/* The channel of `user`'s last event `event_id`, or where they had none kept, of the last event
 * with that id (counts.py: channel), new. */
static PyObject *channel_of(EventCounts *s, PyObject *user, PyObject *event_id) {
    if (!PyUnicode_Check(event_id)) return Py_NewRef(Py_None);      /* the memo holds str ids alone */
    PyObject *owner, *user_owner = NULL;
    Py_ssize_t len;
    const char *id = id_bytes(event_id, &len, &owner);
    if (id == NULL) return NULL;
    Generation *in;
    Remembered *last = memo_entry(&s->by_id, id, len, &in);
    PyObject *channel = last != NULL ? last->channel : Py_None;
    if (last != NULL && PyUnicode_Check(user)) {
        Py_ssize_t user_len, key_len;
        char stack[MEMBER_KEY], *heap = NULL;
        const char *member = id_bytes(user, &user_len, &user_owner), *key = NULL;
        if (member == NULL || (!same_user(in, last, member, user_len)
                               && (key = member_key(member, user_len, id, len, stack, &heap, &key_len)) == NULL)) {
            Py_XDECREF(owner);
            Py_XDECREF(user_owner);
            return NULL;
        }
        Remembered *theirs = key != NULL ? memo_entry(&s->by_member, key, key_len, &in) : NULL;
        if (theirs != NULL) channel = theirs->channel;
        PyMem_Free(heap);
    }
    channel = Py_NewRef(channel);
    Py_XDECREF(owner);
    Py_XDECREF(user_owner);
    return channel;
}

static PyObject *EventCounts_channel(EventCounts *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "channel(user, event_id)");
        return NULL;
    }
    return channel_of(s, args[0], args[1]);
}

static PyObject *EventCounts_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "EventCounts() takes no arguments");
        return NULL;
    }
    EventCounts *s = (EventCounts *)type->tp_alloc(type, 0);
    if (s == NULL) return NULL;
    s->messages = PyDict_New();
    s->joins = PyDict_New();
    s->by_number = PyList_New(0);
    s->others = PyDict_New();
    s->hour_index = PyDict_New();
    s->last_map = -1;
    s->by_id.of = generation_new();
    s->by_id.before = generation_new();
    s->by_member.of = generation_new();
    s->by_member.before = generation_new();
    s->members_mask = 1023;
    if ((s->members = huge_calloc((s->members_mask + 1) * sizeof(Named))) == NULL) PyErr_NoMemory();
    if (s->messages == NULL || s->joins == NULL || s->by_number == NULL || s->others == NULL || s->hour_index == NULL
        || s->by_id.of == NULL || s->by_id.before == NULL || s->by_member.of == NULL || s->by_member.before == NULL
        || s->members == NULL) {
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

static int EventCounts_traverse(EventCounts *s, visitproc visit, void *arg) {
    Py_VISIT(s->messages);
    Py_VISIT(s->joins);
    Py_VISIT(s->by_number);
    Py_VISIT(s->others);
    Py_VISIT(s->hour_index);
    return 0;
}

static int EventCounts_clear(EventCounts *s) {
    drop_pending(s);
    Py_CLEAR(s->messages);
    Py_CLEAR(s->joins);
    Py_CLEAR(s->by_number);
    Py_CLEAR(s->others);
    Py_CLEAR(s->hour_index);
    Py_CLEAR(s->hour_obj);
    return 0;
}

static void EventCounts_dealloc(EventCounts *s) {
    PyObject_GC_UnTrack(s);
    EventCounts_clear(s);
    /* the memo, the cache, the members' table and the hours' maps hold strs and ints alone, which
     * lead nowhere: freed here, not cleared above */
    generation_free(s->by_id.of);
    generation_free(s->by_id.before);
    generation_free(s->by_member.of);
    generation_free(s->by_member.before);
    for (int i = 0; i < CACHED_CHANNELS; i++) Py_XDECREF(s->cached[i].text);
    if (s->members != NULL)
        for (size_t i = 0; i <= s->members_mask; i++) Py_XDECREF(s->members[i].name);
    huge_free(s->members, (s->members_mask + 1) * sizeof(Named));
    for (Py_ssize_t i = 0; i < s->nmaps; i++) {
        Py_DECREF(s->maps[i].hour);
        PyMem_Free(s->maps[i].words);
    }
    PyMem_Free(s->maps);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* The members in any of `hours` (an iterable of hours; None: every hour) as one map, in
 * *words[*nwords] (PyMem, the caller's to free). -1 with an exception. */
static int union_of(EventCounts *s, PyObject *hours, uint64_t **words, Py_ssize_t *nwords) {
    *words = NULL;
    *nwords = 0;
    if (settle(s) < 0) return -1;
    PyObject *it = hours == Py_None ? NULL : PyObject_GetIter(hours), *hour;
    if (it == NULL && hours != Py_None) return -1;
    for (Py_ssize_t i = 0;; i++) {
        HourMap *map;
        if (it == NULL) {
            if (i >= s->nmaps) break;
            map = &s->maps[i];
        } else {
            if ((hour = PyIter_Next(it)) == NULL) break;
            PyObject *index = PyDict_GetItemWithError(s->hour_index, hour);
            Py_DECREF(hour);
            if (index == NULL) {
                if (PyErr_Occurred()) break;
                continue;
            }
            map = &s->maps[PyLong_AsSsize_t(index)];
        }
        if (map->nwords > *nwords) {
            uint64_t *grown = PyMem_Realloc(*words, map->nwords * sizeof(uint64_t));
            if (grown == NULL) {
                PyErr_NoMemory();
                break;
            }
            memset(grown + *nwords, 0, (map->nwords - *nwords) * sizeof(uint64_t));
            *words = grown;
            *nwords = map->nwords;
        }
        for (Py_ssize_t w = 0; w < map->nwords; w++) (*words)[w] |= map->words[w];
    }
    Py_XDECREF(it);
    if (PyErr_Occurred()) {
        PyMem_Free(*words);
        *words = NULL;
        return -1;
    }
    return 0;
}

static PyObject *EventCounts_active_count(EventCounts *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "active_count(hours=None)");
        return NULL;
    }
    uint64_t *words;
    Py_ssize_t nwords, n = 0;
    if (union_of(s, nargs ? args[0] : Py_None, &words, &nwords) < 0) return NULL;
    for (Py_ssize_t w = 0; w < nwords; w++) n += __builtin_popcountll(words[w]);
    PyMem_Free(words);
    return PyLong_FromSsize_t(n);
}

static PyObject *EventCounts_active_shared(EventCounts *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "active_shared(hours, other_hours)");
        return NULL;
    }
    uint64_t *a, *b;
    Py_ssize_t na, nb, n = 0;
    if (union_of(s, args[0], &a, &na) < 0) return NULL;
    if (union_of(s, args[1], &b, &nb) < 0) {
        PyMem_Free(a);
        return NULL;
    }
    for (Py_ssize_t w = 0; w < na && w < nb; w++) n += __builtin_popcountll(a[w] & b[w]);
    PyMem_Free(a);
    PyMem_Free(b);
    return PyLong_FromSsize_t(n);
}

/* hour → the set of members who posted, made from the maps (the definition's form: tests). */
static PyObject *EventCounts_get_active(EventCounts *s, void *Py_UNUSED(closure)) {
    if (settle(s) < 0) return NULL;
    PyObject *active = PyDict_New();
    for (Py_ssize_t i = 0; active != NULL && i < s->nmaps; i++) {
        PyObject *members = PySet_New(NULL);
        for (Py_ssize_t w = 0; members != NULL && w < s->maps[i].nwords; w++)
            for (uint64_t bits = s->maps[i].words[w]; bits; bits &= bits - 1)
                if (PySet_Add(members, PyList_GET_ITEM(s->by_number, w * 64 + __builtin_ctzll(bits))) < 0) {
                    Py_CLEAR(members);
                    break;
                }
        if (members == NULL || PyDict_SetItem(active, s->maps[i].hour, members) < 0) Py_CLEAR(active);
        Py_XDECREF(members);
    }
    return active;
}

static PyGetSetDef EventCounts_getset[] = {
    {"active", (getter)EventCounts_get_active, NULL, "hour → the set of members who posted (made anew)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef EventCounts_methods[] = {
    {"observe", (PyCFunction)(void (*)(void))EventCounts_observe, METH_FASTCALL,
     "observe(event, ts): one event, as the general decoder made it, at its time in µs"},
    {"observe_line", (PyCFunction)(void (*)(void))EventCounts_observe_line, METH_FASTCALL,
     "observe_line(line, ts): one event by its line, which a decoder has taken"},
    {"observing", (PyCFunction)(void (*)(void))EventCounts_observing, METH_FASTCALL,
     "observing(decode_timed, stops[, noted]): decode_timed(line, clock) that also observes each line it times, "
     "or whose clock stops at one of stops (replay.observed_timed); with its record decoder's noted(), the "
     "fields are read where the decoder found them"},
    {"active_count", (PyCFunction)(void (*)(void))EventCounts_active_count, METH_FASTCALL,
     "active_count(hours=None): how many members posted in any of the hours (every hour: None)"},
    {"active_shared", (PyCFunction)(void (*)(void))EventCounts_active_shared, METH_FASTCALL,
     "active_shared(hours, other_hours): how many members posted in both spans"},
    {"channel", (PyCFunction)(void (*)(void))EventCounts_channel, METH_FASTCALL,
     "channel(user, event_id): the channel the event came from, if it is still kept (falsy otherwise)"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef EventCounts_members[] = {
    {"events", T_LONGLONG, offsetof(EventCounts, events), READONLY, "events observed"},
    {"messages", T_OBJECT_EX, offsetof(EventCounts, messages), READONLY, "hour → messages"},
    {"joins", T_OBJECT_EX, offsetof(EventCounts, joins), READONLY, "hour → joins"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject EventCountsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.report._observe.EventCounts",
    .tp_basicsize = sizeof(EventCounts),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "the report's counts of events (report/counts.py: PythonEventCounts)",
    .tp_new = EventCounts_new,
    .tp_dealloc = (destructor)EventCounts_dealloc,
    .tp_traverse = (traverseproc)EventCounts_traverse,
    .tp_clear = (inquiry)EventCounts_clear,
    .tp_methods = EventCounts_methods,
    .tp_members = EventCounts_members,
    .tp_getset = EventCounts_getset,
};

/* ---- decisions ----------------------------------------------------------------------------- */
/* ReportData.python_observe_decisions in C (report/collect.py, the definition): each decision
 * counted by its hour and (policy/rule, action), a moderation decision by its member, and any by
 * its channel or its event's. In Python that was ~0.9 µs a decision, half the pack's report
 * (six decisions in ten events). A decision is a dict or a record of output/_decisions.c, read
 * through the mapping protocol: a record's time is a str it writes when read. */
#define KEYS_KEPT 64                  /* (policy, rule, action) by the strs' addresses: the pool's */

typedef struct {
    PyObject_HEAD
    PyObject *per_hour, *totals, *by_member, *by_channel;   /* ReportData's (dict subclasses) */
    PyObject *moderation, *counter, *hour_of;               /* a set of actions, Counter, ts -> hour */
    EventCounts *seen;                                      /* the event id -> channel memo */
    struct { PyObject *policy, *rule, *action, *key; int moderation; } keys[KEYS_KEPT];
    int nkeys;
} DecisionCounts;

static PyObject *s_ts, *s_policy, *s_rule, *s_action, *s_event_id;

/* (policy/rule, action) for these three strs, borrowed, and whether the action is a moderation
 * one; remembered by the strs' addresses (held). NULL with an exception. */
static PyObject *key_of(DecisionCounts *dc, PyObject *policy, PyObject *rule, PyObject *action, int *moderation) {
    for (int i = 0; i < dc->nkeys; i++)
        if (dc->keys[i].policy == policy && dc->keys[i].rule == rule && dc->keys[i].action == action) {
            *moderation = dc->keys[i].moderation;
            return dc->keys[i].key;
        }
    /* f"{policy}/{rule}": each formatted as an f-string formats it */
    PyObject *name = NULL, *key, *p = PyObject_Format(policy, NULL), *r = p != NULL ? PyObject_Format(rule, NULL) : NULL;
    if (r != NULL) name = PyUnicode_FromFormat("%U/%U", p, r);
    Py_XDECREF(p);
    Py_XDECREF(r);
    if (name == NULL) return NULL;
    key = PyTuple_Pack(2, name, action);
    Py_DECREF(name);
    if (key == NULL) return NULL;
    int is = PySequence_Contains(dc->moderation, action);
    if (is < 0) {
        Py_DECREF(key);
        return NULL;
    }
    if (dc->nkeys == KEYS_KEPT) {               /* full: the first kept goes */
        Py_DECREF(dc->keys[0].policy);
        Py_DECREF(dc->keys[0].rule);
        Py_DECREF(dc->keys[0].action);
        Py_DECREF(dc->keys[0].key);
        memmove(&dc->keys[0], &dc->keys[1], (KEYS_KEPT - 1) * sizeof dc->keys[0]);
        dc->nkeys--;
    }
    int i = dc->nkeys++;
    dc->keys[i].policy = Py_NewRef(policy);
    dc->keys[i].rule = Py_NewRef(rule);
    dc->keys[i].action = Py_NewRef(action);
    dc->keys[i].key = key;
    dc->keys[i].moderation = is;
    *moderation = is;
    return key;
}

/* The hour of a decision's time, new: in C for the forms rfc3339_us reads, else hour_of(ts). */
static PyObject *decision_hour(DecisionCounts *dc, PyObject *ts) {
    int64_t us;
    if (text_us(ts, &us)) return PyLong_FromLongLong(floor_hour(us));
    return PyObject_CallOneArg(dc->hour_of, ts);
}

static int count_decision(DecisionCounts *dc, PyObject *d) {
    PyObject *ts = NULL, *policy = NULL, *rule = NULL, *action = NULL, *hour = NULL, *user = NULL;
    PyObject *channel = NULL, *event_id = NULL;
    int failed = -1, moderation;
    if ((ts = PyObject_GetItem(d, s_ts)) == NULL || (hour = decision_hour(dc, ts)) == NULL
        || (policy = PyObject_GetItem(d, s_policy)) == NULL || (rule = PyObject_GetItem(d, s_rule)) == NULL
        || (action = PyObject_GetItem(d, s_action)) == NULL)
        goto done;
    PyObject *key = key_of(dc, policy, rule, action, &moderation);          /* borrowed */
    if (key == NULL) goto done;
    PyObject *counts = PyDict_GetItemWithError(dc->per_hour, hour);         /* borrowed */
    if (counts == NULL) {
        if (PyErr_Occurred()) goto done;
        PyObject *made = PyObject_CallNoArgs(dc->counter);
        if (made == NULL || PyDict_SetItem(dc->per_hour, hour, made) < 0) {
            Py_XDECREF(made);
            goto done;
        }
        Py_DECREF(made);
        counts = made;
    }
    if (bump(counts, key) < 0 || bump(dc->totals, key) < 0) goto done;
    if (moderation) {
        if ((user = get(d, s_user)) == NULL) goto done;
        int truthy = PyObject_IsTrue(user);
        if (truthy < 0 || (truthy && bump(dc->by_member, user) < 0)) goto done;
    }
    if ((channel = get(d, s_channel)) == NULL) goto done;
    int truthy = PyObject_IsTrue(channel);
    if (truthy < 0) goto done;
    if (!truthy) {          /* d.get("channel") or seen.channel(d.get("user"), d.get("event_id") or "") */
        if ((event_id = get(d, s_event_id)) == NULL || (truthy = PyObject_IsTrue(event_id)) < 0) goto done;
        if (!truthy) Py_SETREF(event_id, PyUnicode_New(0, 0));                 /* `or ""` */
        if (event_id == NULL || (user == NULL && (user = get(d, s_user)) == NULL)) goto done;
        Py_SETREF(channel, channel_of(dc->seen, user, event_id));
        if (channel == NULL || (truthy = PyObject_IsTrue(channel)) < 0) goto done;
    }
    if (truthy && bump(dc->by_channel, channel) < 0) goto done;
    failed = 0;
done:
    Py_XDECREF(ts);
    Py_XDECREF(hour);
    Py_XDECREF(policy);
    Py_XDECREF(rule);
    Py_XDECREF(action);
    Py_XDECREF(user);
    Py_XDECREF(channel);
    Py_XDECREF(event_id);
    return failed;
}

static PyObject *DecisionCounts_observe(DecisionCounts *dc, PyObject *decisions) {
    PyObject *seq = PySequence_Fast(decisions, "observe_decisions(decisions: a sequence)");
    if (seq == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
        if (count_decision(dc, PySequence_Fast_GET_ITEM(seq, i)) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    Py_DECREF(seq);
    return Py_NewRef(Py_None);
}

static PyObject *DecisionCounts_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"per_hour", "totals", "by_member", "by_channel", "moderation", "counter", "hour_of",
                            "seen", NULL};
    PyObject *o[7];
    EventCounts *seen;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!O!O!OOOO!:DecisionCounts", names, &PyDict_Type, &o[0],
                                     &PyDict_Type, &o[1], &PyDict_Type, &o[2], &PyDict_Type, &o[3], &o[4], &o[5],
                                     &o[6], &EventCountsType, &seen))
        return NULL;
    DecisionCounts *dc = (DecisionCounts *)type->tp_alloc(type, 0);
    if (dc == NULL) return NULL;
    dc->per_hour = Py_NewRef(o[0]);
    dc->totals = Py_NewRef(o[1]);
    dc->by_member = Py_NewRef(o[2]);
    dc->by_channel = Py_NewRef(o[3]);
    dc->moderation = Py_NewRef(o[4]);
    dc->counter = Py_NewRef(o[5]);
    dc->hour_of = Py_NewRef(o[6]);
    dc->seen = (EventCounts *)Py_NewRef(seen);
    return (PyObject *)dc;
}

static int DecisionCounts_traverse(DecisionCounts *dc, visitproc visit, void *arg) {
    Py_VISIT(dc->per_hour);
    Py_VISIT(dc->totals);
    Py_VISIT(dc->by_member);
    Py_VISIT(dc->by_channel);
    Py_VISIT(dc->moderation);
    Py_VISIT(dc->counter);
    Py_VISIT(dc->hour_of);
    Py_VISIT(dc->seen);
    for (int i = 0; i < dc->nkeys; i++) {
        Py_VISIT(dc->keys[i].policy);
        Py_VISIT(dc->keys[i].rule);
        Py_VISIT(dc->keys[i].action);
        Py_VISIT(dc->keys[i].key);
    }
    return 0;
}

static int DecisionCounts_clear(DecisionCounts *dc) {
    Py_CLEAR(dc->per_hour);
    Py_CLEAR(dc->totals);
    Py_CLEAR(dc->by_member);
    Py_CLEAR(dc->by_channel);
    Py_CLEAR(dc->moderation);
    Py_CLEAR(dc->counter);
    Py_CLEAR(dc->hour_of);
    Py_CLEAR(dc->seen);
    for (int i = 0; i < dc->nkeys; i++) {
        Py_CLEAR(dc->keys[i].policy);
        Py_CLEAR(dc->keys[i].rule);
        Py_CLEAR(dc->keys[i].action);
        Py_CLEAR(dc->keys[i].key);
    }
    dc->nkeys = 0;
    return 0;
}

static void DecisionCounts_dealloc(DecisionCounts *dc) {
    PyObject_GC_UnTrack(dc);
    DecisionCounts_clear(dc);
    Py_TYPE(dc)->tp_free((PyObject *)dc);
}

static PyMethodDef DecisionCounts_methods[] = {
    {"observe", (PyCFunction)DecisionCounts_observe, METH_O,
     "observe(decisions): each counted, in order (ReportData.python_observe_decisions)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DecisionCountsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.report._observe.DecisionCounts",
    .tp_basicsize = sizeof(DecisionCounts),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "the report's counts of decisions (report/collect.py: ReportData.python_observe_decisions)",
    .tp_new = DecisionCounts_new,
    .tp_dealloc = (destructor)DecisionCounts_dealloc,
    .tp_traverse = (traverseproc)DecisionCounts_traverse,
    .tp_clear = (inquiry)DecisionCounts_clear,
    .tp_methods = DecisionCounts_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_observe", NULL, 0, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__observe(void) {
    PyObject *orjson = PyImport_ImportModule("orjson");
    if (orjson == NULL) return NULL;
    orjson_loads = PyObject_GetAttrString(orjson, "loads");
    Py_DECREF(orjson);
    one = PyLong_FromLong(1);
    hour_us = PyLong_FromLongLong(HOUR_US);
    s_type = PyUnicode_InternFromString("type");
    s_user = PyUnicode_InternFromString("user");
    s_channel = PyUnicode_InternFromString("channel");
    s_id = PyUnicode_InternFromString("id");
    s_get = PyUnicode_InternFromString("get");
    if (orjson_loads == NULL || one == NULL || hour_us == NULL || s_type == NULL || s_user == NULL
        || s_channel == NULL || s_id == NULL || s_get == NULL || PyType_Ready(&EventCountsType) < 0
        || PyType_Ready(&ObservingType) < 0 || PyType_Ready(&DecisionCountsType) < 0
        || (s_ts = PyUnicode_InternFromString("ts")) == NULL || (s_policy = PyUnicode_InternFromString("policy")) == NULL
        || (s_rule = PyUnicode_InternFromString("rule")) == NULL || (s_action = PyUnicode_InternFromString("action")) == NULL
        || (s_event_id = PyUnicode_InternFromString("event_id")) == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "EventCounts", (PyObject *)&EventCountsType) < 0
        || PyModule_AddObjectRef(m, "DecisionCounts", (PyObject *)&DecisionCountsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
