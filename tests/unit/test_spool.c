/*
 * Unit tests for the disk spool: real files in a fresh temporary folder.
 * Round trip of a payload, secrets kept off the disk and put back on read,
 * order and contents surviving a reopen (a restart), a torn or corrupt file
 * skipped and counted, the oldest evicted at the bound, and one agent per
 * folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

#define KEY "spoolsecretkey0123456789abcdef"
#define USERINFO "user:urlsecretpw"

static const char *const secrets[] = {KEY, USERINFO};

static char *tmpdir(void)
{
    char *d = strdup("/tmp/test_spool_XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void rmdir_all(char *d)
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

static struct md_payload *mk(const char *body, size_t items)
{
    struct md_payload *p = calloc(1, sizeof *p);
    p->url = strdup("http://" USERINFO "@127.0.0.1:1/datadog/api/v1/series");
    p->body = strdup(body);
    p->len = strlen(body);
    p->content_type = "application/json";
    p->headers[p->nheaders++] = strdup("DD-API-KEY: " KEY);
    p->headers[p->nheaders++] = strdup("Content-Encoding: deflate");
    p->nitems = items;
    p->sink = "datadog";
    return p;
}

/* Whether any file in d contains s. */
static bool dir_contains(const char *d, const char *s)
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

static struct md_spool *open_ok(const char *d, uint64_t max, uint64_t *max_seq)
{
    char err[256];
    uint64_t dummy;
    struct md_spool *s = md_spool_open(d, max, secrets, 2, max_seq ? max_seq : &dummy, err,
                                       sizeof err);
    if (!s)
        fail_msg("open: %s", err);
    return s;
}

static void test_round_trip_and_secret(void **st)
{
    char *d = tmpdir();
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    struct md_payload *p = mk("{\"series\":[1,2,3]}", 3);
    assert_int_equal(md_spool_put(s, 1u << 20, p), 0);
    assert_int_equal(md_spool_put(s, 1u << 20, p), -EEXIST);
    assert_false(dir_contains(d, KEY)); /* the API key never reaches the disk */
    assert_false(dir_contains(d, "urlsecretpw")); /* nor credentials in the URL */
    assert_true(dir_contains(d, "series"));
    md_spool_unload(s, 1u << 20);
    struct md_payload *q = NULL;
    assert_int_equal(md_spool_load(s, 1u << 20, &q), 0);
    assert_int_equal(q->len, p->len);
    assert_memory_equal(q->body, p->body, p->len);
    assert_string_equal(q->url, p->url);
    assert_string_equal(q->sink, "datadog");
    assert_int_equal(q->nitems, 3);
    assert_string_equal(q->headers[0], "DD-API-KEY: " KEY);
    assert_string_equal(q->headers[1], "Content-Encoding: deflate");
    assert_string_equal(q->headers[2], "Content-Type: application/json");
    md_spool_remove(s, 1u << 20);
    struct md_spool_stats t;
    md_spool_stats(s, &t);
    assert_int_equal(t.files, 0);
    assert_int_equal(t.bytes, 0);
    md_payload_free(p);
    md_payload_free(q);
    md_spool_close(s);
    rmdir_all(d);
}

static void test_reopen_keeps_order(void **st)
{
    char *d = tmpdir();
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    const char *bodies[] = {"first", "second", "third"};
    uint64_t seqs[] = {3u << 20, 1u << 20, 2u << 20}; /* written out of order */
    for (int i = 0; i < 3; i++) {
        struct md_payload *p = mk(bodies[i], 1);
        assert_int_equal(md_spool_put(s, seqs[i], p), 0);
        md_payload_free(p);
    }
    md_spool_close(s); /* a restart: nothing loaded any more */
    uint64_t max_seq = 0;
    s = open_ok(d, 1 << 20, &max_seq);
    assert_int_equal(max_seq, 3u << 20);
    const char *want[] = {"second", "third", "first"};
    for (int i = 0; i < 3; i++) {
        const struct md_spool_entry *e = md_spool_oldest(s, NULL, NULL);
        assert_non_null(e);
        struct md_payload *p = NULL;
        uint64_t seq = e->seq;
        assert_int_equal(md_spool_load(s, seq, &p), 0);
        assert_memory_equal(p->body, want[i], strlen(want[i]));
        md_spool_remove(s, seq);
        md_payload_free(p);
    }
    assert_null(md_spool_oldest(s, NULL, NULL));
    md_spool_close(s);
    rmdir_all(d);
}

static void test_corrupt_and_torn_skipped(void **st)
{
    char *d = tmpdir();
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    for (int i = 1; i <= 3; i++) {
        struct md_payload *p = mk("payload-body", 1);
        assert_int_equal(md_spool_put(s, (uint64_t)i << 20, p), 0);
        md_payload_free(p);
    }
    md_spool_close(s);
    char path[512];
    /* #1: one flipped byte; #2: cut short, as a torn write would leave it. */
    snprintf(path, sizeof path, "%s/%020llu-datadog-1.spl", d, 1ull << 20);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 20), 1);
    close(fd);
    snprintf(path, sizeof path, "%s/%020llu-datadog-1.spl", d, 2ull << 20);
    assert_int_equal(truncate(path, 30), 0);
    snprintf(path, sizeof path, "%s/tmp-%020llu-datadog-1.spl", d, 4ull << 20);
    fd = open(path, O_WRONLY | O_CREAT, 0600); /* a write a crash interrupted */
    close(fd);
    s = open_ok(d, 1 << 20, NULL);
    assert_int_equal(access(path, F_OK), -1); /* the tmp file is gone */
    struct md_payload *p = NULL;
    assert_int_equal(md_spool_load(s, 1ull << 20, &p), -EBADMSG);
    assert_int_equal(md_spool_load(s, 2ull << 20, &p), -EBADMSG);
    assert_int_equal(md_spool_load(s, 3ull << 20, &p), 0);
    md_payload_free(p);
    struct md_spool_stats t;
    md_spool_stats(s, &t);
    assert_int_equal(t.corrupt, 2);
    assert_int_equal(t.corrupt_items, 2); /* item counts come from the names */
    assert_int_equal(t.recovered_items, 3);
    assert_int_equal(t.files, 1);
    md_spool_close(s);
    rmdir_all(d);
}

static void test_oldest_evicted_at_bound(void **st)
{
    char *d = tmpdir();
    char body[1001];
    memset(body, 'x', 1000);
    body[1000] = '\0';
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    struct md_payload *p0 = mk(body, 1);
    assert_int_equal(md_spool_put(s, 1ull << 40, p0), 0);
    md_payload_free(p0);
    struct md_spool_stats t0;
    md_spool_stats(s, &t0);
    uint64_t bound = t0.bytes * 3 + t0.bytes / 2; /* room for three files */
    md_spool_remove(s, 1ull << 40);
    md_spool_close(s);
    s = open_ok(d, bound, NULL);
    for (int i = 1; i <= 5; i++) {
        struct md_payload *p = mk(body, 1);
        assert_int_equal(md_spool_put(s, (uint64_t)i << 20, p), 0);
        md_spool_unload(s, (uint64_t)i << 20);
        md_payload_free(p);
    }
    struct md_spool_stats t;
    md_spool_stats(s, &t);
    assert_int_equal(t.evicted, 2);
    assert_int_equal(t.files, 3);
    assert_true(t.bytes <= bound);
    assert_false(md_spool_has(s, 1ull << 20));
    assert_false(md_spool_has(s, 2ull << 20));
    assert_true(md_spool_has(s, 3ull << 20));
    /* Loaded entries are never evicted: with all three in memory, no room. */
    for (int i = 3; i <= 5; i++) {
        struct md_payload *p = NULL;
        assert_int_equal(md_spool_load(s, (uint64_t)i << 20, &p), 0);
        md_payload_free(p);
    }
    struct md_payload *p = mk(body, 1);
    assert_int_equal(md_spool_put(s, 6ull << 20, p), -ENOSPC);
    md_payload_free(p);
    md_spool_close(s);
    rmdir_all(d);
}

static void test_one_agent_per_folder(void **st)
{
    char *d = tmpdir();
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    char err[256];
    uint64_t m;
    assert_null(md_spool_open(d, 1 << 20, secrets, 1, &m, err, sizeof err));
    assert_non_null(strstr(err, "in use"));
    md_spool_close(s);
    s = open_ok(d, 1 << 20, NULL); /* released on close */
    md_spool_close(s);
    rmdir_all(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_secret),
        cmocka_unit_test(test_reopen_keeps_order),
        cmocka_unit_test(test_corrupt_and_torn_skipped),
        cmocka_unit_test(test_oldest_evicted_at_bound),
        cmocka_unit_test(test_one_agent_per_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
