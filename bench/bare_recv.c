/*
 * bare_recv: the do-nothing UDP receiver that sets the floor in bench/run.sh.
 *
 * It exists to answer "how much of meterd's cost is just getting datagrams
 * out of the kernel?". It does the least a statsd server must do: one
 * SO_REUSEPORT socket with a large receive buffer, recvmmsg() of up to 64
 * datagrams of 8 KiB (dogstatsd_buffer_size) per call, and a count of
 * datagrams, bytes and lines (newlines + 1, a trailing newline not counted
 * twice). No parsing, no aggregation. A blocked reader is woken for
 * every datagram (or every client burst), and at one metric per datagram
 * that wake-up is most of the cost; asking recvmmsg for a full batch does
 * not help, since the kernel then wakes the reader for each datagram of
 * the batch. With --coalesce it takes fewer wake-ups the way meterd's
 * intake does (see br_nap): when a read returned less than a full batch
 * and datagrams keep coming, it sleeps a bounded short time and then reads
 * without waiting, so one wake-up collects tens of datagrams; a read that
 * finds nothing makes it block again. That is the floor for a receiver
 * that coalesces in user space, which meterd's figure at 1 metric per
 * datagram is compared with. It stops by itself after --idle-exit seconds
 * without traffic (once something arrived), at the --duration cap (hard
 * limit 600 s) or on SIGTERM/SIGINT, and prints one JSON line with the
 * counts and its own CPU time (getrusage: user + sys).
 *
 * Readiness: once bound it writes "ready port=N" on stderr and, with
 * --ready-file, creates that file holding the port, so a script can wait
 * on it instead of sleeping. Standalone on purpose (no meterd sources).
 */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BR_VLEN 64
#define BR_BUFSZ 8192
#define BR_HARD_MAX_S 600.0
#define BR_POLL_MS 100
/* Coalescing, the same rule and constants as meterd's intake loop
 * (agent/pipeline/pipeline_threads.c, nap_after): copied, not shared, so
 * that this tool builds without meterd's sources. */
#define BR_NAP_MIN_NS 50000L
#define BR_NAP_MAX_NS 1000000L
#define BR_NAP_TARGET 32.0  /* datagrams one nap should collect */
#define BR_NAP_WORTH 2.0    /* fewer than this per longest nap: just block */
#define BR_SKB_COST 1024.0  /* receive-buffer bytes a datagram costs beyond its payload */
#define BR_NAP_BACKOFF_MAX 64u

struct br_opts {
    const char *host;
    int port;
    int cpu;
    int rcvbuf;
    double idle_exit;
    double duration;
    const char *ready_file;
    bool coalesce;
};

struct br_counts {
    uint64_t datagrams;
    uint64_t metrics;
    uint64_t bytes;
};

static volatile sig_atomic_t br_stop;

static void br_on_signal(int sig)
{
    (void)sig;
    br_stop = 1;
}

static double br_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t br_lines(const char *p, size_t len)
{
    if (len == 0)
        return 0;
    uint64_t n = 1;
    const char *end = p + len;
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
        n++;
    return p[len - 1] == '\n' ? n - 1 : n;
}

/* Binds and sizes the socket; the 100 ms receive timeout lets the loop notice caps. */
static int br_open(const struct br_opts *o, int *port_out)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    struct timeval tv = {.tv_sec = 0, .tv_usec = BR_POLL_MS * 1000};
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (o->rcvbuf > 0) { /* as meterd asks: past rmem_max when allowed (CAP_NET_ADMIN) */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &o->rcvbuf, sizeof(o->rcvbuf));
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    socklen_t alen = sizeof(a);
    if (inet_pton(AF_INET, o->host, &a.sin_addr) != 1) {
        close(fd);
        return -EINVAL;
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *port_out = ntohs(a.sin_port);
    return fd;
}

static int br_announce(const struct br_opts *o, int fd, int port)
{
    int got = 0;
    socklen_t gl = sizeof(got);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
    fprintf(stderr, "ready port=%d rcvbuf=%d\n", port, got);
    if (!o->ready_file)
        return 0;
    /* Write then rename, so a watcher never sees a half-written file. */
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", o->ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, o->ready_file) != 0)
        return -errno;
    return 0;
}

struct br_napper {
    double rcvbuf;
    long ns;          /* the nap before the next read; 0 = block in it */
    unsigned backoff; /* reads to skip after the next nap that does not pay */
    unsigned skip;    /* reads left before a nap may be tried again */
};

/*
 * The nap before the next read, after one that took n datagrams (bytes of
 * payload) arriving over dt seconds; blocked: that read waited for them;
 * napped: a nap came before it. A nap aims at BR_NAP_TARGET datagrams at
 * that rate, never longer than BR_NAP_MAX_NS, and never long enough to
 * fill a quarter of the receive buffer; a rate too low to gather
 * BR_NAP_WORTH in the longest nap is left to blocking reads, and so is a
 * read that waited longer than the longest nap (bursts further apart than
 * a nap: the kernel hands a burst over per wake-up anyway). A nap that
 * gathered fewer than BR_NAP_WORTH makes the next 2, 4, ... 64 reads skip
 * napping; one that paid resets that.
 */
static void br_nap(struct br_napper *z, int n, double bytes, double dt, bool blocked, bool napped)
{
    z->ns = 0;
    if (napped && n >= BR_NAP_WORTH) {
        z->backoff = 0;
    } else if (napped) {
        z->backoff = z->backoff ? z->backoff * 2 : 2;
        if (z->backoff > BR_NAP_BACKOFF_MAX)
            z->backoff = BR_NAP_BACKOFF_MAX;
        z->skip = z->backoff;
    }
    if (n <= 0 || n >= BR_VLEN || dt <= 0 || (blocked && dt * 1e9 > BR_NAP_MAX_NS))
        return;
    if (z->skip) {
        z->skip--;
        return;
    }
    double rate = n / dt;
    if (rate * (BR_NAP_MAX_NS / 1e9) < BR_NAP_WORTH)
        return;
    double nap = BR_NAP_TARGET / rate;
    double room = z->rcvbuf / 4 / ((bytes + n * BR_SKB_COST) / dt);
    if (room < nap)
        nap = room;
    if (nap * 1e9 >= BR_NAP_MIN_NS)
        z->ns = nap * 1e9 > BR_NAP_MAX_NS ? BR_NAP_MAX_NS : (long)(nap * 1e9);
}

static void br_loop(const struct br_opts *o, int fd, struct br_counts *c)
{
    static char bufs[BR_VLEN][BR_BUFSZ];
    struct mmsghdr msgs[BR_VLEN];
    struct iovec iov[BR_VLEN];
    for (int i = 0; i < BR_VLEN; i++) {
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = BR_BUFSZ};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    double cap = o->duration > 0 && o->duration < BR_HARD_MAX_S ? o->duration : BR_HARD_MAX_S;
    double start = br_now(), last = 0, prev = start;
    int rcvbuf = 0;
    socklen_t rl = sizeof rcvbuf;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rl);
    struct br_napper z = {.rcvbuf = rcvbuf};
    while (!br_stop) {
        bool napped = z.ns != 0;
        if (napped) {
            struct timespec ts = {0, z.ns};
            nanosleep(&ts, NULL);
        }
        int flags = napped ? MSG_DONTWAIT : MSG_WAITFORONE;
        int r = recvmmsg(fd, msgs, BR_VLEN, flags, NULL);
        double now = br_now();
        double bytes = 0;
        if (r > 0) {
            last = now;
            for (int i = 0; i < r; i++) {
                c->datagrams++;
                c->bytes += msgs[i].msg_len;
                bytes += msgs[i].msg_len;
                c->metrics += br_lines(bufs[i], msgs[i].msg_len);
            }
        }
        if (o->coalesce)
            br_nap(&z, r, bytes, now - prev, !napped, napped);
        prev = now;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            fprintf(stderr, "bare_recv: recvmmsg: %s\n", strerror(errno));
            break;
        }
        if (now - start >= cap)
            break;
        if (o->idle_exit > 0 && last > 0 && now - last >= o->idle_exit)
            break;
    }
}

static int br_parse_args(int argc, char **argv, struct br_opts *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, 0, 'H'},      {"port", required_argument, 0, 'p'},
        {"cpu", required_argument, 0, 'C'},       {"rcvbuf", required_argument, 0, 'R'},
        {"idle-exit", required_argument, 0, 'i'}, {"duration", required_argument, 0, 'd'},
        {"ready-file", required_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
        {"coalesce", no_argument, 0, 'c'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = atoi(optarg); break;
        case 'C': o->cpu = atoi(optarg); break;
        case 'R': o->rcvbuf = atoi(optarg); break;
        case 'i': o->idle_exit = strtod(optarg, NULL); break;
        case 'd': o->duration = strtod(optarg, NULL); break;
        case 'f': o->ready_file = optarg; break;
        case 'c': o->coalesce = true; break;
        case 'h':
            printf("usage: bare_recv [--host 127.0.0.1] [--port 8125 (0 = any)] [--cpu N]\n"
                   "                 [--rcvbuf BYTES] [--idle-exit S] [--duration S]\n"
                   "                 [--ready-file PATH] [--coalesce]\n");
            exit(0);
        default: return -EINVAL;
        }
    }
    if (optind != argc || o->port < 0 || o->port > 65535 || o->idle_exit < 0 || o->duration < 0)
        return -EINVAL;
    return 0;
}

int main(int argc, char **argv)
{
    struct br_opts o = {.host = "127.0.0.1", .port = 8125, .cpu = -1, .rcvbuf = 26214400};
    if (br_parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "bare_recv: bad arguments (see --help)\n");
        return 2;
    }
    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
            fprintf(stderr, "bare_recv: sched_setaffinity: %s\n", strerror(errno));
    }
    struct sigaction sa = {.sa_handler = br_on_signal}; /* no SA_RESTART: wake recvmmsg */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int port = 0;
    int fd = br_open(&o, &port);
    if (fd < 0) {
        fprintf(stderr, "bare_recv: bind %s:%d: %s\n", o.host, o.port, strerror(-fd));
        return 1;
    }
    if (br_announce(&o, fd, port) < 0)
        fprintf(stderr, "bare_recv: cannot write ready file: %s\n", strerror(errno));
    struct br_counts c = {0};
    br_loop(&o, fd, &c);
    close(fd);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"datagrams\":%llu,\"metrics\":%llu,\"bytes\":%llu,\"cpu_s\":%.6f}\n",
           (unsigned long long)c.datagrams, (unsigned long long)c.metrics,
           (unsigned long long)c.bytes, cpu);
    return 0;
}
