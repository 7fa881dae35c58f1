/*
 * statsd.c: enrichment of parsed messages into points (see statsd.h).
 */
#include "statsd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "etsy.h"
#include "log.h"
#include "mapper.h"

#define NS_MAX 256

/*
 * The intake's key cache: a line's name and tags bytes as sent -> its
 * context key. Clients send the same few lines over and over; a hit skips
 * the tag walk, a hash per tag, the mapper and the namespace. A set is four
 * entries in one cache line, filled first-in first-out: a direct-mapped
 * table missed a fifth of the lookups with 1000 contexts sent round-robin
 * (lines sharing a slot evict each other forever), two ways still 8 %, four
 * ways under 1 %. Keyed by a 64-bit hash of the raw bytes, as the
 * aggregator's table is keyed by a 64-bit hash of the canonical context: a
 * false hit takes a 64-bit collision. Only md_statsd_fast_key (one intake
 * thread) touches it: 128 KiB per intake thread.
 */
#define KCACHE_SETS 2048
#define KCACHE_WAYS 4
struct kc_entry {
    uint64_t raw, key;
};
struct kc_set {
    _Alignas(64) struct kc_entry e[KCACHE_WAYS];
};

struct md_statsd {
    struct kc_set kcache[KCACHE_SETS];
    void *alloc; /* what to free */
    struct md_agg *agg;
    struct md_parse_opts popts;
    char ns[NS_MAX]; /* "namespace." */
    size_t ns_len;
    char *const *ns_skip; /* statsd_metric_namespace_blocklist prefixes */
    size_t nns_skip;
    char *const *block;   /* statsd_metric_blocklist names */
    size_t nblock;
    struct md_str *dtags; /* dogstatsd_tags */
    uint64_t *dhash;      /* and their hashes */
    uint32_t ndtags;
    uint64_t *ghash;      /* hashes of the global tags (config `tags`) */
    uint32_t nghash;
    struct md_mapper *mapper; /* dogstatsd_mapper_profiles, NULL when none */
    bool etsy;                /* sanitise names as etsy statsd does */
    char etsybuf[65536];
    struct md_statsd_stats st;
    double now;
    char namebuf[NS_MAX + 65536];
    struct md_str tagv[MD_CTX_MAX_TAGS];
    struct md_tagsum tsum; /* enrich's distinct tags */
};

struct md_statsd *md_statsd_new(const struct md_statsd_opts *o, struct md_agg *agg)
{
    /* Aligned (the key cache's sets are cache lines) and from calloc: a
     * block this large comes zeroed from mmap, so the pages of the cache
     * and of the name buffers cost memory only once they are used. */
    void *base = calloc(1, sizeof(struct md_statsd) + 64);
    if (!base)
        return NULL;
    struct md_statsd *s = (void *)(((uintptr_t)base + 63) & ~(uintptr_t)63);
    s->alloc = base;
    s->agg = agg;
    s->popts.origin_detection_client = o->origin_detection_client;
    s->popts.no_aggregation_pipeline = o->no_aggregation_pipeline;
    s->popts.etsy = o->etsy;
    s->etsy = s->popts.etsy;
    if (o->nmapper_profiles) {
        char err[512];
        s->mapper = md_mapper_new(o->mapper_profiles, o->nmapper_profiles,
                                  MD_MAPPER_CACHE_DEFAULT, err, sizeof err);
        if (!s->mapper) {
            md_error("dogstatsd_mapper_profiles: %s", err);
            free(s->alloc);
            return NULL;
        }
    }
    const char *ns = o->metric_namespace ? o->metric_namespace : "";
    size_t nl = strlen(ns);
    if (nl && nl + 1 < NS_MAX) {
        memcpy(s->ns, ns, nl);
        if (ns[nl - 1] != '.')
            s->ns[nl++] = '.';
        s->ns_len = nl;
    }
    s->ns_skip = o->namespace_blocklist;
    s->nns_skip = o->nnamespace_blocklist;
    s->block = o->blocklist;
    s->nblock = o->nblocklist;
    s->ndtags = (uint32_t)o->ntags;
    s->dtags = calloc(s->ndtags ? s->ndtags : 1, sizeof *s->dtags);
    s->dhash = calloc(s->ndtags ? s->ndtags : 1, sizeof *s->dhash);
    /* As many global tags as the aggregator keeps (md_config_agg_opts). */
    s->nghash = (uint32_t)(o->nglobal_tags < MD_CTX_MAX_TAGS ? o->nglobal_tags : MD_CTX_MAX_TAGS);
    s->ghash = calloc(s->nghash ? s->nghash : 1, sizeof *s->ghash);
    if (!s->dtags || !s->dhash || !s->ghash) {
        md_statsd_free(s);
        return NULL;
    }
    for (uint32_t i = 0; i < s->ndtags; i++) {
        s->dtags[i] = (struct md_str){o->tags[i], (uint32_t)strlen(o->tags[i])};
        s->dhash[i] = md_hash(s->dtags[i].p, s->dtags[i].len);
    }
    for (uint32_t i = 0; i < s->nghash; i++)
        s->ghash[i] = md_hash(o->global_tags[i], strlen(o->global_tags[i]));
    return s;
}

void md_statsd_free(struct md_statsd *s)
{
    if (!s)
        return;
    md_mapper_free(s->mapper);
    free(s->dtags);
    free(s->dhash);
    free(s->ghash);
    free(s->alloc);
}

const struct md_statsd_stats *md_statsd_stats(const struct md_statsd *s)
{
    return &s->st;
}

const struct md_parse_opts *md_statsd_parse_opts(const struct md_statsd *s)
{
    return &s->popts;
}

static bool str_eq(struct md_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && memcmp(a.p, b, n) == 0;
}

static bool str_prefix(struct md_str a, const char *b)
{
    size_t n = strlen(b);
    return a.len >= n && memcmp(a.p, b, n) == 0;
}

static bool blocked(const struct md_statsd *s, struct md_str name)
{
    for (size_t i = 0; i < s->nblock; i++)
        if (str_eq(name, s->block[i]))
            return true;
    return false;
}

/* Apply statsd_metric_namespace unless the name starts with an exempt prefix. */
static struct md_str with_namespace(struct md_statsd *s, struct md_str name)
{
    if (!s->ns_len || name.len > sizeof s->namebuf - s->ns_len)
        return name;
    for (size_t i = 0; i < s->nns_skip; i++)
        if (str_prefix(name, s->ns_skip[i]))
            return name;
    memcpy(s->namebuf, s->ns, s->ns_len);
    memcpy(s->namebuf + s->ns_len, name.p, name.len);
    return (struct md_str){s->namebuf, (uint32_t)(s->ns_len + name.len)};
}

/* The name a sample ends up with: etsy sanitising, mapper, namespace. */
static struct md_str final_name(struct md_statsd *s, const struct md_sample *m,
                                struct md_mapper_result *mapped)
{
    struct md_str name = m->name;
    if (s->etsy && name.len <= sizeof s->etsybuf)
        name.len = (uint32_t)md_etsy_sanitize(name.p, name.len, s->etsybuf), name.p = s->etsybuf;
    mapped->ntags = 0;
    if (s->mapper && md_mapper_map(s->mapper, name.p, name.len, mapped) == 1)
        name = mapped->name;
    else
        mapped->ntags = 0;
    return with_namespace(s, name);
}

static int fast_key_slow(struct md_statsd *s, const struct md_keyer *k, const struct md_sample *m,
                         uint64_t *key)
{
    struct md_mapper_result mapped;
    struct md_str name = final_name(s, m, &mapped);
    if (s->nblock && blocked(s, name)) {
        s->st.blocked++;
        return 1;
    }
    struct md_tagsum ts;
    md_tagsum_init(&ts);
    struct md_tag_iter it;
    struct md_str t, host = m->host;
    bool has_host = (m->flags & MD_SAMPLE_HAS_HOST) != 0;
    int rc = 0, kind;
    md_tag_iter_init(&it, m->tags);
    while ((kind = md_tag_iter_next_host(&it, &t))) {
        if (kind == 1) {
            rc |= md_tagsum_add(&ts, t.p, t.len);
        } else {
            host = t; /* last host: wins */
            has_host = true;
        }
    }
    for (uint32_t i = 0; i < s->ndtags; i++)
        rc |= md_tagsum_add_hash(&ts, s->dhash[i]);
    for (uint32_t i = 0; i < mapped.ntags; i++)
        rc |= md_tagsum_add(&ts, mapped.tags[i].p, mapped.tags[i].len);
    for (uint32_t i = 0; i < k->ngtags; i++)
        rc |= md_tagsum_add_hash(&ts, k->ghash[i]);
    if (rc) {
        s->st.too_many_tags++;
        return -E2BIG;
    }
    uint64_t hh = has_host ? md_host_hash(host.p, host.len) : k->host_hash;
    *key = md_ctx_key_final(&name, hh, &ts);
    return 0;
}

int md_statsd_fast_key(struct md_statsd *s, const struct md_keyer *k, const struct md_sample *m,
                       uint64_t *key)
{
    /* The key depends on the name and the tags field only (host: is a tag
     * there, in lazy mode), plus configuration fixed for s's life. */
    uint64_t raw = md_raw_hash(m->name, m->tags);
    struct kc_set *set = &s->kcache[raw & (KCACHE_SETS - 1)];
    for (int i = 0; i < KCACHE_WAYS; i++)
        if (set->e[i].raw == raw) {
            *key = set->e[i].key;
            return 0;
        }
    int rc = fast_key_slow(s, k, m, key);
    if (rc == 0) {
        memmove(&set->e[1], &set->e[0], (KCACHE_WAYS - 1) * sizeof set->e[0]);
        set->e[0] = (struct kc_entry){raw, *key};
    }
    return rc;
}

enum enrich_drop { ENRICH_OK, ENRICH_BLOCKED, ENRICH_TOO_MANY_TAGS };

/* t into s->tagv unless its hash h is in s->tsum already. -E2BIG past the limit. */
static int keep_tag(struct md_statsd *s, struct md_str t, uint64_t h, uint32_t *n)
{
    uint32_t before = s->tsum.n;
    if (md_tagsum_add_hash(&s->tsum, h) != 0)
        return -E2BIG;
    if (s->tsum.n > before)
        s->tagv[(*n)++] = t;
    return 0;
}

/*
 * The point's tags into s->tagv when the sample has more tags than the
 * limit counting repeats: the line's, dogstatsd_tags and the mapper's, each
 * distinct tag once, and none that is a global tag (the aggregator adds
 * those itself). The same set of hashes as md_statsd_fast_key builds, so
 * both paths drop exactly the same samples (the rule is in statsd.h), and
 * the aggregator's own count of the point's tags plus the global ones is
 * the distinct count. -E2BIG past the limit.
 */
static int distinct_tags(struct md_statsd *s, struct md_str tags,
                         const struct md_mapper_result *mapped, uint32_t *n)
{
    md_tagsum_init(&s->tsum);
    for (uint32_t i = 0; i < s->nghash; i++)
        md_tagsum_add_hash(&s->tsum, s->ghash[i]); /* at most MD_CTX_MAX_TAGS: fits */
    int rc = 0;
    struct md_tag_iter it;
    struct md_str t;
    *n = 0;
    md_tag_iter_init(&it, tags);
    while (rc == 0 && md_tag_iter_next(&it, &t))
        rc = keep_tag(s, t, md_hash(t.p, t.len), n);
    for (uint32_t i = 0; rc == 0 && i < s->ndtags; i++)
        rc = keep_tag(s, s->dtags[i], s->dhash[i], n);
    for (uint32_t i = 0; rc == 0 && i < mapped->ntags; i++)
        rc = keep_tag(s, mapped->tags[i], md_hash(mapped->tags[i].p, mapped->tags[i].len), n);
    return rc;
}

/*
 * The point's tags into s->tagv: the line's, dogstatsd_tags and the
 * mapper's. Within the limit even counting repeats and the global tags
 * (nearly every sample), they are copied as they are: the aggregator drops
 * repeats when it builds the context. Past it, only distinct_tags can tell.
 */
static int point_tags(struct md_statsd *s, struct md_str tags, const struct md_mapper_result *mapped,
                      uint32_t *n)
{
    uint32_t fixed = s->ndtags + mapped->ntags + s->nghash;
    struct md_tag_iter it;
    struct md_str t;
    uint32_t k = 0;
    md_tag_iter_init(&it, tags);
    while (md_tag_iter_next(&it, &t)) {
        if (k + fixed >= MD_CTX_MAX_TAGS)
            return distinct_tags(s, tags, mapped, n);
        s->tagv[k++] = t;
    }
    if (k + fixed > MD_CTX_MAX_TAGS)
        return distinct_tags(s, tags, mapped, n);
    memcpy(s->tagv + k, s->dtags, s->ndtags * sizeof *s->dtags);
    k += s->ndtags;
    if (mapped->ntags)
        memcpy(s->tagv + k, mapped->tags, mapped->ntags * sizeof *mapped->tags);
    *n = k + mapped->ntags;
    return 0;
}

static enum enrich_drop enrich(struct md_statsd *s, const struct md_sample *m, struct md_point *p)
{
    *p = (struct md_point){
        .type = (int)m->type,
        .value = m->value,
        .sample_rate = m->sample_rate,
        .host = m->host,
        .has_host = (m->flags & MD_SAMPLE_HAS_HOST) != 0,
        .timestamp = (m->flags & MD_SAMPLE_HAS_TS) ? m->timestamp : 0,
        .member = m->values,
    };
    struct md_mapper_result mapped;
    p->name = final_name(s, m, &mapped);
    if (blocked(s, p->name))
        return ENRICH_BLOCKED;
    uint32_t n;
    if (point_tags(s, m->tags, &mapped, &n) != 0)
        return ENRICH_TOO_MANY_TAGS;
    p->tags = s->tagv;
    p->ntags = n;
    p->signed_value = (m->flags & MD_SAMPLE_SIGNED) != 0;
    return ENRICH_OK;
}

/* A dropped message's samples: all its values, not one per line. */
static void count_drop(struct md_statsd *s, enum enrich_drop why, uint64_t samples)
{
    if (why == ENRICH_BLOCKED)
        s->st.blocked += samples;
    else if (why == ENRICH_TOO_MANY_TAGS)
        s->st.too_many_tags += samples;
}

bool md_statsd_enrich(struct md_statsd *s, const struct md_sample *m, struct md_point *p)
{
    enum enrich_drop why = enrich(s, m, p);
    count_drop(s, why, 1);
    return why == ENRICH_OK;
}

static void handle_metric(struct md_statsd *s, const struct md_sample *m)
{
    struct md_point p;
    enum enrich_drop why = enrich(s, m, &p);
    uint64_t samples = m->type == MD_SET ? 1 : m->nvalues;
    if (why != ENRICH_OK) {
        s->st.metrics += samples;
        count_drop(s, why, samples);
        return;
    }
    if (m->type == MD_SET) {
        s->st.metrics++;
        md_agg_add(s->agg, &p, s->now);
        return;
    }
    struct md_value_iter vi;
    md_value_iter_init(&vi, m);
    while (md_value_iter_next(&vi, &p.value)) {
        s->st.metrics++;
        md_agg_add(s->agg, &p, s->now);
    }
}

static void on_line(void *ud, char *line, size_t len, enum md_parse_error err)
{
    struct md_statsd *s = ud;
    if (err != MD_PERR_NONE) {
        s->st.errors[err]++;
        return;
    }
    struct md_msg msg;
    switch (md_parse_line(line, len, &s->popts, &msg)) {
    case MD_MSG_METRIC:
        handle_metric(s, &msg.u.metric);
        break;
    case MD_MSG_EVENT:
        s->st.events++;
        md_agg_add_event(s->agg, &msg.u.event, s->now);
        break;
    case MD_MSG_SERVICE_CHECK:
        s->st.service_checks++;
        md_agg_add_check(s->agg, &msg.u.check, s->now);
        break;
    case MD_MSG_ERROR:
        s->st.errors[msg.error]++;
        break;
    }
}

void md_statsd_line(struct md_statsd *s, char *line, size_t len, double now)
{
    s->now = now;
    on_line(s, line, len, MD_PERR_NONE);
}

struct md_statsd_stats *md_statsd_stats_mut(struct md_statsd *s)
{
    return &s->st;
}

void md_statsd_datagram(struct md_statsd *s, char *buf, size_t len, bool truncated,
                        bool eol_required, double now)
{
    s->now = now;
    s->st.packets++;
    s->st.bytes += len;
    md_split_datagram(buf, len, truncated, eol_required, on_line, s);
}
