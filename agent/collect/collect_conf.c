/*
 * collect_conf.c: one conf.d check file into collector instances.
 *
 * A file gives `instances:` (and `init_config:`), as in the Datadog agent's
 * conf.d; which files are read is collect_files.c's job. Keys meterd does
 * not know (the agent's loader:, logs:, an instance key of a feature
 * meterd lacks) are warnings. Every instance key, the common ones
 * (min_collection_interval, enabled, tags) and the collector's declared
 * ones, goes through the config engine (agent/config/opt.c), so booleans,
 * integers, durations and lists follow exactly the rules of meterd.yaml
 * and errors read "FILE:LINE: KEY: reason" the same way. The Datadog
 * agent's own check files must load unchanged, so the keys of its checks
 * that meterd does not implement are declared (MD_KEY_IGNORED) and warned
 * about once, as are the top-level keys of its loader (loader, logs,
 * ad_identifiers); keys a collector marks MD_KEY_F_INIT are also read
 * from init_config, where the agent reads them, as are
 * min_collection_interval and service, defaults for every instance.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect_int.h"
#include "devfilter.h"
#include "opt.h"
#include "yaml_tree.h"

/* The keys every instance has, whatever its collector. */
struct conf_common {
    int interval; /* whole seconds or a duration ("2m"); fractions are read before the engine */
    bool enabled;
    struct md_strlist tags;
    char *service;
};

#define COMMON_OFF(m, ctype) MD_OPT_OFF(struct conf_common, m, ctype)

static const struct md_opt conf_common_keys[] = {
    {"min_collection_interval", MD_OPT_DURATION, COMMON_OFF(interval, int), "", 1, 86400},
    {"enabled", MD_OPT_BOOL, COMMON_OFF(enabled, bool), ""},
    {"tags", MD_OPT_STRLIST, COMMON_OFF(tags, struct md_strlist), ""},
    {"service", MD_OPT_STRING, COMMON_OFF(service, char *), ""},
    {NULL},
};

/*
 * Keys of every Datadog check instance that change nothing here (the
 * integrations' instances/default template; loader picks the Go or Python
 * implementation of a check).
 */
static const char *const conf_common_ignored[] = {"empty_default_hostname", "metric_patterns",
                                                  "disable_generic_tags", "loader", NULL};

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
        o.type = MD_OPT_STRING;
        o.check = k->type == MD_KEY_REGEX ? md_devfilter_check : NULL;
        o.off = offsetof(struct conf_value, s);
        break;
    case MD_KEY_STRLIST:
    case MD_KEY_REGEXLIST:
    case MD_KEY_MAP:     /* its default is "" (empty); a YAML value goes through conf_map_set */
    case MD_KEY_NUMBER:  /* set by conf_number_set */
    case MD_KEY_IGNORED: /* never set */
        o.type = MD_OPT_STRLIST;
        o.check = k->type == MD_KEY_REGEXLIST ? md_devfilter_check : NULL;
        o.off = offsetof(struct conf_value, l);
        break;
    }
    return o;
}

static void conf_value_free(const struct md_key_decl *k, union md_key_value *v)
{
    if (k->type == MD_KEY_STRING || k->type == MD_KEY_REGEX) {
        free((char *)v->s);
    } else if (k->type == MD_KEY_STRLIST || k->type == MD_KEY_REGEXLIST || k->type == MD_KEY_MAP) {
        for (size_t j = 0; j < v->list.n; j++)
            free((char *)v->list.v[j]);
        free((void *)v->list.v);
    }
    memset(v, 0, sizeof *v);
}

/* A MD_KEY_MAP value: a mapping of scalars, kept as key, value, key, value ... */
static int conf_map_set(struct md_opt_ctx *x, const struct md_key_decl *k,
                        const struct md_ynode *n, int line, union md_key_value *v)
{
    struct md_strlist l = {0};
    if (n->type != MD_Y_MAP)
        return md_opt_fail(x, line, k->name, "expected a mapping of pattern: tags, got %s",
                           md_opt_node_kind(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct md_ynode *it = n->items[i];
        if (it->type != MD_Y_SCALAR) {
            md_strlist_free(&l);
            return md_opt_fail(x, n->key_lines[i], k->name, "%s: expected a single value, got %s",
                               n->keys[i], md_opt_node_kind(it));
        }
        char *key = strdup(n->keys[i]), *val = NULL;
        if (!key || md_strlist_push(&l, key) < 0 || !(val = strdup(it->scalar)) ||
            md_strlist_push(&l, val) < 0) {
            md_strlist_free(&l);
            return md_opt_oom(x);
        }
    }
    conf_value_free(k, v);
    v->list.v = (const char *const *)l.v;
    v->list.n = l.n;
    return 0;
}

/* A MD_KEY_NUMBER value: a finite number within the key's bounds ("0.5", "100"). */
static int conf_number_set(struct md_opt_ctx *x, const struct md_key_decl *k, const char *text,
                           int line, union md_key_value *v)
{
    char *end, q[64];
    double d = strtod(text, &end);
    while (end != text && (*end == ' ' || *end == '\t'))
        end++;
    if (end == text || *end || !isfinite(d))
        return md_opt_fail(x, line, k->name, "expected a number, got %s", md_opt_quote(text, q, sizeof q));
    if (d < (double)k->min || d > (double)k->max)
        return md_opt_fail(x, line, k->name, "%g is out of range (%lld..%lld)", d, (long long)k->min,
                           (long long)k->max);
    v->d = d;
    return 0;
}

/* Set key k of an instance from a YAML node, or from its default text when n is NULL. */
static int conf_key_set(struct md_opt_ctx *x, const struct md_key_decl *k,
                        const struct md_ynode *n, int line, union md_key_value *v)
{
    if (k->type == MD_KEY_IGNORED)
        return 0;
    if (k->type == MD_KEY_MAP && n && n->type != MD_Y_NULL)
        return conf_map_set(x, k, n, line, v);
    if (k->type == MD_KEY_NUMBER) {
        if (n && n->type == MD_Y_NULL)
            return 0;
        if (n && n->type != MD_Y_SCALAR)
            return md_opt_fail(x, line, k->name, "expected a number, got %s", md_opt_node_kind(n));
        return conf_number_set(x, k, n ? n->scalar : k->def, line, v);
    }
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

/*
 * A key meterd accepts and does not implement: one warning per collector
 * and key in a load, however many files and instances carry it.
 */
static void conf_warn_ignored(struct md_collect_runner *r, struct md_opt_ctx *x, int line,
                              const char *collector, const char *key, const char *why)
{
    char id[160];
    snprintf(id, sizeof id, "%s.%s\n", collector, key);
    if (r->warned && strstr(r->warned, id))
        return;
    size_t have = r->warned ? strlen(r->warned) : 0;
    char *w = realloc(r->warned, have + strlen(id) + 1);
    if (w) {
        strcpy(w + have, id);
        r->warned = w;
    }
    md_opt_warn(x, line, key, "%s", why);
}

static void conf_warn_unimplemented(struct md_collect_runner *r, struct md_opt_ctx *x,
                                    int line, const char *collector, const char *key)
{
    char why[160];
    snprintf(why, sizeof why, "not implemented by meterd's %s collector, ignored", collector);
    conf_warn_ignored(r, x, line, collector, key, why);
}

/*
 * min_collection_interval: the agent takes a float ("7.5", "30.0"); whole
 * seconds and durations ("2m") go through the engine like every duration.
 */
static int conf_interval(struct md_opt_ctx *x, const struct md_opt *row, struct conf_common *c,
                         const struct md_ynode *n, int line, unsigned *ms)
{
    if (n->type == MD_Y_SCALAR && strchr(n->scalar, '.')) {
        char *end;
        double v = strtod(n->scalar, &end);
        char q[64];
        if (end == n->scalar || *end)
            return md_opt_fail(x, line, row->name, "expected a duration (seconds, or 10s, 5m, 1h), got %s",
                               md_opt_quote(n->scalar, q, sizeof q));
        if (!(v >= (double)row->min && v <= (double)row->max))
            return md_opt_fail(x, line, row->name, "%g is out of range (%lld..%lld)", v,
                               (long long)row->min, (long long)row->max);
        *ms = (unsigned)(v * 1000.0 + 0.5);
        return 0;
    }
    int rc = md_opt_set_node(x, row, c, n, line);
    if (rc == 0 && n->type != MD_Y_NULL)
        *ms = (unsigned)c->interval * 1000u;
    return rc;
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
    md_buf_free(&in->arena);
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
    in->interval_ms = (ops->default_interval ? ops->default_interval : 15) * 1000u;
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

/* The common keys, kept aside until the whole instance is good; service: is a tag. */
static int conf_common_apply(struct inst *in, struct conf_common *c, unsigned interval_ms)
{
    if (c->service) {
        char *t;
        if (asprintf(&t, "service:%s", c->service) < 0 || md_strlist_push(&c->tags, t) < 0)
            return -ENOMEM;
        free(c->service);
        c->service = NULL;
    }
    in->interval_ms = interval_ms;
    in->enabled = c->enabled;
    if (c->tags.n) {
        in->tags = c->tags.v;
        in->ntags = c->tags.n;
    } else {
        free(c->tags.v);
    }
    return 0;
}

static bool in_list(const char *const *l, const char *s)
{
    for (size_t i = 0; l[i]; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

/* Index of the collector's declared key `key`, or in->nvalues. */
static size_t conf_key_index(const struct inst *in, const char *key)
{
    size_t k = 0;
    while (k < in->nvalues && strcmp(in->ops->keys[k].name, key) != 0)
        k++;
    return k;
}

/* One declared key of an instance (or of init_config: from_init). */
static int conf_declared(struct md_opt_ctx *x, struct inst *in, size_t k,
                         const struct md_ynode *n, int line)
{
    const struct md_key_decl *d = &in->ops->keys[k];
    if (d->type == MD_KEY_IGNORED) {
        conf_warn_unimplemented(in->r, x, line, in->ops->name, d->name);
        return 0;
    }
    return conf_key_set(x, d, n, line, &in->values[k]);
}

/* init_config keys the collector reads there (MD_KEY_F_INIT), applied before the instance's own. */
static int conf_init_apply(struct md_opt_ctx *x, struct inst *in, const struct md_ynode *init)
{
    for (size_t i = 0; init && init->type == MD_Y_MAP && i < init->n; i++) {
        size_t k = conf_key_index(in, init->keys[i]);
        if (k < in->nvalues && (in->ops->keys[k].flags & MD_KEY_F_INIT)) {
            int rc = conf_declared(x, in, k, init->items[i], init->key_lines[i]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Common keys the agent also takes from init_config, as defaults for every instance. */
static const char *const conf_init_common[] = {"min_collection_interval", "service", NULL};

/* A common key into c (min_collection_interval in ms into *interval_ms). */
static int conf_common_key(struct md_opt_ctx *x, const struct md_opt *common, struct conf_common *c,
                           unsigned *interval_ms, const struct md_ynode *n, int line)
{
    if (strcmp(common->name, "min_collection_interval") == 0)
        return conf_interval(x, common, c, n, line, interval_ms);
    return md_opt_set_node(x, common, c, n, line);
}

/* One instance, after the defaults of init_config; its keys in file order. */
static int conf_inst(struct md_opt_ctx *x, struct inst *in, const struct md_ynode *init,
                     const struct md_ynode *map)
{
    if (map->type != MD_Y_NULL && map->type != MD_Y_MAP) /* "- {}" or a bare "-": all defaults */
        return md_opt_fail(x, map->line, "instances", "each instance must be a mapping");
    struct conf_common c = {.interval = (int)(in->interval_ms / 1000), .enabled = in->enabled};
    unsigned interval_ms = in->interval_ms;
    char detail[96];
    snprintf(detail, sizeof detail, "for collector '%s'", in->ops->name);
    int rc = 0;
    bool alias;
    for (size_t i = 0; init && init->type == MD_Y_MAP && i < init->n && !rc; i++)
        if (in_list(conf_init_common, init->keys[i]))
            rc = conf_common_key(x, md_opt_find(conf_common_keys, init->keys[i], &alias), &c,
                                 &interval_ms, init->items[i], init->key_lines[i]);
    for (size_t i = 0; map->type == MD_Y_MAP && i < map->n && !rc; i++) {
        const char *key = map->keys[i];
        int line = map->key_lines[i];
        const struct md_opt *common = md_opt_find(conf_common_keys, key, &alias);
        size_t k = common ? in->nvalues : conf_key_index(in, key);
        if (common)
            rc = conf_common_key(x, common, &c, &interval_ms, map->items[i], line);
        else if (k < in->nvalues)
            rc = conf_declared(x, in, k, map->items[i], line);
        else if (in_list(conf_common_ignored, key))
            conf_warn_unimplemented(in->r, x, line, in->ops->name, key);
        else
            rc = md_opt_unknown(x, line, key, detail);
    }
    if (!rc && conf_common_apply(in, &c, interval_ms) < 0)
        rc = md_opt_oom(x);
    if (rc) {
        md_strlist_free(&c.tags);
        free(c.service);
    }
    return rc;
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

/*
 * init_config: keys the collector declares with MD_KEY_F_INIT are checked
 * here (and applied to each instance later); any other key is unknown.
 */
static int conf_init_config(struct md_collect_runner *r, struct md_opt_ctx *x,
                            const struct md_collector_ops *ops, const struct md_ynode *v, int line)
{
    char detail[96];
    if (v->type == MD_Y_NULL)
        return 0;
    if (v->type != MD_Y_MAP)
        return md_opt_fail(x, line, "init_config", "expected a mapping");
    snprintf(detail, sizeof detail, "in init_config of collector '%s'", ops->name);
    for (size_t i = 0; i < v->n; i++) {
        const struct md_key_decl *k = ops->keys;
        while (k && k->name && strcmp(k->name, v->keys[i]) != 0)
            k++;
        int rc = 0;
        if (in_list(conf_init_common, v->keys[i]))
            continue; /* checked with each instance */
        if (!k || !k->name || !(k->flags & MD_KEY_F_INIT))
            rc = md_opt_unknown(x, v->key_lines[i], v->keys[i], detail);
        else if (k->type == MD_KEY_IGNORED)
            conf_warn_unimplemented(r, x, v->key_lines[i], ops->name, k->name);
        if (rc)
            return rc;
    }
    return 0;
}

/* Top-level keys of the agent's check loader that have no meaning here. */
static const char *const conf_top_ignored[] = {"loader", "logs", "ad_identifiers", "cluster_check",
                                               "check_tag_cardinality", NULL};

/* The top level of a conf.d file: init_config and a non-empty instances list. */
static int conf_top(struct md_collect_runner *r, struct md_opt_ctx *x,
                    const struct md_collector_ops *ops, const struct md_ynode *root,
                    const struct md_ynode **insts, const struct md_ynode **init)
{
    *insts = NULL;
    *init = NULL;
    if (root->type != MD_Y_MAP)
        return md_opt_fail(x, root->line, NULL, "expected init_config: and instances:");
    for (size_t i = 0; i < root->n; i++) {
        int line = root->key_lines[i], rc = 0;
        if (strcmp(root->keys[i], "init_config") == 0) {
            rc = conf_init_config(r, x, ops, root->items[i], line);
            *init = root->items[i];
        } else if (in_list(conf_top_ignored, root->keys[i])) {
            conf_warn_ignored(r, x, line, ops->name, root->keys[i],
                              "a key of the Datadog agent's check loader, ignored by meterd");
        } else if (strcmp(root->keys[i], "instances") != 0) {
            rc = md_opt_unknown(x, line, root->keys[i], "at the top level of a check file");
        } else if (root->items[i]->type != MD_Y_SEQ || root->items[i]->n == 0) {
            rc = md_opt_fail(x, line, "instances", "expected a list of at least one instance");
        } else {
            *insts = root->items[i];
        }
        if (rc)
            return rc;
    }
    return *insts ? 0 : md_opt_fail(x, root->line, "instances", "missing");
}

int md_collect_conf_file(struct md_collect_runner *r, const struct md_collector_ops *ops,
                         const char *path, char *err, size_t errlen)
{
    struct md_opt_ctx x = {.file = path, .err = err, .errlen = errlen, .notes = &r->notes};
    struct md_ynode *root = NULL;
    const struct md_ynode *insts, *init;
    int rc = md_yaml_load_file(path, &root, err, errlen);
    if (rc < 0)
        return rc;
    if (root->type == MD_Y_NULL) { /* only comments */
        md_ynode_free(root);
        return 0;
    }
    rc = conf_top(r, &x, ops, root, &insts, &init);
    for (size_t i = 0; !rc && i < insts->n; i++) {
        struct inst *in = md_collect_conf_inst(r, ops, path, (int)i, insts->items[i]->line);
        if (!in) {
            rc = md_opt_oom(&x);
            break;
        }
        if ((rc = conf_init_apply(&x, in, init)) < 0 || (rc = conf_inst(&x, in, init, insts->items[i])) < 0 ||
            (rc = md_collect_conf_add(r, in)) < 0)
            md_collect_conf_inst_free(in);
    }
    md_ynode_free(root);
    return rc;
}
