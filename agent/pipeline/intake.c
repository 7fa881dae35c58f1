/*
 * intake.c: UDP/UDS DogStatsD sockets on the loop (see intake.h).
 *
 * Datagrams cost more than metrics (a syscall and a wake-up each), so every
 * wake-up reads batches of up to BATCH datagrams with one recvmmsg and keeps
 * going until the socket is empty (bounded, so a flood cannot starve the
 * timers). MSG_TRUNC tells a datagram was larger than the buffer; its
 * complete lines are kept and the partial one is counted. Host "::" (non-local
 * traffic) is one dual-stack socket receiving IPv4 and IPv6, as the Datadog
 * agent's ":8125" does; a kernel without IPv6 gets 0.0.0.0 instead.
 */
#include "intake.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define BATCH 64
#define MAX_BATCHES_PER_WAKEUP 256

struct md_sock {
    uv_poll_t poll;
    int fd;
    bool eol_required;
    bool open;
    struct md_intake *in;
};

struct md_intake {
    struct md_statsd *sd;
    struct md_sock udp, uds;
    int udp_port;
    size_t bufsize;
    char *bufs; /* BATCH * bufsize */
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    char *uds_path;
    int closing;         /* handles still closing */
    bool free_on_close;  /* creation failed: free once the handles are closed */
};

int md_intake_udp_socket(const char *host, int port, int rcvbuf, int reuseport, char *err,
                         size_t errlen)
{
    if (strcmp(host, "::") == 0) {
        int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && errno == EAFNOSUPPORT) {
            md_info("dogstatsd: no IPv6 on this host; listening on 0.0.0.0 only");
            host = "0.0.0.0";
        }
        if (fd >= 0)
            close(fd);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int rc = getaddrinfo(host, ports, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "dogstatsd: cannot resolve %s: %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        freeaddrinfo(ai);
        snprintf(err, errlen, "dogstatsd: socket: %s", strerror(-rc));
        return rc;
    }
    int one = 1, zero = 0;
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (rcvbuf > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        int got = 0;
        socklen_t gl = sizeof got;
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        if (got / 2 < rcvbuf) {
            /* Root (CAP_NET_ADMIN) may go past net.core.rmem_max. */
            setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
            getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        }
        if (got / 2 < rcvbuf) /* the kernel reports double what it grants for bookkeeping */
            md_warn("dogstatsd_so_rcvbuf: asked %d bytes, the kernel granted %d; raise "
                    "net.core.rmem_max (sysctl -w net.core.rmem_max=%d)",
                    rcvbuf, got / 2, rcvbuf);
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        rc = -errno;
        snprintf(err, errlen, "dogstatsd: bind %s:%d: %s", host, port, strerror(-rc));
        close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    return fd;
}

int md_intake_uds_socket(const char *path, int mode, int rcvbuf, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "dogstatsd_socket: path too long: %s", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    /* A stale socket file from a previous run would make bind fail. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, (mode_t)mode) != 0) {
        int rc = -errno;
        snprintf(err, errlen, "dogstatsd_socket: bind %s: %s", path, strerror(-rc));
        close(fd);
        return rc;
    }
    return fd;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One recvmmsg batch; returns datagrams read, 0 when empty, <0 on error. */
static int read_batch(struct md_intake *in, struct md_sock *s)
{
    for (int i = 0; i < BATCH; i++) {
        in->iov[i] = (struct iovec){in->bufs + (size_t)i * in->bufsize, in->bufsize};
        in->msgs[i].msg_hdr = (struct msghdr){.msg_iov = &in->iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(s->fd, in->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -errno;
    double now = wall_now();
    for (int i = 0; i < n; i++) {
        bool trunc = (in->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        size_t len = in->msgs[i].msg_len;
        if (len > in->bufsize)
            len = in->bufsize;
        md_statsd_datagram(in->sd, in->iov[i].iov_base, len, trunc, s->eol_required, now);
    }
    return n;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct md_sock *s = h->data;
    if (status < 0) {
        md_warn("dogstatsd: poll error: %s", uv_strerror(status));
        return;
    }
    for (int b = 0; b < MAX_BATCHES_PER_WAKEUP; b++) {
        int n = read_batch(s->in, s);
        if (n < 0)
            md_warn("dogstatsd: recvmmsg: %s", strerror(-n));
        if (n < BATCH)
            break;
    }
}

void md_intake_drain(struct md_intake *in)
{
    struct md_sock *socks[] = {&in->udp, &in->uds};
    for (int i = 0; i < 2; i++)
        if (socks[i]->open)
            on_readable(&socks[i]->poll, 0, UV_READABLE);
}

static int sock_start(uv_loop_t *loop, struct md_intake *in, struct md_sock *s, int fd, bool eol)
{
    s->fd = fd;
    s->in = in;
    s->eol_required = eol;
    int rc = uv_poll_init_socket(loop, &s->poll, fd);
    if (rc == 0) {
        s->poll.data = s;
        s->open = true;
        rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    }
    return rc;
}

struct md_intake *md_intake_new(uv_loop_t *loop, const struct md_config *cfg, struct md_statsd *sd,
                                char *err, size_t errlen)
{
    struct md_intake *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->sd = sd;
    in->bufsize = (size_t)cfg->dogstatsd_buffer_size;
    in->bufs = malloc(in->bufsize * BATCH);
    in->udp.fd = in->uds.fd = -1;
    if (!in->bufs)
        goto fail;
    if (cfg->dogstatsd_port > 0) {
        const char *host = cfg->dogstatsd_non_local_traffic ? "::" : cfg->bind_host;
        int fd = md_intake_udp_socket(host, cfg->dogstatsd_port, cfg->dogstatsd_so_rcvbuf, 0, err,
                                      errlen);
        if (fd < 0 || sock_start(loop, in, &in->udp, fd, (cfg->dogstatsd_eol_required & MD_EOL_UDP)))
            goto fail;
        in->udp_port = cfg->dogstatsd_port;
        md_info("dogstatsd: listening on udp %s:%d", host, cfg->dogstatsd_port);
    }
    if (cfg->dogstatsd_socket && cfg->dogstatsd_socket[0]) {
        int fd = md_intake_uds_socket(cfg->dogstatsd_socket, cfg->dogstatsd_socket_mode,
                                      cfg->dogstatsd_so_rcvbuf, err, errlen);
        if (fd == -ENOENT && cfg->dogstatsd_port > 0) { /* as in pipeline.c */
            md_error("%s: its folder does not exist; the unix socket is off, UDP carries on", err);
            err[0] = '\0';
            return in;
        }
        if (fd < 0 || sock_start(loop, in, &in->uds, fd, (cfg->dogstatsd_eol_required & MD_EOL_UDS)))
            goto fail;
        in->uds_path = strdup(cfg->dogstatsd_socket);
        md_info("dogstatsd: listening on unix socket %s", cfg->dogstatsd_socket);
    }
    return in;
fail:
    in->free_on_close = true;
    md_intake_close(in);
    if (in->closing == 0)
        md_intake_free(in);
    return NULL;
}

static void on_close(uv_handle_t *h)
{
    struct md_sock *s = h->data;
    struct md_intake *in = s->in;
    close(s->fd);
    s->fd = -1;
    if (--in->closing == 0 && in->free_on_close)
        md_intake_free(in);
}

void md_intake_close(struct md_intake *in)
{
    struct md_sock *socks[] = {&in->udp, &in->uds};
    for (int i = 0; i < 2; i++) {
        struct md_sock *s = socks[i];
        if (s->open) {
            s->open = false;
            in->closing++;
            uv_close((uv_handle_t *)&s->poll, on_close);
        } else if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
        }
    }
    if (in->uds_path) {
        unlink(in->uds_path);
        free(in->uds_path);
        in->uds_path = NULL;
    }
}

void md_intake_free(struct md_intake *in)
{
    /* Only once md_intake_close's handles have closed on the loop. */
    free(in->bufs);
    free(in);
}

int md_intake_udp_port(const struct md_intake *in)
{
    return in->udp_port;
}

int64_t md_intake_kernel_drops(struct md_intake *in)
{
    if (in->udp.fd < 0)
        return -1;
    /* /proc/net/udp{,6}: "sl local rem st tx:rx tr:tm retr uid timeout inode ref ptr drops" */
    struct stat st;
    if (fstat(in->udp.fd, &st) != 0)
        return -1;
    unsigned long ino = (unsigned long)st.st_ino;
    const char *files[] = {"/proc/net/udp", "/proc/net/udp6"};
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp)
            continue;
        char line[512];
        while (fgets(line, sizeof line, fp)) {
            unsigned long inode;
            long long drops;
            if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %lld", &inode,
                       &drops) == 2 && inode == ino) {
                fclose(fp);
                return drops;
            }
        }
        fclose(fp);
    }
    return -1;
}
