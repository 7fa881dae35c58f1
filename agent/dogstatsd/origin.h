/*
 * origin.h: DogStatsD origin detection. A metric sent from inside a
 * container gets that container's tags: the container is known from the
 * sender's pid on the unix socket (SO_PASSCRED / SCM_CREDENTIALS, then
 * <proc>/<pid>/cgroup), or from the container id a client writes in the
 * `|c:` field. Which tags (dogstatsd_tag_cardinality, or the client's
 * `|card:`) follows the Datadog agent: low = image, namespace, task family;
 * orchestrator adds pod and task; high adds container id and name.
 *
 * Each intake thread owns one md_origin: a small cache from pid or
 * container id to the rendered tag text per cardinality, so a metric costs
 * a hash probe and a memcpy, no lock, no allocation, no syscall. A cache
 * miss (a new sender, or an entry older than its time to live) reads the
 * pid's cgroup file and takes the container table's lock once.
 *
 * The tags are written into the line itself (appended to its `|#` field),
 * so everything downstream (context keys, the aggregator's re-parse of a
 * new context) sees them as ordinary tags.
 */
#ifndef METERD_ORIGIN_H
#define METERD_ORIGIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_containers;

struct md_origin_stats {
    _Atomic uint64_t tagged;        /* lines that got container tags */
    _Atomic uint64_t no_container;  /* sender not in a (known) container */
    _Atomic uint64_t too_long;      /* line + tags past the buffer: sent without them */
    _Atomic uint64_t lookups;       /* cache misses resolved */
};

struct md_origin;

/*
 * by_pid: use the sender's pid (unix socket); by_field: honour `|c:`.
 * card: the default cardinality (0 low, 1 orchestrator, 2 high). maxline:
 * the longest line the intake passes. The table and stats must outlive it.
 */
struct md_origin *md_origin_new(struct md_containers *store, const char *procfs, bool by_pid,
                                bool by_field, int card, size_t maxline, struct md_origin_stats *st);
void md_origin_free(struct md_origin *o);

/*
 * The line with its origin's tags appended, or the line itself when it has
 * no known origin (or is an event or service check). pid: the datagram's
 * sender (0 = unknown). now: seconds, the intake's batch clock. The result
 * is valid until the next call.
 */
char *md_origin_apply(struct md_origin *o, int pid, char *line, size_t len, double now, size_t *outlen);

#endif
