/*
 * test_hostname.c: the host name resolver's order and checks, with real
 * files and the real environment. The Docker and ECS steps are run against
 * a real Docker Engine and a real HTTP server by tests/e2e/test_deploy.py;
 * here DOCKER_HOST points at a path with no socket so that step is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostname.h"

static void load(struct md_config *c, char *const *sets, size_t n)
{
    char err[512];
    setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
    unsetenv("ECS_CONTAINER_METADATA_URI_V4");
    unsetenv("ECS_CONTAINER_METADATA_URI");
    assert_int_equal(md_config_load(c, NULL, sets, n, err, sizeof err), 0);
}

static void test_json_member_top_level_only(void **state)
{
    (void)state;
    const char *j = "{\"Plugins\":{\"Name\":\"inner\"},\"Runtimes\":[{\"Name\":\"x\"}],"
                    "\"Labels\":[\"Name\"], \"Name\" : \"web-1\\/a\",\"ID\":\"q\"}";
    char out[64];
    assert_int_equal(md_hostname_json_member(j, strlen(j), "Name", out, sizeof out), 0);
    assert_string_equal(out, "web-1/a");
    assert_int_equal(md_hostname_json_member(j, strlen(j), "ID", out, sizeof out), 0);
    assert_string_equal(out, "q");
    assert_int_equal(md_hostname_json_member(j, strlen(j), "Missing", out, sizeof out), -1);
    const char *num = "{\"Name\":12}";
    assert_int_equal(md_hostname_json_member(num, strlen(num), "Name", out, sizeof out), -1);
    const char *cut = "{\"Name\":\"unterminated";
    assert_int_equal(md_hostname_json_member(cut, strlen(cut), "Name", out, sizeof out), -1);
    assert_int_equal(md_hostname_json_member(j, strlen(j), "Name", out, 4), -1); /* too long */
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(md_hostname_valid("ip-10-0-0-1.ec2.internal"));
    assert_true(md_hostname_valid("node_7"));
    assert_false(md_hostname_valid(""));
    assert_false(md_hostname_valid("localhost"));
    assert_false(md_hostname_valid("LOCALHOST.localdomain"));
    assert_false(md_hostname_valid("bad name"));
    assert_false(md_hostname_valid("-lead"));
    assert_false(md_hostname_valid("a..b"));
    char longlabel[80];
    memset(longlabel, 'a', 64);
    longlabel[64] = '\0';
    assert_false(md_hostname_valid(longlabel));
}

static void test_order(void **state)
{
    (void)state;
    char path[] = "/tmp/meterd-hn-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "  from-file \nsecond\n", 20), 20);
    close(fd);
    char file_set[128];
    snprintf(file_set, sizeof file_set, "hostname_file=%s", path);
    struct md_config c;
    struct md_hostname h;

    char *all[] = {"hostname=explicit", file_set, "kubernetes_kubelet_nodename=node-7"};
    load(&c, all, 3);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.name, "explicit");
    assert_string_equal(h.source, "hostname");
    md_config_free(&c);

    load(&c, all + 1, 2);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.name, "from-file");
    assert_string_equal(h.source, "hostname_file");
    md_config_free(&c);

    load(&c, all + 2, 1);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.name, "node-7");
    assert_string_equal(h.source, "kubernetes_kubelet_nodename");
    md_config_free(&c);

    /* A file that gives no usable name is skipped, and says so. */
    char *missing[] = {"hostname_file=/nonexistent/hostname", "kubernetes_kubelet_nodename=node-7"};
    load(&c, missing, 2);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.source, "kubernetes_kubelet_nodename");
    assert_non_null(strstr(h.detail, "hostname_file"));
    md_config_free(&c);

    /* Nothing set: the OS name (this test does not run in a container). */
    load(&c, NULL, 0);
    char os[256] = "";
    gethostname(os, sizeof os - 1);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.name, os);
    assert_string_equal(h.source, "os");
    md_config_free(&c);
    unlink(path);
}

/* Not in an ECS task: the ECS agent must not be asked, even at a URL that would answer. */
static void test_ecs_only_in_a_task(void **state)
{
    (void)state;
    struct md_config c;
    struct md_hostname h;
    char *sets[] = {"ecs_agent_url=http://127.0.0.1:1"};
    load(&c, sets, 1);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.source, "os");
    assert_null(strstr(h.detail, "ecs"));
    md_config_free(&c);
    /* In a task with no ECS agent answering: skipped, noted, bounded. */
    load(&c, sets, 1);
    setenv("ECS_CONTAINER_METADATA_URI_V4", "http://127.0.0.1:1/v4/x", 1);
    assert_int_equal(md_hostname_resolve(&c, &h), 0);
    assert_string_equal(h.source, "os");
    assert_non_null(strstr(h.detail, "ecs: no answer"));
    unsetenv("ECS_CONTAINER_METADATA_URI_V4");
    md_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_member_top_level_only),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_ecs_only_in_a_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
