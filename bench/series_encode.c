/*
 * series_encode.c: what the Datadog sink's two series formats cost for one
 * big window: 100,000 series (3 tags each, a host) encoded as v1 JSON and
 * as v2 protobuf, each streamed through the compressor as the daemon does.
 * Prints the CPU time per series, the payloads and the bytes on the wire
 * and before compression, for both formats and both compressors (zlib, and
 * zstd at the agent's default level 1 and at 3), then the zstd/zlib ratios
 * of bytes and CPU, so they can be compared between builds in one run.
 * CPU time (not wall time) because the machine is shared.
 *   build-x/bench/series_encode [SERIES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compress.h"
#include "datadog.h"
#include "meterd/frame.h"
#include "meterd/sink.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

struct result {
    double cpu;   /* best of 3, seconds for the frame */
    size_t bytes; /* on the wire */
};

static const char *enc_of(const struct md_payload *p)
{
    for (unsigned i = 0; i < p->nheaders; i++)
        if (strncmp(p->headers[i], "Content-Encoding: ", 18) == 0)
            return p->headers[i] + 18;
    return "";
}

static struct result run(const struct md_frame *f, enum md_v2_series v2,
                         enum md_dd_compressor kind, int level, const char *label)
{
    const struct md_sink_ops *ops = md_sink_lookup("datadog");
    struct md_datadog_conf c = {.api_key = "k", .dd_url = "http://x", .use_v2_series = v2,
                                .compressor_kind = kind, .zstd_level = level};
    struct md_sink_env env = {.hostname = "bench"};
    void *st = NULL;
    char err[128];
    if (ops->create(&c, &env, &st, err, sizeof err) != 0) {
        fprintf(stderr, "create: %s\n", err);
        exit(1);
    }
    md_sink_datadog_set_agent_items(st, false);
    double best = 1e9;
    size_t payloads = 0, bytes = 0, plain = 0;
    for (int rep = 0; rep < 3; rep++) {
        struct md_payload *out = NULL;
        double t0 = cpu_now();
        ops->encode(st, f, &out);
        double dt = cpu_now() - t0;
        best = dt < best ? dt : best;
        payloads = bytes = plain = 0;
        for (struct md_payload *p = out; p; p = p->next, payloads++) {
            void *u = NULL;
            size_t ulen = 0;
            bytes += p->len;
            int rc = strcmp(enc_of(p), "zstd") == 0 ? md_unzstd(p->body, p->len, 1u << 30, &u, &ulen)
                                                    : md_inflate(p->body, p->len, 1u << 30, &u, &ulen);
            if (rc != 0) {
                fprintf(stderr, "%s: a payload does not decompress\n", label);
                exit(1);
            }
            plain += ulen;
            free(u);
        }
        md_payload_list_free(out);
    }
    printf("%s: %.0f ns/series CPU, %zu payload(s), %.1f bytes/series compressed, %.1f before\n",
           label, best * 1e9 / (double)f->nseries, payloads, (double)bytes / (double)f->nseries,
           (double)plain / (double)f->nseries);
    ops->destroy(st);
    return (struct result){best, bytes};
}

static void ratio(const char *label, struct result z, struct result d)
{
    printf("%s zstd/zlib: bytes %.2f, CPU %.2f\n", label, (double)z.bytes / (double)d.bytes,
           z.cpu / d.cpu);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000;
    struct md_frame f;
    md_frame_init(&f, 1700000000, 10);
    char name[64], t1[32], t2[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "app.requests.%zu", i % 500);
        snprintf(t1, sizeof t1, "endpoint:/api/%zu", i / 500);
        snprintf(t2, sizeof t2, "pod:web-%zu", i % 37);
        struct md_str tags[] = {{"env:prod", 8}, {t1, (uint32_t)strlen(t1)},
                                {t2, (uint32_t)strlen(t2)}};
        const struct md_series_key *k = md_frame_key(&f, "web-host-1", 10, tags, 3);
        md_frame_add(&f, name, strlen(name), NULL, k, i % 2 ? MD_SERIES_RATE : MD_SERIES_GAUGE,
                     10, f.start, (double)i * 0.5);
    }
    struct result v1d = run(&f, MD_V2_OFF, MD_DD_COMP_ZLIB, 0, "v1 JSON     zlib   ");
    struct result v1z = run(&f, MD_V2_OFF, MD_DD_COMP_ZSTD, 1, "v1 JSON     zstd 1 ");
    struct result v2d = run(&f, MD_V2_ON, MD_DD_COMP_ZLIB, 0, "v2 protobuf zlib   ");
    struct result v2z = run(&f, MD_V2_ON, MD_DD_COMP_ZSTD, 1, "v2 protobuf zstd 1 ");
    struct result v2z3 = run(&f, MD_V2_ON, MD_DD_COMP_ZSTD, 3, "v2 protobuf zstd 3 ");
    ratio("v1 JSON,     level 1:", v1z, v1d);
    ratio("v2 protobuf, level 1:", v2z, v2d);
    ratio("v2 protobuf, level 3:", v2z3, v2d);
    md_frame_free(&f);
    return 0;
}
