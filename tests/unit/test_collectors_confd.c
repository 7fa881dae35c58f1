/*
 * test_collectors_confd.c: the runner's conf.d loading (good folders and
 * the broken files of tests/fixtures/confd-bad/, each with its
 * "FILE:LINE: KEY: reason"), and the runner on a real libuv loop: a rate
 * that appears only on an instance's second timer run, overrun skipping
 * with a collector that blocks until the test releases it, freeing while a
 * run is in flight, and a reload (new runner, old one freed) on one loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "test_collectors_common.h"

/* A fixture folder and the message it must give, after the folder's path. */
struct confd_case {
    const char *dir, *expect;
};

/* A case's folder (under fixtures/KIND/), the whole message it must give, and what loading it said. */
struct case_load { char dir[512], want[600], err[512]; };

/* Load a case's folder: the runner, NULL when the folder is refused (l->err says why). */
static struct md_collect_runner *case_load(const char *kind, const struct confd_case *c,
                                           struct case_load *l)
{
    snprintf(l->dir, sizeof l->dir, "%s/%s/%s", MD_FIXTURES, kind, c->dir);
    snprintf(l->want, sizeof l->want, "%s%s", l->dir, c->expect);
    l->err[0] = '\0';
    return md_collect_new(NULL, l->dir, NULL, NULL, NULL, l->err, sizeof l->err);
}

/* Every instance's stats into all (room for 32); returns how many. */
static size_t all_stats(struct md_collect_runner *r, struct md_collect_stats *all)
{
    size_t n = md_collect_ninstances(r);
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(md_collect_stats(r, i, &all[i]), 0);
    return n;
}

/* ---- conf.d: broken files ------------------------------------------------ */

static const struct confd_case bad_cases[] = {
    {"bool_type", "/disk.d/conf.yaml:4: use_mount: expected true or false"},
    {"interval_range", "/cpu.d/conf.yaml:2: min_collection_interval: 0 is out of range (1..86400)"},
    {"interval_type", "/cpu.d/conf.yaml:4: min_collection_interval: expected a duration"},
    {"tags_not_list", "/memory.d/conf.yaml:3: tags: expected a list of strings"},
    {"instances_missing", "/load.d/conf.yaml:1: instances: missing"},
    {"instances_empty", "/load.d/conf.yaml:2: instances: expected a list of at least one instance"},
    {"bad_regex", "/network.d/conf.yaml:3: excluded_interface_re: not a valid regular expression"},
    {"list_item", "/network.d/conf.yaml:5: excluded_interfaces[1]: expected a single value"},
    {"int_range", "/disk.d/conf.yaml:3: min_disk_size: -5 is out of range (0.."},
    {"number_type", "/disk.d/conf.yaml:4: min_disk_size: expected a number, got \"10 MiB\""},
    {"regex_dialect", "/disk.d/conf.yaml:5: device_exclude[1]: look-around"},
    {"yaml_syntax", "/cpu.d/conf.yaml:"},
};

static void test_confd_bad(void **st)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct case_load l;
        struct md_collect_runner *r = case_load("confd-bad", &bad_cases[i], &l);
        if (r || strncmp(l.err, l.want, strlen(l.want)) != 0)
            fail_msg("case %s: got '%s', want prefix '%s'", bad_cases[i].dir, l.err, l.want);
        l.err[0] = '\0';
        assert_int_equal(md_collect_validate(l.dir, NULL, NULL, l.err, sizeof l.err), -EINVAL);
        assert_int_equal(strncmp(l.err, l.want, strlen(l.want)), 0);
    }
}

/* ---- conf.d: unknown keys are warnings, named like errors, once per load ---- */

static const struct confd_case warn_cases[] = {
    {"unknown_key", "/network.d/conf.yaml:4: no_such_network_option: unknown key for collector 'network', ignored"},
    {"top_level", "/uptime.d/conf.yaml:4: instanses: unknown key at the top level of a check file, ignored"},
    {"default_unknown", "/io.d/conf.yaml.default:4: frobnicate: unknown key for collector 'io', ignored"},
};

static void test_confd_warn(void **st)
{
    for (size_t i = 0; i < sizeof warn_cases / sizeof warn_cases[0]; i++) {
        struct case_load l;
        struct md_collect_runner *r = case_load("confd-warn", &warn_cases[i], &l);
        if (!r)
            fail_msg("case %s: %s", warn_cases[i].dir, l.err);
        const struct md_strlist *notes = md_collect_notes(r);
        if (notes->n != 1 || strcmp(notes->v[0], l.want) != 0)
            fail_msg("case %s: %zu warnings, first '%s', want '%s'", warn_cases[i].dir, notes->n,
                     notes->n ? notes->v[0] : "", l.want);
        md_collect_free(r);
    }
}

/* ---- conf.d: a good folder ------------------------------------------------ */

static const struct md_collect_stats *find_inst(struct md_collect_stats *all, size_t n,
                                                const char *name, int k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].collector, name) == 0 && k-- == 0)
            return &all[i];
    return NULL;
}

/*
 * An instance follows the rules of meterd.yaml: 1 and quoted booleans,
 * quoted integers, durations with a unit, a list written as one string.
 * Each of these was refused by conf.d while meterd.yaml took it.
 */
static void test_confd_same_rules_as_main_file(void **st)
{
    char dir[] = "/tmp/md-confd-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "cpu.d/conf.yaml",
               "instances:\n"
               "  - enabled: 1\n"
               "    min_collection_interval: \"2m\"\n"
               "    tags: team:infra env:test\n");
    write_file(dir, "disk.d/conf.yaml",
               "instances:\n"
               "  - use_mount: \"true\"\n"
               "    min_disk_size: \"10\"\n"
               "    enabled: \"off\"\n");
    struct md_collect_runner *r = collect_ok(dir, NULL, NULL);
    struct md_collect_stats all[32];
    size_t n = all_stats(r, all);
    const struct md_collect_stats *s = find_inst(all, n, "cpu", 0);
    assert_non_null(s);
    assert_true(s->enabled);
    assert_int_equal(s->interval, 120);
    assert_non_null(s = find_inst(all, n, "disk", 0));
    assert_false(s->enabled);
    md_collect_free(r);

    /* And the same refusals, worded as for meterd.yaml. */
    char err[512] = "";
    write_file(dir, "cpu.d/conf.yaml", "instances:\n  - enabled: 2\n");
    assert_null(md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "cpu.d/conf.yaml:2: enabled: expected true or false, got \"2\""));
    write_file(dir, "cpu.d/conf.yaml", "init_config:\n  frobnicate: 1\ninstances:\n  - {}\n");
    assert_non_null(r = md_collect_new(NULL, dir, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(md_collect_notes(r)->v[0], "cpu.d/conf.yaml:2: frobnicate: unknown key in init_config"));
    md_collect_free(r);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_confd_good(void **st)
{
    char dir[] = "/tmp/md-confd-good-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "cpu.d/conf.yaml",
               "## @param min_collection_interval - integer - optional - default: 15\n"
               "init_config:\n"
               "instances:\n"
               "  - min_collection_interval: 30\n"
               "    tags:\n"
               "      - team:infra\n"
               "      - env:test\n"
               "  - enabled: false\n");
    write_file(dir, "network.d/conf.yaml.default", "init_config:\ninstances:\n  - {}\n  - {}\n");
    write_file(dir, "network.d/conf.yaml", "init_config:\ninstances:\n  - excluded_interfaces: [eth0]\n    tags:\n");
    write_file(dir, "disk.d/conf.yaml.default", "init_config:\ninstances:\n  - use_mount: yes\n");
    write_file(dir, "load.d/conf.yaml", "");
    write_file(dir, "memory.d/conf.yaml.example", "this: [is not even yaml\n");
    write_file(dir, "io.d/conf.yaml", "# nothing but a comment\n");
    write_file(dir, "uptime.d/a.yaml", "instances:\n  - min_collection_interval: 60\n");
    write_file(dir, "uptime.d/b.yml", "instances:\n  -\n");
    write_file(dir, "nosuchcollector.d/conf.yaml", "instances:\n  - whatever: 1\n");

    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_opts o = {.observe = cap_observe, .observe_ud = c};
    struct md_collect_runner *r = collect_ok(dir, NULL, &o);
    struct md_collect_stats all[32];
    size_t n = all_stats(r, all);

    const struct md_collect_stats *s = find_inst(all, n, "cpu", 0);
    assert_non_null(s);
    assert_int_equal(s->interval, 30);
    assert_true(s->enabled);
    assert_non_null(strstr(s->source, "cpu.d/conf.yaml"));
    assert_non_null(s = find_inst(all, n, "cpu", 1));
    assert_false(s->enabled);
    assert_int_equal(s->instance, 1);
    /* network: conf.yaml wins over conf.yaml.default, one instance */
    assert_non_null(s = find_inst(all, n, "network", 0));
    assert_non_null(strstr(s->source, "network.d/conf.yaml"));
    assert_null(strstr(s->source, ".default"));
    assert_null(find_inst(all, n, "network", 1));
    /* disk: only a .default exists, so it is used */
    assert_non_null(s = find_inst(all, n, "disk", 0));
    assert_non_null(strstr(s->source, "disk.d/conf.yaml.default"));
    /* empty, example-only and comment-only folders: defaults */
    assert_non_null(s = find_inst(all, n, "load", 0));
    assert_string_equal(s->source, "default");
    assert_int_equal(s->interval, 15);
    assert_non_null(s = find_inst(all, n, "memory", 0));
    assert_string_equal(s->source, "default");
    assert_non_null(s = find_inst(all, n, "io", 0));
    assert_string_equal(s->source, "default");
    /* two files, sorted */
    assert_non_null(s = find_inst(all, n, "uptime", 0));
    assert_int_equal(s->interval, 60);
    assert_non_null(s = find_inst(all, n, "uptime", 1));
    assert_non_null(strstr(s->source, "uptime.d/b.yml"));
    assert_int_equal(s->interval, 15);

    /* instance tags follow the collector's own */
    assert_int_equal(md_collect_run_once(r, 1), 0);
    const struct cap_point *p = cap_find(c, "system.cpu.num_cores", NULL);
    assert_non_null(p);
    assert_string_equal(p->tags, "team:infra,env:test");
    assert_non_null(p = cap_find(c, "system.disk.total", NULL));
    assert_non_null(strstr(p->tags, "device:/"));
    md_collect_free(r);

    /* the disabled cpu instance is not run */
    char err[512] = "";
    assert_int_equal(md_collect_validate(dir, NULL, NULL, err, sizeof err), 0);
    /* no folder at all: every default_on collector once */
    r = md_collect_new(NULL, "/tmp/md-no-such-confd", NULL, NULL, NULL, err, sizeof err);
    assert_non_null(r);
    size_t ncollectors = 0;
    for (size_t i = 0; md_collectors[i]; i++)
        ncollectors += md_collectors[i]->default_on;
    assert_int_equal(md_collect_ninstances(r), ncollectors);
    md_collect_free(r);
    free(c);
    rm_tree(dir);
}

/* ---- the shipped conf.d: valid, one instance each, every key documented -- */

static void test_confd_shipped(void **st)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/../../conf.d", MD_FIXTURES);
    struct md_collect_runner *r = collect_ok(dir, NULL, NULL);
    for (size_t c = 0; md_collectors[c]; c++) {
        const struct md_collector_ops *ops = md_collectors[c];
        size_t n = 0;
        for (size_t i = 0; i < md_collect_ninstances(r); i++) {
            struct md_collect_stats s;
            md_collect_stats(r, i, &s);
            if (strcmp(s.collector, ops->name) == 0) {
                n++;
                assert_non_null(strstr(s.source, "/conf.yaml"));
                assert_true(s.enabled || !ops->default_on); /* off by default: shipped disabled */
            }
        }
        if (n != 1)
            fail_msg("%s: %zu instances in the shipped conf.d", ops->name, n);
        char rel[128];
        snprintf(rel, sizeof rel, "../../conf.d/%s.d/conf.yaml", ops->name);
        char *text = fx_read(rel);
        assert_non_null(text);
        for (const struct md_key_decl *k = ops->keys; k && k->name; k++) {
            if (k->type == MD_KEY_IGNORED)
                continue; /* the Datadog check's keys meterd only accepts */
            char want[128];
            snprintf(want, sizeof want, "## @param %s - ", k->name);
            if (!strstr(text, want))
                fail_msg("%s.d/conf.yaml does not document %s", ops->name, k->name);
        }
        free(text);
    }
    md_collect_free(r);
}

/* ---- test collectors for the loop tests ---------------------------------- */

static uv_sem_t block_sem;
static atomic_int block_entered, block_inside, block_max_inside;

static int block_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    *state = NULL;
    return 0;
}

/* Blocks until the test posts the semaphore: a run that overruns its interval. */
static int block_collect(void *state, struct md_emitter *e)
{
    atomic_fetch_add(&block_entered, 1);
    int in = atomic_fetch_add(&block_inside, 1) + 1;
    if (in > atomic_load(&block_max_inside))
        atomic_store(&block_max_inside, in);
    uv_sem_wait(&block_sem);
    atomic_fetch_sub(&block_inside, 1);
    md_gauge(e, "test.block", 1, NULL, 0);
    return 0;
}

static void block_destroy(void *state)
{
}

static const struct md_collector_ops block_ops = {
    .name = "block", .default_on = true, .default_interval = 1,
    .configure = block_configure, .collect = block_collect, .destroy = block_destroy,
};
static const struct md_collector_ops *const block_registry[] = {&block_ops, NULL};

struct counter_state {
    double n;
};
static int counter_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    *state = calloc(1, sizeof(struct counter_state));
    return *state ? 0 : -ENOMEM;
}
static int counter_collect(void *state, struct md_emitter *e)
{
    struct counter_state *s = state;
    s->n += 10;
    md_rate(e, "test.counter", s->n, NULL, 0);
    return 0;
}
static void counter_destroy(void *state)
{
    free(state);
}
static const struct md_collector_ops counter_ops = {
    .name = "counter", .default_on = true, .default_interval = 1,
    .configure = counter_configure, .collect = counter_collect, .destroy = counter_destroy,
};
static const struct md_collector_ops *const counter_registry[] = {&counter_ops, NULL};

/* A sink for the daemon path (struct md_point_sink), recording the run number. */
static void sink_point(void *ud, const struct md_point *p)
{
    cap_store(ud, p, p->type == MD_MONOTONIC_COUNT ? MD_EMIT_MONOTONIC_COUNT : MD_EMIT_GAUGE);
}

/* A watchdog: every loop test stops after 10 s whatever happens. */
struct loopctl {
    uv_loop_t loop;
    uv_timer_t poll, deadline;
    bool (*step)(struct loopctl *l); /* true: done */
    struct md_collect_runner *r, *r2;
    bool timed_out, released;
    int phase;
    struct cap *c, *c2;
};

static void on_poll(uv_timer_t *t)
{
    struct loopctl *l = t->data;
    if (l->step(l))
        uv_stop(&l->loop);
}
static void on_deadline(uv_timer_t *t)
{
    struct loopctl *l = t->data;
    l->timed_out = true;
    uv_stop(&l->loop);
}

static void loop_init(struct loopctl *l, bool (*step)(struct loopctl *))
{
    assert_int_equal(uv_loop_init(&l->loop), 0);
    l->step = step;
    uv_timer_init(&l->loop, &l->poll);
    uv_timer_init(&l->loop, &l->deadline);
    l->poll.data = l->deadline.data = l;
    uv_timer_start(&l->poll, on_poll, 10, 10);
    uv_timer_start(&l->deadline, on_deadline, 10000, 0);
}

static void loop_finish(struct loopctl *l)
{
    uv_close((uv_handle_t *)&l->poll, NULL);
    uv_close((uv_handle_t *)&l->deadline, NULL);
    /* runs until every handle and in-flight run is closed */
    uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l->loop), 0);
}

/* The watchdog loop, and a runner on it whose points go to c. */
static void loop_runner(struct loopctl *l, bool (*step)(struct loopctl *), const char *confd,
                        const struct md_collect_opts *o, struct cap *c)
{
    loop_init(l, step);
    struct md_point_sink sink = {sink_point, c};
    char err[256] = "";
    l->r = md_collect_new_opts(&l->loop, confd, NULL, NULL, &sink, o, err, sizeof err);
    if (!l->r)
        fail_msg("%s", err);
}

/* Start the runner and run the loop until the step says done: the seconds it took. */
static double loop_run(struct loopctl *l)
{
    assert_int_equal(md_collect_start(l->r), 0);
    uint64_t t0 = uv_hrtime();
    uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_false(l->timed_out);
    return (double)(uv_hrtime() - t0) / 1e9;
}

static uint64_t runs_of(struct md_collect_runner *r)
{
    struct md_collect_stats s;
    return md_collect_stats(r, 0, &s) == 0 ? s.runs : 0;
}

/* ---- the rate shows up on the second timer run only ---------------------- */

static bool rate_step(struct loopctl *l)
{
    return runs_of(l->r) >= 2;
}

static void test_loop_rate_second_run(void **st)
{
    char dir[] = "/tmp/md-confd-loop-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "network.d/conf.yaml",
               "init_config:\ninstances:\n  - min_collection_interval: 1\n    tags: [suite:loop]\n");
    /* make sure lo has moved bytes (a fresh network namespace starts at zero) */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
    close(fd);

    struct loopctl l = {0};
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_opts o = {.only = "network"};
    loop_runner(&l, rate_step, dir, &o, c);
    c->r = l.r;
    double elapsed = loop_run(&l);
    /* two runs one interval apart */
    assert_true(elapsed >= 0.9 && elapsed < 3.0);
    size_t first = 0, second = 0;
    for (size_t i = 0; i < c->n; i++) {
        /* the first run has no rates; Tcp CurrEstab is the collector's one gauge */
        if (c->p[i].run == 1 && strcmp(c->p[i].name, "system.net.tcp.current_established") != 0)
            first++;
        if (c->p[i].run == 2 && strcmp(c->p[i].name, "system.net.bytes_rcvd") == 0 &&
            strcmp(c->p[i].tags, "device:lo,device_name:lo,suite:loop") == 0)
            second++;
    }
    assert_int_equal(first, 0);
    assert_int_equal(second, 1);
    const struct cap_point *p = cap_find(c, "system.net.bytes_rcvd", "device:lo,device_name:lo,suite:loop");
    assert_int_equal(p->type, MD_GAUGE);
    assert_true(p->value >= 0);

    struct md_buf b;
    md_buf_init(&b);
    md_collect_status_json(l.r, &b);
    md_buf_putc(&b, '\0');
    assert_non_null(strstr(b.p, "\"name\":\"network\""));
    assert_non_null(strstr(b.p, "\"runs\":2"));
    assert_non_null(strstr(b.p, "\"interval\":1"));
    assert_non_null(strstr(b.p, "\"skipped_overruns\":0"));
    assert_int_equal(b.p[0], '[');
    md_buf_free(&b);

    md_collect_free(l.r);
    loop_finish(&l);
    free(c);
    rm_tree(dir);
}

/* ---- overruns are counted and skipped, never stacked --------------------- */

static bool overrun_step(struct loopctl *l)
{
    struct md_collect_stats s;
    md_collect_stats(l->r, 0, &s);
    if (!l->released && atomic_load(&block_entered) == 1 && s.skipped >= 2) {
        l->released = true;
        uv_sem_post(&block_sem);
    }
    return l->released && s.runs == 1 && !s.running;
}

static void test_loop_overrun(void **st)
{
    assert_int_equal(uv_sem_init(&block_sem, 0), 0);
    atomic_store(&block_entered, 0);
    atomic_store(&block_max_inside, 0);
    struct loopctl l = {0};
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_opts o = {.registry = block_registry};
    loop_runner(&l, overrun_step, NULL, &o, c);
    loop_run(&l);
    struct md_collect_stats s;
    assert_int_equal(md_collect_stats(l.r, 0, &s), 0);
    assert_int_equal(s.runs, 1);
    assert_true(s.skipped >= 2);
    assert_int_equal(s.errors, 0);
    assert_int_equal(atomic_load(&block_max_inside), 1);
    assert_true(s.last_duration_ms >= 1500); /* it really overran */
    assert_non_null(cap_find(c, "test.block", ""));
    md_collect_free(l.r);
    loop_finish(&l);
    uv_sem_destroy(&block_sem);
    free(c);
}

/* ---- freeing while a run is in flight ------------------------------------- */

static bool inflight_step(struct loopctl *l)
{
    if (l->phase == 0 && atomic_load(&block_entered) == 1) {
        l->phase = 1;
        md_collect_free(l->r); /* the worker still holds the instance */
        l->r = NULL;
        uv_sem_post(&block_sem);
        return true;
    }
    return false;
}

static void test_loop_free_in_flight(void **st)
{
    assert_int_equal(uv_sem_init(&block_sem, 0), 0);
    atomic_store(&block_entered, 0);
    struct loopctl l = {0};
    struct cap *c = calloc(1, sizeof *c);
    struct md_collect_opts o = {.registry = block_registry};
    loop_runner(&l, inflight_step, NULL, &o, c);
    loop_run(&l);
    loop_finish(&l); /* waits for the in-flight run; ASan checks nothing leaks or is reused */
    assert_int_equal(c->n, 0); /* points of a run finishing after free are dropped */
    uv_sem_destroy(&block_sem);
    free(c);
}

/* ---- reload: new runner started, old one freed, same loop ----------------- */

static bool reload_step(struct loopctl *l)
{
    if (l->phase == 0 && runs_of(l->r) >= 1) {
        char err[256];
        struct md_point_sink sink = {sink_point, l->c2};
        struct md_collect_opts o = {.registry = counter_registry};
        l->r2 = md_collect_new_opts(&l->loop, NULL, NULL, NULL, &sink, &o, err, sizeof err);
        assert_non_null(l->r2);
        l->c2->r = l->r2;
        assert_int_equal(md_collect_start(l->r2), 0);
        md_collect_free(l->r);
        l->r = NULL;
        l->c->r = NULL;
        l->phase = 1;
    }
    return l->phase == 1 && runs_of(l->r2) >= 2;
}

static void test_loop_reload(void **st)
{
    struct loopctl l = {0};
    l.c = calloc(1, sizeof *l.c);
    l.c2 = calloc(1, sizeof *l.c2);
    struct md_collect_opts o = {.registry = counter_registry};
    loop_runner(&l, reload_step, NULL, &o, l.c);
    l.c->r = l.r;
    loop_run(&l);
    /* the old runner made one run (a rate: no point); the new one starts from scratch */
    assert_int_equal(l.c->n, 0);
    assert_int_equal(l.c2->n, 1);
    assert_string_equal(l.c2->p[0].name, "test.counter");
    assert_int_equal(l.c2->p[0].run, 2);
    /* 10 per run over about one second */
    assert_true(l.c2->p[0].value > 10 / 1.5 && l.c2->p[0].value < 10 / 0.5);
    md_collect_free(l.r2);
    loop_finish(&l);
    free(l.c);
    free(l.c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_confd_bad),
        cmocka_unit_test(test_confd_warn),
        cmocka_unit_test(test_confd_good),
        cmocka_unit_test(test_confd_same_rules_as_main_file),
        cmocka_unit_test(test_confd_shipped),
        cmocka_unit_test(test_loop_rate_second_run),
        cmocka_unit_test(test_loop_overrun),
        cmocka_unit_test(test_loop_free_in_flight),
        cmocka_unit_test(test_loop_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
