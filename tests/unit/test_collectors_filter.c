/*
 * test_collectors_filter.c: the include / exclude filters of disk, network
 * and io (collectors/devfilter.c) as a Datadog user writes them: the
 * pattern dialect (Python re, Go regexp) against POSIX, anchoring per
 * check, and each collector run on the real kernel text captured on the
 * dev VM (tests/fixtures/proc: its mount table, /proc/filesystems,
 * /proc/net/dev and /proc/diskstats), with a bad value on a filter key
 * refused at load as FILE:LINE: KEY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devfilter.h"
#include "test_collectors_common.h"

/* One pattern compiled with flags, matched against s. */
static bool pat_match(const char *re, unsigned flags, const char *s)
{
    struct md_devfilter_list l = {0};
    char err[256];
    if (md_devfilter_list_add(&l, re, flags, "key", err, sizeof err) != 0)
        fail_msg("%s: %s", re, err);
    bool m = md_devfilter_list_match(&l, s);
    md_devfilter_list_free(&l);
    return m;
}

static void test_dialect(void **st)
{
    /* \d is a digit, not the letter d (glibc reads a bare \d as "d") */
    assert_true(pat_match("loop\\d+$", 0, "loop12"));
    assert_false(pat_match("loop\\d+$", 0, "loopd"));
    assert_true(pat_match("\\D", 0, "x"));
    assert_true(pat_match("eth\\w*\\s?$", 0, "eth_0"));
    /* from the start (re.match) unless ANYWHERE (Go's MatchString) */
    assert_false(pat_match("th0", 0, "eth0"));
    assert_true(pat_match("th0", MD_DEVFILTER_ANYWHERE, "eth0"));
    /* WHOLE: excluded_disks' appended $ */
    assert_false(pat_match("/dev/sda", MD_DEVFILTER_WHOLE, "/dev/sda1"));
    assert_true(pat_match("/dev/sda1", MD_DEVFILTER_WHOLE, "/dev/sda1"));
    /* LITERAL: a name with regex characters */
    assert_true(pat_match("a.b[1]", MD_DEVFILTER_LITERAL | MD_DEVFILTER_WHOLE, "a.b[1]"));
    assert_false(pat_match("a.b", MD_DEVFILTER_LITERAL, "axb"));
    /* groups, inline case flag, lazy quantifiers, a literal brace */
    assert_true(pat_match("(?:veth|docker)\\d", 0, "docker0"));
    assert_true(pat_match("(?P<kind>veth)[0-9a-f]+", 0, "veth1a2b"));
    assert_true(pat_match("(?i)ETH", 0, "eth0"));
    assert_true(pat_match("ETH", MD_DEVFILTER_ICASE, "eth0"));
    assert_false(pat_match("ETH", 0, "eth0"));
    assert_true(pat_match(".*?sd.+?1$", 0, "/dev/sda1"));
    assert_true(pat_match("a{2}?$", 0, "aa"));
    assert_false(pat_match("a{2}?$", 0, "a"));
    assert_true(pat_match("x{y}", 0, "x{y}"));
    /* bracket escapes moved where POSIX reads them literally */
    assert_true(pat_match("[\\d\\-]+$", 0, "12-3"));
    assert_false(pat_match("[\\d\\-]+$", 0, "12a"));
    assert_true(pat_match("[\\]x]", 0, "]"));
    assert_true(pat_match("[a\\^]$", 0, "^"));
    assert_true(pat_match("[\\s]", 0, " "));
    /* what POSIX cannot do is refused with a reason, never compiled into something else */
    assert_non_null(md_devfilter_check("eth(?=0)"));
    assert_non_null(md_devfilter_check("(?!lo)"));
    assert_non_null(md_devfilter_check("a\\x41"));
    assert_non_null(md_devfilter_check("eth(["));
    assert_non_null(md_devfilter_check("a\\"));
    assert_non_null(md_devfilter_check("(unclosed"));
    assert_null(md_devfilter_check("^(veth|docker)[0-9]+$"));
    char err[256];
    struct md_devfilter_list l = {0};
    assert_int_equal(md_devfilter_list_add(&l, "a(?<=b)", 0, "device_exclude", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "device_exclude: look-around"));
    assert_non_null(strstr(err, "got 'a(?<=b)'"));
    md_devfilter_list_free(&l);
}

/*
 * Every pattern of up to 5 characters over the characters the translation
 * treats specially: each is either refused with a reason or compiles and
 * runs, never reads past its text (the ASan build runs this too).
 */
static void test_dialect_exhaustive(void **st)
{
    static const char alpha[] = "\\[]()?*+{}^-$d1P<>:i|.";
    const size_t na = sizeof alpha - 1;
    char pat[6];
    size_t total = 0, refused = 0;
    for (size_t len = 1; len <= 5; len++) {
        size_t n = 1;
        for (size_t i = 0; i < len; i++)
            n *= len < 5 ? na : 7; /* length 5: a smaller alphabet keeps the run short */
        for (size_t k = 0; k < n; k++) {
            size_t v = k;
            for (size_t i = 0; i < len; i++, v /= (len < 5 ? na : 7))
                pat[i] = alpha[v % (len < 5 ? na : 7)];
            pat[len] = '\0';
            struct md_devfilter_list l = {0};
            char err[256];
            int rc = md_devfilter_list_add(&l, pat, 0, "k", err, sizeof err);
            if (rc == 0)
                (void)md_devfilter_list_match(&l, "d1:P<i>");
            else if (rc != -EINVAL || !strstr(err, "k: "))
                fail_msg("'%s': rc %d, err '%s'", pat, rc, err);
            refused += rc != 0;
            total++;
            md_devfilter_list_free(&l);
        }
    }
    assert_true(refused > 0 && refused < total);
}

/* ---- the collectors on the captured proc text ------------------------------ */

struct run {
    char root[64], proc[128], confd[128];
    struct cap *cap;
};

static void run_setup(struct run *r)
{
    snprintf(r->root, sizeof r->root, "/tmp/md-filter-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    snprintf(r->proc, sizeof r->proc, "%s/proc", r->root);
    snprintf(r->confd, sizeof r->confd, "%s/confd", r->root);
    assert_int_equal(mkdir(r->proc, 0755), 0);
    assert_int_equal(mkdir(r->confd, 0755), 0);
    assert_non_null(r->cap = calloc(1, sizeof *r->cap));
}

static void run_teardown(struct run *r)
{
    free(r->cap);
    rm_tree(r->root);
}

/* Load collector `only` with conf.d text yaml; run it twice (rates need two) when twice. */
static int run_once(struct run *r, const char *only, const char *yaml, bool twice, char *err,
                    size_t errlen)
{
    char rel[64];
    snprintf(rel, sizeof rel, "%s.d/conf.yaml", only);
    write_file(r->confd, rel, yaml);
    r->cap->n = 0;
    struct md_collect_opts o = {.only = only, .observe = cap_observe, .observe_ud = r->cap};
    struct md_collect_runner *cr = md_collect_new_opts(NULL, r->confd, r->proc, NULL, NULL, &o, err, errlen);
    if (!cr)
        return -EINVAL;
    assert_int_equal(md_collect_run_once(cr, 1000000000), 0);
    if (twice)
        assert_int_equal(md_collect_run_once(cr, 2000000000), 0);
    md_collect_free(cr);
    return 0;
}

static void must_run(struct run *r, const char *only, const char *yaml, bool twice)
{
    char err[512] = "";
    if (run_once(r, only, yaml, twice, err, sizeof err) != 0)
        fail_msg("%s refused: %s", only, err);
}

/* Devices (tag values) that sent `metric`, comma-joined in order of first appearance. */
static const char *devices(const struct cap *c, const char *metric, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->p[i].name, metric) != 0)
            continue;
        const char *d = strstr(c->p[i].tags, "device:");
        if (!d)
            continue;
        d += 7;
        size_t n = strcspn(d, ",");
        char one[256];
        snprintf(one, sizeof one, "%.*s", (int)n, d);
        char padded[300], hay[2100];
        snprintf(padded, sizeof padded, ",%s,", one);
        snprintf(hay, sizeof hay, ",%s,", out);
        if (!strstr(hay, padded))
            o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "", one);
    }
    return out;
}

/*
 * The dev VM's mount table and /proc/filesystems, each mount point made a
 * folder of a fake host root so statvfs answers (all on this machine's /tmp).
 */
static void disk_root(struct run *r)
{
    assert_int_equal(place_fixture(r->proc, "mounts", "mounts.t0.txt"), 0);
    assert_int_equal(place_fixture(r->proc, "filesystems", "filesystems.t0.txt"), 0);
    char *t = fx_read("proc/mounts.t0.txt");
    assert_non_null(t);
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        char dev[256], mp[512], rel[600];
        assert_int_equal(sscanf(line, "%255s %511s", dev, mp), 2);
        snprintf(rel, sizeof rel, "host%s/.keep", mp);
        write_file(r->root, rel, "");
    }
    free(t);
}

/* One configuration of a collector and the devices it must ship, in order. */
struct shipped_case {
    const char *why, *yaml, *want;
};

/* Each case loaded and run (twice: rates need two runs) on the root r; metric's devices compared. */
static void expect_shipped(struct run *r, const char *collector, const char *metric, bool twice,
                           const struct shipped_case *cases, size_t n)
{
    char d[2048];
    for (size_t i = 0; i < n; i++) {
        must_run(r, collector, cases[i].yaml, twice);
        if (strcmp(devices(r->cap, metric, d, sizeof d), cases[i].want) != 0)
            fail_msg("%s (%s): shipped '%s', want '%s'", collector, cases[i].why, d, cases[i].want);
    }
}

static const struct shipped_case disk_cases[] = {
    {"defaults: only the block file system (the pseudo ones are nodev in filesystems)",
     "instances:\n  - {}\n", "/dev/vda"},
    {"include_all_devices: tmpfs, devtmpfs, cgroup ... too; one series per device name",
     "instances:\n  - include_all_devices: true\n",
     "proc,sysfs,devtmpfs,tmpfs,devpts,/dev/vda,cgroup,cgroup2"},
    {"by mount point, cgroup file systems skipped case-blind, /sys and /proc by a pattern",
     "instances:\n  - include_all_devices: true\n    use_mount: true\n"
     "    file_system_exclude: ['CGROUP\\d?$', devpts]\n"
     "    excluded_mountpoint_re: '/(sys|proc)(/|$)'\n",
     "/dev,/dev/shm,/"},
    {"excluded_filesystems and excluded_disks are whole names: tmp keeps tmpfs, /dev/vd keeps /dev/vda",
     "instances:\n  - include_all_devices: true\n    use_mount: true\n"
     "    excluded_filesystems: [tmp, devtmpfs, proc, sysfs, devpts, cgroup, cgroup2]\n"
     "    excluded_disks: [/dev/vd]\n",
     "/dev/shm,/,/sys/fs/cgroup"},
    {"an include list keeps only what matches",
     "instances:\n  - use_mount: true\n    mount_point_include: ['/$', '/dev/shm']\n", "/"},
    {"init_config's global excludes apply to every instance",
     "init_config:\n  file_system_global_exclude: [ext4]\ninstances:\n  - {}\n", ""},
    {"an empty global list drops the check's default, another adds",
     "init_config:\n  mount_point_global_exclude: []\n  device_global_exclude: ['/dev/v']\n"
     "instances:\n  - {}\n", ""},
    {"min_disk_size is MiB and may have a fraction: this /tmp is bigger than 0.5 MiB",
     "instances:\n  - min_disk_size: 0.5\n", "/dev/vda"},
    {"min_disk_size above the size", "instances:\n  - min_disk_size: 1e12\n", ""},
};

static void test_disk_on_fixture_mounts(void **st)
{
    struct run r;
    run_setup(&r);
    /* the proc root must be <host>/proc, so the mount points resolve under <host> */
    snprintf(r.proc, sizeof r.proc, "%s/host/proc", r.root);
    write_file(r.root, "host/proc/.keep", "");
    disk_root(&r);
    expect_shipped(&r, "disk", "system.disk.total", false, disk_cases,
                   sizeof disk_cases / sizeof disk_cases[0]);
    run_teardown(&r);
}

static const struct shipped_case net_cases[] = {
    {"ifb0/ifb1 never moved a byte: skipped whatever the filters", "instances:\n  - {}\n", "lo,eth0"},
    {"excluded_interfaces are whole names, not patterns",
     "instances:\n  - excluded_interfaces: [l, eth0]\n", "lo"},
    {"re.match: from the start, so th0 does not exclude eth0",
     "instances:\n  - excluded_interface_re: th0\n", "lo,eth0"},
    {"Python's (?i) and \\d", "instances:\n  - excluded_interface_re: '(?i)ETH\\d'\n", "lo"},
    {"both keys", "instances:\n  - excluded_interfaces: [lo]\n    excluded_interface_re: e\n", ""},
};

static void test_network_on_fixture_dev(void **st)
{
    struct run r;
    run_setup(&r);
    assert_int_equal(place_fixture(r.proc, "net/dev", "net_dev.t0.txt"), 0);
    /* rates: nothing from one run */
    must_run(&r, "network", "instances:\n  - {}\n", false);
    assert_int_equal(cap_count_prefix(r.cap, "system.net.bytes_rcvd"), 0);
    expect_shipped(&r, "network", "system.net.bytes_rcvd", true, net_cases,
                   sizeof net_cases / sizeof net_cases[0]);
    run_teardown(&r);
}

static const struct shipped_case io_cases[] = {
    {"Go's MatchString: anywhere in the name, so \\d$ drops every numbered device",
     "instances:\n  - device_exclude_re: '\\d$'\n", "vda"},
    {"from init_config, with (?:...)",
     "init_config:\n  device_exclude_re: '^(?:loop|zram)'\ninstances:\n  - {}\n", "vda"},
    {"the old name alone still filters",
     "instances:\n  - device_blacklist_re: 'loop[1-7]'\n", "loop0,vda,zram0"},
};

static void test_io_on_fixture_diskstats(void **st)
{
    struct run r;
    run_setup(&r);
    assert_int_equal(place_fixture(r.proc, "diskstats", "diskstats.t0.txt"), 0);
    expect_shipped(&r, "io", "system.io.r_s", true, io_cases, sizeof io_cases / sizeof io_cases[0]);
    run_teardown(&r);
}

/* A bad value on a filter key names FILE:LINE: KEY and refuses the whole load. */
static void test_bad_filter_values(void **st)
{
    struct run r;
    run_setup(&r);
    static const struct {
        const char *collector, *yaml, *want;
    } cases[] = {
        {"disk", "instances:\n  - device_exclude:\n      - /dev/loop\n      - 'sd(?=a)'\n",
         "disk.d/conf.yaml:4: device_exclude[1]: look-around"},
        {"disk", "init_config:\n  mount_point_global_exclude: ['[oops']\ninstances:\n  - {}\n",
         "disk.d/conf.yaml:2: mount_point_global_exclude[0]: not a valid regular expression"},
        {"disk", "instances:\n  - min_disk_size: lots\n",
         "disk.d/conf.yaml:2: min_disk_size: expected a number, got \"lots\""},
        {"disk", "instances:\n  - min_disk_size: [1]\n",
         "disk.d/conf.yaml:2: min_disk_size: expected a number, got a list"},
        {"disk", "instances:\n  - excluded_disk_re: 'a\\x41'\n",
         "disk.d/conf.yaml:2: excluded_disk_re: escape sequence not supported"},
        {"network", "instances:\n  - excluded_interface_re: '(?!lo)'\n",
         "network.d/conf.yaml:2: excluded_interface_re: look-around"},
        {"io", "init_config:\n  device_exclude_re: 'dm-('\ninstances:\n  - {}\n",
         "io.d/conf.yaml:2: device_exclude_re: not a valid regular expression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        if (run_once(&r, cases[i].collector, cases[i].yaml, false, err, sizeof err) == 0)
            fail_msg("case %zu loaded", i);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        char rel[64];
        snprintf(rel, sizeof rel, "%s.d/conf.yaml", cases[i].collector);
        write_file(r.confd, rel, "instances:\n  - {}\n");
    }
    /* an unknown key only warns */
    assert_int_equal(place_fixture(r.proc, "net/dev", "net_dev.t0.txt"), 0);
    must_run(&r, "network", "instances:\n  - excluded_interface_regex: lo\n", false);
    run_teardown(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialect),
        cmocka_unit_test(test_dialect_exhaustive),
        cmocka_unit_test(test_disk_on_fixture_mounts),
        cmocka_unit_test(test_network_on_fixture_dev),
        cmocka_unit_test(test_io_on_fixture_diskstats),
        cmocka_unit_test(test_bad_filter_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
