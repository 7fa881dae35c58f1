/*
 * prometheus_rw.h: the Prometheus remote write sink's own keys, and the
 * Authorization header its payloads carry (the daemon hands that to the
 * forwarder so the disk spool keeps it off the disk, like the API key).
 */
#ifndef METERD_PROMETHEUS_RW_H
#define METERD_PROMETHEUS_RW_H

#include <stddef.h>

#include "buf.h"
#include "meterd/frame.h"

struct md_prw_conf {
    char *prometheus_remote_write_url;
    char *prometheus_remote_write_username;
    char *prometheus_remote_write_password;     /* secret */
    char *prometheus_remote_write_bearer_token; /* secret */
};

/*
 * "Bearer <token>" when prometheus_remote_write_bearer_token is set, else
 * "Basic <base64(user:password)>" when a username or password is, else "".
 * c may be NULL (no keys: ""). Returns 0, or -ENAMETOOLONG when it does
 * not fit in len bytes.
 */
int md_prw_auth_header(const struct md_prw_conf *c, char *out, size_t len);

/*
 * Series s as the start of an OpenMetrics sample line, named and labelled
 * as remote write ships it: `name{label="value",...}` (no braces without
 * labels), values escaped. Appended to out. Safe on any thread.
 */
void md_prw_series_text(const struct md_series *s, struct md_buf *out);

#endif
