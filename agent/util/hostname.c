/*
 * hostname.c: the host name resolver (see hostname.h for the order and why).
 *
 * Every command that needs the host name (run, check, aggregate, hostname)
 * calls md_hostname_resolve and nothing else asks the OS. The Docker and
 * ECS look-ups are blocking GETs (httpget.h) with a short total timeout:
 * they run once, before the event loop starts, and a daemon socket that
 * accepts but never answers must cost at most that timeout.
 */
#include "hostname.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "httpget.h"

#define HN_TIMEOUT_MS 1000
#define HN_MAX_BODY (1 << 20)

/* ---- validation ---------------------------------------------------------- */

static bool hn_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

int md_hostname_valid(const char *name)
{
    static const char *const local[] = {"localhost", "localhost.localdomain",
                                        "localhost6.localdomain6", "ip6-localhost", NULL};
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return 0;
    for (int i = 0; local[i]; i++)
        if (strcasecmp(name, local[i]) == 0)
            return 0;
    for (const char *s = name; *s;) {
        size_t l = strcspn(s, ".");
        if (!hn_label_ok(s, l))
            return 0;
        s += l + (s[l] == '.');
    }
    return 1;
}

/* ---- a JSON member without a JSON library ------------------------------- */

/* p at an opening quote; returns the index after the closing one, or n when unterminated. */
static size_t hn_json_skip_string(const char *j, size_t n, size_t p)
{
    for (p++; p < n; p++) {
        if (j[p] == '\\')
            p++;
        else if (j[p] == '"')
            return p + 1;
    }
    return n;
}

/* Copy the string at p (a quote) into out, handling the simple escapes. */
static int hn_json_copy_string(const char *j, size_t n, size_t p, char *out, size_t len)
{
    size_t o = 0;
    for (p++; p < n && j[p] != '"'; p++) {
        char ch = j[p];
        if (ch == '\\') {
            if (++p >= n || !strchr("\"\\/", j[p]))
                return -1; /* \u and control escapes never occur in a host name */
            ch = j[p];
        }
        if (o + 1 >= len)
            return -1;
        out[o++] = ch;
    }
    if (p >= n)
        return -1;
    out[o] = '\0';
    return 0;
}

static size_t hn_skip_ws(const char *j, size_t n, size_t p)
{
    while (p < n && isspace((unsigned char)j[p]))
        p++;
    return p;
}

int md_hostname_json_member(const char *j, size_t n, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    int depth = 0;
    for (size_t p = 0; p < n;) {
        char ch = j[p];
        if (ch == '{' || ch == '[') {
            depth++;
            p++;
        } else if (ch == '}' || ch == ']') {
            depth--;
            p++;
        } else if (ch == '"') {
            size_t end = hn_json_skip_string(j, n, p);
            size_t after = hn_skip_ws(j, n, end);
            bool is_key = after < n && j[after] == ':';
            if (is_key && depth == 1 && end - p - 2 == klen && memcmp(j + p + 1, key, klen) == 0) {
                size_t v = hn_skip_ws(j, n, after + 1);
                return v < n && j[v] == '"' ? hn_json_copy_string(j, n, v, out, len) : -1;
            }
            p = is_key ? after + 1 : end;
        } else {
            p++;
        }
    }
    return -1;
}

/* ---- sources ------------------------------------------------------------- */

/* GET url (over a Unix socket when unix_path is set); 0 when it answered 200. */
static int hn_http_get(const char *url, const char *unix_path, struct md_buf *body)
{
    /* a proxy in the environment must not see these */
    const struct md_httpget req = {.url = url, .unix_socket = unix_path,
                                   .timeout_ms = HN_TIMEOUT_MS, .max_body = HN_MAX_BODY,
                                   .no_proxy = true};
    char err[256];
    long code = md_httpget(&req, body, err, sizeof err);
    return code == 200 && !body->oom ? 0 : -EIO;
}

static int hn_from_file(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[300] = "";
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got)
        return -ENODATA;
    char *s = line;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strcspn(s, "\r\n");
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    snprintf(out, len, "%.*s", (int)n, s);
    return 0;
}

/* The engine the container collector talks to: docker_host (DOCKER_HOST), else the default. */
static const char *hn_docker_socket(const struct md_config *c)
{
    const char *e = c->docker_host && *c->docker_host ? c->docker_host : getenv("DOCKER_HOST");
    if (e && strncmp(e, "unix://", 7) == 0)
        return e + 7;
    if (e && *e)
        return NULL; /* tcp:// and ssh:// daemons need not run on this host */
    return "/var/run/docker.sock";
}

static int hn_from_docker(const struct md_config *c, char *out, size_t len)
{
    const char *sock = hn_docker_socket(c);
    if (!sock || access(sock, W_OK) != 0)
        return -ENOENT;
    struct md_buf b;
    md_buf_init(&b);
    int rc = hn_http_get("http://localhost/info", sock, &b);
    if (rc == 0)
        rc = md_hostname_json_member(b.p, b.len, "Name", out, len) ? -EPROTO : 0;
    md_buf_free(&b);
    return rc;
}

static bool hn_in_ecs(void)
{
    const char *a = getenv("ECS_CONTAINER_METADATA_URI_V4");
    const char *b = getenv("ECS_CONTAINER_METADATA_URI");
    return (a && *a) || (b && *b);
}

/* The ECS agent's introspection API names the instance this task runs on. */
static int hn_from_ecs(const char *agent_url, char *out, size_t len)
{
    if (!hn_in_ecs() || !agent_url || !*agent_url)
        return -ENOENT;
    char url[512], arn[512];
    snprintf(url, sizeof url, "%s/v1/metadata", agent_url);
    struct md_buf b;
    md_buf_init(&b);
    int rc = hn_http_get(url, NULL, &b);
    if (rc == 0 && md_hostname_json_member(b.p, b.len, "EC2InstanceId", out, len) != 0) {
        rc = md_hostname_json_member(b.p, b.len, "ContainerInstanceArn", arn, sizeof arn);
        const char *slash = rc == 0 ? strrchr(arn, '/') : NULL;
        rc = slash && slash[1] ? 0 : -EPROTO;
        if (rc == 0)
            snprintf(out, len, "%s", slash + 1);
    }
    md_buf_free(&b);
    return rc;
}

/*
 * Docker names a container's host name after its id and bind-mounts
 * .../containers/<64-hex id>/hostname over /etc/hostname: if our host
 * name starts that id, it is the container's, not the host's.
 */
static bool hn_is_own_container_id(const char *name)
{
    size_t n = strlen(name);
    if (n < 12 || n > 64 || strspn(name, "0123456789abcdef") != n)
        return false;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    char line[4096];
    bool own = false;
    while (!own && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "/containers/");
        own = p && strncmp(p + 12, name, n) == 0;
    }
    fclose(f);
    return own;
}

/* ---- the order ----------------------------------------------------------- */

static void hn_note(struct md_hostname *h, const char *fmt, const char *what)
{
    size_t o = strlen(h->detail);
    if (o && o + 2 < sizeof h->detail)
        o += (size_t)snprintf(h->detail + o, sizeof h->detail - o, "; ");
    if (o < sizeof h->detail)
        snprintf(h->detail + o, sizeof h->detail - o, fmt, what);
}

/* Accept a candidate from an automatic source, or note why not. */
static bool hn_take(struct md_hostname *h, int rc, const char *cand, const char *source)
{
    if (rc == -ENOENT)
        return false;
    if (rc != 0) {
        hn_note(h, "%s: no answer", source);
        return false;
    }
    if (!md_hostname_valid(cand)) {
        hn_note(h, "%s: not a valid host name", source);
        return false;
    }
    snprintf(h->name, sizeof h->name, "%s", cand);
    h->source = source;
    return true;
}

int md_hostname_resolve(const struct md_config *c, struct md_hostname *h)
{
    char cand[256] = "";
    memset(h, 0, sizeof *h);
    if (c->hostname && *c->hostname) {
        snprintf(h->name, sizeof h->name, "%s", c->hostname);
        h->source = "hostname";
        return 0;
    }
    if (c->hostname_file && *c->hostname_file) {
        int rc = hn_from_file(c->hostname_file, cand, sizeof cand);
        if (hn_take(h, rc ? -EIO : 0, cand, "hostname_file"))
            return 0;
    }
    if (hn_take(h, hn_from_docker(c, cand, sizeof cand), cand, "docker"))
        return 0;
    if (c->kubernetes_kubelet_nodename && *c->kubernetes_kubelet_nodename &&
        hn_take(h, 0, c->kubernetes_kubelet_nodename, "kubernetes_kubelet_nodename"))
        return 0;
    if (hn_take(h, hn_from_ecs(c->ecs_agent_url, cand, sizeof cand), cand, "ecs"))
        return 0;
    if (gethostname(cand, sizeof cand - 1) != 0)
        snprintf(cand, sizeof cand, "localhost");
    snprintf(h->name, sizeof h->name, "%s", cand);
    h->source = "os";
    if (hn_is_own_container_id(cand)) {
        hn_note(h, "%s: the container's own id, not the host's", "os");
        return -ENOENT;
    }
    return 0;
}
