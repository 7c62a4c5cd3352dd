/* A short word list's `contains any` in C: runtime/matchers.py's WordSet, `any(w in text for w
 * in words)` in one pass over the text.
 *
 * Why: the community pack tests every message against its ad words (twelve, an Aho–Corasick
 * pass behind a Python iterator) and its abusive words (seven `in`s), about 3 000 instructions a
 * message between them. Here each character of the text costs a bit test; a word is compared
 * only where the text holds its first character.
 *
 * Worst case: a text full of a word's first character, with the word almost matching at every
 * place, costs characters × word length. A budget on character comparisons (a few times the
 * text's length) hands such texts to one PyUnicode_Find per word, which is what the `in` chain
 * cost before, so no text is slower than that by more than the budget.
 *
 * A long list (past 64 words) comes with a fallback, its Aho–Corasick matcher's `any`: the budget
 * is then a couple of comparisons a character, and a text that spends it goes to the matcher, in
 * time linear in the text whatever the list. Where the words' first characters are rare in the
 * texts (Chinese ad words, most lists) a text costs a bit test a character, a quarter of the
 * matcher's pass (~90 ns against ~350 for 24 characters: a Python iterator made and read each
 * time); where they are common (a long English list) most texts would spend the budget first, so
 * once a quarter of 64 or more calls have, every call goes to the matcher straight away. The
 * answer is the same either way: only how fast it comes depends on the texts seen.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>

#define BLOOM_BITS 4096          /* a bit per first character, by its low 12 bits */

typedef struct {
    PyObject_HEAD
    vectorcallfunc call;
    PyObject *words;             /* tuple of str, as given */
    Py_ssize_t n;                /* how many words are compared (the empty word is not) */
    int has_empty;               /* the empty word is in every text */
    Py_UCS4 **chars;             /* each word's characters, ordered by first character */
    Py_ssize_t *lens;
    Py_UCS4 *firsts;             /* the distinct first characters, ascending */
    Py_ssize_t *starts;          /* words with firsts[i] are chars[starts[i] .. starts[i + 1]) */
    Py_ssize_t nfirsts;
    uint64_t bloom[BLOOM_BITS / 64];
    PyObject *fallback;          /* a long list's matcher (text → truth), or NULL */
    Py_ssize_t calls, fell;      /* texts seen, and how many spent the budget (with a fallback) */
} WordSet;

#define FALLBACK_AFTER 64        /* calls seen before the share that fell back can decide */

static void wordset_free_arrays(WordSet *w) {
    if (w->chars != NULL) {
        for (Py_ssize_t i = 0; i < w->n; i++) PyMem_Free(w->chars[i]);
    }
    PyMem_Free(w->chars);
    PyMem_Free(w->lens);
    PyMem_Free(w->firsts);
    PyMem_Free(w->starts);
    w->chars = NULL;
    w->lens = NULL;
    w->firsts = NULL;
    w->starts = NULL;
    w->n = w->nfirsts = 0;
}

typedef struct { Py_UCS4 *chars; Py_ssize_t len; } Entry;

static int by_first(const void *a, const void *b) {
    Py_UCS4 x = ((const Entry *)a)->chars[0], y = ((const Entry *)b)->chars[0];
    return x < y ? -1 : x > y;
}

/* The words starting with `c`: [*lo, *hi) in chars, or 0 when none do. */
static inline int candidates(const WordSet *w, Py_UCS4 c, Py_ssize_t *lo, Py_ssize_t *hi) {
    Py_ssize_t a = 0, b = w->nfirsts;
    while (a < b) {
        Py_ssize_t mid = (a + b) / 2;
        if (w->firsts[mid] < c) a = mid + 1;
        else b = mid;
    }
    if (a == w->nfirsts || w->firsts[a] != c) return 0;
    *lo = w->starts[a];
    *hi = w->starts[a + 1];
    return 1;
}

/* The fallback matcher's answer for `text`: 1, 0, or -1 with an exception. */
static int ask_fallback(const WordSet *w, PyObject *text) {
    PyObject *found = PyObject_CallOneArg(w->fallback, text);
    if (found == NULL) return -1;
    int truth = PyObject_IsTrue(found);
    Py_DECREF(found);
    return truth;
}

/* Every word against the whole text: the budget ran out. By the fallback where there is one,
 * else with CPython's own search, a word at a time. */
static int past_budget(WordSet *w, PyObject *text) {
    if (w->fallback != NULL) {
        w->fell++;
        return ask_fallback(w, text);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(w->words);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t at = PyUnicode_Find(text, PyTuple_GET_ITEM(w->words, i), 0, PY_SSIZE_T_MAX, 1);
        if (at == -2) return -1;
        if (at >= 0) return 1;
    }
    return 0;
}

#define SCAN(TYPE)                                                                            \
    {                                                                                         \
        const TYPE *s = (const TYPE *)data;                                                   \
        for (Py_ssize_t i = 0; i < len; i++) {                                                \
            Py_UCS4 c = s[i];                                                                 \
            if (!((w->bloom[(c >> 6) & 63] >> (c & 63)) & 1)) continue;                       \
            Py_ssize_t lo, hi;                                                                \
            if (!candidates(w, c, &lo, &hi)) continue;                                        \
            for (Py_ssize_t j = lo; j < hi; j++) {                                            \
                Py_ssize_t m = w->lens[j];                                                    \
                if (m > len - i) continue;                                                    \
                const Py_UCS4 *word = w->chars[j];                                            \
                Py_ssize_t k = 1;                                                             \
                while (k < m && (Py_UCS4)s[i + k] == word[k]) k++;                            \
                if (k == m) return 1;                                                         \
                budget -= k;                                                                  \
            }                                                                                 \
            if (budget < 0) return past_budget(w, text);                                      \
        }                                                                                     \
        return 0;                                                                             \
    }

/* 1 when one of the words is in `text`, 0 when none is, -1 with an exception set. */
static int wordset_any(WordSet *w, PyObject *text) {
    if (w->has_empty) return 1;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    Py_ssize_t budget = 4 * len + 1024;
    if (w->fallback != NULL) {
        if (w->calls >= FALLBACK_AFTER && w->fell * 4 > w->calls) return ask_fallback(w, text);
        w->calls++;
        budget = 2 * len + 16;
    }
    const void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND: SCAN(Py_UCS1)
    case PyUnicode_2BYTE_KIND: SCAN(Py_UCS2)
    default: SCAN(Py_UCS4)
    }
}

static PyObject *WordSet_call(WordSet *w, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "WordSet(text) takes one text");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "'in <string>' requires string as left operand, not %.100s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    int found = wordset_any(w, text);
    if (found < 0) return NULL;
    return PyBool_FromLong(found);
}

static PyObject *WordSet_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *given, *fallback = Py_None;
    static char *names[] = {"words", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:WordSet", names, &given, &fallback)) return NULL;
    if (fallback != Py_None && !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "a WordSet's fallback is a callable of the text, or None");
        return NULL;
    }
    PyObject *words = PySequence_Tuple(given);
    if (words == NULL) return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(words);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(words, i))) {
            Py_DECREF(words);
            PyErr_SetString(PyExc_TypeError, "a WordSet's words are str");
            return NULL;
        }
    }
    WordSet *w = (WordSet *)type->tp_alloc(type, 0);
    if (w == NULL) {
        Py_DECREF(words);
        return NULL;
    }
    w->call = (vectorcallfunc)WordSet_call;
    w->words = words;
    w->fallback = fallback == Py_None ? NULL : Py_NewRef(fallback);
    Entry *entries = PyMem_Calloc(count ? count : 1, sizeof(Entry));
    w->chars = PyMem_Calloc(count ? count : 1, sizeof(Py_UCS4 *));
    w->lens = PyMem_Calloc(count ? count : 1, sizeof(Py_ssize_t));
    w->firsts = PyMem_Calloc(count ? count : 1, sizeof(Py_UCS4));
    w->starts = PyMem_Calloc(count + 1, sizeof(Py_ssize_t));
    if (entries == NULL || w->chars == NULL || w->lens == NULL || w->firsts == NULL || w->starts == NULL) {
        PyMem_Free(entries);
        Py_DECREF(w);
        return PyErr_NoMemory();
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *word = PyTuple_GET_ITEM(words, i);
        Py_ssize_t len = PyUnicode_GET_LENGTH(word);
        if (len == 0) {
            w->has_empty = 1;
            continue;
        }
        Py_UCS4 *chars = PyUnicode_AsUCS4Copy(word);
        if (chars == NULL) {
            for (Py_ssize_t j = 0; j < n; j++) PyMem_Free(entries[j].chars);
            PyMem_Free(entries);
            Py_DECREF(w);
            return NULL;
        }
        entries[n].chars = chars;
        entries[n].len = len;
        n++;
    }
    qsort(entries, (size_t)n, sizeof(Entry), by_first);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = entries[i].chars[0];
        w->chars[i] = entries[i].chars;
        w->lens[i] = entries[i].len;
        w->bloom[(c >> 6) & 63] |= (uint64_t)1 << (c & 63);
        if (w->nfirsts == 0 || w->firsts[w->nfirsts - 1] != c) {
            w->firsts[w->nfirsts] = c;
            w->starts[w->nfirsts] = i;
            w->nfirsts++;
        }
    }
    w->starts[w->nfirsts] = n;
    w->n = n;
    PyMem_Free(entries);
    return (PyObject *)w;
}

static PyObject *WordSet_reduce(WordSet *w, PyObject *Py_UNUSED(ignored)) {
    if (w->fallback != NULL) return Py_BuildValue("O(OO)", (PyObject *)Py_TYPE(w), w->words, w->fallback);
    return Py_BuildValue("O(O)", (PyObject *)Py_TYPE(w), w->words);
}

static PyObject *WordSet_repr(WordSet *w) {
    return PyUnicode_FromFormat("WordSet(%zd words)", PyTuple_GET_SIZE(w->words));
}

static int WordSet_traverse(WordSet *w, visitproc visit, void *arg) {
    Py_VISIT(w->words);
    Py_VISIT(w->fallback);
    return 0;
}

static int WordSet_clear(WordSet *w) {
    Py_CLEAR(w->words);
    Py_CLEAR(w->fallback);
    return 0;
}

static void WordSet_dealloc(WordSet *w) {
    PyObject_GC_UnTrack(w);
    WordSet_clear(w);
    wordset_free_arrays(w);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

static PyMethodDef WordSet_methods[] = {
    {"__reduce__", (PyCFunction)WordSet_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef WordSet_members[] = {
    {"words", T_OBJECT_EX, offsetof(WordSet, words), READONLY, "the words, as given"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject WordSetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._words.WordSet",
    .tp_basicsize = sizeof(WordSet),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "WordSet(words): WordSet(text) is True when one of the words is in the text",
    .tp_new = WordSet_new,
    .tp_dealloc = (destructor)WordSet_dealloc,
    .tp_traverse = (traverseproc)WordSet_traverse,
    .tp_clear = (inquiry)WordSet_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(WordSet, call),
    .tp_methods = WordSet_methods,
    .tp_members = WordSet_members,
    .tp_repr = (reprfunc)WordSet_repr,
};

/* A prefix that is not a str fails as str.startswith says it. */
static int not_a_prefix(PyObject *prefix) {
    if (PyUnicode_Check(prefix)) return 0;
    PyErr_Format(PyExc_TypeError, "tuple for startswith must only contain str, not %.100s", Py_TYPE(prefix)->tp_name);
    return 1;
}

/* starts_with_any(text, prefixes): helpers.starts_with_any, `text.startswith(prefixes)` for a
 * str and False for anything else. The community pack asks it of every message (`text starts
 * with "#总结" or text starts with "#summary"`); str.startswith parses its arguments from a tuple
 * each call, and that was two thirds of its 660 instructions. Here a prefix whose first
 * character is not the text's costs one comparison. */
static PyObject *starts_with_any(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "starts_with_any(text, prefixes: tuple)");
        return NULL;
    }
    PyObject *text = args[0], *prefixes = args[1];
    if (!PyUnicode_CheckExact(text)) Py_RETURN_FALSE;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_UCS4 first = n > 0 ? PyUnicode_READ_CHAR(text, 0) : 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, i);
        if (not_a_prefix(prefix)) return NULL;
        Py_ssize_t k = PyUnicode_GET_LENGTH(prefix);
        if (k == 0) Py_RETURN_TRUE;
        if (k > n || PyUnicode_READ_CHAR(prefix, 0) != first) continue;
        Py_ssize_t found = PyUnicode_Tailmatch(text, prefix, 0, PY_SSIZE_T_MAX, -1);
        if (found < 0) return NULL;
        if (found) Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* folded_starts_with_any(text, prefixes): starts_with_any(fold_text(text), prefixes) for an exact
 * str, False for anything else (fold_text gives None), with the prefixes case-folded already (the
 * compiler folds them). Only as much of the text is folded as the longest prefix needs: casefold
 * maps each character on its own (full case folding, one to three characters), so the folded
 * text's first k characters come from at most its first k. The pack asked this of every message
 * (`text starts with "#总结" or text starts with "#summary"`), and folding the whole text for it
 * made a string a message, ~500 instructions. */
enum { FOLDED_PREFIX_MAX = 64 };

/* The first characters of the last prefixes asked about (the generated code passes the same tuple
 * on every message), when each is a str of one character or more and there are at most 64: a
 * text whose first character folds to none of them starts with none of them (most chat text),
 * found before any of the work below (~200 instructions a message). The tuple is held, so its
 * address stays its own. */
static struct {
    PyObject *prefixes;
    Py_ssize_t n;
    Py_UCS4 first[64];
} prefix_firsts;

static int prefix_firsts_of(PyObject *prefixes) {
    if (prefixes == prefix_firsts.prefixes) return 1;
    Py_ssize_t n = PyTuple_GET_SIZE(prefixes);
    if (n > 64) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, i);
        if (!PyUnicode_Check(prefix) || PyUnicode_GET_LENGTH(prefix) == 0) return 0;
    }
    Py_XSETREF(prefix_firsts.prefixes, Py_NewRef(prefixes));
    prefix_firsts.n = n;
    for (Py_ssize_t i = 0; i < n; i++) prefix_firsts.first[i] = PyUnicode_READ_CHAR(PyTuple_GET_ITEM(prefixes, i), 0);
    return 1;
}

static PyObject *folded_starts_with_any(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "folded_starts_with_any(text, prefixes: tuple)");
        return NULL;
    }
    PyObject *text = args[0], *prefixes = args[1];
    if (!PyUnicode_CheckExact(text)) Py_RETURN_FALSE;
#if PY_VERSION_HEX < 0x030D0000
    if (PyUnicode_GET_LENGTH(text) > 0 && prefix_firsts_of(prefixes)) {
        Py_UCS4 c = PyUnicode_READ_CHAR(text, 0), folded[3];
        if (c < 128) folded[0] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
        else _PyUnicode_ToFoldedFull(c, folded);
        Py_ssize_t i = 0;
        while (i < prefix_firsts.n && prefix_firsts.first[i] != folded[0]) i++;
        if (i == prefix_firsts.n) Py_RETURN_FALSE;
    }
#endif
    /* As str.startswith takes a tuple: in order, True at the first prefix that matches, a TypeError
     * at the first that is not a str before one does. `usable`: the prefixes before that one. */
    Py_ssize_t longest = 0, usable = 0;
    for (; usable < PyTuple_GET_SIZE(prefixes); usable++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, usable);
        if (!PyUnicode_Check(prefix)) break;
        if (PyUnicode_GET_LENGTH(prefix) == 0) Py_RETURN_TRUE;          /* every text starts with "" */
        if (PyUnicode_GET_LENGTH(prefix) > longest) longest = PyUnicode_GET_LENGTH(prefix);
    }
#if PY_VERSION_HEX >= 0x030D0000
    longest = FOLDED_PREFIX_MAX + 1;                   /* 3.13 keeps a character's folding private */
#endif
    if (longest > FOLDED_PREFIX_MAX) {                 /* long prefixes: the whole text folded */
        PyObject *folded = PyObject_CallMethod(text, "casefold", NULL);
        if (folded == NULL) return NULL;
        PyObject *call[2] = {folded, prefixes};
        PyObject *found = starts_with_any(m, call, 2);
        Py_DECREF(folded);
        return found;
    }
    /* The folded text's start, a character at a time, against the prefixes still alive: most
     * texts are out after their first character. */
    Py_UCS4 head[FOLDED_PREFIX_MAX + 3];               /* a character folds to three at most */
    Py_ssize_t count = usable > 64 ? 64 : usable, have = 0, n = PyUnicode_GET_LENGTH(text);   /* one bit each */
    uint64_t alive = count == 64 ? ~(uint64_t)0 : (((uint64_t)1 << count) - 1);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int more = usable > 64;                            /* prefixes past the 64th: fold as far as the longest */
    for (Py_ssize_t i = 0; i < n && have < longest && (alive || more); i++) {
        Py_ssize_t from = have;
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128) {
            head[have++] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
        } else {
            Py_UCS4 folded[3];
#if PY_VERSION_HEX < 0x030D0000
            int k = _PyUnicode_ToFoldedFull(c, folded);
#else
            int k = 0;                                  /* not reached: see above */
#endif
            for (int j = 0; j < k; j++) head[have++] = folded[j];
        }
        for (Py_ssize_t p = 0; p < count; p++) {
            if (!(alive >> p & 1)) continue;
            PyObject *prefix = PyTuple_GET_ITEM(prefixes, p);
            Py_ssize_t k = PyUnicode_GET_LENGTH(prefix), j = from;
            while (j < k && j < have && PyUnicode_READ_CHAR(prefix, j) == head[j]) j++;
            if (j == k) Py_RETURN_TRUE;                /* all of it matched */
            if (j < have) alive &= ~((uint64_t)1 << p);
        }
    }
    for (Py_ssize_t p = 64; p < usable; p++) {        /* past the 64th: as folded so far */
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, p);
        Py_ssize_t k = PyUnicode_GET_LENGTH(prefix), j = 0;
        if (k > have) continue;
        while (j < k && PyUnicode_READ_CHAR(prefix, j) == head[j]) j++;
        if (j == k) Py_RETURN_TRUE;
    }
    if (usable < PyTuple_GET_SIZE(prefixes)) {         /* no match before a prefix that is not a str */
        not_a_prefix(PyTuple_GET_ITEM(prefixes, usable));
        return NULL;
    }
    Py_RETURN_FALSE;
}

/* link_hint(text): text.link_hint, whether the text can hold a link text._URL finds — a "://",
 * a "." after a "w" (www.), or a "." before a letter a domain ending starts with (.com … .info;
 * RE2's case folding maps no other character to these letters). False for what is not a str.
 * Link spam rules count links on every message, and RE2 behind its Python binding costs about
 * 12 000 instructions a call; the "." test before it let through every sentence with a full stop. */
static inline int ending_start(Py_UCS4 c) {
    switch (c | 0x20) {                              /* ASCII letters in either case */
    case 'c': case 'n': case 'o': case 'i': case 'm': case 'l': case 'g': case 'x': case 't':
        return c < 128;
    default:
        return 0;
    }
}

/* The next "." or ":" at or after i in text of one kind, or n: a hint starts at one of them, and
 * chat text holds few, so whole blocks of characters are passed over at a time (SSE2, on every
 * x86-64) where a character at a time was most of a message's scan (~250 instructions). */
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline Py_ssize_t next_mark_1(const Py_UCS1 *s, Py_ssize_t i, Py_ssize_t n) {
#ifdef __SSE2__
    const __m128i dot = _mm_set1_epi8('.'), colon = _mm_set1_epi8(':');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, dot), _mm_cmpeq_epi8(v, colon)));
        if (mask) return i + __builtin_ctz((unsigned)mask);
    }
#endif
    for (; i < n; i++)
        if (s[i] == '.' || s[i] == ':') return i;
    return n;
}

static inline Py_ssize_t next_mark_2(const Py_UCS2 *s, Py_ssize_t i, Py_ssize_t n) {
#ifdef __SSE2__
    const __m128i dot = _mm_set1_epi16('.'), colon = _mm_set1_epi16(':');
    for (; i + 8 <= n; i += 8) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi16(v, dot), _mm_cmpeq_epi16(v, colon)));
        if (mask) return i + __builtin_ctz((unsigned)mask) / 2;
    }
#endif
    for (; i < n; i++)
        if (s[i] == '.' || s[i] == ':') return i;
    return n;
}

static inline Py_ssize_t next_mark_4(const Py_UCS4 *s, Py_ssize_t i, Py_ssize_t n) {
    for (; i < n; i++)
        if (s[i] == '.' || s[i] == ':') return i;
    return n;
}

/* Whether text of one kind holds a hint, written for each kind apart (a switch on the kind for
 * each character cost more than the test). */
#define HINT_SCAN(T, NEXT)                                                                    \
    do {                                                                                      \
        const T *s = (const T *)data;                                                         \
        for (Py_ssize_t i = NEXT(s, 0, n); i < n; i = NEXT(s, i + 1, n)) {                   \
            if (s[i] == '.') {                                                                \
                if (i > 0 && (s[i - 1] | 0x20) == 'w') return 1;                              \
                if (i + 1 < n && ending_start(s[i + 1])) return 1;                            \
            } else if (i + 2 < n && s[i + 1] == '/' && s[i + 2] == '/') {                     \
                return 1;                                                                     \
            }                                                                                 \
        }                                                                                     \
        return 0;                                                                             \
    } while (0)

static int has_link_hint(PyObject *text) {
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND: HINT_SCAN(Py_UCS1, next_mark_1);
    case PyUnicode_2BYTE_KIND: HINT_SCAN(Py_UCS2, next_mark_2);
    default: HINT_SCAN(Py_UCS4, next_mark_4);
    }
}

static PyObject *link_hint(PyObject *Py_UNUSED(m), PyObject *text) {
    if (!PyUnicode_CheckExact(text)) Py_RETURN_FALSE;          /* as `text.__class__ is str` */
    return PyBool_FromLong(has_link_hint(text));
}

/* Whether UTF-8 bytes hold a hint: the same test, on bytes (every hint is ASCII, and no byte of
 * a character past ASCII is an ASCII byte in UTF-8). */
static int has_link_hint_bytes(const unsigned char *data, Py_ssize_t n) {
    HINT_SCAN(Py_UCS1, next_mark_1);
}
#undef HINT_SCAN

/* LinkCounter(match, anchor, remake): text.links_in in C — RE2's count of text._URL's non-overlapping
 * matches in a str, by RE2's raw matcher (`match`: its bound Match, called with `anchor`, the
 * UTF-8 bytes, a start and an end) — that stops at the first remainder without a hint, which holds
 * no match (a match lies in the remainder, and holds its hint). A linked chat message holds one
 * link, with text after it: counting in Python was a frame, the encoding and two matches, the
 * second of which found nothing (~18 500 instructions, 3 % of the pack's messages). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc call;
    PyObject *match, *anchor;
    PyObject *remake;            /* fn() → the counter where it is unpickled (a compiled program's pool holds it) */
} LinkCounter;

static PyTypeObject LinkCounterType;

/* The start and end of a match RE2's Match returns ([(start, end), …]; start −1: none). */
static int first_span(PyObject *spans, Py_ssize_t *start, Py_ssize_t *end) {
    if (!PyList_Check(spans) || PyList_GET_SIZE(spans) < 1 || !PyTuple_Check(PyList_GET_ITEM(spans, 0))
        || PyTuple_GET_SIZE(PyList_GET_ITEM(spans, 0)) != 2) {
        PyErr_SetString(PyExc_TypeError, "RE2's Match returned no list of spans");
        return -1;
    }
    PyObject *span = PyList_GET_ITEM(spans, 0);
    *start = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 0));
    if (*start == -1 && PyErr_Occurred()) return -1;
    *end = PyLong_AsSsize_t(PyTuple_GET_ITEM(span, 1));
    return *end == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The count of `text` (a str); `hinted`: its hint was found already. */
static PyObject *count_links(LinkCounter *lc, PyObject *text, int hinted) {
    PyObject *data = PyUnicode_AsUTF8String(text);              /* text.encode(), and its error */
    if (data == NULL) return NULL;
    Py_ssize_t len = PyBytes_GET_SIZE(data), n = 0, pos = 0;
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(data);
    if (!hinted && !has_link_hint_bytes(bytes, len)) {
        Py_DECREF(data);
        return PyLong_FromLong(0);
    }
    PyObject *end = PyLong_FromSsize_t(len);
    int failed = end == NULL;
    while (!failed) {
        PyObject *start = PyLong_FromSsize_t(pos);
        PyObject *args[4] = {lc->anchor, data, start, end};
        PyObject *spans = start == NULL ? NULL : PyObject_Vectorcall(lc->match, args, 4, NULL);
        Py_XDECREF(start);
        Py_ssize_t s, e;
        failed = spans == NULL || first_span(spans, &s, &e) < 0;
        Py_XDECREF(spans);
        if (failed || s < 0) break;
        n++;
        pos = e > s ? e : e + 1;                     /* past an empty match, as finditer goes on */
        if (pos > len || !has_link_hint_bytes(bytes + pos, len - pos)) break;
    }
    Py_DECREF(data);
    Py_XDECREF(end);
    return failed ? NULL : PyLong_FromSsize_t(n);
}

static PyObject *LinkCounter_call(LinkCounter *lc, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "links_in(text)");
        return NULL;
    }
    if (!PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "links_in takes a str");
        return NULL;
    }
    return count_links(lc, args[0], 0);
}

static PyObject *LinkCounter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *match, *anchor, *remake;
    static char *names[] = {"match", "anchor", "remake", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:LinkCounter", names, &match, &anchor, &remake)) return NULL;
    LinkCounter *lc = (LinkCounter *)type->tp_alloc(type, 0);
    if (lc == NULL) return NULL;
    lc->call = (vectorcallfunc)LinkCounter_call;
    lc->match = Py_NewRef(match);
    lc->anchor = Py_NewRef(anchor);
    lc->remake = Py_NewRef(remake);
    return (PyObject *)lc;
}

/* Pickled as a call of `remake`: RE2's matcher has no pickled form, and the counter is one a
 * process makes for itself (text.links_in). */
static PyObject *LinkCounter_reduce(LinkCounter *lc, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(O())", lc->remake);
}

static PyMethodDef LinkCounter_methods[] = {
    {"__reduce__", (PyCFunction)LinkCounter_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static int LinkCounter_traverse(LinkCounter *lc, visitproc visit, void *arg) {
    Py_VISIT(lc->match);
    Py_VISIT(lc->anchor);
    Py_VISIT(lc->remake);
    return 0;
}

static int LinkCounter_clear(LinkCounter *lc) {
    Py_CLEAR(lc->match);
    Py_CLEAR(lc->anchor);
    Py_CLEAR(lc->remake);
    return 0;
}

static void LinkCounter_dealloc(LinkCounter *lc) {
    PyObject_GC_UnTrack(lc);
    LinkCounter_clear(lc);
    Py_TYPE(lc)->tp_free((PyObject *)lc);
}

static PyTypeObject LinkCounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "policyengine.runtime._words.LinkCounter",
    .tp_basicsize = sizeof(LinkCounter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "LinkCounter(match, anchor, remake)(text) -> RE2's count of non-overlapping matches in text",
    .tp_new = LinkCounter_new,
    .tp_methods = LinkCounter_methods,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(LinkCounter, call),
    .tp_traverse = (traverseproc)LinkCounter_traverse,
    .tp_clear = (inquiry)LinkCounter_clear,
    .tp_dealloc = (destructor)LinkCounter_dealloc,
};

/* link_count_of(text, links_in): text.link_count with its counting function given — None for what
 * is not a str, 0 without a link's hint, else links_in(text) (RE2) — one call from the generated
 * code where the class test, the hint and the count were three steps (12 bytecodes a message). A
 * LinkCounter counts here, its hint not scanned again. */
static PyObject *link_count_of(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "link_count_of(text, links_in)");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[0])) Py_RETURN_NONE;
    if (!has_link_hint(args[0])) return PyLong_FromLong(0);
    if (Py_IS_TYPE(args[1], &LinkCounterType)) return count_links((LinkCounter *)args[1], args[0], 1);
    return PyObject_CallOneArg(args[1], args[0]);
}

static PyMethodDef methods[] = {
    {"link_count_of", (PyCFunction)(void (*)(void))link_count_of, METH_FASTCALL,
     "link_count_of(text, links_in) -> None for what is not a str, 0 without a link's hint, else links_in(text)"},
    {"folded_starts_with_any", (PyCFunction)(void (*)(void))folded_starts_with_any, METH_FASTCALL,
     "folded_starts_with_any(text, prefixes) -> whether text.casefold() starts with one of the folded prefixes"},
    {"link_hint", link_hint, METH_O, "link_hint(text) -> False when the text can hold no link text.link_count counts"},
    {"starts_with_any", (PyCFunction)(void (*)(void))starts_with_any, METH_FASTCALL,
     "starts_with_any(text, prefixes) -> text.startswith(prefixes) for a str, False for anything else"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_words", NULL, 0, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__words(void) {
    if (PyType_Ready(&WordSetType) < 0 || PyType_Ready(&LinkCounterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "WordSet", (PyObject *)&WordSetType) < 0
        || PyModule_AddObjectRef(m, "LinkCounter", (PyObject *)&LinkCounterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
