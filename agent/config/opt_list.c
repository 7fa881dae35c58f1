/*
 * opt_list.c: list values for the config engine (see opt.h). A list may be
 * written as a YAML sequence or, as the Datadog agent allows, as one
 * string of space-separated items; either way each item is checked on its
 * own and named "KEY[i]" in an error. Lists of strings, of choices (kept
 * as a bit set) and of numbers (kept as doubles) share this walk.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

/* A list being built from items, whatever the list type. */
struct opt_list {
    struct md_strlist strs;
    unsigned bits;
    struct md_numlist nums;
};

static int opt_list_item(struct md_opt_ctx *x, const struct md_opt *k, const char *s, int line,
                         size_t idx, struct opt_list *l)
{
    char path[128], q[64], ch[256];
    snprintf(path, sizeof path, "%s[%zu]", k->name, idx);
    if (!*s)
        return md_opt_fail(x, line, path, "empty list item");
    int ci = k->choices ? md_opt_choice_index(k->choices, s) : 0;
    if (ci < 0) {
        md_opt_choices_text(k->choices, ch, sizeof ch);
        return md_opt_fail(x, line, path, "expected one of %s; got %s", ch,
                           md_opt_quote(s, q, sizeof q));
    }
    if (k->type == MD_OPT_FLAGS) {
        l->bits |= 1u << ci;
        return 0;
    }
    if (k->type == MD_OPT_NUMLIST) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        const char *why = errno || *end || !isfinite(d) ? "expected a number"
                          : k->check_num ? k->check_num(d) : NULL;
        if (why)
            return md_opt_fail(x, line, path, "%s, got %s", why, md_opt_quote(s, q, sizeof q));
        if (l->nums.n == MD_NUMLIST_MAX)
            return md_opt_fail(x, line, k->name, "at most %d items", MD_NUMLIST_MAX);
        l->nums.v[l->nums.n++] = d;
        return 0;
    }
    const char *why = k->check ? k->check(s) : NULL;
    if (why)
        return md_opt_fail(x, line, path, "%s, got %s", why, md_opt_quote(s, q, sizeof q));
    char *item = strdup(k->choices ? k->choices[ci] : s);
    return md_strlist_push(&l->strs, item) ? md_opt_oom(x) : 0;
}

/* Split on whitespace: a single scalar written where a list is expected, as Datadog does. */
static int opt_split_words(struct md_opt_ctx *x, const struct md_opt *k, const char *s, int line,
                           struct opt_list *l)
{
    size_t idx = 0;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        size_t n = 0;
        while (s[n] && !isspace((unsigned char)s[n]))
            n++;
        if (!n)
            break;
        char *word = strndup(s, n);
        if (!word)
            return md_opt_oom(x);
        int rc = opt_list_item(x, k, word, line, idx++, l);
        free(word);
        if (rc)
            return rc;
        s += n;
    }
    return 0;
}

int md_opt_set_list(struct md_opt_ctx *x, const struct md_opt *k, void *base,
                    const struct md_ynode *n, int line)
{
    struct opt_list l = {0};
    int rc = 0;
    if (n->type == MD_Y_SCALAR) {
        rc = opt_split_words(x, k, n->scalar, line, &l);
    } else if (n->type == MD_Y_SEQ) {
        for (size_t i = 0; i < n->n && !rc; i++) {
            const struct md_ynode *it = n->items[i];
            char path[128];
            snprintf(path, sizeof path, "%s[%zu]", k->name, i);
            if (it->type == MD_Y_NULL)
                rc = md_opt_fail(x, it->line, path, "empty list item");
            else if (it->type != MD_Y_SCALAR)
                rc = md_opt_fail(x, it->line, path, "expected a single value, got %s",
                                 md_opt_node_kind(it));
            else
                rc = opt_list_item(x, k, it->scalar, it->line, i, &l);
        }
    } else if (n->type == MD_Y_MAP && (k->flags & MD_OPT_F_MAP)) {
        for (size_t i = 0; i < n->n && !rc; i++) {
            const struct md_ynode *it = n->items[i];
            int iline = n->key_lines ? n->key_lines[i] : it->line;
            char kv[1024];
            if (it->type != MD_Y_SCALAR) {
                rc = md_opt_fail(x, iline, k->name, "%s: expected a string", n->keys[i]);
                break;
            }
            snprintf(kv, sizeof kv, "%s:%s", n->keys[i], it->scalar);
            rc = opt_list_item(x, k, kv, iline, i, &l);
        }
    } else {
        rc = md_opt_fail(x, line, k->name, "expected a list of %s, got %s",
                         k->type == MD_OPT_NUMLIST ? "numbers" : "strings", md_opt_node_kind(n));
    }
    if (rc) {
        md_strlist_free(&l.strs);
        return rc;
    }
    void *f = (char *)base + k->off;
    if (k->type == MD_OPT_FLAGS) {
        *(unsigned *)f = l.bits;
    } else if (k->type == MD_OPT_NUMLIST) {
        *(struct md_numlist *)f = l.nums;
    } else {
        md_strlist_free(f);
        *(struct md_strlist *)f = l.strs;
    }
    return 0;
}

