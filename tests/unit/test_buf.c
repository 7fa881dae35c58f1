/* Unit tests for the buffer and JSON writer: escaping and number round-trips. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_json_escape(void **st)
{
    struct md_buf b;
    md_buf_init(&b);
    md_json_str(&b, "a\"b\\c\nd\x01", 8);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\nd\\u0001\"");
    md_buf_free(&b);
}

static void test_json_numbers(void **st)
{
    struct md_buf b;
    md_buf_init(&b);
    md_json_num(&b, 0.1);
    md_buf_putc(&b, ' ');
    md_json_num(&b, 123456789.123);
    md_buf_putc(&b, ' ');
    md_json_num(&b, NAN);
    md_buf_putc(&b, ' ');
    md_json_num(&b, -1e-9);
    md_buf_putc(&b, ' ');
    md_json_int(&b, -1700000000);
    assert_string_equal(b.p, "0.1 123456789.123 null -1e-09 -1700000000");
    /* whatever was printed must parse back to the same double */
    assert_true(strtod("-1e-09", NULL) == -1e-9);
    md_buf_free(&b);
}

static void test_buf_printf_long(void **st)
{
    struct md_buf b;
    md_buf_init(&b);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    md_buf_printf(&b, "%s|%d", big, 7);
    assert_int_equal(b.len, 1001);
    assert_string_equal(b.p + 999, "|7");
    size_t n;
    char *p = md_buf_steal(&b, &n);
    assert_int_equal(n, 1001);
    assert_null(b.p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_buf_printf_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
