/* The time a decision carries, written out: shared by events/_lines.c (format_us) and
 * output/_record.h (decision records write their time straight into the line). No Python here. */
#ifndef POLICYENGINE_FORMAT_H
#define POLICYENGINE_FORMAT_H
#include <stdint.h>
#include <string.h>

/* The inverse: y-m-d of a day count from 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* The last `width` decimal digits of a non-negative value, zero-padded. */
static void put_digits(char *to, int64_t value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        to[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

/* The times format_us_chars writes: 1000-01-01 up to 10000-01-01, in microseconds. */
#define FORMAT_US_FIRST (-354285LL * 86400000000LL)
#define FORMAT_US_END (2932897LL * 86400000000LL)

/* The last time written, and the date of the last day: a decision's time is its event's, and an
 * event's decisions come together, as a day's events do (323 instructions a decision, written
 * afresh each time). Per module that includes this; the GIL keeps them. */
static int64_t format_last_us = INT64_MIN, format_last_day = INT64_MIN;
static char format_last_text[28], format_last_date[10];
static int format_last_len;

/* "YYYY-MM-DDTHH:MM:SS[.mmm|.uuuuuu]Z" for `us` microseconds since the epoch into `out` (at least
 * 28 bytes), as timestamps.format_ts writes it: its length, or 0 outside the years 1000–9999
 * (format_ts then decides; strftime does not pad years below 1000). Digits written by hand:
 * snprintf cost 2 900 instructions a decision. */
static int format_us_chars(int64_t us, char *out) {
    if (us == format_last_us) {
        memcpy(out, format_last_text, format_last_len);
        return format_last_len;
    }
    const int64_t day_us = 86400000000LL;
    int64_t day = us / day_us, rest = us % day_us;
    if (rest < 0) {
        rest += day_us;
        day -= 1;
    }
    if (day == format_last_day) {
        memcpy(out, format_last_date, 10);
    } else {
        int64_t y;
        int m, d;
        civil_from_days(day, &y, &m, &d);
        if (y < 1000 || y > 9999) return 0;
        put_digits(out, y, 4);
        out[4] = '-';
        put_digits(out + 5, m, 2);
        out[7] = '-';
        put_digits(out + 8, d, 2);
        memcpy(format_last_date, out, 10);
        format_last_day = day;
    }
    int64_t secs = rest / 1000000, frac = rest % 1000000;
    int h = (int)(secs / 3600), mi = (int)(secs / 60 % 60), s = (int)(secs % 60);
    out[10] = 'T';
    put_digits(out + 11, h, 2);
    out[13] = ':';
    put_digits(out + 14, mi, 2);
    out[16] = ':';
    put_digits(out + 17, s, 2);
    int n = 19;
    if (frac != 0) {
        out[n++] = '.';
        if (frac % 1000 == 0) {
            put_digits(out + n, frac / 1000, 3);
            n += 3;
        } else {
            put_digits(out + n, frac, 6);
            n += 6;
        }
    }
    out[n++] = 'Z';
    memcpy(format_last_text, out, n);
    format_last_us = us;
    format_last_len = n;
    return n;
}

#endif
