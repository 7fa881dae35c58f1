/*
 * datadog_meta.c: the host metadata payload of the Datadog sink.
 *
 * Datadog's infrastructure list and host map show a host only after its
 * agent has posted the v5 host metadata document to /intake/: host name,
 * OS, the "gohai" facts (CPU model and cores, memory, kernel) and the host
 * tags. The Datadog agent sends it at start and every 30 minutes; the sink
 * asks for it from encode at the same pace. The facts come from uname(2),
 * /proc/cpuinfo, /proc/meminfo and /etc/os-release (/host/etc/os-release
 * first, for a container with the host's / mounted there), read only when
 * a document is built. The API key is not copied into the body: the
 * DD-API-KEY header authenticates it, and bodies may be spooled to disk.
 * datadog.agent.running, the series the agent adds to every flush, is
 * written here too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "buf.h"
#include "datadog_meta.h"

struct meta_cpu {
    int logical, cores; /* processors, and distinct (physical id, core id) pairs */
    char model_name[128], vendor[64], family[16], model[16], stepping[16], mhz[32], cache[32];
};

/* "key<tabs>: value" of a /proc/cpuinfo line into out, when the key matches. */
static void cpuinfo_field(const char *line, const char *key, char *out, size_t len)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0 || out[0])
        return;
    const char *v = line + n + strspn(line + n, " \t");
    if (*v != ':') /* "model" is not "model name" */
        return;
    v++;
    while (*v == ' ')
        v++;
    snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
}

/* Count a (physical id, core id) pair once; a CPU without them counts as its own core. */
static void meta_core(struct meta_cpu *c, unsigned *seen, size_t *nseen, size_t cap, unsigned id)
{
    for (size_t i = 0; i < *nseen; i++)
        if (seen[i] == id)
            return;
    if (*nseen < cap)
        seen[(*nseen)++] = id;
    c->cores++;
}

static void meta_read_cpu(struct meta_cpu *c)
{
    unsigned seen[1024], phys = 0;
    size_t nseen = 0;
    memset(c, 0, sizeof *c);
    FILE *f = fopen("/proc/cpuinfo", "re");
    char line[512], v[32];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "processor", 9) == 0)
            c->logical++;
        v[0] = '\0';
        cpuinfo_field(line, "physical id", v, sizeof v);
        if (v[0])
            phys = (unsigned)strtoul(v, NULL, 10);
        cpuinfo_field(line, "core id", v, sizeof v);
        if (v[0] && strncmp(line, "core id", 7) == 0)
            meta_core(c, seen, &nseen, sizeof seen / sizeof seen[0], phys << 16 | (unsigned)strtoul(v, NULL, 10));
        cpuinfo_field(line, "model name", c->model_name, sizeof c->model_name);
        cpuinfo_field(line, "vendor_id", c->vendor, sizeof c->vendor);
        cpuinfo_field(line, "cpu family", c->family, sizeof c->family);
        cpuinfo_field(line, "model", c->model, sizeof c->model);
        cpuinfo_field(line, "stepping", c->stepping, sizeof c->stepping);
        cpuinfo_field(line, "cpu MHz", c->mhz, sizeof c->mhz);
        cpuinfo_field(line, "cache size", c->cache, sizeof c->cache);
    }
    if (f)
        fclose(f);
    if (c->cores == 0) /* no topology lines (some VMs, arm64): one core per processor */
        c->cores = c->logical;
}

/* A "Key: N kB" value of /proc/meminfo, in kB; 0 when absent. */
static unsigned long long meta_meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtoull(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* KEY="value" of os-release into out (quotes removed). */
static void meta_os_release(const char *key, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/host/etc/os-release", "re");
    if (!f)
        f = fopen("/etc/os-release", "re");
    char line[512];
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) != 0 || line[n] != '=')
            continue;
        const char *v = line + n + 1;
        size_t l = strcspn(v, "\n");
        if (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0])
            v++, l -= 2;
        snprintf(out, len, "%.*s", (int)l, v);
    }
    if (f)
        fclose(f);
}

static void kv(struct md_buf *b, const char *key, const char *value, bool comma)
{
    md_json_cstr(b, key);
    md_buf_putc(b, ':');
    md_json_cstr(b, value);
    if (comma)
        md_buf_putc(b, ',');
}

/* The gohai document (a JSON text the payload carries as a string). */
static void meta_gohai(struct md_buf *g, const struct utsname *u, const struct meta_cpu *c)
{
    char n[32];
    md_buf_puts(g, "{\"cpu\":{");
    snprintf(n, sizeof n, "%d", c->cores);
    kv(g, "cpu_cores", n, true);
    snprintf(n, sizeof n, "%d", c->logical);
    kv(g, "cpu_logical_processors", n, true);
    kv(g, "model_name", c->model_name, true);
    kv(g, "vendor_id", c->vendor, true);
    kv(g, "family", c->family, true);
    kv(g, "model", c->model, true);
    kv(g, "stepping", c->stepping, true);
    kv(g, "mhz", c->mhz, true);
    kv(g, "cache_size", c->cache, false);
    md_buf_puts(g, "},\"memory\":{");
    snprintf(n, sizeof n, "%llukB", meta_meminfo("MemTotal"));
    kv(g, "total", n, true);
    snprintf(n, sizeof n, "%llukB", meta_meminfo("SwapTotal"));
    kv(g, "swap_total", n, false);
    md_buf_puts(g, "},\"platform\":{");
    kv(g, "hostname", u->nodename, true);
    kv(g, "kernel_name", u->sysname, true);
    kv(g, "kernel_release", u->release, true);
    kv(g, "kernel_version", u->version, true);
    kv(g, "machine", u->machine, true);
    kv(g, "processor", u->machine, true);
    kv(g, "hardware_platform", u->machine, true);
    kv(g, "os", "GNU/Linux", true);
    kv(g, "GOOS", "linux", true);
    kv(g, "pythonV", "n/a", false);
    md_buf_puts(g, "},\"network\":null,\"filesystem\":[]}");
}

static void meta_tags(struct md_buf *b, const char *const *tags, size_t ntags)
{
    md_buf_puts(b, "\"host-tags\":{\"system\":[");
    for (size_t i = 0; i < ntags; i++) {
        if (i)
            md_buf_putc(b, ',');
        md_json_cstr(b, tags[i]);
    }
    md_buf_puts(b, "]}");
}

void md_dd_meta_body(struct md_buf *b, const char *host, const char *const *tags, size_t ntags)
{
    struct utsname u;
    struct meta_cpu c;
    char distro[128], version[64];
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    meta_read_cpu(&c);
    meta_os_release("NAME", distro, sizeof distro);
    meta_os_release("VERSION_ID", version, sizeof version);
    tzset();
    md_buf_puts(b, "{");
    kv(b, "internalHostname", host, true);
    kv(b, "os", "linux", true);
    kv(b, "agentVersion", "meterd-" METERD_VERSION, true);
    kv(b, "agentFlavor", "meterd", true);
    kv(b, "python", "n/a", true);
    md_buf_printf(b, "\"systemStats\":{\"cpuCores\":%d,", c.logical);
    kv(b, "machine", u.machine, true);
    kv(b, "platform", "linux2", true);
    kv(b, "processor", c.model_name, true);
    kv(b, "pythonV", "n/a", true);
    md_buf_puts(b, "\"macV\":[\"\",\"\",\"\"],\"nixV\":[");
    md_json_cstr(b, distro);
    md_buf_putc(b, ',');
    md_json_cstr(b, version);
    md_buf_puts(b, ",\"\"],\"fbsdV\":[\"\",\"\",\"\"],\"winV\":[\"\",\"\",\"\"]},");
    md_buf_puts(b, "\"meta\":{");
    kv(b, "socket-hostname", u.nodename, true);
    kv(b, "socket-fqdn", u.nodename, true);
    kv(b, "hostname", host, true);
    md_buf_puts(b, "\"host_aliases\":[],\"timezones\":[");
    md_json_cstr(b, tzname[0]);
    md_buf_puts(b, "]},");
    meta_tags(b, tags, ntags);
    md_buf_puts(b, ",\"gohai\":");
    struct md_buf g;
    md_buf_init(&g);
    meta_gohai(&g, &u, &c);
    md_json_str(b, g.p ? g.p : "", g.len);
    if (g.oom)
        b->oom = true;
    md_buf_free(&g);
    md_buf_puts(b, "}");
}

bool md_dd_meta_take(_Atomic int64_t *due, int64_t now)
{
    int64_t d = atomic_load(due);
    return now >= d && atomic_compare_exchange_strong(due, &d, now + MD_DD_META_INTERVAL);
}

bool md_dd_running_take(_Atomic int64_t *last, int64_t start)
{
    int64_t l = atomic_load(last);
    while (start > l)
        if (atomic_compare_exchange_weak(last, &l, start))
            return true;
    return false;
}

void md_dd_running_item(struct md_buf *b, const char *host, int64_t start, uint32_t interval)
{
    md_buf_puts(b, "{\"metric\":\"datadog.agent.running\",\"points\":[[");
    md_json_int(b, start);
    md_buf_puts(b, ",1]],\"type\":\"gauge\",\"interval\":");
    md_json_int(b, interval);
    md_buf_puts(b, ",\"host\":");
    md_json_cstr(b, host);
    md_buf_puts(b, ",\"tags\":[\"version:" METERD_VERSION "\"]}");
}
