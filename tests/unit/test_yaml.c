/*
 * test_yaml.c: the YAML tree loader. Line numbers and the refusals
 * (aliases, duplicates, several documents, deep nesting) are what config
 * errors rely on, so each is checked against real libyaml parsing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "yaml_tree.h"

static struct md_ynode *load_ok(const char *text)
{
    struct md_ynode *root = NULL;
    char err[256] = "";
    int rc = md_yaml_load_string("t.yaml", text, strlen(text), &root, err, sizeof err);
    if (rc)
        fail_msg("unexpected error %d: %s", rc, err);
    assert_non_null(root);
    return root;
}

/* Loads `text`, expects -EINVAL and an error starting with `prefix`. */
static void load_bad(const char *text, size_t len, const char *prefix, const char *needle)
{
    struct md_ynode *root = NULL;
    char err[256] = "";
    int rc = md_yaml_load_string("t.yaml", text, len, &root, err, sizeof err);
    assert_int_equal(rc, -EINVAL);
    assert_null(root);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, prefix);
    if (needle && !strstr(err, needle))
        fail_msg("error '%s' does not contain '%s'", err, needle);
}

static void test_lines_and_types(void **state)
{
    (void)state;
    struct md_ynode *r = load_ok("# comment\n"
                                 "a: 1\n"
                                 "b: \"2\"\n"
                                 "c:\n"
                                 "  - x\n"
                                 "  - 'y'\n"
                                 "d: {e: f}\n"
                                 "n1:\n"
                                 "n2: ~\n"
                                 "n3: null\n"
                                 "s: !!str null\n");
    assert_int_equal(r->type, MD_Y_MAP);
    assert_int_equal(r->n, 8);
    assert_string_equal(r->keys[0], "a");
    assert_int_equal(r->key_lines[0], 2);
    const struct md_ynode *a = md_ymap_get(r, "a");
    assert_int_equal(a->type, MD_Y_SCALAR);
    assert_string_equal(a->scalar, "1");
    assert_false(a->quoted);
    assert_int_equal(a->line, 2);
    const struct md_ynode *b = md_ymap_get(r, "b");
    assert_true(b->quoted);
    assert_string_equal(b->scalar, "2");
    const struct md_ynode *c = md_ymap_get(r, "c");
    assert_int_equal(c->type, MD_Y_SEQ);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->items[0]->line, 5);
    assert_int_equal(c->items[1]->line, 6);
    assert_true(c->items[1]->quoted);
    const struct md_ynode *d = md_ymap_get(r, "d");
    assert_int_equal(d->type, MD_Y_MAP);
    assert_string_equal(md_ymap_get(d, "e")->scalar, "f");
    assert_int_equal(md_ymap_get(r, "n1")->type, MD_Y_NULL);
    assert_int_equal(md_ymap_get(r, "n2")->type, MD_Y_NULL);
    assert_int_equal(md_ymap_get(r, "n3")->type, MD_Y_NULL);
    assert_int_equal(md_ymap_get(r, "s")->type, MD_Y_SCALAR);
    assert_string_equal(md_ymap_get(r, "s")->scalar, "null");
    assert_null(md_ymap_get(r, "zz"));
    assert_null(md_ymap_get(c, "x")); /* not a map */
    md_ynode_free(r);
}

static void test_empty_and_comments(void **state)
{
    (void)state;
    struct md_ynode *r = load_ok("");
    assert_int_equal(r->type, MD_Y_NULL);
    md_ynode_free(r);
    r = load_ok("# only\n# comments\n");
    assert_int_equal(r->type, MD_Y_NULL);
    md_ynode_free(r);
    r = load_ok("---\n");
    assert_int_equal(r->type, MD_Y_NULL);
    md_ynode_free(r);
}

/* Each text, the line its error names (0: libyaml's own line) and a part of the error (NULL: libyaml's words). */
static const struct {
    const char *text;
    int line;
    const char *needle;
} refusals[] = {
    {"a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first set at line 1)"},
    {"a:\n  x: 1\n  x: 2\n", 3, "duplicate key 'x'"},
    {"a: 1\nb: &x 2\nc: *x\n", 2, "anchors and aliases"},
    {"a: 1\nb: *x\n", 2, NULL}, /* libyaml: undefined alias */
    {"a: 1\n---\nb: 2\n", 2, "only one YAML document"},
    {"? [a, b]\n: 1\n", 1, "map key"},
    {"a: 1\nb: [1, 2\nc: 3\n", 0, "did not find expected"},
    {"a: \"x\\0y\"\n", 1, "NUL"},
    {"a: 1\nb: \xff\xfe\n", 2, NULL}, /* not UTF-8 */
};

static void test_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        char prefix[32] = "t.yaml:";
        if (refusals[i].line)
            snprintf(prefix, sizeof prefix, "t.yaml:%d: ", refusals[i].line);
        load_bad(refusals[i].text, strlen(refusals[i].text), prefix, refusals[i].needle);
    }
}

/* `depth` flow sequences one inside the other, into buf; returns the length. */
static size_t nested(char *buf, int depth)
{
    size_t o = 0;
    for (int i = 0; i < depth; i++)
        buf[o++] = '[';
    for (int i = 0; i < depth; i++)
        buf[o++] = ']';
    buf[o] = '\0';
    return o;
}

static void test_depth_limit(void **state)
{
    (void)state;
    char deep[1024];
    size_t o = nested(deep, MD_YAML_MAX_DEPTH + 5);
    load_bad(deep, o, "t.yaml:1: ", "nested deeper");
    /* Just inside the limit loads. */
    nested(deep, MD_YAML_MAX_DEPTH);
    md_ynode_free(load_ok(deep));
}

static void test_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/md_yaml_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x:\n  - 1\n  - 2\n", f);
    fclose(f);
    struct md_ynode *r = NULL;
    char err[256];
    assert_int_equal(md_yaml_load_file(path, &r, err, sizeof err), 0);
    assert_int_equal(md_ymap_get(r, "x")->n, 2);
    assert_int_equal(md_ymap_get(r, "x")->items[1]->line, 3);
    md_ynode_free(r);
    unlink(path);
    assert_int_equal(md_yaml_load_file(path, &r, err, sizeof err), -ENOENT);
    assert_null(r);
    assert_non_null(strstr(err, path));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_types),
        cmocka_unit_test(test_empty_and_comments),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
