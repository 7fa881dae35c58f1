/*
 * containers.c: container discovery from the cgroup tree, and the shared
 * table of containers (see containers.h).
 *
 * A walk reads each v1 controller's tree separately (or the v2 tree), so a
 * container whose memory cgroup is nested elsewhere than its cpu cgroup
 * (this project's dev VMs do that) still gets every controller. Directories
 * that name a container are not descended into; `.mount` units and cri-o's
 * conmon scopes are skipped, and depth is bounded.
 */
#include "containers.h"
#include "containers_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 10

int md_card_parse(const char *s, size_t n)
{
    static const char *const names[] = {"low", "orchestrator", "high"};
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
            return i;
    return -1;
}

/* ---- matching ------------------------------------------------------------- */

static size_t hex_run(const char *p)
{
    size_t n = 0;
    while ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f'))
        n++;
    return n;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int md_containers_match(const char *name, char *out)
{
    if (ends_with(name, ".mount") || strncmp(name, "crio-conmon-", 12) == 0)
        return 0;
    for (const char *p = name; *p;) {
        size_t n = hex_run(p);
        if (n == 0) {
            p++;
            continue;
        }
        bool start_ok = p == name || !isalnum((unsigned char)p[-1]);
        if (start_ok && n == 64 && !isalnum((unsigned char)p[64])) {
            memcpy(out, p, 64);
            out[64] = '\0';
            return 1;
        }
        /* ECS Fargate / managed instances: <32 hex>-<digits> is the whole name */
        if (p == name && n == 32 && p[32] == '-' && isdigit((unsigned char)p[33])) {
            size_t d = 33;
            while (isdigit((unsigned char)p[d]))
                d++;
            if (!p[d] && d <= MD_CID_MAX) {
                memcpy(out, p, d);
                out[d] = '\0';
                return 1;
            }
        }
        p += n;
    }
    return 0;
}

bool md_containers_pod_uid(const char *path, char *out, size_t len)
{
    for (const char *p = strstr(path, "pod"); p; p = strstr(p + 3, "pod")) {
        if (p != path && p[-1] != '/' && p[-1] != '-')
            continue;
        const char *u = p + 3;
        size_t n = 0;
        while (n < 36 && (isxdigit((unsigned char)u[n]) || u[n] == '-' || u[n] == '_'))
            n++;
        if (n != 36 || u[8] == '\0' || (u[8] != '-' && u[8] != '_') || len < 37)
            continue;
        for (size_t i = 0; i < 36; i++)
            out[i] = u[i] == '_' ? '-' : u[i];
        out[36] = '\0';
        return true;
    }
    return false;
}

int md_containers_id_of_cgroup_text(const char *text, char *out)
{
    /* Lines "hier:controllers:/path"; the last path component naming a container wins. */
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        const char *c2 = memchr(line, ':', n);
        c2 = c2 ? memchr(c2 + 1, ':', n - (size_t)(c2 + 1 - line)) : NULL;
        if (c2) {
            char path[1024];
            size_t pn = n - (size_t)(c2 + 1 - line);
            if (pn < sizeof path) {
                memcpy(path, c2 + 1, pn);
                path[pn] = '\0';
                for (char *comp = strrchr(path, '/'); comp; comp = strrchr(path, '/')) {
                    if (md_containers_match(comp + 1, out))
                        return 0;
                    *comp = '\0';
                }
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

int md_containers_id_of_pid(const char *procfs, int pid, char *out)
{
    char rel[64];
    struct md_fbuf fb = {0};
    snprintf(rel, sizeof rel, "%d/cgroup", pid);
    int rc = md_procfs_read(&fb, procfs, rel);
    if (rc >= 0)
        rc = md_containers_id_of_cgroup_text(fb.p, out);
    md_procfs_free(&fb);
    return rc;
}

static const char *runtime_of(const char *path)
{
    if (strstr(path, "crio-"))
        return "cri-o";
    if (strstr(path, "cri-containerd-"))
        return "containerd";
    if (strstr(path, "docker"))
        return "docker";
    if (strstr(path, "/ecs/") || strstr(path, "ecstasks"))
        return "ecs";
    if (strstr(path, "libpod"))
        return "podman";
    return "containerd";
}

/* ---- filters -------------------------------------------------------------- */

static int filter_compile(const char *f, struct filter *out, char *why, size_t len)
{
    static const struct { const char *pre; int what; } kinds[] = {
        {"name:", F_NAME}, {"image:", F_IMAGE}, {"kube_namespace:", F_KUBE_NS}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].pre);
        if (strncmp(f, kinds[i].pre, n) != 0)
            continue;
        int rc = regcomp(&out->re, f + n, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &out->re, msg, sizeof msg);
            snprintf(why, len, "bad regular expression '%s': %s", f + n, msg);
            return -EINVAL;
        }
        out->what = kinds[i].what;
        return 0;
    }
    snprintf(why, len, "expected name:<regex>, image:<regex> or kube_namespace:<regex>, got '%s'", f);
    return -EINVAL;
}

const char *md_containers_check_filter(const char *f, char *buf, size_t len)
{
    struct filter x;
    if (filter_compile(f, &x, buf, len) < 0)
        return buf;
    regfree(&x.re);
    return NULL;
}

static int filters_new(const char *const *v, size_t n, struct filter **out, const char *key,
                       char *err, size_t errlen)
{
    *out = n ? calloc(n, sizeof **out) : NULL;
    if (n && !*out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (filter_compile(v[i], &(*out)[i], why, sizeof why) < 0) {
            snprintf(err, errlen, "%s[%zu]: %s", key, i, why);
            for (size_t j = 0; j < i; j++)
                regfree(&(*out)[j].re);
            free(*out);
            *out = NULL;
            return -EINVAL;
        }
    }
    return 0;
}

bool md_ctr_filters_match(const struct filter *f, size_t n, const char *name, const char *image,
                          const char *kube_ns)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = f[i].what == F_NAME ? name : f[i].what == F_IMAGE ? image : kube_ns;
        if (v && regexec(&f[i].re, v, 0, NULL, 0) == 0)
            return true;
    }
    return false;
}

/* ---- table ---------------------------------------------------------------- */

void md_ctr_srcinfo_clear(struct srcinfo *si)
{
    free(si->name);
    free(si->image);
    for (size_t i = 0; i < si->ntags; i++)
        free(si->tags[i]);
    free(si->tags);
    free(si->cards);
    memset(si, 0, sizeof *si);
}

static void ent_free(struct ent *e)
{
    for (int c = 0; c < MD_CGC_N; c++)
        free(e->paths[c]);
    for (int s = 0; s < MD_SRC_N; s++)
        md_ctr_srcinfo_clear(&e->src[s]);
    free(e);
}

static bool ent_empty(const struct ent *e)
{
    if (e->in_cg)
        return false;
    for (int s = 0; s < MD_SRC_N; s++)
        if (e->src[s].set)
            return false;
    return true;
}

struct ent *md_ctr_find(struct md_containers *s, const char *id, size_t idlen)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->e[i]->id) == idlen && memcmp(s->e[i]->id, id, idlen) == 0)
            return s->e[i];
    return NULL;
}

struct ent *md_ctr_find_or_add(struct md_containers *s, const char *id)
{
    struct ent *e = md_ctr_find(s, id, strlen(id));
    if (e)
        return e;
    if (strlen(id) > MD_CID_MAX)
        return NULL;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        struct ent **ne = realloc(s->e, nc * sizeof *ne);
        if (!ne)
            return NULL;
        s->e = ne;
        s->cap = nc;
    }
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->runtime = "";
    s->e[s->n++] = e;
    return e;
}

/* Drop entries nobody knows any more (lock held). */
void md_ctr_compact(struct md_containers *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (ent_empty(s->e[i]))
            ent_free(s->e[i]);
        else
            s->e[j++] = s->e[i];
    }
    s->n = j;
}

static char *resolve_cgroup_root(const char *opt)
{
    if (opt && *opt)
        return strdup(opt);
    struct stat st;
    if (stat("/host/sys/fs/cgroup", &st) == 0 && S_ISDIR(st.st_mode))
        return strdup("/host/sys/fs/cgroup");
    return strdup("/sys/fs/cgroup");
}

struct md_containers *md_containers_new(const struct md_containers_opts *o, char *err, size_t errlen)
{
    struct md_containers *s = calloc(1, sizeof *s);
    char *root = resolve_cgroup_root(o ? o->cgroup_root : NULL);
    if (!s || !root) {
        free(s);
        free(root);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->walk_mu, NULL);
    s->procfs = md_procfs_dup_root(o ? o->procfs : NULL, "/proc");
    s->interval_ns = (int64_t)(o && o->discovery_interval_s ? o->discovery_interval_s : 30) * 1000000000;
    s->last_walk_ns = INT64_MIN / 2;
    if (!s->procfs ||
        filters_new(o ? o->include : NULL, o ? o->ninclude : 0, &s->inc, "container_include", err, errlen) < 0 ||
        filters_new(o ? o->exclude : NULL, o ? o->nexclude : 0, &s->exc, "container_exclude", err, errlen) < 0) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        free(root);
        md_containers_free(s);
        return NULL;
    }
    s->ninc = o ? o->ninclude : 0;
    s->nexc = o ? o->nexclude : 0;
    struct md_fbuf fb = {0};
    const char *mounts = md_procfs_read(&fb, s->procfs, "self/mounts") >= 0 ? fb.p : "";
    md_cg_layout_parse(&s->layout, mounts, root); /* NONE is not fatal: no containers */
    md_procfs_free(&fb);
    free(root);
    return s;
}

void md_containers_free(struct md_containers *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        ent_free(s->e[i]);
    free(s->e);
    for (size_t i = 0; s->inc && i < s->ninc; i++)
        regfree(&s->inc[i].re);
    for (size_t i = 0; s->exc && i < s->nexc; i++)
        regfree(&s->exc[i].re);
    free(s->inc);
    free(s->exc);
    free(s->procfs);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->walk_mu);
    free(s);
}

const struct md_cg_layout *md_containers_layout(const struct md_containers *s)
{
    return &s->layout;
}

uint64_t md_containers_version(const struct md_containers *s)
{
    return atomic_load(&s->version);
}

void md_containers_request_rescan(struct md_containers *s)
{
    atomic_store(&s->rescan, 1);
}

/* ---- walking -------------------------------------------------------------- */

struct found {
    char id[MD_CID_MAX + 1];
    int ctrl;
    char *path;
};

struct walk {
    struct found *f;
    size_t n, cap;
    int ctrl;
    size_t base_len;
};

static int walk_add(struct walk *w, const char *id, const char *rel)
{
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        struct found *nf = realloc(w->f, nc * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        w->f = nf;
        w->cap = nc;
    }
    struct found *f = &w->f[w->n];
    if (!(f->path = strdup(rel)))
        return -ENOMEM;
    snprintf(f->id, sizeof f->id, "%s", id);
    f->ctrl = w->ctrl;
    w->n++;
    return 0;
}

static void walk_dir(struct walk *w, char *path, size_t len, size_t cap, int depth)
{
    DIR *d = opendir(path);
    if (!d)
        return; /* vanished or not permitted: skip */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        size_t nl = strlen(de->d_name);
        if (len + 1 + nl + 1 > cap)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, nl + 1);
        char id[MD_CID_MAX + 1];
        if (md_containers_match(de->d_name, id)) {
            walk_add(w, id, path + w->base_len);
        } else if (depth < WALK_MAX_DEPTH && !ends_with(de->d_name, ".mount")) {
            walk_dir(w, path, len + 1 + nl, cap, depth + 1);
        }
        path[len] = '\0';
    }
    closedir(d);
}

static void walk_tree(struct walk *w, const char *mount, int ctrl)
{
    char path[4096];
    size_t n = strlen(mount);
    if (!n || n >= sizeof path)
        return;
    memcpy(path, mount, n + 1);
    w->ctrl = ctrl;
    w->base_len = n;
    walk_dir(w, path, n, sizeof path, 0);
}

static void merge_walk(struct md_containers *s, struct walk *w)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        struct ent *e = s->e[i];
        e->in_cg = false;
        for (int c = 0; c < MD_CGC_N; c++) {
            free(e->paths[c]);
            e->paths[c] = NULL;
        }
    }
    for (size_t i = 0; i < w->n; i++) {
        struct ent *e = md_ctr_find_or_add(s, w->f[i].id);
        if (!e)
            continue;
        e->in_cg = true;
        free(e->paths[w->f[i].ctrl]);
        e->paths[w->f[i].ctrl] = w->f[i].path;
        w->f[i].path = NULL;
        if (!e->pod_uid[0])
            md_containers_pod_uid(e->paths[w->f[i].ctrl], e->pod_uid, sizeof e->pod_uid);
        e->runtime = runtime_of(e->paths[w->f[i].ctrl]);
    }
    md_ctr_compact(s);
    atomic_fetch_add(&s->version, 1);
    pthread_mutex_unlock(&s->mu);
}

int md_containers_discover(struct md_containers *s, int64_t now_ns)
{
    if (s->layout.mode == MD_CG_NONE)
        return -ENOENT;
    pthread_mutex_lock(&s->walk_mu);
    bool due = now_ns - s->last_walk_ns >= s->interval_ns || atomic_exchange(&s->rescan, 0);
    if (!due) {
        pthread_mutex_unlock(&s->walk_mu);
        return 0;
    }
    struct walk w = {0};
    if (s->layout.mode == MD_CG_V2) {
        walk_tree(&w, s->layout.unified, MD_CGC_UNIFIED);
    } else {
        for (int c = 0; c < MD_CGC_N; c++)
            walk_tree(&w, s->layout.mount[c], c);
    }
    merge_walk(s, &w);
    for (size_t i = 0; i < w.n; i++)
        free(w.f[i].path);
    free(w.f);
    s->last_walk_ns = now_ns;
    pthread_mutex_unlock(&s->walk_mu);
    return 1;
}
