/*
 * sketch_pb.h: a frame's distributions as the agent-payload SketchPayload
 * protobuf, the body of POST /api/beta/sketches.
 *
 * Field numbers and types follow DataDog/agent-payload
 * proto/metrics/agent_payload.proto (package datadog.agentpayload):
 *   SketchPayload { repeated Sketch sketches = 1; CommonMetadata metadata = 2; }
 *   Sketch { string metric = 1; string host = 2; repeated string tags = 4;
 *            repeated Dogsketch dogsketches = 7; }
 *   Dogsketch { int64 ts = 1; int64 cnt = 2; double min = 3; double max = 4;
 *               double avg = 5; double sum = 6; repeated sint32 k = 7;
 *               repeated uint32 n = 8; }          (k and n packed, proto3)
 * The encoder is hand-written (varints into a struct md_buf) so meterd needs
 * no protobuf runtime; each frame sketch becomes one Sketch with one Dogsketch.
 */
#ifndef METERD_SKETCH_PB_H
#define METERD_SKETCH_PB_H

#include <stddef.h>

#include "buf.h"
#include "meterd/frame.h"

/*
 * Append one SketchPayload holding f->sketches[first .. first + max_items)
 * (clipped to nsketches) to `out`; *encoded gets how many were written, so a
 * sink can call again from first + *encoded for the next payload.
 * Returns 0, -EINVAL (first past the end, max_items 0) or -ENOMEM (out is
 * left as it was).
 */
int md_sketch_pb_encode(const struct md_frame *f, size_t first, size_t max_items,
                        struct md_buf *out, size_t *encoded);

/* Bytes one frame sketch adds to a payload (its Sketch plus its field tag),
 * for splitting by size before encoding. */
size_t md_sketch_pb_item_size(const struct md_sketch_series *s);

/* Bytes of a payload's fixed part (the empty metadata). */
#define MD_SKETCH_PB_OVERHEAD 2

#endif
