/*
 * config_out.c: the configuration written back out. md_config_dump is what
 * `meterd configcheck` prints (the effective values, secrets hidden by
 * opt_out.c); md_config_write_template generates the shipped
 * conf.d/meterd.yaml from the same sections, so the documentation of a key
 * cannot drift from its row.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

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
        for (const struct md_opt *k = s[i].keys; k->name; k++) {
            fputs(k->name, out);
            fputc(':', out);
            md_opt_put_value(out, k, s[i].base);
        }
    }
}

static void cfg_template_key(FILE *out, const struct md_opt *k, const void *base)
{
    if (k->section)
        fprintf(out, "\n######## %s ########\n", k->section);
    fprintf(out, "\n## @param %s - %s - optional - default:", k->name, md_opt_type_name(k));
    md_opt_put_value(out, k, base);
    fputs("## @env METERD_", out);
    for (const char *s = k->name; *s; s++)
        fputc(toupper((unsigned char)*s), out);
    for (size_t e = 0; e < 3 && k->env[e]; e++)
        fprintf(out, ", %s", k->env[e]);
    fputc('\n', out);
    for (const char *s = k->doc; *s;) {
        size_t n = strcspn(s, "\n");
        fprintf(out, "## %.*s\n", (int)n, s);
        s += n + (s[n] == '\n');
    }
    fprintf(out, "#\n# %s:", k->name);
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
          "## Every key can be set as METERD_<KEY> (e.g. METERD_DOGSTATSD_PORT=8125); the\n"
          "## Datadog names listed with @env are accepted too, METERD_ wins over DD_.\n"
          "## In the environment, lists are space separated or a JSON array.\n"
          "## Durations are seconds, or a number with s, m or h (\"90s\", \"5m\").\n"
          "## A key written with no value keeps its default.\n"
          "## This file is generated from the key tables (agent/config/config_keys.c and\n"
          "## each sink's own; `meterd configcheck --template`); a unit test keeps them\n"
          "## in sync.\n",
          out);
    for (size_t i = 0; i < n; i++)
        for (const struct md_opt *k = s[i].keys; k->name; k++)
            cfg_template_key(out, k, s[i].base);
    md_config_free(&d);
}
