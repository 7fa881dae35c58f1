/*
 * Unit tests for the aggregator's context budgets: DogStatsD's
 * (dogstatsd_context_limit) and the agent's own (collector_context_limit)
 * are apart, so a statsd flood never takes a collector's slot; slots come
 * back when contexts expire; a hit limit logs one line, then at most one a
 * minute with the count since the last; the table shrinks after a mass
 * expiry and every surviving context is still found.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "aggregator_int.h"

#define T0 1700000000.0 /* a window start */

static struct md_agg *agg_new(uint32_t dsd, uint32_t own)
{
    struct md_agg_opts o = {.interval = 10, .grace = 1, .expiry_seconds = 0,
                            .context_expiry_seconds = 20, .hostname = "h",
                            .context_limit = dsd, .collector_limit = own};
    struct md_agg *a = md_agg_new(&o);
    assert_non_null(a);
    return a;
}

static void add(struct md_agg *a, bool internal, const char *fmt, int i, double now)
{
    char name[64];
    snprintf(name, sizeof name, fmt, i);
    struct md_point p = {.name = {name, (uint32_t)strlen(name)}, .type = MD_GAUGE, .value = i,
                         .sample_rate = 1};
    if (internal)
        md_agg_add_internal(a, &p, now);
    else
        md_agg_add(a, &p, now);
}

static size_t flush(struct md_agg *a, double now)
{
    struct md_frame f;
    md_agg_flush(a, now, false, &f);
    size_t n = f.nseries;
    md_frame_free(&f);
    return n;
}

static void test_budgets_apart(void **st)
{
    struct md_agg *a = agg_new(100, 10);
    for (int i = 0; i < 5; i++)
        add(a, true, "system.cpu.%d", i, T0 + 1);
    for (int i = 0; i < 150; i++) /* the flood, after the host metrics */
        add(a, false, "flood.%d", i, T0 + 1);
    for (int i = 5; i < 12; i++) /* host metrics first seen during the flood */
        add(a, true, "system.cpu.%d", i, T0 + 2);
    const struct md_agg_stats *s = md_agg_stats(a);
    assert_int_equal(s->context_limit_drops, 50);
    assert_int_equal(s->collector_limit_drops, 2);
    assert_int_equal(s->contexts_collector, 10);
    assert_int_equal(s->contexts_live, 110);
    /* Samples of contexts that exist are never dropped, whoever sends them. */
    add(a, false, "flood.%d", 99, T0 + 3);
    add(a, true, "system.cpu.%d", 9, T0 + 3);
    assert_int_equal(s->context_limit_drops, 50);
    assert_int_equal(s->collector_limit_drops, 2);
    assert_int_equal(flush(a, T0 + 11), 110);
    md_agg_free(a);
}

static void test_expiry_gives_slots_back(void **st)
{
    struct md_agg *a = agg_new(10, 3);
    for (int i = 0; i < 12; i++)
        add(a, false, "old.%d", i, T0 + 1);
    for (int i = 0; i < 3; i++)
        add(a, true, "own.%d", i, T0 + 1);
    assert_int_equal(md_agg_stats(a)->context_limit_drops, 2);
    flush(a, T0 + 11);
    for (int i = 0; i < 3; i++) /* the collector's contexts stay alive */
        add(a, true, "own.%d", i, T0 + 25);
    flush(a, T0 + 31);
    flush(a, T0 + 41); /* the statsd contexts, idle for 20 s, expire here */
    const struct md_agg_stats *s = md_agg_stats(a);
    assert_int_equal(s->contexts_expired, 10);
    assert_int_equal(s->contexts_live, 3);
    assert_int_equal(s->contexts_collector, 3);
    for (int i = 0; i < 10; i++)
        add(a, false, "new.%d", i, T0 + 42);
    add(a, false, "new.%d", 10, T0 + 42);
    assert_int_equal(s->context_limit_drops, 3);
    assert_int_equal(s->contexts_live, 13);
    md_agg_free(a);
}

/* stderr into a temporary file while f runs; its lines are counted after. */
struct captured {
    FILE *f;
    int saved;
};

static void capture_start(struct captured *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(2);
    dup2(fileno(c->f), 2);
}

static char *capture_end(struct captured *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    long n = ftell(c->f);
    char *text = calloc(1, (size_t)n + 1);
    rewind(c->f);
    assert_int_equal(fread(text, 1, (size_t)n, c->f), (size_t)n);
    fclose(c->f);
    return text;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_limit_log_lines(void **st)
{
    struct captured c;
    struct md_agg *a = agg_new(1, 0);
    capture_start(&c);
    add(a, false, "m.%d", 0, T0 + 1);
    for (int i = 1; i <= 1000; i++) /* 1000 drops within the first minute: the first logs */
        add(a, false, "m.%d", i, T0 + 1 + i * 0.05);
    flush(a, T0 + 41); /* under a minute since the line: nothing */
    for (int i = 0; i < 3; i++) /* a minute after the first line: the next drop reports 1000 */
        add(a, false, "late.%d", i, T0 + 62 + i);
    add(a, false, "later.%d", 0, T0 + 70);
    flush(a, T0 + 100);  /* 3 drops since, under a minute: nothing */
    flush(a, T0 + 130);  /* a minute since the last line: the seal reports it */
    flush(a, T0 + 300);  /* nothing new: silent */
    md_agg_free(a);
    char *text = capture_end(&c);
    assert_int_equal(count(text, "\n"), 3);
    assert_int_equal(count(text, "dogstatsd_context_limit reached: 1 live DogStatsD contexts"), 1);
    assert_int_equal(count(text, "raise dogstatsd_context_limit"), 1);
    assert_int_equal(count(text, "dogstatsd_context_limit (1): 1000 sample(s) of new DogStatsD "
                                 "contexts dropped in the last 61 s"), 1);
    assert_int_equal(count(text, "dogstatsd_context_limit (1): 3 sample(s) of new DogStatsD "
                                 "contexts dropped in the last 68 s"), 1);
    assert_int_equal(count(text, "WARN"), 3);
    free(text);
}

static void test_collector_limit_logs_its_key(void **st)
{
    struct captured c;
    struct md_agg *a = agg_new(0, 2);
    capture_start(&c);
    for (int i = 0; i < 5; i++)
        add(a, true, "own.%d", i, T0 + 1);
    for (int i = 0; i < 100000; i++) /* unlimited: never logs */
        add(a, false, "dsd.%d", i, T0 + 1);
    char *text = capture_end(&c);
    assert_int_equal(md_agg_stats(a)->collector_limit_drops, 3);
    assert_int_equal(md_agg_stats(a)->context_limit_drops, 0);
    assert_int_equal(count(text, "\n"), 1);
    assert_int_equal(count(text, "collector_context_limit reached: 2 live collector contexts"), 1);
    free(text);
    md_agg_free(a);
}

static void test_table_shrinks_after_expiry(void **st)
{
    struct md_agg *a = agg_new(0, 0);
    for (int i = 0; i < 100; i++)
        add(a, true, "keep.%d", i, T0 + 1);
    for (int i = 0; i < 50000; i++)
        add(a, false, "flood.%d", i, T0 + 1);
    uint32_t big = a->cap;
    assert_true(big >= 65536);
    assert_int_equal(flush(a, T0 + 11), 50100);
    assert_int_equal(a->cap, big);
    for (int i = 0; i < 100; i++)
        add(a, true, "keep.%d", i, T0 + 30);
    flush(a, T0 + 31); /* the flood, idle for 20 s, expires: the table shrinks */
    assert_int_equal(md_agg_stats(a)->contexts_live, 100);
    assert_int_equal(a->cap, 1024);
    /* Every survivor is found after the rehash: no new context for them. */
    uint64_t created = md_agg_stats(a)->contexts_created;
    for (int i = 0; i < 100; i++)
        add(a, true, "keep.%d", i, T0 + 42);
    assert_int_equal(md_agg_stats(a)->contexts_created, created);
    assert_int_equal(flush(a, T0 + 51), 100);
    md_agg_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budgets_apart),
        cmocka_unit_test(test_expiry_gives_slots_back),
        cmocka_unit_test(test_limit_log_lines),
        cmocka_unit_test(test_collector_limit_logs_its_key),
        cmocka_unit_test(test_table_shrinks_after_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
