/*
 * procfs.c: the few file-reading helpers all host collectors share; see
 * procfs.h. Files in /proc report size 0, so reading is a loop until EOF
 * into a buffer that doubles when full.
 */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meterd/collector.h"

#define MD_PROCFS_MAX (64u << 20)

int md_procfs_path(char *out, size_t len, const char *root, const char *rel)
{
    int n = snprintf(out, len, "%s/%s", root ? root : "", rel);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

static int fbuf_grow(struct md_fbuf *fb)
{
    size_t ncap = fb->cap ? fb->cap * 2 : 4096;
    if (ncap > MD_PROCFS_MAX)
        return -EFBIG;
    char *np = realloc(fb->p, ncap);
    if (!np)
        return -ENOMEM;
    fb->p = np;
    fb->cap = ncap;
    return 0;
}

int md_procfs_read(struct md_fbuf *fb, const char *root, const char *rel)
{
    char path[4096];
    int rc = md_procfs_path(path, sizeof path, root, rel);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    fb->len = 0;
    for (;;) {
        if (fb->cap - fb->len < 2 && (rc = fbuf_grow(fb)) < 0)
            break;
        ssize_t n = read(fd, fb->p + fb->len, fb->cap - fb->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0) {
            rc = 0;
            break;
        }
        fb->len += (size_t)n;
    }
    close(fd);
    if (rc < 0)
        return rc;
    fb->p[fb->len] = '\0';
    return fb->len > (size_t)INT32_MAX ? -EFBIG : (int)fb->len;
}

void md_procfs_free(struct md_fbuf *fb)
{
    free(fb->p);
    fb->p = NULL;
    fb->cap = fb->len = 0;
}

char *md_procfs_dup_root(const char *root, const char *def)
{
    const char *r = root && *root ? root : def;
    size_t n = strlen(r);
    while (n > 1 && r[n - 1] == '/')
        n--;
    return strndup(r, n);
}

void *md_procfs_src_new(const struct md_instance_conf *conf, size_t size, char *err,
                        size_t errlen)
{
    struct md_procfs_src *s = calloc(1, size);
    if (!s || !(s->proc = md_procfs_dup_root(conf->procfs_path, "/proc"))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return s;
}

int md_procfs_src_configure(const struct md_instance_conf *conf, void **state, char *err,
                            size_t errlen)
{
    *state = md_procfs_src_new(conf, sizeof(struct md_procfs_src), err, errlen);
    return *state ? 0 : -ENOMEM;
}

void md_procfs_src_destroy(void *state)
{
    struct md_procfs_src *s = state;
    if (!s)
        return;
    md_procfs_free(&s->fb);
    free(s->proc);
    free(s);
}

void md_procfs_host_root(const char *procfs, char *out, size_t len)
{
    out[0] = '\0';
    if (!procfs || len == 0)
        return;
    size_t n = strlen(procfs);
    while (n > 1 && procfs[n - 1] == '/')
        n--;
    /* "/proc" itself: the host root is "/", written as "" so paths join cleanly. */
    if (n >= 5 && strncmp(procfs + n - 5, "/proc", 5) == 0 && n - 5 < len) {
        memcpy(out, procfs, n - 5);
        out[n - 5] = '\0';
    }
}

int md_procfs_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *out = v;
    *p = s;
    return 0;
}
