/*
 * test_containers.c: the cgroup reader, container discovery, the container
 * table's tags and filters, the ECS task metadata parser and the JSON
 * reader, against files captured on this project's dev VM
 * (tests/fixtures/cgroup-v1, cgroup-v2-hybrid) and hand-written layouts
 * this kernel cannot make (cgroup-v2-pure: v2 memory files and a
 * Kubernetes systemd path; ecs/task_v4.json). Expected numbers are taken
 * from the fixture files by hand (see their README files).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../collectors/cgroup.h"
#include "../../collectors/containers.h"
#include "../../collectors/ecs.h"
#include "docker_api.h"
#include "meterd/collector.h"
#include "jsonp.h"

#define ID1 "d0c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4"
#define ID2 "7e1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define POD "0f5a7c3e-1b2d-4e6f-8a9b-0c1d2e3f4a5b"

static char *slurp(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MD_FIXTURES, rel);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static struct md_containers *store_at(const char *fixture, const char *const *exc, size_t nexc,
                                      const char *const *inc, size_t ninc)
{
    char root[1024], err[256] = "";
    snprintf(root, sizeof root, "%s/%s", MD_FIXTURES, fixture);
    /* procfs without self/mounts: the layout is probed from the files under the root */
    struct md_containers_opts o = {.cgroup_root = root, .procfs = MD_FIXTURES "/none",
                                   .exclude = exc, .nexclude = nexc, .include = inc, .ninclude = ninc};
    struct md_containers *s = md_containers_new(&o, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(md_containers_discover(s, 1), 1);
    return s;
}

static const struct md_ctr_view *view_of(const struct md_ctr_snap *sn, const char *id)
{
    for (size_t i = 0; i < sn->n; i++)
        if (strcmp(sn->v[i].id, id) == 0)
            return &sn->v[i];
    return NULL;
}

static bool has_tag(const struct md_ctr_view *v, const char *t)
{
    for (size_t i = 0; i < v->ntags; i++)
        if (strcmp(v->tags[i], t) == 0)
            return true;
    return false;
}

/* ---- discovery by name ---- */

static void test_match(void **st)
{
    (void)st;
    char id[MD_CID_MAX + 1];
    assert_int_equal(md_containers_match(ID1, id), 1);
    assert_string_equal(id, ID1);
    assert_int_equal(md_containers_match("docker-" ID1 ".scope", id), 1);
    assert_int_equal(md_containers_match("crio-" ID1 ".scope", id), 1);
    assert_int_equal(md_containers_match("cri-containerd-" ID1 ".scope", id), 1);
    assert_string_equal(id, ID1);
    assert_int_equal(md_containers_match("0123456789abcdef0123456789abcdef-1234567890", id), 1);
    assert_string_equal(id, "0123456789abcdef0123456789abcdef-1234567890");
    /* not containers */
    assert_int_equal(md_containers_match("crio-conmon-" ID1 ".scope", id), 0);
    assert_int_equal(md_containers_match("var-lib-docker-containers-" ID1 "-mounts-shm.mount", id), 0);
    assert_int_equal(md_containers_match("pod" POD, id), 0);
    assert_int_equal(md_containers_match("kubepods-burstable-pod0f5a7c3e_1b2d_4e6f_8a9b_0c1d2e3f4a5b.slice", id), 0);
    assert_int_equal(md_containers_match("init.scope", id), 0);
    assert_int_equal(md_containers_match("D0C4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4A5B6C7D8E9F0A1B2C3D4", id), 0);
    assert_int_equal(md_containers_match("0c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4", id), 0); /* 63 */
    assert_int_equal(md_containers_match(ID1 "a", id), 0); /* 65 */
}

static void test_pod_uid_and_pid_cgroup(void **st)
{
    (void)st;
    char uid[64], id[MD_CID_MAX + 1];
    assert_true(md_containers_pod_uid("/kubepods/burstable/pod" POD "/" ID1, uid, sizeof uid));
    assert_string_equal(uid, POD);
    assert_true(md_containers_pod_uid("/kubepods.slice/kubepods-burstable.slice/"
                                      "kubepods-burstable-pod0f5a7c3e_1b2d_4e6f_8a9b_0c1d2e3f4a5b.slice/"
                                      "cri-containerd-" ID1 ".scope", uid, sizeof uid));
    assert_string_equal(uid, POD);
    assert_false(md_containers_pod_uid("/docker/" ID1, uid, sizeof uid));
    /* v1: the memory line nests elsewhere; any line naming the container will do */
    assert_int_equal(md_containers_id_of_cgroup_text(slurp("cgroup-v1/proc_pid_cgroup.txt"), id), 0);
    assert_string_equal(id, ID1);
    assert_int_equal(md_containers_id_of_cgroup_text(slurp("cgroup-v2-hybrid/proc_pid_cgroup.txt"), id), 0);
    assert_string_equal(id, ID1);
    assert_int_equal(md_containers_id_of_cgroup_text("0::/system.slice/docker-" ID2 ".scope\n", id), 0);
    assert_string_equal(id, ID2);
    assert_int_equal(md_containers_id_of_cgroup_text("0::/ecs/158d1c8083dd49d6b527399fd6414f5c/" ID2 "\n", id), 0);
    assert_string_equal(id, ID2);
    /* a private cgroup namespace shows "/": no id, not an error to crash on */
    assert_int_equal(md_containers_id_of_cgroup_text("0::/\n", id), -ENOENT);
    assert_int_equal(md_containers_id_of_cgroup_text("garbage", id), -ENOENT);
}

/* ---- layout ---- */

static void test_layout_from_mounts(void **st)
{
    (void)st;
    struct md_cg_layout l;
    /* this VM's hybrid mounts: v1 wins, cpu and cpuacct are separate mounts */
    assert_int_equal(md_cg_layout_parse(&l, slurp("proc/mounts.t0.txt"), "/sys/fs/cgroup"), 0);
    assert_int_equal(l.mode, MD_CG_V1);
    assert_string_equal(l.mount[MD_CGC_CPU], "/sys/fs/cgroup/cpu");
    assert_string_equal(l.mount[MD_CGC_CPUACCT], "/sys/fs/cgroup/cpuacct");
    assert_string_equal(l.mount[MD_CGC_MEMORY], "/sys/fs/cgroup/memory");
    assert_string_equal(l.unified, "/sys/fs/cgroup/unified");
    /* co-mounted cpu,cpuacct; mounts outside the root are someone else's */
    const char *co = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
                     "cgroup /host/sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
                     "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
    assert_int_equal(md_cg_layout_parse(&l, co, "/sys/fs/cgroup/"), 0);
    assert_string_equal(l.mount[MD_CGC_CPU], "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(l.mount[MD_CGC_CPUACCT], "/sys/fs/cgroup/cpu,cpuacct");
    assert_int_equal(md_cg_layout_parse(&l, co, "/host/sys/fs/cgroup"), 0);
    assert_string_equal(l.mount[MD_CGC_MEMORY], "/host/sys/fs/cgroup/memory");
    assert_string_equal(l.mount[MD_CGC_CPU], "");
    /* pure v2 */
    assert_int_equal(md_cg_layout_parse(&l, "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n",
                                        "/sys/fs/cgroup"), 0);
    assert_int_equal(l.mode, MD_CG_V2);
    assert_string_equal(l.unified, "/sys/fs/cgroup");
    /* nothing: not an error the agent dies of, just no containers */
    assert_int_equal(md_cg_layout_parse(&l, "proc /proc proc rw 0 0\n", "/nonexistent-root"), -ENOENT);
}

static void test_parsers_edge_cases(void **st)
{
    (void)st;
    assert_true(isnan(md_cg_parse_cpumax("max 100000\n")));
    assert_true(md_cg_parse_cpumax("150000 100000\n") == 1.5e9);
    assert_true(isnan(md_cg_parse_cpumax("garbage")));
    assert_int_equal(md_cg_cpuset_count("0-3,6\n"), 5);
    assert_int_equal(md_cg_cpuset_count("3-1"), 0);
    struct md_cg_stats s;
    md_cg_stats_clear(&s);
    s.mem_usage = 100;
    /* v1 "unlimited" (2^63-1 rounded down to a page) is no limit */
    md_cg_parse_v1_memstat("total_rss 10\ntotal_cache 20\nhierarchical_memory_limit 9223372036854771712\n"
                           "total_inactive_file 30\n", &s);
    assert_true(isnan(s.mem_limit));
    assert_true(s.mem_working_set == 70);
    double r, w;
    md_cg_parse_blkio("Total 0\n", &r, &w); /* v1 without a throttle rule */
    assert_true(r == 0 && w == 0);
}

/* ---- reading fixture trees ---- */

static void test_v1_fixture(void **st)
{
    (void)st;
    struct md_containers *s = store_at("cgroup-v1", NULL, 0, NULL, 0);
    struct md_ctr_snap sn = {0};
    assert_int_equal(md_containers_snapshot(s, MD_CARD_HIGH, &sn), 0);
    assert_int_equal(sn.n, 1);
    const struct md_ctr_view *v = view_of(&sn, ID1);
    assert_non_null(v);
    /* memory is nested under init's own memcg on this VM; the others are not */
    assert_string_equal(v->paths[MD_CGC_MEMORY], "/init-group/b8ddf95135f62bf8fdde55bf2b038a1c/docker/" ID1);
    assert_string_equal(v->paths[MD_CGC_CPU], "/docker/" ID1);
    assert_true(has_tag(v, "container_id:" ID1));
    assert_true(has_tag(v, "runtime:docker"));
    struct md_cg_stats c;
    struct md_fbuf fb = {0};
    assert_int_equal(md_cg_read(md_containers_layout(s), v->paths, 2, &fb, &c), 0);
    assert_true(c.cpu_total == 2051754465.0);
    assert_true(c.cpu_user == 38 * 1e7 && c.cpu_system == 166 * 1e7);
    assert_true(c.throttled_periods == 40 && c.throttled_time == 4910216156.0);
    assert_true(c.cpu_limit == 0.5e9); /* 50000 / 100000 */
    assert_true(c.mem_usage == 107446272 && c.mem_rss == 72335360 && c.mem_cache == 33554432);
    assert_true(c.mem_limit == 268435456);
    assert_true(c.mem_working_set == 107446272.0 - 33554432.0);
    assert_true(c.mem_oom_events == 0); /* memory.failcnt, as upstream */
    assert_true(c.io_read == 8388608 && c.io_write == 8388608);
    assert_true(c.io_read_ops == 8 && c.io_write_ops == 8);
    assert_true(c.threads == 4 && c.thread_limit == 64 && c.procs == 4);
    md_procfs_free(&fb);
    md_ctr_snap_free(&sn);
    md_containers_free(s);
}

static void test_v2_hybrid_fixture(void **st)
{
    (void)st;
    struct md_containers *s = store_at("cgroup-v2-hybrid", NULL, 0, NULL, 0);
    assert_int_equal(md_containers_layout(s)->mode, MD_CG_V2);
    struct md_ctr_snap sn = {0};
    assert_int_equal(md_containers_snapshot(s, MD_CARD_HIGH, &sn), 0);
    assert_int_equal(sn.n, 1); /* not the .mount, not crio-conmon, not init.scope */
    const struct md_ctr_view *v = view_of(&sn, ID1);
    assert_non_null(v);
    assert_string_equal(v->paths[MD_CGC_UNIFIED], "/system.slice/docker-" ID1 ".scope");
    struct md_cg_stats c;
    struct md_fbuf fb = {0};
    assert_int_equal(md_cg_read(md_containers_layout(s), v->paths, 2, &fb, &c), 0);
    assert_true(c.cpu_total == 4823512000.0 && c.cpu_user == 894287000.0 && c.cpu_system == 3929225000.0);
    assert_true(c.throttled_periods == 38 && c.throttled_time == 2707894000.0);
    assert_true(c.cpu_limit == 0.5e9);
    assert_true(c.io_read == 16785408 && c.io_write == 33562624);
    assert_true(c.io_read_ops == 34 && c.io_write_ops == 23);
    assert_true(c.threads == 3 && c.thread_limit == 64 && c.procs == 3);
    /* the memory controller is not enabled there: unknown, not zero */
    assert_true(isnan(c.mem_usage) && isnan(c.mem_rss) && isnan(c.mem_limit));
    md_procfs_free(&fb);
    md_ctr_snap_free(&sn);
    md_containers_free(s);
}

static void test_v2_pure_kubernetes_fixture(void **st)
{
    (void)st;
    struct md_containers *s = store_at("cgroup-v2-pure", NULL, 0, NULL, 0);
    struct md_ctr_snap sn = {0};
    assert_int_equal(md_containers_snapshot(s, MD_CARD_HIGH, &sn), 0);
    const struct md_ctr_view *v = view_of(&sn, ID2);
    assert_non_null(v);
    assert_true(has_tag(v, "pod_uid:" POD));
    assert_true(has_tag(v, "runtime:containerd"));
    struct md_cg_stats c;
    struct md_fbuf fb = {0};
    assert_int_equal(md_cg_read(md_containers_layout(s), v->paths, 2, &fb, &c), 0);
    assert_true(c.mem_usage == 96.0 * 1048576 && c.mem_rss == 64.0 * 1048576 && c.mem_cache == 24.0 * 1048576);
    assert_true(c.mem_working_set == 80.0 * 1048576); /* current - inactive_file */
    assert_true(c.mem_limit == 256.0 * 1048576 && c.mem_oom_events == 2 && c.mem_kernel == 4194304);
    assert_true(c.cpu_total == 1.5e9 && c.cpu_user == 0.5e9 && c.cpu_system == 1e9);
    assert_true(c.cpu_limit == 2e9); /* cpu.max "max": the whole host (2 CPUs here) */
    assert_true(c.io_read == 1048576 && c.io_write == 2097152 && c.io_read_ops == 16 && c.io_write_ops == 32);
    assert_true(c.threads == 5 && isnan(c.thread_limit) && c.procs == 3);
    md_procfs_free(&fb);
    md_ctr_snap_free(&sn);
    md_containers_free(s);
}

/* ---- the collector through a recording emitter ---- */

struct rec {
    char name[64];
    enum md_emit_kind kind;
    double value;
    size_t ntags;
};
struct recorder {
    struct md_emitter e;
    struct rec r[128];
    size_t n;
};

static void record(struct md_emitter *e, const char *name, enum md_emit_kind kind, double value,
                   const char *const *tags, size_t ntags)
{
    struct recorder *rc = (struct recorder *)e;
    (void)tags;
    if (rc->n < 128) {
        snprintf(rc->r[rc->n].name, sizeof rc->r[0].name, "%s", name);
        rc->r[rc->n].kind = kind;
        rc->r[rc->n].value = value;
        rc->r[rc->n++].ntags = ntags;
    }
}

static const struct rec *find_rec(const struct recorder *rc, const char *name)
{
    for (size_t i = 0; i < rc->n; i++)
        if (strcmp(rc->r[i].name, name) == 0)
            return &rc->r[i];
    return NULL;
}

extern const struct md_collector_ops md_collector_container, md_collector_docker;

static void run_collector(const struct md_collector_ops *ops, struct md_containers *s, struct recorder *rc)
{
    struct md_instance_conf conf = {.procfs_path = "/proc", .sysfs_path = "/sys", .containers = s};
    void *state = NULL;
    char err[128];
    assert_int_equal(ops->configure(&conf, &state, err, sizeof err), 0);
    memset(rc, 0, sizeof *rc);
    rc->e.emit = record;
    rc->e.now_ns = 2;
    assert_int_equal(ops->collect(state, &rc->e), 0);
    ops->destroy(state);
}

static void test_collectors_names_and_units(void **st)
{
    (void)st;
    struct md_containers *s = store_at("cgroup-v1", NULL, 0, NULL, 0);
    struct recorder rc;
    run_collector(&md_collector_container, s, &rc);
    const struct rec *r = find_rec(&rc, "container.cpu.usage");
    assert_non_null(r);
    assert_int_equal(r->kind, MD_EMIT_RATE);
    assert_true(r->value == 2051754465.0); /* ns: the runner makes it ns/s */
    assert_int_equal(find_rec(&rc, "container.memory.rss")->kind, MD_EMIT_GAUGE);
    assert_true(find_rec(&rc, "container.memory.limit")->value == 268435456);
    assert_true(find_rec(&rc, "container.io.write")->value == 8388608);
    assert_true(find_rec(&rc, "container.pid.count")->value == 4);
    assert_null(find_rec(&rc, "container.uptime")); /* no runtime metadata: unknown */
    run_collector(&md_collector_docker, s, &rc);
    /* docker.cpu.* are percent of one core: ns / 1e7, as a rate */
    assert_true(find_rec(&rc, "docker.cpu.usage")->value == 2051754465.0 / 1e7);
    assert_true(find_rec(&rc, "docker.mem.in_use")->value == 107446272.0 / 268435456.0);
    assert_true(find_rec(&rc, "docker.io.write_bytes")->value == 8388608);
    assert_true(find_rec(&rc, "docker.thread.count")->value == 4);
    md_containers_free(s);
}

/* ---- metadata, tags, cardinality, filters ---- */

static void test_ecs_task_metadata(void **st)
{
    (void)st;
    struct md_containers *s = store_at("cgroup-v1", NULL, 0, NULL, 0);
    const char *json = slurp("ecs/task_v4.json");
    assert_int_equal(md_ecs_apply_task(s, json, strlen(json)), 2);
    char buf[2048];
    assert_true(md_containers_tags_text(s, ID1, 64, MD_CARD_HIGH, buf, sizeof buf) > 0);
    const char *want[] = {"container_id:" ID1, "container_name:ecs-checkout-42-web-e4e4e4e4e4e4e4e4e401",
                          "task_family:checkout", "task_version:42", "ecs_cluster_name:prod-web",
                          "ecs_container_name:web", "short_image:checkout", "image_tag:2.1.0",
                          "image_name:111122223333.dkr.ecr.us-west-2.amazonaws.com/checkout",
                          "task_arn:arn:aws:ecs:us-west-2:111122223333:task/prod-web/158d1c8083dd49d6b527399fd6414f5c"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_non_null(strstr(buf, want[i]));
    /* low cardinality: no ids, no names, no task ARN */
    assert_true(md_containers_tags_text(s, ID1, 64, MD_CARD_LOW, buf, sizeof buf) > 0);
    assert_null(strstr(buf, "container_id:"));
    assert_null(strstr(buf, "container_name:ecs-"));
    assert_null(strstr(buf, "task_arn:"));
    assert_non_null(strstr(buf, "task_family:checkout"));
    assert_true(md_containers_tags_text(s, ID1, 64, MD_CARD_ORCHESTRATOR, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "task_arn:"));
    assert_null(strstr(buf, "container_id:"));
    /* an unknown id, a buffer too small */
    assert_int_equal(md_containers_tags_text(s, "nope", 4, MD_CARD_HIGH, buf, sizeof buf), 0);
    assert_int_equal(md_containers_tags_text(s, ID1, 64, MD_CARD_HIGH, buf, 16), -ENOSPC);
    /* broken metadata is refused, not half applied */
    assert_int_equal(md_ecs_apply_task(s, "{\"Containers\": 3}", 17), -EINVAL);
    assert_int_equal(md_ecs_apply_task(s, "{not json", 9), -EINVAL);
    md_containers_free(s);
}

static void test_filters(void **st)
{
    (void)st;
    const char *exc[] = {"name:^ecs-"}, *inc[] = {"image:checkout:2\\.1"};
    struct md_containers *s = store_at("cgroup-v1", exc, 1, NULL, 0);
    const char *json = slurp("ecs/task_v4.json");
    md_ecs_apply_task(s, json, strlen(json));
    struct md_ctr_snap sn = {0};
    md_containers_snapshot(s, MD_CARD_HIGH, &sn);
    assert_true(view_of(&sn, ID1)->excluded);
    md_containers_free(s);
    s = store_at("cgroup-v1", exc, 1, inc, 1); /* include wins over exclude */
    md_ecs_apply_task(s, json, strlen(json));
    md_containers_snapshot(s, MD_CARD_HIGH, &sn);
    assert_false(view_of(&sn, ID1)->excluded);
    md_ctr_snap_free(&sn);
    md_containers_free(s);
    char why[256];
    assert_null(md_containers_check_filter("kube_namespace:^kube-", why, sizeof why));
    assert_non_null(md_containers_check_filter("label:x", why, sizeof why));
    assert_non_null(md_containers_check_filter("name:(", why, sizeof why));
    struct md_containers_opts o = {.exclude = (const char *const[]){"name:["}, .nexclude = 1};
    char err[256] = "";
    assert_null(md_containers_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "container_exclude[0]"));
}

static void test_forget(void **st)
{
    (void)st;
    struct md_containers *s = store_at("cgroup-v1", NULL, 0, NULL, 0);
    struct md_ctr_info info = {.name = "gone", .image = "busybox", .running = 0};
    md_containers_begin(s, MD_SRC_DOCKER);
    assert_int_equal(md_containers_set(s, MD_SRC_DOCKER, ID2, &info), 0);
    md_containers_end(s, MD_SRC_DOCKER);
    struct md_ctr_snap sn = {0};
    md_containers_snapshot(s, MD_CARD_HIGH, &sn);
    assert_int_equal(sn.n, 2);
    assert_false(view_of(&sn, ID2)->in_cgroups); /* a stopped container: metadata only */
    md_containers_begin(s, MD_SRC_DOCKER); /* a listing without it */
    md_containers_end(s, MD_SRC_DOCKER);
    md_containers_snapshot(s, MD_CARD_HIGH, &sn);
    assert_int_equal(sn.n, 1);
    assert_null(view_of(&sn, ID2));
    md_ctr_snap_free(&sn);
    md_containers_free(s);
}

static void test_docker_host(void **st)
{
    (void)st;
    char sock[256], base[256];
    assert_int_equal(md_docker_host_parse(NULL, sock, sizeof sock, base, sizeof base), 0);
    assert_string_equal(sock, "/var/run/docker.sock");
    assert_int_equal(md_docker_host_parse("unix:///tmp/d/docker.sock", sock, sizeof sock, base, sizeof base), 0);
    assert_string_equal(sock, "/tmp/d/docker.sock");
    assert_string_equal(base, "http://localhost");
    assert_int_equal(md_docker_host_parse("tcp://127.0.0.1:2375", sock, sizeof sock, base, sizeof base), 0);
    assert_string_equal(sock, "");
    assert_string_equal(base, "http://127.0.0.1:2375");
    assert_int_equal(md_docker_host_parse("ssh://x", sock, sizeof sock, base, sizeof base), -EINVAL);
}

static void test_jsonp(void **st)
{
    (void)st;
    const char *t = "{\"a\": [1, -2.5e1, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\", \"o\": {}}";
    struct md_jval *v = md_jsonp_parse(t, strlen(t), NULL);
    assert_non_null(v);
    const struct md_jval *a = md_jsonp_get(v, "a");
    assert_int_equal(a->n, 5);
    assert_true(a->items[1]->num == -25);
    assert_true(a->items[2]->b && !a->items[3]->b);
    assert_string_equal(md_jsonp_str(v, "s"), "x\xc3\xa9\xf0\x9f\x98\x80\n\"");
    assert_int_equal(md_jsonp_get(v, "o")->n, 0);
    md_jsonp_free(v);
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "01x", "[1] 2", "{\"a\":\"\\u12\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(md_jsonp_parse(bad[i], strlen(bad[i]), NULL));
    char deep[200];
    memset(deep, '[', sizeof deep);
    assert_null(md_jsonp_parse(deep, sizeof deep, NULL)); /* depth bound, no stack overflow */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_pod_uid_and_pid_cgroup),
        cmocka_unit_test(test_layout_from_mounts),
        cmocka_unit_test(test_parsers_edge_cases),
        cmocka_unit_test(test_v1_fixture),
        cmocka_unit_test(test_v2_hybrid_fixture),
        cmocka_unit_test(test_v2_pure_kubernetes_fixture),
        cmocka_unit_test(test_collectors_names_and_units),
        cmocka_unit_test(test_ecs_task_metadata),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_docker_host),
        cmocka_unit_test(test_jsonp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
