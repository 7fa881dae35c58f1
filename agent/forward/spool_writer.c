/*
 * spool_writer.c: the spool's one thread for disk access (see spool_int.h).
 *
 * Writing a file safely takes a write, an fsync, a rename and a directory
 * fsync: 3 to 9 ms on an ordinary disk, far more on a busy one, and reading
 * back a payload the page cache has lost takes as long; the loop (HTTP,
 * probes, the status server) must never wait for either. This thread does
 * writes, reads and deletions in the order they were queued, so a deletion
 * or a read queued after a write always finds the file. It takes every job
 * waiting, does them, and fsyncs the directory once for a batch that
 * changed it before it reports them: a finished write is durable under its
 * final name. Then `wake` lets the loop reap them. A read is decoded here
 * too (CRC, copies), so the loop only takes the payload.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "spool_int.h"

void spool_job_free(struct spool_job *j)
{
    if (!j)
        return;
    md_buf_free(&j->data);
    md_payload_free(j->p);
    free(j);
}

static int spool_write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* tmp-NAME: write with its CRC, fsync, rename to NAME. The directory is fsynced by the caller. */
static int spool_write_file(int dirfd, const struct spool_job *j)
{
    char tmp[SPOOL_NAME_LEN + 8];
    snprintf(tmp, sizeof tmp, "tmp-%s", j->name);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)j->data.p, (uInt)j->data.len);
    struct iovec iov[2] = {{j->data.p, j->data.len}, {&crc, sizeof crc}};
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = spool_write_all(fd, iov, 2);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && renameat(dirfd, tmp, dirfd, j->name) != 0)
        rc = -errno;
    if (rc != 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

static int spool_read_file(int fd, struct md_buf *b)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        md_buf_reserve(b, (size_t)st.st_size);
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            md_buf_add(b, chunk, (size_t)n);
    return n < 0 ? -errno : b->oom ? -ENOMEM : 0;
}

void spool_read_job(struct md_spool *s, struct spool_job *j)
{
    int fd = openat(s->dirfd, j->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->rc = errno == ENOENT ? -EBADMSG : -errno; /* gone behind our back: as torn */
        return;
    }
    j->rc = spool_read_file(fd, &j->data);
    close(fd);
    if (j->rc == 0)
        j->rc = spool_decode(s, j->data.p ? j->data.p : "", j->data.len, true, &j->p);
    md_buf_free(&j->data);
}

static void spool_do(struct md_spool *s, struct spool_job *j)
{
    if (j->op == SPOOL_READ) {
        spool_read_job(s, j);
        return;
    }
    if (j->op == SPOOL_WRITE) {
        j->rc = spool_write_file(s->dirfd, j);
        return;
    }
    j->rc = unlinkat(s->dirfd, j->name, 0) != 0 && errno != ENOENT ? -errno : 0;
    if (j->rc)
        md_warn("spool: cannot delete %s/%s: %s", s->dir, j->name, strerror(-j->rc));
}

/* Under mu: hand finished jobs (a list from j to last) to the loop thread. */
static void spool_report(struct md_spool *s, struct spool_job *j, struct spool_job *last)
{
    struct spool_writer *w = &s->w;
    if (w->done_tail)
        w->done_tail->next = j;
    else
        w->done = j;
    w->done_tail = last;
    if (s->wake) /* under the lock: md_spool_stop_waking must not race with it */
        s->wake(s->ud);
}

/*
 * One batch, in order. A read is reported as soon as it is done: a replay
 * must not wait for the directory fsync of the deletions queued with it.
 * Writes and deletions are reported after that fsync.
 */
static void spool_run_batch(struct md_spool *s, struct spool_job *batch)
{
    struct spool_writer *w = &s->w;
    struct spool_job *changed = NULL, *changed_tail = NULL;
    for (struct spool_job *j = batch, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        spool_do(s, j);
        if (j->op == SPOOL_READ) {
            pthread_mutex_lock(&w->mu);
            w->busy--;
            spool_report(s, j, j);
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        if (changed_tail)
            changed_tail->next = j;
        else
            changed = j;
        changed_tail = j;
    }
    if (changed)
        fsync(s->dirfd); /* the renames and deletions survive a power cut */
    pthread_mutex_lock(&w->mu);
    for (struct spool_job *j = changed; j; j = j->next)
        if (j->op == SPOOL_WRITE)
            w->todo_bytes -= j->data.len;
    w->busy = 0;
    if (changed)
        spool_report(s, changed, changed_tail);
}

static void *spool_thread(void *arg)
{
    struct md_spool *s = arg;
    struct spool_writer *w = &s->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (!w->todo)
            break; /* stop, and nothing left */
        struct spool_job *batch = w->todo;
        unsigned n = 0;
        for (struct spool_job *j = batch; j; j = j->next)
            n++;
        w->todo = w->todo_tail = NULL;
        w->busy = n;
        pthread_mutex_unlock(&w->mu);
        spool_run_batch(s, batch); /* returns with mu held */
        if (!w->todo)
            pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int spool_writer_start(struct md_spool *s)
{
    struct spool_writer *w = &s->w;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->idle, NULL);
    int rc = pthread_create(&w->th, NULL, spool_thread, s);
    if (rc != 0)
        return -rc;
    w->started = true;
    return 0;
}

void spool_writer_stop(struct md_spool *s)
{
    struct spool_writer *w = &s->w;
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->started = false;
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->idle);
    pthread_mutex_destroy(&w->mu);
}

void spool_writer_push(struct md_spool *s, struct spool_job *j)
{
    struct spool_writer *w = &s->w;
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->todo_tail)
        w->todo_tail->next = j;
    else
        w->todo = j;
    w->todo_tail = j;
    if (j->op == SPOOL_WRITE)
        w->todo_bytes += j->data.len;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

bool spool_writer_cancel(struct md_spool *s, struct spool_job *j)
{
    struct spool_writer *w = &s->w;
    bool taken = false;
    pthread_mutex_lock(&w->mu);
    struct spool_job **pp = &w->todo, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = j->next;
        if (w->todo_tail == j)
            w->todo_tail = prev;
        if (j->op == SPOOL_WRITE)
            w->todo_bytes -= j->data.len;
        taken = true;
        if (!w->todo && !w->busy)
            pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->mu);
    return taken;
}

struct spool_job *spool_writer_take_done(struct md_spool *s)
{
    struct spool_writer *w = &s->w;
    pthread_mutex_lock(&w->mu);
    struct spool_job *j = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return j;
}

void spool_writer_wait_idle(struct md_spool *s)
{
    struct spool_writer *w = &s->w;
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    while (w->todo || w->busy)
        pthread_cond_wait(&w->idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

uint64_t spool_writer_pending_bytes(struct md_spool *s)
{
    pthread_mutex_lock(&s->w.mu);
    uint64_t n = s->w.todo_bytes;
    pthread_mutex_unlock(&s->w.mu);
    return n;
}

bool spool_writer_busy(struct md_spool *s)
{
    if (!s->w.started)
        return false;
    pthread_mutex_lock(&s->w.mu);
    bool busy = s->w.todo || s->w.busy || s->w.done;
    pthread_mutex_unlock(&s->w.mu);
    return busy;
}
