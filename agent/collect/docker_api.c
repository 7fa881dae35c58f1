/*
 * docker_api.c: the Docker Engine API client (see docker_api.h).
 *
 * One listing at a time; events only make the next listing come sooner
 * (200 ms later, so a burst of events costs one listing). Inspection
 * results (start time, environment tags) are kept per id and re-applied at
 * every listing, so a container is inspected once in its life.
 */
#include "docker_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "containers.h"
#include "log.h"
#include "jsonp.h"

#define DOCKER_MAX_TAGS 64
#define EVENT_DEBOUNCE_MS 200

struct inspected {
    char id[MD_CID_MAX + 1];
    int64_t started_at;
    char **env_tags;
    size_t nenv;
    uint64_t seen; /* listing number it was last in */
    bool pending;
};

struct md_docker {
    uv_loop_t *loop;
    struct md_fetcher *f;
    struct md_containers *store;
    struct md_docker_opts o;
    char sock[1024], base[512];
    uv_timer_t refresh, soon;
    int open_handles;
    bool closing, listing, synced, logged_down;
    struct md_fetch *events;
    struct md_buf ev; /* the events stream since its last complete line */
    struct inspected *ins;
    size_t nins, capins;
    uint64_t listing_no;
    int inflight; /* inspections */
    struct md_jval *last_list;
};

int md_docker_host_parse(const char *h, char *sock, size_t socklen, char *base, size_t baselen)
{
    if (!h || !*h)
        h = "unix:///var/run/docker.sock";
    sock[0] = '\0';
    if (strncmp(h, "unix://", 7) == 0) {
        if (!h[7])
            return -EINVAL;
        snprintf(sock, socklen, "%s", h + 7);
        snprintf(base, baselen, "http://localhost");
        return 0;
    }
    if (strncmp(h, "tcp://", 6) == 0 && h[6]) {
        snprintf(base, baselen, "http://%s", h + 6);
        return 0;
    }
    return -EINVAL;
}

static struct inspected *ins_find(struct md_docker *d, const char *id, bool add)
{
    for (size_t i = 0; i < d->nins; i++)
        if (strcmp(d->ins[i].id, id) == 0)
            return &d->ins[i];
    if (!add || strlen(id) > MD_CID_MAX)
        return NULL;
    if (d->nins == d->capins) {
        size_t nc = d->capins ? d->capins * 2 : 32;
        struct inspected *n = realloc(d->ins, nc * sizeof *n);
        if (!n)
            return NULL;
        d->ins = n;
        d->capins = nc;
    }
    struct inspected *x = &d->ins[d->nins++];
    memset(x, 0, sizeof *x);
    snprintf(x->id, sizeof x->id, "%s", id);
    return x;
}

static void ins_clear(struct inspected *x)
{
    for (size_t i = 0; i < x->nenv; i++)
        free(x->env_tags[i]);
    free(x->env_tags);
}

/* Forget inspections of containers no longer listed. */
static void ins_sweep(struct md_docker *d)
{
    size_t j = 0;
    for (size_t i = 0; i < d->nins; i++) {
        if (d->ins[i].seen == d->listing_no || d->ins[i].pending)
            d->ins[j++] = d->ins[i];
        else
            ins_clear(&d->ins[i]);
    }
    d->nins = j;
}

/* "key:tag" rule lookup: the tag name for `key`, or NULL. */
static const char *rule_tag(const char *const *rules, size_t n, const char *key, char *buf, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const char *c = strrchr(rules[i], ':');
        size_t kn = c ? (size_t)(c - rules[i]) : strlen(rules[i]);
        if (strlen(key) == kn && strncasecmp(rules[i], key, kn) == 0) {
            snprintf(buf, len, "%s", c ? c + 1 : rules[i]);
            return buf;
        }
    }
    return NULL;
}

struct tagset {
    struct md_ctr_tag t[DOCKER_MAX_TAGS];
    char text[DOCKER_MAX_TAGS][256];
    size_t n;
};

static void tag_add(struct tagset *ts, const char *k, const char *v, enum md_card card)
{
    if (ts->n == DOCKER_MAX_TAGS || !v || !*v)
        return;
    snprintf(ts->text[ts->n], sizeof ts->text[0], "%s:%s", k, v);
    ts->t[ts->n] = (struct md_ctr_tag){ts->text[ts->n], card};
    ts->n++;
}

/* Well-known labels that orchestrators put on containers, as Datadog tags them. */
static const struct { const char *label, *tag; enum md_card card; } known_labels[] = {
    {"io.kubernetes.pod.namespace", "kube_namespace", MD_CARD_LOW},
    {"io.kubernetes.pod.name", "pod_name", MD_CARD_ORCHESTRATOR},
    {"io.kubernetes.container.name", "kube_container_name", MD_CARD_LOW},
    {"com.amazonaws.ecs.cluster", "ecs_cluster_name", MD_CARD_LOW},
    {"com.amazonaws.ecs.task-definition-family", "task_family", MD_CARD_LOW},
    {"com.amazonaws.ecs.task-definition-version", "task_version", MD_CARD_LOW},
    {"com.amazonaws.ecs.task-arn", "task_arn", MD_CARD_ORCHESTRATOR},
    {"com.amazonaws.ecs.container-name", "ecs_container_name", MD_CARD_LOW},
    {"com.docker.compose.service", "compose_service", MD_CARD_LOW},
};

static void label_tags(struct md_docker *d, const struct md_jval *labels, struct tagset *ts)
{
    for (size_t i = 0; labels && labels->type == MD_J_OBJ && i < labels->n; i++) {
        const char *k = labels->keys[i], *v = labels->items[i]->str;
        char buf[256];
        if (labels->items[i]->type != MD_J_STR)
            continue;
        for (size_t j = 0; j < sizeof known_labels / sizeof known_labels[0]; j++)
            if (strcmp(k, known_labels[j].label) == 0)
                tag_add(ts, known_labels[j].tag, v, known_labels[j].card);
        const char *tag = rule_tag(d->o.labels_as_tags, d->o.nlabels, k, buf, sizeof buf);
        if (tag)
            tag_add(ts, tag, v, MD_CARD_LOW);
    }
}

static int64_t parse_rfc3339(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) || tm.tm_year < 100)
        return 0; /* "0001-01-01T00:00:00Z" = never started */
    return (int64_t)timegm(&tm);
}

static void apply_one(struct md_docker *d, const struct md_jval *c)
{
    const char *id = md_jsonp_str(c, "Id");
    if (!id || strlen(id) > MD_CID_MAX)
        return;
    const struct md_jval *names = md_jsonp_get(c, "Names");
    const char *name = names && names->type == MD_J_ARR && names->n && names->items[0]->type == MD_J_STR
                           ? names->items[0]->str : NULL;
    if (name && *name == '/')
        name++;
    const char *state = md_jsonp_str(c, "State");
    struct tagset *ts = calloc(1, sizeof *ts);
    if (!ts)
        return;
    label_tags(d, md_jsonp_get(c, "Labels"), ts);
    struct inspected *x = ins_find(d, id, true);
    if (x) {
        x->seen = d->listing_no;
        for (size_t i = 0; i < x->nenv && ts->n < DOCKER_MAX_TAGS; i++)
            ts->t[ts->n++] = (struct md_ctr_tag){x->env_tags[i], MD_CARD_LOW};
    }
    struct md_ctr_info info = {
        .name = name, .image = md_jsonp_str(c, "Image"),
        .running = state ? strcmp(state, "running") == 0 : -1,
        .started_at = x ? x->started_at : 0, .tags = ts->t, .ntags = ts->n};
    md_containers_set(d->store, MD_SRC_DOCKER, id, &info);
    free(ts);
}

static void inspect_start(struct md_docker *d, struct inspected *x);

static void apply_list(struct md_docker *d)
{
    const struct md_jval *list = d->last_list;
    if (!list || list->type != MD_J_ARR)
        return;
    md_containers_begin(d->store, MD_SRC_DOCKER);
    for (size_t i = 0; i < list->n; i++)
        apply_one(d, list->items[i]);
    md_containers_end(d->store, MD_SRC_DOCKER);
}

static void maybe_synced(struct md_docker *d)
{
    if (!d->listing && d->inflight == 0)
        d->synced = true;
}

static void on_inspect(void *ud, int rc, long status, const char *body, size_t len)
{
    struct md_docker *d = ud;
    d->inflight--;
    struct md_jval *v = rc == 0 && status == 200 ? md_jsonp_parse(body, len, NULL) : NULL;
    const char *id = md_jsonp_str(v, "Id");
    struct inspected *x = id ? ins_find(d, id, false) : NULL;
    if (x) {
        x->pending = false;
        x->started_at = parse_rfc3339(md_jsonp_str(md_jsonp_get(v, "State"), "StartedAt"));
        const struct md_jval *env = md_jsonp_get(md_jsonp_get(v, "Config"), "Env");
        for (size_t i = 0; env && env->type == MD_J_ARR && i < env->n && !d->closing; i++) {
            const char *kv = env->items[i]->str, *eq = kv ? strchr(kv, '=') : NULL;
            char key[256], buf[256], tag[512];
            if (!eq || (size_t)(eq - kv) >= sizeof key)
                continue;
            snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
            const char *t = rule_tag(d->o.env_as_tags, d->o.nenv, key, buf, sizeof buf);
            char **n = t ? realloc(x->env_tags, (x->nenv + 1) * sizeof *n) : NULL;
            if (!n)
                continue;
            x->env_tags = n;
            snprintf(tag, sizeof tag, "%s:%s", t, eq + 1);
            if ((x->env_tags[x->nenv] = strdup(tag)))
                x->nenv++;
        }
    }
    md_jsonp_free(v);
    if (!d->closing && d->inflight == 0)
        apply_list(d); /* now with start times and environment tags */
    maybe_synced(d);
}

static void inspect_start(struct md_docker *d, struct inspected *x)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/containers/%s/json", d->base, x->id);
    struct md_fetch_req r = {url, d->sock[0] ? d->sock : NULL, 5000, 0, NULL, on_inspect, d};
    if (md_fetch_start(d->f, &r, NULL) == 0) {
        x->pending = true;
        d->inflight++;
    }
}

static void log_down(struct md_docker *d, const char *what, int rc, long status)
{
    if (d->logged_down)
        return;
    d->logged_down = true;
    md_info("docker: %s %s%s: %s (HTTP %ld); container metrics carry container_id only "
            "until it answers", what, d->sock[0] ? "unix://" : "", d->sock[0] ? d->sock : d->base,
            rc ? strerror(-rc) : "unexpected answer", status);
}

static void events_start(struct md_docker *d);

static void on_list(void *ud, int rc, long status, const char *body, size_t len)
{
    struct md_docker *d = ud;
    d->listing = false;
    if (d->closing)
        return;
    struct md_jval *v = rc == 0 && status == 200 ? md_jsonp_parse(body, len, NULL) : NULL;
    if (!v || v->type != MD_J_ARR) {
        log_down(d, "cannot list containers at", rc, status);
        md_jsonp_free(v);
        maybe_synced(d);
        return;
    }
    if (d->logged_down)
        md_info("docker: listing containers again");
    d->logged_down = false;
    md_jsonp_free(d->last_list);
    d->last_list = v;
    d->listing_no++;
    apply_list(d);
    ins_sweep(d);
    for (size_t i = 0; i < d->nins; i++)
        if (!d->ins[i].pending && d->ins[i].started_at == 0)
            inspect_start(d, &d->ins[i]);
    if (!d->events)
        events_start(d);
    maybe_synced(d);
}

static void list_start(struct md_docker *d)
{
    if (d->listing || d->closing)
        return;
    char url[600];
    snprintf(url, sizeof url, "%s/containers/json?all=1", d->base);
    struct md_fetch_req r = {url, d->sock[0] ? d->sock : NULL, 10000, 0, NULL, on_list, d};
    d->listing = md_fetch_start(d->f, &r, NULL) == 0;
}

/* ---- events ---- */

static void on_soon(uv_timer_t *t)
{
    list_start(t->data);
}

static void event_line(struct md_docker *d, const char *line, size_t len)
{
    struct md_jval *v = md_jsonp_parse(line, len, NULL);
    const char *action = md_jsonp_str(v, "Action");
    if (!action)
        action = md_jsonp_str(v, "status");
    if (action && (strcmp(action, "start") == 0 || strcmp(action, "die") == 0 ||
                   strcmp(action, "destroy") == 0 || strcmp(action, "rename") == 0 ||
                   strcmp(action, "create") == 0)) {
        if (strcmp(action, "start") == 0 || strcmp(action, "die") == 0 || strcmp(action, "destroy") == 0)
            md_containers_request_rescan(d->store);
        struct inspected *x = strcmp(action, "start") == 0 ? ins_find(d, md_jsonp_str(v, "id") ? md_jsonp_str(v, "id") : "", false) : NULL;
        if (x)
            x->started_at = 0; /* a restart: inspect again */
        uv_timer_start(&d->soon, on_soon, EVENT_DEBOUNCE_MS, 0);
    }
    md_jsonp_free(v);
}

static int on_event_chunk(void *ud, const char *p, size_t n)
{
    struct md_docker *d = ud;
    struct md_buf *b = &d->ev;
    if (b->len + n > (1u << 20))
        md_buf_reset(b); /* a runaway line: drop what we have */
    md_buf_add(b, p, n);
    if (b->oom)
        return 1;
    size_t start = 0;
    for (size_t i = 0; i < b->len; i++)
        if (b->p[i] == '\n') {
            event_line(d, b->p + start, i - start);
            start = i + 1;
        }
    memmove(b->p, b->p + start, b->len - start);
    b->len -= start;
    return 0;
}

static void on_events_done(void *ud, int rc, long status, const char *body, size_t len)
{
    struct md_docker *d = ud;
    (void)rc, (void)status, (void)body, (void)len;
    d->events = NULL; /* the refresh timer re-opens it after the next listing */
    md_buf_reset(&d->ev);
}

static void events_start(struct md_docker *d)
{
    char url[600];
    snprintf(url, sizeof url, "%s/events?filters=%%7B%%22type%%22%%3A%%5B%%22container%%22%%5D%%7D",
             d->base);
    struct md_fetch_req r = {url, d->sock[0] ? d->sock : NULL, 0, 0, on_event_chunk, on_events_done, d};
    if (md_fetch_start(d->f, &r, &d->events) < 0)
        d->events = NULL;
}

static void on_refresh(uv_timer_t *t)
{
    list_start(t->data);
}

/* ---- lifecycle ---- */

struct md_docker *md_docker_new(uv_loop_t *loop, struct md_fetcher *f, struct md_containers *store,
                                const struct md_docker_opts *o)
{
    struct md_docker *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->loop = loop;
    d->f = f;
    d->store = store;
    if (o)
        d->o = *o;
    const char *h = d->o.docker_host && *d->o.docker_host ? d->o.docker_host : getenv("DOCKER_HOST");
    if (md_docker_host_parse(h, d->sock, sizeof d->sock, d->base, sizeof d->base) < 0) {
        md_warn("docker: DOCKER_HOST '%s' is neither unix:// nor tcp://; using the default socket", h);
        md_docker_host_parse(NULL, d->sock, sizeof d->sock, d->base, sizeof d->base);
    }
    uv_timer_init(loop, &d->refresh);
    uv_timer_init(loop, &d->soon);
    d->refresh.data = d->soon.data = d;
    d->open_handles = 2;
    return d;
}

int md_docker_start(struct md_docker *d)
{
    uint64_t every = (uint64_t)(d->o.refresh_s ? d->o.refresh_s : 30) * 1000;
    list_start(d);
    return uv_timer_start(&d->refresh, on_refresh, every, every);
}

bool md_docker_synced(const struct md_docker *d)
{
    return d->synced;
}

static void docker_closed(uv_handle_t *h)
{
    struct md_docker *d = h->data;
    if (--d->open_handles == 0) {
        for (size_t i = 0; i < d->nins; i++)
            ins_clear(&d->ins[i]);
        free(d->ins);
        md_buf_free(&d->ev);
        md_jsonp_free(d->last_list);
        free(d);
    }
}

void md_docker_free(struct md_docker *d)
{
    if (!d || d->closing)
        return;
    d->closing = true;
    if (d->events)
        md_fetch_cancel(d->events);
    uv_close((uv_handle_t *)&d->refresh, docker_closed);
    uv_close((uv_handle_t *)&d->soon, docker_closed);
}
