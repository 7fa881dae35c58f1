/*
 * cmd_flare.c: `meterd flare`, what the Datadog agent's `agent flare`
 * gathers for a support ticket, as one .tar.gz: the effective config and
 * the conf.d files, the running agent's status (JSON and readable), the
 * logs named with --log, the versions of meterd and its libraries, and the
 * DD_* / METERD_* environment. Nothing secret goes in: the config dump is
 * redacted already, and every other text is scrubbed of the API key (from
 * the config and the environment), of the values of secret-looking YAML
 * keys and variables, and of URL credentials, before it is written.
 * The archive is a plain ustar stream through zlib's gzip writer.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <uv.h>
#include <yaml.h>
#include <zlib.h>

#include "cli.h"
#include "cmd.h"
#include "collect.h"
#include "datadog.h"
#include "meterd/sink.h"
#include "status_text.h"

extern char **environ;

static const char flare_usage[] =
    "usage: meterd flare [-c FILE] [--set key=value]... [--log FILE]... [-o ARCHIVE]\n"
    "Write a .tar.gz for a support ticket: redacted config and conf.d, the running agent's\n"
    "status, the given log files (scrubbed of secrets) and versions.\n"
    "  -c, --config FILE  main config file (default: " MD_CONFIG_DEFAULT_FILE " if present)\n"
    "      --set K=V      override one key (wins over file and environment)\n"
    "  -l, --log FILE     a log file of meterd to include (last 4 MiB); repeatable\n"
    "  -o, --output PATH  the archive (default: ./meterd-flare-HOST-DATE.tar.gz)\n"
    "  -h, --help         this help\n";

#define FLARE_MAX_LOGS 16
#define FLARE_LOG_TAIL (4u << 20)
#define FLARE_MAX_SECRETS 4

struct flare {
    gzFile gz;
    const char *secrets[FLARE_MAX_SECRETS];
    size_t nsecrets;
    int errors;
};

/* ---- scrubbing ---------------------------------------------------------- */

static void replace_all(struct md_buf *b, const char *what, const char *with)
{
    size_t n = strlen(what), m = strlen(with);
    if (n == 0 || !b->p)
        return;
    struct md_buf out;
    md_buf_init(&out);
    const char *p = b->p, *end = b->p + b->len, *hit;
    while ((hit = memmem(p, (size_t)(end - p), what, n))) {
        md_buf_add(&out, p, (size_t)(hit - p));
        md_buf_add(&out, with, m);
        p = hit + n;
    }
    md_buf_add(&out, p, (size_t)(end - p));
    md_buf_free(b);
    *b = out;
}

static bool secret_name(const char *s, size_t n)
{
    static const char *const words[] = {"api_key", "app_key", "apikey", "password", "token", "secret",
                                        "API_KEY", "APP_KEY", "PASSWORD", "TOKEN", "SECRET", NULL};
    for (size_t i = 0; words[i]; i++)
        if (memmem(s, n, words[i], strlen(words[i])))
            return true;
    return false;
}

/* "key: value" / "KEY=value" lines whose key looks secret keep the key only. */
static void scrub_lines(struct md_buf *b)
{
    struct md_buf out;
    md_buf_init(&out);
    for (size_t i = 0; b->p && i < b->len;) {
        size_t n = strcspn(b->p + i, "\n");
        if (i + n > b->len)
            n = b->len - i;
        const char *line = b->p + i;
        size_t sep = strcspn(line, ":=");
        if (sep < n && secret_name(line, sep) && memchr(line, '#', sep) == NULL) {
            md_buf_add(&out, line, sep + 1);
            md_buf_puts(&out, " \"********\"");
        } else {
            md_buf_add(&out, line, n);
        }
        i += n;
        if (i < b->len) {
            md_buf_putc(&out, '\n');
            i++;
        }
    }
    md_buf_free(b);
    *b = out;
}

/* user:password@ of URLs becomes ***@. */
static void scrub_urls(struct md_buf *b)
{
    for (char *p = b->p; p && (p = memmem(p, b->len - (size_t)(p - b->p), "://", 3)); p += 3) {
        char *s = p + 3, *at = s;
        while (at < b->p + b->len && !strchr("/@ \t\n\"'", *at))
            at++;
        if (at < b->p + b->len && *at == '@')
            memset(s, '*', (size_t)(at - s));
    }
}

static void scrub(struct flare *f, struct md_buf *b)
{
    char red[256];
    for (size_t i = 0; i < f->nsecrets; i++)
        replace_all(b, f->secrets[i], md_config_redact(f->secrets[i], red, sizeof red));
    scrub_lines(b);
    scrub_urls(b);
}

/* ---- the archive -------------------------------------------------------- */

static void tar_octal(char *field, size_t len, unsigned long long v)
{
    snprintf(field, len, "%0*llo", (int)len - 1, v);
}

/* One regular file of the archive; its text is scrubbed first. */
static void flare_add(struct flare *f, const char *name, struct md_buf *text)
{
    scrub(f, text);
    unsigned char h[512] = {0};
    snprintf((char *)h, 100, "meterd-flare/%.80s", name);
    tar_octal((char *)h + 100, 8, 0644);
    tar_octal((char *)h + 108, 8, 0);
    tar_octal((char *)h + 116, 8, 0);
    tar_octal((char *)h + 124, 12, text->len);
    tar_octal((char *)h + 136, 12, (unsigned long long)time(NULL));
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof h; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    static const unsigned char pad[512];
    if (gzwrite(f->gz, h, sizeof h) != (int)sizeof h ||
        (text->len && gzwrite(f->gz, text->p, (unsigned)text->len) != (int)text->len) ||
        (text->len % 512 && gzwrite(f->gz, pad, 512 - (unsigned)(text->len % 512)) <= 0))
        f->errors++;
}

static int read_tail(const char *path, size_t max, struct md_buf *b)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return -errno;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long size = ftell(fp);
        fseek(fp, size > (long)max ? size - (long)max : 0, SEEK_SET);
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        md_buf_add(b, chunk, n);
    fclose(fp);
    return 0;
}

static void flare_file(struct flare *f, const char *name, const char *path, size_t max)
{
    struct md_buf b;
    md_buf_init(&b);
    int rc = read_tail(path, max, &b);
    if (rc < 0)
        md_buf_printf(&b, "could not read %s: %s\n", path, strerror(-rc));
    flare_add(f, name, &b);
    md_buf_free(&b);
}

/* ---- what goes in ------------------------------------------------------- */

static void flare_config(struct flare *f, const struct md_config *c)
{
    struct md_buf b;
    md_buf_init(&b);
    char *mem = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&mem, &len);
    if (m) {
        md_config_dump(c, m);
        fclose(m);
        md_buf_add(&b, mem, len);
        free(mem);
    }
    flare_add(f, "config.yaml", &b);
    md_buf_reset(&b);
    char err[1024];
    if (md_collect_validate(c->confd_path, c->procfs_path, c->sysfs_path, err, sizeof err) == 0)
        md_buf_printf(&b, "conf.d %s: loads\n", c->confd_path);
    else
        md_buf_printf(&b, "conf.d %s: %s\n", c->confd_path, err);
    flare_add(f, "configcheck.txt", &b);
    md_buf_free(&b);
}

/* conf.d/<check>.d/<file>: the YAML the operator wrote, secret values blanked. */
static void flare_confd(struct flare *f, const char *confd)
{
    DIR *top = opendir(confd);
    struct dirent *de, *fe;
    while (top && (de = readdir(top))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 3 || strcmp(de->d_name + n - 2, ".d") != 0)
            continue;
        char dir[4096], path[8192], name[600];
        snprintf(dir, sizeof dir, "%s/%s", confd, de->d_name);
        DIR *sub = opendir(dir);
        while (sub && (fe = readdir(sub))) {
            if (fe->d_name[0] == '.' || !strstr(fe->d_name, ".y"))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, fe->d_name);
            snprintf(name, sizeof name, "conf.d/%.200s/%.200s", de->d_name, fe->d_name);
            flare_file(f, name, path, 1u << 20);
        }
        if (sub)
            closedir(sub);
    }
    if (top)
        closedir(top);
}

static void flare_status(struct flare *f, const struct md_config *c)
{
    char url[600], err[256];
    struct md_buf b;
    md_buf_init(&b);
    md_cli_status_url(c, "/status", url, sizeof url);
    long code = md_cli_status_get(c, "/status", 5000, &b, err, sizeof err);
    if (code != 200) {
        md_buf_reset(&b);
        md_buf_printf(&b, "no agent answered on %s: %s\n", url, code ? "unexpected HTTP status" : err);
        flare_add(f, "status.txt", &b);
    } else {
        char *mem = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&mem, &len);
        if (m) {
            if (md_status_text(b.p, b.len, m, err, sizeof err) < 0)
                fprintf(m, "unreadable status: %s\n", err);
            fclose(m);
        }
        flare_add(f, "status.json", &b);
        md_buf_reset(&b);
        md_buf_add(&b, mem, len);
        free(mem);
        flare_add(f, "status.txt", &b);
    }
    md_buf_free(&b);
}

static void flare_versions(struct flare *f)
{
    struct utsname u;
    struct md_buf b;
    md_buf_init(&b);
    md_buf_printf(&b, "meterd %s\n", METERD_VERSION);
    if (uname(&u) == 0)
        md_buf_printf(&b, "kernel: %s %s %s %s\n", u.sysname, u.release, u.version, u.machine);
    md_buf_printf(&b, "libcurl: %s\nzlib: %s\nlibuv: %s\nlibyaml: %s\n", curl_version(), zlibVersion(),
                  uv_version_string(), yaml_get_version_string());
    flare_add(f, "versions.txt", &b);
    md_buf_free(&b);
}

/* DD_* and METERD_* variables; values of secret-looking names are blanked by scrub_lines. */
static void flare_env(struct flare *f)
{
    struct md_buf b;
    md_buf_init(&b);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "DD_", 3) == 0 || strncmp(*e, "METERD_", 7) == 0)
            md_buf_printf(&b, "%s\n", *e);
    flare_add(f, "environment.txt", &b);
    md_buf_free(&b);
}

static void flare_secrets(struct flare *f, const struct md_config *c)
{
    const struct md_datadog_conf *dd = md_config_sink_conf(c, md_sink_lookup("datadog"));
    const char *cand[] = {dd ? dd->api_key : NULL, getenv("DD_API_KEY"), getenv("METERD_API_KEY")};
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++)
        if (cand[i] && strlen(cand[i]) >= 4 && f->nsecrets < FLARE_MAX_SECRETS)
            f->secrets[f->nsecrets++] = cand[i];
}

static int flare_write(const struct md_config *c, const char *out, const char *const *logs, size_t nlogs)
{
    struct flare f = {0};
    if (!(f.gz = gzopen(out, "wb9"))) {
        fprintf(stderr, "meterd flare: cannot write %s: %s\n", out, strerror(errno));
        return 1;
    }
    flare_secrets(&f, c);
    flare_config(&f, c);
    flare_confd(&f, c->confd_path);
    flare_status(&f, c);
    flare_versions(&f);
    flare_env(&f);
    for (size_t i = 0; i < nlogs; i++) {
        char name[300];
        const char *base = strrchr(logs[i], '/');
        snprintf(name, sizeof name, "logs/%.200s", base ? base + 1 : logs[i]);
        flare_file(&f, name, logs[i], FLARE_LOG_TAIL);
    }
    static const unsigned char end[1024];
    if (gzwrite(f.gz, end, sizeof end) != (int)sizeof end)
        f.errors++;
    if (gzclose(f.gz) != Z_OK || f.errors) {
        fprintf(stderr, "meterd flare: writing %s failed\n", out);
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

struct flare_args {
    const char *logs[FLARE_MAX_LOGS], *out;
    size_t nlogs;
};

/* --log and --output: -1 to go on, else the exit code. */
static int flare_opt(void *ud, int ch, const char *arg)
{
    struct flare_args *a = ud;
    if (ch == 'o') {
        a->out = arg;
    } else if (a->nlogs == FLARE_MAX_LOGS) {
        fprintf(stderr, "meterd flare: more than %d --log files\n", FLARE_MAX_LOGS);
        return md_cli_usage(stderr, flare_usage, 2);
    } else {
        a->logs[a->nlogs++] = arg;
    }
    return -1;
}

int md_cmd_flare(int argc, char **argv)
{
    static const struct option own[] = {
        {"log", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    struct flare_args a = {0};
    const struct md_cli_spec spec = {.cmd = "flare", .usage = flare_usage, .own = own,
                                     .own_short = "l:o:", .opt = flare_opt, .ud = &a};
    struct md_config cfg;
    int rc = md_cli_parse_load(&spec, argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    const char *out = a.out;
    char path[512];
    if (!out) {
        char host[256] = "host", ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gethostname(host, sizeof host - 1);
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
        snprintf(path, sizeof path, "meterd-flare-%.200s-%s.tar.gz",
                 cfg.hostname && cfg.hostname[0] ? cfg.hostname : host, ts);
        out = path;
    }
    rc = flare_write(&cfg, out, a.logs, a.nlogs);
    md_config_free(&cfg);
    return rc;
}
