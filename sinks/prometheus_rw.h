/*
 * prometheus_rw.h: what the Prometheus remote write sink shares with the
 * daemon: the Authorization header value its payloads carry, so the
 * forwarder's disk spool can keep it off the disk like the API key.
 */
#ifndef METERD_PROMETHEUS_RW_H
#define METERD_PROMETHEUS_RW_H

#include <stddef.h>

struct md_config;

/*
 * "Bearer <token>" when prometheus_remote_write_bearer_token is set, else
 * "Basic <base64(user:password)>" when a username or password is, else "".
 * Returns 0, or -ENAMETOOLONG when it does not fit in len bytes.
 */
int md_prw_auth_header(const struct md_config *cfg, char *out, size_t len);

#endif
