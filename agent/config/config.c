/*
 * config.c: loading the main configuration, layer by layer: defaults, the
 * file, METERD_<KEY> / DD_<KEY> environment variables, then --set. Each
 * layer walks the same sections (the agent's keys of config_keys.c, then
 * every sink's own keys) through the one engine of opt.c, so a sink's key
 * is found, parsed, overridden and checked exactly like the agent's, and
 * `meterd configcheck` validates what `meterd run` would. Errors name where
 * the value came from ("FILE:LINE: KEY: reason", "environment NAME: KEY:
 * reason", "--set KEY: reason") and never echo a secret.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "log.h"
#include "secrets.h"

size_t md_config_sections(const struct md_config *c, struct md_config_section *out, size_t max)
{
    size_t n = 0;
    if (max)
        out[n++] = (struct md_config_section){md_config_keys, (void *)c};
    for (size_t i = 0; i < MD_CONFIG_MAX_SINK_KINDS && n < max; i++) {
        const struct md_sink_ops *ops = md_sink_at(i);
        if (!ops)
            break;
        if (ops->keys && c->sink_conf[i])
            out[n++] = (struct md_config_section){ops->keys, c->sink_conf[i]};
    }
    return n;
}

/* The row for `name` in any section, and the struct it writes into. */
static const struct md_opt *cfg_find(const struct md_config *c, const char *name, void **base,
                                     bool *via_alias)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        const struct md_opt *k = md_opt_find(s[i].keys, name, via_alias);
        if (k) {
            *base = s[i].base;
            return k;
        }
    }
    return NULL;
}

static int cfg_unknown(struct md_opt_ctx *x, const struct md_config *c, int line,
                       const char *name)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS), best = SIZE_MAX;
    const char *hint = NULL;
    for (size_t i = 0; i < n; i++) {
        for (const struct md_opt *k = s[i].keys; k->name; k++) {
            size_t d = md_opt_distance(name, k->name);
            if (d < best) {
                best = d;
                hint = k->name;
            }
        }
    }
    char detail[96];
    if (!hint || best > 3 || best >= strlen(name))
        return md_opt_unknown(x, line, name, NULL);
    snprintf(detail, sizeof detail, "(did you mean %s?)", hint);
    return md_opt_unknown(x, line, name, detail);
}

/* Zero c, give every sink kind with keys its struct, apply every default. */
static int cfg_apply_defaults(struct md_opt_ctx *x, struct md_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < MD_CONFIG_MAX_SINK_KINDS; i++) {
        const struct md_sink_ops *ops = md_sink_at(i);
        if (!ops)
            break;
        if (ops->keys && !(c->sink_conf[i] = calloc(1, ops->conf_size)))
            return md_opt_oom(x);
    }
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        int rc = md_opt_defaults(x, s[i].keys, s[i].base);
        if (rc)
            return rc;
    }
    return 0;
}

void md_config_defaults(struct md_config *c)
{
    char err[256];
    struct md_opt_ctx x = {.err = err, .errlen = sizeof err};
    /* Defaults are checked by the unit tests; only memory can fail here. */
    (void)cfg_apply_defaults(&x, c);
}

/* Does any row of c's sections start with "prefix."? Then `prefix` is a map of keys. */
static bool cfg_is_parent(const struct md_config *c, const char *prefix)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS), pl = strlen(prefix);
    for (size_t i = 0; i < n; i++)
        for (const struct md_opt *k = s[i].keys; k->name; k++)
            if (strncmp(k->name, prefix, pl) == 0 && k->name[pl] == '.')
                return true;
    return false;
}

static int cfg_apply_map(struct md_opt_ctx *x, struct md_config *c, const struct md_ynode *map,
                         const char *prefix);

/* One key of the file (name is "proxy.http" for a nested one). */
static int cfg_apply_key(struct md_opt_ctx *x, struct md_config *c, const struct md_ynode *map,
                         size_t i, const char *name)
{
    bool alias;
    void *base;
    const struct md_opt *k = cfg_find(c, name, &base, &alias);
    int line = map->key_lines[i];
    const struct md_ynode *v = map->items[i];
    if (!k && cfg_is_parent(c, name)) {
        if (v->type == MD_Y_NULL)
            return 0;
        if (v->type != MD_Y_MAP)
            return md_opt_fail(x, line, name, "expected a map of keys, got %s",
                               md_opt_node_kind(v));
        return cfg_apply_map(x, c, v, name);
    }
    if (!k) {
        const char *why = md_config_ignored_why(name);
        if (!why)
            return cfg_unknown(x, c, line, name);
        md_opt_warn(x, line, name, "not implemented, ignored: %s", why);
        return 0;
    }
    if (alias && md_ymap_get(map, k->name))
        return md_opt_fail(x, line, map->keys[i], "old name of %s, which is set too; keep one",
                           k->name);
    if (alias) { /* a bad value names the key as the file wrote it */
        struct md_opt as_written = *k;
        as_written.name = name;
        return md_opt_set_node(x, &as_written, base, v, line);
    }
    return md_opt_set_node(x, k, base, v, line);
}

static int cfg_apply_map(struct md_opt_ctx *x, struct md_config *c, const struct md_ynode *map,
                         const char *prefix)
{
    for (size_t i = 0; i < map->n; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                 map->keys[i]);
        int rc = cfg_apply_key(x, c, map, i, name);
        if (rc)
            return rc;
    }
    return 0;
}

static int cfg_apply_file(struct md_opt_ctx *x, struct md_config *c, const struct md_ynode *root)
{
    if (root->type == MD_Y_NULL)
        return 0;
    if (root->type != MD_Y_MAP)
        return md_opt_fail(x, root->line, NULL,
                           "the top level must be a map of key: value, got %s",
                           md_opt_node_kind(root));
    return cfg_apply_map(x, c, root, NULL);
}

/* PREFIX + the key's name in capitals, '.' of a nested key as '_' ("DD_PROXY_HTTPS"). */
static void cfg_env_name(const char *prefix, const char *key, char *name, size_t len)
{
    size_t o = (size_t)snprintf(name, len, "%s", prefix);
    for (const char *s = key; *s && o + 1 < len; s++)
        name[o++] = *s == '.' ? '_' : (char)toupper((unsigned char)*s);
    name[o] = '\0';
}

/*
 * METERD_<KEY>, else DD_<KEY>, else the row's other Datadog names, as the
 * agent binds every key to DD_<KEY>. Empty counts as unset, as in Datadog.
 * *which is the variable that was used.
 */
static const char *cfg_env_value(const struct md_opt *k, char *name, size_t len,
                                 const char **which)
{
    static const char *const prefixes[] = {"METERD_", "DD_"};
    const char *v = NULL;
    *which = name;
    for (size_t p = 0; p < 2 && (!v || !*v); p++) {
        cfg_env_name(prefixes[p], k->name, name, len);
        v = getenv(name);
    }
    for (size_t e = 0; (!v || !*v) && e < 3 && k->env[e]; e++) {
        v = getenv(k->env[e]);
        *which = k->env[e];
    }
    return v && *v ? v : NULL;
}

/* The secret backend as loaded so far (the file's keys, then the environment's). */
static struct md_secret_backend cfg_backend(const struct md_config *c)
{
    return (struct md_secret_backend){c->secret_backend_command, &c->secret_backend_arguments,
                                      c->secret_backend_timeout,
                                      c->secret_backend_output_max_size};
}

/* Every key from METERD_<KEY> / DD_<KEY>; ENC[handle] values go through the backend. */
static int cfg_apply_env(struct md_opt_ctx *x, struct md_config *c, struct md_strlist *keep)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        for (const struct md_opt *k = s[i].keys; k->name; k++) {
            char name[96];
            const char *which;
            const char *v = cfg_env_value(k, name, sizeof name, &which);
            if (!v)
                continue;
            x->env = which;
            char *secret = NULL;
            /* Taken afresh: this pass may have just replaced the backend's strings. */
            struct md_secret_backend be = cfg_backend(c);
            int rc = md_secret_is_enc(v) ? md_secret_resolve_text(x, &be, k->name, v, &secret) : 0;
            if (!rc)
                rc = md_opt_set_text(x, k, s[i].base, secret ? secret : v);
            x->env = NULL;
            /* x->secrets borrows the resolved value until the load ends */
            if (secret && md_strlist_push(keep, secret) && !rc)
                rc = md_opt_oom(x);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int cfg_apply_sets(struct md_opt_ctx *x, struct md_config *c, char *const *sets,
                          size_t nsets)
{
    x->set = true;
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        char key[128];
        bool alias;
        void *base;
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - sets[i]) : (int)strlen(sets[i]),
                 sets[i]);
        if (!eq)
            return md_opt_fail(x, 0, key, "expected key=value");
        const struct md_opt *k = cfg_find(c, key, &base, &alias);
        int rc = k ? md_opt_set_text(x, k, base, eq + 1) : cfg_unknown(x, c, 0, key);
        if (rc)
            return rc;
    }
    x->set = false;
    return 0;
}

static bool cfg_is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Docker, podman, Kubernetes, ECS and systemd-nspawn each leave one of these. */
static bool cfg_in_container(void)
{
    return access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0 ||
           getenv("KUBERNETES_SERVICE_HOST") || getenv("ECS_CONTAINER_METADATA_URI_V4") ||
           getenv("ECS_CONTAINER_METADATA_URI") || getenv("container");
}

static int cfg_auto_path(char **field, const char *envname, const char *host_path,
                         const char *plain)
{
    if (*field && **field)
        return 0;
    const char *e = getenv(envname);
    const char *v = e && *e ? e : (cfg_in_container() && cfg_is_dir(host_path)) ? host_path : plain;
    char *dup = strdup(v);
    if (!dup)
        return -ENOMEM;
    free(*field);
    *field = dup;
    return 0;
}

/* Datadog's env key: the tag env:<value>, unless tags already names an env. */
static int cfg_env_tag(struct md_opt_ctx *x, struct md_config *c)
{
    if (!*c->env)
        return 0;
    for (size_t i = 0; i < c->tags.n; i++)
        if (strncmp(c->tags.v[i], "env:", 4) == 0)
            return 0;
    size_t n = strlen(c->env) + 5;
    char *t = malloc(n);
    if (!t)
        return md_opt_oom(x);
    snprintf(t, n, "env:%s", c->env);
    return md_strlist_push(&c->tags, t) ? md_opt_oom(x) : 0;
}

/* Fill what "empty" means for the paths, now that every layer has spoken. */
static int cfg_resolve(struct md_opt_ctx *x, struct md_config *c, const char *file)
{
    if (cfg_auto_path(&c->procfs_path, "HOST_PROC", "/host/proc", "/proc") ||
        cfg_auto_path(&c->sysfs_path, "HOST_SYS", "/host/sys", "/sys"))
        return md_opt_oom(x);
    if (!*c->confd_path) {
        const char *slash = file ? strrchr(file, '/') : NULL;
        char *dir = !file ? strdup("conf.d")
                    : !slash ? strdup(".")
                    : strndup(file, slash == file ? 1 : (size_t)(slash - file));
        char *sub = NULL;
        /* Installed layout, as datadog.yaml's: /etc/meterd/meterd.yaml + /etc/meterd/conf.d/. */
        if (dir && file && asprintf(&sub, "%s/conf.d", dir) > 0 && cfg_is_dir(sub)) {
            free(dir);
            dir = sub;
        } else {
            free(sub);
        }
        if (!dir)
            return md_opt_oom(x);
        free(c->confd_path);
        c->confd_path = dir;
    }
    return cfg_env_tag(x, c);
}

static void cfg_add_secret(struct md_opt_ctx *x, const char *s)
{
    /* ENC[handle] names a secret and is said in errors; the value it gives is added later. */
    if (s && !md_secret_is_enc(s) && x->nsecrets < MD_OPT_MAX_SECRETS)
        x->secrets[x->nsecrets++] = s;
}

/* Texts that must never appear in an error: every secret candidate from every layer. */
static void cfg_collect_secrets(struct md_opt_ctx *x, const struct md_config *c,
                                const struct md_ynode *root, char *const *sets, size_t nsets)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        for (const struct md_opt *k = s[i].keys; k->name; k++) {
            if (k->type != MD_OPT_SECRET)
                continue;
            const struct md_ynode *v = root ? md_ymap_get(root, k->name) : NULL;
            char name[96];
            const char *which;
            if (v && v->type == MD_Y_SCALAR)
                cfg_add_secret(x, v->scalar);
            cfg_add_secret(x, cfg_env_value(k, name, sizeof name, &which));
            size_t kl = strlen(k->name);
            for (size_t j = 0; j < nsets; j++)
                if (strncmp(sets[j], k->name, kl) == 0 && sets[j][kl] == '=')
                    cfg_add_secret(x, sets[j] + kl + 1);
        }
    }
}

/*
 * The secret backend's own keys from the file and the environment, before
 * anything else: they are needed to resolve the ENC[...] values of the
 * other keys. The full passes apply them again, which changes nothing.
 */
static int cfg_apply_backend(struct md_opt_ctx *x, struct md_config *c,
                             const struct md_ynode *root, const char *file)
{
    for (const struct md_opt *k = md_config_keys; k->name; k++) {
        if (strncmp(k->name, "secret_backend_", 15) != 0)
            continue;
        const struct md_ynode *v = root && root->type == MD_Y_MAP ? md_ymap_get(root, k->name)
                                                                   : NULL;
        char name[96];
        const char *which;
        const char *e = cfg_env_value(k, name, sizeof name, &which);
        int rc = 0;
        if (v) {
            x->file = file;
            for (size_t i = 0; i < root->n; i++)
                if (root->items[i] == v)
                    rc = md_opt_set_node(x, k, c, v, root->key_lines[i]);
            x->file = NULL;
        }
        if (!rc && e) {
            x->env = which;
            rc = md_opt_set_text(x, k, c, e);
            x->env = NULL;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int md_config_load(struct md_config *c, const char *file, char *const *sets, size_t nsets,
                   char *err, size_t errlen)
{
    char dummy[8];
    struct md_opt_ctx x = {.err = err && errlen ? err : dummy,
                           .errlen = err && errlen ? errlen : sizeof dummy};
    struct md_ynode *root = NULL;
    x.err[0] = '\0';
    int rc = cfg_apply_defaults(&x, c);
    if (!rc && file)
        rc = md_yaml_load_file(file, &root, x.err, x.errlen);
    if (rc)
        return rc;
    if (!(c->config_file = strdup(file ? file : ""))) {
        md_ynode_free(root);
        return md_opt_oom(&x);
    }
    x.notes = &c->notes;
    cfg_collect_secrets(&x, c, root && root->type == MD_Y_MAP ? root : NULL, sets, nsets);
    rc = cfg_apply_backend(&x, c, root, file);
    x.file = file;
    if (!rc && root) {
        struct md_secret_backend be = cfg_backend(c);
        rc = md_secret_resolve_tree(&x, &be, root);
    }
    if (!rc && root)
        rc = cfg_apply_file(&x, c, root);
    x.file = NULL;
    struct md_strlist env_secrets = {0};
    if (!rc)
        rc = cfg_apply_env(&x, c, &env_secrets);
    if (!rc)
        rc = cfg_apply_sets(&x, c, sets, nsets);
    if (!rc)
        rc = cfg_resolve(&x, c, file);
    md_ynode_free(root);
    md_strlist_free(&env_secrets);
    return rc;
}

void md_config_log_notes(const struct md_config *c)
{
    for (size_t i = 0; i < c->notes.n; i++)
        md_warn("%s", c->notes.v[i]);
}

void md_config_free(struct md_config *c)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++)
        md_opt_free(s[i].keys, s[i].base);
    for (size_t i = 0; i < MD_CONFIG_MAX_SINK_KINDS; i++)
        free(c->sink_conf[i]);
    free(c->config_file);
    md_strlist_free(&c->notes);
    memset(c, 0, sizeof *c);
}

const char *md_config_default_file(void)
{
    if (access(MD_CONFIG_DEFAULT_FILE, R_OK) == 0)
        return MD_CONFIG_DEFAULT_FILE;
    return access(MD_CONFIG_INSTALLED_FILE, R_OK) == 0 ? MD_CONFIG_INSTALLED_FILE : NULL;
}

const void *md_config_sink_conf(const struct md_config *c, const struct md_sink_ops *ops)
{
    for (size_t i = 0; i < MD_CONFIG_MAX_SINK_KINDS && md_sink_at(i); i++)
        if (md_sink_at(i) == ops)
            return c->sink_conf[i];
    return NULL;
}

size_t md_config_sinks(const struct md_config *c, const struct md_sink_ops **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->sinks.n && n < max; i++) {
        const struct md_sink_ops *ops = md_sink_lookup(c->sinks.v[i]);
        if (ops) /* names were checked against the registry at load */
            out[n++] = ops;
    }
    if (c->sinks.n)
        return n;
    for (size_t i = 0; n < max && md_sink_at(i); i++) {
        const struct md_sink_ops *ops = md_sink_at(i);
        if (ops->wanted && ops->wanted(md_config_sink_conf(c, ops)))
            out[n++] = ops;
    }
    if (n == 0 && max && (out[0] = md_sink_lookup("console")))
        n = 1;
    return n;
}
