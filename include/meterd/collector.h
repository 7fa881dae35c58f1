/*
 * collector.h: the interface every host or container collector implements.
 *
 * A collector is a name, a table of its conf.d keys and three functions.
 * The runner (agent/collect/collect.c) reads the YAML files of conf.d/<name>.d/ against the
 * key table, calls configure once per instance, then calls collect on a
 * libuv timer at the instance's interval. collect runs on a libuv worker
 * thread (a hung statvfs must not stall the loop), never twice at once for
 * one instance; configure and destroy run on the caller's thread. Samples
 * go out through an emitter: the runner turns raw counters into rates and
 * counts, adds the instance's tags and hands points to the aggregator, so
 * tagging and shipping are one path with statsd. Collectors read small
 * files with plain reads, never block for long and do not allocate per
 * sample.
 */
#ifndef METERD_COLLECTOR_H
#define METERD_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum md_emit_kind {
    MD_EMIT_GAUGE,           /* value as is */
    MD_EMIT_RATE,            /* raw cumulative counter; the runner ships delta/second, none on the first run */
    MD_EMIT_MONOTONIC_COUNT, /* raw cumulative counter; the runner ships the delta as a count */
};

struct md_emitter {
    /* tags: NUL-terminated "key:value" strings; the instance's tags are added by the runner. */
    void (*emit)(struct md_emitter *e, const char *name, enum md_emit_kind kind, double value,
                 const char *const *tags, size_t ntags);
    void *ud;
    /*
     * Monotonic time of this run in nanoseconds, taken by the runner just
     * before collect. Collectors that compute per-second values themselves
     * (in-check deltas) use it instead of reading a clock, so fixture tests
     * can drive time explicitly.
     */
    int64_t now_ns;
};

static inline void md_emit(struct md_emitter *e, const char *name, enum md_emit_kind kind,
                           double value, const char *const *tags, size_t ntags)
{
    e->emit(e, name, kind, value, tags, ntags);
}
static inline void md_gauge(struct md_emitter *e, const char *name, double v,
                            const char *const *tags, size_t ntags)
{
    e->emit(e, name, MD_EMIT_GAUGE, v, tags, ntags);
}
static inline void md_rate(struct md_emitter *e, const char *name, double v,
                           const char *const *tags, size_t ntags)
{
    e->emit(e, name, MD_EMIT_RATE, v, tags, ntags);
}
static inline void md_monotonic(struct md_emitter *e, const char *name, double v,
                                const char *const *tags, size_t ntags)
{
    e->emit(e, name, MD_EMIT_MONOTONIC_COUNT, v, tags, ntags);
}

/*
 * Declared keys of a collector's instance (besides min_collection_interval,
 * tags, service, enabled, which the runner handles for every collector).
 * Values and defaults are read by the config engine with the rules of
 * meterd.yaml: MD_KEY_BOOL "true"/"false", MD_KEY_INT a decimal number
 * within [min, max], MD_KEY_NUMBER a number with a fraction (the Datadog
 * check's floats) within [min, max], MD_KEY_STRING the text, MD_KEY_STRLIST
 * "" (empty) or space-separated items. MD_KEY_REGEX is one pattern and
 * MD_KEY_REGEXLIST a list of them, written in the Datadog checks' dialect
 * (Python re / Go regexp, see collectors/devfilter.h): the runner checks
 * each at load, so a bad one names FILE:LINE: KEY, and the collector
 * compiles its own with devfilter. MD_KEY_MAP is a mapping of strings to strings (Datadog's
 * device_tag_re), handed over as a list of 2n items: key, value, key, ...
 * MD_KEY_IGNORED is a key of the Datadog check that meterd accepts with
 * any value and does not implement: the runner warns once per load that it
 * is ignored, so the agent's unchanged files load.
 */
enum md_key_type { MD_KEY_BOOL, MD_KEY_INT, MD_KEY_NUMBER, MD_KEY_STRING, MD_KEY_STRLIST,
                   MD_KEY_REGEX, MD_KEY_REGEXLIST, MD_KEY_MAP, MD_KEY_IGNORED };

/* The key may also be set in the file's init_config; an instance's own value wins. */
#define MD_KEY_F_INIT 1u

struct md_key_decl {
    const char *name;
    enum md_key_type type;
    const char *def;    /* default as text, see above ("" for none) */
    int64_t min, max;   /* bounds for MD_KEY_INT and MD_KEY_NUMBER */
    const char *description;
    unsigned flags;     /* MD_KEY_F_* */
};

union md_key_value {
    bool b;
    int64_t i;
    double d;      /* MD_KEY_NUMBER */
    const char *s; /* MD_KEY_STRING, MD_KEY_REGEX */
    struct {
        const char *const *v;
        size_t n;
    } list;
};

/*
 * What configure() receives: the values of the declared keys, in table
 * order. Strings stay valid until destroy() of that instance.
 */
struct md_containers; /* collectors/containers.h */

struct md_instance_conf {
    const union md_key_value *values; /* one per md_key_decl */
    const char *procfs_path;          /* host /proc (may be /host/proc) */
    const char *sysfs_path;           /* host /sys */
    /* The daemon's shared container table (discovery + metadata); NULL when
     * the runner was built without one (the collector then keeps its own). */
    struct md_containers *containers;
};

struct md_collector_ops {
    const char *name;
    bool default_on;                 /* runs without a conf.d file */
    unsigned default_interval;       /* seconds */
    /*
     * The first run cannot show everything: the collector emits rates or
     * monotonic counts, or computes deltas itself. `meterd check` then
     * runs it a second time.
     */
    bool needs_two_runs;
    const struct md_key_decl *keys;  /* NULL-name terminated; may be NULL */
    int (*configure)(const struct md_instance_conf *conf, void **state, char *err, size_t errlen);
    /* One run. Return 0, or -errno when the run failed (counted in status). */
    int (*collect)(void *state, struct md_emitter *e);
    void (*destroy)(void *state);
};

/* Registry (collectors/registry.c): NULL-terminated list of every collector. */
extern const struct md_collector_ops *const md_collectors[];
const struct md_collector_ops *md_collector_lookup(const char *name);

#endif
