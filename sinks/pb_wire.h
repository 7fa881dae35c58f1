/*
 * pb_wire.h: the few protobuf wire pieces the hand-written encoders share
 * (Datadog's MetricPayload, Prometheus' WriteRequest), and the one cut
 * every repeated-message payload allows: a 413 split along a top-level
 * repeated field, done on the bytes alone so it also works on a payload
 * read back from the spool by a later run.
 */
#ifndef METERD_PB_WIRE_H
#define METERD_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum { MD_PB_VARINT = 0, MD_PB_FIXED64 = 1, MD_PB_LEN = 2, MD_PB_FIXED32 = 5 };

void md_pb_varint(struct md_buf *b, uint64_t v);
/* Length of v as a varint. */
size_t md_pb_varint_len(uint64_t v);
void md_pb_tag(struct md_buf *b, unsigned field, unsigned wire);
/* A length-delimited field: tag, length, the n bytes. */
void md_pb_bytes(struct md_buf *b, unsigned field, const void *p, size_t n);
/* A double (fixed64, little-endian) / an int64 as a varint (two's complement for negatives). */
void md_pb_double(struct md_buf *b, unsigned field, double v);
void md_pb_int64(struct md_buf *b, unsigned field, int64_t v);

/* Append s (NULL = "") as valid UTF-8, each invalid byte as U+FFFD; returns those replaced. */
size_t md_pb_utf8(struct md_buf *b, const char *s);

/*
 * s then t (either may be NULL) as one string field, written as valid
 * UTF-8: each byte that does not start a valid sequence becomes U+FFFD,
 * exactly as md_json_str does for the JSON payloads (proto3 parsers refuse
 * a whole message holding a string that is not UTF-8). `tmp` is scratch
 * space. Returns the bytes replaced.
 */
size_t md_pb_string(struct md_buf *b, struct md_buf *tmp, unsigned field, const char *s,
                    const char *t);

/*
 * Cut the message `body` in two along its top-level repeated field
 * `field` (length-delimited): a gets the first half of those fields, b the
 * rest; every other top-level field (a payload's metadata) goes to both,
 * in place. *na and *nb get the counts. Returns -EINVAL when the body does
 * not parse to its end or holds fewer than two such fields, -ENOMEM.
 */
int md_pb_split(const char *body, size_t len, unsigned field, struct md_buf *a, size_t *na,
                struct md_buf *b, size_t *nb);

#endif
