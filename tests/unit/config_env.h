/*
 * config_env.h: what the configuration tests (test_config.c,
 * test_config_dropin.c) share: a temp folder for real config files, and a
 * process environment cleared of METERD_*, DD_* and the host-path
 * variables around every test, since the loader reads the real
 * environment. Included by one test file each, so its functions are
 * static.
 */
#ifndef METERD_TEST_CONFIG_ENV_H
#define METERD_TEST_CONFIG_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "meterd/config.h"

extern char **environ;

static char tmpdir[64];
static int file_seq;

static void clear_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "METERD_", 7) == 0 || strncmp(*e, "DD_", 3) == 0 ||
                strncmp(*e, "HOST_PROC=", 10) == 0 || strncmp(*e, "HOST_SYS=", 9) == 0) {
                snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
                break;
            }
        }
        if (!name[0])
            return;
        unsetenv(name); /* environ changed: rescan */
    }
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* A real file with `text` and mode, and the folders above it. */
static void put_file(const char *path, const char *text, mode_t mode)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(dir, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* A config file in tmpdir; the returned path lives until the next call to write_conf + 7. */
static const char *write_conf(const char *text)
{
    static char paths[8][128];
    char *p = paths[file_seq % 8];
    snprintf(p, sizeof paths[0], "%s/c%d.yaml", tmpdir, file_seq++);
    put_file(p, text, 0644);
    return p;
}

/* root/rel with `text`, mode 0644 (inline: not every test file uses it). */
static inline void put_under(const char *root, const char *rel, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    put_file(p, text, 0644);
}

/* The dump as a string, so any key can be checked by its YAML line. */
static char *dump(const struct md_config *c)
{
    /* static: GCC's -Wdangling-pointer misreads open_memstream's out-parameter */
    static char *s;
    static size_t n;
    s = NULL;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    md_config_dump(c, f);
    fclose(f);
    return s;
}

/* tmpdir as /tmp/PREFIX-XXXXXX: 0, or -1. */
static int tmpdir_make(const char *prefix)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s-XXXXXX", prefix);
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Remove tmpdir and all in it; the tests' exit code (1 if removing failed). */
static int tmpdir_remove(int rc)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}

#endif
