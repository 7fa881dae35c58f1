/*
 * yaml_tree.h: YAML files as a small tree that remembers line numbers.
 *
 * libyaml gives events with marks; config and conf.d validation need to
 * walk a document and name "FILE:LINE: KEY" on any error, so both load the
 * file into this tree first and validate it against their schema tables.
 */
#ifndef METERD_YAML_TREE_H
#define METERD_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

enum md_ynode_type { MD_Y_NULL, MD_Y_SCALAR, MD_Y_SEQ, MD_Y_MAP };

struct md_ynode {
    enum md_ynode_type type;
    int line;     /* 1-based line of the node */
    char *scalar; /* MD_Y_SCALAR: the text */
    bool quoted;  /* scalar was quoted: a string even if it looks like a number */
    size_t n;     /* MD_Y_SEQ / MD_Y_MAP: number of items */
    struct md_ynode **items; /* values */
    char **keys;  /* MD_Y_MAP: keys, items[i] is the value of keys[i] */
    int *key_lines;
};

/*
 * Load; on error return -EINVAL with "PATH:LINE: reason" in err (or the
 * negative errno of a failed open/read with "PATH: strerror"). An empty
 * file gives a MD_Y_NULL root. Plain `~`, `null` and empty values are
 * MD_Y_NULL; anchors, aliases, complex keys, several documents and
 * duplicate keys are errors. Nesting deeper than MD_YAML_MAX_DEPTH is an
 * error rather than a stack overflow.
 */
#define MD_YAML_MAX_DEPTH 64
int md_yaml_load_file(const char *path, struct md_ynode **root, char *err, size_t errlen);
int md_yaml_load_string(const char *name, const char *text, size_t len, struct md_ynode **root,
                        char *err, size_t errlen);
void md_ynode_free(struct md_ynode *n);
/* Value of `key` in a map, or NULL. */
const struct md_ynode *md_ymap_get(const struct md_ynode *map, const char *key);

#endif /* METERD_YAML_TREE_H */
