/*
 * jsonp.h: a small JSON reader for the few documents meterd receives
 * (Docker Engine API answers and events, ECS task metadata).
 *
 * The whole text is parsed once into a tree that owns its strings; callers
 * look members up by name. It is not on any hot path: documents are read
 * on the loop thread when metadata changes. Depth and size are bounded so
 * a hostile or broken peer costs an error, never a crash.
 */
#ifndef METERD_JSONP_H
#define METERD_JSONP_H

#include <stdbool.h>
#include <stddef.h>

enum md_jtype { MD_J_NULL, MD_J_BOOL, MD_J_NUM, MD_J_STR, MD_J_ARR, MD_J_OBJ };

struct md_jval {
    enum md_jtype type;
    bool b;
    double num;
    char *str;            /* MD_J_STR, NUL-terminated (embedded NULs cut the string) */
    size_t n;             /* items of an array or members of an object */
    char **keys;          /* MD_J_OBJ member names */
    struct md_jval **items;
};

/* Parse text[0..len). NULL on a syntax error, with the byte offset in *errpos. */
struct md_jval *md_jsonp_parse(const char *text, size_t len, size_t *errpos);
void md_jsonp_free(struct md_jval *v);

/* Member `key` of an object (NULL when v is not an object or lacks it). */
const struct md_jval *md_jsonp_get(const struct md_jval *v, const char *key);
/* The string at v.key, or NULL when absent or not a string. */
const char *md_jsonp_str(const struct md_jval *v, const char *key);

#endif
