/*
 * devfilter.c: the include / exclude filters of the host collectors (see
 * devfilter.h): Datadog-dialect patterns translated to POSIX extended
 * regexes, compiled once at configure, matched per device on each run
 * without allocating.
 *
 * The translation is a single pass over the pattern. Outside brackets the
 * Perl-style classes become POSIX ones (\d -> [0-9]), (?:...) and
 * (?P<name>...) become plain groups, a leading (?i) becomes REG_ICASE, the
 * "?" of a lazy quantifier is dropped (only whether a name matches counts
 * here, never what a group captured) and a "{" that opens no repetition is
 * a literal, as Python reads it. Inside brackets, where POSIX has no
 * escapes, escaped "]", "-" and "^" are moved to the places where POSIX
 * reads them literally.
 */
#include "devfilter.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The translated text being written; overflow is an error, never a cut pattern. */
struct tr {
    char *o;
    size_t n, len;
};

static void tr_put(struct tr *t, const char *s)
{
    size_t k = strlen(s);
    if (t->n + k < t->len)
        memcpy(t->o + t->n, s, k);
    t->n += k;
}

static void tr_putc(struct tr *t, char c)
{
    char s[2] = {c, '\0'};
    tr_put(t, s);
}

static const char *const bad_escape = "escape sequence not supported (POSIX extended regex)";

/* The POSIX text of a Perl-style class escape outside brackets, or NULL. */
static const char *tr_class(char c)
{
    switch (c) {
    case 'd': return "[0-9]";
    case 'D': return "[^0-9]";
    case 'w': return "[[:alnum:]_]";
    case 'W': return "[^[:alnum:]_]";
    case 's': return "[[:space:]]";
    case 'S': return "[^[:space:]]";
    case 'A': return "^";
    case 'Z': case 'z': return "$";
    default: return NULL;
    }
}

/* "\c" outside brackets at p (p[0] == '\\'); returns chars consumed or 0 with *why. */
static size_t tr_escape(struct tr *t, const char *p, const char **why)
{
    char c = p[1], s[3] = {'\\', c, '\0'};
    const char *cls = tr_class(c);
    if (cls)
        tr_put(t, cls);
    else if (c == 'n' || c == 't')
        tr_putc(t, c == 'n' ? '\n' : '\t');
    else if (c == 'b' || c == 'B' || (c >= '1' && c <= '9') || (c && ispunct((unsigned char)c)))
        tr_put(t, s); /* glibc reads these as Python does */
    else {
        *why = c ? bad_escape : "not a valid regular expression (a trailing backslash)";
        return 0;
    }
    return 2;
}

/* A bracket expression at p (p[0] == '['); returns chars consumed or 0 with *why. */
static size_t tr_bracket(struct tr *t, const char *p, const char **why)
{
    size_t i = 1;
    bool neg = p[i] == '^', rb = false, dash = false, caret = false;
    char body[256];
    size_t bn = 0;
    i += neg;
    if (p[i] == ']')
        rb = true, i++;
    for (; p[i] && p[i] != ']' && bn + 16 < sizeof body; i++) {
        if (p[i] != '\\') {
            body[bn++] = p[i];
            continue;
        }
        char c = p[++i];
        const char *add = c == 'd' ? "0-9" : c == 'w' ? "[:alnum:]_" : c == 's' ? "[:space:]" : NULL;
        if (add) {
            memcpy(body + bn, add, strlen(add));
            bn += strlen(add);
        } else if (c == ']' || c == '-' || c == '^') {
            rb |= c == ']', dash |= c == '-', caret |= c == '^';
        } else if (c == 'n' || c == 't') {
            body[bn++] = c == 'n' ? '\n' : '\t';
        } else if (c && ispunct((unsigned char)c)) {
            body[bn++] = c; /* a bracket has no escapes in POSIX: the character itself */
        } else {
            *why = c ? bad_escape : "not a valid regular expression (a trailing backslash)";
            return 0;
        }
    }
    if (p[i] != ']') {
        *why = "not a valid regular expression (an unterminated [, or one too long)";
        return 0;
    }
    if (caret && !rb && !bn && !dash) {
        *why = "[\\^] alone is not supported";
        return 0;
    }
    body[bn] = '\0';
    tr_putc(t, '[');
    if (neg)
        tr_putc(t, '^');
    if (rb)
        tr_putc(t, ']');
    if (dash && !rb && !bn) /* "-" first, so a "^" after it is not a negation */
        tr_putc(t, '-'), dash = false;
    tr_put(t, body);
    if (caret)
        tr_putc(t, '^');
    if (dash && (bn == 0 || body[bn - 1] != '-'))
        tr_putc(t, '-');
    tr_putc(t, ']');
    return i + 1;
}

/* "(?" at p: a group kind POSIX has, or 0 with *why. */
static size_t tr_group(struct tr *t, const char *p, const char **why)
{
    if (p[2] == ':') {
        tr_putc(t, '(');
        return 3;
    }
    if (p[2] == 'P' && p[3] == '<') {
        const char *end = strchr(p + 4, '>');
        if (end) {
            tr_putc(t, '(');
            return (size_t)(end - p) + 1;
        }
    }
    *why = "look-around, inline flags (other than a leading (?i)) and conditionals are not supported";
    return 0;
}

/* Whether "{" at p opens a repetition ({n}, {n,}, {n,m}); else Python reads it literally. */
static bool tr_is_repeat(const char *p)
{
    size_t i = 1;
    if (!isdigit((unsigned char)p[i]))
        return false;
    while (isdigit((unsigned char)p[i]))
        i++;
    if (p[i] == ',')
        for (i++; isdigit((unsigned char)p[i]); i++)
            ;
    return p[i] == '}';
}

/* The Datadog dialect's pattern re as POSIX extended text; NULL or why not. */
static const char *tr_pattern(struct tr *t, const char *re, bool *icase)
{
    const char *why = NULL;
    if (strncmp(re, "(?i)", 4) == 0) {
        *icase = true;
        re += 4;
    }
    bool repeat = false; /* inside {n,m} */
    for (const char *p = re; *p;) {
        size_t used = 1;
        bool quant = *p == '*' || *p == '+' || *p == '?' || (*p == '}' && repeat);
        if (*p == '\\')
            used = tr_escape(t, p, &why);
        else if (*p == '[')
            used = tr_bracket(t, p, &why);
        else if (*p == '(' && p[1] == '?')
            used = tr_group(t, p, &why);
        else if (*p == '{' && !tr_is_repeat(p))
            tr_put(t, "\\{");
        else
            tr_putc(t, *p);
        if (!used)
            return why;
        repeat = (repeat || (*p == '{' && tr_is_repeat(p))) && *p != '}';
        /* a lazy quantifier: only whether it matches counts, so it is the greedy one */
        if (quant && p[used] == '?')
            used++;
        p += used;
    }
    return NULL;
}

/* The full POSIX text for re with flags: anchored, literal or whole as asked. */
static const char *devfilter_text(const char *re, unsigned flags, char *out, size_t len, bool *icase)
{
    struct tr t = {out, 0, len};
    *icase = flags & MD_DEVFILTER_ICASE;
    if (!(flags & MD_DEVFILTER_ANYWHERE))
        tr_putc(&t, '^');
    tr_putc(&t, '(');
    const char *why = NULL;
    if (flags & MD_DEVFILTER_LITERAL) {
        for (const char *p = re; *p; p++) {
            if (strchr(".[]()*+?{}|^$\\", *p))
                tr_putc(&t, '\\');
            tr_putc(&t, *p);
        }
    } else {
        why = tr_pattern(&t, re, icase);
    }
    tr_putc(&t, ')');
    if (flags & MD_DEVFILTER_WHOLE)
        tr_putc(&t, '$');
    if (!why && t.n >= len)
        why = "pattern too long";
    out[t.n < len ? t.n : len - 1] = '\0';
    return why;
}

static const char *devfilter_compile(regex_t *out, const char *re, unsigned flags)
{
    char text[2048];
    bool icase;
    const char *why = devfilter_text(re, flags, text, sizeof text, &icase);
    if (why)
        return why;
    if (regcomp(out, text, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0)
        return "not a valid regular expression";
    return NULL;
}

const char *md_devfilter_check(const char *re)
{
    regex_t r;
    const char *why = devfilter_compile(&r, re, 0);
    if (!why)
        regfree(&r);
    return why;
}

int md_devfilter_list_add(struct md_devfilter_list *l, const char *re, unsigned flags,
                          const char *key, char *err, size_t errlen)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        regex_t *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    const char *why = devfilter_compile(&l->v[l->n], re, flags);
    if (why) {
        snprintf(err, errlen, "%s: %s, got '%s'", key, why, re);
        return -EINVAL;
    }
    l->n++;
    return 0;
}

bool md_devfilter_list_match_one(const struct md_devfilter_list *l, size_t i, const char *s)
{
    return i < l->n && regexec(&l->v[i], s, 0, NULL, 0) == 0;
}

bool md_devfilter_list_match(const struct md_devfilter_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (md_devfilter_list_match_one(l, i, s))
            return true;
    return false;
}

void md_devfilter_list_free(struct md_devfilter_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        regfree(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

bool md_devfilter_keep(const struct md_devfilter *f, const char *s)
{
    return !md_devfilter_list_match(&f->exclude, s) &&
           (f->include.n == 0 || md_devfilter_list_match(&f->include, s));
}

void md_devfilter_free(struct md_devfilter *f)
{
    md_devfilter_list_free(&f->include);
    md_devfilter_list_free(&f->exclude);
}

int md_devfilter_load(struct md_devfilter *filters, const struct md_devfilter_rule *rules,
                      size_t nrules, const struct md_key_decl *keys,
                      const union md_key_value *values, char *err, size_t errlen)
{
    for (size_t r = 0; r < nrules; r++) {
        const struct md_devfilter_rule *ru = &rules[r];
        const union md_key_value *v = &values[ru->key];
        struct md_devfilter_list *l = ru->include ? &filters[ru->filter].include
                                                  : &filters[ru->filter].exclude;
        bool one = keys[ru->key].type == MD_KEY_REGEX || keys[ru->key].type == MD_KEY_STRING;
        size_t n = one ? (v->s && *v->s) : v->list.n;
        for (size_t i = 0; i < n; i++) {
            /* an empty pattern would match everything: the checks skip it */
            const char *re = one ? v->s : v->list.v[i];
            int rc = *re ? md_devfilter_list_add(l, re, ru->flags, keys[ru->key].name, err, errlen) : 0;
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
