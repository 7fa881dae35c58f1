/*
 * config_int.h: what the files of agent/config/ share about the main
 * configuration: the agent's key table, the mapper profiles' hooks, and
 * the sections (the agent's keys, then each sink's) that loading, dumping
 * and the template walk alike.
 */
#ifndef METERD_CONFIG_INT_H
#define METERD_CONFIG_INT_H

#include "meterd/config.h"
#include "meterd/sink.h"
#include "opt.h"

extern const struct md_opt md_config_keys[];
extern const struct md_opt_special md_config_mapper_special;

/* One key table and the struct its rows write into. */
struct md_config_section {
    const struct md_opt *keys;
    void *base;
};

/*
 * The sections of c: the agent's keys first, then one per sink kind that
 * has keys and whose struct is allocated. Returns how many were written.
 */
size_t md_config_sections(const struct md_config *c, struct md_config_section *out, size_t max);
#define MD_CONFIG_MAX_SECTIONS (1 + MD_CONFIG_MAX_SINK_KINDS)

#endif
