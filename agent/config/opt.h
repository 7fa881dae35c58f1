/*
 * opt.h: the one engine that reads every key table (see meterd/options.h).
 *
 * It parses a YAML node or a text (environment, --set, defaults) into the
 * typed field a row points at, with one set of rules for every type, and
 * writes errors as "FILE:LINE: KEY: reason", "environment NAME: KEY:
 * reason" or "--set KEY: reason". Any known secret text is blanked out of
 * an error before it is returned. Warnings (an unknown key in a file) use
 * the same "WHERE: KEY: reason" and go to the caller's notes or the log. The main file, the sinks' keys and the
 * conf.d instances all go through here.
 */
#ifndef METERD_OPT_H
#define METERD_OPT_H

#include <stdbool.h>
#include <stdio.h>

#include "meterd/options.h"
#include "yaml_tree.h"

#define MD_OPT_MAX_SECRETS 8

/* Where the values being applied come from, and where an error goes. */
struct md_opt_ctx {
    const char *file; /* applying this file */
    const char *env;  /* applying this environment variable */
    bool set;         /* applying --set */
    char *err;
    size_t errlen;
    const char *secrets[MD_OPT_MAX_SECRETS]; /* texts never to appear in an error */
    size_t nsecrets;
    struct md_strlist *notes; /* warnings go here when set, else to the log */
};

/* Write "WHERE: PATH: reason" (PATH may be NULL) into x->err; returns -EINVAL. */
int md_opt_fail(struct md_opt_ctx *x, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int md_opt_oom(struct md_opt_ctx *x);
/*
 * An unknown key ("unknown key DETAIL"): the one place that decides whether
 * it is fatal. In a file it is a warning (as in the Datadog agent, whose
 * files carry keys of features meterd does not have); on --set, a typo on
 * the command line, it stops the command. Returns 0 or -EINVAL.
 */
int md_opt_unknown(struct md_opt_ctx *x, int line, const char *name, const char *detail);
/* A warning "WHERE: PATH: reason" into x->notes, or the log without them. */
void md_opt_warn(struct md_opt_ctx *x, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Apply a YAML value to k's field in base. A null node (`key:` alone) keeps the value. */
int md_opt_set_node(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                    const struct md_ynode *n, int line);
/* Apply a text (default, environment, --set): lists are space separated or "[a, b]". */
int md_opt_set_text(struct md_opt_ctx *x, const struct md_opt *k, void *base, const char *text);

/* Every row's default into base (zeroed first). Only memory can fail for a sound table. */
int md_opt_defaults(struct md_opt_ctx *x, const struct md_opt *table, void *base);
/* Free what the fields of a table own; base is left zeroed for those fields. */
void md_opt_free(const struct md_opt *table, void *base);

/* The row of `name` (or of its old name: *via_alias); NULL when unknown. */
const struct md_opt *md_opt_find(const struct md_opt *table, const char *name, bool *via_alias);
/* Edit distance between two key names, for "did you mean". */
size_t md_opt_distance(const char *a, const char *b);

/* " value\n" as it should follow "key:" in YAML; secrets and URL credentials hidden. */
void md_opt_put_value(FILE *out, const struct md_opt *k, const void *base);
/* A YAML double-quoted string. */
void md_opt_put_str(FILE *out, const char *s);
/* "boolean", "integer" ... for the template. */
const char *md_opt_type_name(const struct md_opt *k);

/* "a map", "a list" ... for errors about the shape of a node. */
const char *md_opt_node_kind(const struct md_ynode *n);
/* s quoted, printable and bounded, for an error message. */
const char *md_opt_quote(const char *s, char *buf, size_t len);

/* The list types (STRLIST, FLAGS, NUMLIST), from a sequence or a space-separated string. */
int md_opt_set_list(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                    const struct md_ynode *n, int line);
/* Index of v among choices (case-insensitive), -1 when absent; "a, b, c" for errors. */
int md_opt_choice_index(const char *const *ch, const char *v);
void md_opt_choices_text(const char *const *ch, char *buf, size_t len);

int md_strlist_push(struct md_strlist *l, char *s); /* takes s, frees it on failure */
void md_strlist_free(struct md_strlist *l);

#endif
