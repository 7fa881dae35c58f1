/*
 * options.h: typed configuration keys, declared as tables (config maps).
 *
 * The agent's main keys, each sink's own keys and the common keys of a
 * conf.d instance are all declared the same way: one row per key with its
 * type, where its value lives in the owner's struct (offsetof), its default
 * as text, and its bounds. One engine (agent/config/opt.c) reads every
 * table, so a boolean, an integer, a duration, a URL or a secret follows
 * the same rules and gives the same "FILE:LINE: KEY: reason" wherever it is
 * written. Values are parsed once, at load, into the typed fields; modules
 * receive those and never see text.
 */
#ifndef METERD_OPTIONS_H
#define METERD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct md_strlist {
    char **v;
    size_t n;
};

#define MD_NUMLIST_MAX 16

/* Numbers given as a list (percentiles, thresholds), checked at load. */
struct md_numlist {
    double v[MD_NUMLIST_MAX];
    size_t n;
};

enum md_opt_type {
    MD_OPT_BOOL,     /* bool: true/false, yes/no, on/off, 1/0, quoted or not */
    MD_OPT_INT,      /* int in [min, max]; MD_OPT_F_OCTAL, MD_OPT_F_POW2 */
    MD_OPT_STRING,   /* char *; choices, when set, are the allowed values */
    MD_OPT_STRLIST,  /* struct md_strlist; choices restrict the items */
    MD_OPT_ENUM,     /* int: index of the value in choices */
    MD_OPT_SECRET,   /* char *; printed only as its last 4 characters */
    MD_OPT_SPECIAL,  /* a structure of its own: md_opt_special hooks */
    MD_OPT_DURATION, /* int seconds in [min, max]: 10, "10s", "5m", "1h" */
    MD_OPT_FLAGS,    /* unsigned: bit i set when choices[i] is listed */
    MD_OPT_NUMLIST,  /* struct md_numlist; each item passes check_num */
    MD_OPT_URL,      /* char *; http(s)://; user:password and query hidden when printed */
    MD_OPT_HOST,     /* char *; a host name or an address */
    MD_OPT_IP,       /* char *; an IPv4 or IPv6 address literal, no name lookup */
    MD_OPT_REGEX,    /* char *; a POSIX extended regex, compiled at load to check it */
};

enum {
    MD_OPT_F_POW2 = 1u << 0,  /* int: must be a power of two */
    MD_OPT_F_OCTAL = 1u << 1, /* int: written in octal ("0660") */
    MD_OPT_F_I64 = 1u << 2,   /* int: the field is an int64_t, not an int */
    MD_OPT_F_MAP = 1u << 3,   /* STRLIST: a YAML mapping is accepted too, as "key:value" items */
    MD_OPT_F_DOMAIN = 1u << 4, /* string: a leading http(s):// and trailing / are dropped */
};

struct md_opt;
struct md_opt_ctx;
struct md_ynode;

/* A key whose value is a structure of its own (the mapper profiles). */
struct md_opt_special {
    int (*set)(struct md_opt_ctx *x, const struct md_opt *k, void *field,
               const struct md_ynode *n, int line);
    void (*dump)(FILE *out, const void *field);
    void (*free)(void *field);
};

/*
 * One key. Rows are positional in the tables; a table ends with a row
 * whose name is NULL. def is run through the same parser as a user's
 * value, so a default can never be something the parser would refuse
 * (lists: space separated).
 */
struct md_opt {
    const char *name;
    enum md_opt_type type;
    size_t off;                 /* of the field in the owner's struct */
    const char *def;
    long long min, max;         /* INT, DURATION bounds */
    const char *const *choices; /* ENUM, FLAGS values; allowed STRING / STRLIST values */
    unsigned flags;
    const char *(*check)(const char *v); /* extra check of a string: NULL or the reason */
    const struct md_opt_special *special;
    const char *alias;          /* an older name still accepted in files */
    const char *env[3];         /* Datadog environment names; METERD_<KEY> wins over all */
    const char *section;        /* starts a group in the shipped template */
    const char *doc;            /* lines separated by \n */
    const char *(*check_num)(double v); /* NUMLIST items: NULL or the reason */
};

/*
 * offsetof plus a compile-time check that the field has the C type the row
 * claims: comparing pointers of different types is an error.
 */
#define MD_OPT_OFF(type, m, ctype) \
    (offsetof(type, m) + 0 * sizeof(&((type *)0)->m == (ctype *)0))

#endif
