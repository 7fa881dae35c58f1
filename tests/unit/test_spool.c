/*
 * Unit tests for the disk spool: real files in a fresh temporary folder.
 * Round trip of a payload, secrets kept off the disk and put back on read,
 * order and contents surviving a reopen (a restart), a torn or corrupt file
 * skipped and counted, the oldest evicted at the bound, one agent per
 * folder; and the writer thread: files written off the caller's thread,
 * index and disk equal whatever the interleaving of writes with loads and
 * removals, and a write that fails handing its payload back.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "spool.h"
#include "spool_fixture.h"

#define KEY "spoolsecretkey0123456789abcdef"
#define USERINFO "user:urlsecretpw"

static const char *const secrets[] = {KEY, USERINFO};

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

/* What the `loaded` callback got, in order: reads come back from the spool's thread. */
#define MAX_LOADED 16
static struct loaded {
    uint64_t seq;
    struct md_payload *p;
    int rc;
} got[MAX_LOADED];
static size_t ngot;

static void on_loaded(void *ud, uint64_t seq, uint64_t bytes, struct md_payload *p, int rc)
{
    if (ngot == MAX_LOADED)
        fail_msg("more reads came back than asked for");
    got[ngot++] = (struct loaded){seq, p, rc};
}

/* md_spool_load, then wait for the spool's thread and take what it read. */
static int load_sync(struct md_spool *s, uint64_t seq, struct md_payload **out)
{
    int rc = md_spool_load(s, seq);
    if (rc != 0)
        return rc;
    ngot = 0;
    md_spool_sync(s);
    assert_int_equal(ngot, 1);
    assert_int_equal(got[0].seq, seq);
    *out = got[0].p;
    return got[0].rc;
}

static struct md_spool *open_ok(const char *d, uint64_t max, uint64_t *max_seq)
{
    char err[256];
    uint64_t dummy;
    struct md_spool_opts o = {.dir = d, .max_bytes = max, .secrets = secrets, .nsecrets = 2,
                              .loaded = on_loaded};
    struct md_spool *s = md_spool_open(&o, max_seq ? max_seq : &dummy, err, sizeof err);
    if (!s)
        fail_msg("open: %s", err);
    return s;
}

static void test_round_trip_and_secret(void **st)
{
    char *d = fx_tmpdir("test_spool");
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    struct md_payload *p = mk("{\"series\":[1,2,3]}", 3);
    assert_int_equal(md_spool_put(s, 1u << 20, p), 0);
    assert_int_equal(md_spool_put(s, 1u << 20, p), -EEXIST);
    md_spool_sync(s); /* the writer thread's files are on disk */
    assert_false(fx_dir_contains(d, KEY)); /* the API key never reaches the disk */
    assert_false(fx_dir_contains(d, "urlsecretpw")); /* nor credentials in the URL */
    assert_true(fx_dir_contains(d, "series"));
    md_spool_unload(s, 1u << 20);
    struct md_payload *q = NULL;
    assert_int_equal(load_sync(s, 1u << 20, &q), 0);
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
    fx_rmdir_all(d);
}

static void test_reopen_keeps_order(void **st)
{
    char *d = fx_tmpdir("test_spool");
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
        assert_int_equal(load_sync(s, seq, &p), 0);
        assert_memory_equal(p->body, want[i], strlen(want[i]));
        md_spool_remove(s, seq);
        md_payload_free(p);
    }
    assert_null(md_spool_oldest(s, NULL, NULL));
    md_spool_close(s);
    fx_rmdir_all(d);
}

/*
 * md_spool_load only asks: the spool's thread reads, and the payloads come
 * back from md_spool_reap, in the order asked, while the entries count as
 * loaded (not evictable, not offered again) and their items as on disk.
 */
static void test_loads_come_back_from_the_thread_in_order(void **st)
{
    char *d = fx_tmpdir("test_spool");
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    const char *bodies[] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++) {
        struct md_payload *p = mk(bodies[i], 2);
        assert_int_equal(md_spool_put(s, (uint64_t)(i + 1) << 20, p), 0);
        md_payload_free(p);
        md_spool_unload(s, (uint64_t)(i + 1) << 20);
    }
    md_spool_sync(s);
    ngot = 0;
    for (int i = 0; i < 3; i++) {
        const struct md_spool_entry *e = md_spool_oldest(s, NULL, NULL);
        assert_non_null(e);
        assert_int_equal(e->seq, (uint64_t)(i + 1) << 20);
        assert_int_equal(md_spool_load(s, e->seq), 0);
    }
    assert_null(md_spool_oldest(s, NULL, NULL));
    assert_int_equal(md_spool_load(s, 1ull << 20), -EALREADY);
    assert_int_equal(ngot, 0); /* nothing read on the caller's thread */
    assert_int_equal(md_spool_items_on_disk_only(s), 6);
    md_spool_sync(s);
    assert_int_equal(ngot, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(got[i].rc, 0);
        assert_int_equal(got[i].seq, (uint64_t)(i + 1) << 20);
        assert_memory_equal(got[i].p->body, bodies[i], strlen(bodies[i]));
        md_payload_free(got[i].p);
    }
    assert_int_equal(md_spool_items_on_disk_only(s), 0); /* the caller holds them now */
    md_spool_close(s);
    fx_rmdir_all(d);
}

static void test_corrupt_and_torn_skipped(void **st)
{
    char *d = fx_tmpdir("test_spool");
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
    assert_int_equal(load_sync(s, 1ull << 20, &p), -EBADMSG);
    assert_int_equal(load_sync(s, 2ull << 20, &p), -EBADMSG);
    assert_int_equal(load_sync(s, 3ull << 20, &p), 0);
    md_payload_free(p);
    struct md_spool_stats t;
    md_spool_stats(s, &t);
    assert_int_equal(t.corrupt, 2);
    assert_int_equal(t.corrupt_items, 2); /* item counts come from the names */
    assert_int_equal(t.recovered_items, 3);
    assert_int_equal(t.files, 1);
    md_spool_close(s);
    fx_rmdir_all(d);
}

static void test_oldest_evicted_at_bound(void **st)
{
    char *d = fx_tmpdir("test_spool");
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
        assert_int_equal(load_sync(s, (uint64_t)i << 20, &p), 0);
        md_payload_free(p);
    }
    struct md_payload *p = mk(body, 1);
    assert_int_equal(md_spool_put(s, 6ull << 20, p), -ENOSPC);
    md_payload_free(p);
    md_spool_close(s);
    fx_rmdir_all(d);
}

static void test_one_agent_per_folder(void **st)
{
    char *d = fx_tmpdir("test_spool");
    struct md_spool *s = open_ok(d, 1 << 20, NULL);
    char err[256];
    uint64_t m;
    struct md_spool_opts o = {.dir = d, .max_bytes = 1 << 20, .secrets = secrets, .nsecrets = 1};
    assert_null(md_spool_open(&o, &m, err, sizeof err));
    assert_non_null(strstr(err, "in use"));
    md_spool_close(s);
    s = open_ok(d, 1 << 20, NULL); /* released on close */
    md_spool_close(s);
    fx_rmdir_all(d);
}

/* ---------------------------------------------------- the writer thread */

static pthread_t main_thread;
static atomic_int wakes_elsewhere, wakes_here;

static void on_wake(void *ud)
{
    atomic_fetch_add(pthread_equal(pthread_self(), main_thread) ? &wakes_here : &wakes_elsewhere,
                     1);
}

/*
 * Writes run on the spool's thread while the caller loads, removes and
 * evicts the same entries: whatever the interleaving, a file is on disk
 * exactly for each entry still indexed, and nothing is left half written.
 */
static void test_writer_races_leave_index_and_disk_equal(void **st)
{
    char *d = fx_tmpdir("test_spool");
    char err[256];
    uint64_t m;
    main_thread = pthread_self();
    struct md_spool_opts o = {.dir = d, .max_bytes = 40000, .secrets = secrets, .nsecrets = 2,
                              .wake = on_wake, .loaded = on_loaded};
    struct md_spool *s = md_spool_open(&o, &m, err, sizeof err);
    assert_non_null(s);
    char body[801];
    memset(body, 'y', 800);
    body[800] = '\0';
    for (uint64_t i = 1; i <= 300; i++) {
        struct md_payload *p = mk(body, 2);
        assert_int_equal(md_spool_put(s, i << 20, p), 0);
        md_payload_free(p);
        md_spool_unload(s, i << 20);
        if (i % 3 == 0) { /* read back at once, maybe before its file exists */
            struct md_payload *q = NULL;
            assert_int_equal(load_sync(s, i << 20, &q), 0);
            assert_memory_equal(q->body, body, 800);
            md_payload_free(q);
            md_spool_remove(s, i << 20);
        }
        if (i % 7 == 0)
            md_spool_reap(s);
    }
    md_spool_sync(s);
    struct md_spool_stats t;
    md_spool_stats(s, &t);
    assert_true(t.evicted > 0); /* the bound (40 kB) held about 45 of the 200 kept */
    assert_int_equal(t.pending, 0);
    assert_int_equal(t.write_errors, 0);
    assert_int_equal(fx_count_files(d, ".spl"), (int)t.files);
    uint64_t kept = 0;
    for (const struct md_spool_entry *e; (e = md_spool_oldest(s, NULL, NULL)); kept++) {
        struct md_payload *q = NULL;
        uint64_t seq = e->seq;
        assert_int_equal(load_sync(s, seq, &q), 0); /* from the file, CRC checked */
        md_payload_free(q);
        md_spool_remove(s, seq);
    }
    assert_int_equal(kept, t.files);
    md_spool_close(s);
    assert_int_equal(fx_count_files(d, ".spl"), 0);
    DIR *dir = opendir(d);
    for (struct dirent *de; (de = readdir(dir));)
        assert_true(strncmp(de->d_name, "tmp-", 4) != 0);
    closedir(dir);
    assert_true(atomic_load(&wakes_elsewhere) > 0);
    assert_int_equal(atomic_load(&wakes_here), 0); /* no write ran on the caller's thread */
    fx_rmdir_all(d);
}

static int failed_calls, failed_with_payload;
static uint64_t failed_items;

static void on_failed(void *ud, uint64_t seq, struct md_payload *p)
{
    assert_true(pthread_equal(pthread_self(), main_thread)); /* reaped on the caller's thread */
    failed_calls++;
    if (p) {
        failed_with_payload++;
        failed_items += p->nitems;
        assert_memory_equal(p->body, "lost-body", 9);
        assert_string_equal(p->headers[0], "DD-API-KEY: " KEY);
        md_payload_free(p);
    }
}

/* A write that cannot be done (the folder was deleted under the agent) gives the payload back. */
static void test_failed_write_gives_payload_back(void **st)
{
    char *d = fx_tmpdir("test_spool");
    char err[256], path[512];
    uint64_t m;
    main_thread = pthread_self();
    failed_calls = failed_with_payload = 0;
    failed_items = 0;
    struct md_spool_opts o = {.dir = d, .max_bytes = 1 << 20, .secrets = secrets, .nsecrets = 2,
                              .failed = on_failed};
    struct md_spool *s = md_spool_open(&o, &m, err, sizeof err);
    assert_non_null(s);
    snprintf(path, sizeof path, "%s/.lock", d);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(d), 0); /* a real failure: openat in a deleted folder is ENOENT */
    struct md_payload *a = mk("lost-body", 4), *b = mk("lost-body", 5);
    assert_int_equal(md_spool_put(s, 1u << 20, a), 0);
    assert_int_equal(md_spool_put(s, 2u << 20, b), 0);
    md_spool_unload(s, 1u << 20); /* the caller let go of a: only the spool holds it */
    md_spool_sync(s);
    assert_int_equal(failed_calls, 2);
    assert_int_equal(failed_with_payload, 1);
    assert_int_equal(failed_items, 4);
    struct md_spool_stats t;
    md_spool_stats(s, &t);
    assert_int_equal(t.write_errors, 2);
    assert_int_equal(t.files, 0);
    assert_int_equal(t.items, 0);
    assert_int_equal(t.pending, 0);
    md_payload_free(a);
    md_payload_free(b);
    md_spool_close(s);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_secret),
        cmocka_unit_test(test_reopen_keeps_order),
        cmocka_unit_test(test_loads_come_back_from_the_thread_in_order),
        cmocka_unit_test(test_corrupt_and_torn_skipped),
        cmocka_unit_test(test_oldest_evicted_at_bound),
        cmocka_unit_test(test_one_agent_per_folder),
        cmocka_unit_test(test_writer_races_leave_index_and_disk_equal),
        cmocka_unit_test(test_failed_write_gives_payload_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
