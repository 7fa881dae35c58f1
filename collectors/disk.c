/*
 * disk.c: the `disk` collector (system.disk.*, system.fs.inodes.*): space
 * per mounted file system via statvfs(3).
 *
 * Mounts come from <proc>/mounts; with a non-default proc root (/host/proc
 * in a container) they come from <proc>/1/mounts, the host's mount
 * namespace, and every mount point is resolved under the host root implied
 * by the proc root ("/host" + "/var"), which must therefore be the host's /
 * mounted read-only at /host (docker run -v /:/host:ro). Pseudo file
 * systems are skipped the way psutil does it: those marked "nodev" in
 * <proc>/filesystems. Units follow the Datadog agent: KiB, fractions.
 * statvfs of a hung network mount blocks; the runner calls collect on a
 * worker thread and skips (counts) runs while one is still going.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum { K_USE_MOUNT, K_ALL_PARTITIONS, K_FS_EXCLUDE, K_DEV_EXCLUDE, K_MP_EXCLUDE, K_MIN_SIZE };

static const struct md_key_decl disk_keys[] = {
    {"use_mount", MD_KEY_BOOL, "false", 0, 0, "tag device: with the mount point instead of the device"},
    {"all_partitions", MD_KEY_BOOL, "false", 0, 0, "include pseudo and virtual file systems"},
    {"file_system_exclude", MD_KEY_STRLIST, "", 0, 0, "regexes of file system types to skip"},
    {"device_exclude", MD_KEY_STRLIST, "", 0, 0, "regexes of devices to skip"},
    {"mount_point_exclude", MD_KEY_STRLIST, "", 0, 0, "regexes of mount points to skip"},
    {"min_disk_size", MD_KEY_INT, "0", 0, INT64_MAX / (1 << 20), "skip file systems smaller than this, MiB"},
    {NULL, 0, NULL, 0, 0, NULL},
};

struct relist {
    regex_t *v;
    size_t n;
};

struct disk_state {
    char *proc;
    char host_root[512];
    const char *mounts_rel;
    struct md_fbuf fb, fsbuf;
    bool use_mount, all;
    uint64_t min_bytes;
    struct relist fs_ex, dev_ex, mp_ex;
    char (*seen)[1040];
    size_t nseen, capseen;
    struct md_emitter *e;
    int errors;
};

static void unescape(char *dst, size_t len, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        if (src[i] == '\\' && i + 3 < n && src[i + 1] >= '0' && src[i + 1] <= '3' && src[i + 2] >= '0' && src[i + 2] <= '7' && src[i + 3] >= '0' && src[i + 3] <= '7') {
            dst[o++] = (char)((src[i + 1] - '0') * 64 + (src[i + 2] - '0') * 8 + (src[i + 3] - '0'));
            i += 3;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
}

static const char *field(const char *p, const char **end)
{
    while (*p == ' ' || *p == '\t')
        p++;
    const char *e = p;
    while (*e && *e != ' ' && *e != '\t' && *e != '\n')
        e++;
    *end = e;
    return p;
}

int md_disk_parse_mounts(const char *text, void (*fn)(void *ud, const struct md_mount *m), void *ud)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *e1, *e2, *e3;
        const char *dev = field(line, &e1);
        const char *mp = field(e1, &e2);
        const char *fs = field(e2, &e3);
        if (e1 > dev) {
            if (e2 == mp || e3 == fs)
                return -EINVAL;
            struct md_mount m;
            unescape(m.device, sizeof m.device, dev, (size_t)(e1 - dev));
            unescape(m.mountpoint, sizeof m.mountpoint, mp, (size_t)(e2 - mp));
            unescape(m.fstype, sizeof m.fstype, fs, (size_t)(e3 - fs));
            fn(ud, &m);
            n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

bool md_disk_is_pseudo(const char *filesystems, const char *fstype)
{
    static const char *const builtin[] = {
        "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "overlay", "mqueue",
        "debugfs", "tracefs", "securityfs", "pstore", "bpf", "autofs", "fusectl", "hugetlbfs",
        "configfs", "binfmt_misc", "rpc_pipefs", "nsfs", "ramfs", "squashfs", NULL};
    if (!filesystems) {
        for (size_t i = 0; builtin[i]; i++)
            if (strcmp(builtin[i], fstype) == 0)
                return true;
        return false;
    }
    size_t n = strlen(fstype);
    for (const char *line = filesystems; line && *line;) {
        const char *nl = strchr(line, '\n');
        bool nodev = strncmp(line, "nodev", 5) == 0;
        const char *name = line + (nodev ? 5 : 0);
        while (*name == '\t' || *name == ' ')
            name++;
        size_t len = nl ? (size_t)(nl - name) : strlen(name);
        if (len == n && strncmp(name, fstype, n) == 0)
            return nodev;
        line = nl ? nl + 1 : NULL;
    }
    /* Unknown to the kernel's list: psutil keeps only listed block file systems (and zfs). */
    return strcmp(fstype, "zfs") != 0;
}

void md_disk_compute(uint64_t frsize, uint64_t blocks, uint64_t bfree, uint64_t bavail,
                     uint64_t files, uint64_t ffree, struct md_disk_usage *out)
{
    double total = (double)blocks * (double)frsize;
    double used = blocks > bfree ? (double)(blocks - bfree) * (double)frsize : 0;
    double avail = (double)bavail * (double)frsize;
    memset(out, 0, sizeof *out);
    out->total_kib = total / 1024.0;
    out->used_kib = used / 1024.0;
    out->free_kib = avail / 1024.0;
    /* psutil: used / (used + avail), so reserved blocks do not count as free */
    out->in_use = used + avail > 0 ? used / (used + avail) : 0;
    out->inodes_total = (double)files;
    out->inodes_free = (double)ffree;
    out->inodes_used = files > ffree ? (double)(files - ffree) : 0;
    out->inodes_in_use = files ? out->inodes_used / (double)files : 0;
}

static bool relist_match(const struct relist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (regexec(&l->v[i], s, 0, NULL, 0) == 0)
            return true;
    return false;
}

/* One emission per device tag: bind mounts and duplicates in the mount table show once. */
static bool disk_seen(struct disk_state *s, const char *tag)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (strcmp(s->seen[i], tag) == 0)
            return true;
    if (s->nseen == s->capseen) {
        size_t ncap = s->capseen ? s->capseen * 2 : 32;
        void *np = realloc(s->seen, ncap * sizeof *s->seen);
        if (!np)
            return false;
        s->seen = np;
        s->capseen = ncap;
    }
    snprintf(s->seen[s->nseen++], sizeof s->seen[0], "%s", tag);
    return false;
}

static void disk_emit(void *ud, const struct md_mount *m)
{
    struct disk_state *s = ud;
    if (!s->all && (md_disk_is_pseudo(s->fsbuf.len ? s->fsbuf.p : NULL, m->fstype) ||
                    m->device[0] == '\0' || strcmp(m->device, "none") == 0))
        return;
    if (relist_match(&s->fs_ex, m->fstype) || relist_match(&s->dev_ex, m->device) ||
        relist_match(&s->mp_ex, m->mountpoint))
        return;
    char tag[1040], name[280];
    snprintf(tag, sizeof tag, "device:%s", s->use_mount ? m->mountpoint : m->device);
    if (disk_seen(s, tag))
        return;
    char path[1600];
    snprintf(path, sizeof path, "%s%s", s->host_root, m->mountpoint);
    struct statvfs v;
    if (statvfs(path, &v) != 0) {
        s->errors++;
        return;
    }
    if (v.f_blocks == 0 || (double)v.f_blocks * v.f_frsize < (double)s->min_bytes)
        return;
    const char *base = strrchr(m->device, '/');
    snprintf(name, sizeof name, "device_name:%s", base ? base + 1 : m->device);
    const char *tags[] = {tag, name};
    struct md_disk_usage u;
    md_disk_compute(v.f_frsize, v.f_blocks, v.f_bfree, v.f_bavail, v.f_files, v.f_ffree, &u);
    struct md_emitter *e = s->e;
    md_gauge(e, "system.disk.total", u.total_kib, tags, 2);
    md_gauge(e, "system.disk.used", u.used_kib, tags, 2);
    md_gauge(e, "system.disk.free", u.free_kib, tags, 2);
    md_gauge(e, "system.disk.in_use", u.in_use, tags, 2);
    md_gauge(e, "system.disk.utilized", u.in_use * 100.0, tags, 2);
    if (v.f_files) {
        md_gauge(e, "system.fs.inodes.total", u.inodes_total, tags, 2);
        md_gauge(e, "system.fs.inodes.free", u.inodes_free, tags, 2);
        md_gauge(e, "system.fs.inodes.used", u.inodes_used, tags, 2);
        md_gauge(e, "system.fs.inodes.in_use", u.inodes_in_use, tags, 2);
    }
}

static void relist_free(struct relist *l)
{
    for (size_t i = 0; i < l->n; i++)
        regfree(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int relist_compile(struct relist *l, const union md_key_value *v, const char *key,
                          char *err, size_t errlen)
{
    if (v->list.n == 0)
        return 0;
    l->v = calloc(v->list.n, sizeof *l->v);
    if (!l->v)
        return -ENOMEM;
    for (size_t i = 0; i < v->list.n; i++) {
        if (regcomp(&l->v[i], v->list.v[i], REG_EXTENDED | REG_NOSUB) != 0) {
            snprintf(err, errlen, "%s: invalid regular expression '%s'", key, v->list.v[i]);
            return -EINVAL;
        }
        l->n++;
    }
    return 0;
}

static void disk_destroy(void *state)
{
    struct disk_state *s = state;
    if (!s)
        return;
    relist_free(&s->fs_ex);
    relist_free(&s->dev_ex);
    relist_free(&s->mp_ex);
    free(s->seen);
    md_procfs_free(&s->fb);
    md_procfs_free(&s->fsbuf);
    free(s->proc);
    free(s);
}

static int disk_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct disk_state *s = calloc(1, sizeof *s);
    if (!s || !(s->proc = md_procfs_dup_root(conf->procfs_path, "/proc"))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    md_procfs_host_root(s->proc, s->host_root, sizeof s->host_root);
    s->mounts_rel = strcmp(s->proc, "/proc") == 0 ? "mounts" : "1/mounts";
    s->use_mount = conf->values[K_USE_MOUNT].b;
    s->all = conf->values[K_ALL_PARTITIONS].b;
    s->min_bytes = (uint64_t)conf->values[K_MIN_SIZE].i << 20;
    int rc;
    if ((rc = relist_compile(&s->fs_ex, &conf->values[K_FS_EXCLUDE], "file_system_exclude", err, errlen)) < 0 ||
        (rc = relist_compile(&s->dev_ex, &conf->values[K_DEV_EXCLUDE], "device_exclude", err, errlen)) < 0 ||
        (rc = relist_compile(&s->mp_ex, &conf->values[K_MP_EXCLUDE], "mount_point_exclude", err, errlen)) < 0) {
        disk_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int disk_collect(void *state, struct md_emitter *e)
{
    struct disk_state *s = state;
    int rc = md_procfs_read(&s->fb, s->proc, s->mounts_rel);
    if (rc == -ENOENT && strcmp(s->mounts_rel, "mounts") != 0) {
        s->mounts_rel = "mounts";
        rc = md_procfs_read(&s->fb, s->proc, s->mounts_rel);
    }
    if (rc < 0)
        return rc;
    if (md_procfs_read(&s->fsbuf, s->proc, "filesystems") < 0)
        s->fsbuf.len = 0;
    s->nseen = 0;
    s->errors = 0;
    s->e = e;
    rc = md_disk_parse_mounts(s->fb.p, disk_emit, s);
    s->e = NULL;
    return rc < 0 ? rc : 0;
}

const struct md_collector_ops md_collector_disk = {
    .name = "disk",
    .default_on = true,
    .default_interval = 15,
    .keys = disk_keys,
    .configure = disk_configure,
    .collect = disk_collect,
    .destroy = disk_destroy,
};
