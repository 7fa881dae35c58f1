/*
 * config_out.c: the configuration written back out. md_config_dump is what
 * `meterd configcheck` prints (the effective values, secrets hidden by
 * opt_out.c); md_config_write_template generates the shipped
 * conf.d/meterd.yaml from the same sections, so the documentation of a key
 * cannot drift from its row.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

/*
 * The name to print for k: a nested key ("proxy.http") is printed as
 * "  http" under one "proxy:" line, written when the parent changes, so
 * the output is a datadog.yaml. lead starts each written line ("# " in
 * the template).
 */
static const char *cfg_out_name(FILE *out, const struct md_opt *k, const char **parent,
                                const char *lead)
{
    static char child[128];
    const char *dot = strchr(k->name, '.');
    if (!dot) {
        *parent = NULL;
        return k->name;
    }
    size_t pl = (size_t)(dot - k->name);
    if (!*parent || strncmp(*parent, k->name, pl) != 0 || (*parent)[pl] != '.')
        fprintf(out, "%s%.*s:\n", lead, (int)pl, k->name);
    *parent = k->name;
    snprintf(child, sizeof child, "  %s", dot + 1);
    return child;
}

void md_config_dump(const struct md_config *c, FILE *out)
{
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(c, s, MD_CONFIG_MAX_SECTIONS);
    fputs("# meterd effective configuration (defaults < file < environment < --set)\n", out);
    fputs("# config_file: ", out);
    md_opt_put_str(out, c->config_file ? c->config_file : "");
    fputc('\n', out);
    const struct md_sink_ops *run[MD_CONFIG_MAX_SINK_KINDS];
    size_t nrun = md_config_sinks(c, run, MD_CONFIG_MAX_SINK_KINDS);
    fputs("# sinks that will run:", out);
    for (size_t i = 0; i < nrun; i++)
        fprintf(out, " %s", run[i]->name);
    fputc('\n', out);
    for (size_t i = 0; i < n; i++) {
        const char *parent = NULL;
        for (const struct md_opt *k = s[i].keys; k->name; k++) {
            fputs(cfg_out_name(out, k, &parent, ""), out);
            fputc(':', out);
            md_opt_put_value(out, k, s[i].base);
        }
    }
    for (size_t i = 0; i < c->notes.n; i++)
        fprintf(out, "# warning: %s\n", c->notes.v[i]);
}

/* Is env DD_<name> (already listed)? */
static bool cfg_out_is_dd_name(const char *env, const char *name)
{
    if (strncmp(env, "DD_", 3) != 0)
        return false;
    for (env += 3; *env && *name; env++, name++)
        if (*env != (*name == '.' ? '_' : toupper((unsigned char)*name)))
            return false;
    return !*env && !*name;
}

static void cfg_template_key(FILE *out, const struct md_opt *k, const void *base,
                             const char **parent)
{
    if (k->section)
        fprintf(out, "\n######## %s ########\n", k->section);
    fprintf(out, "\n## @param %s - %s - optional - default:", k->name, md_opt_type_name(k));
    md_opt_put_value(out, k, base);
    for (const char *pre = "## @env METERD_"; pre; pre = *pre == '#' ? ", DD_" : NULL) {
        fputs(pre, out);
        for (const char *s = k->name; *s; s++)
            fputc(*s == '.' ? '_' : toupper((unsigned char)*s), out);
    }
    for (size_t e = 0; e < 3 && k->env[e]; e++)
        if (!cfg_out_is_dd_name(k->env[e], k->name))
            fprintf(out, ", %s", k->env[e]);
    fputc('\n', out);
    for (const char *s = k->doc; *s;) {
        size_t n = strcspn(s, "\n");
        fprintf(out, "## %.*s\n", (int)n, s);
        s += n + (s[n] == '\n');
    }
    fputs("#\n", out);
    if (!strchr(k->name, '.'))
        *parent = NULL;
    fprintf(out, "# %s:", cfg_out_name(out, k, parent, "# "));
    md_opt_put_value(out, k, base);
}

void md_config_write_template(FILE *out)
{
    struct md_config d;
    md_config_defaults(&d);
    struct md_config_section s[MD_CONFIG_MAX_SECTIONS];
    size_t n = md_config_sections(&d, s, MD_CONFIG_MAX_SECTIONS);
    fputs("## meterd main configuration.\n"
          "##\n"
          "## Every key is optional and shown commented out with its default. With none\n"
          "## set, meterd listens for DogStatsD on 127.0.0.1:8125 and prints every\n"
          "## flushed window with the console sink: no backend is needed.\n"
          "## Set api_key (or dd_url) to ship to Datadog or a compatible backend.\n"
          "##\n"
          "## Precedence: defaults < this file < environment < `meterd --set key=value`.\n"
          "## Every key can be set as METERD_<KEY> or DD_<KEY> (e.g. DD_DOGSTATSD_PORT=8125;\n"
          "## a nested key with _: DD_PROXY_HTTPS); METERD_ wins over DD_. Any string\n"
          "## value may be ENC[handle], resolved by secret_backend_command.\n"
          "## In the environment, lists are space separated or a JSON array.\n"
          "## Durations are seconds, or a number with s, m or h (\"90s\", \"5m\").\n"
          "## A key written with no value keeps its default.\n"
          "## This file is generated from the key tables (agent/config/config_keys.c and\n"
          "## each sink's own; `meterd configcheck --template`); a unit test keeps them\n"
          "## in sync.\n",
          out);
    for (size_t i = 0; i < n; i++) {
        const char *parent = NULL;
        for (const struct md_opt *k = s[i].keys; k->name; k++)
            cfg_template_key(out, k, s[i].base, &parent);
    }
    md_config_free(&d);
}
