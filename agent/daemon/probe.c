/*
 * probe.c: /live and /ready on health_port (see probe.h).
 *
 * /live answers 200 whenever the loop runs: a stuck loop cannot answer,
 * which is what a liveness probe is for. /ready answers 200 once the
 * config has loaded and the intake sockets listen (the daemon sets
 * d->ready at the end of its start), and 503 again from the moment a stop
 * begins, so a rolling update takes the agent out before it goes away.
 */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "httpd.h"

struct md_probe {
    struct md_daemon *d;
    struct md_httpd *httpd;
};

static void probe_handle(void *ud, const struct md_httpd_req *req, struct md_httpd_resp *resp)
{
    struct md_probe *p = ud;
    bool ready = p->d->ready && !p->d->stopping;
    if (strcmp(req->path, "/live") == 0) {
        md_buf_puts(&resp->body, "ok\n");
    } else if (strcmp(req->path, "/ready") == 0) {
        resp->status = ready ? 200 : 503;
        md_buf_puts(&resp->body, ready ? "ok\n" : p->d->stopping ? "stopping\n" : "starting\n");
    } else {
        resp->status = 404;
        md_buf_puts(&resp->body, "not found: try /live, /ready\n");
    }
}

struct md_probe *md_probe_new(struct md_daemon *d, char *err, size_t errlen)
{
    struct md_probe *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "health_port: out of memory");
        return NULL;
    }
    p->d = d;
    /* "::" takes IPv4 too (dual stack); a kernel without IPv6 needs 0.0.0.0. */
    p->httpd = md_httpd_new(d->loop, "::", d->cfg.health_port, probe_handle, p, err, errlen);
    if (!p->httpd)
        p->httpd = md_httpd_new(d->loop, "0.0.0.0", d->cfg.health_port, probe_handle, p, err,
                                errlen);
    if (!p->httpd) {
        free(p);
        return NULL;
    }
    return p;
}

void md_probe_free(struct md_probe *p)
{
    if (!p)
        return;
    md_httpd_free(p->httpd);
    free(p);
}
