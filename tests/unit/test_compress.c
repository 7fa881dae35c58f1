/*
 * Unit tests for md_deflate: the output must be a zlib stream (RFC 1950)
 * that zlib's own uncompress() turns back into the input, and must not be
 * raw deflate (which VictoriaMetrics and the Datadog intake reject).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "compress.h"

static void roundtrip(const unsigned char *in, size_t len, int level)
{
    void *out = NULL;
    size_t olen = 0;
    assert_int_equal(md_deflate(in, len, level, &out, &olen), 0);
    assert_non_null(out);
    const unsigned char *z = out;
    assert_true(olen >= 6);
    /* zlib header: CM=8 (deflate), FCHECK makes the first 16 bits a multiple of 31. */
    assert_int_equal(z[0] & 0x0f, 8);
    assert_int_equal((z[0] * 256 + z[1]) % 31, 0);
    uLongf dlen = (uLongf)len + 1;
    unsigned char *back = malloc(dlen);
    assert_int_equal(uncompress(back, &dlen, z, (uLong)olen), Z_OK);
    assert_int_equal(dlen, len);
    if (len)
        assert_memory_equal(back, in, len);
    free(back);
    free(out);
}

static void test_empty(void **st)
{
    void *out = NULL;
    size_t olen = 0;
    assert_int_equal(md_deflate("", 0, -1, &out, &olen), 0);
    uLongf dlen = 4;
    unsigned char back[4];
    assert_int_equal(uncompress(back, &dlen, out, (uLong)olen), Z_OK);
    assert_int_equal(dlen, 0);
    free(out);
}

static void test_json_like(void **st)
{
    size_t len = 0, cap = 1 << 20;
    unsigned char *in = malloc(cap);
    for (int i = 0; len + 200 < cap; i++)
        len += (size_t)snprintf((char *)in + len, cap - len,
                                "{\"metric\":\"app.req.%d\",\"points\":[[1700000000,%d.5]],\"host\":\"web-1\"},",
                                i % 977, i);
    for (int level = -1; level <= 9; level += 5)
        roundtrip(in, len, level);
    /* JSON series compress several-fold: what the payload size rule relies on. */
    void *out;
    size_t olen;
    assert_int_equal(md_deflate(in, len, 1, &out, &olen), 0);
    assert_true(olen * 4 < len);
    free(out);
    free(in);
}

static void test_random_data(void **st)
{
    size_t len = 300000;
    unsigned char *in = malloc(len);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        in[i] = (unsigned char)x;
    }
    roundtrip(in, len, 6);
    roundtrip(in, 1, 6);
    free(in);
}

/* What "not raw deflate" means: an inflater set up for raw streams fails on our output. */
static void test_not_raw_deflate(void **st)
{
    const char *msg = "hello hello hello hello";
    void *out;
    size_t olen;
    assert_int_equal(md_deflate(msg, strlen(msg), -1, &out, &olen), 0);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
    unsigned char buf[64];
    z.next_in = out;
    z.avail_in = (uInt)olen;
    z.next_out = buf;
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    assert_int_not_equal(rc, Z_STREAM_END);
    /* ...and a gzip-only inflater (windowBits 31) refuses it too. */
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 31), Z_OK);
    z.next_in = out;
    z.avail_in = (uInt)olen;
    z.next_out = buf;
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    assert_int_not_equal(rc, Z_STREAM_END);
    free(out);
}

static void test_bad_args(void **st)
{
    void *out = (void *)1;
    size_t olen = 7;
    assert_int_equal(md_deflate(NULL, 5, -1, &out, &olen), -EINVAL);
    assert_null(out);
    assert_int_equal(olen, 0);
    assert_int_equal(md_deflate("abc", 3, 10, &out, &olen), -EINVAL);
    assert_int_equal(md_deflate("abc", 3, -2, &out, &olen), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_json_like),
        cmocka_unit_test(test_random_data),
        cmocka_unit_test(test_not_raw_deflate),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
