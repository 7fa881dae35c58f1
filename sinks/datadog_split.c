/*
 * datadog_split.c: the Datadog sink's answer to a 413, cutting a body it
 * encoded in two (sink.h, split). The forwarder hands over the body alone
 * (it may come from the spool of an earlier run), so the kind is told by
 * its first bytes: the JSON kinds start with '{' or '[', and a protobuf
 * MetricPayload or SketchPayload starts with field 1 (0x0a), which no JSON
 * document does. Every kind is one list of items and is cut between two of
 * them; the host metadata document is one item and cannot be cut.
 */
#include <errno.h>
#include <string.h>

#include "datadog_int.h"
#include "json_split.h"
#include "pb_wire.h"

int md_dd_split(const char *body, size_t len, size_t nitems, struct md_buf *a, size_t *na,
                struct md_buf *b, size_t *nb)
{
    static const char series[] = "{\"series\":[", events[] = "{\"apiKey\":";
    if (nitems < 2 || len == 0)
        return -EINVAL;
    if (len > sizeof series && memcmp(body, series, sizeof series - 1) == 0)
        return md_json_split_array(body, len, a, na, b, nb);
    if (body[0] == '[') /* service checks */
        return md_json_split_array(body, len, a, na, b, nb);
    if (len > sizeof events && memcmp(body, events, sizeof events - 1) == 0)
        return md_json_split_events(body, len, a, na, b, nb);
    if (body[0] == '{')
        return -EINVAL; /* the host metadata document */
    /* MetricPayload.series and SketchPayload.sketches are both field 1;
     * a sketch payload's metadata (field 2) goes to both halves. */
    return md_pb_split(body, len, 1, a, na, b, nb);
}
