/*
 * spool.h: the forwarder's disk spool, one file per payload.
 *
 * When a backend is failing, payloads that wait for it are written here so
 * that neither a full memory retry queue nor a restart, a SIGKILL or a
 * crash loses them; they are read back oldest first once the backend
 * answers again. Each file is written to a temporary name, fsynced and
 * renamed, so a file under its final name is either whole or absent; a
 * file that is torn or corrupt anyway (bad disk, manual edits) fails its
 * CRC and is deleted with one log line. The directory's total size is
 * bounded: the oldest files not loaded in memory are evicted first, and
 * counted. Secret header values (the API key) never reach the disk: they
 * are stored as placeholders and put back from the current configuration
 * when a file is read.
 *
 * Every disk access after the opening scan runs on a thread of the
 * spool's own (an fsync takes milliseconds, a cold read of a large payload
 * tens of them, which the loop must not wait for): md_spool_put queues
 * the file's bytes and returns, the entry counts in the index at once;
 * md_spool_load queues a read, which comes back through the `loaded`
 * callback, in the order the loads were asked. A write that fails for
 * good (disk full with nothing left to evict, I/O error) is reported
 * through the `failed` callback, with the payload when the caller no
 * longer holds a copy. Every function and callback runs on the loop
 * thread, except the `wake` callback.
 */
#ifndef METERD_SPOOL_H
#define METERD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "meterd/sink.h"

struct md_spool;
struct spool_job;

struct md_spool_entry {
    uint64_t seq;   /* the payload's place in sending order */
    uint64_t bytes; /* file size */
    uint64_t items; /* series (checks, events) inside, from the file name */
    char sink[32];
    bool loaded;  /* a copy is in memory (queued or in flight), or being read */
    bool reading; /* md_spool_load asked for it; the `loaded` callback has not run */
    struct spool_job *job; /* its write, until the file is on disk */
};

struct md_spool_stats {
    uint64_t files, bytes, max_bytes;
    uint64_t written, replayed, removed;
    uint64_t evicted;      /* files deleted to make room: their payloads are lost */
    uint64_t corrupt;                /* unreadable files deleted */
    uint64_t write_errors;           /* ENOSPC, EIO...: the payload stayed in memory only */
    uint64_t items;                  /* in all files */
    uint64_t recovered_items;        /* in the files found at open (a previous run's) */
    uint64_t evicted_items, corrupt_items;
    uint64_t pending; /* writes queued or running, not yet on disk */
};

/*
 * Writer thread, under the writer's lock: a write or deletion finished;
 * get md_spool_reap called on the loop thread soon (uv_async_send).
 */
typedef void (*md_spool_wake_fn)(void *ud);
/*
 * The write of entry seq failed for good and the entry is gone. p is the
 * payload, handed over, when the caller had released its copy (the entry
 * was not loaded); NULL when the caller still holds one.
 */
typedef void (*md_spool_failed_fn)(void *ud, uint64_t seq, struct md_payload *p);
/*
 * md_spool_reap: the read of entry seq (`bytes` on disk) finished. rc 0:
 * p is handed over and the entry stays loaded until md_spool_unload or
 * md_spool_remove. Otherwise p is NULL: -EBADMSG, the file was corrupt
 * and is deleted (logged, counted); other errors leave the entry on disk,
 * not loaded, for a later try (the caller logs those).
 */
typedef void (*md_spool_loaded_fn)(void *ud, uint64_t seq, uint64_t bytes, struct md_payload *p,
                                   int rc);

struct md_spool_opts {
    const char *dir;
    uint64_t max_bytes;
    const char *const *secrets; /* borrowed, must outlive the spool: never written to disk */
    size_t nsecrets;
    md_spool_wake_fn wake;      /* optional: without it, only md_spool_sync reaps */
    md_spool_failed_fn failed;  /* optional */
    md_spool_loaded_fn loaded;  /* needed for md_spool_load */
    void *ud;
};

/*
 * Open (creating it, mode 0700) the spool directory, index the files a
 * previous run left and start the writer thread. *max_seq receives the
 * highest sequence number found (0 for none) so new payloads sort after
 * old ones. Returns NULL with err set when the directory cannot be used or
 * another process holds it.
 */
struct md_spool *md_spool_open(const struct md_spool_opts *o, uint64_t *max_seq, char *err,
                               size_t errlen);
/* Waits for every queued write (md_spool_sync), then stops the writer. */
void md_spool_close(struct md_spool *s);

/*
 * Queue the write of payload p (not taken: its bytes are copied) as entry
 * `seq`, marked loaded. Older entries not loaded are evicted first when
 * the bound requires it (counted). Returns 0, -EEXIST for a seq already
 * spooled, -ENOSPC when no room can be made, -EAGAIN when the writer is
 * that far behind (SPOOL_PENDING_MAX bytes queued), or another negative
 * errno; the agent goes on either way. A later failure of the write goes
 * to the `failed` callback.
 */
int md_spool_put(struct md_spool *s, uint64_t seq, const struct md_payload *p);

/*
 * Mark entry seq loaded and queue its read on the spool's thread; the
 * payload comes to the `loaded` callback from md_spool_reap. Returns 0,
 * -ENOENT (no such entry), -EALREADY (loaded) or -ENOMEM.
 */
int md_spool_load(struct md_spool *s, uint64_t seq);

/* The memory copy of seq was released: it may be loaded (or evicted) again. */
void md_spool_unload(struct md_spool *s, uint64_t seq);

/* Delivered or dropped for good: delete the file. */
void md_spool_remove(struct md_spool *s, uint64_t seq);

/* Handle the jobs the thread finished: retries after a full disk, failures, reads. */
void md_spool_reap(struct md_spool *s);
/* Block until every queued write and deletion is done and reaped (exit, tests). */
void md_spool_sync(struct md_spool *s);
/* No `wake` call from now on (the handle it signals is closing); md_spool_sync still reaps. */
void md_spool_stop_waking(struct md_spool *s);

/* The oldest entry not loaded whose sink `ok` accepts (NULL = any), or NULL. */
const struct md_spool_entry *md_spool_oldest(const struct md_spool *s,
                                             bool (*ok)(void *ud, const char *sink), void *ud);

bool md_spool_has(const struct md_spool *s, uint64_t seq);
/* Items in files whose payload is not in memory: held by the spool alone. */
uint64_t md_spool_items_on_disk_only(const struct md_spool *s);
void md_spool_stats(const struct md_spool *s, struct md_spool_stats *out);
void md_spool_status_json(const struct md_spool *s, struct md_buf *b);

#endif
