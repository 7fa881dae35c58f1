/*
 * parse.h: the DogStatsD message parser and datagram framing.
 *
 * The parser is a pure function of (bytes, options): no allocation, no
 * global state, no syscalls, so the intake threads, `meterd parse` and the
 * fuzzer all run exactly the same code. It may write into the buffer it is
 * given (event text unescaping happens in place).
 */
#ifndef METERD_PARSE_H
#define METERD_PARSE_H

#include "meterd/sample.h"

/* Why a line was rejected before it became a sample. The names are the
 * telemetry tag values and the "reason" of `meterd parse` error objects, so
 * keep them stable. line_too_long is the intake's (a line longer than its
 * ring record can hold); too many tags is not here: it is found after the
 * sample is counted, and the intake ledger counts it as a drop of its own. */
#define MD_PARSE_ERRORS(X)                                  \
    X(MD_PERR_NO_PIPE, "no_type_separator")                 \
    X(MD_PERR_NO_COLON, "no_value_separator")               \
    X(MD_PERR_EMPTY_NAME, "empty_name")                     \
    X(MD_PERR_EMPTY_VALUE, "empty_value")                   \
    X(MD_PERR_BAD_TYPE, "bad_type")                         \
    X(MD_PERR_BAD_VALUE, "bad_value")                       \
    X(MD_PERR_BAD_SAMPLE_RATE, "bad_sample_rate")           \
    X(MD_PERR_BAD_TIMESTAMP, "bad_timestamp")               \
    X(MD_PERR_EVENT_HEADER, "bad_event_header")             \
    X(MD_PERR_EVENT_LENGTH, "bad_event_length")             \
    X(MD_PERR_SC_FORMAT, "bad_service_check")               \
    X(MD_PERR_SC_STATUS, "bad_service_check_status")        \
    X(MD_PERR_TRUNCATED, "truncated_datagram")              \
    X(MD_PERR_UNTERMINATED, "unterminated_line")            \
    X(MD_PERR_LINE_TOO_LONG, "line_too_long")

enum md_parse_error {
    MD_PERR_NONE = 0,
#define MD_X(e, s) e,
    MD_PARSE_ERRORS(MD_X)
#undef MD_X
    MD_PERR_COUNT
};

const char *md_parse_error_name(enum md_parse_error e);

enum md_msg_kind { MD_MSG_METRIC, MD_MSG_EVENT, MD_MSG_SERVICE_CHECK, MD_MSG_ERROR };

struct md_parse_opts {
    bool origin_detection_client; /* honour |c: |e: |card: */
    bool no_aggregation_pipeline; /* read |T (default true) */
    bool etsy;                    /* statsd_mode: etsy (signed gauges are deltas). The
                                     grammar is the same; the parser only flags
                                     MD_SAMPLE_SIGNED and the aggregator applies it. */
    bool lazy_tags;               /* skip the tag scan: host, ntags, pod_uid and card are
                                     left unset; the caller walks the tags (hot path) */
};

struct md_msg {
    enum md_msg_kind kind;
    enum md_parse_error error; /* when kind == MD_MSG_ERROR */
    union {
        struct md_sample metric;
        struct md_event event;
        struct md_service_check check;
    } u;
};

/* Parse one line (no '\n'; a single trailing '\r' is the caller's to strip). */
enum md_msg_kind md_parse_line(char *line, size_t len, const struct md_parse_opts *o,
                               struct md_msg *out);

/*
 * Strict float parsing shared with config and tests: no leading space, no
 * trailing junk, no hex without exponent, no out-of-range; nan/inf accepted.
 * Go's ParseFloat otherwise, except that '_' digit separators are refused
 * (corpus quirk val-underscore) and texts over 255 bytes are refused.
 * Results are bit-identical to strtod. Returns 0 or -EINVAL / -ERANGE.
 */
int md_parse_double(const char *p, size_t len, double *out);

/*
 * Framing: split a received datagram into lines the way the agent does
 * (split on '\n', drop one trailing '\r', skip empty lines). `truncated`
 * says the datagram did not fit the receive buffer: its last partial line
 * is dropped and reported as MD_PERR_TRUNCATED. With `eol_required` an
 * unterminated final line is reported as MD_PERR_UNTERMINATED.
 * The callback gets each line (mutable, not NUL-terminated) or, for a
 * dropped line, err != MD_PERR_NONE. `truncated` wins over `eol_required`;
 * a datagram cut exactly after a '\n' has no partial line to report.
 */
typedef void (*md_line_fn)(void *ud, char *line, size_t len, enum md_parse_error err);
void md_split_datagram(char *buf, size_t len, bool truncated, bool eol_required, md_line_fn fn,
                       void *ud);

#endif
