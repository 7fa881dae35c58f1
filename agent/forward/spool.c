/*
 * spool.c: payloads on disk while a backend is failing (see spool.h).
 *
 * One file per payload, named by its sequence number, sink and item count
 * ("00000000000001048576-datadog-812.spl"), so the index (and the item
 * counts the delivery ledger needs) is rebuilt at start from the directory
 * listing alone, and "oldest first" is the name order.
 * A file holds a small header (magic, sink, URL, headers with secrets
 * replaced by placeholders, item count), the body as sent (compressed) and
 * a CRC-32 of all that. Files are written with write, fsync, rename and a
 * directory fsync: a crash leaves either the whole file or a "tmp-" file
 * that the next start deletes. An flock on ".lock" keeps a second agent
 * from replaying, and so duplicating, this agent's payloads.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"

#define SPOOL_MAGIC "MDSPOOL1"
#define SPOOL_SECRET_FMT "@@meterd-secret-%zu@@"
#define SPOOL_MAX_SECRETS 8

struct md_spool {
    char *dir;
    int dirfd, lockfd;
    uint64_t max_bytes;
    const char *const *secrets;
    size_t nsecrets;
    struct md_spool_entry *v; /* sorted by seq */
    size_t n, cap;
    struct md_spool_stats st;
    bool warned_full;
    time_t evict_logged; /* last eviction log line */
    uint64_t evicted_unlogged;
};

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

static void spool_name(const struct md_spool_entry *e, char *out, size_t len)
{
    snprintf(out, len, "%020" PRIu64 "-%s-%" PRIu64 ".spl", e->seq, e->sink, e->items);
}

/* Delete entry i's file and forget it. */
static void spool_drop_at(struct md_spool *s, size_t i)
{
    char name[96];
    spool_name(&s->v[i], name, sizeof name);
    if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT)
        md_warn("spool: cannot delete %s/%s: %s", s->dir, name, strerror(errno));
    s->st.files--;
    s->st.bytes -= s->v[i].bytes;
    s->st.items -= s->v[i].items;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
}

/* ------------------------------------------------------------- open */

/* "<seq: 20 digits>-<sink>-<items>.spl" */
static bool spool_parse_name(const char *name, struct md_spool_entry *e)
{
    char *end;
    errno = 0;
    unsigned long long seq = strtoull(name, &end, 10);
    if (errno || end != name + 20 || *end != '-')
        return false;
    const char *sink = end + 1, *dash = strrchr(sink, '-');
    if (!dash || (size_t)(dash - sink) >= sizeof e->sink || dash == sink)
        return false;
    unsigned long long items = strtoull(dash + 1, &end, 10);
    if (errno || end == dash + 1 || strcmp(end, ".spl") != 0)
        return false;
    memset(e, 0, sizeof *e);
    e->seq = seq;
    e->items = items;
    memcpy(e->sink, sink, (size_t)(dash - sink));
    return true;
}

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

struct md_spool *md_spool_open(const char *dir, uint64_t max_bytes, const char *const *secrets,
                               size_t nsecrets, uint64_t *max_seq, char *err, size_t errlen)
{
    *max_seq = 0;
    int rc = spool_mkdirs(dir);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
        return NULL;
    }
    struct md_spool *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->lockfd = -1;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        goto fail;
    }
    s->lockfd = openat(s->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "%s is in use by another process", dir);
        goto fail;
    }
    s->max_bytes = max_bytes;
    s->st.max_bytes = max_bytes;
    s->secrets = secrets;
    s->nsecrets = nsecrets < SPOOL_MAX_SECRETS ? nsecrets : SPOOL_MAX_SECRETS;
    if (spool_scan(s, max_seq) != 0) {
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        goto fail;
    }
    s->st.recovered_items = s->st.items;
    if (s->n)
        md_info("spool: %zu payload(s), %" PRIu64 " bytes waiting in %s", s->n, s->st.bytes, dir);
    return s;
fail:
    md_spool_close(s);
    return NULL;
}

void md_spool_close(struct md_spool *s)
{
    if (!s)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->v);
    free(s->dir);
    free(s);
}

/* ------------------------------------------------------------- encoding */

static void spool_put_str(struct md_buf *b, const char *v)
{
    uint32_t n = v ? (uint32_t)strlen(v) : 0;
    md_buf_add(b, &n, sizeof n);
    md_buf_add(b, v ? v : "", n);
}

/* A header (or URL) with every secret replaced by its placeholder. */
static void spool_put_header(const struct md_spool *s, struct md_buf *b, const char *h)
{
    struct md_buf t;
    md_buf_init(&t);
    const char *p = h;
    while (*p) {
        size_t best = 0, which = 0;
        for (size_t i = 0; i < s->nsecrets; i++) {
            size_t l = s->secrets[i] ? strlen(s->secrets[i]) : 0;
            if (l >= 4 && l > best && strncmp(p, s->secrets[i], l) == 0) {
                best = l;
                which = i;
            }
        }
        if (best) {
            md_buf_printf(&t, SPOOL_SECRET_FMT, which);
            p += best;
        } else {
            md_buf_putc(&t, *p++);
        }
    }
    md_buf_putc(&t, '\0');
    spool_put_str(b, t.p);
    explicit_bzero(t.p, t.len);
    md_buf_free(&t);
}

static void spool_encode(const struct md_spool *s, const struct md_payload *p, struct md_buf *b)
{
    md_buf_add(b, SPOOL_MAGIC, 8);
    spool_put_str(b, p->sink);
    spool_put_header(s, b, p->url ? p->url : ""); /* a URL may hold user:password */
    bool has_ct = false;
    for (unsigned i = 0; i < p->nheaders; i++)
        has_ct = has_ct || (p->headers[i] && strncasecmp(p->headers[i], "Content-Type:", 13) == 0);
    uint32_t nh = 0;
    for (unsigned i = 0; i < p->nheaders; i++)
        nh += p->headers[i] != NULL;
    nh += !has_ct && p->content_type;
    md_buf_add(b, &nh, sizeof nh);
    for (unsigned i = 0; i < p->nheaders; i++)
        if (p->headers[i])
            spool_put_header(s, b, p->headers[i]);
    if (!has_ct && p->content_type) {
        char ct[160];
        snprintf(ct, sizeof ct, "Content-Type: %s", p->content_type);
        spool_put_str(b, ct);
    }
    uint64_t items = p->nitems, len = p->len;
    md_buf_add(b, &items, sizeof items);
    md_buf_add(b, &len, sizeof len);
    md_buf_add(b, p->body, p->len);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)b->p, (uInt)b->len);
    md_buf_add(b, &crc, sizeof crc);
}

struct spool_rd {
    const char *p, *end;
    bool bad;
};

static const void *spool_get_raw(struct spool_rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const void *v = r->p;
    r->p += n;
    return v;
}

/* A malloc'd copy of the next string, secrets put back; NULL when bad. */
static char *spool_get_str(const struct md_spool *s, struct spool_rd *r)
{
    uint32_t n = 0;
    const void *np = spool_get_raw(r, sizeof n);
    if (np)
        memcpy(&n, np, sizeof n);
    const char *v = spool_get_raw(r, n);
    if (!v)
        return NULL;
    struct md_buf t;
    md_buf_init(&t);
    for (size_t i = 0; i < n;) {
        size_t which;
        int used = 0;
        if (v[i] == '@' && sscanf(v + i, SPOOL_SECRET_FMT "%n", &which, &used) == 1 && used > 0 &&
            (size_t)used <= n - i && which < s->nsecrets) {
            md_buf_puts(&t, s->secrets[which] ? s->secrets[which] : "");
            i += (size_t)used;
        } else {
            md_buf_putc(&t, v[i++]);
        }
    }
    md_buf_putc(&t, '\0');
    return md_buf_steal(&t, NULL);
}

static const char *spool_sink_name(const char *name)
{
    const struct md_sink_ops *ops = md_sink_lookup(name);
    return ops ? ops->name : "spooled";
}

static int spool_decode(const struct md_spool *s, const char *buf, size_t len, struct md_payload **out)
{
    uint32_t crc;
    if (len < 8 + sizeof crc || memcmp(buf, SPOOL_MAGIC, 8) != 0)
        return -EBADMSG;
    memcpy(&crc, buf + len - sizeof crc, sizeof crc);
    if (crc != (uint32_t)crc32(0, (const Bytef *)buf, (uInt)(len - sizeof crc)))
        return -EBADMSG;
    struct spool_rd r = {buf + 8, buf + len - sizeof crc, false};
    struct md_payload *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    char *sink = spool_get_str(s, &r);
    p->sink = spool_sink_name(sink ? sink : "");
    free(sink);
    p->url = spool_get_str(s, &r);
    uint32_t nh = 0;
    const void *nhp = spool_get_raw(&r, sizeof nh);
    if (nhp)
        memcpy(&nh, nhp, sizeof nh);
    for (uint32_t i = 0; i < nh && !r.bad; i++) {
        char *h = spool_get_str(s, &r);
        if (h && p->nheaders < MD_PAYLOAD_MAX_HEADERS)
            p->headers[p->nheaders++] = h;
        else
            free(h);
    }
    uint64_t items = 0, blen = 0;
    const void *ip = spool_get_raw(&r, sizeof items), *lp = spool_get_raw(&r, sizeof blen);
    if (ip && lp) {
        memcpy(&items, ip, sizeof items);
        memcpy(&blen, lp, sizeof blen);
    }
    const void *body = spool_get_raw(&r, (size_t)blen);
    if (r.bad || !p->url || r.p != r.end || !(p->body = malloc(blen ? blen : 1))) {
        md_payload_free(p);
        return -EBADMSG;
    }
    memcpy(p->body, body, blen);
    p->len = (size_t)blen;
    p->nitems = (size_t)items;
    *out = p;
    return 0;
}

/* ------------------------------------------------------------- write */

static int spool_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int spool_write_file(struct md_spool *s, const struct md_spool_entry *e, const struct md_buf *b)
{
    char name[96], tmp[112];
    spool_name(e, name, sizeof name);
    snprintf(tmp, sizeof tmp, "tmp-%s", name);
    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = spool_write_all(fd, b->p, b->len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && renameat(s->dirfd, tmp, s->dirfd, name) != 0)
        rc = -errno;
    if (rc != 0) {
        unlinkat(s->dirfd, tmp, 0);
        return rc;
    }
    fsync(s->dirfd); /* the rename itself survives a power cut */
    return 0;
}

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

int md_spool_put(struct md_spool *s, uint64_t seq, const struct md_payload *p)
{
    if (spool_get(s, seq))
        return -EEXIST;
    struct md_spool_entry e = {.seq = seq, .items = p->nitems, .loaded = true};
    snprintf(e.sink, sizeof e.sink, "%s", p->sink ? p->sink : "unknown");
    struct md_buf b;
    md_buf_init(&b);
    spool_encode(s, p, &b);
    int rc = b.oom ? -ENOMEM : 0;
    e.bytes = b.len;
    if (rc == 0 && !spool_make_room(s, e.bytes))
        rc = -ENOSPC;
    if (rc == 0)
        rc = spool_write_file(s, &e, &b);
    /* The filesystem filled before our bound: older files make way, as for the bound. */
    while (rc == -ENOSPC && spool_evict_oldest(s))
        rc = spool_write_file(s, &e, &b);
    md_buf_free(&b);
    if (rc == 0 && spool_insert(s, &e) != 0) {
        char name[96];
        spool_name(&e, name, sizeof name);
        unlinkat(s->dirfd, name, 0);
        rc = -ENOMEM;
    }
    if (rc != 0) {
        s->st.write_errors++;
        if (!s->warned_full)
            md_warn("spool: cannot write a %s payload to %s: %s (the agent goes on; counted as "
                    "spool write_errors)", e.sink, s->dir, strerror(-rc));
        s->warned_full = true;
        return rc;
    }
    s->warned_full = false;
    s->st.written++;
    return 0;
}

/* ------------------------------------------------------------- read, remove */

static int spool_read_file(struct md_spool *s, const struct md_spool_entry *e, struct md_buf *b)
{
    char name[96];
    spool_name(e, name, sizeof name);
    int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        md_buf_add(b, chunk, (size_t)n);
    int rc = n < 0 ? -errno : b->oom ? -ENOMEM : 0;
    close(fd);
    return rc;
}

int md_spool_load(struct md_spool *s, uint64_t seq, struct md_payload **out)
{
    size_t i = spool_find(s, seq);
    if (i >= s->n || s->v[i].seq != seq)
        return -ENOENT;
    struct md_buf b;
    md_buf_init(&b);
    int rc = spool_read_file(s, &s->v[i], &b);
    if (rc == 0 || rc == -ENOENT)
        rc = rc ? -EBADMSG : spool_decode(s, b.p ? b.p : "", b.len, out);
    md_buf_free(&b);
    if (rc == -EBADMSG) {
        char name[96];
        spool_name(&s->v[i], name, sizeof name);
        md_warn("spool: %s/%s is torn or corrupt: skipped and deleted", s->dir, name);
        s->st.corrupt++;
        s->st.corrupt_items += s->v[i].items;
        spool_drop_at(s, i);
        return rc;
    }
    if (rc == 0) {
        s->v[i].loaded = true;
        s->st.replayed++;
    }
    return rc;
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
                  ",\"evicted\":%" PRIu64 ",\"corrupt\":%" PRIu64 ",\"write_errors\":%" PRIu64 "}",
                  t->files, t->bytes, t->max_bytes, t->written, t->replayed, t->removed, t->evicted,
                  t->corrupt, t->write_errors);
}

uint64_t md_spool_items_on_disk_only(const struct md_spool *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].loaded)
            n += s->v[i].items;
    return n;
}
