/*
 * spool_int.h: the spool's internals, shared by its three files and by no
 * one else. spool.c owns the index (which files exist, their order, the
 * byte bound, eviction) and runs on the loop thread; spool_codec.c turns a
 * payload into a file's bytes and back; spool_writer.c is the one thread
 * that writes, fsyncs, renames, reads and deletes files, so that no disk
 * access ever runs on the loop.
 *
 * Only the loop thread touches the index and frees jobs. The writer thread
 * reads a job's bytes and sets its result; the loop thread may read the
 * same bytes meanwhile (a payload loaded back before its file exists), and
 * nobody writes them once the job is queued.
 */
#ifndef METERD_SPOOL_INT_H
#define METERD_SPOOL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "spool.h"

#define SPOOL_MAGIC "MDSPOOL1"
#define SPOOL_MAX_SECRETS 8
#define SPOOL_NAME_LEN 96

enum spool_op { SPOOL_WRITE, SPOOL_UNLINK, SPOOL_READ };

struct spool_job {
    struct spool_job *next;
    enum spool_op op;
    uint64_t seq;
    bool orphan; /* loop thread only: its entry left the index while the write was out */
    char name[SPOOL_NAME_LEN];
    struct md_buf data; /* SPOOL_WRITE: the file up to its CRC, which the writer appends */
    struct md_payload *p; /* SPOOL_READ: the payload read back, until reaped */
    int rc;               /* the thread's result: 0 or a negative errno */
};

/* The spool's thread and its queues (spool_writer.c); guarded by mu. */
struct spool_writer {
    pthread_t th;
    bool started, stop;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    struct spool_job *todo, *todo_tail; /* waiting for the thread, in order */
    struct spool_job *done, *done_tail; /* finished, for the loop thread to reap */
    unsigned busy;                      /* jobs taken by the thread, not yet in done */
    uint64_t todo_bytes;                /* bytes of writes not yet finished */
};

struct md_spool {
    char *dir;
    int dirfd, lockfd;
    uint64_t max_bytes;
    const char *const *secrets;
    size_t nsecrets;
    md_spool_wake_fn wake;
    md_spool_failed_fn failed;
    md_spool_loaded_fn loaded;
    void *ud;
    struct md_spool_entry *v; /* sorted by seq */
    size_t n, cap;
    struct md_spool_stats st;
    bool warned_full;
    time_t evict_logged; /* last eviction log line */
    uint64_t evicted_unlogged;
    struct spool_writer w;
};

/* spool_codec.c */
void spool_name(const struct md_spool_entry *e, char *out, size_t len);
bool spool_parse_name(const char *name, struct md_spool_entry *e);
/* The file's bytes without the trailing CRC-32 (secrets replaced by placeholders). */
void spool_encode(const struct md_spool *s, const struct md_payload *p, struct md_buf *b);
/*
 * A payload from a file's bytes; `has_crc`: len includes the CRC, checked
 * (a file), or not (a write still in memory). -EBADMSG when malformed.
 */
int spool_decode(const struct md_spool *s, const char *buf, size_t len, bool has_crc,
                 struct md_payload **out);

/* spool_writer.c */
int spool_writer_start(struct md_spool *s);
/* Stop after every queued job and join; finished jobs stay for spool_reap. */
void spool_writer_stop(struct md_spool *s);
void spool_writer_push(struct md_spool *s, struct spool_job *j);
/* Take job j back if the thread has not started it; true when taken (the caller frees it). */
bool spool_writer_cancel(struct md_spool *s, struct spool_job *j);
/* The finished jobs, oldest first, now owned by the caller. */
struct spool_job *spool_writer_take_done(struct md_spool *s);
/* Block until the thread has nothing queued or running. */
void spool_writer_wait_idle(struct md_spool *s);
uint64_t spool_writer_pending_bytes(struct md_spool *s);
/* Jobs queued, running or finished but not taken yet. */
bool spool_writer_busy(struct md_spool *s);
void spool_job_free(struct spool_job *j);
/* Thread side of SPOOL_READ: the file's payload into j->p, or j->rc. */
void spool_read_job(struct md_spool *s, struct spool_job *j);

#endif
