/*
 * yaml_tree.c: load a YAML document into the small line-numbered tree of
 * yaml_tree.h.
 *
 * Config and conf.d validation must say "FILE:LINE: KEY: reason", which
 * needs line numbers long after libyaml has moved on, so the whole document
 * is read once from libyaml's event stream into md_ynode trees that keep the
 * 1-based line of every node and key. Anything a config file has no use for
 * and that would make errors harder to point at (anchors, aliases, complex
 * keys, several documents, duplicate keys) is refused with a clear message.
 */
#include "yaml_tree.h"

#include <yaml.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A config file bigger than this is a mistake (or an attack), not a config. */
#define MD_YAML_MAX_FILE (16u << 20)

struct yctx {
    yaml_parser_t p;
    const char *name;
    const char *text;
    size_t len;
    char *err;
    size_t errlen;
};

static int yaml_fail(struct yctx *y, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yaml_fail(struct yctx *y, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (y->err && y->errlen)
        snprintf(y->err, y->errlen, "%s:%d: %s", y->name, line, msg);
    return -EINVAL;
}

static int yaml_oom(struct yctx *y)
{
    if (y->err && y->errlen)
        snprintf(y->err, y->errlen, "%s: out of memory", y->name);
    return -ENOMEM;
}

/* Reader errors carry a byte offset, not a line: count the newlines before it. */
static int yaml_offset_line(const struct yctx *y, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < y->len; i++)
        line += y->text[i] == '\n';
    return line;
}

static int yaml_syntax_error(struct yctx *y)
{
    const yaml_parser_t *p = &y->p;
    if (p->error == YAML_MEMORY_ERROR)
        return yaml_oom(y);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR)
        return yaml_fail(y, yaml_offset_line(y, p->problem_offset), "%s", problem);
    int line = (int)p->problem_mark.line + 1;
    if (p->context)
        return yaml_fail(y, line, "%s (%s at line %d)", problem, p->context,
                         (int)p->context_mark.line + 1);
    return yaml_fail(y, line, "%s", problem);
}

static int yaml_next(struct yctx *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->p, ev))
        return yaml_syntax_error(y);
    return 0;
}

static int yaml_event_line(const yaml_event_t *ev)
{
    return (int)ev->start_mark.line + 1;
}

static struct md_ynode *yaml_node_new(enum md_ynode_type t, int line)
{
    struct md_ynode *n = calloc(1, sizeof *n);
    if (n) {
        n->type = t;
        n->line = line;
    }
    return n;
}

/* Anchors are only useful with aliases, and an alias hides which line a value came from. */
static int yaml_reject_anchor(struct yctx *y, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    if (!anchor)
        return 0;
    return yaml_fail(y, yaml_event_line(ev), "anchors and aliases are not supported (&%s)",
                     (const char *)anchor);
}

static bool yaml_is_str_tag(const yaml_char_t *tag)
{
    return tag && strcmp((const char *)tag, YAML_STR_TAG) == 0;
}

static bool yaml_is_null_text(const char *s, size_t n)
{
    return n == 0 || (n == 1 && s[0] == '~') ||
           (n == 4 && (strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0));
}

/* A scalar event becomes a SCALAR or NULL node; an embedded NUL ("\0") is refused. */
static int yaml_scalar(struct yctx *y, const yaml_event_t *ev, struct md_ynode **out)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    int line = yaml_event_line(ev);
    int rc = yaml_reject_anchor(y, ev, ev->data.scalar.anchor);
    if (rc)
        return rc;
    if (memchr(v, '\0', n))
        return yaml_fail(y, line, "NUL byte inside a value");
    bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                  yaml_is_str_tag(ev->data.scalar.tag);
    bool is_null = !quoted && yaml_is_null_text(v, n);
    struct md_ynode *node = yaml_node_new(is_null ? MD_Y_NULL : MD_Y_SCALAR, line);
    if (!node)
        return yaml_oom(y);
    if (!is_null) {
        node->scalar = strndup(v, n);
        node->quoted = quoted;
        if (!node->scalar) {
            free(node);
            return yaml_oom(y);
        }
    }
    *out = node;
    return 0;
}

/* Room for one more item; capacity doubles, tracked by the caller. */
static int yaml_grow(struct md_ynode *n, size_t *cap)
{
    if (n->n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    struct md_ynode **items = realloc(n->items, nc * sizeof *items);
    if (!items)
        return -ENOMEM;
    n->items = items;
    if (n->type == MD_Y_MAP) {
        char **keys = realloc(n->keys, nc * sizeof *keys);
        if (!keys)
            return -ENOMEM;
        n->keys = keys;
        int *kl = realloc(n->key_lines, nc * sizeof *kl);
        if (!kl)
            return -ENOMEM;
        n->key_lines = kl;
    }
    *cap = nc;
    return 0;
}

static int yaml_node(struct yctx *y, yaml_event_t *ev, int depth, struct md_ynode **out);

static int yaml_seq(struct yctx *y, const yaml_event_t *start, int depth, struct md_ynode **out)
{
    int rc = yaml_reject_anchor(y, start, start->data.sequence_start.anchor);
    if (rc)
        return rc;
    struct md_ynode *seq = yaml_node_new(MD_Y_SEQ, yaml_event_line(start));
    if (!seq)
        return yaml_oom(y);
    size_t cap = 0;
    for (;;) {
        yaml_event_t ev;
        if ((rc = yaml_next(y, &ev)))
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            *out = seq;
            return 0;
        }
        struct md_ynode *item = NULL;
        rc = yaml_node(y, &ev, depth + 1, &item);
        yaml_event_delete(&ev);
        if (rc)
            break;
        if (yaml_grow(seq, &cap)) {
            md_ynode_free(item);
            rc = yaml_oom(y);
            break;
        }
        seq->items[seq->n++] = item;
    }
    md_ynode_free(seq);
    return rc;
}

static int yaml_find_key(const struct md_ynode *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return (int)i;
    return -1;
}

/* One key/value pair: `kev` is the key's event, already fetched. */
static int yaml_pair(struct yctx *y, struct md_ynode *map, size_t *cap, const yaml_event_t *kev,
                     int depth)
{
    int kline = yaml_event_line(kev);
    if (kev->type == YAML_ALIAS_EVENT)
        return yaml_fail(y, kline, "anchors and aliases are not supported (*%s)",
                         (const char *)kev->data.alias.anchor);
    if (kev->type != YAML_SCALAR_EVENT)
        return yaml_fail(y, kline, "a map key must be a plain value, not a list or map");
    int rc = yaml_reject_anchor(y, kev, kev->data.scalar.anchor);
    if (rc)
        return rc;
    const char *k = (const char *)kev->data.scalar.value;
    size_t klen = kev->data.scalar.length;
    if (memchr(k, '\0', klen))
        return yaml_fail(y, kline, "NUL byte inside a key");
    int prev = yaml_find_key(map, k);
    if (prev >= 0)
        return yaml_fail(y, kline, "duplicate key '%s' (first set at line %d)", k,
                         map->key_lines[prev]);
    char *key = strndup(k, klen);
    if (!key || yaml_grow(map, cap)) {
        free(key);
        return yaml_oom(y);
    }
    yaml_event_t vev;
    if ((rc = yaml_next(y, &vev))) {
        free(key);
        return rc;
    }
    struct md_ynode *val = NULL;
    rc = yaml_node(y, &vev, depth + 1, &val);
    yaml_event_delete(&vev);
    if (rc) {
        free(key);
        return rc;
    }
    map->keys[map->n] = key;
    map->key_lines[map->n] = kline;
    map->items[map->n++] = val;
    return 0;
}

static int yaml_map(struct yctx *y, const yaml_event_t *start, int depth, struct md_ynode **out)
{
    int rc = yaml_reject_anchor(y, start, start->data.mapping_start.anchor);
    if (rc)
        return rc;
    struct md_ynode *map = yaml_node_new(MD_Y_MAP, yaml_event_line(start));
    if (!map)
        return yaml_oom(y);
    size_t cap = 0;
    for (;;) {
        yaml_event_t kev;
        if ((rc = yaml_next(y, &kev)))
            break;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            *out = map;
            return 0;
        }
        rc = yaml_pair(y, map, &cap, &kev, depth);
        yaml_event_delete(&kev);
        if (rc)
            break;
    }
    md_ynode_free(map);
    return rc;
}

/* Build the node that starts with event `ev` (owned by the caller). */
static int yaml_node(struct yctx *y, yaml_event_t *ev, int depth, struct md_ynode **out)
{
    if (depth > MD_YAML_MAX_DEPTH)
        return yaml_fail(y, yaml_event_line(ev), "nested deeper than %d levels", MD_YAML_MAX_DEPTH);
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return yaml_scalar(y, ev, out);
    case YAML_SEQUENCE_START_EVENT:
        return yaml_seq(y, ev, depth, out);
    case YAML_MAPPING_START_EVENT:
        return yaml_map(y, ev, depth, out);
    case YAML_ALIAS_EVENT:
        return yaml_fail(y, yaml_event_line(ev), "anchors and aliases are not supported (*%s)",
                         (const char *)ev->data.alias.anchor);
    default:
        return yaml_fail(y, yaml_event_line(ev), "unexpected YAML event %d", (int)ev->type);
    }
}

/* Expect an event of `type` next; anything else is reported with `what`. */
static int yaml_expect(struct yctx *y, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    int rc = yaml_next(y, &ev);
    if (rc)
        return rc;
    if (ev.type != type)
        rc = yaml_fail(y, yaml_event_line(&ev), "%s", what);
    yaml_event_delete(&ev);
    return rc;
}

/* stream-start, then nothing or exactly one document, then stream-end. */
static int yaml_document(struct yctx *y, struct md_ynode **root)
{
    yaml_event_t ev;
    int rc = yaml_expect(y, YAML_STREAM_START_EVENT, "expected the start of a YAML stream");
    if (rc || (rc = yaml_next(y, &ev)))
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        *root = yaml_node_new(MD_Y_NULL, 1);
        return *root ? 0 : yaml_oom(y);
    }
    yaml_event_delete(&ev); /* document start */
    if ((rc = yaml_next(y, &ev)))
        return rc;
    rc = yaml_node(y, &ev, 0, root);
    yaml_event_delete(&ev);
    if (rc)
        return rc;
    rc = yaml_expect(y, YAML_DOCUMENT_END_EVENT, "expected the end of the document");
    if (!rc)
        rc = yaml_expect(y, YAML_STREAM_END_EVENT, "only one YAML document per file is supported");
    if (rc) {
        md_ynode_free(*root);
        *root = NULL;
    }
    return rc;
}

int md_yaml_load_string(const char *name, const char *text, size_t len, struct md_ynode **root,
                        char *err, size_t errlen)
{
    struct yctx y = {.name = name ? name : "<string>", .text = text, .len = len,
                     .err = err, .errlen = errlen};
    *root = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!yaml_parser_initialize(&y.p))
        return yaml_oom(&y);
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    int rc = yaml_document(&y, root);
    yaml_parser_delete(&y.p);
    return rc;
}

/* Read a whole regular file into memory (NUL-terminated), bounded by MD_YAML_MAX_FILE. */
static int yaml_read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? 0 : -ENOMEM;
    while (!rc) {
        if (len == cap) {
            char *nb = cap >= MD_YAML_MAX_FILE ? NULL : realloc(buf, cap * 2 + 1);
            if (!nb) {
                rc = cap >= MD_YAML_MAX_FILE ? -EFBIG : -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path,
                 rc == -EFBIG ? "file is larger than 16 MiB" : strerror(-rc));
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

int md_yaml_load_file(const char *path, struct md_ynode **root, char *err, size_t errlen)
{
    char tmp[8];
    char *text = NULL;
    size_t len = 0;
    if (!err || !errlen) {
        err = tmp;
        errlen = sizeof tmp;
    }
    *root = NULL;
    int rc = yaml_read_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = md_yaml_load_string(path, text, len, root, err, errlen);
    free(text);
    return rc;
}

void md_ynode_free(struct md_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        md_ynode_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_lines);
    free(n->scalar);
    free(n);
}

const struct md_ynode *md_ymap_get(const struct md_ynode *map, const char *key)
{
    if (!map || map->type != MD_Y_MAP || !key)
        return NULL;
    int i = yaml_find_key(map, key);
    return i < 0 ? NULL : map->items[i];
}
