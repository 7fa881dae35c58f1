/*
 * test_mapper.c: dogstatsd_mapper_profiles.
 *
 * The scenarios are those of the Datadog agent's
 * comp/dogstatsd/mapper/mapper_test.go (TestMappings, TestMappingErrors),
 * written as C profile tables, plus the corners that test leaves open:
 * greedy captures inside a segment, Go's $name expansion rules, segments
 * that must line up, and the cache (hits, misses, LRU eviction).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapper.h"
#include "meterd/config.h"

#define LIST(...) {(char *[]){__VA_ARGS__}, sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)}
#define NOTAGS {NULL, 0}
#define MAPS(...) (struct md_mapper_mapping[]){__VA_ARGS__}, \
    sizeof((struct md_mapper_mapping[]){__VA_ARGS__}) / sizeof(struct md_mapper_mapping)
#define PROFILES(...) (struct md_mapper_profile[]){__VA_ARGS__}, \
    sizeof((struct md_mapper_profile[]){__VA_ARGS__}) / sizeof(struct md_mapper_profile)

static struct md_mapper *build(const struct md_mapper_profile *p, size_t n, size_t cache)
{
    char err[256] = "";
    struct md_mapper *m = md_mapper_new(p, n, cache, err, sizeof err);
    if (!m)
        fail_msg("md_mapper_new: %s", err);
    return m;
}

/* Map name and compare with want_name and the "k:v" tags, in config order. */
static void expect_map(struct md_mapper *m, const char *name, const char *want_name,
                       const char *const *want_tags, size_t ntags)
{
    struct md_mapper_result r;
    int rc = md_mapper_map(m, name, strlen(name), &r);
    if (rc != 1)
        fail_msg("%s: not mapped (rc %d)", name, rc);
    if (r.name.len != strlen(want_name) || memcmp(r.name.p, want_name, r.name.len) != 0)
        fail_msg("%s: name %.*s, want %s", name, (int)r.name.len, r.name.p, want_name);
    assert_int_equal(r.ntags, ntags);
    for (size_t i = 0; i < ntags; i++)
        if (r.tags[i].len != strlen(want_tags[i]) ||
            memcmp(r.tags[i].p, want_tags[i], r.tags[i].len) != 0)
            fail_msg("%s: tag %zu %.*s, want %s", name, i, (int)r.tags[i].len, r.tags[i].p,
                     want_tags[i]);
}

#define EXPECT(m, name, want, ...) \
    expect_map(m, name, want, (const char *const[]){__VA_ARGS__}, \
               sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))
#define EXPECT_NOTAGS(m, name, want) expect_map(m, name, want, NULL, 0)

static void expect_unmapped(struct md_mapper *m, const char *name)
{
    struct md_mapper_result r = {{"untouched", 9}, NULL, 0};
    assert_int_equal(md_mapper_map(m, name, strlen(name), &r), 0);
    assert_int_equal(r.name.len, 9); /* out is left alone */
}

/* ---- mapper_test.go TestMappings ---- */

static void test_simple(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"test", "test.", MAPS(
        {"test.job.duration.*.*", MD_MATCH_WILDCARD, "test.job.duration", LIST("job_type:$1", "job_name:$2")},
        {"test.job.size.*.*", MD_MATCH_WILDCARD, "test.job.size", LIST("foo:$1", "bar:$2")})}), 0);
    EXPECT(m, "test.job.duration.my_job_type.my_job_name", "test.job.duration",
           "job_type:my_job_type", "job_name:my_job_name");
    EXPECT(m, "test.job.size.my_job_type.my_job_name", "test.job.size", "foo:my_job_type",
           "bar:my_job_name");
    expect_unmapped(m, "test.job.size.not_match");
    md_mapper_free(m);
}

static void test_partial_and_no_tags(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"test", "test.", MAPS(
        {"test.job.duration.*.*", MD_MATCH_WILDCARD, "test.job.duration", LIST("job_type:$1")},
        {"test.task.duration.*.*", MD_MATCH_WILDCARD, "test.task.duration", NOTAGS},
        {"test.my-worker.start", MD_MATCH_WILDCARD, "test.worker.start", NOTAGS},
        {"test.my-worker.stop.*", MD_MATCH_WILDCARD, "test.worker.stop", NOTAGS})}), 0);
    EXPECT(m, "test.job.duration.my_job_type.my_job_name", "test.job.duration",
           "job_type:my_job_type");
    EXPECT_NOTAGS(m, "test.task.duration.my_job_type.my_job_name", "test.task.duration");
    EXPECT_NOTAGS(m, "test.my-worker.start", "test.worker.start");
    EXPECT_NOTAGS(m, "test.my-worker.stop.worker-name", "test.worker.stop");
    md_mapper_free(m);
}

static void test_expansion(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"test", "test.", MAPS(
        {"test.job.duration.*.*", MD_MATCH_WILDCARD, "test.hello.$2.$1",
         LIST("job_type:${1}_x", "job_name:${2}_y")},
        {"test.*_start", MD_MATCH_WILDCARD, "test.start", LIST("job:$1")},
        {"test.abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234567.*", MD_MATCH_WILDCARD,
         "test.alphabet", NOTAGS})}), 0);
    EXPECT(m, "test.job.duration.my_job_type.my_job_name", "test.hello.my_job_name.my_job_type",
           "job_type:my_job_type_x", "job_name:my_job_name_y");
    EXPECT(m, "test.my_job_start", "test.start", "job:my_job");
    EXPECT_NOTAGS(m, "test.abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234567.123",
                  "test.alphabet");
    md_mapper_free(m);
}

static void test_regex(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"test", "test.", MAPS(
        {"test\\.job\\.duration\\.(.*)", MD_MATCH_REGEX, "test.job.duration", LIST("job_name:$1")},
        {"test\\.task\\.duration\\.(.*)", MD_MATCH_REGEX, "test.task.duration", LIST("task_name:$1")},
        {"test\\.job\\.([a-z][0-9]-\\w+)\\.(.*)", MD_MATCH_REGEX, "test.job",
         LIST("job_type:$1", "job_name:$2")})}), 0);
    EXPECT(m, "test.job.duration.my.funky.job$name-abc/123", "test.job.duration",
           "job_name:my.funky.job$name-abc/123");
    EXPECT(m, "test.task.duration.MY_task_name", "test.task.duration", "task_name:MY_task_name");
    EXPECT(m, "test.job.a5-foo.bar", "test.job", "job_type:a5-foo", "job_name:bar");
    expect_unmapped(m, "test.job.foo.bar-not-match");
    /* anchored: a match inside the name is not enough */
    expect_unmapped(m, "test.task.durationX");
    md_mapper_free(m);
}

static void test_profile_prefix(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES(
        {"test", "foo.", MAPS({"foo.duration.*", MD_MATCH_WILDCARD, "foo.duration", LIST("name:$1")})},
        {"test", "bar.", MAPS({"bar.count.*", MD_MATCH_WILDCARD, "bar.count", LIST("name:$1")},
                              {"foo.duration2.*", MD_MATCH_WILDCARD, "foo.duration2", LIST("name:$1")})}), 0);
    EXPECT(m, "foo.duration.foo_name1", "foo.duration", "name:foo_name1");
    expect_unmapped(m, "foo.duration2.foo_name1"); /* its mapping is in the wrong profile */
    EXPECT(m, "bar.count.bar_name1", "bar.count", "name:bar_name1");
    expect_unmapped(m, "z.not.mapped");
    md_mapper_free(m);
}

static void test_wildcard_prefix(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES(
        {"test", "*", MAPS({"foo.duration.*", MD_MATCH_WILDCARD, "foo.duration", LIST("name1:$1")})},
        {"test", "*", MAPS({"foo.duration.*", MD_MATCH_WILDCARD, "foo.duration", LIST("name2:$1")})}), 0);
    EXPECT(m, "foo.duration.foo_name", "foo.duration", "name1:foo_name");
    md_mapper_free(m);
}

/* The first profile whose prefix matches is the only one tried, even if a later one is longer. */
static void test_profile_order(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES(
        {"test", "foo.", MAPS({"foo.*.duration.*", MD_MATCH_WILDCARD, "foo.bar1.duration",
                               LIST("bar:$1", "foo:$2")})},
        {"test", "foo.bar.", MAPS({"foo.bar.duration.*", MD_MATCH_WILDCARD, "foo.bar2.duration",
                                   LIST("foo_bar:$1")})}), 0);
    EXPECT(m, "foo.bar.duration.foo_name", "foo.bar1.duration", "bar:bar", "foo:foo_name");
    md_mapper_free(m);
}

/* ---- corners ---- */

static void test_wildcard_segments(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"p", "abc.", MAPS(
        {"abc.*_sdf.*", MD_MATCH_WILDCARD, "abc.sdf", LIST("a:$1", "b:$2")},
        {"abc.*.*", MD_MATCH_WILDCARD, "abc.two", LIST("a:$1", "b:$2")},
        {"abc.x*y*z", MD_MATCH_WILDCARD, "abc.xyz", LIST("a:$1", "b:$2")})}), 0);
    /* greedy like Go's ([^.]*): the first star takes the longest run it can */
    EXPECT(m, "abc.x_sdf_sdf.y", "abc.sdf", "a:x_sdf", "b:y");
    EXPECT(m, "abc._sdf.", "abc.sdf", "a:", "b:"); /* a star may be empty */
    EXPECT(m, "abc.q.r", "abc.two", "a:q", "b:r");
    EXPECT(m, "abc.xayybz", "abc.xyz", "a:ay", "b:b"); /* as ([^.]*)y([^.]*)z */
    /* a star never crosses a dot, so the segments must line up */
    expect_unmapped(m, "abc.q.r.s");
    expect_unmapped(m, "abc.q");
    expect_unmapped(m, "abcd.q.r");
    md_mapper_free(m);
}

/* Go regexp.Expand: $name is the longest word, ${n}, $$, $0, unknown -> "". */
static void test_expand_rules(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"p", "e.", MAPS(
        {"e.*.*", MD_MATCH_WILDCARD, "e.$1_x.${2}",
         LIST("t1:$1_x", "t2:${1}_x", "t3:$$1", "t4:$0", "t5:$9", "t6:${1", "t7:$-", "t8:$01",
              "t9:cost$", "bare$2")})}), 0);
    EXPECT(m, "e.a.b", "e..b", "t1:", "t2:a_x", "t3:$1", "t4:e.a.b", "t5:", "t6:${1", "t7:$-",
           "t8:", "t9:cost$", "bareb");
    md_mapper_free(m);
}

/* A pattern that would backtrack exponentially finishes quickly. */
static void test_pathological_pattern(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"p", "x.", MAPS(
        {"x.*a*a*a*a*a*a*b", MD_MATCH_WILDCARD, "x.b", NOTAGS},
        {"x.*a*a*a*a*a*a*", MD_MATCH_WILDCARD, "x.a", LIST("first:$1")})}), 0);
    char name[1 + 2 + 1500];
    memcpy(name, "x.", 2);
    memset(name + 2, 'a', sizeof name - 3);
    name[sizeof name - 1] = '\0';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct md_mapper_result r;
    assert_int_equal(md_mapper_map(m, name, strlen(name), &r), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 5);
    assert_memory_equal(r.name.p, "x.a", 3);
    /* greedy: the first capture leaves exactly one 'a' for each later literal */
    assert_int_equal(r.tags[0].len, strlen("first:") + (strlen(name) - 2) - 6);
    md_mapper_free(m);
}

/* ---- mapper_test.go TestMappingErrors: the config refuses these at load ---- */

static void expect_error(const char *profiles_json, const char *want)
{
    struct md_config c;
    char err[512] = "";
    char *sets[1];
    if (asprintf(&sets[0], "dogstatsd_mapper_profiles=%s", profiles_json) < 0)
        fail_msg("out of memory");
    int rc = md_config_load(&c, NULL, sets, 1, err, sizeof err);
    md_config_free(&c);
    free(sets[0]);
    if (rc == 0)
        fail_msg("accepted; want error containing \"%s\"", want);
    if (!strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

#define ONE(match, type, name) \
    "[{\"name\":\"test\",\"prefix\":\"test.\",\"mappings\":[{\"match\":\"" match \
    "\",\"match_type\":\"" type "\",\"name\":\"" name "\"}]}]"

static void test_errors(void **state)
{
    (void)state;
    expect_error(ONE("test.job.duration.*.*", "wildcard", ""),
                 "--set dogstatsd_mapper_profiles[0].mappings[0].name: name is required");
    expect_error("[{\"name\":\"test\",\"prefix\":\"test.\",\"mappings\":[{\"name\":\"x\"}]}]",
                 "match is required");
    expect_error(ONE("test.[]duration.*.*", "wildcard", "x"), "it may only contain [A-Za-z0-9_.*-]");
    expect_error(ONE("^test.invalid.duration.*.*", "wildcard", "x"),
                 "invalid wildcard match pattern `^test.invalid.duration.*.*`");
    expect_error(ONE("test.invalid.duration.**", "wildcard", "x"),
                 "it should not contain consecutive `*`");
    expect_error(ONE("test.invalid.duration", "invalid", "x"), "invalid match type");
    expect_error(ONE("test.(", "regex", "x"), "cannot compile regex");
    expect_error("[{\"prefix\":\"test.\",\"mappings\":[]}]", "missing profile name");
    expect_error("[{\"name\":\"test\",\"prefix\":\"\",\"mappings\":[]}]",
                 "missing prefix for profile");
    /* a later profile's error names that profile and mapping */
    expect_error("[{\"name\":\"ok\",\"prefix\":\"a.\",\"mappings\":[{\"match\":\"a.*\",\"name\":\"a\"}]},"
                 "{\"name\":\"bad\",\"prefix\":\"b.\",\"mappings\":[{\"match\":\"b.*\",\"name\":\"b\"},"
                 "{\"match\":\"b.*.**\",\"name\":\"b\"}]}]",
                 "dogstatsd_mapper_profiles[1].mappings[1].match");
}

static void test_no_profiles(void **state)
{
    (void)state;
    struct md_mapper *m = build(NULL, 0, 0);
    expect_unmapped(m, "anything");
    assert_int_equal(md_mapper_stats(m)->misses, 0);
    md_mapper_free(m);
}

/* ---- cache ---- */

static void test_cache_hits(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"p", "c.", MAPS({"c.*.x", MD_MATCH_WILDCARD, "c.x",
                                                           LIST("k:$1")})}), 0);
    const struct md_mapper_stats *st = md_mapper_stats(m);
    struct md_mapper_result a, b;
    assert_int_equal(md_mapper_map(m, "c.one.x", 7, &a), 1);
    assert_int_equal(st->misses, 1);
    assert_int_equal(st->hits, 0);
    assert_int_equal(md_mapper_map(m, "c.one.x", 7, &b), 1);
    assert_int_equal(st->misses, 1); /* not recomputed */
    assert_int_equal(st->hits, 1);
    assert_ptr_equal(a.name.p, b.name.p); /* the cached copy itself */
    assert_ptr_equal(a.tags, b.tags);
    assert_memory_equal(b.tags[0].p, "k:one", 5);
    /* an unmapped name under a profile is cached as a miss too */
    expect_unmapped(m, "c.two.y");
    expect_unmapped(m, "c.two.y");
    assert_int_equal(st->misses, 2);
    assert_int_equal(st->hits, 2);
    /* a name no profile covers never reaches the cache */
    expect_unmapped(m, "other.one.x");
    assert_int_equal(st->misses + st->hits, 4);
    assert_int_equal(st->entries, 2);
    /* the key is the whole name, not a prefix of it */
    expect_unmapped(m, "c.one.xx");
    md_mapper_free(m);
}

static void test_cache_lru(void **state)
{
    (void)state;
    struct md_mapper *m = build(PROFILES({"p", "*", MAPS({"*.*", MD_MATCH_WILDCARD, "m.$2",
                                                          LIST("k:$1")})}), 2);
    const struct md_mapper_stats *st = md_mapper_stats(m);
    EXPECT(m, "a.1", "m.1", "k:a");
    EXPECT(m, "b.2", "m.2", "k:b");
    EXPECT(m, "a.1", "m.1", "k:a"); /* hit; a is now the most recent */
    assert_int_equal(st->hits, 1);
    EXPECT(m, "c.3", "m.3", "k:c"); /* full: evicts b, the least recent */
    assert_int_equal(st->evictions, 1);
    assert_int_equal(st->entries, 2);
    EXPECT(m, "a.1", "m.1", "k:a");
    assert_int_equal(st->hits, 2);
    EXPECT(m, "b.2", "m.2", "k:b"); /* recomputed, evicts c */
    assert_int_equal(st->misses, 4);
    assert_int_equal(st->evictions, 2);
    /* many distinct names: bounded, and results stay right */
    char name[32], want[32], tag[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "n%d.%d", i, i * 3);
        snprintf(want, sizeof want, "m.%d", i * 3);
        snprintf(tag, sizeof tag, "k:n%d", i);
        EXPECT(m, name, want, tag);
        EXPECT(m, name, want, tag);
    }
    assert_int_equal(st->entries, 2);
    assert_int_equal(st->evictions, 2 + 500);
    md_mapper_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_partial_and_no_tags),
        cmocka_unit_test(test_expansion),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_profile_prefix),
        cmocka_unit_test(test_wildcard_prefix),
        cmocka_unit_test(test_profile_order),
        cmocka_unit_test(test_wildcard_segments),
        cmocka_unit_test(test_expand_rules),
        cmocka_unit_test(test_pathological_pattern),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_profiles),
        cmocka_unit_test(test_cache_hits),
        cmocka_unit_test(test_cache_lru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
