/*
 * secrets.h: ENC[handle] values resolved by a secret backend command, with
 * the Datadog agent's protocol, so a datadog.yaml that keeps its API key
 * (or a proxy password) in a vault works unchanged.
 */
#ifndef METERD_SECRETS_H
#define METERD_SECRETS_H

#include "meterd/config.h"
#include "opt.h"
#include "yaml_tree.h"

struct md_secret_backend {
    const char *command; /* "" or NULL: ENC[...] is an error naming the key */
    const struct md_strlist *args;
    int timeout_s;
    int max_size;
};

/* Is text an ENC[handle] value? */
bool md_secret_is_enc(const char *text);

/*
 * Replace every ENC[handle] scalar of the tree in place with its secret,
 * asking the command once for all handles. Errors name FILE:LINE: KEY and
 * the handle, never a secret. Resolved values are added to x->secrets.
 */
int md_secret_resolve_tree(struct md_opt_ctx *x, const struct md_secret_backend *b,
                           struct md_ynode *root);

/* One ENC[handle] text (an environment value) for key; *out is malloc'd. */
int md_secret_resolve_text(struct md_opt_ctx *x, const struct md_secret_backend *b,
                           const char *key, const char *text, char **out);

#endif
