/*
 * test_context_keys.c: the intake's fast key against the aggregator's key.
 *
 * An intake thread keys a sample from its lazily parsed line, through the
 * key cache (md_statsd_fast_key); the aggregator keys the same sample from
 * the enriched point (md_statsd_enrich, md_keyer_key) when it creates the
 * context. If the two ever disagreed, every sample of that context would
 * miss the table and be parsed a second time, and nothing would look wrong
 * but the speed. So both are computed here for a large generated set of
 * lines (every type, packed values, sample rates, tags in any order,
 * duplicate tags, host: tags, empty and value-less tags, container ids,
 * timestamps) under several configurations (global tags, dogstatsd_tags,
 * namespace, etsy name sanitising, a mapper profile), each line keyed twice
 * so that the second key comes from the cache. Both must also apply the
 * same tag limit: lines at and just past 256 distinct tags, written with
 * repeats, host: tags, global and dogstatsd_tags among them, are kept by
 * both or dropped (and counted) by both.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "context.h"
#include "meterd/config.h"
#include "meterd/parse.h"
#include "module_opts.h"
#include "statsd.h"

#define LINES 20000

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static const char *const names[] = {
    "api.requests", "api.latency", "db.query.time", "a", "page.views", "weird name/with-bits",
    "airflow.job.duration_sec.etl.daily", "airflow.job.duration_sec.x.y", "airflow.other",
    "exempt.metric", "x.y.z.w",
};
static const char *const tags[] = {
    "env:prod", "env:dev", "service:web", "region:eu-west-1", "version:1.2.3", "bare",
    "team:core", "a:b:c", "zone:", "k:v", "env:prod", "service:api", "z", "host_like:x",
};
static const char *const hosts[] = {"host:h1", "host:h2", "host:", "host:web-3.example"};
static const char *const types[] = {"c", "g", "ms", "h", "s", "d"};

/* One random metric line into buf; returns its length. */
static size_t gen_line(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s:", names[rnd(sizeof names / sizeof names[0])]);
    const char *type = types[rnd(6)];
    if (strcmp(type, "s") == 0) {
        n += snprintf(buf + n, cap - n, "member%u", rnd(50));
    } else {
        uint32_t packed = rnd(4) == 0 ? 2 + rnd(3) : 1;
        for (uint32_t i = 0; i < packed; i++)
            n += snprintf(buf + n, cap - n, "%s%s%u.%u", i ? ":" : "",
                          strcmp(type, "g") == 0 && rnd(3) == 0 ? "-" : "", rnd(1000), rnd(10));
    }
    n += snprintf(buf + n, cap - n, "|%s", type);
    if (rnd(3) == 0)
        n += snprintf(buf + n, cap - n, "|@0.%u", 1 + rnd(9));
    uint32_t ntags = rnd(8);
    if (ntags) {
        n += snprintf(buf + n, cap - n, "|#");
        for (uint32_t i = 0; i < ntags; i++) {
            const char *t = rnd(6) == 0 ? hosts[rnd(4)] : tags[rnd(sizeof tags / sizeof tags[0])];
            n += snprintf(buf + n, cap - n, "%s%s", i ? "," : "", t);
        }
    }
    if (rnd(8) == 0)
        n += snprintf(buf + n, cap - n, "|c:ci-%u", rnd(4));
    if (rnd(10) == 0)
        n += snprintf(buf + n, cap - n, "|T%u", 1700000000 + rnd(100));
    return (size_t)n;
}

struct keys {
    struct md_statsd_opts so;
    struct md_statsd *sd;
    struct md_keyer keyer;
    struct md_parse_opts lazy, full;
};

static void keys_init(struct keys *k, struct md_config *cfg)
{
    md_config_statsd_opts(cfg, &k->so);
    assert_non_null(k->sd = md_statsd_new(&k->so, NULL));
    struct md_str gt[16];
    size_t ng = cfg->tags.n < 16 ? cfg->tags.n : 16;
    for (size_t i = 0; i < ng; i++)
        gt[i] = (struct md_str){cfg->tags.v[i], (uint32_t)strlen(cfg->tags.v[i])};
    assert_int_equal(md_keyer_init(&k->keyer, "agent-host", gt, (uint32_t)ng), 0);
    k->full = *md_statsd_parse_opts(k->sd);
    k->lazy = k->full;
    k->lazy.lazy_tags = true;
}

static void keys_free(struct keys *k)
{
    md_keyer_free(&k->keyer);
    md_statsd_free(k->sd);
}

/* The configuration from file (NULL: none) and --set lines, and k from it. */
static void keys_load(struct keys *k, struct md_config *cfg, const char *file, char **sets,
                      size_t nsets)
{
    char err[512];
    if (md_config_load(cfg, file, sets, nsets, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    keys_init(k, cfg);
}

static void keys_unload(struct keys *k, struct md_config *cfg)
{
    keys_free(k);
    md_config_free(cfg);
}

/* line parsed as the intake does (lazy tags) and as the aggregator does. */
static void parse_both(struct keys *k, const char *line, size_t len, struct md_msg *lazy,
                       struct md_msg *full)
{
    static char a[8192], b[8192]; /* the messages point into them */
    assert_true(len <= sizeof a);
    memcpy(a, line, len);
    memcpy(b, line, len);
    assert_int_equal(md_parse_line(a, len, &k->lazy, lazy), MD_MSG_METRIC);
    assert_int_equal(md_parse_line(b, len, &k->full, full), MD_MSG_METRIC);
}

/* The fast key (uncached, then cached) and the slow key of one line; 1 when compared. */
static int compare_line(struct keys *k, const char *line, size_t len)
{
    struct md_msg lazy, full;
    parse_both(k, line, len, &lazy, &full);
    uint64_t fast1 = 0, fast2 = 0, slow = 0;
    int rc1 = md_statsd_fast_key(k->sd, &k->keyer, &lazy.u.metric, &fast1);
    int rc2 = md_statsd_fast_key(k->sd, &k->keyer, &lazy.u.metric, &fast2);
    struct md_point p;
    bool kept = md_statsd_enrich(k->sd, &full.u.metric, &p);
    if (rc1 == 1) { /* the blocklist: the slow path must drop it too */
        assert_false(kept);
        return 0;
    }
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_true(kept);
    assert_int_equal(md_keyer_key(&k->keyer, &p, &slow), 0);
    if (fast1 != slow || fast2 != slow)
        fail_msg("fast key %016llx (cached %016llx) != slow key %016llx for line: %.*s",
                 (unsigned long long)fast1, (unsigned long long)fast2,
                 (unsigned long long)slow, (int)len, line);
    return 1;
}

static void run_config(const char *file, char **sets, size_t nsets)
{
    struct md_config cfg;
    struct keys k;
    keys_load(&k, &cfg, file, sets, nsets);
    char line[1024];
    int compared = 0;
    for (int i = 0; i < LINES; i++) {
        size_t len = gen_line(line, sizeof line);
        compared += compare_line(&k, line, len);
    }
    assert_true(compared > LINES / 2);
    keys_unload(&k, &cfg);
}

static void test_defaults(void **st)
{
    run_config(NULL, NULL, 0);
}

static void test_tags_namespace_blocklist(void **st)
{
    char *sets[] = {"tags=[env:prod, global:1, bare]", "dogstatsd_tags=[dd:1, env:prod]",
                    "statsd_metric_namespace=ns", "statsd_metric_namespace_blocklist=[exempt.]",
                    "statsd_metric_blocklist=[ns.a]"};
    run_config(NULL, sets, sizeof sets / sizeof sets[0]);
}

static void test_etsy(void **st)
{
    char *sets[] = {"statsd_mode=etsy", "tags=[g:1]"};
    run_config(NULL, sets, sizeof sets / sizeof sets[0]);
}

static void test_mapper(void **st)
{
    char *sets[] = {"tags=[t:1]"};
    run_config(MD_FIXTURES "/config/good-full.yaml", sets, 1);
}

/* A key that can fail: two lines that differ only in their context must not share a key. */
static void test_keys_tell_contexts_apart(void **st)
{
    struct md_config cfg;
    struct keys k;
    keys_load(&k, &cfg, NULL, NULL, 0);
    const char *lines[] = {"m:1|c|#a:1,b:2", "m:1|c|#b:2,a:1,a:1", "m:1|c|#a:1,b:2,host:x",
                           "m:1|c|#a:1", "n:1|c|#a:1,b:2"};
    uint64_t key[5];
    for (int i = 0; i < 5; i++) {
        char b[64];
        size_t len = strlen(lines[i]);
        memcpy(b, lines[i], len);
        struct md_msg m;
        assert_int_equal(md_parse_line(b, len, &k.lazy, &m), MD_MSG_METRIC);
        assert_int_equal(md_statsd_fast_key(k.sd, &k.keyer, &m.u.metric, &key[i]), 0);
    }
    assert_true(key[0] == key[1]); /* order and duplicates do not matter */
    assert_true(key[0] != key[2] && key[0] != key[3] && key[0] != key[4]);
    keys_unload(&k, &cfg);
}

/*
 * `m:1|c|#` then tags t0..t<distinct-1>, then t0.. again `repeats` times
 * round, then `extra` (comma-separated) when not NULL.
 */
static const char *wide_line(int distinct, int repeats, const char *extra)
{
    static char line[8192];
    int n = snprintf(line, sizeof line, "m:1|c|#");
    for (int i = 0; i < distinct + repeats; i++)
        n += snprintf(line + n, sizeof line - n, "%st%d", i ? "," : "", i % distinct);
    if (extra)
        n += snprintf(line + n, sizeof line - n, ",%s", extra);
    assert_true(n < (int)sizeof line);
    return line;
}

/* The fast and the slow path on one line: both keep it (with one key) or both drop it and count it. */
static void check_limit(struct keys *k, const char *line, bool want_kept)
{
    size_t len = strlen(line);
    uint64_t before = md_statsd_stats(k->sd)->too_many_tags;
    if (want_kept) {
        assert_int_equal(compare_line(k, line, len), 1);
        assert_int_equal(md_statsd_stats(k->sd)->too_many_tags, before);
        return;
    }
    struct md_msg lazy, full;
    parse_both(k, line, len, &lazy, &full);
    uint64_t key;
    struct md_point p;
    assert_int_equal(md_statsd_fast_key(k->sd, &k->keyer, &lazy.u.metric, &key), -E2BIG);
    assert_false(md_statsd_enrich(k->sd, &full.u.metric, &p));
    assert_int_equal(md_statsd_stats(k->sd)->too_many_tags, before + 2);
}

/* The limit counts distinct tags: repeats and host: do not count, global and dogstatsd_tags do once. */
static void test_tag_limit_is_one_rule(void **st)
{
    struct md_config cfg;
    struct keys k;
    keys_load(&k, &cfg, NULL, NULL, 0);
    check_limit(&k, wide_line(256, 0, NULL), true);
    check_limit(&k, wide_line(256, 44, NULL), true); /* 300 tags, 256 distinct */
    check_limit(&k, wide_line(256, 1, "host:h,dd.internal.card:low"), true);
    check_limit(&k, wide_line(257, 0, NULL), false);
    check_limit(&k, wide_line(257, 43, NULL), false);
    keys_unload(&k, &cfg);

    char *sets[] = {"tags=[g:1, g:2]", "dogstatsd_tags=[d:1]"};
    keys_load(&k, &cfg, NULL, sets, 2);
    check_limit(&k, wide_line(253, 0, NULL), true); /* + g:1 g:2 d:1 = 256 */
    check_limit(&k, wide_line(253, 40, "g:1,g:2,d:1,g:1"), true);
    check_limit(&k, wide_line(254, 0, NULL), false);
    check_limit(&k, wide_line(254, 2, "g:2,d:1"), false);
    keys_unload(&k, &cfg);

    char *repeated[] = {"tags=[g:1, g:1, g:2]"}; /* a global tag written twice counts once */
    keys_load(&k, &cfg, NULL, repeated, 1);
    check_limit(&k, wide_line(254, 0, NULL), true);
    check_limit(&k, wide_line(254, 3, "g:1,g:2,g:1"), true);
    check_limit(&k, wide_line(255, 0, NULL), false);
    keys_unload(&k, &cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_tags_namespace_blocklist),
        cmocka_unit_test(test_etsy),
        cmocka_unit_test(test_mapper),
        cmocka_unit_test(test_keys_tell_contexts_apart),
        cmocka_unit_test(test_tag_limit_is_one_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
