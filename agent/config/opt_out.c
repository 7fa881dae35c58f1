/*
 * opt_out.c: a typed value written back as YAML, for `meterd configcheck`
 * and the shipped template. Secrets and URL credentials are hidden here,
 * the one place every printed value passes through.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "meterd/config.h"
#include "opt.h"

void md_opt_put_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void opt_put_strlist(FILE *out, const struct md_strlist *l)
{
    fputc('[', out);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            fputs(", ", out);
        md_opt_put_str(out, l->v[i]);
    }
    fputc(']', out);
}

static void opt_put_flags(FILE *out, const char *const *choices, unsigned bits)
{
    fputc('[', out);
    for (unsigned i = 0, n = 0; choices[i]; i++)
        if (bits & (1u << i))
            fprintf(out, "%s\"%s\"", n++ ? ", " : "", choices[i]);
    fputc(']', out);
}

static void opt_put_numlist(FILE *out, const struct md_numlist *l)
{
    fputc('[', out);
    for (size_t i = 0; i < l->n; i++)
        fprintf(out, "%s%.15g", i ? ", " : "", l->v[i]);
    fputc(']', out);
}

void md_opt_put_value(FILE *out, const struct md_opt *k, const void *base)
{
    const void *f = (const char *)base + k->off;
    const char *s = NULL;
    char red[1024];
    if (k->type == MD_OPT_SPECIAL) {
        k->special->dump(out, f);
        return;
    }
    fputc(' ', out);
    switch (k->type) {
    case MD_OPT_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case MD_OPT_INT:
    case MD_OPT_DURATION:
        if (k->flags & MD_OPT_F_I64)
            fprintf(out, "%lld", (long long)*(const int64_t *)f);
        else
            fprintf(out, (k->flags & MD_OPT_F_OCTAL) ? "\"0%o\"" : "%d", *(const int *)f);
        break;
    case MD_OPT_ENUM:
        fputs(k->choices[*(const int *)f], out);
        break;
    case MD_OPT_STRLIST:
        opt_put_strlist(out, f);
        break;
    case MD_OPT_FLAGS:
        opt_put_flags(out, k->choices, *(const unsigned *)f);
        break;
    case MD_OPT_NUMLIST:
        opt_put_numlist(out, f);
        break;
    case MD_OPT_SECRET:
        md_opt_put_str(out, md_config_redact(*(char *const *)f, red, sizeof red));
        break;
    case MD_OPT_URL:
        s = *(char *const *)f;
        md_opt_put_str(out, s && *s ? md_url_redact(s, red, sizeof red) : "");
        break;
    default:
        s = *(char *const *)f;
        md_opt_put_str(out, s ? s : "");
        break;
    }
    fputc('\n', out);
}
