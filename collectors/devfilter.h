/*
 * devfilter.h: which devices, interfaces, file systems or mount points a
 * host collector reports, from the include / exclude keys of the Datadog
 * checks it stands in for.
 *
 * disk, network and io each read a few such keys (names, regexes, old and
 * new spellings) into the same thing: a list of compiled patterns to keep
 * and a list to skip. Those keys hold patterns written for Python's re (the
 * disk and network checks) or Go's regexp (io), so the text is translated
 * into a POSIX extended regex first: \d, \w, \s, (?:...), (?i) at the start
 * and lazy quantifiers work as they do there; what POSIX cannot express
 * (look-around, back-references to named groups) is refused with a reason,
 * never compiled into something that matches differently. md_devfilter_check
 * is the same translation for the config engine, so a bad pattern is an
 * error naming FILE:LINE: KEY when the file is loaded.
 */
#ifndef MD_DEVFILTER_H
#define MD_DEVFILTER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "meterd/collector.h"

enum {
    MD_DEVFILTER_ICASE = 1u,    /* case ignored (the disk check's file system names) */
    MD_DEVFILTER_WHOLE = 2u,    /* must match the whole name ("$" appended) */
    MD_DEVFILTER_LITERAL = 4u,  /* the text is a name, not a pattern */
    MD_DEVFILTER_ANYWHERE = 8u, /* may match anywhere (Go's MatchString); else from the start (re.match) */
};

/* Compiled patterns; a name matches the list when any of them matches. */
struct md_devfilter_list {
    regex_t *v;
    size_t n, cap;
};

/* Kept: not excluded and, when there is an include list, on it. */
struct md_devfilter {
    struct md_devfilter_list include, exclude;
};

/* NULL when re is a pattern the filters accept, else why not (for md_opt check). */
const char *md_devfilter_check(const char *re);

/* Append one pattern; 0, -EINVAL (err says why, naming key) or -ENOMEM. */
int md_devfilter_list_add(struct md_devfilter_list *l, const char *re, unsigned flags,
                          const char *key, char *err, size_t errlen);
bool md_devfilter_list_match(const struct md_devfilter_list *l, const char *s);
/* Whether pattern i alone matches s (device_tag_re keeps one tag set per pattern). */
bool md_devfilter_list_match_one(const struct md_devfilter_list *l, size_t i, const char *s);
void md_devfilter_list_free(struct md_devfilter_list *l);

bool md_devfilter_keep(const struct md_devfilter *f, const char *s);
void md_devfilter_free(struct md_devfilter *f);

/*
 * One config key feeding a filter: values[key] (a string or a list, per
 * keys[key].type) goes into filters[filter].include or .exclude, each item
 * compiled with flags. A collector lists its keys as rows of these and
 * loads them all with md_devfilter_load.
 */
struct md_devfilter_rule {
    unsigned key;
    unsigned filter;
    bool include;
    unsigned flags;
};
int md_devfilter_load(struct md_devfilter *filters, const struct md_devfilter_rule *rules,
                      size_t nrules, const struct md_key_decl *keys,
                      const union md_key_value *values, char *err, size_t errlen);

#endif
