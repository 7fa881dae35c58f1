/*
 * cmd_support.c: see cmd_support.h.
 */
#include "cmd_support.h"

#include <curl/curl.h>
#include <string.h>

int md_sup_opt(struct md_sup_opts *o, const char *cmd, int ch, const char *arg)
{
    if (ch == 'c') {
        o->file = arg;
        return 0;
    }
    if (o->nsets == MD_SUP_MAX_SETS) {
        fprintf(stderr, "meterd %s: more than %d --set options\n", cmd, MD_SUP_MAX_SETS);
        return 2;
    }
    if (!strchr(arg, '=')) {
        fprintf(stderr, "meterd %s: --set needs key=value, got '%s'\n", cmd, arg);
        return 2;
    }
    o->sets[o->nsets++] = (char *)arg;
    return 0;
}

int md_sup_load(const struct md_sup_opts *o, const char *cmd, struct md_config *cfg)
{
    char err[1024];
    const char *file = o->file ? o->file : md_config_default_file();
    if (md_config_load(cfg, file, o->sets, o->nsets, err, sizeof err) < 0) {
        fprintf(stderr, "meterd %s: config error: %s\n", cmd, err);
        md_config_free(cfg);
        return 1;
    }
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    md_buf_add(ud, p, size * n);
    return size * n;
}

long md_sup_http_get(const char *url, const char *const *headers, long timeout_s,
                     struct md_buf *body, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    long code = 0;
    if (!h) {
        snprintf(err, errlen, "cannot start libcurl");
        return 0;
    }
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "meterd/" METERD_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    else
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return code;
}

void md_sup_status_url(const struct md_config *c, char *url, size_t len)
{
    const char *h = c->status_host && c->status_host[0] ? c->status_host : "127.0.0.1";
    bool v6 = strchr(h, ':') && h[0] != '[';
    snprintf(url, len, "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", c->status_port);
}
