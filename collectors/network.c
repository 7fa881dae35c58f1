/*
 * network.c: the `network` collector (system.net.*), from /proc/net/dev.
 *
 * /proc/net is per network namespace. With the default root the agent sees
 * its own namespace (the host's when it runs on the host or with host
 * networking); with another root (/host/proc in a container) it reads
 * <proc>/1/net/dev, the namespace of the host's PID 1, as the Datadog
 * agent does. Counters go out raw as rates; the runner divides by time.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum { K_EXCLUDED, K_EXCLUDED_RE };

static const struct md_key_decl net_keys[] = {
    {"excluded_interfaces", MD_KEY_STRLIST, "", 0, 0, "interface names to skip"},
    {"excluded_interface_re", MD_KEY_REGEX, "", 0, 0, "POSIX extended regex of interface names to skip"},
    {NULL, 0, NULL, 0, 0, NULL},
};

struct net_state {
    char *proc;
    const char *rel;
    struct md_fbuf fb;
    const char *const *excluded;
    size_t nexcluded;
    regex_t re;
    bool has_re;
    struct md_emitter *e; /* during one collect */
};

int md_net_parse_dev(const char *text, void (*fn)(void *ud, const struct md_netdev *d), void *ud)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        const char *colon = strchr(line, ':');
        /* The two header lines have '|' and no ':' before the end of line. */
        if (colon && (!nl || colon < nl)) {
            struct md_netdev d;
            memset(&d, 0, sizeof d);
            const char *b = line;
            while (*b == ' ')
                b++;
            size_t len = (size_t)(colon - b);
            if (len == 0 || len >= sizeof d.name)
                return -EINVAL;
            memcpy(d.name, b, len);
            uint64_t skip;
            const char *p = colon + 1;
            uint64_t *f[16] = {&d.rx_bytes, &d.rx_packets, &d.rx_errs, &d.rx_drop, &skip, &skip, &skip,
                               &skip, &d.tx_bytes, &d.tx_packets, &d.tx_errs, &d.tx_drop, &skip,
                               &skip, &skip, &skip};
            for (size_t i = 0; i < 16; i++)
                if (md_procfs_u64(&p, f[i]) < 0)
                    return -EINVAL;
            fn(ud, &d);
            n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

static bool net_excluded(struct net_state *s, const char *name)
{
    for (size_t i = 0; i < s->nexcluded; i++)
        if (strcmp(s->excluded[i], name) == 0)
            return true;
    return s->has_re && regexec(&s->re, name, 0, NULL, 0) == 0;
}

static void net_emit(void *ud, const struct md_netdev *d)
{
    struct net_state *s = ud;
    /* Interfaces that never moved a byte are noise (the agent skips them too). */
    if ((d->rx_bytes == 0 && d->tx_bytes == 0) || net_excluded(s, d->name))
        return;
    char tag[48];
    snprintf(tag, sizeof tag, "device:%s", d->name);
    const char *tags[] = {tag};
    struct md_emitter *e = s->e;
    md_rate(e, "system.net.bytes_rcvd", (double)d->rx_bytes, tags, 1);
    md_rate(e, "system.net.bytes_sent", (double)d->tx_bytes, tags, 1);
    md_rate(e, "system.net.packets_in.count", (double)d->rx_packets, tags, 1);
    md_rate(e, "system.net.packets_out.count", (double)d->tx_packets, tags, 1);
    /* Datadog's error counts include drops; the drop series are also separate. */
    md_rate(e, "system.net.packets_in.error", (double)(d->rx_errs + d->rx_drop), tags, 1);
    md_rate(e, "system.net.packets_out.error", (double)(d->tx_errs + d->tx_drop), tags, 1);
    md_rate(e, "system.net.packets_in.drop", (double)d->rx_drop, tags, 1);
    md_rate(e, "system.net.packets_out.drop", (double)d->tx_drop, tags, 1);
}

static void net_destroy(void *state)
{
    struct net_state *s = state;
    if (!s)
        return;
    if (s->has_re)
        regfree(&s->re);
    md_procfs_free(&s->fb);
    free(s->proc);
    free(s);
}

static int net_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct net_state *s = calloc(1, sizeof *s);
    if (!s || !(s->proc = md_procfs_dup_root(conf->procfs_path, "/proc"))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->rel = strcmp(s->proc, "/proc") == 0 ? "net/dev" : "1/net/dev";
    s->excluded = conf->values[K_EXCLUDED].list.v;
    s->nexcluded = conf->values[K_EXCLUDED].list.n;
    const char *re = conf->values[K_EXCLUDED_RE].s;
    if (re && *re) {
        if (regcomp(&s->re, re, REG_EXTENDED | REG_NOSUB) != 0) {
            snprintf(err, errlen, "excluded_interface_re: invalid regular expression");
            net_destroy(s);
            return -EINVAL;
        }
        s->has_re = true;
    }
    *state = s;
    return 0;
}

static int net_collect(void *state, struct md_emitter *e)
{
    struct net_state *s = state;
    int rc = md_procfs_read(&s->fb, s->proc, s->rel);
    /* A root without PID 1 (a fixture tree, a proc mounted without pid access): own namespace. */
    if (rc == -ENOENT && strcmp(s->rel, "net/dev") != 0) {
        s->rel = "net/dev";
        rc = md_procfs_read(&s->fb, s->proc, s->rel);
    }
    if (rc < 0)
        return rc;
    s->e = e;
    rc = md_net_parse_dev(s->fb.p, net_emit, s);
    s->e = NULL;
    return rc < 0 ? rc : 0;
}

const struct md_collector_ops md_collector_network = {
    .name = "network",
    .default_on = true,
    .default_interval = 15,
    .needs_two_runs = true,
    .keys = net_keys,
    .configure = net_configure,
    .collect = net_collect,
    .destroy = net_destroy,
};
