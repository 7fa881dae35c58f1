/*
 * collect_conf.c: conf.d loading for the collector runner.
 *
 * For each registered collector, the YAML files of <confd>/<name>.d/
 * (*.yaml, *.yml) and a flat <confd>/<name>.yaml give `instances:`, as in
 * the Datadog agent's conf.d; *.yaml.default files are read only when no
 * such file exists, so the agent's shipped defaults work unchanged and a
 * user's conf.yaml replaces them; *.example and *.disabled are never read;
 * empty files are ignored. Keys meterd does not know (the agent's loader:,
 * logs:, an instance key of a feature meterd lacks) are warnings. Every instance key, the common ones
 * (min_collection_interval, enabled, tags) and the collector's declared
 * ones, goes through the config engine (agent/config/opt.c), so booleans,
 * integers, durations and lists follow exactly the rules of meterd.yaml
 * and errors read "FILE:LINE: KEY: reason" the same way.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collect_int.h"
#include "opt.h"
#include "yaml_tree.h"

/* The keys every instance has, whatever its collector. */
struct conf_common {
    int interval;
    bool enabled;
    struct md_strlist tags;
};

#define COMMON_OFF(m, ctype) MD_OPT_OFF(struct conf_common, m, ctype)

static const struct md_opt conf_common_keys[] = {
    {"min_collection_interval", MD_OPT_DURATION, COMMON_OFF(interval, int), "", 1, 86400},
    {"enabled", MD_OPT_BOOL, COMMON_OFF(enabled, bool), ""},
    {"tags", MD_OPT_STRLIST, COMMON_OFF(tags, struct md_strlist), ""},
    {NULL},
};

/* One declared key's value while it is parsed, whatever its type. */
struct conf_value {
    bool b;
    int64_t i;
    char *s;
    struct md_strlist l;
};

/* A collector's declared key as a row of the engine, writing into a conf_value. */
static struct md_opt conf_key_opt(const struct md_key_decl *k)
{
    struct md_opt o = {.name = k->name, .min = k->min, .max = k->max};
    switch (k->type) {
    case MD_KEY_BOOL:
        o.type = MD_OPT_BOOL;
        o.off = offsetof(struct conf_value, b);
        break;
    case MD_KEY_INT:
        o.type = MD_OPT_INT;
        o.flags = MD_OPT_F_I64;
        o.off = offsetof(struct conf_value, i);
        break;
    case MD_KEY_STRING:
    case MD_KEY_REGEX:
        o.type = k->type == MD_KEY_REGEX ? MD_OPT_REGEX : MD_OPT_STRING;
        o.off = offsetof(struct conf_value, s);
        break;
    case MD_KEY_STRLIST:
        o.type = MD_OPT_STRLIST;
        o.off = offsetof(struct conf_value, l);
        break;
    }
    return o;
}

static void conf_value_free(const struct md_key_decl *k, union md_key_value *v)
{
    if (k->type == MD_KEY_STRING || k->type == MD_KEY_REGEX) {
        free((char *)v->s);
    } else if (k->type == MD_KEY_STRLIST) {
        for (size_t j = 0; j < v->list.n; j++)
            free((char *)v->list.v[j]);
        free((void *)v->list.v);
    }
    memset(v, 0, sizeof *v);
}

/* Set key k of an instance from a YAML node, or from its default text when n is NULL. */
static int conf_key_set(struct md_opt_ctx *x, const struct md_key_decl *k,
                        const struct md_ynode *n, int line, union md_key_value *v)
{
    struct md_opt o = conf_key_opt(k);
    struct conf_value cv = {0};
    int rc = n ? md_opt_set_node(x, &o, &cv, n, line) : md_opt_set_text(x, &o, &cv, k->def ? k->def : "");
    if (rc) {
        free(cv.s);
        md_strlist_free(&cv.l);
        return rc;
    }
    conf_value_free(k, v);
    if (k->type == MD_KEY_BOOL)
        v->b = cv.b;
    else if (k->type == MD_KEY_INT)
        v->i = cv.i;
    else if (k->type == MD_KEY_STRING || k->type == MD_KEY_REGEX)
        v->s = cv.s;
    else {
        v->list.v = (const char *const *)cv.l.v;
        v->list.n = cv.l.n;
    }
    return 0;
}

void md_collect_conf_inst_free(struct inst *in)
{
    if (!in)
        return;
    if (in->configured && in->ops->destroy)
        in->ops->destroy(in->state);
    for (size_t i = 0; i < in->nvalues; i++)
        conf_value_free(&in->ops->keys[i], &in->values[i]);
    free(in->values);
    for (size_t i = 0; i < in->ntags; i++)
        free(in->tags[i]);
    free(in->tags);
    for (size_t i = 0; i < in->tabcap; i++)
        free(in->tab[i].key);
    free(in->tab);
    free(in->recs);
    free(in->arena);
    free(in->source);
    free(in);
}


struct inst *md_collect_conf_inst(struct md_collect_runner *r, const struct md_collector_ops *ops,
                                  const char *source, int index, int line)
{
    char err[256];
    struct md_opt_ctx x = {.err = err, .errlen = sizeof err};
    struct inst *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->r = r;
    in->ops = ops;
    in->index = index;
    in->line = line;
    in->enabled = true;
    in->interval = ops->default_interval ? ops->default_interval : 15;
    if (!(in->source = strdup(source)))
        goto oom;
    for (const struct md_key_decl *k = ops->keys; k && k->name; k++)
        in->nvalues++;
    if (in->nvalues && !(in->values = calloc(in->nvalues, sizeof *in->values)))
        goto oom;
    /* Declared defaults are checked by the collector tests; only memory can fail. */
    for (size_t i = 0; i < in->nvalues; i++)
        if (conf_key_set(&x, &ops->keys[i], NULL, 0, &in->values[i]) < 0)
            goto oom;
    return in;
oom:
    md_collect_conf_inst_free(in);
    return NULL;
}

/* The common keys, kept aside until the whole instance is good. */
static void conf_common_apply(struct inst *in, struct conf_common *c)
{
    in->interval = (unsigned)c->interval;
    in->enabled = c->enabled;
    if (c->tags.n) {
        in->tags = c->tags.v;
        in->ntags = c->tags.n;
    } else {
        free(c->tags.v);
    }
}

/* One instance map, key by key in file order: common keys, then the collector's own. */
static int conf_inst(struct md_opt_ctx *x, struct inst *in, const struct md_ynode *map)
{
    if (map->type == MD_Y_NULL)
        return 0; /* "- {}" or a bare "-": all defaults */
    if (map->type != MD_Y_MAP)
        return md_opt_fail(x, map->line, "instances", "each instance must be a mapping");
    struct conf_common c = {.interval = (int)in->interval, .enabled = in->enabled};
    char detail[96];
    snprintf(detail, sizeof detail, "for collector '%s'", in->ops->name);
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->keys[i];
        int line = map->key_lines[i], rc;
        bool alias;
        const struct md_opt *common = md_opt_find(conf_common_keys, key, &alias);
        size_t k = 0;
        while (!common && k < in->nvalues && strcmp(in->ops->keys[k].name, key) != 0)
            k++;
        if (common)
            rc = md_opt_set_node(x, common, &c, map->items[i], line);
        else if (k == in->nvalues)
            rc = md_opt_unknown(x, line, key, detail);
        else
            rc = conf_key_set(x, &in->ops->keys[k], map->items[i], line, &in->values[k]);
        if (rc) {
            md_strlist_free(&c.tags);
            return rc;
        }
    }
    conf_common_apply(in, &c);
    return 0;
}

int md_collect_conf_add(struct md_collect_runner *r, struct inst *in)
{
    struct inst **n = realloc(r->inst, (r->ninst + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    r->inst = n;
    r->inst[r->ninst++] = in;
    return 0;
}

/* init_config: no collector declares keys there yet, so every key is unknown. */
static int conf_init_config(struct md_opt_ctx *x, const struct md_collector_ops *ops,
                            const struct md_ynode *v, int line)
{
    char detail[96];
    if (v->type == MD_Y_NULL)
        return 0;
    if (v->type != MD_Y_MAP)
        return md_opt_fail(x, line, "init_config", "expected a mapping");
    snprintf(detail, sizeof detail, "in init_config of collector '%s'", ops->name);
    for (size_t i = 0; i < v->n; i++) {
        int rc = md_opt_unknown(x, v->key_lines[i], v->keys[i], detail);
        if (rc)
            return rc;
    }
    return 0;
}

/* The top level of a conf.d file: init_config and a non-empty instances list. */
static int conf_top(struct md_opt_ctx *x, const struct md_collector_ops *ops,
                    const struct md_ynode *root, const struct md_ynode **insts)
{
    *insts = NULL;
    if (root->type != MD_Y_MAP)
        return md_opt_fail(x, root->line, NULL, "expected init_config: and instances:");
    for (size_t i = 0; i < root->n; i++) {
        int line = root->key_lines[i], rc = 0;
        if (strcmp(root->keys[i], "init_config") == 0)
            rc = conf_init_config(x, ops, root->items[i], line);
        else if (strcmp(root->keys[i], "instances") != 0)
            rc = md_opt_unknown(x, line, root->keys[i], "at the top level of a check file");
        else if (root->items[i]->type != MD_Y_SEQ || root->items[i]->n == 0)
            rc = md_opt_fail(x, line, "instances", "expected a list of at least one instance");
        else
            *insts = root->items[i];
        if (rc)
            return rc;
    }
    return *insts ? 0 : md_opt_fail(x, root->line, "instances", "missing");
}

static int conf_file(struct md_collect_runner *r, const struct md_collector_ops *ops,
                     const char *path, char *err, size_t errlen)
{
    struct md_opt_ctx x = {.file = path, .err = err, .errlen = errlen, .notes = &r->notes};
    struct md_ynode *root = NULL;
    const struct md_ynode *insts;
    int rc = md_yaml_load_file(path, &root, err, errlen);
    if (rc < 0)
        return rc;
    if (root->type == MD_Y_NULL) { /* only comments */
        md_ynode_free(root);
        return 0;
    }
    rc = conf_top(&x, ops, root, &insts);
    for (size_t i = 0; !rc && i < insts->n; i++) {
        struct inst *in = md_collect_conf_inst(r, ops, path, (int)i, insts->items[i]->line);
        if (!in) {
            rc = md_opt_oom(&x);
            break;
        }
        if ((rc = conf_inst(&x, in, insts->items[i])) < 0 ||
            (rc = md_collect_conf_add(r, in)) < 0)
            md_collect_conf_inst_free(in);
    }
    md_ynode_free(root);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* 1: a config, 2: a shipped default, 0: not read (*.example, *.disabled, other files). */
static int conf_kind(const char *name)
{
    if (ends_with(name, ".yaml") || ends_with(name, ".yml"))
        return 1;
    return ends_with(name, ".yaml.default") || ends_with(name, ".yml.default") ? 2 : 0;
}

static int yaml_filter(const struct dirent *de)
{
    return conf_kind(de->d_name) != 0;
}

static bool file_nonempty(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ne = fgetc(f) != EOF;
    fclose(f);
    return ne;
}

/* The files of one check: <confd>/<name>.d/<file> (sorted), then flat <confd>/<name>.yaml... */
struct conf_files {
    char **path;
    int *kind;
    size_t n;
};

static int conf_files_add(struct conf_files *f, const char *path, int kind)
{
    char **p = realloc(f->path, (f->n + 1) * sizeof *p);
    if (p)
        f->path = p;
    int *k = p ? realloc(f->kind, (f->n + 1) * sizeof *k) : NULL;
    if (k)
        f->kind = k;
    char *dup = k ? strdup(path) : NULL;
    if (!dup)
        return -ENOMEM;
    f->path[f->n] = dup;
    f->kind[f->n++] = kind;
    return 0;
}

static void conf_files_free(struct conf_files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->path[i]);
    free(f->path);
    free(f->kind);
}

static int conf_files_list(const char *confd, const char *name, struct conf_files *f)
{
    char path[4400];
    struct dirent **list = NULL;
    snprintf(path, sizeof path, "%s/%s.d", confd, name);
    int n = scandir(path, &list, yaml_filter, alphasort), rc = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s.d/%s", confd, name, list[i]->d_name);
        if (!rc && file_nonempty(path))
            rc = conf_files_add(f, path, conf_kind(list[i]->d_name));
        free(list[i]);
    }
    free(list);
    static const char *const flat[] = {".yaml", ".yml", ".yaml.default", ".yml.default"};
    for (size_t i = 0; !rc && i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s%s", confd, name, flat[i]);
        if (file_nonempty(path))
            rc = conf_files_add(f, path, i < 2 ? 1 : 2);
    }
    return rc;
}

int md_collect_conf_load(struct md_collect_runner *r, const char *confd,
                         const struct md_collector_ops *ops, bool *found, char *err,
                         size_t errlen)
{
    struct conf_files f = {0};
    *found = false;
    if (!confd)
        return 0;
    int rc = conf_files_list(confd, ops->name, &f);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        conf_files_free(&f);
        return rc;
    }
    bool has_config = false;
    for (size_t i = 0; i < f.n; i++)
        has_config = has_config || f.kind[i] == 1;
    for (size_t i = 0; i < f.n && rc == 0; i++) {
        if (f.kind[i] != (has_config ? 1 : 2))
            continue; /* a user's file replaces the shipped defaults */
        size_t before = r->ninst;
        rc = conf_file(r, ops, f.path[i], err, errlen);
        if (r->ninst > before)
            *found = true;
    }
    conf_files_free(&f);
    return rc;
}

static bool conf_is_collector(const char *name, size_t len)
{
    for (size_t c = 0; md_collectors[c]; c++)
        if (strlen(md_collectors[c]->name) == len && strncmp(md_collectors[c]->name, name, len) == 0)
            return true;
    return false;
}

size_t md_collect_confd_unclaimed(const char *confd, const char *skip,
                                  void (*cb)(void *ud, const char *entry, const char *why),
                                  void *ud)
{
    struct dirent **list = NULL;
    int n = confd ? scandir(confd, &list, NULL, alphasort) : -1;
    const char *skip_base = skip ? strrchr(skip, '/') : NULL;
    skip_base = skip_base ? skip_base + 1 : skip;
    size_t reported = 0;
    for (int i = 0; i < n; i++) {
        const char *e = list[i]->d_name;
        char path[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", confd, e);
        bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        size_t len = strlen(e);
        const char *why = NULL;
        if (dir && ends_with(e, ".d") && !conf_is_collector(e, len - 2))
            why = "meterd has no such check";
        else if (!dir && conf_kind(e) && !(skip_base && strcmp(e, skip_base) == 0)) {
            len = strcspn(e, "."); /* "process_agent.yaml.default" is check process_agent */
            if (!conf_is_collector(e, len))
                why = "meterd has no such check";
        }
        if (why) {
            cb(ud, e, why);
            reported++;
        }
        free(list[i]);
    }
    free(list);
    return reported;
}
