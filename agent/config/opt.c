/*
 * opt.c: the typed-key engine (see opt.h): one parser per value type, used
 * by every key table the agent has, so "1", "yes" and "true" mean the same
 * in meterd.yaml, in a sink's keys and in a conf.d instance, and a range
 * error reads the same everywhere. Each setter validates into a temporary
 * and replaces the field only when the whole value is good.
 */
#include "opt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "meterd/config.h"

static void *opt_field(void *base, const struct md_opt *k)
{
    return (char *)base + k->off;
}

void md_strlist_free(struct md_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int md_strlist_push(struct md_strlist *l, char *s)
{
    char **v = s ? realloc(l->v, (l->n + 1) * sizeof *v) : NULL;
    if (!v) {
        free(s);
        return -ENOMEM;
    }
    l->v = v;
    l->v[l->n++] = s;
    return 0;
}

const char *md_opt_node_kind(const struct md_ynode *n)
{
    switch (n->type) {
    case MD_Y_MAP:
        return "a map";
    case MD_Y_SEQ:
        return "a list";
    case MD_Y_NULL:
        return "nothing";
    default:
        return "a single value";
    }
}

const char *md_opt_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0, max = len > 56 ? 48 : len / 2;
    buf[o++] = '"';
    for (size_t i = 0; s[i] && o + 5 < len; i++) {
        if (i == max) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        buf[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Overwrite every occurrence of a known secret in the error with '*'. */
static void opt_scrub(struct md_opt_ctx *x)
{
    for (size_t i = 0; i < x->nsecrets; i++) {
        const char *s = x->secrets[i];
        size_t n = s ? strlen(s) : 0;
        if (n < 4)
            continue; /* too short to be a key; scrubbing would mangle the message */
        for (char *p = strstr(x->err, s); p; p = strstr(p + n, s))
            memset(p, '*', n);
    }
}

/* "WHERE: PATH: reason" into buf, where WHERE is the file and line, the variable or --set. */
static void opt_vformat(const struct md_opt_ctx *x, char *buf, size_t len, int line,
                        const char *path, const char *fmt, va_list ap)
{
    char where[512], reason[512];
    vsnprintf(reason, sizeof reason, fmt, ap);
    if (x->file)
        snprintf(where, sizeof where, "%s:%d", x->file, line);
    else if (x->env)
        snprintf(where, sizeof where, "environment %s", x->env);
    else if (x->set)
        snprintf(where, sizeof where, "--set");
    else
        snprintf(where, sizeof where, "default");
    if (path) /* "--set KEY: reason" reads as the command line did */
        snprintf(buf, len, "%s%s %s: %s", where, x->set && !x->file ? "" : ":", path, reason);
    else
        snprintf(buf, len, "%s: %s", where, reason);
}

int md_opt_fail(struct md_opt_ctx *x, int line, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    opt_vformat(x, x->err, x->errlen, line, path, fmt, ap);
    va_end(ap);
    opt_scrub(x);
    return -EINVAL;
}

void md_opt_warn(struct md_opt_ctx *x, int line, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    opt_vformat(x, msg, sizeof msg, line, path, fmt, ap);
    va_end(ap);
    /* Warnings name keys, never values; a note that cannot be kept is logged instead. */
    if (!x->notes || md_strlist_push(x->notes, strdup(msg)) != 0)
        md_warn("%s", msg);
}

int md_opt_unknown(struct md_opt_ctx *x, int line, const char *name, const char *detail)
{
    const char *sep = detail ? " " : "";
    if (x->set && !x->file)
        return md_opt_fail(x, line, name, "unknown key%s%s", sep, detail ? detail : "");
    md_opt_warn(x, line, name, "unknown key%s%s, ignored", sep, detail ? detail : "");
    return 0;
}

int md_opt_oom(struct md_opt_ctx *x)
{
    snprintf(x->err, x->errlen, "out of memory while loading the configuration");
    return -ENOMEM;
}

const char *md_opt_type_name(const struct md_opt *k)
{
    switch (k->type) {
    case MD_OPT_BOOL:
        return "boolean";
    case MD_OPT_INT:
        return "integer";
    case MD_OPT_DURATION:
        return "duration";
    case MD_OPT_STRLIST:
    case MD_OPT_FLAGS:
        return "list of strings";
    case MD_OPT_NUMLIST:
        return "list of numbers";
    case MD_OPT_SPECIAL:
        return "list of mappings";
    default:
        return "string";
    }
}

static const char *opt_expect_name(const struct md_opt *k)
{
    switch (k->type) {
    case MD_OPT_BOOL:
        return "a boolean (true or false)";
    case MD_OPT_INT:
        return "an integer";
    case MD_OPT_DURATION:
        return "a duration (seconds, or 10s, 5m, 1h)";
    default:
        return "a string";
    }
}

void md_opt_choices_text(const char *const *ch, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; ch[i] && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", ch[i]);
}

int md_opt_choice_index(const char *const *ch, const char *v)
{
    for (int i = 0; ch[i]; i++)
        if (strcasecmp(ch[i], v) == 0)
            return i;
    return -1;
}

/* Text with surrounding whitespace removed, copied into buf (env values may carry it). */
static const char *opt_trim(const char *s, char *buf, size_t len)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static bool opt_has_space_or_ctl(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
            return true;
    return false;
}

/* ---- scalars ---- */

static int opt_set_bool(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                        const char *text, int line)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    char t[64], q[64];
    const char *v = opt_trim(text, t, sizeof t);
    bool b;
    if (md_opt_choice_index(yes, v) >= 0)
        b = true;
    else if (md_opt_choice_index(no, v) >= 0)
        b = false;
    else
        return md_opt_fail(x, line, k->name, "expected true or false, got %s",
                           md_opt_quote(text, q, sizeof q));
    *(bool *)opt_field(base, k) = b;
    return 0;
}

static int opt_parse_int(const char *s, int base, long long *out)
{
    char *end;
    if (base == 8 && (strncmp(s, "0o", 2) == 0 || strncmp(s, "0O", 2) == 0))
        s += 2;
    if (!*s || (base == 8 && (*s == '-' || *s == '+')))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Seconds from "90", "90s", "5m", "2h" (whole numbers only). */
static int opt_parse_duration(const char *s, long long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s) && *s != '-')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    long long unit = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
                     : !strcmp(end, "h") ? 3600 : 0;
    if (errno || !unit || end == s || v > LLONG_MAX / unit || v < LLONG_MIN / unit)
        return -1;
    *out = v * unit;
    return 0;
}

static int opt_set_int(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                       const char *text, int line)
{
    char t[64], q[64];
    long long v;
    bool octal = k->flags & MD_OPT_F_OCTAL, dur = k->type == MD_OPT_DURATION;
    opt_trim(text, t, sizeof t);
    int bad = dur ? opt_parse_duration(t, &v) : opt_parse_int(t, octal ? 8 : 10, &v);
    if (bad)
        return md_opt_fail(x, line, k->name, "expected %s, got %s",
                           octal ? "an octal number like \"0660\"" : opt_expect_name(k),
                           md_opt_quote(text, q, sizeof q));
    if (v < k->min || v > k->max) {
        if (octal)
            return md_opt_fail(x, line, k->name, "0%llo is out of range (0%llo..0%llo)", v,
                               k->min, k->max);
        return md_opt_fail(x, line, k->name, "%lld is out of range (%lld..%lld)", v, k->min,
                           k->max);
    }
    if ((k->flags & MD_OPT_F_POW2) && (v & (v - 1)))
        return md_opt_fail(x, line, k->name, "%lld is not a power of two", v);
    if (k->flags & MD_OPT_F_I64)
        *(int64_t *)opt_field(base, k) = v;
    else
        *(int *)opt_field(base, k) = (int)v;
    return 0;
}

static int opt_set_enum(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                        const char *text, int line)
{
    char t[64], q[64], ch[256];
    int i = md_opt_choice_index(k->choices, opt_trim(text, t, sizeof t));
    if (i < 0) {
        md_opt_choices_text(k->choices, ch, sizeof ch);
        return md_opt_fail(x, line, k->name, "expected one of %s; got %s", ch,
                           md_opt_quote(text, q, sizeof q));
    }
    *(int *)opt_field(base, k) = i;
    return 0;
}

/* The built-in check of a string type: NULL when v is fine. */
static const char *opt_check_kind(const struct md_opt *k, const char *v)
{
    unsigned char addr[16];
    switch (k->type) {
    case MD_OPT_URL:
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return "expected a URL starting with http:// or https://";
        return opt_has_space_or_ctl(v) ? "expected a URL without spaces" : NULL;
    case MD_OPT_HOST:
        return opt_has_space_or_ctl(v) ? "expected an address without spaces" : NULL;
    case MD_OPT_IP:
        if (inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1)
            return NULL;
        return "expected an IP address like 127.0.0.1 or ::1 (host names are not looked up)";
    case MD_OPT_REGEX: {
        regex_t re;
        if (regcomp(&re, v, REG_EXTENDED | REG_NOSUB) != 0)
            return "not a valid regular expression (POSIX extended)";
        regfree(&re);
        return NULL;
    }
    default:
        return NULL;
    }
}

/*
 * A copy of text as the key stores it: a secret without the whitespace
 * around it (a Kubernetes secret made from a file ends in a newline; the
 * Datadog agent trims it too), a domain without a scheme or trailing slash.
 */
static char *opt_normalise(const struct md_opt *k, const char *text)
{
    size_t n;
    if (k->type == MD_OPT_SECRET) {
        while (isspace((unsigned char)*text))
            text++;
        n = strlen(text);
        while (n && isspace((unsigned char)text[n - 1]))
            n--;
        return strndup(text, n);
    }
    if (k->flags & MD_OPT_F_DOMAIN) {
        if (strncasecmp(text, "https://", 8) == 0)
            text += 8;
        else if (strncasecmp(text, "http://", 7) == 0)
            text += 7;
        n = strlen(text);
        while (n && text[n - 1] == '/')
            n--;
        return strndup(text, n);
    }
    return strdup(text);
}

static int opt_set_string(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                          const char *text, int line)
{
    char q[64], ch[256];
    char *v = opt_normalise(k, text);
    if (!v)
        return md_opt_oom(x);
    if (k->type == MD_OPT_SECRET && opt_has_space_or_ctl(v)) {
        /* The value is the secret: say what is wrong, never what it is. */
        free(v);
        return md_opt_fail(x, line, k->name, "contains spaces or control characters");
    }
    if (k->choices) {
        int i = md_opt_choice_index(k->choices, v);
        if (i < 0) {
            md_opt_choices_text(k->choices, ch, sizeof ch);
            int rc = md_opt_fail(x, line, k->name, "expected one of %s; got %s", ch,
                                 md_opt_quote(v, q, sizeof q));
            free(v);
            return rc;
        }
        strcpy(v, k->choices[i]); /* same length, canonical case */
    }
    const char *why = NULL;
    if (*v && k->type != MD_OPT_SECRET) {
        why = opt_check_kind(k, v);
        if (!why && k->check)
            why = k->check(v);
    }
    if (why) {
        /* A URL may carry credentials: quote only what may be printed. */
        char red[512];
        const char *shown = k->type == MD_OPT_URL ? md_url_redact(v, red, sizeof red) : v;
        int rc = md_opt_fail(x, line, k->name, "%s, got %s", why, md_opt_quote(shown, q, sizeof q));
        free(v);
        return rc;
    }
    char **field = opt_field(base, k);
    free(*field);
    *field = v;
    return 0;
}

/* ---- entry points ---- */

int md_opt_set_node(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                    const struct md_ynode *n, int line)
{
    if (n->type == MD_Y_NULL)
        return 0;
    switch (k->type) {
    case MD_OPT_STRLIST:
    case MD_OPT_FLAGS:
    case MD_OPT_NUMLIST:
        return md_opt_set_list(x, k, base, n, line);
    case MD_OPT_SPECIAL:
        return k->special->set(x, k, opt_field(base, k), n, line);
    default:
        break;
    }
    if (n->type != MD_Y_SCALAR)
        return md_opt_fail(x, line, k->name, "expected %s, got %s", opt_expect_name(k),
                           md_opt_node_kind(n));
    switch (k->type) {
    case MD_OPT_BOOL:
        return opt_set_bool(x, k, base, n->scalar, line);
    case MD_OPT_INT:
    case MD_OPT_DURATION:
        return opt_set_int(x, k, base, n->scalar, line);
    case MD_OPT_ENUM:
        return opt_set_enum(x, k, base, n->scalar, line);
    default:
        return opt_set_string(x, k, base, n->scalar, line);
    }
}

int md_opt_set_text(struct md_opt_ctx *x, const struct md_opt *k, void *base, const char *text)
{
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    bool list = k->type == MD_OPT_STRLIST || k->type == MD_OPT_FLAGS ||
                k->type == MD_OPT_NUMLIST;
    bool structured = k->type == MD_OPT_SPECIAL || (list && *p == '[');
    if (!structured) {
        struct md_ynode n = {.type = MD_Y_SCALAR, .scalar = (char *)text, .quoted = true};
        return md_opt_set_node(x, k, base, &n, 0);
    }
    struct md_ynode *root = NULL;
    char yerr[256];
    int rc = md_yaml_load_string("value", p, strlen(p), &root, yerr, sizeof yerr);
    if (rc == -ENOMEM)
        return md_opt_oom(x);
    if (rc)
        return md_opt_fail(x, 0, k->name, "cannot parse %s: %s",
                           k->type == MD_OPT_SPECIAL ? "the JSON list" : "the list", yerr);
    if (root->type == MD_Y_NULL) /* "" for a structured key: empty */
        root->type = MD_Y_SEQ;
    rc = md_opt_set_node(x, k, base, root, 0);
    md_ynode_free(root);
    return rc;
}

int md_opt_defaults(struct md_opt_ctx *x, const struct md_opt *table, void *base)
{
    for (const struct md_opt *k = table; k->name; k++) {
        int rc = md_opt_set_text(x, k, base, k->def ? k->def : "");
        if (rc)
            return rc;
    }
    return 0;
}

void md_opt_free(const struct md_opt *table, void *base)
{
    for (const struct md_opt *k = table; k->name; k++) {
        void *f = opt_field(base, k);
        switch (k->type) {
        case MD_OPT_STRLIST:
            md_strlist_free(f);
            break;
        case MD_OPT_SPECIAL:
            k->special->free(f);
            break;
        case MD_OPT_BOOL:
        case MD_OPT_INT:
        case MD_OPT_ENUM:
        case MD_OPT_DURATION:
        case MD_OPT_FLAGS:
        case MD_OPT_NUMLIST:
            break;
        default: /* the string types */
            free(*(char **)f);
            *(char **)f = NULL;
            break;
        }
    }
}

const struct md_opt *md_opt_find(const struct md_opt *table, const char *name, bool *via_alias)
{
    for (const struct md_opt *k = table; k->name; k++) {
        if (strcmp(k->name, name) == 0) {
            *via_alias = false;
            return k;
        }
        if (k->alias && strcmp(k->alias, name) == 0) {
            *via_alias = true;
            return k;
        }
    }
    return NULL;
}

/* Names are short, so O(n*m) is fine. */
size_t md_opt_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}
