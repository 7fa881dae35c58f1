/*
 * origin_cost.c: what origin detection adds per DogStatsD line, measured on
 * the intake's own function (md_origin_apply) with the cache warm: a line
 * naming a container with |c: (tags appended), the same at high
 * cardinality, and a line with no origin (the cost every line pays when
 * the feature is on). The container table comes from the test fixtures.
 * Prints ns per line; run it next to other work only to compare builds.
 *   build-x/bench/origin_cost [FIXTURES_DIR]
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "containers.h"
#include "ecs.h"
#include "origin.h"

#define ID1 "d0c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *fx = argc > 1 ? argv[1] : "tests/fixtures";
    char root[1024], ecs[1024], err[256];
    snprintf(root, sizeof root, "%s/cgroup-v1", fx);
    snprintf(ecs, sizeof ecs, "%s/ecs/task_v4.json", fx);
    static struct md_origin_stats st;
    struct md_containers_opts o = {.cgroup_root = root, .procfs = "/nonexistent"};
    struct md_containers *s = md_containers_new(&o, err, sizeof err);
    FILE *f = fopen(ecs, "re");
    if (!s || !f) {
        fprintf(stderr, "origin_cost: run from the source tree or pass tests/fixtures\n");
        return 2;
    }
    md_containers_discover(s, 1);
    static char doc[16384];
    size_t n = fread(doc, 1, sizeof doc, f);
    fclose(f);
    md_ecs_apply_task(s, doc, n);
    struct md_origin *og = md_origin_new(s, "/proc", false, true, 0, 8192, &st);
    const char *lines[] = {"bench.m1:1|c|#env:prod,service:web|c:" ID1,
                           "bench.m1:1|c|#env:prod,service:web|c:" ID1 "|card:high",
                           "bench.m1:1|c|#env:prod,service:web"};
    for (int k = 0; k < 3; k++) {
        char line[256];
        size_t len = strlen(lines[k]), out;
        memcpy(line, lines[k], len + 1);
        volatile size_t sink = 0;
        const int N = 2000000;
        double t0 = now();
        for (int i = 0; i < N; i++)
            sink += (size_t)md_origin_apply(og, 0, line, len, 1.0, &out)[0] + out;
        double t1 = now();
        printf("{\"line\":%d,\"ns_per_line\":%.1f,\"bytes_out\":%zu}\n", k, (t1 - t0) / N * 1e9, out);
    }
    md_origin_free(og);
    md_containers_free(s);
    return 0;
}
