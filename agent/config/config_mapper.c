/*
 * config_mapper.c: dogstatsd_mapper_profiles, the one key whose value is a
 * structure (profiles of mappings). Everything about a mapping is checked
 * here, at load, with the Datadog agent's rules and wording: required
 * fields, match_type, the wildcard alphabet, and that a regex compiles in
 * the anchored form the mapper will use. The mapper then receives profiles
 * it can trust, and `meterd configcheck` refuses what `meterd run` would.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

static void cfg_mapping_free(struct md_mapper_mapping *m)
{
    free(m->match);
    free(m->name);
    md_strlist_free(&m->tags);
}

static void cfg_profiles_free(struct md_mapper_profile *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p[i].nmappings; j++)
            cfg_mapping_free(&p[i].mappings[j]);
        free(p[i].mappings);
        free(p[i].name);
        free(p[i].prefix);
    }
    free(p);
}

static void cfg_mapper_free(void *field)
{
    struct md_mapper_profiles *ps = field;
    cfg_profiles_free(ps->v, ps->n);
    ps->v = NULL;
    ps->n = 0;
}

/* A scalar field of a profile or mapping: *out becomes a malloc'd copy. */
static int cfg_map_string(struct md_opt_ctx *x, const struct md_ynode *v, int line,
                          const char *path, char **out)
{
    if (v->type != MD_Y_SCALAR)
        return md_opt_fail(x, line, path, "expected a string, got %s", md_opt_node_kind(v));
    free(*out);
    *out = strdup(v->scalar);
    return *out ? 0 : md_opt_oom(x);
}

/* The wildcard alphabet of the Datadog agent's mapper: NULL when p is fine. */
static const char *cfg_wildcard_check(const char *p)
{
    for (const char *s = p; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '*' || c == '-'))
            return "it may only contain [A-Za-z0-9_.*-]";
    }
    if (strstr(p, "**"))
        return "it should not contain consecutive `*`";
    return NULL;
}

/* The regex as the mapper anchors it must compile. */
static int cfg_regex_check(struct md_opt_ctx *x, int line, const char *path, const char *match)
{
    char *re = NULL;
    regex_t rx;
    if (asprintf(&re, "^%s$", match) < 0)
        return md_opt_oom(x);
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    free(re);
    if (rc == 0) {
        regfree(&rx);
        return 0;
    }
    char why[128];
    regerror(rc, &rx, why, sizeof why);
    return md_opt_fail(x, line, path, "invalid match `%.128s`, cannot compile regex: %s", match,
                       why);
}

static int cfg_mapping_tags(struct md_opt_ctx *x, const struct md_ynode *v, int line,
                            const char *path, struct md_strlist *tags)
{
    char tpath[256];
    if (v->type != MD_Y_MAP)
        return md_opt_fail(x, line, path, "expected a map of tag: value, got %s",
                           md_opt_node_kind(v));
    md_strlist_free(tags);
    for (size_t i = 0; i < v->n; i++) {
        const struct md_ynode *t = v->items[i];
        snprintf(tpath, sizeof tpath, "%.150s.%.64s", path, v->keys[i]);
        if (t->type != MD_Y_SCALAR)
            return md_opt_fail(x, v->key_lines[i], tpath, "expected a string, got %s",
                               md_opt_node_kind(t));
        char *kv = NULL;
        if (asprintf(&kv, "%s:%s", v->keys[i], t->scalar) < 0 || md_strlist_push(tags, kv))
            return md_opt_oom(x);
    }
    return 0;
}

static int cfg_match_type(struct md_opt_ctx *x, const struct md_ynode *v, int line,
                          const char *path, enum md_match_type *out)
{
    if (v->type != MD_Y_SCALAR)
        return md_opt_fail(x, line, path, "expected a string, got %s", md_opt_node_kind(v));
    if (strcmp(v->scalar, "wildcard") == 0)
        *out = MD_MATCH_WILDCARD;
    else if (strcmp(v->scalar, "regex") == 0)
        *out = MD_MATCH_REGEX;
    else
        return md_opt_fail(x, line, path,
                           "invalid match type `%.64s`, must be `wildcard` or `regex`", v->scalar);
    return 0;
}

static int cfg_mapping_key(struct md_opt_ctx *x, const char *key, const struct md_ynode *v,
                           int line, const char *kpath, struct md_mapper_mapping *m)
{
    if (strcmp(key, "match") == 0)
        return cfg_map_string(x, v, line, kpath, &m->match);
    if (strcmp(key, "match_type") == 0)
        return cfg_match_type(x, v, line, kpath, &m->match_type);
    if (strcmp(key, "name") == 0)
        return cfg_map_string(x, v, line, kpath, &m->name);
    if (strcmp(key, "tags") == 0)
        return cfg_mapping_tags(x, v, line, kpath, &m->tags);
    return md_opt_fail(x, line, kpath, "unknown key (expected match, match_type, name, tags)");
}

static int cfg_mapping(struct md_opt_ctx *x, const struct md_ynode *n, const char *ppath,
                       struct md_mapper_mapping *m)
{
    char path[160], kpath[256];
    snprintf(path, sizeof path, "%.150s", ppath);
    if (n->type != MD_Y_MAP)
        return md_opt_fail(x, n->line, path, "expected a map, got %s", md_opt_node_kind(n));
    for (size_t i = 0; i < n->n; i++) {
        snprintf(kpath, sizeof kpath, "%.150s.%.64s", path, n->keys[i]);
        int rc = cfg_mapping_key(x, n->keys[i], n->items[i], n->key_lines[i], kpath, m);
        if (rc)
            return rc;
    }
    snprintf(kpath, sizeof kpath, "%.150s.name", path);
    if (!m->name || !*m->name)
        return md_opt_fail(x, n->line, kpath, "name is required");
    snprintf(kpath, sizeof kpath, "%.150s.match", path);
    if (!m->match || !*m->match)
        return md_opt_fail(x, n->line, kpath, "match is required");
    if (m->match_type == MD_MATCH_REGEX)
        return cfg_regex_check(x, n->line, kpath, m->match);
    const char *why = cfg_wildcard_check(m->match);
    if (why)
        return md_opt_fail(x, n->line, kpath, "invalid wildcard match pattern `%.128s`, %s",
                           m->match, why);
    return 0;
}

static int cfg_mappings(struct md_opt_ctx *x, const struct md_ynode *v, int line,
                        const char *path, struct md_mapper_profile *p)
{
    char mpath[160];
    if (v->type != MD_Y_SEQ)
        return md_opt_fail(x, line, path, "expected a list of mappings, got %s",
                           md_opt_node_kind(v));
    p->mappings = calloc(v->n ? v->n : 1, sizeof *p->mappings);
    if (!p->mappings)
        return md_opt_oom(x);
    for (size_t i = 0; i < v->n; i++) {
        snprintf(mpath, sizeof mpath, "%.120s[%zu]", path, i);
        p->nmappings++; /* counted first so a half-filled mapping is freed too */
        int rc = cfg_mapping(x, v->items[i], mpath, &p->mappings[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int cfg_profile(struct md_opt_ctx *x, const struct md_ynode *n, size_t idx,
                       struct md_mapper_profile *p)
{
    char path[96], kpath[192];
    snprintf(path, sizeof path, "dogstatsd_mapper_profiles[%zu]", idx);
    if (n->type != MD_Y_MAP)
        return md_opt_fail(x, n->line, path, "expected a map, got %s", md_opt_node_kind(n));
    bool have_mappings = false;
    for (size_t i = 0; i < n->n; i++) {
        const char *key = n->keys[i];
        int line = n->key_lines[i], rc;
        snprintf(kpath, sizeof kpath, "%.90s.%.64s", path, key);
        if (strcmp(key, "name") == 0)
            rc = cfg_map_string(x, n->items[i], line, kpath, &p->name);
        else if (strcmp(key, "prefix") == 0)
            rc = cfg_map_string(x, n->items[i], line, kpath, &p->prefix);
        else if (strcmp(key, "mappings") == 0 && !have_mappings) {
            have_mappings = true;
            rc = cfg_mappings(x, n->items[i], line, kpath, p);
        } else
            rc = md_opt_fail(x, line, kpath, "unknown key (expected name, prefix, mappings)");
        if (rc)
            return rc;
    }
    if (!p->name || !*p->name)
        return md_opt_fail(x, n->line, path, "missing profile name");
    if (!p->prefix || !*p->prefix)
        return md_opt_fail(x, n->line, path, "missing prefix for profile %.64s", p->name);
    if (!have_mappings)
        return md_opt_fail(x, n->line, path, "mappings is required");
    return 0;
}

static int cfg_mapper_set(struct md_opt_ctx *x, const struct md_opt *k, void *field,
                          const struct md_ynode *n, int line)
{
    if (n->type != MD_Y_SEQ)
        return md_opt_fail(x, line, k->name, "expected a list of profiles, got %s",
                           md_opt_node_kind(n));
    struct md_mapper_profile *p = calloc(n->n ? n->n : 1, sizeof *p);
    if (!p)
        return md_opt_oom(x);
    for (size_t i = 0; i < n->n; i++) {
        int rc = cfg_profile(x, n->items[i], i, &p[i]);
        if (rc) {
            cfg_profiles_free(p, i + 1);
            return rc;
        }
    }
    cfg_mapper_free(field);
    struct md_mapper_profiles *ps = field;
    if (n->n) {
        ps->v = p;
        ps->n = n->n;
    } else {
        free(p);
    }
    return 0;
}

static void cfg_mapping_dump(FILE *out, const struct md_mapper_mapping *m)
{
    fputs("      - match: ", out);
    md_opt_put_str(out, m->match);
    fprintf(out, "\n        match_type: \"%s\"\n        name: ",
            m->match_type == MD_MATCH_REGEX ? "regex" : "wildcard");
    md_opt_put_str(out, m->name);
    fputs("\n        tags: {", out);
    for (size_t t = 0; t < m->tags.n; t++) {
        const char *kv = m->tags.v[t], *colon = strchr(kv, ':');
        char *key = strndup(kv, (size_t)(colon - kv));
        fputs(t ? ", " : "", out);
        md_opt_put_str(out, key ? key : "");
        fputs(": ", out);
        md_opt_put_str(out, colon + 1);
        free(key);
    }
    fputs("}\n", out);
}

static void cfg_mapper_dump(FILE *out, const void *field)
{
    const struct md_mapper_profiles *ps = field;
    if (!ps->n) {
        fputs(" []\n", out);
        return;
    }
    fputc('\n', out);
    for (size_t i = 0; i < ps->n; i++) {
        const struct md_mapper_profile *p = &ps->v[i];
        fputs("  - name: ", out);
        md_opt_put_str(out, p->name);
        fputs("\n    prefix: ", out);
        md_opt_put_str(out, p->prefix);
        fputs(p->nmappings ? "\n    mappings:\n" : "\n    mappings: []\n", out);
        for (size_t j = 0; j < p->nmappings; j++)
            cfg_mapping_dump(out, &p->mappings[j]);
    }
}

const struct md_opt_special md_config_mapper_special = {cfg_mapper_set, cfg_mapper_dump,
                                                        cfg_mapper_free};
