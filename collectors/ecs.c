/*
 * ecs.c: the ECS task metadata v4 client (see ecs.h). The cluster may come
 * as a name or an ARN (arn:aws:ecs:region:acct:cluster/NAME); the tag is
 * the name, as the Datadog agent sends it.
 */
#include "ecs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "jsonp.h"

struct md_ecs {
    struct md_fetcher *f;
    struct md_containers *store;
    char url[1024];
    uv_timer_t timer;
    bool busy, synced, logged, closing;
};

static void tag(char (*text)[256], struct md_ctr_tag *t, size_t *n, const char *k, const char *v,
                enum md_card card)
{
    if (!v || !*v || *n >= 8)
        return;
    snprintf(text[*n], sizeof text[0], "%s:%s", k, v);
    t[*n] = (struct md_ctr_tag){text[*n], card};
    (*n)++;
}

int md_ecs_apply_task(struct md_containers *s, const char *json, size_t len)
{
    struct md_jval *v = md_jsonp_parse(json, len, NULL);
    const struct md_jval *cs = md_jsonp_get(v, "Containers");
    if (!cs || cs->type != MD_J_ARR) {
        md_jsonp_free(v);
        return -EINVAL;
    }
    const char *cluster = md_jsonp_str(v, "Cluster");
    const char *slash = cluster ? strrchr(cluster, '/') : NULL;
    if (slash)
        cluster = slash + 1;
    const char *family = md_jsonp_str(v, "Family"), *rev = md_jsonp_str(v, "Revision");
    const char *arn = md_jsonp_str(v, "TaskARN");
    int n = 0;
    md_containers_begin(s, MD_SRC_ECS);
    for (size_t i = 0; i < cs->n; i++) {
        const struct md_jval *c = cs->items[i];
        const char *id = md_jsonp_str(c, "DockerId");
        if (!id || strlen(id) > MD_CID_MAX)
            continue;
        char text[8][256];
        struct md_ctr_tag t[8];
        size_t nt = 0;
        tag(text, t, &nt, "task_family", family, MD_CARD_LOW);
        tag(text, t, &nt, "task_version", rev, MD_CARD_LOW);
        tag(text, t, &nt, "ecs_cluster_name", cluster, MD_CARD_LOW);
        tag(text, t, &nt, "task_arn", arn, MD_CARD_ORCHESTRATOR);
        tag(text, t, &nt, "ecs_container_name", md_jsonp_str(c, "Name"), MD_CARD_LOW);
        const char *status = md_jsonp_str(c, "KnownStatus");
        struct md_ctr_info info = {
            .name = md_jsonp_str(c, "DockerName"), .image = md_jsonp_str(c, "Image"),
            .running = status ? strcmp(status, "RUNNING") == 0 : -1, .tags = t, .ntags = nt};
        if (md_containers_set(s, MD_SRC_ECS, id, &info) == 0)
            n++;
    }
    md_containers_end(s, MD_SRC_ECS);
    md_jsonp_free(v);
    return n;
}

static void on_task(void *ud, int rc, long status, const char *body, size_t len)
{
    struct md_ecs *e = ud;
    e->busy = false;
    e->synced = true;
    if (e->closing)
        return;
    int n = rc == 0 && status == 200 ? md_ecs_apply_task(e->store, body, len) : -EINVAL;
    if (n < 0 && !e->logged) {
        e->logged = true;
        md_info("ecs: no task metadata from %s (%s, HTTP %ld): containers carry no ECS tags",
                e->url, rc ? strerror(-rc) : "unexpected answer", status);
    } else if (n >= 0) {
        e->logged = false;
    }
}

static void on_timer(uv_timer_t *t)
{
    struct md_ecs *e = t->data;
    if (e->busy || e->closing)
        return;
    struct md_fetch_req r = {e->url, NULL, 5000, 0, NULL, on_task, e};
    e->busy = md_fetch_start(e->f, &r, NULL) == 0;
}

struct md_ecs *md_ecs_new(uv_loop_t *loop, struct md_fetcher *f, struct md_containers *s,
                          const char *uri, unsigned refresh_s)
{
    if (!uri)
        uri = getenv("ECS_CONTAINER_METADATA_URI_V4");
    if (!uri || !*uri)
        return NULL;
    struct md_ecs *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->f = f;
    e->store = s;
    snprintf(e->url, sizeof e->url, "%s/task", uri);
    uv_timer_init(loop, &e->timer);
    e->timer.data = e;
    uint64_t every = (uint64_t)(refresh_s ? refresh_s : 30) * 1000;
    uv_timer_start(&e->timer, on_timer, 0, every);
    return e;
}

bool md_ecs_synced(const struct md_ecs *e)
{
    return !e || e->synced;
}

static void ecs_closed(uv_handle_t *h)
{
    free(h->data);
}

void md_ecs_free(struct md_ecs *e)
{
    if (!e)
        return;
    e->closing = true;
    uv_close((uv_handle_t *)&e->timer, ecs_closed);
}
