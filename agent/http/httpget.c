/*
 * httpget.c: the blocking GET of httpget.h, on a libcurl easy handle.
 */
#include "httpget.h"

#include <curl/curl.h>
#include <stdio.h>

struct httpget_sink {
    struct md_buf *body;
    size_t max;
};

static size_t httpget_on_body(char *p, size_t size, size_t n, void *ud)
{
    struct httpget_sink *s = ud;
    if (s->max && s->body->len + size * n > s->max)
        return 0; /* not an answer we expect: abort the transfer */
    md_buf_add(s->body, p, size * n);
    return size * n;
}

static struct curl_slist *httpget_headers(const char *const *headers)
{
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    return hl;
}

long md_httpget(const struct md_httpget *req, struct md_buf *body, char *err, size_t errlen)
{
    struct httpget_sink sink = {body, req->max_body};
    char cerr[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "cannot start libcurl");
        return 0;
    }
    struct curl_slist *hl = httpget_headers(req->headers);
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    if (req->unix_socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    if (req->no_proxy)
        curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "meterd/" METERD_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpget_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    else
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return code;
}
