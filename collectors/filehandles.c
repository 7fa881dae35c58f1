/*
 * filehandles.c: the `file_handle` collector (system.fs.file_handles.*),
 * from <proc>/sys/fs/file-nr (TAB separated: allocated, allocated but
 * unused — always 0 on modern kernels — and the system-wide maximum).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

int md_fh_parse_file_nr(const char *text, struct md_file_nr *out)
{
    const char *p = text;
    if (md_procfs_u64(&p, &out->allocated) < 0 || md_procfs_u64(&p, &out->unused) < 0 ||
        md_procfs_u64(&p, &out->max) < 0)
        return -EINVAL;
    return 0;
}

static int fh_collect(void *state, struct md_emitter *e)
{
    struct md_procfs_src *s = state;
    struct md_file_nr f;
    int rc = md_procfs_read(&s->fb, s->proc, "sys/fs/file-nr");
    if (rc < 0)
        return rc;
    if ((rc = md_fh_parse_file_nr(s->fb.p, &f)) < 0)
        return rc;
    double used = f.allocated > f.unused ? (double)(f.allocated - f.unused) : 0;
    md_gauge(e, "system.fs.file_handles.allocated", (double)f.allocated, NULL, 0);
    md_gauge(e, "system.fs.file_handles.allocated_unused", (double)f.unused, NULL, 0);
    md_gauge(e, "system.fs.file_handles.max", (double)f.max, NULL, 0);
    md_gauge(e, "system.fs.file_handles.used", used, NULL, 0);
    if (f.max)
        md_gauge(e, "system.fs.file_handles.in_use", used / (double)f.max, NULL, 0);
    return 0;
}

const struct md_collector_ops md_collector_file_handle = {
    .name = "file_handle",
    .default_on = true,
    .default_interval = 15,
    .configure = md_procfs_src_configure,
    .collect = fh_collect,
    .destroy = md_procfs_src_destroy,
};
