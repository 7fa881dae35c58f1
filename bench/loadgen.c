/*
 * loadgen: the statsd load generator behind bench/run.sh.
 *
 * It exists so that every benchmark offers the same, reproducible load to
 * whichever server is measured (meterd or the bare receiver): N sender
 * threads, each with its own connected UDP socket, build batches of
 * datagrams of K newline-joined DogStatsD lines and push them with one
 * sendmmsg() per batch. Pacing is one token schedule shared by all threads
 * (a thread claims a block of metric sequence numbers with one atomic add
 * and sleeps until the schedule allows that block), so the offered rate
 * holds whatever the thread count. It always stops by itself at the first
 * cap reached (--duration, --count, hard limit 600 s) and prints one JSON
 * line on stdout. Deliberately standalone: no meterd sources are used, so
 * the tool keeps building while the daemon is under construction.
 */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_MAX_THREADS 64
#define LG_MAX_BATCH 1024
#define LG_MAX_CPUS 256
#define LG_HARD_MAX_S 600.0
#define LG_MAX_LINE 512
#define LG_NTYPES 6

static const char *const lg_type_names[LG_NTYPES] = {"c", "g", "ms", "h", "s", "d"};

struct lg_opts {
    const char *host;
    int port;
    int threads;
    int per_datagram;
    int max_bytes;
    uint64_t contexts;
    int weights[LG_NTYPES];
    char tags[256];
    double rate;       /* metrics per second, 0 = flat out */
    double duration;   /* seconds, 0 = no cap (then count must be set) */
    uint64_t count;    /* metrics, 0 = no cap (then duration must be set) */
    int batch;
    long long value;
    int cpus[LG_MAX_CPUS];
    int ncpus;
    const char *prefix;
};

/* Shared between threads; the claim counter is the token schedule. */
struct lg_shared {
    const struct lg_opts *o;
    struct sockaddr_in dst;
    int lines_per_dgram;        /* K after the --max-bytes cap */
    uint8_t type_of[64];        /* weighted type table, indexed by ctx % ntable */
    int ntable;
    char valstr[32];
    size_t prefix_len, val_len, tags_len; /* strlen once, not per line */
    struct timespec start;
    double deadline_s;          /* seconds after start */
    _Atomic uint64_t claimed;   /* metric sequence numbers handed out */
    _Atomic uint64_t sent_metrics;
    _Atomic uint64_t sent_datagrams;
    _Atomic uint64_t sent_bytes;
    _Atomic uint64_t send_errors;
};

struct lg_thread {
    struct lg_shared *sh;
    int idx;
    int cpu; /* -1 = not pinned */
    int err;
};

static volatile sig_atomic_t lg_stop;

static void lg_on_signal(int sig)
{
    (void)sig;
    lg_stop = 1;
}

static double lg_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void lg_sleep_until(const struct timespec *t0, double at_s)
{
    struct timespec ts = *t0;
    long long ns = (long long)(at_s * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec += (long)(ns % 1000000000LL);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !lg_stop)
        ;
}

/* Decimal digits without snprintf: this runs once per line on the hot path. */
static size_t lg_utoa(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t lg_format_line(const struct lg_shared *sh, uint64_t seq, char *out)
{
    const struct lg_opts *o = sh->o;
    uint64_t ctx = seq % o->contexts;
    int type = sh->type_of[ctx % (uint64_t)sh->ntable];
    const char *tn = lg_type_names[type];
    size_t n = sh->prefix_len;
    memcpy(out, o->prefix, n);
    n += lg_utoa(ctx, out + n);
    out[n++] = ':';
    if (type == 0) {
        memcpy(out + n, sh->valstr, sh->val_len);
        n += sh->val_len;
    } else {
        /* gauges, timers, sets...: vary the value so sketches and sets see spread */
        n += lg_utoa(seq % 1000, out + n);
    }
    out[n++] = '|';
    out[n++] = tn[0];
    if (tn[1])
        out[n++] = tn[1];
    if (sh->tags_len) {
        out[n++] = '|';
        out[n++] = '#';
        memcpy(out + n, o->tags, sh->tags_len);
        n += sh->tags_len;
    }
    return n;
}

/* Worst-case line length, so K lines always fit in --max-bytes. */
static size_t lg_max_line_len(const struct lg_shared *sh)
{
    const struct lg_opts *o = sh->o;
    char tmp[32];
    size_t ctxd = lg_utoa(o->contexts ? o->contexts - 1 : 0, tmp);
    size_t vd = strlen(sh->valstr);
    if (vd < 3)
        vd = 3;
    return strlen(o->prefix) + ctxd + 1 + vd + 1 + 2 + (o->tags[0] ? 2 + strlen(o->tags) : 0);
}

static int lg_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

struct lg_batch {
    struct mmsghdr msgs[LG_MAX_BATCH];
    struct iovec iov[LG_MAX_BATCH];
    char *buf;
    size_t slot;
};

/* Sends msgs[0..n); a failed datagram is counted and skipped, never retried. */
static void lg_send_batch(struct lg_shared *sh, int fd, struct lg_batch *b, int n,
                          const int *lines)
{
    int off = 0;
    uint64_t metrics = 0, dgrams = 0, bytes = 0, errs = 0;
    while (off < n) {
        int r = sendmmsg(fd, b->msgs + off, (unsigned)(n - off), 0);
        if (r < 0) {
            if (errno == EINTR && !lg_stop)
                continue;
            errs++;
            off++;
            continue;
        }
        for (int i = off; i < off + r; i++) {
            metrics += (uint64_t)lines[i];
            bytes += b->iov[i].iov_len;
        }
        dgrams += (uint64_t)r;
        off += r;
    }
    atomic_fetch_add_explicit(&sh->sent_metrics, metrics, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->sent_datagrams, dgrams, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->sent_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->send_errors, errs, memory_order_relaxed);
}

/* Claims the next block of sequence numbers; returns how many (0 = done). */
static uint64_t lg_claim(struct lg_shared *sh, uint64_t want, uint64_t *first)
{
    const struct lg_opts *o = sh->o;
    uint64_t c = atomic_fetch_add_explicit(&sh->claimed, want, memory_order_relaxed);
    if (o->count) {
        if (c >= o->count)
            return 0;
        if (c + want > o->count)
            want = o->count - c;
    }
    *first = c;
    if (o->rate > 0) {
        double at = (double)(c + want) / o->rate;
        if (at > sh->deadline_s)
            return 0;
        lg_sleep_until(&sh->start, at);
    }
    return want;
}

static int lg_fill(struct lg_shared *sh, struct lg_batch *b, uint64_t first, uint64_t n,
                   int *lines)
{
    int k = sh->lines_per_dgram;
    int nd = 0;
    for (uint64_t done = 0; done < n; nd++) {
        char *p = b->buf + (size_t)nd * b->slot;
        size_t len = 0;
        int l = 0;
        for (; l < k && done < n; l++, done++) {
            if (l)
                p[len++] = '\n';
            len += lg_format_line(sh, first + done, p + len);
        }
        b->iov[nd].iov_base = p;
        b->iov[nd].iov_len = len;
        lines[nd] = l;
    }
    return nd;
}

static void *lg_thread_main(void *arg)
{
    struct lg_thread *t = arg;
    struct lg_shared *sh = t->sh;
    const struct lg_opts *o = sh->o;
    if (t->cpu >= 0 && lg_pin(t->cpu) < 0)
        fprintf(stderr, "loadgen: thread %d: cannot pin to cpu %d\n", t->idx, t->cpu);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&sh->dst, sizeof(sh->dst)) < 0) {
        t->err = -errno;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct lg_batch *b = calloc(1, sizeof(*b));
    int *lines = calloc(LG_MAX_BATCH, sizeof(int));
    if (b) {
        b->slot = (size_t)o->max_bytes;
        b->buf = malloc(b->slot * (size_t)o->batch);
    }
    if (!b || !b->buf || !lines) {
        t->err = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < o->batch; i++) {
        b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
        b->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t want = (uint64_t)o->batch * (uint64_t)sh->lines_per_dgram;
    while (!lg_stop && lg_since(&sh->start) < sh->deadline_s) {
        uint64_t first = 0;
        uint64_t n = lg_claim(sh, want, &first);
        if (n == 0 || lg_stop)
            break;
        int nd = lg_fill(sh, b, first, n, lines);
        lg_send_batch(sh, fd, b, nd, lines);
    }
out:
    if (b)
        free(b->buf);
    free(b);
    free(lines);
    close(fd);
    return NULL;
}

static int lg_parse_cpus(const char *s, struct lg_opts *o)
{
    o->ncpus = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), z;
        if (end == s || a < 0 || a >= LG_MAX_CPUS)
            return -EINVAL;
        z = a;
        if (*end == '-') {
            s = end + 1;
            z = strtol(s, &end, 10);
            if (end == s || z < a || z >= LG_MAX_CPUS)
                return -EINVAL;
        }
        for (long c = a; c <= z && o->ncpus < LG_MAX_CPUS; c++)
            o->cpus[o->ncpus++] = (int)c;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -EINVAL;
    }
    return o->ncpus ? 0 : -EINVAL;
}

static int lg_parse_mix(const char *s, struct lg_opts *o)
{
    memset(o->weights, 0, sizeof(o->weights));
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -EINVAL;
        *eq = '\0';
        int t = -1;
        for (int i = 0; i < LG_NTYPES; i++)
            if (strcmp(tok, lg_type_names[i]) == 0)
                t = i;
        char *end;
        long w = strtol(eq + 1, &end, 10);
        if (t < 0 || *end || w < 0 || w > 64)
            return -EINVAL;
        o->weights[t] = (int)w;
    }
    return 0;
}

/* Spread the weights evenly so a small --contexts still sees every type. */
static int lg_build_type_table(struct lg_shared *sh)
{
    int total = 0;
    for (int i = 0; i < LG_NTYPES; i++)
        total += sh->o->weights[i];
    if (total <= 0 || total > 64)
        return -EINVAL;
    int credit[LG_NTYPES] = {0};
    for (int n = 0; n < total; n++) {
        int best = -1;
        for (int i = 0; i < LG_NTYPES; i++) {
            credit[i] += sh->o->weights[i];
            if (best < 0 || credit[i] > credit[best])
                best = i;
        }
        credit[best] -= total;
        sh->type_of[n] = (uint8_t)best;
    }
    sh->ntable = total;
    return 0;
}

static void lg_usage(FILE *f)
{
    fprintf(f,
            "usage: loadgen [--host 127.0.0.1] [--port 8125] [--threads N] [--per-datagram K]\n"
            "               [--max-bytes 1432] [--contexts N] [--mix c=1,g=0,ms=0,h=0,s=0,d=0]\n"
            "               [--tags env:prod,service:web | --no-tags] [--prefix bench.m]\n"
            "               [--rate METRICS_PER_S (0 = flat out)] [--duration S] [--count N]\n"
            "               [--batch B] [--value V] [--cpu LIST]\n"
            "At least one of --duration / --count; never runs longer than 600 s.\n");
}

static int lg_parse_args(int argc, char **argv, struct lg_opts *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, 0, 'H'},     {"port", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'},  {"per-datagram", required_argument, 0, 'k'},
        {"max-bytes", required_argument, 0, 'M'}, {"contexts", required_argument, 0, 'n'},
        {"mix", required_argument, 0, 'm'},      {"tags", required_argument, 0, 'T'},
        {"no-tags", no_argument, 0, 'N'},        {"rate", required_argument, 0, 'r'},
        {"duration", required_argument, 0, 'd'}, {"count", required_argument, 0, 'c'},
        {"batch", required_argument, 0, 'b'},    {"value", required_argument, 0, 'v'},
        {"cpu", required_argument, 0, 'C'},      {"prefix", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = atoi(optarg); break;
        case 't': o->threads = atoi(optarg); break;
        case 'k': o->per_datagram = atoi(optarg); break;
        case 'M': o->max_bytes = atoi(optarg); break;
        case 'n': o->contexts = strtoull(optarg, NULL, 10); break;
        case 'm':
            if (lg_parse_mix(optarg, o) < 0)
                return -EINVAL;
            break;
        case 'T': snprintf(o->tags, sizeof(o->tags), "%s", optarg); break;
        case 'N': o->tags[0] = '\0'; break;
        case 'r': o->rate = strtod(optarg, NULL); break;
        case 'd': o->duration = strtod(optarg, NULL); break;
        case 'c': o->count = strtoull(optarg, NULL, 10); break;
        case 'b': o->batch = atoi(optarg); break;
        case 'v': o->value = strtoll(optarg, NULL, 10); break;
        case 'C':
            if (lg_parse_cpus(optarg, o) < 0)
                return -EINVAL;
            break;
        case 'P': o->prefix = optarg; break;
        case 'h': lg_usage(stdout); exit(0);
        default: return -EINVAL;
        }
    }
    if (optind != argc)
        return -EINVAL;
    return 0;
}

static int lg_validate(const struct lg_opts *o)
{
    if (o->duration <= 0 && o->count == 0) {
        fprintf(stderr, "loadgen: need --duration or --count\n");
        return -EINVAL;
    }
    if (o->port <= 0 || o->port > 65535 || o->threads < 1 || o->threads > LG_MAX_THREADS ||
        o->per_datagram < 1 || o->max_bytes < 16 || o->max_bytes > 65507 || o->contexts < 1 ||
        o->batch < 1 || o->batch > LG_MAX_BATCH || o->rate < 0 || o->duration < 0 ||
        strlen(o->prefix) > 128) {
        fprintf(stderr, "loadgen: option out of range\n");
        return -EINVAL;
    }
    return 0;
}

static int lg_setup(struct lg_shared *sh)
{
    const struct lg_opts *o = sh->o;
    memset(&sh->dst, 0, sizeof(sh->dst));
    sh->dst.sin_family = AF_INET;
    sh->dst.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &sh->dst.sin_addr) != 1) {
        fprintf(stderr, "loadgen: --host must be an IPv4 address\n");
        return -EINVAL;
    }
    if (lg_build_type_table(sh) < 0) {
        fprintf(stderr, "loadgen: --mix needs a positive total weight (max 64)\n");
        return -EINVAL;
    }
    snprintf(sh->valstr, sizeof(sh->valstr), "%lld", o->value);
    sh->val_len = strlen(sh->valstr);
    sh->prefix_len = strlen(o->prefix);
    sh->tags_len = strlen(o->tags);
    size_t ml = lg_max_line_len(sh);
    if (ml > LG_MAX_LINE || ml > (size_t)o->max_bytes) {
        fprintf(stderr, "loadgen: a line (%zu bytes) does not fit in --max-bytes\n", ml);
        return -EINVAL;
    }
    size_t fit = ((size_t)o->max_bytes + 1) / (ml + 1);
    sh->lines_per_dgram = o->per_datagram < (int)fit ? o->per_datagram : (int)fit;
    if (sh->lines_per_dgram < o->per_datagram)
        fprintf(stderr, "loadgen: --max-bytes %d holds only %d lines per datagram\n",
                o->max_bytes, sh->lines_per_dgram);
    sh->deadline_s = o->duration > 0 && o->duration < LG_HARD_MAX_S ? o->duration : LG_HARD_MAX_S;
    if (o->duration > LG_HARD_MAX_S)
        fprintf(stderr, "loadgen: --duration capped at %.0f s\n", LG_HARD_MAX_S);
    return 0;
}

static int lg_run_threads(struct lg_shared *sh)
{
    const struct lg_opts *o = sh->o;
    pthread_t tids[LG_MAX_THREADS];
    struct lg_thread th[LG_MAX_THREADS];
    int started = 0, rc = 0;
    clock_gettime(CLOCK_MONOTONIC, &sh->start);
    for (int i = 0; i < o->threads; i++) {
        th[i] = (struct lg_thread){.sh = sh, .idx = i, .cpu = o->ncpus ? o->cpus[i % o->ncpus] : -1};
        if (pthread_create(&tids[i], NULL, lg_thread_main, &th[i]) != 0) {
            lg_stop = 1;
            rc = -EAGAIN;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        if (th[i].err) {
            fprintf(stderr, "loadgen: thread %d: %s\n", i, strerror(-th[i].err));
            rc = th[i].err;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    struct lg_opts o = {.host = "127.0.0.1", .port = 8125, .threads = 1, .per_datagram = 1,
                        .max_bytes = 1432, .contexts = 1000, .weights = {1, 0, 0, 0, 0, 0},
                        .tags = "env:prod,service:web", .batch = 32, .value = 1,
                        .prefix = "bench.m"};
    if (lg_parse_args(argc, argv, &o) < 0) {
        lg_usage(stderr);
        return 2;
    }
    if (lg_validate(&o) < 0)
        return 2;
    static struct lg_shared sh;
    sh.o = &o;
    if (lg_setup(&sh) < 0)
        return 2;
    /* Pin the main thread too, so the process as a whole stays on the given set. */
    if (o.ncpus) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int i = 0; i < o.ncpus; i++)
            CPU_SET(o.cpus[i], &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
            fprintf(stderr, "loadgen: sched_setaffinity: %s\n", strerror(errno));
    }
    struct sigaction sa = {.sa_handler = lg_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = lg_run_threads(&sh);
    double el = lg_since(&sh.start);
    uint64_t m = atomic_load(&sh.sent_metrics);
    printf("{\"sent_metrics\":%llu,\"sent_datagrams\":%llu,\"send_errors\":%llu,"
           "\"elapsed_s\":%.6f,\"rate\":%.1f,\"sent_bytes\":%llu,\"per_datagram\":%d}\n",
           (unsigned long long)m, (unsigned long long)atomic_load(&sh.sent_datagrams),
           (unsigned long long)atomic_load(&sh.send_errors), el, el > 0 ? (double)m / el : 0.0,
           (unsigned long long)atomic_load(&sh.sent_bytes), sh.lines_per_dgram);
    return rc < 0 ? 1 : 0;
}
