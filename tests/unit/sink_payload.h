/*
 * sink_payload.h: what the sink tests share around a payload, whatever its
 * encoding: a request header's value, and a frame series key built from
 * C strings. Included by test_datadog.c, test_prometheus_rw.c and
 * sink_pb_read.h. Static inline, so each test binary takes what it uses.
 */
#ifndef METERD_TEST_SINK_PAYLOAD_H
#define METERD_TEST_SINK_PAYLOAD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "meterd/frame.h"
#include "meterd/sink.h"

#define T0 1700000000

/* The value of header name in p ("Name: value"), or NULL. */
static inline const char *header(const struct md_payload *p, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < p->nheaders; i++)
        if (strncmp(p->headers[i], name, n) == 0 && p->headers[i][n] == ':')
            return p->headers[i] + n + 2;
    return NULL;
}

/* The frame's key for host and up to 16 tags; it must be accepted. */
static inline const struct md_series_key *key(struct md_frame *f, const char *host,
                                              const char **tags, uint32_t n)
{
    struct md_str t[16];
    assert_true(n <= 16);
    for (uint32_t i = 0; i < n; i++)
        t[i] = (struct md_str){tags[i], (uint32_t)strlen(tags[i])};
    const struct md_series_key *k = md_frame_key(f, host, host ? strlen(host) : 0, t, n);
    assert_non_null(k);
    return k;
}

#endif
