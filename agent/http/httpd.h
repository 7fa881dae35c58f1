/*
 * httpd.h: a minimal HTTP/1.1 server on the agent's libuv loop.
 *
 * It serves /health, /status and /metrics to `meterd status`, container
 * health checks and scrapers, on loopback by default. One request per
 * connection (the answer carries "Connection: close"), heads up to 8 KiB,
 * no request bodies unless a caller opts in (the tests use that to stand in
 * for a backend), and a per-connection deadline, so a slow or hostile
 * client can neither hold memory nor stall the loop.
 */
#ifndef METERD_HTTPD_H
#define METERD_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"

#define MD_HTTPD_MAX_HEAD 8192

#define MD_HTTPD_MAX_HEADERS 32

struct md_httpd_header {
    const char *name, *value; /* value with surrounding blanks removed */
};

struct md_httpd_req {
    const char *method; /* "GET", "HEAD", ... (upper case as sent) */
    const char *path;   /* "/status": raw, not percent-decoded */
    const char *query;  /* text after '?', "" when none */
    const char *body;   /* NULL unless md_httpd_set_max_body() allowed one */
    size_t body_len;
    const struct md_httpd_header *headers; /* the first MD_HTTPD_MAX_HEADERS */
    size_t nheaders;
};

/* Value of the first header named `name` (case-insensitive), or NULL. */
const char *md_httpd_req_header(const struct md_httpd_req *req, const char *name);

/* Filled by the handler; status 200 and "text/plain" when left alone. */
struct md_httpd_resp {
    int status;
    const char *content_type; /* static string */
    struct md_buf body;
};

/* Runs on the loop thread; must not block. */
typedef void (*md_httpd_handler)(void *ud, const struct md_httpd_req *req, struct md_httpd_resp *resp);

struct md_httpd;

/*
 * Listen on host:port (IPv4 or IPv6 literal; port 0 = ephemeral). Returns
 * NULL and a message in err on failure.
 */
struct md_httpd *md_httpd_new(uv_loop_t *loop, const char *host, int port, md_httpd_handler fn,
                              void *ud, char *err, size_t errlen);
/* The bound port (useful after port 0). */
int md_httpd_port(const struct md_httpd *h);
/* Connections closed because the cap was reached while they were still sending. */
uint64_t md_httpd_evicted(const struct md_httpd *h);
/* Per-connection deadline for the whole request, default 5000 ms. */
void md_httpd_set_timeout(struct md_httpd *h, uint64_t ms);
/* Accept request bodies up to `bytes` (Content-Length only); default 0 = 413 on any body. */
void md_httpd_set_max_body(struct md_httpd *h, size_t bytes);
/*
 * Stop listening and close every connection. Memory is released by the
 * last close callback, so the loop must run afterwards (uv_run returns once
 * it has).
 */
void md_httpd_free(struct md_httpd *h);

#endif
