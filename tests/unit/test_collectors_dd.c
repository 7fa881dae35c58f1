/*
 * test_collectors_dd.c: the collectors against what a Datadog user
 * already has: the agent's own check files (tests/fixtures/datadog-confd,
 * unchanged, sources in SOURCES.md) load with warnings only; every key of
 * its default and example files is accepted, the unimplemented ones warned
 * about once; init_config keys, float intervals, service and tags as a
 * string; the network check's protocol counters and connection states
 * parsed from captured kernel text; and the disk check's labels, filters
 * and device_tag_re on a fake host root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collect_int.h"
#include "host.h"
#include "test_collectors_common.h"

static bool warned(const struct md_collect_runner *r, const char *id)
{
    char want[160];
    snprintf(want, sizeof want, "%s\n", id);
    return r->warned && strstr(r->warned, want);
}

static const struct md_collect_stats *stats_of(struct md_collect_runner *r, const char *name,
                                               struct md_collect_stats *s)
{
    for (size_t i = 0; i < md_collect_ninstances(r); i++)
        if (md_collect_stats(r, i, s) == 0 && strcmp(s->collector, name) == 0)
            return s;
    return NULL;
}

/* The agent's unchanged conf.d: every file loads; .example files are not instances. */
static void test_datadog_default_files(void **st)
{
    char dir[512], err[512] = "";
    snprintf(dir, sizeof dir, "%s/datadog-confd", MD_FIXTURES);
    struct md_collect_runner *r = collect_ok(dir, NULL, NULL); /* the agent's own default files */
    static const char *const from_file[] = {"cpu", "memory", "disk", "io", "network", "file_handle"};
    for (size_t i = 0; i < sizeof from_file / sizeof from_file[0]; i++) {
        struct md_collect_stats s;
        if (!stats_of(r, from_file[i], &s))
            fail_msg("%s: no instance", from_file[i]);
        if (!strstr(s.source, "/conf.yaml.default"))
            fail_msg("%s: instance from %s", from_file[i], s.source);
    }
    /* file_handle.d has "loader: core": a warning, not an error */
    assert_true(warned(r, "file_handle.loader"));
    md_collect_free(r);
    assert_int_equal(md_collect_validate(dir, NULL, NULL, err, sizeof err), 0);
}

/*
 * Every key the agent's default and example files show for these checks,
 * set (twice, in two instances): accepted, and each unimplemented one
 * warned about once.
 */
static void test_datadog_every_key(void **st)
{
    char dir[] = "/tmp/md-ddkeys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *disk_inst =
        "  - use_mount: false\n    all_partitions: false\n    tags: [a:b]\n    service: web\n"
        "    min_collection_interval: 15.5\n    empty_default_hostname: false\n"
        "    excluded_filesystems: [tmpfs]\n    excluded_disks: [/dev/sda1, /dev/sda2]\n"
        "    excluded_disk_re: /dev/sde.*\n    excluded_mountpoint_re: /mnt/somebody-elses-problem.*\n"
        "    file_system_whitelist: ['ext[34]$', 'ntfs$']\n    file_system_blacklist: [tmpfs$, rootfs$]\n"
        "    device_whitelist: ['/dev/sda[1-3]', 'C:']\n    device_blacklist: [/dev/sde, '[FJ]:']\n"
        "    mount_point_whitelist: ['/dev/sda[1-3]']\n    mount_point_blacklist: [/proc/sys/fs/binfmt_misc]\n"
        "    file_system_include: [ext4]\n    file_system_exclude: [iso9660$]\n"
        "    device_include: [/dev/]\n    device_exclude: [/dev/loop]\n"
        "    mount_point_include: [/]\n    mount_point_exclude: [/snap/]\n"
        "    service_check_rw: false\n    tag_by_filesystem: true\n    tag_by_label: true\n"
        "    blkid_cache_file: /run/blkid/blkid.tab\n    use_lsblk: false\n"
        "    include_all_devices: true\n    timeout: 5\n    lowercase_device_tag: false\n"
        "    min_disk_size: 0.5\n    metric_patterns: {include: ['.*']}\n"
        "    create_mounts: [{mountpoint: 's:', host: smbserver, share: space}]\n"
        "    disable_generic_tags: false\n    enable_legacy_tags_normalization: true\n"
        "    proc_mountinfo_path: /host/proc/1/mountinfo\n    resolve_root_device: false\n"
        "    loader: core\n"
        "    device_tag_re:\n      /san/.*: device_type:san\n      /dev/sda3: role:db,disk_size:large\n"
        "      \"c:\": volume:boot\n";
    char disk[8192];
    snprintf(disk, sizeof disk,
             "init_config:\n  file_system_global_exclude: [iso9660$, tracefs$]\n"
             "  device_global_exclude: []\n  mount_point_global_exclude: ['(/host)?/proc/sys/fs/binfmt_misc$']\n"
             "  file_system_global_blacklist: [fuse$]\n  device_global_blacklist: [/dev/ram]\n"
             "  mount_point_global_blacklist: [/snap]\n"
             "instances:\n%s%s", disk_inst, disk_inst);
    write_file(dir, "disk.d/conf.yaml", disk);
    const char *net_inst =
        "  - collect_connection_state: true\n    collect_connection_queues: false\n"
        "    excluded_interfaces: [lo, lo0]\n    excluded_interface_re: eth.*\n"
        "    collect_ethtool_stats: false\n    collect_ethtool_metrics: false\n"
        "    collect_aws_ena_metrics: false\n    conntrack_path: None\n    use_sudo_conntrack: true\n"
        "    whitelist_conntrack_metrics: [max, count]\n    blacklist_conntrack_metrics: []\n"
        "    combine_connection_states: true\n    collect_rate_metrics: true\n"
        "    collect_count_metrics: false\n    tags: [k:v]\n    disable_generic_tags: true\n";
    char net[4096];
    snprintf(net, sizeof net, "init_config:\ninstances:\n%s%s", net_inst, net_inst);
    write_file(dir, "network.d/conf.yaml", net);
    write_file(dir, "cpu.d/conf.yaml", "instances:\n  - report_total_percpu: true\n");
    write_file(dir, "memory.d/conf.yaml", "instances:\n  - collect_memory_pressure: true\n");
    write_file(dir, "io.d/conf.yaml",
               "init_config:\n  device_exclude_re: ^dm-[0-9]+\n  lowercase_device_tag: false\n"
               "instances:\n  - {}\n");
    write_file(dir, "load.d/conf.yaml", "instances:\n  - min_collection_interval: 30.0\n");
    write_file(dir, "uptime.d/conf.yaml", "instances:\n  - tags: env:prod\n");
    char err[512] = "";
    struct md_collect_runner *r = collect_ok(dir, NULL, NULL);
    static const char *const ignored[] = {
        "disk.service_check_rw", "disk.blkid_cache_file", "disk.use_lsblk", "disk.create_mounts",
        "disk.timeout", "disk.lowercase_device_tag", "disk.empty_default_hostname",
        "disk.disable_generic_tags", "disk.enable_legacy_tags_normalization",
        "network.disable_generic_tags", "disk.proc_mountinfo_path", "disk.resolve_root_device",
        "disk.loader",
        "disk.metric_patterns", "network.collect_connection_queues", "network.collect_ethtool_stats",
        "network.conntrack_path", "network.use_sudo_conntrack", "network.whitelist_conntrack_metrics",
        "memory.collect_memory_pressure", "io.lowercase_device_tag"};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        if (!warned(r, ignored[i]))
            fail_msg("%s: not warned", ignored[i]);
        /* once, though two instances carry it */
        const char *a = strstr(r->warned, ignored[i]);
        assert_null(strstr(a + 1, ignored[i]));
    }
    /* implemented keys are not warned about */
    assert_false(warned(r, "disk.device_tag_re"));
    assert_false(warned(r, "disk.include_all_devices"));
    assert_false(warned(r, "disk.file_system_global_exclude"));
    assert_false(warned(r, "disk.mount_point_global_blacklist"));
    assert_false(warned(r, "network.collect_connection_state"));
    struct md_collect_stats s;
    assert_non_null(stats_of(r, "disk", &s));
    assert_float_equal(s.interval, 15.5, 1e-9);
    assert_non_null(stats_of(r, "load", &s));
    assert_float_equal(s.interval, 30, 1e-9);
    /* service: and a one-string tags: became tags */
    for (size_t i = 0; i < r->ninst; i++) {
        struct inst *in = r->inst[i];
        if (strcmp(in->ops->name, "disk") == 0) {
            assert_int_equal(in->ntags, 2);
            assert_string_equal(in->tags[0], "a:b");
            assert_string_equal(in->tags[1], "service:web");
        } else if (strcmp(in->ops->name, "uptime") == 0) {
            assert_int_equal(in->ntags, 1);
            assert_string_equal(in->tags[0], "env:prod");
        } else if (strcmp(in->ops->name, "io") == 0) {
            /* from init_config */
            assert_string_equal(in->values[0].s, "^dm-[0-9]+");
        }
    }
    md_collect_free(r);
    /* A wrong value on an implemented key stays fatal, with FILE:LINE: KEY. */
    write_file(dir, "network.d/conf.yaml", "instances:\n  - collect_connection_state: maybe\n");
    assert_null(md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "network.d/conf.yaml:2: collect_connection_state: expected true or false"));
    write_file(dir, "network.d/conf.yaml", "instances:\n  - {}\n");
    write_file(dir, "disk.d/conf.yaml", "instances:\n  - device_tag_re: [a, b]\n");
    assert_null(md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "disk.d/conf.yaml:2: device_tag_re: expected a mapping"));
    write_file(dir, "disk.d/conf.yaml", "instances:\n  - min_collection_interval: 0.5\n");
    assert_null(md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "disk.d/conf.yaml:2: min_collection_interval: 0.5 is out of range (1..86400)"));
    /* init_config: an instance's own value wins */
    write_file(dir, "disk.d/conf.yaml", "instances:\n  - {}\n");
    write_file(dir, "io.d/conf.yaml", "init_config:\n  device_blacklist_re: ^a\ninstances:\n"
                                      "  - device_blacklist_re: ^b\n  - {}\n");
    assert_non_null(r = md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    int seen = 0;
    for (size_t i = 0; i < r->ninst; i++)
        if (strcmp(r->inst[i]->ops->name, "io") == 0)
            assert_string_equal(r->inst[i]->values[1].s, seen++ == 0 ? "^b" : "^a");
    assert_int_equal(seen, 2);
    md_collect_free(r);
    /* min_collection_interval and service in init_config: defaults for every instance */
    write_file(dir, "uptime.d/conf.yaml", "init_config:\n  min_collection_interval: 20.5\n  service: db\n"
                                          "instances:\n  - {}\n  - min_collection_interval: 5\n");
    assert_non_null(r = md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    seen = 0;
    for (size_t i = 0; i < r->ninst; i++) {
        struct inst *in = r->inst[i];
        if (strcmp(in->ops->name, "uptime") != 0)
            continue;
        assert_int_equal(in->interval_ms, seen++ == 0 ? 20500 : 5000);
        assert_int_equal(in->ntags, 1);
        assert_string_equal(in->tags[0], "service:db");
    }
    assert_int_equal(seen, 2);
    md_collect_free(r);
    rm_tree(dir);
}

/* ---- protocol counters ---------------------------------------------------- */

struct nstat_cap {
    char key[256][48];
    uint64_t v[256];
    size_t n;
    size_t all;
};

static void nstat_cb(void *ud, const char *group, size_t glen, const char *field, size_t flen,
                     uint64_t value)
{
    struct nstat_cap *c = ud;
    c->all++;
    if (c->n < 256) {
        snprintf(c->key[c->n], sizeof c->key[0], "%.*s.%.*s", (int)glen, group, (int)flen, field);
        c->v[c->n++] = value;
    }
}

static uint64_t nstat_get(const struct nstat_cap *c, const char *k)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->key[i], k) == 0)
            return c->v[i];
    fail_msg("%s missing", k);
    return 0;
}

static void test_nstat_parse(void **st)
{
    char *t = fx_read("proc/net_snmp.t0.txt");
    assert_non_null(t);
    struct nstat_cap c = {0};
    assert_int_equal(md_net_parse_nstat(t, nstat_cb, &c), 6); /* Ip Icmp IcmpMsg Tcp Udp UdpLite */
    /* values as in the captured text (Tcp: ... InSegs 4998 OutSegs 3717 RetransSegs 0 ...) */
    assert_int_equal(nstat_get(&c, "Tcp.InSegs"), 4998);
    assert_int_equal(nstat_get(&c, "Tcp.OutSegs"), 3717);
    assert_int_equal(nstat_get(&c, "Tcp.ActiveOpens"), 188);
    assert_int_equal(nstat_get(&c, "Tcp.OutRsts"), 37);
    assert_int_equal(nstat_get(&c, "Udp.InDatagrams"), 3000053);
    assert_int_equal(nstat_get(&c, "Udp.OutDatagrams"), 3000054);
    /* MaxConn -1 is a limit, not a counter: skipped */
    for (size_t i = 0; i < c.n; i++)
        assert_string_not_equal(c.key[i], "Tcp.MaxConn");
    bool gauge;
    assert_string_equal(md_nstat_metric("Tcp", 3, "RetransSegs", 11, &gauge), "system.net.tcp.retrans_segs");
    assert_false(gauge);
    assert_string_equal(md_nstat_metric("TcpExt", 6, "ListenOverflows", 15, &gauge),
                        "system.net.tcp.listen_overflows");
    assert_string_equal(md_nstat_metric("Tcp", 3, "CurrEstab", 9, &gauge), "system.net.tcp.current_established");
    assert_true(gauge);
    assert_null(md_nstat_metric("UdpLite", 7, "InDatagrams", 11, &gauge));
    /* a values line that does not match its header */
    assert_int_equal(md_net_parse_nstat("Tcp: A B\nTcp: 1\n", nstat_cb, &c), -EINVAL);
    assert_int_equal(md_net_parse_nstat("Tcp: A B\nUdp: 1 2\n", nstat_cb, &c), -EINVAL);
    assert_int_equal(md_net_parse_nstat("Tcp: A B\n", nstat_cb, &c), -EINVAL); /* no values line */
    free(t);
}

/* /proc/net/tcp text as the kernel prints it (header, then one socket a line). */
static const char tcp_text[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:9FBB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 299801 1\n"
    "   1: 0100007F:9AAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 292582 1\n"
    "   2: 0100007F:9FBB 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 300001 1\n"
    "   3: 0100007F:C350 0100007F:9FBB 06 00000000:00000000 03:00000F9D 00000000     0        0 0 3\n"
    "   4: 0100007F:C351 0100007F:9FBB 08 00000000:00000000 00:00000000 00000000     0        0 300002 1\n"
    "   5: 0100007F:C352 0100007F:9FBB 09 00000000:00000000 00:00000000 00000000     0        0 300003 1\n";

static void test_conn_states(void **st)
{
    uint64_t c[MD_TCP_NSTATES];
    assert_int_equal(md_net_count_conns(tcp_text, c), 6);
    assert_int_equal(c[0x0A], 2);
    assert_int_equal(c[0x01], 1);
    assert_int_equal(c[0x06], 1);
    assert_int_equal(c[0x08], 1);
    assert_int_equal(c[0x09], 1);
    assert_string_equal(md_tcp_state_name(0x0A, true), "listening");
    assert_string_equal(md_tcp_state_name(0x08, true), "closing");
    assert_string_equal(md_tcp_state_name(0x09, false), "last_ack");
    assert_string_equal(md_tcp_state_name(0x07, false), "unconn");
    assert_null(md_tcp_state_name(0, true));
    /* only the header: no sockets */
    assert_int_equal(md_net_count_conns("  sl  local_address rem_address   st\n", c), 0);
    assert_int_equal(md_net_count_conns("no newline", c), -EINVAL);
}

/* The collector on a fake root: protocol counters as rates and counts, states as gauges. */
static void test_network_protocols_on_root(void **st)
{
    char root[] = "/tmp/md-ddnet-XXXXXX";
    assert_non_null(mkdtemp(root));
    char proc[600], confd[600];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(confd, sizeof confd, "%s/confd", root);
    assert_int_equal(mkdir(proc, 0755), 0);
    assert_int_equal(mkdir(confd, 0755), 0);
    assert_int_equal(place_fixture(proc, "net/dev", "net_dev.t0.txt"), 0);
    assert_int_equal(place_fixture(proc, "net/snmp", "net_snmp.t0.txt"), 0);
    write_file(proc, "net/tcp", tcp_text);
    write_file(proc, "net/udp", "  sl  local_address rem_address   st\n   0: 00000000:0202 00000000:0000 07 0\n");
    write_file(confd, "network.d/conf.yaml",
               "instances:\n  - collect_connection_state: true\n    collect_count_metrics: true\n"
               "    combine_connection_states: false\n");
    struct cap *cap = calloc(1, sizeof *cap);
    struct md_collect_opts o = {.only = "network", .observe = cap_observe, .observe_ud = cap};
    struct md_collect_runner *r = collect_ok(confd, proc, &o);
    assert_int_equal(md_collect_run_once(r, 1000000000), 0);
    const struct cap_point *p = cap_find(cap, "system.net.tcp.current_established", "");
    assert_non_null(p);
    assert_float_equal(p->value, 0, 0);
    assert_non_null(p = cap_find(cap, "system.net.tcp4.listen", ""));
    assert_float_equal(p->value, 2, 0);
    assert_non_null(p = cap_find(cap, "system.net.tcp4.last_ack", ""));
    assert_float_equal(p->value, 1, 0);
    assert_non_null(p = cap_find(cap, "system.net.tcp4.fin_wait_1", ""));
    assert_float_equal(p->value, 0, 0);
    assert_non_null(p = cap_find(cap, "system.net.udp4.connections", ""));
    assert_float_equal(p->value, 1, 0);
    /* no tcp6/udp6 file in this root: no series for them */
    assert_null(cap_find(cap, "system.net.tcp6.listen", ""));
    /* counters: nothing on the first run */
    assert_null(cap_find(cap, "system.net.tcp.in_segs", NULL));
    /* second run, Tcp InSegs 4998 -> 5098, Udp InDatagrams +10 */
    char *t = fx_read("proc/net_snmp.t0.txt");
    char *s = strstr(t, " 4998 ");
    memcpy(s, " 5098 ", 6);
    s = strstr(t, "Udp: 3000053");
    memcpy(s, "Udp: 3000063", 12);
    write_file(proc, "net/snmp", t);
    free(t);
    cap->n = 0;
    assert_int_equal(md_collect_run_once(r, 3000000000), 0);
    assert_non_null(p = cap_find(cap, "system.net.tcp.in_segs", ""));
    assert_int_equal(p->kind, MD_EMIT_RATE);
    assert_float_equal(p->value, 50, 1e-9); /* 100 segments in 2 s */
    assert_non_null(p = cap_find(cap, "system.net.tcp.in_segs.count", ""));
    assert_int_equal(p->kind, MD_EMIT_MONOTONIC_COUNT);
    assert_float_equal(p->value, 100, 0);
    assert_non_null(p = cap_find(cap, "system.net.udp.in_datagrams.count", ""));
    assert_float_equal(p->value, 10, 0);
    assert_non_null(p = cap_find(cap, "system.net.udp.out_datagrams.count", ""));
    assert_float_equal(p->value, 0, 0);
    md_collect_free(r);
    free(cap);
    rm_tree(root);
}

/* ---- disk ------------------------------------------------------------------ */

static const char *tags_of(const struct cap *c, const char *name, const char *tag_prefix)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->p[i].name, name) == 0 && strstr(c->p[i].tags, tag_prefix))
            return c->p[i].tags;
    return NULL;
}

/*
 * A fake host root: its / is a real folder (statvfs works), mounted from
 * /dev/vdz1 with a label; /dev/vdz2 on /skip is filtered out.
 */
static void test_disk_tags_filters(void **st)
{
    char root[] = "/tmp/md-dddisk-XXXXXX";
    assert_non_null(mkdtemp(root));
    char proc[600], confd[600], link[700];
    snprintf(proc, sizeof proc, "%s/proc", root);
    snprintf(confd, sizeof confd, "%s/confd", root);
    assert_int_equal(mkdir(proc, 0755), 0);
    assert_int_equal(mkdir(confd, 0755), 0);
    write_file(proc, "mounts", "/dev/vdz1 / ext4 rw 0 0\n/dev/vdz2 /skip ext4 rw 0 0\n"
                               "tmpfs /run tmpfs rw 0 0\n");
    write_file(proc, "filesystems", "nodev\ttmpfs\n\text4\n");
    write_file(proc, "diskstats", "   8       1 vdz1 10 0 80 7 20 0 160 9 0 12 16\n");
    write_file(root, "skip/.keep", "");
    write_file(root, "dev/disk/by-label/.keep", "");
    snprintf(link, sizeof link, "%s/dev/disk/by-label/DATA\\x20VOL", root);
    assert_int_equal(symlink("../../vdz1", link), 0);
    write_file(confd, "disk.d/conf.yaml",
               "instances:\n  - tag_by_filesystem: true\n    excluded_mountpoint_re: /sk\n"
               "    device_tag_re:\n      /dev/vdz: role:db, tier:1\n      vdz1: blockdev:yes\n");
    struct cap *cap = calloc(1, sizeof *cap);
    char err[256] = "";
    struct md_collect_opts o = {.only = "disk", .observe = cap_observe, .observe_ud = cap};
    struct md_collect_runner *r = collect_ok(confd, proc, &o);
    assert_int_equal(md_collect_run_once(r, 1000000000), 0);
    const char *t = tags_of(cap, "system.disk.total", "device:/dev/vdz1");
    assert_non_null(t);
    assert_string_equal(t, "device:/dev/vdz1,device_name:vdz1,filesystem:ext4,label:DATA VOL,"
                           "device_label:DATA VOL,role:db,tier:1");
    assert_non_null(tags_of(cap, "system.fs.inodes.utilized", "device:/dev/vdz1"));
    assert_null(tags_of(cap, "system.disk.total", "device:/dev/vdz2")); /* excluded_mountpoint_re */
    assert_null(tags_of(cap, "system.disk.total", "device:tmpfs"));      /* pseudo */
    /* read_time per block device, first run: counts need two */
    assert_null(tags_of(cap, "system.disk.read_time", "device:vdz1"));
    write_file(proc, "diskstats", "   8       1 vdz1 11 0 88 17 21 0 168 39 0 13 16\n");
    cap->n = 0;
    assert_int_equal(md_collect_run_once(r, 2000000000), 0);
    const struct cap_point *p = cap_find(cap, "system.disk.read_time",
                                         "device:vdz1,device_name:vdz1,label:DATA VOL,device_label:DATA VOL,blockdev:yes");
    assert_non_null(p);
    assert_float_equal(p->value, 10, 0);
    assert_non_null(p = cap_find(cap, "system.disk.write_time_pct", NULL));
    assert_float_equal(p->value, 30 * 0.1, 1e-9); /* 30 ms writing in 1 s, the check's "pct" */
    md_collect_free(r);
    /* an include list keeps only what matches: no ext4 -> nothing */
    write_file(confd, "disk.d/conf.yaml", "instances:\n  - file_system_include: [XFS]\n");
    cap->n = 0;
    assert_non_null(r = md_collect_new_opts(NULL, confd, proc, NULL, NULL, &o, err, sizeof err));
    assert_int_equal(md_collect_run_once(r, 1000000000), 0);
    assert_int_equal(cap_count_prefix(cap, "system.disk.total"), 0);
    md_collect_free(r);
    /* file system names ignore case, exact excluded_disks */
    write_file(confd, "disk.d/conf.yaml", "instances:\n  - file_system_include: [EXT4]\n"
                                          "    excluded_disks: [/dev/vdz2]\n    tag_by_label: false\n");
    cap->n = 0;
    assert_non_null(r = md_collect_new_opts(NULL, confd, proc, NULL, NULL, &o, err, sizeof err));
    assert_int_equal(md_collect_run_once(r, 1000000000), 0);
    assert_string_equal(tags_of(cap, "system.disk.total", "device:/dev/vdz1"), "device:/dev/vdz1,device_name:vdz1");
    assert_null(tags_of(cap, "system.disk.total", "device:/dev/vdz2"));
    md_collect_free(r);
    free(cap);
    rm_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datadog_default_files),
        cmocka_unit_test(test_datadog_every_key),
        cmocka_unit_test(test_nstat_parse),
        cmocka_unit_test(test_conn_states),
        cmocka_unit_test(test_network_protocols_on_root),
        cmocka_unit_test(test_disk_tags_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
