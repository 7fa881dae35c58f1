/*
 * jsonp.c: the JSON reader (see jsonp.h). Recursive descent over the text,
 * depth-limited; \u escapes are decoded to UTF-8 (surrogate pairs joined).
 */
#include "jsonp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSONP_MAX_DEPTH 64

struct jp {
    const char *p, *end, *start;
    int depth;
};

static void skip_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static struct md_jval *jv_new(enum md_jtype t)
{
    struct md_jval *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

void md_jsonp_free(struct md_jval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        md_jsonp_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string at j->p (on the opening quote); a decoded copy. */
static char *parse_str(struct jp *j)
{
    const char *s = ++j->p;
    while (j->p < j->end && *j->p != '"')
        j->p += (*j->p == '\\' && j->p + 1 < j->end) ? 2 : 1;
    if (j->p >= j->end)
        return NULL;
    size_t raw = (size_t)(j->p - s);
    char *out = malloc(raw + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *q = s; q < j->p; q++) {
        if (*q != '\\') {
            *o++ = *q;
            continue;
        }
        q++;
        switch (*q) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned cp, lo;
            if (j->p - q < 5 || hex4(q + 1, &cp) < 0)
                goto bad;
            q += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && j->p - q >= 7 && q[1] == '\\' && q[2] == 'u' &&
                hex4(q + 3, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            }
            o += put_utf8(o, cp); /* 6 escape bytes always hold the <= 4 UTF-8 bytes */
            break;
        }
        default: *o++ = *q; break; /* \" \\ \/ */
        }
    }
    *o = '\0';
    j->p++;
    return out;
bad:
    free(out);
    return NULL;
}

static struct md_jval *parse_value(struct jp *j);

static int push(struct md_jval *v, char *key, struct md_jval *item)
{
    if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
        size_t cap = v->n ? v->n * 2 : 4;
        struct md_jval **ni = realloc(v->items, cap * sizeof *ni);
        if (!ni)
            return -1;
        v->items = ni;
        if (v->type == MD_J_OBJ) {
            char **nk = realloc(v->keys, cap * sizeof *nk);
            if (!nk)
                return -1;
            v->keys = nk;
        }
    }
    v->items[v->n] = item;
    if (v->type == MD_J_OBJ)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static struct md_jval *parse_container(struct jp *j, enum md_jtype t)
{
    char close = t == MD_J_OBJ ? '}' : ']';
    struct md_jval *v = jv_new(t);
    if (!v || ++j->depth > JSONP_MAX_DEPTH)
        goto bad;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(j);
        if (t == MD_J_OBJ) {
            if (j->p >= j->end || *j->p != '"' || !(key = parse_str(j)))
                goto bad;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') {
                free(key);
                goto bad;
            }
            j->p++;
        }
        struct md_jval *item = parse_value(j);
        if (!item || push(v, key, item) < 0) {
            free(key);
            md_jsonp_free(item);
            goto bad;
        }
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return v;
        }
        goto bad;
    }
bad:
    md_jsonp_free(v);
    return NULL;
}

static bool lit(struct jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return false;
    j->p += n;
    return true;
}

static struct md_jval *parse_value(struct jp *j)
{
    skip_ws(j);
    if (j->p >= j->end)
        return NULL;
    struct md_jval *v;
    switch (*j->p) {
    case '{':
        return parse_container(j, MD_J_OBJ);
    case '[':
        return parse_container(j, MD_J_ARR);
    case '"':
        if (!(v = jv_new(MD_J_STR)))
            return NULL;
        if (!(v->str = parse_str(j))) {
            free(v);
            return NULL;
        }
        return v;
    case 't':
    case 'f':
        if (!lit(j, "true") && !lit(j, "false"))
            return NULL;
        if ((v = jv_new(MD_J_BOOL)))
            v->b = j->p[-1] == 'e' && j->p[-2] == 'u';
        return v;
    case 'n':
        return lit(j, "null") ? jv_new(MD_J_NULL) : NULL;
    default: {
        char buf[64];
        size_t n = 0;
        while (j->p + n < j->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", j->p[n]))
            n++;
        if (!n)
            return NULL;
        memcpy(buf, j->p, n);
        buf[n] = '\0';
        char *e;
        double d = strtod(buf, &e);
        if (*e)
            return NULL;
        j->p += n;
        if ((v = jv_new(MD_J_NUM)))
            v->num = d;
        return v;
    }
    }
}

struct md_jval *md_jsonp_parse(const char *text, size_t len, size_t *errpos)
{
    struct jp j = {text, text + len, text, 0};
    struct md_jval *v = parse_value(&j);
    skip_ws(&j);
    if (v && j.p != j.end) {
        md_jsonp_free(v);
        v = NULL;
    }
    if (!v && errpos)
        *errpos = (size_t)(j.p - j.start);
    return v;
}

const struct md_jval *md_jsonp_get(const struct md_jval *v, const char *key)
{
    if (!v || v->type != MD_J_OBJ)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const char *md_jsonp_str(const struct md_jval *v, const char *key)
{
    const struct md_jval *m = md_jsonp_get(v, key);
    return m && m->type == MD_J_STR ? m->str : NULL;
}
