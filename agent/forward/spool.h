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
 * when a file is read. Loop thread only.
 */
#ifndef METERD_SPOOL_H
#define METERD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "meterd/sink.h"

struct md_spool;

struct md_spool_entry {
    uint64_t seq;   /* the payload's place in sending order */
    uint64_t bytes; /* file size */
    uint64_t items; /* series (checks, events) inside, from the file name */
    char sink[32];
    bool loaded; /* a copy is in memory (queued or in flight) */
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
};

/*
 * Open (creating it, mode 0700) the spool directory and index the files a
 * previous run left. `secrets` (borrowed, must outlive the spool) are the
 * header values never written to disk. *max_seq receives the highest
 * sequence number found (0 for none) so new payloads sort after old ones.
 * Returns NULL with err set when the directory cannot be used or another
 * process holds it.
 */
struct md_spool *md_spool_open(const char *dir, uint64_t max_bytes, const char *const *secrets,
                               size_t nsecrets, uint64_t *max_seq, char *err, size_t errlen);
void md_spool_close(struct md_spool *s);

/*
 * Write payload p (not taken) as entry `seq`, marked loaded. Older entries
 * not loaded are evicted first when the bound requires it (counted).
 * Returns 0, -EEXIST for a
 * seq already spooled, -ENOSPC when no room can be made or the disk is
 * full, or another negative errno; the agent goes on either way.
 */
int md_spool_put(struct md_spool *s, uint64_t seq, const struct md_payload *p);

/*
 * Read entry seq back into a new payload (caller owns it) and mark it
 * loaded. A corrupt file is deleted, logged once and -EBADMSG returned.
 */
int md_spool_load(struct md_spool *s, uint64_t seq, struct md_payload **out);

/* The memory copy of seq was released: it may be loaded (or evicted) again. */
void md_spool_unload(struct md_spool *s, uint64_t seq);

/* Delivered or dropped for good: delete the file. */
void md_spool_remove(struct md_spool *s, uint64_t seq);

/* The oldest entry not loaded whose sink `ok` accepts (NULL = any), or NULL. */
const struct md_spool_entry *md_spool_oldest(const struct md_spool *s,
                                             bool (*ok)(void *ud, const char *sink), void *ud);

bool md_spool_has(const struct md_spool *s, uint64_t seq);
/* Items in files whose payload is not in memory: held by the spool alone. */
uint64_t md_spool_items_on_disk_only(const struct md_spool *s);
void md_spool_stats(const struct md_spool *s, struct md_spool_stats *out);
void md_spool_status_json(const struct md_spool *s, struct md_buf *b);

#endif
