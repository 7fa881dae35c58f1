/*
 * netstat.c: the protocol half of the `network` collector: TCP, UDP and IP
 * counters from <proc>/net/snmp and <proc>/net/netstat, and connection
 * counts by state from <proc>/net/{tcp,tcp6,udp,udp6}.
 *
 * Names and derivations are those of the Datadog network check: each
 * counter is submitted as a rate (collect_rate_metrics, on by default) and
 * as a monotonic count named "<metric>.count" (collect_count_metrics, off
 * by default); Tcp CurrEstab is a gauge. The check counts connection
 * states with `ss`; the kernel tables `ss` reads are parsed here instead,
 * so no program is run. With combine_connection_states off, the check
 * adds LAST-ACK sockets into tcpN.time_wait (a typo in its table); here
 * they go to tcpN.last_ack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

/* /proc/net/snmp and netstat field -> metric; the check's table, in its order. */
static const struct {
    const char *group, *field, *metric;
} nstat_names[] = {
    {"Ip", "InReceives", "system.net.ip.in_receives"},
    {"Ip", "InHdrErrors", "system.net.ip.in_header_errors"},
    {"Ip", "InAddrErrors", "system.net.ip.in_addr_errors"},
    {"Ip", "InUnknownProtos", "system.net.ip.in_unknown_protos"},
    {"Ip", "InDiscards", "system.net.ip.in_discards"},
    {"Ip", "InDelivers", "system.net.ip.in_delivers"},
    {"Ip", "OutRequests", "system.net.ip.out_requests"},
    {"Ip", "OutDiscards", "system.net.ip.out_discards"},
    {"Ip", "OutNoRoutes", "system.net.ip.out_no_routes"},
    {"Ip", "ForwDatagrams", "system.net.ip.forwarded_datagrams"},
    {"Ip", "ReasmTimeout", "system.net.ip.reassembly_timeouts"},
    {"Ip", "ReasmReqds", "system.net.ip.reassembly_requests"},
    {"Ip", "ReasmOKs", "system.net.ip.reassembly_oks"},
    {"Ip", "ReasmFails", "system.net.ip.reassembly_fails"},
    {"Ip", "FragOKs", "system.net.ip.fragmentation_oks"},
    {"Ip", "FragFails", "system.net.ip.fragmentation_fails"},
    {"Ip", "FragCreates", "system.net.ip.fragmentation_creates"},
    {"IpExt", "InNoRoutes", "system.net.ip.in_no_routes"},
    {"IpExt", "InTruncatedPkts", "system.net.ip.in_truncated_pkts"},
    {"IpExt", "InCsumErrors", "system.net.ip.in_csum_errors"},
    {"IpExt", "ReasmOverlaps", "system.net.ip.reassembly_overlaps"},
    {"Tcp", "RetransSegs", "system.net.tcp.retrans_segs"},
    {"Tcp", "InSegs", "system.net.tcp.in_segs"},
    {"Tcp", "OutSegs", "system.net.tcp.out_segs"},
    {"Tcp", "ActiveOpens", "system.net.tcp.active_opens"},
    {"Tcp", "PassiveOpens", "system.net.tcp.passive_opens"},
    {"Tcp", "AttemptFails", "system.net.tcp.attempt_fails"},
    {"Tcp", "EstabResets", "system.net.tcp.established_resets"},
    {"Tcp", "InErrs", "system.net.tcp.in_errors"},
    {"Tcp", "OutRsts", "system.net.tcp.out_resets"},
    {"Tcp", "InCsumErrors", "system.net.tcp.in_csum_errors"},
    {"TcpExt", "ListenOverflows", "system.net.tcp.listen_overflows"},
    {"TcpExt", "ListenDrops", "system.net.tcp.listen_drops"},
    {"TcpExt", "TCPBacklogDrop", "system.net.tcp.backlog_drops"},
    {"TcpExt", "TCPRetransFail", "system.net.tcp.failed_retransmits"},
    {"TcpExt", "IPReversePathFilter", "system.net.ip.reverse_path_filter"},
    {"TcpExt", "PruneCalled", "system.net.tcp.prune_called"},
    {"TcpExt", "RcvPruned", "system.net.tcp.prune_rcv_drops"},
    {"TcpExt", "OfoPruned", "system.net.tcp.prune_ofo_called"},
    {"TcpExt", "PAWSActive", "system.net.tcp.paws_connection_drops"},
    {"TcpExt", "PAWSEstab", "system.net.tcp.paws_established_drops"},
    {"TcpExt", "SyncookiesSent", "system.net.tcp.syn_cookies_sent"},
    {"TcpExt", "SyncookiesRecv", "system.net.tcp.syn_cookies_recv"},
    {"TcpExt", "SyncookiesFailed", "system.net.tcp.syn_cookies_failed"},
    {"TcpExt", "TCPAbortOnTimeout", "system.net.tcp.abort_on_timeout"},
    {"TcpExt", "TCPSynRetrans", "system.net.tcp.syn_retrans"},
    {"TcpExt", "TCPFromZeroWindowAdv", "system.net.tcp.from_zero_window"},
    {"TcpExt", "TCPToZeroWindowAdv", "system.net.tcp.to_zero_window"},
    {"TcpExt", "TWRecycled", "system.net.tcp.tw_reused"},
    {"Udp", "InDatagrams", "system.net.udp.in_datagrams"},
    {"Udp", "NoPorts", "system.net.udp.no_ports"},
    {"Udp", "InErrors", "system.net.udp.in_errors"},
    {"Udp", "OutDatagrams", "system.net.udp.out_datagrams"},
    {"Udp", "RcvbufErrors", "system.net.udp.rcv_buf_errors"},
    {"Udp", "SndbufErrors", "system.net.udp.snd_buf_errors"},
    {"Udp", "InCsumErrors", "system.net.udp.in_csum_errors"},
};

const char *md_nstat_metric(const char *group, size_t glen, const char *field, size_t flen,
                            bool *gauge)
{
    *gauge = glen == 3 && strncmp(group, "Tcp", 3) == 0 && flen == 9 &&
             strncmp(field, "CurrEstab", 9) == 0;
    if (*gauge)
        return "system.net.tcp.current_established";
    for (size_t i = 0; i < sizeof nstat_names / sizeof nstat_names[0]; i++)
        if (strlen(nstat_names[i].group) == glen && strncmp(nstat_names[i].group, group, glen) == 0 &&
            strlen(nstat_names[i].field) == flen && strncmp(nstat_names[i].field, field, flen) == 0)
            return nstat_names[i].metric;
    return NULL;
}

static size_t word(const char *p, const char *end, const char **w)
{
    while (p < end && *p == ' ')
        p++;
    *w = p;
    while (p < end && *p != ' ')
        p++;
    return (size_t)(p - *w);
}

/* One "Group: names" line and its "Group: values" line. */
static int nstat_pair(const char *h, const char *he, const char *v, const char *ve,
                      md_nstat_fn fn, void *ud)
{
    const char *hc = memchr(h, ':', (size_t)(he - h)), *vc = memchr(v, ':', (size_t)(ve - v));
    if (!hc || !vc || hc - h != vc - v || strncmp(h, v, (size_t)(hc - h)) != 0)
        return -EINVAL;
    size_t glen = (size_t)(hc - h);
    const char *hp = hc + 1, *vp = vc + 1;
    for (;;) {
        const char *name, *val;
        size_t nl = word(hp, he, &name), vl = word(vp, ve, &val);
        if (nl == 0 || vl == 0)
            return nl == vl ? 0 : -EINVAL;
        hp = name + nl;
        vp = val + vl;
        char *end;
        long long x = strtoll(val, &end, 10);
        if (end != val + vl)
            return -EINVAL;
        /* Negative values are limits (Tcp MaxConn -1), never counters. */
        if (x >= 0)
            fn(ud, h, glen, name, nl, (uint64_t)x);
    }
}

int md_net_parse_nstat(const char *text, md_nstat_fn fn, void *ud)
{
    int pairs = 0;
    const char *p = text;
    while (p && *p) {
        const char *he = strchr(p, '\n');
        if (!he)
            return -EINVAL;
        const char *v = he + 1, *ve = strchr(v, '\n');
        if (!ve)
            ve = v + strlen(v);
        if (nstat_pair(p, he, v, ve, fn, ud) < 0)
            return -EINVAL;
        pairs++;
        p = *ve ? ve + 1 : NULL;
    }
    return pairs;
}

int md_net_count_conns(const char *text, uint64_t counts[MD_TCP_NSTATES])
{
    memset(counts, 0, sizeof(uint64_t) * MD_TCP_NSTATES);
    const char *line = strchr(text, '\n'); /* the header */
    if (!line)
        return -EINVAL;
    int n = 0;
    for (line++; *line;) {
        const char *nl = strchr(line, '\n');
        /* "  sl: local rem st ...": the state is the 4th column, in hex */
        const char *p = line;
        for (int col = 0; col < 3; col++) {
            while (*p == ' ')
                p++;
            while (*p && *p != ' ' && *p != '\n')
                p++;
        }
        char *end;
        unsigned long st = strtoul(p, &end, 16);
        if (end == p)
            return -EINVAL;
        counts[st < MD_TCP_NSTATES ? st : 0]++;
        n++;
        if (!nl)
            break;
        line = nl + 1;
    }
    return n;
}

/*
 * Kernel TCP state (include/net/tcp_states.h) -> the check's metric
 * suffix, combined ("closing") or not ("fin_wait_1"); NULL: not counted.
 * TCP_CLOSE is what ss prints as UNCONN; NEW_SYN_RECV as SYN-RECV.
 */
const char *md_tcp_state_name(unsigned st, bool combine)
{
    static const char *const combined[MD_TCP_NSTATES] = {
        NULL, "established", "opening", "opening", "closing", "closing", "time_wait",
        "closing", "closing", "closing", "listening", "closing", "opening"};
    static const char *const granular[MD_TCP_NSTATES] = {
        NULL, "estab", "syn_sent", "syn_recv", "fin_wait_1", "fin_wait_2", "time_wait",
        "unconn", "close_wait", "last_ack", "listen", "closing", "syn_recv"};
    return st < MD_TCP_NSTATES ? (combine ? combined : granular)[st] : NULL;
}
