/*
 * test_collectors_common.h: helpers shared by the collector tests: read a
 * fixture, lay out a fake proc root in a temp folder, load a conf.d folder
 * that must load, and a point sink that keeps copies of what the runner
 * delivered so tests can look them up. Included after cmocka.h.
 */
#ifndef TEST_COLLECTORS_COMMON_H
#define TEST_COLLECTORS_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collect.h"

#define CAP_MAX 8192

struct cap_point {
    char name[96];
    char tags[512]; /* comma-joined */
    int type;
    enum md_emit_kind kind;
    double value;
    uint64_t run; /* runs of instance 0 when delivered, when a runner is known */
};

struct cap {
    struct cap_point p[CAP_MAX];
    size_t n;
    struct md_collect_runner *r;
};

static inline void cap_store(struct cap *c, const struct md_point *p, enum md_emit_kind kind)
{
    if (c->n >= CAP_MAX)
        return;
    struct cap_point *q = &c->p[c->n++];
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "%.*s", (int)p->name.len, p->name.p);
    size_t o = 0;
    for (uint32_t i = 0; i < p->ntags && o < sizeof q->tags - 1; i++)
        o += (size_t)snprintf(q->tags + o, sizeof q->tags - o, "%s%.*s", i ? "," : "",
                              (int)p->tags[i].len, p->tags[i].p);
    q->type = p->type;
    q->kind = kind;
    q->value = p->value;
    if (c->r) {
        struct md_collect_stats s;
        if (md_collect_stats(c->r, 0, &s) == 0)
            q->run = s.runs;
    }
}

static inline void cap_observe(void *ud, const struct md_point *p, enum md_emit_kind kind)
{
    cap_store(ud, p, kind);
}

/* The last captured point with this name and exactly these tags (NULL = any). */
static inline const struct cap_point *cap_find(const struct cap *c, const char *name, const char *tags)
{
    for (size_t i = c->n; i-- > 0;)
        if (strcmp(c->p[i].name, name) == 0 && (!tags || strcmp(c->p[i].tags, tags) == 0))
            return &c->p[i];
    return NULL;
}

static inline size_t cap_count_prefix(const struct cap *c, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->p[i].name, prefix, strlen(prefix)) == 0)
            n++;
    return n;
}

static inline char *fx_read(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MD_FIXTURES, rel);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* A runner on no loop for the conf.d folder confd (procfs NULL: /proc); a refusal fails the test. */
static inline struct md_collect_runner *collect_ok(const char *confd, const char *procfs,
                                                   const struct md_collect_opts *o)
{
    char err[512] = "";
    struct md_collect_runner *r = md_collect_new_opts(NULL, confd, procfs, NULL, NULL, o, err, sizeof err);
    if (!r)
        fail_msg("conf.d %s refused: %s", confd, err);
    return r;
}

static inline int write_file(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    /* create parent folders of rel */
    for (char *s = strchr(path + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    fputs(text, f);
    fclose(f);
    return 0;
}

/* Copy fixture proc/<fx> to <dir>/<rel>. */
static inline int place_fixture(const char *dir, const char *rel, const char *fx)
{
    char name[256];
    snprintf(name, sizeof name, "proc/%s", fx);
    char *t = fx_read(name);
    if (!t)
        return -ENOENT;
    int rc = write_file(dir, rel, t);
    free(t);
    return rc;
}

static inline void rm_tree(const char *dir)
{
    char cmd[1200];
    if (strncmp(dir, "/tmp/", 5) != 0)
        return; /* never remove anything outside our own temp folders */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#endif
