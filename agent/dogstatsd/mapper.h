/*
 * mapper.h: dogstatsd_mapper_profiles, the Datadog agent's metric name
 * mapping (comp/dogstatsd/mapper).
 *
 * Legacy statsd clients put dimensions into the name
 * (`airflow.job.duration.backfill.nightly`); a mapping turns that into a
 * name and tags (`airflow.job.duration`, `job_type:backfill`,
 * `job_name:nightly`). The rules are the agent's: the first profile whose
 * prefix starts the name (or whose prefix is "*") is the only one tried,
 * its first matching mapping wins, `*` in a wildcard pattern stands for one
 * dot-free (possibly empty) run of characters, and `$1`/`${1}` in the new
 * name and in tag values are replaced by the captures with Go's
 * Regexp.Expand rules. Results, mapped or not, are kept in a bounded LRU
 * cache because the same few thousand names arrive over and over; a cache
 * hit allocates nothing.
 *
 * One mapper per thread: md_mapper_map updates the cache.
 */
#ifndef METERD_MAPPER_H
#define METERD_MAPPER_H

#include <stddef.h>
#include <stdint.h>

#include "meterd/config.h"
#include "meterd/sample.h"

#define MD_MAPPER_CACHE_DEFAULT 1000 /* dogstatsd_mapper_cache_size */

struct md_mapper;

/*
 * A mapped name. The views point into the mapper's cache and stay valid
 * until the next md_mapper_map or md_mapper_free call on the same mapper.
 * tags are "key:value" strings to append to the sample's own tags.
 */
struct md_mapper_result {
    struct md_str name;
    const struct md_str *tags;
    uint32_t ntags;
};

struct md_mapper_stats {
    uint64_t hits;      /* answered from the cache */
    uint64_t misses;    /* computed (then cached) */
    uint64_t evictions; /* cache entries dropped to make room */
    uint64_t entries;   /* entries in the cache now */
};

/*
 * Build a mapper from profiles the configuration has checked (copied; the
 * config may be freed afterwards): wildcard patterns in the agent's
 * alphabet, regexes (POSIX extended, anchored ^...$; Go's RE2 syntax beyond
 * ERE such as \d or (?P<n>...) is not available) that compile. Each mapper
 * compiles its own regexes: glibc's regexec locks a shared regex_t, and
 * every intake thread has a mapper. cache_size 0 means
 * MD_MAPPER_CACHE_DEFAULT. NULL with a reason in err when out of memory
 * (or a regex the config did not check fails). n == 0 gives a mapper that
 * maps nothing.
 */
struct md_mapper *md_mapper_new(const struct md_mapper_profile *profiles, size_t n,
                                size_t cache_size, char *err, size_t errlen);
void md_mapper_free(struct md_mapper *m);

/*
 * Map one metric name. Returns 1 and fills out when a mapping matched,
 * 0 when the name is left alone, -ENOMEM when the result could not be
 * stored (treat as not mapped).
 */
int md_mapper_map(struct md_mapper *m, const char *name, size_t len,
                  struct md_mapper_result *out);

const struct md_mapper_stats *md_mapper_stats(const struct md_mapper *m);

#endif
