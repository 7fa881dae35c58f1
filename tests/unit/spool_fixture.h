/*
 * spool_fixture.h: the temporary folders the spool's tests work in, shared
 * by test_spool.c and test_delivery.c. Each test gets a fresh folder under
 * /tmp (real files on a real filesystem), counts or searches the files the
 * spool left there, and removes the folder. Included by one test file
 * each; its functions are static inline, so a file need not use them all.
 */
#ifndef METERD_TEST_SPOOL_FIXTURE_H
#define METERD_TEST_SPOOL_FIXTURE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* A fresh folder /tmp/<tag>_XXXXXX; the caller frees it with fx_rmdir_all. */
static inline char *fx_tmpdir(const char *tag)
{
    char *d = NULL;
    assert_true(asprintf(&d, "/tmp/%s_XXXXXX", tag) > 0);
    assert_non_null(mkdtemp(d));
    return d;
}

/* Files in d whose name ends with suffix. */
static inline int fx_count_files(const char *d, const char *suffix)
{
    DIR *dir = opendir(d);
    struct dirent *de;
    int n = 0;
    while (dir && (de = readdir(dir))) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        n += l > sl && strcmp(de->d_name + l - sl, suffix) == 0;
    }
    if (dir)
        closedir(dir);
    return n;
}

/* Whether any file in d holds the bytes of s (in its first 64 KiB). */
static inline bool fx_dir_contains(const char *d, const char *s)
{
    DIR *dir = opendir(d);
    struct dirent *de;
    bool found = false;
    while (dir && (de = readdir(dir)) && !found) {
        char p[512], buf[65536];
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        FILE *fp = fopen(p, "rb");
        if (!fp)
            continue;
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        found = memmem(buf, n, s, strlen(s)) != NULL;
    }
    if (dir)
        closedir(dir);
    return found;
}

/* Remove d, its files (one level) and the string itself. */
static inline void fx_rmdir_all(char *d)
{
    DIR *dir = opendir(d);
    struct dirent *de;
    char p[512];
    while (dir && (de = readdir(dir))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        unlink(p);
    }
    if (dir)
        closedir(dir);
    rmdir(d);
    free(d);
}

#endif
