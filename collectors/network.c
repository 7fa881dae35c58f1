/*
 * network.c: the `network` collector (system.net.*), from /proc/net/dev.
 *
 * /proc/net is per network namespace. With the default root the agent sees
 * its own namespace (the host's when it runs on the host or with host
 * networking); with another root (/host/proc in a container) it reads
 * <proc>/1/net/dev, the namespace of the host's PID 1, as the Datadog
 * agent does. Counters go out raw as rates; the runner divides by time.
 * The protocol counters and connection states (netstat.c) come from the
 * same namespace's net/snmp, net/netstat and net/{tcp,udp}{,6}.
 * excluded_interfaces are whole names and excluded_interface_re matches
 * from the start of the name, as Python's re.match in the Datadog check
 * does; both are one exclude filter (devfilter.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devfilter.h"
#include "host.h"
#include "meterd/collector.h"
#include "procfs.h"

enum { K_EXCLUDED, K_EXCLUDED_RE, K_CX_STATE, K_COMBINE, K_RATES, K_COUNTS };

static const struct md_key_decl net_keys[] = {
    {"excluded_interfaces", MD_KEY_STRLIST, "", 0, 0, "interface names to skip"},
    {"excluded_interface_re", MD_KEY_REGEX, "", 0, 0, "regex of interface names to skip, from the start"},
    {"collect_connection_state", MD_KEY_BOOL, "false", 0, 0, "count TCP and UDP sockets by state"},
    {"combine_connection_states", MD_KEY_BOOL, "true", 0, 0, "fold TCP states into 5 (closing, opening ...)"},
    {"collect_rate_metrics", MD_KEY_BOOL, "true", 0, 0, "protocol counters as per-second rates"},
    {"collect_count_metrics", MD_KEY_BOOL, "false", 0, 0, "protocol counters as counts named <metric>.count"},
    {"collect_connection_queues", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"collect_ethtool_stats", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"collect_ethtool_metrics", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"collect_aws_ena_metrics", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"conntrack_path", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"use_sudo_conntrack", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"whitelist_conntrack_metrics", MD_KEY_IGNORED, "", 0, 0, NULL},
    {"blacklist_conntrack_metrics", MD_KEY_IGNORED, "", 0, 0, NULL},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const struct md_devfilter_rule net_rules[] = {
    {K_EXCLUDED, 0, false, MD_DEVFILTER_LITERAL | MD_DEVFILTER_WHOLE},
    {K_EXCLUDED_RE, 0, false, 0},
};

struct net_state {
    struct md_procfs_src src; /* first: md_procfs_src_destroy frees the whole state */
    const char *base; /* "" or "1/": whose network namespace */
    struct md_devfilter filter;
    bool cx_state, combine, rates, counts;
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

static void net_emit(void *ud, const struct md_netdev *d)
{
    struct net_state *s = ud;
    /* Interfaces that never moved a byte are noise (the agent skips them too). */
    if ((d->rx_bytes == 0 && d->tx_bytes == 0) || !md_devfilter_keep(&s->filter, d->name))
        return;
    /* device_name as well, as the agent's Go network check sends: a Datadog
     * intake moves device: into its own field, which not every backend keeps. */
    char tag[48], tag2[48];
    snprintf(tag, sizeof tag, "device:%s", d->name);
    snprintf(tag2, sizeof tag2, "device_name:%s", d->name);
    const char *tags[] = {tag, tag2};
    struct md_emitter *e = s->e;
    md_rate(e, "system.net.bytes_rcvd", (double)d->rx_bytes, tags, 2);
    md_rate(e, "system.net.bytes_sent", (double)d->tx_bytes, tags, 2);
    md_rate(e, "system.net.packets_in.count", (double)d->rx_packets, tags, 2);
    md_rate(e, "system.net.packets_out.count", (double)d->tx_packets, tags, 2);
    /* Datadog's error counts include drops; the drop series are also separate. */
    md_rate(e, "system.net.packets_in.error", (double)(d->rx_errs + d->rx_drop), tags, 2);
    md_rate(e, "system.net.packets_out.error", (double)(d->tx_errs + d->tx_drop), tags, 2);
    md_rate(e, "system.net.packets_in.drop", (double)d->rx_drop, tags, 2);
    md_rate(e, "system.net.packets_out.drop", (double)d->tx_drop, tags, 2);
}

static void net_destroy(void *state)
{
    struct net_state *s = state;
    if (!s)
        return;
    md_devfilter_free(&s->filter);
    md_procfs_src_destroy(s);
}

static int net_configure(const struct md_instance_conf *conf, void **state, char *err, size_t errlen)
{
    struct net_state *s = md_procfs_src_new(conf, sizeof *s, err, errlen);
    if (!s)
        return -ENOMEM;
    s->base = strcmp(s->src.proc, "/proc") == 0 ? "" : "1/";
    s->cx_state = conf->values[K_CX_STATE].b;
    s->combine = conf->values[K_COMBINE].b;
    s->rates = conf->values[K_RATES].b;
    s->counts = conf->values[K_COUNTS].b;
    int rc = md_devfilter_load(&s->filter, net_rules, sizeof net_rules / sizeof net_rules[0],
                               net_keys, conf->values, err, errlen);
    if (rc < 0) {
        net_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* <proc>/[1/]net/<name>; a root without PID 1 (a fixture tree): the root's own namespace. */
static int net_read(struct net_state *s, const char *name)
{
    char rel[64];
    snprintf(rel, sizeof rel, "%snet/%s", s->base, name);
    int rc = md_procfs_read(&s->src.fb, s->src.proc, rel);
    if (rc == -ENOENT && *s->base && strcmp(name, "dev") == 0) {
        s->base = "";
        return net_read(s, name);
    }
    return rc;
}

static void net_nstat(void *ud, const char *group, size_t glen, const char *field, size_t flen,
                      uint64_t value)
{
    struct net_state *s = ud;
    bool gauge;
    const char *m = md_nstat_metric(group, glen, field, flen, &gauge);
    if (!m)
        return;
    if (gauge) {
        md_gauge(s->e, m, (double)value, NULL, 0);
        return;
    }
    if (s->rates)
        md_rate(s->e, m, (double)value, NULL, 0);
    if (s->counts) {
        char name[96];
        snprintf(name, sizeof name, "%s.count", m);
        md_monotonic(s->e, name, (double)value, NULL, 0);
    }
}

/* Every state the check reports is sent, zeros included, so dashboards see 0 rather than a gap. */
static void net_cx_states(struct net_state *s, const char *proto, const uint64_t *counts)
{
    static const char *const names_comb[] = {"established", "opening", "closing", "listening",
                                             "time_wait", NULL};
    static const char *const names_gran[] = {"estab", "syn_sent", "syn_recv", "fin_wait_1",
                                             "fin_wait_2", "time_wait", "unconn", "close_wait",
                                             "last_ack", "listen", "closing", NULL};
    for (const char *const *n = s->combine ? names_comb : names_gran; *n; n++) {
        uint64_t v = 0;
        for (unsigned st = 1; st < MD_TCP_NSTATES; st++) {
            const char *sn = md_tcp_state_name(st, s->combine);
            if (sn && strcmp(sn, *n) == 0)
                v += counts[st];
        }
        char name[64];
        snprintf(name, sizeof name, "system.net.%s.%s", proto, *n);
        md_gauge(s->e, name, (double)v, NULL, 0);
    }
}

static void net_connections(struct net_state *s)
{
    static const char *const files[] = {"tcp", "tcp6", "udp", "udp6"};
    for (size_t i = 0; i < 4; i++) {
        uint64_t counts[MD_TCP_NSTATES];
        /* A kernel without IPv6 has no tcp6/udp6: those series are simply absent. */
        if (net_read(s, files[i]) < 0)
            continue;
        int n = md_net_count_conns(s->src.fb.p, counts);
        if (n < 0)
            continue;
        char proto[8];
        snprintf(proto, sizeof proto, "%s%s", i < 2 ? "tcp" : "udp", i % 2 ? "6" : "4");
        if (i < 2) {
            net_cx_states(s, proto, counts);
        } else {
            char name[64];
            snprintf(name, sizeof name, "system.net.%s.connections", proto);
            md_gauge(s->e, name, (double)n, NULL, 0);
        }
    }
}

static int net_collect(void *state, struct md_emitter *e)
{
    struct net_state *s = state;
    int rc = net_read(s, "dev");
    if (rc < 0)
        return rc;
    s->e = e;
    rc = md_net_parse_dev(s->src.fb.p, net_emit, s);
    /*
     * A proc without snmp or netstat (a restricted container, a fixture tree)
     * has no protocol counters; text that is there and does not parse fails the run.
     */
    if (rc >= 0 && net_read(s, "snmp") >= 0)
        rc = md_net_parse_nstat(s->src.fb.p, net_nstat, s);
    if (rc >= 0 && net_read(s, "netstat") >= 0)
        rc = md_net_parse_nstat(s->src.fb.p, net_nstat, s);
    if (rc >= 0 && s->cx_state)
        net_connections(s);
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
