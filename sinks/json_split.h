/*
 * json_split.h: cut a JSON document of items in two (one array, or the
 * Datadog events envelope), for sinks whose payloads the backend answered
 * 413 to.
 */
#ifndef METERD_JSON_SPLIT_H
#define METERD_JSON_SPLIT_H

#include <stddef.h>

#include "buf.h"

/*
 * body is `<prefix>[item,item,...]<suffix>` where the array starts at the
 * first '[' and the prefix holds no string with a '['. Writes the prefix,
 * the first half of the items and the suffix to a, the same with the
 * second half to b, and the item counts to *na, *nb. Returns -EINVAL for
 * fewer than two items or a body that is not such a document.
 */
int md_json_split_array(const char *body, size_t len, struct md_buf *a, size_t *na,
                        struct md_buf *b, size_t *nb);

/*
 * The Datadog events envelope, {...,"events":{"group":[item,...],...},...}:
 * the first half of all items (in order, across groups) to a and the rest
 * to b, each inside the same envelope, the groups kept. -EINVAL for fewer
 * than two items or a body that is not such an envelope.
 */
int md_json_split_events(const char *body, size_t len, struct md_buf *a, size_t *na,
                         struct md_buf *b, size_t *nb);

#endif
