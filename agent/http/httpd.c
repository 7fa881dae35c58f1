/*
 * httpd.c: the status server (see httpd.h).
 *
 * Each connection reads into one buffer until the blank line ends the
 * head (8 KiB at most), then, if a body was allowed, until Content-Length
 * bytes have arrived; then the handler runs once and the answer is written
 * in one piece. At most HTTPD_MAX_CONNS connections are open; past that the
 * oldest one still reading its request makes room. After the answer the write side is shut down and input is
 * drained for a moment before closing: closing a socket with unread input
 * makes the kernel send RST, which can destroy the answer (a 431 to a
 * client still sending, say) before the client reads it.
 */
#include "httpd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define HTTPD_MAX_CONNS 64
#define HTTPD_DEF_TIMEOUT_MS 5000
#define HTTPD_LINGER_MS 1000

enum hc_state { HC_READING, HC_WRITING, HC_LINGER, HC_CLOSING };

struct hc_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    struct md_httpd *h;
    struct hc_conn *next, **pprev;
    enum hc_state state;
    int open; /* handles not yet closed */
    char *buf;
    size_t len, cap;
    size_t head_len, total; /* 0 until the head is complete */
    char *head;             /* parsed copy of the head; req points into it */
    struct md_httpd_req req;
    struct md_httpd_header hdrs[MD_HTTPD_MAX_HEADERS];
    char *out;
    char scratch[512]; /* where input goes once it no longer matters */
};

struct md_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    md_httpd_handler fn;
    void *ud;
    int port;
    uint64_t timeout_ms;
    size_t max_body;
    struct hc_conn *conns;
    unsigned nconns;
    unsigned open; /* listener + connections not yet freed */
    uint64_t evicted; /* idle connections closed to make room */
    bool closing;
};

static void hc_close(struct hc_conn *c);
static void httpd_unref(struct md_httpd *h);

static const char *hc_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* ------------------------------------------------------------- closing */

static void hc_freed(uv_handle_t *hd)
{
    struct hc_conn *c = hd->data;
    if (--c->open)
        return;
    struct md_httpd *h = c->h;
    free(c->buf);
    free(c->head);
    free(c->out);
    free(c);
    httpd_unref(h);
}

static void hc_close(struct hc_conn *c)
{
    if (c->state == HC_CLOSING)
        return;
    c->state = HC_CLOSING;
    if (c->next)
        c->next->pprev = c->pprev;
    *c->pprev = c->next;
    c->h->nconns--;
    uv_close((uv_handle_t *)&c->timer, hc_freed);
    uv_close((uv_handle_t *)&c->tcp, hc_freed);
}

static void hc_timeout(uv_timer_t *t)
{
    hc_close(t->data);
}

/* ------------------------------------------------------------- writing */

static void hc_shut(uv_shutdown_t *req, int status)
{
    struct hc_conn *c = req->data;
    if (status < 0)
        hc_close(c); /* the peer is gone; also runs when hc_close already cancelled it */
}

static void hc_written(uv_write_t *req, int status)
{
    struct hc_conn *c = req->data;
    free(c->out);
    c->out = NULL;
    if (c->state != HC_WRITING)
        return; /* closed meanwhile */
    if (status < 0 || uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, hc_shut) != 0) {
        hc_close(c);
        return;
    }
    c->state = HC_LINGER; /* drain input until EOF, briefly */
    uv_timer_start(&c->timer, hc_timeout, HTTPD_LINGER_MS, 0);
}

static void hc_respond(struct hc_conn *c, int status, const char *ctype, const struct md_buf *body,
                       bool head_only)
{
    struct md_buf o;
    md_buf_init(&o);
    bool nobody = status == 204 || status == 304 || status < 200;
    md_buf_printf(&o, "HTTP/1.1 %d %s\r\nConnection: close\r\nCache-Control: no-store\r\n", status,
                  hc_reason(status));
    if (!nobody)
        md_buf_printf(&o, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype ? ctype : "text/plain",
                      body ? body->len : 0);
    md_buf_puts(&o, "\r\n");
    if (!nobody && !head_only && body && body->len)
        md_buf_add(&o, body->p, body->len);
    size_t n = 0;
    c->out = md_buf_steal(&o, &n);
    if (!c->out) {
        hc_close(c);
        return;
    }
    c->state = HC_WRITING;
    uv_buf_t b = uv_buf_init(c->out, (unsigned)n);
    c->wr.data = c;
    c->sd.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, hc_written) != 0) {
        free(c->out);
        c->out = NULL;
        hc_close(c);
    }
}

static void hc_error(struct hc_conn *c, int status, const char *msg)
{
    struct md_buf b;
    md_buf_init(&b);
    md_buf_puts(&b, msg);
    md_buf_putc(&b, '\n');
    hc_respond(c, status, "text/plain", &b, false);
    md_buf_free(&b);
}

/* ------------------------------------------------------------- parsing */

static bool hc_token_ok(const char *s, size_t n)
{
    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

/*
 * Split the head copy in place (NULs written into c->head). Returns 0 and
 * fills req and *content_length, or an HTTP status to answer with.
 */
static int hc_parse_head(struct hc_conn *c, struct md_httpd_req *req, size_t *content_length)
{
    char *p = c->head, *end = c->head + c->head_len;
    char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        return 400;
    *eol = '\0';
    if (eol > p && eol[-1] == '\r')
        eol[-1] = '\0';
    char *sp1 = strchr(p, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || !hc_token_ok(p, (size_t)(sp1 - p)) || sp1[1] != '/')
        return 400;
    if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
        return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
    *sp1 = *sp2 = '\0';
    req->method = p;
    req->path = sp1 + 1;
    char *q = strchr(sp1 + 1, '?');
    req->query = "";
    if (q) {
        *q = '\0';
        req->query = q + 1;
    }
    for (size_t i = 0; req->path[i]; i++)
        if ((unsigned char)req->path[i] <= 0x20 || req->path[i] == 0x7f)
            return 400;
    *content_length = 0;
    req->headers = c->hdrs;
    req->nheaders = 0;
    for (char *line = eol + 1; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            break;
        *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        if (line[0]) {
            char *colon = strchr(line, ':');
            if (!colon || colon == line)
                return 400;
            *colon = '\0';
            char *v = colon + 1 + strspn(colon + 1, " \t");
            for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--)
                v[n - 1] = '\0';
            if (req->nheaders < MD_HTTPD_MAX_HEADERS)
                c->hdrs[req->nheaders++] = (struct md_httpd_header){line, v};
            if (strcasecmp(line, "Transfer-Encoding") == 0)
                return 411; /* chunked bodies: not worth the code here */
            if (strcasecmp(line, "Content-Length") == 0) {
                size_t n = strspn(v, "0123456789");
                if (n == 0 || n > 12 || (v[n] && v[n] != ' ' && v[n] != '\t'))
                    return 400;
                *content_length = (size_t)strtoull(v, NULL, 10);
            }
        }
        line = nl + 1;
    }
    return 0;
}

const char *md_httpd_req_header(const struct md_httpd_req *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static void hc_run_handler(struct hc_conn *c, const struct md_httpd_req *req)
{
    struct md_httpd_resp resp = {.status = 200, .content_type = "text/plain"};
    md_buf_init(&resp.body);
    c->h->fn(c->h->ud, req, &resp);
    if (resp.body.oom)
        hc_error(c, 500, "out of memory");
    else
        hc_respond(c, resp.status >= 100 && resp.status <= 599 ? resp.status : 500, resp.content_type,
                   &resp.body, strcmp(req->method, "HEAD") == 0);
    md_buf_free(&resp.body);
}

/* Find the end of the head; once found, parse it and size the buffer for the body. */
static int hc_take_head(struct hc_conn *c)
{
    char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    size_t hl = e ? (size_t)(e - c->buf) + 4 : 0;
    char *e2 = memmem(c->buf, c->len, "\n\n", 2); /* bare-LF clients */
    if (e2 && (!e || e2 < e))
        hl = (size_t)(e2 - c->buf) + 2;
    if (!hl)
        return c->len >= MD_HTTPD_MAX_HEAD ? 431 : 0;
    c->head_len = hl;
    c->head = malloc(hl + 1);
    if (!c->head)
        return 500;
    memcpy(c->head, c->buf, hl);
    c->head[hl] = '\0';
    size_t cl = 0;
    int st = hc_parse_head(c, &c->req, &cl);
    if (st)
        return st;
    if (cl > c->h->max_body)
        return 413;
    c->req.body_len = cl;
    c->total = hl + cl;
    if (c->cap < c->total + 1) {
        char *nb = realloc(c->buf, c->total + 1);
        if (!nb)
            return 500;
        c->buf = nb;
        c->cap = c->total + 1;
    }
    return 0;
}

static void hc_process(struct hc_conn *c)
{
    if (!c->total) {
        int st = hc_take_head(c);
        if (st) {
            hc_error(c, st, hc_reason(st));
            return;
        }
        if (!c->total)
            return; /* head incomplete */
    }
    if (c->len < c->total)
        return;
    c->req.body = c->req.body_len ? c->buf + c->head_len : NULL;
    hc_run_handler(c, &c->req);
}

/* ------------------------------------------------------------- reading */

static void hc_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
    struct hc_conn *c = hd->data;
    if (c->state != HC_READING) {
        *b = uv_buf_init(c->scratch, sizeof c->scratch);
        return;
    }
    size_t want = c->total ? c->total : MD_HTTPD_MAX_HEAD;
    size_t room = want > c->len ? want - c->len : 0;
    *b = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void hc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct hc_conn *c = s->data;
    if (nread < 0) {
        hc_close(c); /* EOF or error: a half-sent request is dropped */
        return;
    }
    if (nread == 0 || c->state != HC_READING)
        return;
    c->len += (size_t)nread;
    c->buf[c->len] = '\0';
    hc_process(c);
}

/* ------------------------------------------------------------- accepting */

/*
 * At the connection cap, close the oldest connection that has not finished
 * sending its request, not the new one: otherwise a client holding idle
 * connections open would lock health checks out until their deadlines,
 * and an orchestrator would restart a healthy agent. A probe sends its
 * request at once, so it is never the oldest reader for long.
 */
static void httpd_evict_oldest_reader(struct md_httpd *h)
{
    struct hc_conn *victim = NULL;
    for (struct hc_conn *c = h->conns; c; c = c->next)
        if (c->state == HC_READING)
            victim = c; /* new connections go first, so the last one seen is the oldest */
    if (victim)
        hc_close(victim);
    h->evicted += victim != NULL;
}

static void httpd_on_conn(uv_stream_t *srv, int status)
{
    struct md_httpd *h = srv->data;
    if (status < 0 || h->closing)
        return;
    struct hc_conn *c = calloc(1, sizeof *c);
    if (c)
        c->buf = malloc(MD_HTTPD_MAX_HEAD + 1);
    if (!c || !c->buf || uv_tcp_init(h->loop, &c->tcp) != 0) {
        if (c)
            free(c->buf);
        free(c);
        return; /* the connection stays in the backlog and is retried on the next event */
    }
    c->cap = MD_HTTPD_MAX_HEAD + 1;
    c->h = h;
    c->tcp.data = c;
    c->timer.data = c;
    uv_timer_init(h->loop, &c->timer);
    c->open = 2;
    h->open++;
    c->next = h->conns;
    if (h->conns)
        h->conns->pprev = &c->next;
    c->pprev = &h->conns;
    h->conns = c;
    h->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
        hc_close(c);
        return;
    }
    if (h->nconns > HTTPD_MAX_CONNS)
        httpd_evict_oldest_reader(h);
    uv_timer_start(&c->timer, hc_timeout, h->timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, hc_alloc, hc_read) != 0)
        hc_close(c);
}

static void httpd_unref(struct md_httpd *h)
{
    if (--h->open == 0)
        free(h);
}

static void httpd_listener_closed(uv_handle_t *hd)
{
    httpd_unref(hd->data);
}

struct md_httpd *md_httpd_new(uv_loop_t *loop, const char *host, int port, md_httpd_handler fn,
                              void *ud, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (!host || !host[0])
        host = "127.0.0.1";
    if (port < 0 || port > 65535 || !fn) {
        snprintf(err, errlen, "status server: invalid port %d", port);
        return NULL;
    }
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "status server: %s is not an IP address", host);
        return NULL;
    }
    struct md_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "status server: out of memory");
        return NULL;
    }
    h->loop = loop;
    h->fn = fn;
    h->ud = ud;
    h->timeout_ms = HTTPD_DEF_TIMEOUT_MS;
    h->open = 1;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    int rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&h->listener, 64, httpd_on_conn);
    if (rc == 0) {
        int len = sizeof ss;
        rc = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len);
        h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    if (rc != 0) {
        snprintf(err, errlen, "status server: cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        h->closing = true;
        uv_close((uv_handle_t *)&h->listener, httpd_listener_closed);
        return NULL;
    }
    return h;
}

int md_httpd_port(const struct md_httpd *h)
{
    return h->port;
}

uint64_t md_httpd_evicted(const struct md_httpd *h)
{
    return h->evicted;
}

void md_httpd_set_timeout(struct md_httpd *h, uint64_t ms)
{
    h->timeout_ms = ms ? ms : HTTPD_DEF_TIMEOUT_MS;
}

void md_httpd_set_max_body(struct md_httpd *h, size_t bytes)
{
    h->max_body = bytes;
}

void md_httpd_free(struct md_httpd *h)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    while (h->conns)
        hc_close(h->conns);
    uv_close((uv_handle_t *)&h->listener, httpd_listener_closed);
}
