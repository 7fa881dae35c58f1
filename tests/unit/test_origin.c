/*
 * test_origin.c: origin detection's line rewriting and cache, against the
 * container table filled from fixtures (a v1 container plus its ECS task
 * metadata), and the pid path against this test's own /proc entry (it runs
 * in no container, so it must come out untagged and counted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containers.h"
#include "ecs.h"
#include "origin.h"

#define ID1 "d0c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4"

static struct md_containers *store;
static struct md_origin_stats st;

static int setup(void **s)
{
    (void)s;
    char err[256];
    struct md_containers_opts o = {.cgroup_root = MD_FIXTURES "/cgroup-v1", .procfs = MD_FIXTURES "/none"};
    store = md_containers_new(&o, err, sizeof err);
    assert_non_null(store);
    md_containers_discover(store, 1);
    FILE *f = fopen(MD_FIXTURES "/ecs/task_v4.json", "re");
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(md_ecs_apply_task(store, buf, n), 2);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    md_containers_free(store);
    return 0;
}

static char *apply(struct md_origin *o, int pid, const char *in, size_t *len)
{
    static char line[1024];
    snprintf(line, sizeof line, "%s", in);
    return md_origin_apply(o, pid, line, strlen(line), 100.0, len);
}

static void expect(struct md_origin *o, int pid, const char *in, const char *want)
{
    size_t len;
    char *out = apply(o, pid, in, &len);
    if (strlen(want) != len || memcmp(out, want, len) != 0)
        fail_msg("%s\n  got  %.*s\n  want %s", in, (int)len, out, want);
}

#define LOW "runtime:docker,docker_image:111122223333.dkr.ecr.us-west-2.amazonaws.com/checkout:2.1.0," \
            "image_name:111122223333.dkr.ecr.us-west-2.amazonaws.com/checkout,short_image:checkout," \
            "image_tag:2.1.0,task_family:checkout,task_version:42,ecs_cluster_name:prod-web,ecs_container_name:web"

static void test_field_and_rewrite(void **s)
{
    (void)s;
    struct md_origin *o = md_origin_new(store, "/proc", false, true, 0, 512, &st);
    assert_non_null(o);
    /* tags appended to the |# field wherever it is, or a new one at the end */
    expect(o, 0, "a:1|c|#x:y|c:" ID1, "a:1|c|#x:y," LOW "|c:" ID1);
    expect(o, 0, "a:1|c|c:ci-" ID1 "|#x:y|@0.5", "a:1|c|c:ci-" ID1 "|#x:y," LOW "|@0.5");
    expect(o, 0, "a:1|g|c:" ID1, "a:1|g|c:" ID1 "|#" LOW);
    expect(o, 0, "a:1|g|#|c:" ID1, "a:1|g|#" LOW "|c:" ID1);
    /* cardinality from |card: */
    size_t len;
    char *out = apply(o, 0, "a:1|c|c:" ID1 "|card:high", &len);
    assert_non_null(memmem(out, len, "container_id:" ID1, strlen("container_id:" ID1)));
    assert_non_null(memmem(out, len, "container_name:ecs-checkout-42-web", 34));
    out = apply(o, 0, "a:1|c|c:" ID1 "|card:orchestrator", &len);
    assert_non_null(memmem(out, len, "task_arn:", 9));
    assert_null(memmem(out, len, "container_id:", 13));
    out = apply(o, 0, "a:1|c|c:" ID1 "|card:bogus", &len); /* unknown: the default */
    assert_null(memmem(out, len, "task_arn:", 9));
    /* untouched: unknown container, cgroup inode form, no origin, events, service checks */
    expect(o, 0, "a:1|c|c:ffff", "a:1|c|c:ffff");
    /* a container the table does not know yet: its id is still known, at high cardinality */
    expect(o, 0, "a:1|c|c:eeee|card:high", "a:1|c|c:eeee|card:high|#container_id:eeee");
    expect(o, 0, "a:1|c|c:in-1234", "a:1|c|c:in-1234");
    expect(o, 0, "a:1|c|#x:y", "a:1|c|#x:y");
    expect(o, 0, "_e{1,1}:t|x|c:" ID1, "_e{1,1}:t|x|c:" ID1);
    expect(o, 0, "_sc|n|0|c:" ID1, "_sc|n|0|c:" ID1);
    assert_true(atomic_load(&st.tagged) >= 7);
    md_origin_free(o);
}

static void test_too_long_is_counted(void **s)
{
    (void)s;
    struct md_origin *o = md_origin_new(store, "/proc", false, true, 2, 16, &st);
    uint64_t before = atomic_load(&st.too_long);
    char line[2048];
    memset(line, 'a', sizeof line);
    int n = snprintf(line + 1200, sizeof line - 1200, ":1|c|c:%s", ID1);
    size_t len;
    char *out = md_origin_apply(o, 0, line, (size_t)(1200 + n), 1.0, &len);
    assert_ptr_equal(out, line); /* sent as it came, without the tags */
    assert_int_equal(len, (size_t)(1200 + n));
    assert_int_equal(atomic_load(&st.too_long), before + 1);
    md_origin_free(o);
}

static void test_pid_outside_containers(void **s)
{
    (void)s;
    struct md_origin *o = md_origin_new(store, "/proc", true, false, 2, 512, &st);
    uint64_t nc = atomic_load(&st.no_container), lk = atomic_load(&st.lookups);
    expect(o, getpid(), "a:1|c", "a:1|c");
    expect(o, getpid(), "a:1|c", "a:1|c");
    assert_int_equal(atomic_load(&st.no_container), nc + 2);
    assert_int_equal(atomic_load(&st.lookups), lk + 1); /* the second came from the cache */
    md_origin_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_and_rewrite),
        cmocka_unit_test(test_too_long_is_counted),
        cmocka_unit_test(test_pid_outside_containers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
