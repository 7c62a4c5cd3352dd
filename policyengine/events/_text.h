/* Shared by the C modules of `eval`'s per-line work (_lines.c, _route.c, _records.c): the RFC 3339 times
 * and the UTF-8 validity both take on a line, answered exactly as Python does (tests/test_native_lines.py). */
#ifndef POLICYENGINE_TEXT_H
#define POLICYENGINE_TEXT_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int two(const char *p) {
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 29;
    return days[m - 1];
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM) → microseconds since the epoch, in *out; 0 if the text
 * is not of that form or not a real time (then fromisoformat decides). Digits past the sixth of
 * the fraction are dropped, as fromisoformat drops them. */
/* The last date read and its day count: a log is in time order, so nearly every line repeats the
 * date of the one before (the same ten bytes, checked before, give the same day). */
static uint64_t last_date8;            /* its first eight bytes, */
static uint16_t last_date2;            /* and the last two */
static int64_t last_days = INT64_MIN;

/* Each of the bytes `digits` selects of w is an ASCII digit ('0' to '9'): the high nibble 3, and
 * the low one at most 9 (adding 6 leaves the high nibble 3; no byte here can carry into the next). */
static inline int swar_digits(uint64_t w, uint64_t digits) {
    const uint64_t high = 0xF0F0F0F0F0F0F0F0ull & digits, three = 0x3030303030303030ull & digits;
    return (w & high) == three && ((w + (0x0606060606060606ull & digits)) & high) == three;
}

static __attribute__((unused)) int rfc3339_us(const char *s, Py_ssize_t n, int64_t *out) {
    if (n < 20 || n > 35 || s[10] != 'T') return 0;
    uint64_t date8;
    uint16_t date2;
    memcpy(&date8, s, 8);
    memcpy(&date2, s + 8, 2);
    int64_t days;
    if (last_days != INT64_MIN && date8 == last_date8 && date2 == last_date2) {
        days = last_days;
    } else {
        if (s[4] != '-' || s[7] != '-') return 0;
        int y_hi = two(s), y_lo = two(s + 2), mo = two(s + 5), d = two(s + 8);
        if ((y_hi | y_lo | mo | d) < 0) return 0;
        int y = y_hi * 100 + y_lo;
        if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return 0;
        days = days_from_civil(y, mo, d);
        last_date8 = date8;
        last_date2 = date2;
        last_days = days;
    }
    /* HH:MM:SS as one word (bytes 0 1 : 3 4 : 6 7, little-endian): a third of the instructions of
     * reading it a pair at a time (the time was, after the strings, the largest part of a scan). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, s + 11, 8);
    const uint64_t colons = 0x0000FF0000FF0000ull;
    if ((w & colons) != 0x00003A00003A0000ull || !swar_digits(w, ~colons)) return 0;
    uint64_t v = w & 0x0F0F000F0F000F0Full;
    uint64_t pairs = v * 10 + (v >> 8);         /* byte 0: 10 H + H, byte 3: minutes, byte 6: seconds */
    int h = (int)(pairs & 0xFF), mi = (int)(pairs >> 24 & 0xFF), sec = (int)(pairs >> 48 & 0xFF);
    if (h > 23 || mi > 59 || sec > 59) return 0;
    if (n == 24 && s[19] == '.' && s[23] == 'Z') {  /* .mmmZ, what most loggers write */
        uint64_t m = 0;
        memcpy(&m, s + 19, 4);
        if (!swar_digits(m, 0xFFFFFF00ull)) return 0;
        int64_t ms = (s[20] - '0') * 100 + (s[21] - '0') * 10 + (s[22] - '0');
        *out = (days * 86400 + h * 3600 + mi * 60 + sec) * 1000000 + ms * 1000;
        return 1;
    }
#else
    if (s[13] != ':' || s[16] != ':') return 0;
    int h = two(s + 11), mi = two(s + 14), sec = two(s + 17);
    if ((h | mi | sec) < 0 || h > 23 || mi > 59 || sec > 59) return 0;
#endif
    Py_ssize_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        int digits = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (digits < 6) frac = frac * 10 + (s[i] - '0');
        if (digits < 1 || digits > 9) return 0;
        for (; digits < 6; digits++) frac *= 10;
    }
    int64_t offset = 0;
    if (i + 1 == n && s[i] == 'Z') {
        offset = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = two(s + i + 1), om = two(s + i + 4);
        if (oh < 0 || om < 0 || oh > 23 || om > 59) return 0;
        offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    } else {
        return 0;
    }
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out = secs * 1000000 + frac;
    return 1;
}

/* rfc3339_us for a str object: only an exact str of ASCII text can be one. */
static __attribute__((unused)) int text_us(PyObject *text, int64_t *out) {
    return PyUnicode_CheckExact(text) && PyUnicode_IS_ASCII(text)
           && rfc3339_us((const char *)PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text), out);
}

/* The length of the character at p, a byte past ASCII, as Python's strict decoder takes UTF-8
 * (Unicode Table 3-7: no overlong forms, no surrogates, nothing past U+10FFFF): 2, 3 or 4; 0 when
 * the bytes there are not one. */
static inline int utf8_multibyte(const unsigned char *p, const unsigned char *end) {
    unsigned char c = *p;
    if (c >= 0xE0 && c <= 0xEF) {                        /* Chinese text is 3 bytes a character */
        if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;          /* overlong */
        if (c == 0xED && p[1] > 0x9F) return 0;          /* surrogates */
        return 3;
    }
    if (c >= 0xC2 && c <= 0xDF) return end - p >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xF0 && c <= 0xF4) {
        if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;          /* overlong */
        if (c == 0xF4 && p[1] > 0x8F) return 0;          /* past U+10FFFF */
        return 4;
    }
    return 0;                                            /* a continuation, C0, C1, F5 and up */
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* UTF-8 checked 32 bytes at a time (J. Keiser and D. Lemire, "Validating UTF-8 in less than one
 * instruction per byte", 2021; simdjson's lookup tables): each byte with the one before it is
 * looked up by three nibbles, whose flags, ANDed, are the errors two bytes can show (too short,
 * too long, overlong, surrogate, past U+10FFFF, a continuation too many); the third and fourth
 * bytes of a character are checked by where the lead two or three bytes back says they must be.
 * A Chinese line of ~60 bytes past ASCII took ~15 instructions a character one at a time
 * (utf8_multibyte), a third of the workers' route scan. For the CPUs that have AVX2; the rest
 * keep the loop below. tests/test_native_lines.py holds both to Python's decoder. */
enum { TOO_SHORT = 1 << 0, TOO_LONG = 1 << 1, OVERLONG_3 = 1 << 2, TOO_LARGE = 1 << 3, SURROGATE = 1 << 4,
       OVERLONG_2 = 1 << 5, TOO_LARGE_1000 = 1 << 6, OVERLONG_4 = 1 << 6, TWO_CONTS = 1 << 7,
       CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS };

/* The 32 bytes before each of `input`'s, `back` places back, from `input` and the block before. */
#define UTF8_PREV(input, before, back) \
    _mm256_alignr_epi8((input), _mm256_permute2x128_si256((before), (input), 0x21), 16 - (back))

__attribute__((target("avx2"))) static inline __m256i utf8_block_errors(__m256i input, __m256i before) {
    const __m256i first_high = _mm256_setr_epi8(
        TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
        TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
        TOO_SHORT | OVERLONG_2, TOO_SHORT, TOO_SHORT | OVERLONG_3 | SURROGATE,
        TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
        TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
        TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
        TOO_SHORT | OVERLONG_2, TOO_SHORT, TOO_SHORT | OVERLONG_3 | SURROGATE,
        TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4);
    const __m256i first_low = _mm256_setr_epi8(
        CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY,
        CARRY | TOO_LARGE, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY,
        CARRY | TOO_LARGE, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, CARRY | TOO_LARGE | TOO_LARGE_1000,
        CARRY | TOO_LARGE | TOO_LARGE_1000);
    const __m256i second_high = _mm256_setr_epi8(
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i prev1 = UTF8_PREV(input, before, 1);
    __m256i special = _mm256_and_si256(
        _mm256_and_si256(_mm256_shuffle_epi8(first_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble)),
                         _mm256_shuffle_epi8(first_low, _mm256_and_si256(prev1, nibble))),
        _mm256_shuffle_epi8(second_high, _mm256_and_si256(_mm256_srli_epi16(input, 4), nibble)));
    /* a third byte (a lead of 3 or 4 two back) or a fourth (a lead of 4 three back) must be a
     * continuation: the only case the two-byte flags leave (TWO_CONTS) where it is not an error */
    __m256i must = _mm256_or_si256(_mm256_subs_epu8(UTF8_PREV(input, before, 2), _mm256_set1_epi8((char)(0xE0 - 0x80))),
                                   _mm256_subs_epu8(UTF8_PREV(input, before, 3), _mm256_set1_epi8((char)(0xF0 - 0x80))));
    return _mm256_xor_si256(_mm256_and_si256(must, _mm256_set1_epi8((char)0x80)), special);
}

__attribute__((target("avx2"))) static int utf8_valid_avx2(const unsigned char *p, Py_ssize_t n) {
    /* a character begun in the last three bytes of a block and not finished by the end */
    const __m256i unfinished_from = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    __m256i error = _mm256_setzero_si256(), before = _mm256_setzero_si256(), unfinished = _mm256_setzero_si256();
    unsigned char last[32];
    for (Py_ssize_t i = 0; i < n; i += 32) {
        __m256i input;
        if (n - i >= 32) {
            input = _mm256_loadu_si256((const __m256i *)(p + i));
        } else {
            memset(last, 0, sizeof last);             /* the end padded with NULs: ASCII */
            memcpy(last, p + i, (size_t)(n - i));
            input = _mm256_loadu_si256((const __m256i *)last);
        }
        if (_mm256_movemask_epi8(input) == 0) {
            error = _mm256_or_si256(error, unfinished);  /* ASCII after a character begun */
            unfinished = _mm256_setzero_si256();
        } else {
            error = _mm256_or_si256(error, utf8_block_errors(input, before));
            unfinished = _mm256_subs_epu8(input, unfinished_from);
        }
        before = input;
    }
    error = _mm256_or_si256(error, unfinished);
    return _mm256_testz_si256(error, error);
}

static int utf8_has_avx2 = -1;
#endif

static int utf8_valid_bytewise(const unsigned char *p, Py_ssize_t n);

/* Valid UTF-8 as Python's strict decoder sees it. */
static __attribute__((unused)) int utf8_valid(const unsigned char *p, Py_ssize_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (n >= 32) {
        if (utf8_has_avx2 < 0) {
            __builtin_cpu_init();
            utf8_has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        }
        if (utf8_has_avx2) return utf8_valid_avx2(p, n);
    }
#endif
    return utf8_valid_bytewise(p, n);
}

/* Valid UTF-8 as Python's strict decoder sees it (utf8_multibyte for each character past ASCII):
 * the definition the AVX2 check is held to, and the check where there is none. */
static __attribute__((unused)) int utf8_valid_bytewise(const unsigned char *p, Py_ssize_t n) {
    const unsigned char *end = p + n;
    while (p < end) {
        /* ASCII runs 32 bytes at a time: most of a line is keys, times and ids. */
        while (end - p >= 32) {
            uint64_t a, b, c, d;
            memcpy(&a, p, 8); memcpy(&b, p + 8, 8); memcpy(&c, p + 16, 8); memcpy(&d, p + 24, 8);
            if ((a | b | c | d) & 0x8080808080808080ULL) break;
            p += 32;
        }
        if (end - p >= 8) {
            uint64_t word;
            memcpy(&word, p, 8);
            if (!(word & 0x8080808080808080ULL)) { p += 8; continue; }
        }
        if (*p < 0x80) { p++; continue; }
        /* A run of multi-byte characters is checked without going back to the ASCII test between
         * characters. */
        do {
            int k = utf8_multibyte(p, end);
            if (k == 0) return 0;
            p += k;
        } while (p < end && *p >= 0x80);
    }
    return 1;
}

#endif
