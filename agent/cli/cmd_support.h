/*
 * cmd_support.h: what `meterd config`, `diagnose` and `flare` share: their
 * config options, loading the config as `meterd run` would, a blocking
 * HTTP GET (one-shot commands may block), and the running agent's status
 * address.
 */
#ifndef METERD_CMD_SUPPORT_H
#define METERD_CMD_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "meterd/config.h"

#define MD_SUP_MAX_SETS 256

struct md_sup_opts {
    const char *file;
    char *sets[MD_SUP_MAX_SETS];
    size_t nsets;
};

/*
 * Take -c FILE / --set K=V (getopt codes 'c' and 's'); 0, or 2 after
 * printing why (too many --set, --set without '=').
 */
int md_sup_opt(struct md_sup_opts *o, const char *cmd, int ch, const char *arg);

/* Load the config as `meterd run` does; on error print "meterd CMD: config error: ..." and return 1. */
int md_sup_load(const struct md_sup_opts *o, const char *cmd, struct md_config *cfg);

/*
 * GET url (headers: NULL-terminated "Name: value" list, may be NULL) with a
 * timeout in seconds. Returns the HTTP status, or 0 with the transport
 * error in err when nothing answered.
 */
long md_sup_http_get(const char *url, const char *const *headers, long timeout_s,
                     struct md_buf *body, char *err, size_t errlen);

/* "http://HOST:PORT" of the running agent's status endpoint (IPv6 in brackets). */
void md_sup_status_url(const struct md_config *c, char *url, size_t len);

#endif
