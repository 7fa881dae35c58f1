/*
 * sink_registry.c: the table of sink formats by name (see sink.h).
 *
 * Adding a backend format is one file in sinks/ and one line here, so the
 * flusher never needs to know which formats exist.
 */
#include <stddef.h>
#include <string.h>

#include "meterd/sink.h"

extern const struct md_sink_ops md_sink_datadog;
extern const struct md_sink_ops md_sink_console;
extern const struct md_sink_ops md_sink_prometheus_rw;

static const struct md_sink_ops *const sink_table[] = {
    &md_sink_datadog,
    &md_sink_console,
    &md_sink_prometheus_rw,
};

const struct md_sink_ops *md_sink_lookup(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof sink_table / sizeof sink_table[0]; i++)
        if (strcmp(sink_table[i]->name, name) == 0)
            return sink_table[i];
    return NULL;
}

const struct md_sink_ops *md_sink_at(size_t i)
{
    return i < sizeof sink_table / sizeof sink_table[0] ? sink_table[i] : NULL;
}
