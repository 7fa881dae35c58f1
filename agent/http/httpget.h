/*
 * httpget.h: one blocking HTTP GET, for code that runs before the loop or
 * outside the daemon: the host name look-ups at start-up (Docker Engine
 * over its unix socket, the ECS agent) and the one-shot commands that ask
 * a backend or the running agent (diagnose, flare). Blocking is fine
 * there; the daemon's own requests go through uvfetch.h or the forwarder.
 * Every request has a total timeout, so a peer that accepts and never
 * answers costs at most that.
 */
#ifndef METERD_HTTPGET_H
#define METERD_HTTPGET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct md_httpget {
    const char *url;
    const char *unix_socket;     /* NULL: TCP */
    const char *const *headers;  /* NULL-terminated "Name: value" list, or NULL */
    long timeout_ms;             /* total, > 0 */
    size_t max_body;             /* 0: no cap; a longer body aborts the transfer */
    bool no_proxy;               /* ignore a proxy set in the environment */
};

/*
 * GET req->url, appending the body to *body. Returns the HTTP status, or 0
 * with the reason in err when nothing answered (or the body was over
 * max_body). The headers may hold secrets: they never reach err.
 */
long md_httpget(const struct md_httpget *req, struct md_buf *body, char *err, size_t errlen);

#endif
