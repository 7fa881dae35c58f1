/*
 * procfs.h: reading small kernel files through a configurable root.
 *
 * Every host collector reads /proc and /sys files relative to the roots
 * given in its instance conf (so /host/proc works in a container and tests
 * can point at a fixture tree). The file buffer belongs to the collector
 * instance and only grows, so steady-state runs do not allocate.
 */
#ifndef MD_PROCFS_H
#define MD_PROCFS_H

#include <stddef.h>
#include <stdint.h>

struct md_fbuf {
    char *p;
    size_t cap;
    size_t len;
};

/* "<root>/<rel>" into out; -ENAMETOOLONG when it does not fit. */
int md_procfs_path(char *out, size_t len, const char *root, const char *rel);
/* Read the whole file into fb (NUL-terminated, grows up to 64 MiB). Returns length or -errno. */
int md_procfs_read(struct md_fbuf *fb, const char *root, const char *rel);
void md_procfs_free(struct md_fbuf *fb);
/* Duplicate a root path for a collector state (defaulting NULL to def). */
char *md_procfs_dup_root(const char *root, const char *def);

/*
 * The root of the host file system implied by a proc root: "/host" for
 * "/host/proc", "" for "/proc" (mount points are then used as they are).
 */
void md_procfs_host_root(const char *procfs, char *out, size_t len);

/*
 * The state of a collector that reads files of one proc root through one
 * buffer. It is the whole state of uptime, file_handle, processes and
 * memory, whose configure and destroy callbacks are the two below; cpu,
 * load and self start their state with it, allocate it with
 * md_procfs_src_new and destroy it with md_procfs_src_destroy.
 */
struct md_instance_conf;
struct md_procfs_src {
    char *proc;
    struct md_fbuf fb;
};
/* A zeroed state of `size` bytes starting with a struct md_procfs_src; NULL with err. */
void *md_procfs_src_new(const struct md_instance_conf *conf, size_t size, char *err,
                        size_t errlen);
int md_procfs_src_configure(const struct md_instance_conf *conf, void **state, char *err,
                            size_t errlen);
void md_procfs_src_destroy(void *state);

/* Parse an unsigned decimal at *p (skipping blanks first); advances *p. Returns 0 or -EINVAL. */
int md_procfs_u64(const char **p, uint64_t *out);

#endif
