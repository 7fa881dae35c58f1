/*
 * sample.h: what the DogStatsD parser produces for one message.
 *
 * A parsed message is a set of views (pointer + length) into the receive
 * buffer it was parsed from, plus the few numbers the aggregator needs.
 * Nothing here owns memory: the intake parses in place, hands the record to
 * the aggregator and reuses the buffer. That is how the hot path avoids an
 * allocation per metric. Packed values (`m:1:2:3|h`) and tag lists stay as
 * raw text and are walked with the iterators below, so a record has a fixed
 * size whatever the datagram holds.
 */
#ifndef METERD_SAMPLE_H
#define METERD_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct md_str {
    const char *p;
    uint32_t len;
};

enum md_mtype {
    MD_COUNTER = 0,  /* c  */
    MD_GAUGE,        /* g  */
    MD_TIMER,        /* ms: a histogram in DogStatsD */
    MD_HISTOGRAM,    /* h  */
    MD_SET,          /* s  */
    MD_DISTRIBUTION, /* d  */
    MD_MTYPE_COUNT
};

/* Flags of struct md_sample. */
#define MD_SAMPLE_HAS_HOST 0x01      /* a host: tag overrode the agent host */
#define MD_SAMPLE_HAS_TS 0x02        /* |T<unix> given: bypasses aggregation */
#define MD_SAMPLE_HAS_CONTAINER 0x04 /* |c: honoured (origin detection client) */
#define MD_SAMPLE_SIGNED 0x08        /* value text began with + or - (etsy gauge delta) */

struct md_sample {
    enum md_mtype type;
    uint32_t flags;
    uint32_t nvalues;    /* >1 for packed v1.1 values */
    double value;        /* the first (or only) value; unused for sets */
    double sample_rate;  /* as sent, 1.0 when absent */
    int64_t timestamp;   /* |T field, when MD_SAMPLE_HAS_TS */
    struct md_str name;
    struct md_str values;    /* raw value text; the set member for MD_SET */
    struct md_str tags;      /* raw text after '#', host: etc. still inside */
    struct md_str host;      /* last host: tag, when MD_SAMPLE_HAS_HOST */
    struct md_str container; /* container id from |c:, when HAS_CONTAINER */
    uint64_t container_inode; /* in-<inode> form of |c:, 0 when absent */
    uint32_t ntags;          /* tags the tag iterator will yield */
    struct md_str pod_uid;       /* last dd.internal.entity_id: tag, len 0 = none */
    struct md_str cardinality;   /* |card: (honoured) else first dd.internal.card: tag */
    struct md_str external_data; /* raw |e: value, when honoured */
};

/*
 * Iterate the numbers of a (possibly packed) value list. Empty pieces are
 * skipped, as the agent does. The parser has already validated every piece,
 * so the iterator cannot fail on a sample that came out of md_parse_line().
 */
struct md_value_iter {
    const char *p, *end;
};
void md_value_iter_init(struct md_value_iter *it, const struct md_sample *s);
bool md_value_iter_next(struct md_value_iter *it, double *out);

/*
 * Iterate a raw tag list, skipping the tags the agent consumes itself
 * (host:, dd.internal.entity_id:, dd.internal.card:). Empty tags are kept.
 */
struct md_tag_iter {
    const char *p, *end;
    bool done;
};
void md_tag_iter_init(struct md_tag_iter *it, struct md_str tags);
bool md_tag_iter_next(struct md_tag_iter *it, struct md_str *tag);
/* Like md_tag_iter_next but also stops at host: tags: returns 1 for a tag,
 * 2 for a host (tag = the host name), 0 at the end. */
int md_tag_iter_next_host(struct md_tag_iter *it, struct md_str *tag);

/* --- events and service checks ------------------------------------------ */

enum md_event_priority { MD_PRIORITY_NORMAL = 0, MD_PRIORITY_LOW };
enum md_alert_type { MD_ALERT_INFO = 0, MD_ALERT_SUCCESS, MD_ALERT_WARNING, MD_ALERT_ERROR };

struct md_event {
    struct md_str title; /* `\n` sequences already turned into newlines */
    struct md_str text;
    int64_t timestamp;   /* 0 = now */
    enum md_event_priority priority;
    enum md_alert_type alert_type;
    struct md_str host;  /* h: field, else last host: tag; len 0 = agent host */
    bool has_host;
    struct md_str aggregation_key;
    struct md_str source_type_name;
    struct md_str tags;
};

struct md_service_check {
    struct md_str name;
    int status; /* 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN */
    int64_t timestamp;
    struct md_str host;
    bool has_host;
    struct md_str message;
    struct md_str tags;
};

#endif
