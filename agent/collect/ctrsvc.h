/*
 * ctrsvc.h: the container services of one daemon (or one `meterd check`):
 * the shared container table, and the metadata clients that feed it on
 * the loop (Docker Engine API, ECS task metadata). Built from the main
 * configuration; collectors and origin detection get the table from it.
 */
#ifndef METERD_CTRSVC_H
#define METERD_CTRSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "meterd/config.h"

struct md_ctrsvc;
struct md_containers;

/* NULL with "KEY[i]: reason" in err on a bad filter. */
struct md_ctrsvc *md_ctrsvc_new(uv_loop_t *loop, const struct md_config *cfg, char *err, size_t errlen);
struct md_containers *md_ctrsvc_containers(struct md_ctrsvc *s);
/* Start the metadata clients (after md_ctrsvc_new, once the loop runs or is about to). */
void md_ctrsvc_start(struct md_ctrsvc *s);
/* Run the loop until the first answers are in or timeout_ms passed (`meterd check`). */
void md_ctrsvc_wait_synced(struct md_ctrsvc *s, uv_loop_t *loop, unsigned timeout_ms);
/* Stop the clients (the table stays readable); the loop must run afterwards to release handles. */
void md_ctrsvc_stop(struct md_ctrsvc *s);
/* Stop if not yet, and free the table: only once no collector run can use it. */
void md_ctrsvc_free(struct md_ctrsvc *s);

#endif
