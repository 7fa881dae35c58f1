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
 *
 * Filters and tags follow the Datadog disk check, old and new key names
 * alike (devfilter.c): regexes match from the start (Python's re.match),
 * file system names without regard to case; an include list keeps only
 * what matches; init_config's *_global_exclude lists, with the check's
 * defaults (iso9660, tracefs, binfmt_misc), add to every instance's
 * excludes. One difference on purpose: include_all_devices defaults to
 * false, so pseudo and memory file systems (tmpfs, overlay) are reported
 * only when asked for, where the check reports them unless told not to.
 * Labels come from <host>/dev/disk/by-label (what blkid reports, kept by
 * udev), tagged label: and device_label:. Per block device it also sends
 * the check's read_time / write_time (ms, monotonic counts) and their _pct
 * rates from <proc>/diskstats.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "devfilter.h"
#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum {
    K_USE_MOUNT, K_ALL_PARTITIONS, K_ALL_DEVICES, K_FS_EXCLUDE, K_DEV_EXCLUDE, K_MP_EXCLUDE,
    K_MIN_SIZE, K_FS_INCLUDE, K_DEV_INCLUDE, K_MP_INCLUDE, K_FS_BLACK, K_DEV_BLACK, K_MP_BLACK,
    K_FS_WHITE, K_DEV_WHITE, K_MP_WHITE, K_EX_FS, K_EX_DISKS, K_EX_DISK_RE, K_EX_MP_RE,
    K_FS_GLOBAL, K_DEV_GLOBAL, K_MP_GLOBAL, K_FS_GLOBAL_OLD, K_DEV_GLOBAL_OLD, K_MP_GLOBAL_OLD,
    K_TAG_FS, K_TAG_LABEL, K_DEVICE_TAG_RE,
};

static const struct md_key_decl disk_keys[] = {
    {"use_mount", MD_KEY_BOOL, "false", 0, 0, "tag device: with the mount point instead of the device"},
    {"all_partitions", MD_KEY_BOOL, "false", 0, 0, "include pseudo file systems and those without a device"},
    {"include_all_devices", MD_KEY_BOOL, "false", 0, 0, "include pseudo and memory file systems (tmpfs, overlay ...)"},
    {"file_system_exclude", MD_KEY_REGEXLIST, "", 0, 0, "regexes of file system types to skip"},
    {"device_exclude", MD_KEY_REGEXLIST, "", 0, 0, "regexes of devices to skip"},
    {"mount_point_exclude", MD_KEY_REGEXLIST, "", 0, 0, "regexes of mount points to skip"},
    {"min_disk_size", MD_KEY_NUMBER, "0", 0, INT64_MAX >> 21, "skip file systems of at most this size, MiB"},
    {"file_system_include", MD_KEY_REGEXLIST, "", 0, 0, "regexes of the only file system types to report"},
    {"device_include", MD_KEY_REGEXLIST, "", 0, 0, "regexes of the only devices to report"},
    {"mount_point_include", MD_KEY_REGEXLIST, "", 0, 0, "regexes of the only mount points to report"},
    {"file_system_blacklist", MD_KEY_REGEXLIST, "", 0, 0, "old name of file_system_exclude"},
    {"device_blacklist", MD_KEY_REGEXLIST, "", 0, 0, "old name of device_exclude"},
    {"mount_point_blacklist", MD_KEY_REGEXLIST, "", 0, 0, "old name of mount_point_exclude"},
    {"file_system_whitelist", MD_KEY_REGEXLIST, "", 0, 0, "old name of file_system_include"},
    {"device_whitelist", MD_KEY_REGEXLIST, "", 0, 0, "old name of device_include"},
    {"mount_point_whitelist", MD_KEY_REGEXLIST, "", 0, 0, "old name of mount_point_include"},
    {"excluded_filesystems", MD_KEY_REGEXLIST, "", 0, 0, "file system types to skip (whole names)"},
    {"excluded_disks", MD_KEY_REGEXLIST, "", 0, 0, "devices to skip (whole names)"},
    {"excluded_disk_re", MD_KEY_REGEX, "", 0, 0, "regex of devices to skip"},
    {"excluded_mountpoint_re", MD_KEY_REGEX, "", 0, 0, "regex of mount points to skip"},
    /* The check's init_config defaults, added to every instance's excludes. */
    {"file_system_global_exclude", MD_KEY_REGEXLIST, "iso9660$ tracefs$", 0, 0,
     "file system types every instance skips", MD_KEY_F_INIT},
    {"device_global_exclude", MD_KEY_REGEXLIST, "", 0, 0, "devices every instance skips", MD_KEY_F_INIT},
    {"mount_point_global_exclude", MD_KEY_REGEXLIST, "(/host)?/proc/sys/fs/binfmt_misc$", 0, 0,
     "mount points every instance skips", MD_KEY_F_INIT},
    {"file_system_global_blacklist", MD_KEY_REGEXLIST, "", 0, 0, "old name of file_system_global_exclude", MD_KEY_F_INIT},
    {"device_global_blacklist", MD_KEY_REGEXLIST, "", 0, 0, "old name of device_global_exclude", MD_KEY_F_INIT},
    {"mount_point_global_blacklist", MD_KEY_REGEXLIST, "", 0, 0, "old name of mount_point_global_exclude", MD_KEY_F_INIT},
    {"tag_by_filesystem", MD_KEY_BOOL, "false", 0, 0, "tag filesystem:<type>"},
    {"tag_by_label", MD_KEY_BOOL, "true", 0, 0, "tag label: and device_label: from /dev/disk/by-label"},
    {"device_tag_re", MD_KEY_MAP, "", 0, 0, "regex of device (mount point with use_mount) -> comma-separated tags"},
    {"service_check_rw", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"blkid_cache_file", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"use_lsblk", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"timeout", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"lowercase_device_tag", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"create_mounts", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"enable_legacy_tags_normalization", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"proc_mountinfo_path", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"resolve_root_device", MD_KEY_IGNORED, "", 0, 0, NULL},
    {NULL, 0, NULL, 0, 0, NULL},
};

/* The filters a mount passes: by file system type, by device, by mount point. */
enum { F_FS, F_DEV, F_MP, F_N };

/*
 * Every filter key, new and old names, into the three filters. File system
 * names ignore case; excluded_filesystems and excluded_disks must match the
 * whole name, as the check appends "$" to them.
 */
static const struct md_devfilter_rule disk_rules[] = {
    {K_FS_EXCLUDE, F_FS, false, MD_DEVFILTER_ICASE},
    {K_FS_BLACK, F_FS, false, MD_DEVFILTER_ICASE},
    {K_EX_FS, F_FS, false, MD_DEVFILTER_ICASE | MD_DEVFILTER_WHOLE},
    {K_FS_GLOBAL, F_FS, false, MD_DEVFILTER_ICASE},
    {K_FS_GLOBAL_OLD, F_FS, false, MD_DEVFILTER_ICASE},
    {K_FS_INCLUDE, F_FS, true, MD_DEVFILTER_ICASE},
    {K_FS_WHITE, F_FS, true, MD_DEVFILTER_ICASE},
    {K_DEV_EXCLUDE, F_DEV, false, 0},
    {K_DEV_BLACK, F_DEV, false, 0},
    {K_EX_DISKS, F_DEV, false, MD_DEVFILTER_WHOLE},
    {K_EX_DISK_RE, F_DEV, false, 0},
    {K_DEV_GLOBAL, F_DEV, false, 0},
    {K_DEV_GLOBAL_OLD, F_DEV, false, 0},
    {K_DEV_INCLUDE, F_DEV, true, 0},
    {K_DEV_WHITE, F_DEV, true, 0},
    {K_MP_EXCLUDE, F_MP, false, 0},
    {K_MP_BLACK, F_MP, false, 0},
    {K_EX_MP_RE, F_MP, false, 0},
    {K_MP_GLOBAL, F_MP, false, 0},
    {K_MP_GLOBAL_OLD, F_MP, false, 0},
    {K_MP_INCLUDE, F_MP, true, 0},
    {K_MP_WHITE, F_MP, true, 0},
};

struct disk_label {
    char dev[64];     /* basename: "vda1" */
    char tags[2][160]; /* "label:X", "device_label:X" */
};

struct disk_state {
    struct md_procfs_src src; /* first (src.fb: the mount table); md_procfs_src_destroy frees it all */
    char host_root[512];
    const char *mounts_rel;
    struct md_fbuf fsbuf, dsbuf;
    bool use_mount, all, all_devices, by_fs, by_label;
    double min_bytes;
    struct md_devfilter filter[F_N];
    struct md_devfilter_list tag_re;
    const char *const *tag_re_tags; /* the map's values: tag_re.v[i] -> tag_re_tags[2i+1] */
    struct disk_label *labels;
    size_t nlabels, caplabels;
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

/* Tags device_tag_re gives name: each matching pattern's comma-separated tags. */
static size_t disk_re_tags(const struct disk_state *s, const char *name, const char **tags,
                           size_t max, char (*buf)[128])
{
    size_t n = 0;
    for (size_t i = 0; i < s->tag_re.n; i++) {
        if (!md_devfilter_list_match_one(&s->tag_re, i, name))
            continue;
        for (const char *p = s->tag_re_tags[2 * i + 1]; *p && n < max;) {
            size_t len = strcspn(p, ",");
            const char *t = p;
            while (len && *t == ' ')
                t++, len--;
            while (len && t[len - 1] == ' ')
                len--;
            if (len) {
                snprintf(buf[n], sizeof buf[n], "%.*s", (int)len, t);
                tags[n] = buf[n];
                n++;
            }
            p += strcspn(p, ",");
            p += *p == ',';
        }
    }
    return n;
}

static const struct disk_label *disk_label_of(const struct disk_state *s, const char *dev)
{
    const char *base = strrchr(dev, '/');
    base = base ? base + 1 : dev;
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].dev, base) == 0)
            return &s->labels[i];
    return NULL;
}

enum { DISK_MAX_TAGS = 24 };

/* Tags of one file system or block device: device, device_name, filesystem, labels, device_tag_re. */
static size_t disk_tags(const struct disk_state *s, const char *dev_tag, const char *dev,
                        const char *fstype, const char **tags, char (*buf)[128], char *t0, size_t t0len)
{
    size_t n = 0;
    const char *base = strrchr(dev, '/');
    snprintf(t0, t0len, "device:%s", dev_tag);
    tags[n++] = t0;
    snprintf(buf[n], sizeof buf[n], "device_name:%s", base ? base + 1 : dev);
    tags[n] = buf[n];
    n++;
    if (fstype && s->by_fs) {
        snprintf(buf[n], sizeof buf[n], "filesystem:%s", fstype);
        tags[n] = buf[n];
        n++;
    }
    const struct disk_label *l = s->by_label ? disk_label_of(s, dev) : NULL;
    if (l) {
        tags[n++] = l->tags[0];
        tags[n++] = l->tags[1];
    }
    return n + disk_re_tags(s, dev_tag, tags + n, DISK_MAX_TAGS - n, buf + n);
}

/*
 * Whether the check reports a mount: pseudo file systems only when asked,
 * mounts without a device only with all_partitions (and then the device
 * filters do not apply to them), and all three filters passed.
 */
static bool disk_wanted(const struct disk_state *s, const struct md_mount *m)
{
    bool nodev = m->device[0] == '\0' || strcmp(m->device, "none") == 0;
    if (nodev && !s->all)
        return false;
    if (!s->all && !s->all_devices && md_disk_is_pseudo(s->fsbuf.len ? s->fsbuf.p : NULL, m->fstype))
        return false;
    return md_devfilter_keep(&s->filter[F_FS], m->fstype) &&
           (nodev || md_devfilter_keep(&s->filter[F_DEV], m->device)) &&
           md_devfilter_keep(&s->filter[F_MP], m->mountpoint);
}

static void disk_emit(void *ud, const struct md_mount *m)
{
    struct disk_state *s = ud;
    if (!disk_wanted(s, m))
        return;
    char tag[1040];
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
    /* the check skips sizes up to and including min_disk_size, so empty ones always */
    if ((double)v.f_blocks * (double)v.f_frsize <= s->min_bytes)
        return;
    const char *tags[DISK_MAX_TAGS];
    char buf[DISK_MAX_TAGS][128];
    size_t nt = disk_tags(s, s->use_mount ? m->mountpoint : m->device, m->device, m->fstype, tags,
                          buf, tag, sizeof tag);
    struct md_disk_usage u;
    md_disk_compute(v.f_frsize, v.f_blocks, v.f_bfree, v.f_bavail, v.f_files, v.f_ffree, &u);
    struct md_emitter *e = s->e;
    md_gauge(e, "system.disk.total", u.total_kib, tags, nt);
    md_gauge(e, "system.disk.used", u.used_kib, tags, nt);
    md_gauge(e, "system.disk.free", u.free_kib, tags, nt);
    md_gauge(e, "system.disk.in_use", u.in_use, tags, nt);
    md_gauge(e, "system.disk.utilized", u.in_use * 100.0, tags, nt);
    if (v.f_files) {
        md_gauge(e, "system.fs.inodes.total", u.inodes_total, tags, nt);
        md_gauge(e, "system.fs.inodes.free", u.inodes_free, tags, nt);
        md_gauge(e, "system.fs.inodes.used", u.inodes_used, tags, nt);
        md_gauge(e, "system.fs.inodes.in_use", u.inodes_in_use, tags, nt);
        md_gauge(e, "system.fs.inodes.utilized", u.inodes_in_use * 100.0, tags, nt);
    }
}

/* read_time / write_time per block device, as the check takes them from psutil's disk_io_counters. */
static void disk_latency(void *ud, const struct md_diskstat *d)
{
    struct disk_state *s = ud;
    const char *tags[DISK_MAX_TAGS];
    char buf[DISK_MAX_TAGS][128], t0[96];
    size_t nt = disk_tags(s, d->name, d->name, NULL, tags, buf, t0, sizeof t0);
    md_monotonic(s->e, "system.disk.read_time", (double)d->rticks, tags, nt);
    md_monotonic(s->e, "system.disk.write_time", (double)d->wticks, tags, nt);
    /* ms per second * 100 / 1000: the check's figure, which it admits is not really a percentage */
    md_rate(s->e, "system.disk.read_time_pct", (double)d->rticks * 0.1, tags, nt);
    md_rate(s->e, "system.disk.write_time_pct", (double)d->wticks * 0.1, tags, nt);
}

/* "\x20" escapes of udev's by-label names decoded. */
static void label_decode(char *dst, size_t len, const char *src)
{
    size_t o = 0;
    for (size_t i = 0; src[i] && o + 1 < len; i++) {
        unsigned c;
        if (src[i] == '\\' && src[i + 1] == 'x' && sscanf(src + i + 2, "%2x", &c) == 1) {
            dst[o++] = (char)c;
            i += 3;
        } else {
            dst[o++] = src[i];
        }
    }
    dst[o] = '\0';
}

/* <host>/dev/disk/by-label/<label> -> ../../<dev>: the label of each device, re-read each run. */
static void disk_read_labels(struct disk_state *s)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/dev/disk/by-label", s->host_root);
    s->nlabels = 0;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char link[1200], target[256], label[128];
        if (de->d_name[0] == '.')
            continue;
        snprintf(link, sizeof link, "%s/%s", dir, de->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (s->nlabels == s->caplabels) {
            size_t ncap = s->caplabels ? s->caplabels * 2 : 8;
            struct disk_label *nl = realloc(s->labels, ncap * sizeof *nl);
            if (!nl)
                break;
            s->labels = nl;
            s->caplabels = ncap;
        }
        struct disk_label *l = &s->labels[s->nlabels++];
        const char *base = strrchr(target, '/');
        snprintf(l->dev, sizeof l->dev, "%.63s", base ? base + 1 : target);
        label_decode(label, sizeof label, de->d_name);
        snprintf(l->tags[0], sizeof l->tags[0], "label:%s", label);
        snprintf(l->tags[1], sizeof l->tags[1], "device_label:%s", label);
    }
    closedir(d);
}

static void disk_destroy(void *state)
{
    struct disk_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < F_N; i++)
        md_devfilter_free(&s->filter[i]);
    md_devfilter_list_free(&s->tag_re);
    free(s->labels);
    free(s->seen);
    md_procfs_free(&s->fsbuf);
    md_procfs_free(&s->dsbuf);
    md_procfs_src_destroy(s);
}

/* The filters, and device_tag_re's patterns (the map's keys) in map order. */
static int disk_filters(struct disk_state *s, const union md_key_value *v, char *err, size_t errlen)
{
    int rc = md_devfilter_load(s->filter, disk_rules, sizeof disk_rules / sizeof disk_rules[0],
                               disk_keys, v, err, errlen);
    const union md_key_value *tr = &v[K_DEVICE_TAG_RE];
    s->tag_re_tags = tr->list.v;
    for (size_t i = 0; rc == 0 && i + 1 < tr->list.n; i += 2)
        rc = md_devfilter_list_add(&s->tag_re, tr->list.v[i], 0, "device_tag_re", err, errlen);
    return rc;
}

static int disk_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct disk_state *s = md_procfs_src_new(conf, sizeof *s, err, errlen);
    if (!s)
        return -ENOMEM;
    md_procfs_host_root(s->src.proc, s->host_root, sizeof s->host_root);
    s->mounts_rel = strcmp(s->src.proc, "/proc") == 0 ? "mounts" : "1/mounts";
    s->use_mount = conf->values[K_USE_MOUNT].b;
    s->all = conf->values[K_ALL_PARTITIONS].b;
    s->all_devices = conf->values[K_ALL_DEVICES].b;
    s->by_fs = conf->values[K_TAG_FS].b;
    s->by_label = conf->values[K_TAG_LABEL].b;
    s->min_bytes = conf->values[K_MIN_SIZE].d * 1048576.0;
    int rc = disk_filters(s, conf->values, err, errlen);
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        disk_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

static int disk_collect(void *state, struct md_emitter *e)
{
    struct disk_state *s = state;
    int rc = md_procfs_read(&s->src.fb, s->src.proc, s->mounts_rel);
    if (rc == -ENOENT && strcmp(s->mounts_rel, "mounts") != 0) {
        s->mounts_rel = "mounts";
        rc = md_procfs_read(&s->src.fb, s->src.proc, s->mounts_rel);
    }
    if (rc < 0)
        return rc;
    if (md_procfs_read(&s->fsbuf, s->src.proc, "filesystems") < 0)
        s->fsbuf.len = 0;
    s->nseen = 0;
    s->errors = 0;
    s->e = e;
    if (s->by_label)
        disk_read_labels(s);
    rc = md_disk_parse_mounts(s->src.fb.p, disk_emit, s);
    if (rc >= 0 && md_procfs_read(&s->dsbuf, s->src.proc, "diskstats") >= 0)
        md_io_parse_diskstats(s->dsbuf.p, disk_latency, s);
    s->e = NULL;
    return rc < 0 ? rc : 0;
}

const struct md_collector_ops md_collector_disk = {
    .name = "disk",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .keys = disk_keys,
    .configure = disk_configure,
    .collect = disk_collect,
    .destroy = disk_destroy,
};
