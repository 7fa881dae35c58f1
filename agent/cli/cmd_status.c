/*
 * cmd_status.c: `meterd status` and `meterd health`, the operator's view
 * of a running agent. Both read the loopback status endpoint named by the
 * config (status_host, status_port), so they work from `docker exec` and
 * `kubectl exec` as the Datadog agent's commands do. Blocking HTTP is fine
 * here: these are one-shot commands, not the daemon.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "status_text.h"
#include "daemon.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    md_buf_add(ud, p, size * n);
    return size * n;
}

/* GET path from the agent; returns the HTTP status (0 when unreachable). */
static long fetch(const struct md_config *c, const char *path, struct md_buf *body)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s:%d%s", c->status_host, c->status_port, path);
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    long code = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    return code;
}

int md_cmd_health(int argc, char **argv)
{
    struct md_config cfg;
    int rc = md_cmd_load_config(argc, argv, &cfg, NULL);
    if (rc)
        return rc;
    struct md_buf b;
    md_buf_init(&b);
    long code = fetch(&cfg, "/health", &b);
    printf("%s\n", code == 200 ? "healthy" : code ? "unhealthy" : "unreachable");
    md_buf_free(&b);
    md_config_free(&cfg);
    return code == 200 ? 0 : 1;
}

int md_cmd_status(int argc, char **argv)
{
    struct md_config cfg;
    bool json = false;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            argv[n++] = argv[i];
    }
    int rc = md_cmd_load_config(n, argv, &cfg, NULL);
    if (rc)
        return rc;
    struct md_buf b;
    md_buf_init(&b);
    long code = fetch(&cfg, "/status", &b);
    if (code != 200) {
        fprintf(stderr, "meterd: no agent answering on http://%s:%d/status\n", cfg.status_host,
                cfg.status_port);
        md_buf_free(&b);
        md_config_free(&cfg);
        return 1;
    }
    char err[256];
    rc = 0;
    if (json) {
        fwrite(b.p, 1, b.len, stdout);
    } else if (md_status_text(b.p, b.len, stdout, err, sizeof err) < 0) {
        fprintf(stderr, "meterd status: cannot read the agent's answer: %s\n", err);
        rc = 1;
    }
    md_buf_free(&b);
    md_config_free(&cfg);
    return rc;
}
