/*
 * test_collectors.c: the host collectors' parsers against the real files
 * captured on the dev VM (tests/fixtures/proc), the collectors driven
 * through the runner over a fake proc root holding the t0/t1 fixture
 * pairs (expected rates computed here from the fixture numbers and the
 * uptime interval), and the collectors against this machine's own /proc,
 * compared with an independent reading taken in the test.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "host.h"
#include "test_collectors_common.h"

/* dt between the t0 and t1 captures, from the uptime fixtures */
static double fx_dt(void)
{
    char *a = fx_read("proc/uptime.t0.txt"), *b = fx_read("proc/uptime.t1.txt");
    double u0, u1;
    assert_int_equal(md_uptime_parse(a, &u0, NULL), 0);
    assert_int_equal(md_uptime_parse(b, &u1, NULL), 0);
    free(a);
    free(b);
    return u1 - u0;
}

/* ---- parsers ------------------------------------------------------------ */

static void test_cpu_parse(void **st)
{
    char *t = fx_read("proc/stat.t0.txt");
    struct md_cpu_times c;
    assert_int_equal(md_cpu_parse_stat(t, &c), 0);
    assert_int_equal(c.user, 8612);
    assert_int_equal(c.system, 6188);
    assert_int_equal(c.idle, 56415);
    assert_int_equal(c.iowait, 841);
    assert_int_equal(c.softirq, 496);
    assert_int_equal(c.steal, 71);
    assert_int_equal(c.ncpu, 2);
    assert_int_equal(c.ctxt, 1558263);
    assert_int_equal(c.processes, 21783);
    assert_int_equal(c.procs_running, 1);
    assert_int_equal(c.btime, 1795824633);
    free(t);
    assert_int_equal(md_cpu_parse_stat("intr 1 2\nctxt 5\n", &c), -EINVAL);
    assert_int_equal(md_cpu_parse_stat("cpu  1 2\n", &c), -EINVAL);
    assert_int_equal(md_cpu_parse_stat("", &c), -EINVAL);
}

static void test_cpu_compute(void **st)
{
    char *a = fx_read("proc/stat.t0.txt"), *b = fx_read("proc/stat.t1.txt");
    struct md_cpu_times t0, t1;
    struct md_cpu_pct p;
    assert_int_equal(md_cpu_parse_stat(a, &t0), 0);
    assert_int_equal(md_cpu_parse_stat(b, &t1), 0);
    assert_int_equal(md_cpu_compute(&t0, &t1, &p), 0);
    /* aggregate lines: cpu 8612 0 6188 56415 841 0 496 71 / cpu 8687 0 6339 56724 854 0 496 71 */
    double total = (8687 - 8612) + (6339 - 6188) + (56724 - 56415) + (854 - 841) + (496 - 496) + (71 - 71);
    assert_float_equal(p.user, 100.0 * (8687 - 8612) / total, 1e-9);
    assert_float_equal(p.system, 100.0 * ((6339 - 6188) + (496 - 496)) / total, 1e-9);
    assert_float_equal(p.iowait, 100.0 * (854 - 841) / total, 1e-9);
    assert_float_equal(p.idle, 100.0 * (56724 - 56415) / total, 1e-9);
    assert_float_equal(p.stolen, 0.0, 1e-9);
    /* the worked vector of collectors.md §2.1 */
    assert_float_equal(p.user, 13.69, 0.01);
    assert_float_equal(p.system, 27.55, 0.01);
    assert_float_equal(p.idle, 56.39, 0.01);
    /* backwards (reset) and no time: nothing */
    assert_int_equal(md_cpu_compute(&t1, &t0, &p), -EAGAIN);
    assert_int_equal(md_cpu_compute(&t0, &t0, &p), -EAGAIN);
    free(a);
    free(b);
}

static void test_meminfo_parse(void **st)
{
    char *t = fx_read("proc/meminfo.t0.txt");
    struct md_meminfo m;
    assert_int_equal(md_mem_parse_meminfo(t, &m), 0);
    assert_int_equal(m.total, 24683656);
    assert_int_equal(m.free, 22650044);
    assert_int_equal(m.available, 24227752);
    assert_true(m.has_available);
    assert_int_equal(m.cached, 1712252);
    assert_int_equal(m.sreclaimable, 119252);
    assert_int_equal(m.swap_total, 0);
    assert_int_equal(m.commit_limit, 12341828);
    free(t);
    assert_int_equal(md_mem_parse_meminfo("MemFree: 1 kB\n", &m), -EINVAL);
    assert_int_equal(md_mem_parse_meminfo("MemTotal: x kB\n", &m), -EINVAL);
    t = fx_read("proc/vmstat.t1.txt");
    uint64_t v;
    assert_int_equal(md_mem_parse_vmstat_key(t, "pgpgout", &v), 0);
    assert_int_equal(v, 3645740);
    assert_int_equal(md_mem_parse_vmstat_key(t, "pswpin", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(md_mem_parse_vmstat_key(t, "nosuchkey", &v), -ENOENT);
    free(t);
}

static void test_small_files(void **st)
{
    char *t = fx_read("proc/loadavg.t0.txt");
    struct md_loadavg l;
    assert_int_equal(md_load_parse(t, &l), 0);
    assert_float_equal(l.l1, 1.22, 1e-12);
    assert_float_equal(l.l5, 0.57, 1e-12);
    assert_float_equal(l.l15, 0.22, 1e-12);
    assert_int_equal(l.running, 1);
    assert_int_equal(l.total, 109);
    free(t);
    assert_int_equal(md_load_parse("garbage", &l), -EINVAL);

    t = fx_read("proc/sys_fs_file-nr.t0.txt");
    struct md_file_nr f;
    assert_int_equal(md_fh_parse_file_nr(t, &f), 0);
    assert_int_equal(f.allocated, 364);
    assert_int_equal(f.unused, 0);
    assert_int_equal(f.max, 2466174);
    free(t);
    assert_int_equal(md_fh_parse_file_nr("12\t0\n", &f), -EINVAL);

    double up, idle;
    t = fx_read("proc/uptime.t1.txt");
    assert_int_equal(md_uptime_parse(t, &up, &idle), 0);
    assert_float_equal(up, 367.81, 1e-9);
    assert_float_equal(idle, 567.25, 1e-9);
    free(t);
    assert_int_equal(md_uptime_parse("-", &up, NULL), -EINVAL);

    struct md_self_stat s;
    /* comm with spaces and parentheses: fields restart after the last ')' */
    const char *stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 900 0 0 0 123 45 0 0 20 0 7 0 100 0 0";
    assert_int_equal(md_self_parse_stat(stat, &s), 0);
    assert_int_equal(s.utime, 123);
    assert_int_equal(s.stime, 45);
    assert_int_equal(s.num_threads, 7);
    assert_int_equal(md_self_parse_stat("4242 (x S 1", &s), -EINVAL);
    uint64_t res;
    assert_int_equal(md_self_parse_statm("2600 812 500 100 0 300 0\n", &res), 0);
    assert_int_equal(res, 812);
}

struct netcol {
    struct md_netdev d[16];
    int n;
};
static void net_cb(void *ud, const struct md_netdev *d)
{
    struct netcol *c = ud;
    if (c->n < 16)
        c->d[c->n++] = *d;
}

static void test_netdev_parse(void **st)
{
    char *t = fx_read("proc/net_dev.t0.txt");
    struct netcol c = {0};
    assert_int_equal(md_net_parse_dev(t, net_cb, &c), 4);
    assert_string_equal(c.d[0].name, "lo");
    assert_int_equal(c.d[0].rx_bytes, 406849904);
    assert_int_equal(c.d[0].rx_packets, 3001483);
    assert_int_equal(c.d[0].tx_bytes, 406849904);
    assert_string_equal(c.d[3].name, "eth0");
    assert_int_equal(c.d[3].rx_bytes, 103341260);
    assert_int_equal(c.d[3].tx_bytes, 180244);
    assert_int_equal(c.d[3].tx_packets, 2265);
    free(t);
    t = fx_read("proc/net_dev.netns_veth.txt");
    memset(&c, 0, sizeof c);
    assert_int_equal(md_net_parse_dev(t, net_cb, &c), 2);
    assert_string_equal(c.d[1].name, "ddv1");
    assert_int_equal(c.d[1].rx_bytes, 3305);
    assert_int_equal(c.d[1].tx_bytes, 5541);
    free(t);
    memset(&c, 0, sizeof c);
    assert_int_equal(md_net_parse_dev("h\nh\n  eth0: 1 2 3\n", net_cb, &c), -EINVAL);
}

struct diskcol {
    struct md_diskstat d[16];
    int n;
};
static void disk_cb(void *ud, const struct md_diskstat *d)
{
    struct diskcol *c = ud;
    if (c->n < 16)
        c->d[c->n++] = *d;
}
static const struct md_diskstat *find_dev(const struct diskcol *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->d[i].name, name) == 0)
            return &c->d[i];
    return NULL;
}

static void test_diskstats(void **st)
{
    char *a = fx_read("proc/diskstats.t0.txt"), *b = fx_read("proc/diskstats.t1.txt");
    struct diskcol c0 = {0}, c1 = {0};
    assert_int_equal(md_io_parse_diskstats(a, disk_cb, &c0), 10);
    assert_int_equal(md_io_parse_diskstats(b, disk_cb, &c1), 10);
    const struct md_diskstat *v0 = find_dev(&c0, "vda"), *v1 = find_dev(&c1, "vda");
    assert_non_null(v0);
    assert_int_equal(v0->major, 254);
    assert_int_equal(v0->reads, 47750);
    assert_int_equal(v0->wsect, 7121440);
    assert_int_equal(v0->weighted, 62894);
    struct md_io_derived x;
    double dt = fx_dt();
    assert_int_equal(md_io_compute(v0, v1, dt, &x), 0);
    /* vda t0: 47750 9023 3833490 14298 31575 12559 7121440 43751 0 12176 62894
     * vda t1: 47789 9032 3834034 14310 31659 12560 7291480 43952 0 12336 63188 */
    double r = 47789 - 47750, w = 31659 - 31575;
    double rs = 3834034 - 3833490, ws = 7291480 - 7121440;
    double rt = 14310 - 14298, wt = 43952 - 43751;
    assert_float_equal(x.rkb_s, rs * 512 / 1024 / dt, 1e-9);
    assert_float_equal(x.wkb_s, ws * 512 / 1024 / dt, 1e-9);
    assert_float_equal(x.avg_rq_sz, (rs + ws) / (r + w), 1e-9);
    assert_float_equal(x.await, (rt + wt) / (r + w), 1e-9);
    assert_float_equal(x.r_await, rt / r, 1e-9);
    assert_float_equal(x.w_await, wt / w, 1e-9);
    assert_float_equal(x.avg_q_sz, (63188.0 - 62894) / 1000 / dt, 1e-9);
    assert_float_equal(x.util, (12336.0 - 12176) / (dt * 1000) * 100, 1e-9);
    assert_float_equal(x.svctm, (12336.0 - 12176) / (r + w), 1e-9);
    /* the write volume matches vmstat's pgpgout delta (KiB) */
    assert_float_equal(x.wkb_s * dt, 3645740.0 - 3560720, 1e-6);
    /* a counter going backwards or no time: nothing */
    assert_int_equal(md_io_compute(v1, v0, dt, &x), -EAGAIN);
    assert_int_equal(md_io_compute(v0, v1, 0, &x), -EAGAIN);
    /* idle loop device: zeros, no division by zero */
    assert_int_equal(md_io_compute(find_dev(&c0, "loop0"), find_dev(&c1, "loop0"), dt, &x), 0);
    assert_float_equal(x.await, 0, 0);
    free(a);
    free(b);
}

struct mntcol {
    struct md_mount m[32];
    int n;
};
static void mnt_cb(void *ud, const struct md_mount *m)
{
    struct mntcol *c = ud;
    if (c->n < 32)
        c->m[c->n++] = *m;
}

static void test_mounts(void **st)
{
    char *t = fx_read("proc/mounts.t0.txt"), *fs = fx_read("proc/filesystems.t0.txt");
    struct mntcol c = {0};
    assert_int_equal(md_disk_parse_mounts(t, mnt_cb, &c), 19);
    int real = 0;
    for (int i = 0; i < c.n; i++)
        if (!md_disk_is_pseudo(fs, c.m[i].fstype)) {
            real++;
            assert_string_equal(c.m[i].device, "/dev/vda");
            assert_string_equal(c.m[i].mountpoint, "/");
        }
    assert_int_equal(real, 1);
    assert_false(md_disk_is_pseudo(fs, "ext4"));
    assert_false(md_disk_is_pseudo(fs, "xfs"));
    assert_true(md_disk_is_pseudo(fs, "tmpfs"));
    assert_true(md_disk_is_pseudo(fs, "cgroup2"));
    assert_true(md_disk_is_pseudo(fs, "overlay"));
    assert_true(md_disk_is_pseudo(fs, "nosuchfs"));
    assert_false(md_disk_is_pseudo(fs, "zfs"));
    assert_true(md_disk_is_pseudo(NULL, "proc"));
    assert_false(md_disk_is_pseudo(NULL, "ext4"));
    free(t);
    free(fs);
    memset(&c, 0, sizeof c);
    assert_int_equal(md_disk_parse_mounts("/dev/sdb1 /mnt/my\\040disk ext4 rw 0 0\n", mnt_cb, &c), 1);
    assert_string_equal(c.m[0].mountpoint, "/mnt/my disk");
    assert_int_equal(md_disk_parse_mounts("/dev/sdb1\n", mnt_cb, &c), -EINVAL);
}

static void test_disk_compute(void **st)
{
    /* statvfs.txt: / f_frsize=4096 f_blocks=66053021 f_bfree=61298063 f_bavail=20329339 f_files=16777216 f_ffree=16349093 */
    struct md_disk_usage u;
    md_disk_compute(4096, 66053021, 61298063, 20329339, 16777216, 16349093, &u);
    double used = (66053021.0 - 61298063) * 4096, avail = 20329339.0 * 4096;
    assert_float_equal(u.total_kib, 66053021.0 * 4096 / 1024, 1e-6);
    assert_float_equal(u.used_kib, used / 1024, 1e-6);
    assert_float_equal(u.free_kib, avail / 1024, 1e-6);
    assert_float_equal(u.in_use, used / (used + avail), 1e-12);
    /* df -B1 in the same fixture: 19476312064 used, 83268968448 available (taken a moment later) */
    assert_float_equal(u.used_kib * 1024, 19476312064.0, 19476312064.0 * 1e-4);
    assert_float_equal(u.free_kib * 1024, 83268968448.0, 83268968448.0 * 1e-4);
    assert_float_equal(u.inodes_used, 16777216.0 - 16349093, 0);
    /* reserved blocks: used + free < total */
    assert_true(u.used_kib + u.free_kib < u.total_kib);
}

/* ---- collectors through the runner over a fixture proc root ----------- */

struct fxroot {
    char dir[64];
    struct cap cap;
    struct md_collect_runner *r;
};

static int64_t fx_ns(const char *uptime_fixture)
{
    char *t = fx_read(uptime_fixture);
    double u;
    assert_int_equal(md_uptime_parse(t, &u, NULL), 0);
    free(t);
    return (int64_t)llround(u * 1e9);
}

static void place_set(const char *dir, const char *suffix)
{
    static const char *const map[][2] = {
        {"stat", "stat"}, {"meminfo", "meminfo"}, {"vmstat", "vmstat"}, {"loadavg", "loadavg"},
        {"diskstats", "diskstats"}, {"net/dev", "net_dev"}, {"uptime", "uptime"},
    };
    char fx[64];
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        snprintf(fx, sizeof fx, "%s.%s.txt", map[i][1], suffix);
        assert_int_equal(place_fixture(dir, map[i][0], fx), 0);
    }
    assert_int_equal(place_fixture(dir, "sys/fs/file-nr", "sys_fs_file-nr.t0.txt"), 0);
}

static struct fxroot *fxroot_new(const char *only)
{
    struct fxroot *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/md-fxproc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    place_set(f->dir, "t0");
    char err[256] = "";
    struct md_collect_opts o = {.only = only, .observe = cap_observe, .observe_ud = &f->cap};
    f->r = md_collect_new_opts(NULL, NULL, f->dir, NULL, NULL, &o, err, sizeof err);
    if (!f->r)
        fail_msg("runner: %s", err);
    f->cap.r = f->r;
    return f;
}

static void fxroot_free(struct fxroot *f)
{
    md_collect_free(f->r);
    rm_tree(f->dir);
    free(f);
}

static void test_fx_cpu(void **st)
{
    struct fxroot *f = fxroot_new("cpu");
    assert_int_equal(md_collect_run_once(f->r, fx_ns("proc/uptime.t0.txt")), 0);
    /* first run: the core count only; no percentages, no context switches */
    assert_int_equal(f->cap.n, 1);
    assert_string_equal(f->cap.p[0].name, "system.cpu.num_cores");
    assert_float_equal(f->cap.p[0].value, 2, 0);
    f->cap.n = 0;
    place_set(f->dir, "t1");
    assert_int_equal(md_collect_run_once(f->r, fx_ns("proc/uptime.t1.txt")), 0);
    double total = (8687 - 8612) + (6339 - 6188) + (56724 - 56415) + (854 - 841);
    const struct cap_point *p = cap_find(&f->cap, "system.cpu.user", "");
    assert_non_null(p);
    assert_int_equal(p->type, MD_GAUGE);
    assert_float_equal(p->value, 100.0 * (8687 - 8612) / total, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.cpu.idle", ""));
    assert_float_equal(p->value, 100.0 * (56724 - 56415) / total, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.cpu.context_switches", ""));
    assert_int_equal(p->type, MD_MONOTONIC_COUNT);
    assert_float_equal(p->value, 1567453.0 - 1558263, 0);
    /* t0 again: every counter went backwards, nothing but the gauge */
    f->cap.n = 0;
    place_set(f->dir, "t0");
    assert_int_equal(md_collect_run_once(f->r, fx_ns("proc/uptime.t1.txt") + 1000000000), 0);
    assert_int_equal(f->cap.n, 1);
    struct md_collect_stats s;
    assert_int_equal(md_collect_stats(f->r, 0, &s), 0);
    assert_int_equal(s.runs, 3);
    assert_int_equal(s.dropped, 1); /* context_switches */
    fxroot_free(f);
}

static void test_fx_network(void **st)
{
    struct fxroot *f = fxroot_new("network");
    int64_t t0 = fx_ns("proc/uptime.t0.txt"), t1 = fx_ns("proc/uptime.t1.txt");
    assert_int_equal(md_collect_run_once(f->r, t0), 0);
    assert_int_equal(cap_count_prefix(&f->cap, "system.net."), 0); /* rates: nothing yet */
    place_set(f->dir, "t1");
    assert_int_equal(md_collect_run_once(f->r, t1), 0);
    double dt = (double)(t1 - t0) / 1e9;
    assert_float_equal(dt, fx_dt(), 1e-9);
    const struct cap_point *p = cap_find(&f->cap, "system.net.bytes_rcvd", "device:lo,device_name:lo");
    assert_non_null(p);
    assert_int_equal(p->kind, MD_EMIT_RATE);
    assert_int_equal(p->type, MD_GAUGE);
    assert_float_equal(p->value, (406850004.0 - 406849904) / dt, 1e-6);
    assert_non_null(p = cap_find(&f->cap, "system.net.packets_in.count", "device:lo,device_name:lo"));
    assert_float_equal(p->value, (3001485.0 - 3001483) / dt, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.net.bytes_sent", "device:eth0,device_name:eth0"));
    assert_float_equal(p->value, 0, 0);
    /* idle interfaces (no byte ever) are skipped */
    assert_null(cap_find(&f->cap, "system.net.bytes_rcvd", "device:ifb0,device_name:ifb0"));
    assert_int_equal(cap_count_prefix(&f->cap, "system.net."), 2 * 8);
    /* counter reset (t0 after t1): dropped; the next sample re-bases and works */
    f->cap.n = 0;
    place_set(f->dir, "t0");
    assert_int_equal(md_collect_run_once(f->r, t1 + 1000000000), 0);
    assert_null(cap_find(&f->cap, "system.net.bytes_rcvd", "device:lo,device_name:lo"));
    place_set(f->dir, "t1");
    assert_int_equal(md_collect_run_once(f->r, t1 + 2000000000), 0);
    assert_non_null(p = cap_find(&f->cap, "system.net.bytes_rcvd", "device:lo,device_name:lo"));
    assert_float_equal(p->value, (406850004.0 - 406849904) / 1.0, 1e-6);
    fxroot_free(f);
}

static void test_fx_io(void **st)
{
    struct fxroot *f = fxroot_new("io");
    int64_t t0 = fx_ns("proc/uptime.t0.txt"), t1 = fx_ns("proc/uptime.t1.txt");
    assert_int_equal(md_collect_run_once(f->r, t0), 0);
    assert_int_equal(f->cap.n, 0);
    place_set(f->dir, "t1");
    assert_int_equal(md_collect_run_once(f->r, t1), 0);
    double dt = (double)(t1 - t0) / 1e9;
    const char *vda = "device:vda,device_name:vda";
    const struct cap_point *p = cap_find(&f->cap, "system.io.r_s", vda);
    assert_non_null(p);
    assert_float_equal(p->value, (47789.0 - 47750) / dt, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.io.w_s", vda));
    assert_float_equal(p->value, (31659.0 - 31575) / dt, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.io.wkb_s", vda));
    assert_float_equal(p->value, (7291480.0 - 7121440) * 512 / 1024 / dt, 1e-6);
    assert_non_null(p = cap_find(&f->cap, "system.io.util", vda));
    assert_float_equal(p->value, (12336.0 - 12176) / (dt * 1000) * 100, 1e-9);
    assert_non_null(cap_find(&f->cap, "system.io.await", "device:zram0,device_name:zram0"));
    fxroot_free(f);
}

static void test_fx_memory_load_fh(void **st)
{
    struct fxroot *f = fxroot_new("memory");
    assert_int_equal(md_collect_run_once(f->r, fx_ns("proc/uptime.t0.txt")), 0);
    const struct cap_point *p = cap_find(&f->cap, "system.mem.total", "");
    assert_non_null(p);
    assert_float_equal(p->value, 24683656.0 / 1024, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.mem.used", ""));
    assert_float_equal(p->value, (24683656.0 - 22650044) / 1024, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.mem.pct_usable", ""));
    assert_float_equal(p->value, 24227752.0 / 24683656, 1e-12);
    assert_non_null(p = cap_find(&f->cap, "system.mem.cached", ""));
    assert_float_equal(p->value, (1712252.0 + 119252) / 1024, 1e-9);
    assert_non_null(p = cap_find(&f->cap, "system.swap.pct_free", ""));
    assert_float_equal(p->value, 1.0, 0);
    assert_null(cap_find(&f->cap, "system.swap.swap_in", NULL)); /* a rate: not on run 1 */
    place_set(f->dir, "t1");
    assert_int_equal(md_collect_run_once(f->r, fx_ns("proc/uptime.t1.txt")), 0);
    assert_non_null(p = cap_find(&f->cap, "system.swap.swap_in", ""));
    assert_float_equal(p->value, 0, 0);
    fxroot_free(f);

    f = fxroot_new("load");
    assert_int_equal(md_collect_run_once(f->r, 1), 0);
    assert_non_null(p = cap_find(&f->cap, "system.load.norm.1", ""));
    assert_float_equal(p->value, 1.22 / 2, 1e-12); /* 2 cpuN lines in the fixture stat */
    assert_non_null(p = cap_find(&f->cap, "system.load.15", ""));
    assert_float_equal(p->value, 0.22, 1e-12);
    fxroot_free(f);

    f = fxroot_new("file_handle");
    assert_int_equal(md_collect_run_once(f->r, 1), 0);
    assert_non_null(p = cap_find(&f->cap, "system.fs.file_handles.in_use", ""));
    assert_float_equal(p->value, 364.0 / 2466174, 1e-15);
    fxroot_free(f);

    f = fxroot_new("uptime");
    assert_int_equal(md_collect_run_once(f->r, 1), 0);
    assert_non_null(p = cap_find(&f->cap, "system.uptime", ""));
    assert_float_equal(p->value, 365.04, 1e-9);
    fxroot_free(f);
}

static void test_fx_missing_file(void **st)
{
    struct fxroot *f = fxroot_new("cpu");
    char path[128];
    snprintf(path, sizeof path, "%s/stat", f->dir);
    unlink(path);
    assert_int_equal(md_collect_run_once(f->r, 1), 1);
    struct md_collect_stats s;
    assert_int_equal(md_collect_stats(f->r, 0, &s), 0);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.last_error, -ENOENT);
    fxroot_free(f);
}

/* ---- live: this machine's /proc against independent readings ---------- */

static struct md_collect_runner *live(const char *only, const char *confd, struct cap *c)
{
    char err[256] = "";
    struct md_collect_opts o = {.only = only, .observe = cap_observe, .observe_ud = c};
    struct md_collect_runner *r = md_collect_new_opts(NULL, confd, "/proc", "/sys", NULL, &o, err, sizeof err);
    if (!r)
        fail_msg("runner: %s", err);
    c->r = r;
    return r;
}

static void burn_cpu_ms(int ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile uint64_t x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

static void test_live_cpu(void **st)
{
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_runner *r = live("cpu", NULL, c);
    assert_int_equal(md_collect_run_once(r, (int64_t)uv_hrtime()), 0);
    const struct cap_point *p = cap_find(c, "system.cpu.num_cores", "");
    assert_non_null(p);
    assert_float_equal(p->value, (double)sysconf(_SC_NPROCESSORS_ONLN), 0);
    burn_cpu_ms(120); /* ticks are 10 ms: make sure some pass */
    assert_int_equal(md_collect_run_once(r, (int64_t)uv_hrtime()), 0);
    double sum = 0;
    const char *parts[] = {"system.cpu.user", "system.cpu.system", "system.cpu.iowait",
                           "system.cpu.idle", "system.cpu.stolen"};
    for (size_t i = 0; i < 5; i++) {
        assert_non_null(p = cap_find(c, parts[i], ""));
        assert_true(p->value >= 0 && p->value <= 100);
        sum += p->value;
    }
    assert_float_equal(sum, 100.0, 0.5);
    /* we burned one CPU of N for the whole interval: user+system at least a good share of it */
    double busy = cap_find(c, "system.cpu.user", "")->value + cap_find(c, "system.cpu.system", "")->value;
    assert_true(busy >= 50.0 / (double)sysconf(_SC_NPROCESSORS_ONLN));
    assert_non_null(p = cap_find(c, "system.cpu.context_switches", ""));
    assert_true(p->value >= 0);
    md_collect_free(r);
    free(c);
}

static void test_live_memory_uptime(void **st)
{
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_runner *r = live("memory", NULL, c);
    struct sysinfo si;
    assert_int_equal(sysinfo(&si), 0);
    assert_int_equal(md_collect_run_once(r, (int64_t)uv_hrtime()), 0);
    const struct cap_point *p = cap_find(c, "system.mem.total", "");
    assert_non_null(p);
    double mib = (double)si.totalram * si.mem_unit / 1048576.0;
    assert_float_equal(p->value, mib, 1.0);
    assert_non_null(p = cap_find(c, "system.swap.total", ""));
    assert_float_equal(p->value, (double)si.totalswap * si.mem_unit / 1048576.0, 1.0);
    assert_true(cap_find(c, "system.mem.used", "")->value <= cap_find(c, "system.mem.total", "")->value);
    md_collect_free(r);

    c->n = 0;
    r = live("uptime", NULL, c);
    assert_int_equal(sysinfo(&si), 0);
    assert_int_equal(md_collect_run_once(r, 1), 0);
    assert_non_null(p = cap_find(c, "system.uptime", ""));
    assert_float_equal(p->value, (double)si.uptime, 2.0);
    md_collect_free(r);

    c->n = 0;
    r = live("load", NULL, c);
    assert_int_equal(sysinfo(&si), 0);
    assert_int_equal(md_collect_run_once(r, 1), 0);
    assert_non_null(p = cap_find(c, "system.load.1", ""));
    assert_float_equal(p->value, si.loads[0] / 65536.0, 0.5);
    md_collect_free(r);
    free(c);
}

static void test_live_network_lo(void **st)
{
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_runner *r = live("network", NULL, c);
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(rx >= 0 && tx >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
    int64_t t0 = (int64_t)uv_hrtime();
    assert_int_equal(md_collect_run_once(r, t0), 0);
    char buf[1000];
    memset(buf, 'x', sizeof buf);
    const int N = 200;
    for (int i = 0; i < N; i++) {
        assert_int_equal(sendto(tx, buf, sizeof buf, 0, (struct sockaddr *)&a, sizeof a), (ssize_t)sizeof buf);
        assert_int_equal(recv(rx, buf, sizeof buf, 0), (ssize_t)sizeof buf); /* delivered, so counted */
    }
    /* explicit interval of exactly 1 s so the rate equals the byte delta */
    assert_int_equal(md_collect_run_once(r, t0 + 1000000000), 0);
    const struct cap_point *p = cap_find(c, "system.net.bytes_rcvd", "device:lo,device_name:lo");
    assert_non_null(p);
    assert_true(p->value >= (double)N * sizeof buf);
    assert_non_null(p = cap_find(c, "system.net.packets_out.count", "device:lo,device_name:lo"));
    assert_true(p->value >= N);
    close(rx);
    close(tx);
    md_collect_free(r);
    free(c);
}

static void test_live_disk(void **st)
{
    char dir[] = "/tmp/md-confd-disk-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(write_file(dir, "disk.d/conf.yaml",
                                "init_config:\ninstances:\n  - use_mount: true\n    all_partitions: true\n"),
                     0);
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_runner *r = live("disk", dir, c);
    assert_int_equal(md_collect_run_once(r, 1), 0);
    struct statvfs v;
    assert_int_equal(statvfs("/", &v), 0);
    const struct cap_point *p = NULL;
    for (size_t i = 0; i < c->n && !p; i++)
        if (strcmp(c->p[i].name, "system.disk.total") == 0 && strncmp(c->p[i].tags, "device:/,", 9) == 0)
            p = &c->p[i];
    assert_non_null(p);
    assert_float_equal(p->value, (double)v.f_blocks * v.f_frsize / 1024, 0);
    /* pseudo file systems stay out by default */
    md_collect_free(r);
    c->n = 0;
    r = live("disk", NULL, c);
    assert_int_equal(md_collect_run_once(r, 1), 0);
    for (size_t i = 0; i < c->n; i++)
        assert_null(strstr(c->p[i].tags, "device:proc,"));
    md_collect_free(r);
    free(c);
    rm_tree(dir);
}

static void test_live_self_processes(void **st)
{
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_runner *r = live("self", NULL, c);
    assert_int_equal(md_collect_run_once(r, (int64_t)uv_hrtime()), 0);
    const struct cap_point *p = cap_find(c, "meterd.open_fds", "");
    assert_non_null(p);
    double before = p->value;
    int fds[10];
    for (int i = 0; i < 10; i++)
        assert_true((fds[i] = dup(1)) >= 0);
    c->n = 0;
    burn_cpu_ms(60);
    assert_int_equal(md_collect_run_once(r, (int64_t)uv_hrtime()), 0);
    assert_non_null(p = cap_find(c, "meterd.open_fds", ""));
    assert_float_equal(p->value, before + 10, 0);
    for (int i = 0; i < 10; i++)
        close(fds[i]);
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    assert_non_null(p = cap_find(c, "meterd.mem.rss", ""));
    /* the kernel's RSS counters are per-CPU batched: allow a little slack against getrusage */
    assert_true(p->value > 0 && p->value <= (double)ru.ru_maxrss * 1024 * 1.25);
    double rss0 = p->value;
    /* touch 64 MiB: the RSS must grow by about that much */
    size_t big = 64u << 20;
    char *mem = malloc(big);
    assert_non_null(mem);
    memset(mem, 1, big);
    c->n = 0;
    assert_int_equal(md_collect_run_once(r, (int64_t)uv_hrtime()), 0);
    assert_non_null(p = cap_find(c, "meterd.mem.rss", ""));
    assert_true(p->value - rss0 >= (double)big * 0.9);
    free(mem);
    assert_non_null(p = cap_find(c, "meterd.cpu", ""));
    assert_true(p->value > 0 && p->value <= 100.0 * 1.5); /* we burned CPU on one thread */
    md_collect_free(r);

    c->n = 0;
    r = live("processes", NULL, c);
    assert_int_equal(md_collect_run_once(r, 1), 0);
    assert_non_null(p = cap_find(c, "system.processes.running", ""));
    assert_true(p->value >= 1); /* this test is running */
    assert_non_null(p = cap_find(c, "system.processes.total", ""));
    assert_true(p->value >= 2);
    md_collect_free(r);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_parse),
        cmocka_unit_test(test_cpu_compute),
        cmocka_unit_test(test_meminfo_parse),
        cmocka_unit_test(test_small_files),
        cmocka_unit_test(test_netdev_parse),
        cmocka_unit_test(test_diskstats),
        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_disk_compute),
        cmocka_unit_test(test_fx_cpu),
        cmocka_unit_test(test_fx_network),
        cmocka_unit_test(test_fx_io),
        cmocka_unit_test(test_fx_memory_load_fh),
        cmocka_unit_test(test_fx_missing_file),
        cmocka_unit_test(test_live_cpu),
        cmocka_unit_test(test_live_memory_uptime),
        cmocka_unit_test(test_live_network_lo),
        cmocka_unit_test(test_live_disk),
        cmocka_unit_test(test_live_self_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
