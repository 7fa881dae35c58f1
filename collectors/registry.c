/*
 * registry.c: the list of every collector. Adding a collector is one file
 * plus one line in each list below.
 */
#include <string.h>

#include "meterd/collector.h"

extern const struct md_collector_ops md_collector_cpu, md_collector_memory, md_collector_load,
    md_collector_disk, md_collector_io, md_collector_network, md_collector_uptime,
    md_collector_file_handle, md_collector_processes, md_collector_self, md_collector_container,
    md_collector_docker;

const struct md_collector_ops *const md_collectors[] = {
    &md_collector_cpu,
    &md_collector_memory,
    &md_collector_load,
    &md_collector_disk,
    &md_collector_io,
    &md_collector_network,
    &md_collector_uptime,
    &md_collector_file_handle,
    &md_collector_processes,
    &md_collector_self,
    &md_collector_container,
    &md_collector_docker,
    NULL,
};

const struct md_collector_ops *md_collector_lookup(const char *name)
{
    for (size_t i = 0; md_collectors[i]; i++)
        if (strcmp(md_collectors[i]->name, name) == 0)
            return md_collectors[i];
    return NULL;
}
