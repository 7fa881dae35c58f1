/*
 * etsy.c: etsy statsd flush statistics and naming (see etsy.h).
 *
 * The arithmetic follows lib/process_metrics.js step for step, in the same
 * order, so results agree to the last bit with a stock statsd fed the same
 * samples: sums of a threshold come from running (cumulative) sums, the
 * number of values in a threshold is JavaScript's Math.round of
 * |pct| / 100 * count, std is the population standard deviation around the
 * mean, and an even count's median averages the two middle values.
 * One deliberate difference: for a negative threshold that covers every
 * value etsy reads cumulativeValues[-1] and emits NaN sums; we use 0 there,
 * which gives the sum etsy meant (and a finite value a frame can carry).
 */
#include "etsy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * JavaScript prints a number in this range with the fewest digits that
 * read back as the same double, in plain decimal notation.
 */
static int js_number(double v, char *buf, size_t cap)
{
    for (int prec = 0; prec <= 20; prec++) {
        int len = snprintf(buf, cap, "%.*f", prec, v);
        if (len < 0 || (size_t)len >= cap)
            return -ENOSPC;
        if (strtod(buf, NULL) == v)
            return len;
    }
    return -ENOSPC;
}

int md_etsy_threshold_suffix(double pct, char *buf, size_t cap)
{
    char num[64];
    int len = js_number(pct, num, sizeof num);
    if (len < 0)
        return len;
    /* String.replace with a string pattern changes only the first hit. */
    char *dot = strchr(num, '.');
    if (dot)
        *dot = '_';
    const char *minus = strchr(num, '-');
    int n = minus ? snprintf(buf, cap, "%.*stop%s", (int)(minus - num), num, minus + 1)
                  : snprintf(buf, cap, "%s", num);
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static bool etsy_is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool etsy_is_kept(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == ';' || c == '=';
}

size_t md_etsy_sanitize(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (etsy_is_space(c)) {
            while (i + 1 < n && etsy_is_space((unsigned char)in[i + 1]))
                i++;
            out[o++] = '_';
        } else if (c == '/') {
            out[o++] = '-';
        } else if (etsy_is_kept(c)) {
            out[o++] = (char)c;
        }
    }
    return o;
}

double md_etsy_gauge_apply(bool has_prev, double prev, double v, bool signed_text)
{
    /*
     * stats.js tests `gauges[key]` for truth, so a NaN gauge is replaced
     * rather than moved; a zero one gives the same result either way.
     */
    if (has_prev && signed_text && !isnan(prev))
        return prev + v;
    return v;
}

/* "stats.<kind>.<name>": on the stack when it fits, else on the heap. */
struct etsy_name {
    char *p;
    size_t len;
    char stack[256];
};

static int etsy_name_init(struct etsy_name *nm, const char *ns, const char *name, size_t len)
{
    size_t nslen = strlen(ns);
    nm->len = nslen + len;
    nm->p = nm->len <= sizeof nm->stack ? nm->stack : malloc(nm->len);
    if (!nm->p)
        return -ENOMEM;
    memcpy(nm->p, ns, nslen);
    memcpy(nm->p + nslen, name, len);
    return 0;
}

static void etsy_name_done(struct etsy_name *nm)
{
    if (nm->p != nm->stack)
        free(nm->p);
}

struct etsy_out {
    struct md_frame *f;
    const struct etsy_name *nm;
    const struct md_series_key *key;
    int64_t ts;
    uint32_t interval;
    int rc;
};

static void etsy_emit(struct etsy_out *o, const char *suffix, double v)
{
    /* A statistic of non-finite inputs is skipped, not an error. */
    if (!isfinite(v) || o->rc)
        return;
    o->rc = md_frame_add(o->f, o->nm->p, o->nm->len, suffix, o->key, MD_SERIES_GAUGE,
                         o->interval, o->ts, v);
}

/* Math.round: nearest integer, halves toward +infinity. */
static double js_round(double x)
{
    double r = floor(x);
    return x - r >= 0.5 ? r + 1 : r;
}

/* Sorted values with running sums and running sums of squares. */
struct etsy_sorted {
    double *v, *cum, *sq;
    size_t n;
};

static void etsy_threshold(struct etsy_out *o, const struct etsy_sorted *s, double pct)
{
    size_t n = s->n;
    double num = (double)n, sum = s->v[0], ss = s->v[0] * s->v[0], mean = s->v[0];
    double bound = s->v[n - 1];
    if (n > 1) {
        num = js_round(fabs(pct) / 100 * (double)n);
        if (num == 0)
            return;
        size_t k = (size_t)num;
        if (pct > 0) {
            bound = s->v[k - 1];
            sum = s->cum[k - 1];
            ss = s->sq[k - 1];
        } else {
            bound = s->v[n - k];
            sum = s->cum[n - 1] - (k < n ? s->cum[n - k - 1] : 0);
            ss = s->sq[n - 1] - (k < n ? s->sq[n - k - 1] : 0);
        }
        mean = sum / num;
    }
    char p[48], suffix[80];
    if (md_etsy_threshold_suffix(pct, p, sizeof p) < 0)
        return;
    snprintf(suffix, sizeof suffix, ".count_%s", p);
    etsy_emit(o, suffix, num);
    snprintf(suffix, sizeof suffix, ".mean_%s", p);
    etsy_emit(o, suffix, mean);
    snprintf(suffix, sizeof suffix, pct > 0 ? ".upper_%s" : ".lower_%s", p);
    etsy_emit(o, suffix, bound);
    snprintf(suffix, sizeof suffix, ".sum_%s", p);
    etsy_emit(o, suffix, sum);
    snprintf(suffix, sizeof suffix, ".sum_squares_%s", p);
    etsy_emit(o, suffix, ss);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Copy the finite values of h, sort them and build the running sums. */
static int etsy_sort(const struct md_hist *h, struct etsy_sorted *s)
{
    memset(s, 0, sizeof *s);
    if (h->n == 0)
        return 0;
    s->v = malloc(3 * (size_t)h->n * sizeof *s->v);
    if (!s->v)
        return -ENOMEM;
    s->cum = s->v + h->n;
    s->sq = s->cum + h->n;
    const struct md_hist_sample *hs = md_hist_samples(h);
    for (uint32_t i = 0; i < h->n; i++)
        if (isfinite(hs[i].value))
            s->v[s->n++] = hs[i].value;
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    s->cum[0] = s->v[0];
    s->sq[0] = s->v[0] * s->v[0];
    for (size_t i = 1; i < s->n; i++) {
        s->cum[i] = s->v[i] + s->cum[i - 1];
        s->sq[i] = s->v[i] * s->v[i] + s->sq[i - 1];
    }
    return 0;
}

int md_etsy_timer_flush(const struct md_hist *h, double timer_count, const double *thresholds,
                        size_t nthresholds, struct md_frame *f, const char *name, size_t name_len,
                        const struct md_series_key *key, int64_t ts, uint32_t interval)
{
    if (interval == 0)
        return -EINVAL;
    struct etsy_name nm;
    struct etsy_sorted s;
    if (etsy_name_init(&nm, "stats.timers.", name, name_len))
        return -ENOMEM;
    if (etsy_sort(h, &s)) {
        etsy_name_done(&nm);
        return -ENOMEM;
    }
    struct etsy_out o = {f, &nm, key, ts, interval, 0};
    double secs = interval;
    if (s.n == 0) {
        etsy_emit(&o, ".count", 0);
        etsy_emit(&o, ".count_ps", 0);
    } else {
        for (size_t i = 0; i < nthresholds; i++)
            etsy_threshold(&o, &s, thresholds[i]);
        size_t n = s.n, mid = n / 2;
        double sum = s.cum[n - 1], mean = sum / (double)n, diffs = 0;
        for (size_t i = 0; i < n; i++)
            diffs += (s.v[i] - mean) * (s.v[i] - mean);
        double median = n % 2 ? s.v[mid] : (s.v[mid - 1] + s.v[mid]) / 2;
        etsy_emit(&o, ".std", sqrt(diffs / (double)n));
        etsy_emit(&o, ".upper", s.v[n - 1]);
        etsy_emit(&o, ".lower", s.v[0]);
        etsy_emit(&o, ".count", timer_count);
        etsy_emit(&o, ".count_ps", timer_count / secs);
        etsy_emit(&o, ".sum", sum);
        etsy_emit(&o, ".sum_squares", s.sq[n - 1]);
        etsy_emit(&o, ".mean", mean);
        etsy_emit(&o, ".median", median);
    }
    free(s.v);
    etsy_name_done(&nm);
    return o.rc;
}

/* One or two points under "stats.<ns><name>". */
static int etsy_simple(const char *ns, const char *s1, double v1, const char *s2, double v2,
                       struct md_frame *f, const char *name, size_t name_len,
                       const struct md_series_key *key, int64_t ts, uint32_t interval)
{
    struct etsy_name nm;
    if (etsy_name_init(&nm, ns, name, name_len))
        return -ENOMEM;
    struct etsy_out o = {f, &nm, key, ts, interval, 0};
    etsy_emit(&o, s1, v1);
    if (s2)
        etsy_emit(&o, s2, v2);
    etsy_name_done(&nm);
    return o.rc;
}

int md_etsy_counter_flush(double sum, struct md_frame *f, const char *name, size_t name_len,
                          const struct md_series_key *key, int64_t ts, uint32_t interval)
{
    if (interval == 0)
        return -EINVAL;
    return etsy_simple("stats.counters.", ".rate", sum / (double)interval, ".count", sum, f, name,
                       name_len, key, ts, interval);
}

int md_etsy_gauge_flush(double value, struct md_frame *f, const char *name, size_t name_len,
                        const struct md_series_key *key, int64_t ts, uint32_t interval)
{
    return etsy_simple("stats.gauges.", NULL, value, NULL, 0, f, name, name_len, key, ts,
                       interval);
}

int md_etsy_set_flush(double count, struct md_frame *f, const char *name, size_t name_len,
                      const struct md_series_key *key, int64_t ts, uint32_t interval)
{
    return etsy_simple("stats.sets.", ".count", count, NULL, 0, f, name, name_len, key, ts,
                       interval);
}
