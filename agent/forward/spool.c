/*
 * spool.c: the spool's index and API (see spool.h), on the loop thread.
 *
 * The index is the sorted list of entries, rebuilt at start from the
 * directory listing; it counts an entry from the moment its write is
 * queued, so the byte bound, eviction and "oldest first" need no disk
 * access. File bytes go to the writer thread (spool_writer.c) and come
 * back to spool_reap: a write that found the filesystem full evicts the
 * oldest file and is queued again; one that fails for good leaves the
 * index and goes to the `failed` callback. Reads go to the same thread:
 * replaying a 100 MiB spool after a restart reads files the page cache
 * no longer holds, and a cold read of one payload can take longer than
 * the loop may stall. An flock on ".lock" keeps a second agent from
 * replaying, and so duplicating, this agent's payloads.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool_int.h"

/*
 * Bytes of writes the thread may have queued. A disk slower than the
 * payloads that wait for it makes md_spool_put say -EAGAIN beyond this,
 * and the forwarder's memory queue, bounded too, takes over.
 */
#define SPOOL_PENDING_MAX (64ull * 1024 * 1024)

/* ------------------------------------------------------------- index */

static size_t spool_find(const struct md_spool *s, uint64_t seq)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct md_spool_entry *spool_get(const struct md_spool *s, uint64_t seq)
{
    size_t i = spool_find(s, seq);
    return i < s->n && s->v[i].seq == seq ? &s->v[i] : NULL;
}

static int spool_insert(struct md_spool *s, const struct md_spool_entry *e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct md_spool_entry *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    size_t i = spool_find(s, e->seq);
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
    s->v[i] = *e;
    s->n++;
    s->st.files++;
    s->st.bytes += e->bytes;
    s->st.items += e->items;
    return 0;
}

/* Queue the deletion of a file, or take its write back if the thread has not started it. */
static void spool_unlink(struct md_spool *s, struct md_spool_entry *e)
{
    if (e->job && spool_writer_cancel(s, e->job)) {
        spool_job_free(e->job);
        e->job = NULL;
        s->st.pending--;
        return;
    }
    struct spool_job *j = calloc(1, sizeof *j);
    if (!j) {
        md_warn("spool: out of memory: %s keeps a file it no longer indexes", s->dir);
        return;
    }
    j->op = SPOOL_UNLINK;
    spool_name(e, j->name, sizeof j->name);
    spool_writer_push(s, j);
    if (e->job)
        e->job->orphan = true; /* reaped for its memory only */
    e->job = NULL;
}

/* Delete entry i's file and forget it. */
static void spool_drop_at(struct md_spool *s, size_t i)
{
    spool_unlink(s, &s->v[i]);
    s->st.files--;
    s->st.bytes -= s->v[i].bytes;
    s->st.items -= s->v[i].items;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
}

/* ------------------------------------------------------------- open */

static int spool_scan(struct md_spool *s, uint64_t *max_seq)
{
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        struct md_spool_entry e;
        struct stat st;
        if (strncmp(de->d_name, "tmp-", 4) == 0) {
            unlinkat(s->dirfd, de->d_name, 0); /* a write cut short by a crash */
            continue;
        }
        if (!spool_parse_name(de->d_name, &e) || fstatat(s->dirfd, de->d_name, &st, 0) != 0)
            continue;
        e.bytes = (uint64_t)st.st_size;
        if (spool_insert(s, &e) != 0)
            break;
        if (e.seq > *max_seq)
            *max_seq = e.seq;
    }
    closedir(d);
    return 0;
}

static int spool_mkdirs(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

struct md_spool *md_spool_open(const struct md_spool_opts *o, uint64_t *max_seq, char *err,
                               size_t errlen)
{
    *max_seq = 0;
    int rc = spool_mkdirs(o->dir);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", o->dir, strerror(-rc));
        return NULL;
    }
    struct md_spool *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(o->dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->lockfd = -1;
    s->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", o->dir, strerror(errno));
        goto fail;
    }
    s->lockfd = openat(s->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s is in use by another process", o->dir);
        goto fail;
    }
    s->max_bytes = s->st.max_bytes = o->max_bytes;
    s->secrets = o->secrets;
    s->nsecrets = o->nsecrets < SPOOL_MAX_SECRETS ? o->nsecrets : SPOOL_MAX_SECRETS;
    s->wake = o->wake;
    s->failed = o->failed;
    s->loaded = o->loaded;
    s->ud = o->ud;
    if (spool_scan(s, max_seq) != 0) {
        snprintf(err, errlen, "cannot list %s: %s", o->dir, strerror(errno));
        goto fail;
    }
    if ((rc = spool_writer_start(s)) != 0) {
        snprintf(err, errlen, "cannot start its writer thread: %s", strerror(-rc));
        goto fail;
    }
    s->st.recovered_items = s->st.items;
    if (s->n)
        md_info("spool: %zu payload(s), %" PRIu64 " bytes waiting in %s", s->n, s->st.bytes,
                o->dir);
    return s;
fail:
    md_spool_close(s);
    return NULL;
}

void md_spool_close(struct md_spool *s)
{
    if (!s)
        return;
    if (s->w.started) {
        md_spool_sync(s);
        spool_writer_stop(s);
    }
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->v);
    free(s->dir);
    free(s);
}

/* ------------------------------------------------------------- write */

/* Evict the oldest file not loaded in memory; false when there is none. Logged once a minute. */
static bool spool_evict_oldest(struct md_spool *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].loaded)
            continue;
        s->st.evicted++;
        s->st.evicted_items += s->v[i].items;
        s->evicted_unlogged++;
        spool_drop_at(s, i);
        time_t now = time(NULL);
        if (!s->evict_logged || now - s->evict_logged >= 60) {
            md_warn("spool: %s is full: deleted the oldest %" PRIu64 " payload(s) to make room "
                    "(counted as evicted; %" PRIu64 " so far)",
                    s->dir, s->evicted_unlogged, s->st.evicted);
            s->evict_logged = now;
            s->evicted_unlogged = 0;
        }
        return true;
    }
    return false;
}

/* Evict until `need` more bytes fit in the bound; false when they cannot. */
static bool spool_make_room(struct md_spool *s, uint64_t need)
{
    while (s->st.bytes + need > s->max_bytes)
        if (!spool_evict_oldest(s))
            return false;
    return true;
}

/* A write failed for good: the entry leaves the index and its payload goes back to the caller. */
static void spool_write_failed(struct md_spool *s, size_t i, struct spool_job *j)
{
    struct md_spool_entry e = s->v[i];
    s->st.write_errors++;
    if (!s->warned_full)
        md_warn("spool: cannot write a %s payload to %s: %s (the agent goes on; counted as "
                "spool write_errors)", e.sink, s->dir, strerror(-j->rc));
    s->warned_full = true;
    struct md_payload *p = NULL;
    if (!e.loaded && spool_decode(s, j->data.p, j->data.len, false, &p) != 0)
        md_error("spool: a %s payload of %" PRIu64 " items is lost: its write failed and it "
                 "cannot be read back", e.sink, e.items);
    s->v[i].job = NULL;
    s->st.files--;
    s->st.bytes -= e.bytes;
    s->st.items -= e.items;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
    spool_job_free(j);
    if (s->failed)
        s->failed(s->ud, e.seq, p);
    else
        md_payload_free(p);
}

/* One finished write: done, or (filesystem full) again after an eviction, or failed. */
static void spool_reap_write(struct md_spool *s, struct spool_job *j)
{
    size_t i = spool_find(s, j->seq);
    if (j->orphan || i >= s->n || s->v[i].job != j) {
        s->st.pending--;
        spool_job_free(j);
        return;
    }
    if (j->rc == -ENOSPC && spool_evict_oldest(s)) {
        /* The filesystem filled before our bound: older files make way, as for the bound. */
        if (j->orphan) { /* it was the oldest itself, and is evicted */
            s->st.pending--;
            spool_job_free(j);
            return;
        }
        spool_writer_push(s, j);
        return;
    }
    s->st.pending--;
    i = spool_find(s, j->seq); /* the eviction moved the entries */
    if (j->rc != 0) {
        spool_write_failed(s, i, j);
        return;
    }
    s->v[i].job = NULL;
    s->warned_full = false;
    s->st.written++;
    spool_job_free(j);
}

static void spool_reap_read(struct md_spool *s, struct spool_job *j);

void md_spool_reap(struct md_spool *s)
{
    struct spool_job *j = spool_writer_take_done(s);
    while (j) {
        struct spool_job *next = j->next;
        if (j->op == SPOOL_WRITE)
            spool_reap_write(s, j);
        else if (j->op == SPOOL_READ)
            spool_reap_read(s, j);
        else
            spool_job_free(j);
        j = next;
    }
}

void md_spool_stop_waking(struct md_spool *s)
{
    pthread_mutex_lock(&s->w.mu);
    s->wake = NULL;
    pthread_mutex_unlock(&s->w.mu);
}

void md_spool_sync(struct md_spool *s)
{
    do { /* a reaped write may be queued again (disk full, after an eviction) */
        spool_writer_wait_idle(s);
        md_spool_reap(s);
    } while (spool_writer_busy(s));
}

int md_spool_put(struct md_spool *s, uint64_t seq, const struct md_payload *p)
{
    if (spool_get(s, seq))
        return -EEXIST;
    struct md_spool_entry e = {.seq = seq, .items = p->nitems, .loaded = true};
    snprintf(e.sink, sizeof e.sink, "%s", p->sink ? p->sink : "unknown");
    struct spool_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->op = SPOOL_WRITE;
    j->seq = seq;
    spool_encode(s, p, &j->data);
    e.bytes = j->data.len + sizeof(uint32_t); /* and the CRC */
    spool_name(&e, j->name, sizeof j->name);
    int rc = j->data.oom ? -ENOMEM : 0;
    if (rc == 0 && spool_writer_pending_bytes(s) + e.bytes > SPOOL_PENDING_MAX)
        rc = -EAGAIN;
    if (rc == 0 && !spool_make_room(s, e.bytes))
        rc = -ENOSPC;
    e.job = j;
    if (rc == 0 && spool_insert(s, &e) != 0)
        rc = -ENOMEM;
    if (rc != 0) {
        spool_job_free(j);
        s->st.write_errors++;
        if (!s->warned_full)
            md_warn("spool: cannot write a %s payload to %s: %s (the agent goes on; counted as "
                    "spool write_errors)", e.sink, s->dir, strerror(-rc));
        s->warned_full = true;
        return rc;
    }
    s->st.pending++;
    spool_writer_push(s, j);
    return 0;
}

/* ------------------------------------------------------------- read, remove */

int md_spool_load(struct md_spool *s, uint64_t seq)
{
    struct md_spool_entry *e = spool_get(s, seq);
    if (!e)
        return -ENOENT;
    if (e->loaded)
        return -EALREADY;
    struct spool_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->op = SPOOL_READ;
    j->seq = seq;
    spool_name(e, j->name, sizeof j->name); /* queued after its write, if that is still out */
    e->loaded = e->reading = true;
    spool_writer_push(s, j);
    return 0;
}

/* A finished read: the payload to the `loaded` callback; a corrupt file leaves the index. */
static void spool_reap_read(struct md_spool *s, struct spool_job *j)
{
    struct md_spool_entry *e = spool_get(s, j->seq);
    struct md_payload *p = j->p;
    int rc = j->rc;
    j->p = NULL;
    spool_job_free(j);
    if (!e || !e->reading) { /* cannot happen: a loaded entry is neither evicted nor removed */
        md_payload_free(p);
        return;
    }
    uint64_t seq = e->seq, bytes = e->bytes;
    e->reading = false;
    if (rc == -EBADMSG) {
        md_warn("spool: %s/%020" PRIu64 "-%s-%" PRIu64 ".spl is torn or corrupt: skipped and "
                "deleted", s->dir, e->seq, e->sink, e->items);
        s->st.corrupt++;
        s->st.corrupt_items += e->items;
        spool_drop_at(s, (size_t)(e - s->v));
    } else if (rc != 0) { /* the caller logs it, rate-limited */
        e->loaded = false;
    } else {
        s->st.replayed++;
    }
    if (s->loaded)
        s->loaded(s->ud, seq, bytes, p, rc);
    else
        md_payload_free(p);
}

void md_spool_unload(struct md_spool *s, uint64_t seq)
{
    struct md_spool_entry *e = spool_get(s, seq);
    if (e)
        e->loaded = false;
}

void md_spool_remove(struct md_spool *s, uint64_t seq)
{
    size_t i = spool_find(s, seq);
    if (i < s->n && s->v[i].seq == seq) {
        spool_drop_at(s, i);
        s->st.removed++;
    }
}

const struct md_spool_entry *md_spool_oldest(const struct md_spool *s,
                                             bool (*ok)(void *ud, const char *sink), void *ud)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].loaded && (!ok || ok(ud, s->v[i].sink)))
            return &s->v[i];
    return NULL;
}

bool md_spool_has(const struct md_spool *s, uint64_t seq)
{
    return spool_get(s, seq) != NULL;
}

void md_spool_stats(const struct md_spool *s, struct md_spool_stats *out)
{
    *out = s->st;
}

void md_spool_status_json(const struct md_spool *s, struct md_buf *b)
{
    const struct md_spool_stats *t = &s->st;
    md_buf_printf(b,
                  "{\"files\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64
                  ",\"written\":%" PRIu64 ",\"replayed\":%" PRIu64 ",\"removed\":%" PRIu64
                  ",\"evicted\":%" PRIu64 ",\"corrupt\":%" PRIu64 ",\"write_errors\":%" PRIu64
                  ",\"pending\":%" PRIu64 "}",
                  t->files, t->bytes, t->max_bytes, t->written, t->replayed, t->removed, t->evicted,
                  t->corrupt, t->write_errors, t->pending);
}

uint64_t md_spool_items_on_disk_only(const struct md_spool *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].loaded || s->v[i].reading)
            n += s->v[i].items;
    return n;
}
