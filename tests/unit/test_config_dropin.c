/*
 * test_config_dropin.c: a Datadog agent user's configuration loads as it
 * is. Unknown keys and the agent's features meterd lacks are warnings,
 * a bad value on a key meterd implements stays fatal; every key is read
 * from DD_<KEY> and METERD_<KEY> (nested keys with _); lists, DD_SITE with
 * a scheme, DD_API_KEY with a newline; ENC[...] through a real secret
 * backend script; conf.d beside datadog.yaml, shipped defaults, flat
 * files, *.example / *.disabled and checks meterd does not have; and the
 * agent's own files (tests/fixtures/datadog-agent) load with warnings only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "collect.h"
#include "config_env.h"
#include "config_int.h"
#include "datadog.h"
#include "meterd/config.h"
#include "meterd/sink.h"

#define DD(c) ((const struct md_datadog_conf *)md_config_sink_conf(&(c), md_sink_lookup("datadog")))

static void load_ok(struct md_config *c, const char *path)
{
    char err[512] = "";
    if (md_config_load(c, path, NULL, 0, err, sizeof err))
        fail_msg("load failed: %s", err);
}

static void load_err(const char *path, const char *want)
{
    struct md_config c;
    char err[512] = "";
    int rc = md_config_load(&c, path, NULL, 0, err, sizeof err);
    md_config_free(&c);
    if (rc != -EINVAL || !strstr(err, want))
        fail_msg("rc %d, error '%s' lacks '%s'", rc, err, want);
}

static bool notes_have(const struct md_strlist *l, const char *want)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->v[i], want))
            return true;
    return false;
}

#define ASSERT_NOTE(l, want)                                   \
    do {                                                       \
        if (!notes_have((l), (want)))                          \
            fail_msg("no warning with '%s' (%zu warnings)", (want), (l)->n); \
    } while (0)

/* ---- unknown and ignored keys ---- */

static void test_unknown_keys_warn(void **state)
{
    (void)state;
    struct md_config c;
    const char *p = write_conf("site: datadoghq.eu\ndogstatsd_prot: 1\nlogs_enabled: true\n"
                               "apm_config:\n  enabled: true\nprocess_config: {}\n"
                               "use_dogstatsd: true\nexpvar_port: 5000\ncmd_port: 5001\n"
                               "log_file: /var/log/x.log\n");
    load_ok(&c, p);
    char want[256];
    snprintf(want, sizeof want, "%s:2: dogstatsd_prot: unknown key (did you mean dogstatsd_port?), ignored", p);
    ASSERT_NOTE(&c.notes, want);
    snprintf(want, sizeof want, "%s:3: logs_enabled: not implemented, ignored: ", p);
    ASSERT_NOTE(&c.notes, want);
    const char *ign[] = {"apm_config", "process_config", "use_dogstatsd", "expvar_port",
                         "cmd_port", "log_file"};
    for (size_t i = 0; i < sizeof ign / sizeof ign[0]; i++) {
        snprintf(want, sizeof want, "%s: not implemented, ignored", ign[i]);
        ASSERT_NOTE(&c.notes, want);
    }
    assert_int_equal(c.notes.n, 8);
    assert_string_equal(DD(c)->site, "datadoghq.eu");
    char *d = dump(&c);
    assert_non_null(strstr(d, "# warning: "));
    free(d);
    md_config_free(&c);

    /* A key meterd implements stays fatal, even after ignored ones. */
    load_err(write_conf("logs_enabled: true\ndogstatsd_port: abc\n"),
             ":2: dogstatsd_port: expected an integer");
    load_err(write_conf("proxy: [a]\n"), ":1: proxy: expected a map of keys, got a list");
    /* --set is a command line: a typo there still stops it. */
    char *sets[] = {"no_such_key=1"};
    char err[256];
    assert_int_equal(md_config_load(&c, NULL, sets, 1, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_string_equal(err, "--set no_such_key: unknown key");
}

/* The ignore list names no key meterd implements: a row would be shadowed. */
static void test_ignored_not_implemented(void **state)
{
    (void)state;
    struct md_config c;
    md_config_defaults(&c);
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(&c, s, MD_CONFIG_MAX_SECTIONS);
    const char *why;
    for (size_t i = 0; md_config_ignored_at(i, &why); i++) {
        const char *name = md_config_ignored_at(i, &why);
        for (size_t j = 0; j < n; j++)
            for (const struct md_opt *k = s[j].keys; k->name; k++)
                if (strcmp(k->name, name) == 0 || strncmp(k->name, name, strlen(name)) == 0)
                    if (k->name[strlen(name)] == '\0' || k->name[strlen(name)] == '.')
                        fail_msg("%s is implemented and ignored", name);
    }
    assert_true(md_config_ignored_count() > 100);
    md_config_free(&c);
}

/* ---- the environment ---- */

/*
 * Every key with a checked type, set as DD_<KEY> to a value it refuses,
 * is read and refused naming that variable: each key is bound to DD_<KEY>.
 */
static void test_every_key_from_dd_env(void **state)
{
    (void)state;
    struct md_config c;
    md_config_defaults(&c);
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(&c, s, MD_CONFIG_MAX_SECTIONS), tried = 0;
    for (size_t j = 0; j < n; j++) {
        for (const struct md_opt *k = s[j].keys; k->name; k++) {
            if (k->type == MD_OPT_STRING || k->type == MD_OPT_SECRET ||
                k->type == MD_OPT_STRLIST || k->type == MD_OPT_HOST)
                continue; /* any text is a valid value */
            char var[128], err[512] = "", want[160];
            size_t o = (size_t)snprintf(var, sizeof var, "DD_");
            for (const char *p = k->name; *p; p++)
                var[o++] = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            var[o] = '\0';
            setenv(var, k->type == MD_OPT_SPECIAL ? "{not a list" : "(bad value)", 1);
            struct md_config t;
            int rc = md_config_load(&t, NULL, NULL, 0, err, sizeof err);
            md_config_free(&t);
            unsetenv(var);
            snprintf(want, sizeof want, "environment %s: ", var);
            if (rc != -EINVAL || strncmp(err, want, strlen(want)) != 0)
                fail_msg("%s: rc %d, err '%s'", var, rc, err);
            tried++;
        }
    }
    assert_true(tried > 25);
    md_config_free(&c);
}

static void test_env_rules(void **state)
{
    (void)state;
    struct md_config c;
    /* No Datadog name listed for these before: DD_<KEY> works for every key. */
    setenv("DD_FLUSH_INTERVAL", "30", 1);
    setenv("DD_DOGSTATSD_RING_SIZE", "4096", 1);
    setenv("DD_STATUS_PORT", "6000", 1);
    setenv("METERD_STATUS_PORT", "7000", 1); /* METERD_ wins */
    setenv("DD_HISTOGRAM_PERCENTILES", "0.95 0.99", 1);
    setenv("DD_TAGS", "[\"team:a\", \"svc:b\"]", 1);
    setenv("DD_DOGSTATSD_TAGS", "x:1 y:2 z:3", 1);
    setenv("DD_SITE", "https://datadoghq.eu/", 1);
    setenv("DD_API_KEY", "0123456789abcdef0123456789abcdef\n", 1);
    setenv("DD_PROXY_HTTPS", "http://u:s3cretpw@127.0.0.1:3128", 1);
    setenv("DD_PROXY_HTTP", "http://127.0.0.1:3129", 1);
    setenv("DD_NO_PROXY", "localhost .internal 10.0.0.1", 1);
    setenv("DD_ENV", "prod", 1);
    load_ok(&c, NULL);
    assert_int_equal(c.flush_interval, 30);
    assert_int_equal(c.dogstatsd_ring_size, 4096);
    assert_int_equal(c.status_port, 7000);
    assert_int_equal(c.histogram_percentiles.n, 2);
    assert_true(c.histogram_percentiles.v[1] > 0.98 && c.histogram_percentiles.v[1] < 1);
    assert_int_equal(c.tags.n, 3); /* + env:prod */
    assert_string_equal(c.tags.v[1], "svc:b");
    assert_string_equal(c.tags.v[2], "env:prod");
    assert_int_equal(c.dogstatsd_tags.n, 3);
    assert_string_equal(DD(c)->site, "datadoghq.eu");
    assert_string_equal(DD(c)->api_key, "0123456789abcdef0123456789abcdef");
    assert_string_equal(c.proxy_https, "http://u:s3cretpw@127.0.0.1:3128");
    assert_string_equal(c.proxy_http, "http://127.0.0.1:3129");
    assert_int_equal(c.proxy_no_proxy.n, 3);
    char *d = dump(&c);
    assert_null(strstr(d, "s3cretpw"));
    assert_non_null(strstr(d, "\nproxy:\n  http: \"http://127.0.0.1:3129\"\n  https: \"http://***@127.0.0.1:3128\"\n"));
    free(d);
    md_config_free(&c);

    /* DD_PROXY_NO_PROXY is the agent's own name and wins over DD_NO_PROXY. */
    setenv("DD_PROXY_NO_PROXY", "a", 1);
    load_ok(&c, NULL);
    assert_int_equal(c.proxy_no_proxy.n, 1);
    md_config_free(&c);
    /* An env tag in tags wins over env. */
    setenv("DD_TAGS", "env:dev", 1);
    load_ok(&c, NULL);
    assert_int_equal(c.tags.n, 1);
    md_config_free(&c);
    /* A bad proxy URL names the variable, never its password. */
    setenv("DD_PROXY_HTTPS", "proxy:3128 s3cretpw", 1);
    char err[512];
    assert_int_equal(md_config_load(&c, NULL, NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_non_null(strstr(err, "environment DD_PROXY_HTTPS: proxy.https: expected a URL"));
}

static void test_proxy_in_file(void **state)
{
    (void)state;
    struct md_config c;
    const char *p = write_conf("proxy:\n  http: http://127.0.0.1:1\n  https: \"http://user:pa55word@10.1.1.1:3128\"\n"
                               "  no_proxy:\n    - 127.0.0.1\n    - .example.com\n  socks: x\n");
    load_ok(&c, p);
    assert_string_equal(c.proxy_http, "http://127.0.0.1:1");
    assert_int_equal(c.proxy_no_proxy.n, 2);
    char want[256];
    snprintf(want, sizeof want, "%s:7: proxy.socks: unknown key", p);
    ASSERT_NOTE(&c.notes, want);
    char *d = dump(&c);
    assert_null(strstr(d, "pa55word"));
    free(d);
    md_config_free(&c);
    char *sets[] = {"proxy.http=http://127.0.0.1:2"};
    char err[256];
    assert_int_equal(md_config_load(&c, p, sets, 1, err, sizeof err), 0);
    assert_string_equal(c.proxy_http, "http://127.0.0.1:2");
    md_config_free(&c);
}

/* ---- ENC[...] secrets through a real backend script ---- */

static const char *backend(const char *body, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/backend%d.sh", tmpdir, file_seq++);
    char text[1024];
    snprintf(text, sizeof text,
             "#!/bin/sh\n# answers like a vault would; saves its request for the test\n"
             "cat > '%s.req'\n%s\n", path, body);
    put_file(path, text, mode);
    return path;
}

/* A file with a backend running `body` (file mode `mode`) then `rest` must fail to load with `want`. */
static void backend_err(const char *body, mode_t mode, const char *rest, const char *want)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "secret_backend_command: %s\n%s", backend(body, mode), rest);
    load_err(write_conf(yaml), want);
}

static void test_enc_secrets(void **state)
{
    (void)state;
    struct md_config c;
    char yaml[1024], err[512];
    const char *b = backend("printf '{\"dd_key\": {\"value\": \"abcdef0123456789abcdef0123456789\", "
                            "\"error\": null}, \"px\": {\"value\": \"http://u:vaultpw@127.0.0.1:3128\", \"error\": null}}'",
                            0700);
    snprintf(yaml, sizeof yaml, "secret_backend_command: %s\napi_key: ENC[dd_key]\n"
                                "proxy:\n  https: ENC[px]\n", b);
    load_ok(&c, write_conf(yaml));
    assert_string_equal(DD(c)->api_key, "abcdef0123456789abcdef0123456789");
    assert_string_equal(c.proxy_https, "http://u:vaultpw@127.0.0.1:3128");
    md_config_free(&c);
    /* One run for every handle, with the agent's request. */
    char req[256], line[512] = "";
    snprintf(req, sizeof req, "%s.req", b);
    FILE *f = fopen(req, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "{\"version\": \"1.0\", \"secrets\": [\"dd_key\", \"px\"]}");

    /* From the environment too, with the command from the environment. */
    setenv("DD_SECRET_BACKEND_COMMAND", b, 1);
    setenv("DD_API_KEY", "ENC[dd_key]", 1);
    load_ok(&c, NULL);
    assert_string_equal(DD(c)->api_key, "abcdef0123456789abcdef0123456789");
    md_config_free(&c);
    clear_env();

    /* No backend: the key and handle are named. */
    load_err(write_conf("api_key: ENC[dd_key]\n"),
             ":1: api_key: ENC[dd_key] needs secret_backend_command");
    /* The backend's own error for a handle. */
    backend_err("printf '{\"h\": {\"value\": null, \"error\": \"access denied\"}}'", 0700,
                "dd_url: ENC[h]\n", ":2: dd_url: secret backend error for ENC[h]: access denied");
    /* A command others could edit is refused. */
    backend_err("printf '{}'", 0722, "api_key: ENC[h]\n", "writable by group or others");
    /* A failing or silent command. */
    backend_err("exit 3", 0700, "api_key: ENC[h]\n", "non-zero exit");
    backend_err("sleep 5", 0700, "secret_backend_timeout: 1\napi_key: ENC[h]\n", "timed out");
    /* A resolved secret that is then refused is not echoed. */
    b = backend("printf '{\"h\": {\"value\": \"has space SECRETVALUE\", \"error\": null}}'", 0700);
    snprintf(yaml, sizeof yaml, "secret_backend_command: %s\ndd_url: ENC[h]\n", b);
    assert_int_equal(md_config_load(&c, write_conf(yaml), NULL, 0, err, sizeof err), -EINVAL);
    md_config_free(&c);
    assert_null(strstr(err, "SECRETVALUE"));
}

/* ---- file layout ---- */

static void note_cb(void *ud, const char *entry, const char *why)
{
    struct md_strlist *l = ud;
    char line[256];
    snprintf(line, sizeof line, "%s: %s", entry, why);
    assert_int_equal(md_strlist_push(l, strdup(line)), 0);
}

static void test_confd_layout(void **state)
{
    (void)state;
    char root[128], p[256], err[512] = "";
    snprintf(root, sizeof root, "%s/etc-dd", tmpdir);
    put_under(root, "datadog.yaml", "api_key: \"\"\n");
    /* the shipped default, used: no conf.yaml */
    put_under(root, "conf.d/cpu.d/conf.yaml.default",
              "instances:\n  - min_collection_interval: 7\n");
    /* default ignored when conf.yaml exists */
    put_under(root, "conf.d/memory.d/conf.yaml.default",
              "instances:\n  - min_collection_interval: 5\n");
    put_under(root, "conf.d/memory.d/conf.yaml", "instances:\n  - min_collection_interval: 9\n");
    /* never read: would be fatal if they were */
    put_under(root, "conf.d/memory.d/conf.yaml.example",
              "instances:\n  - min_collection_interval: 0\n");
    put_under(root, "conf.d/load.d/conf.yaml.disabled",
              "instances:\n  - min_collection_interval: 0\n");
    /* a flat file */
    put_under(root, "conf.d/uptime.yaml",
              "instances:\n  - min_collection_interval: 11\n    no_such_option: 1\n");
    /* checks meterd does not have */
    put_under(root, "conf.d/postgres.d/conf.yaml", "instances:\n  - host: x\n");
    put_under(root, "conf.d/process.d/conf.yaml.default", "instances:\n  - {}\n");
    put_under(root, "conf.d/ntp.yaml", "instances:\n  - {}\n");

    struct md_config c;
    snprintf(p, sizeof p, "%s/datadog.yaml", root);
    load_ok(&c, p);
    char want[256];
    snprintf(want, sizeof want, "%s/conf.d", root);
    assert_string_equal(c.confd_path, want);
    struct md_collect_runner *r = md_collect_new(NULL, c.confd_path, NULL, NULL, NULL, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    unsigned cpu = 0, mem = 0, up = 0;
    for (size_t i = 0; i < md_collect_ninstances(r); i++) {
        struct md_collect_stats s;
        assert_int_equal(md_collect_stats(r, i, &s), 0);
        if (!strcmp(s.collector, "cpu"))
            cpu = s.interval;
        else if (!strcmp(s.collector, "memory"))
            mem = s.interval;
        else if (!strcmp(s.collector, "uptime"))
            up = s.interval;
    }
    assert_int_equal(cpu, 7);
    assert_int_equal(mem, 9);
    assert_int_equal(up, 11);
    snprintf(want, sizeof want, "%s/conf.d/uptime.yaml:3: no_such_option: unknown key", root);
    ASSERT_NOTE(md_collect_notes(r), want);
    assert_int_equal(md_collect_notes(r)->n, 1); /* warned once */
    md_collect_free(r);

    struct md_strlist l = {0};
    assert_int_equal(md_collect_confd_unclaimed(c.confd_path, NULL, note_cb, &l), 3);
    ASSERT_NOTE(&l, "ntp.yaml: meterd has no such check");
    ASSERT_NOTE(&l, "postgres.d: meterd has no such check");
    ASSERT_NOTE(&l, "process.d: meterd has no such check");
    md_strlist_free(&l);
    md_config_free(&c);
}

/* The agent's own files, unchanged: warnings only, nothing fatal. */
static void test_datadog_agent_files(void **state)
{
    (void)state;
    struct md_config c;
    char err[512] = "";
    load_ok(&c, MD_FIXTURES "/datadog-agent/datadog.yaml");
    assert_string_equal(c.confd_path, MD_FIXTURES "/datadog-agent/conf.d");
    ASSERT_NOTE(&c.notes, "datadog.yaml:15: use_dogstatsd: not implemented, ignored");
    ASSERT_NOTE(&c.notes, "logs_enabled: not implemented, ignored");
    ASSERT_NOTE(&c.notes, "apm_config: not implemented, ignored");
    for (size_t i = 0; i < c.notes.n; i++)
        if (strstr(c.notes.v[i], "unknown key"))
            fail_msg("not recognised: %s", c.notes.v[i]);
    assert_string_equal(c.proxy_https, "http://user:proxypassw0rd@proxy.example.com:3128");
    assert_int_equal(c.tags.n, 3);
    assert_string_equal(c.tags.v[2], "env:staging");
    char *d = dump(&c);
    assert_null(strstr(d, "proxypassw0rd"));
    assert_null(strstr(d, "0123456789abcdef0123456789abcdef"));
    free(d);
    struct md_collect_runner *r = md_collect_new(NULL, c.confd_path, NULL, NULL, NULL, err, sizeof err);
    if (!r)
        fail_msg("conf.d refused: %s", err);
    assert_true(md_collect_ninstances(r) >= 6);
    md_collect_free(r);
    struct md_strlist l = {0};
    md_collect_confd_unclaimed(c.confd_path, NULL, note_cb, &l);
    ASSERT_NOTE(&l, "postgres.d: meterd has no such check");
    ASSERT_NOTE(&l, "process_agent.yaml.default: meterd has no such check");
    md_strlist_free(&l);
    md_config_free(&c);
}

int main(void)
{
    if (tmpdir_make("md-dropin"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_keys_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_not_implemented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key_from_dd_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_in_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enc_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confd_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_datadog_agent_files, setup, teardown),
    };
    return tmpdir_remove(cmocka_run_group_tests(tests, NULL, NULL));
}
