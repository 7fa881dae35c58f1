/*
 * collect_files.c: which files of conf.d the collector runner reads.
 *
 * For each registered collector, the YAML files of <confd>/<name>.d/
 * (*.yaml, *.yml, in name order) and a flat <confd>/<name>.yaml give its
 * instances, as in the Datadog agent's conf.d; *.yaml.default files are
 * read only when no such file exists, so the agent's shipped defaults work
 * unchanged and a user's conf.yaml replaces them; *.example and *.disabled
 * are never read; empty files are ignored. Entries of conf.d that no
 * collector claims are reported, so a check file meterd does not have is
 * a warning and not a silent no-op. Each file is read by collect_conf.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collect_int.h"

static bool files_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* 1: a config, 2: a shipped default, 0: not read (*.example, *.disabled, other files). */
static int files_kind(const char *name)
{
    if (files_ends_with(name, ".yaml") || files_ends_with(name, ".yml"))
        return 1;
    return files_ends_with(name, ".yaml.default") || files_ends_with(name, ".yml.default") ? 2 : 0;
}

static int files_yaml_filter(const struct dirent *de)
{
    return files_kind(de->d_name) != 0;
}

static bool files_nonempty(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ne = fgetc(f) != EOF;
    fclose(f);
    return ne;
}

/* The files of one check: <confd>/<name>.d/<file> (sorted), then flat <confd>/<name>.yaml... */
struct files_set {
    char **path;
    int *kind;
    size_t n;
};

static int files_add(struct files_set *f, const char *path, int kind)
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

static void files_free(struct files_set *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->path[i]);
    free(f->path);
    free(f->kind);
}

static int files_list(const char *confd, const char *name, struct files_set *f)
{
    char path[4400];
    struct dirent **list = NULL;
    snprintf(path, sizeof path, "%s/%s.d", confd, name);
    int n = scandir(path, &list, files_yaml_filter, alphasort), rc = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s.d/%s", confd, name, list[i]->d_name);
        if (!rc && files_nonempty(path))
            rc = files_add(f, path, files_kind(list[i]->d_name));
        free(list[i]);
    }
    free(list);
    static const char *const flat[] = {".yaml", ".yml", ".yaml.default", ".yml.default"};
    for (size_t i = 0; !rc && i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s%s", confd, name, flat[i]);
        if (files_nonempty(path))
            rc = files_add(f, path, i < 2 ? 1 : 2);
    }
    return rc;
}

int md_collect_conf_load(struct md_collect_runner *r, const char *confd,
                         const struct md_collector_ops *ops, bool *found, char *err,
                         size_t errlen)
{
    struct files_set f = {0};
    *found = false;
    if (!confd)
        return 0;
    int rc = files_list(confd, ops->name, &f);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        files_free(&f);
        return rc;
    }
    bool has_config = false;
    for (size_t i = 0; i < f.n; i++)
        has_config = has_config || f.kind[i] == 1;
    for (size_t i = 0; i < f.n && rc == 0; i++) {
        if (f.kind[i] != (has_config ? 1 : 2))
            continue; /* a user's file replaces the shipped defaults */
        size_t before = r->ninst;
        rc = md_collect_conf_file(r, ops, f.path[i], err, errlen);
        if (r->ninst > before)
            *found = true;
    }
    files_free(&f);
    return rc;
}

static bool files_is_collector(const char *name, size_t len)
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
        if (dir && files_ends_with(e, ".d") && !files_is_collector(e, len - 2))
            why = "meterd has no such check";
        else if (!dir && files_kind(e) && !(skip_base && strcmp(e, skip_base) == 0)) {
            len = strcspn(e, "."); /* "process_agent.yaml.default" is check process_agent */
            if (!files_is_collector(e, len))
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
