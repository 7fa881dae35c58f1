/*
 * secrets.c: the Datadog agent's secret backend protocol (see secrets.h).
 * The command gets {"version": "1.0", "secrets": ["h1", ...]} on stdin and
 * answers {"h1": {"value": "...", "error": null}, ...} on stdout within
 * secret_backend_timeout. JSON is a subset of YAML's flow style, so the
 * answer is read with the same YAML loader as the config. As in the agent,
 * the command must not be writable by group or others: whoever can edit it
 * can read every secret. The command's stderr is passed through to ours.
 */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

extern char **environ;

bool md_secret_is_enc(const char *text)
{
    size_t n = text ? strlen(text) : 0;
    return n > 5 && strncmp(text, "ENC[", 4) == 0 && text[n - 1] == ']';
}

/* A handle found in the tree: where it is, for errors and for the replacement. */
struct sec_ref {
    struct md_ynode *node;
    char path[128];
};

struct sec_refs {
    struct sec_ref *v;
    size_t n;
};

static int sec_collect(struct sec_refs *r, struct md_ynode *n, const char *path)
{
    if (n->type == MD_Y_SCALAR && md_secret_is_enc(n->scalar)) {
        struct sec_ref *v = realloc(r->v, (r->n + 1) * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->v[r->n].node = n;
        snprintf(r->v[r->n].path, sizeof r->v[r->n].path, "%s", path);
        r->n++;
        return 0;
    }
    for (size_t i = 0; (n->type == MD_Y_SEQ || n->type == MD_Y_MAP) && i < n->n; i++) {
        char sub[128];
        if (n->type == MD_Y_MAP)
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", n->keys[i]);
        else
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        int rc = sec_collect(r, n->items[i], sub);
        if (rc)
            return rc;
    }
    return 0;
}

/* The command's answer for one handle: value, or an error text. */
static int sec_answer(struct md_opt_ctx *x, const struct md_ynode *ans, const char *handle,
                      const char *key, int line, char **out)
{
    const struct md_ynode *h = ans ? md_ymap_get(ans, handle) : NULL;
    const struct md_ynode *err = h && h->type == MD_Y_MAP ? md_ymap_get(h, "error") : NULL;
    const struct md_ynode *val = h && h->type == MD_Y_MAP ? md_ymap_get(h, "value") : NULL;
    if (err && err->type == MD_Y_SCALAR)
        return md_opt_fail(x, line, key, "secret backend error for ENC[%s]: %.200s", handle,
                           err->scalar);
    if (!val || val->type != MD_Y_SCALAR)
        return md_opt_fail(x, line, key, "secret backend gave no value for ENC[%s]", handle);
    if (!(*out = strdup(val->scalar)))
        return md_opt_oom(x);
    if (x->nsecrets < MD_OPT_MAX_SECRETS)
        x->secrets[x->nsecrets++] = *out;
    return 0;
}

/* The request body: {"version": "1.0", "secrets": ["h1", "h2"]}. */
static int sec_request(struct md_buf *b, char *const *handles, size_t n)
{
    md_buf_puts(b, "{\"version\": \"1.0\", \"secrets\": [");
    for (size_t i = 0; i < n; i++) {
        if (i)
            md_buf_puts(b, ", ");
        md_json_cstr(b, handles[i]);
    }
    md_buf_puts(b, "]}");
    return b->oom ? -ENOMEM : 0;
}

static int64_t sec_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write req to fd in, read fd out into ans until EOF, within the deadline. */
static const char *sec_exchange(int in, int out, const struct md_buf *req, struct md_buf *ans,
                                const struct md_secret_backend *b)
{
    size_t sent = 0;
    int64_t deadline = sec_now_ms() + (int64_t)b->timeout_s * 1000;
    char chunk[4096];
    for (;;) {
        struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = in, .events = POLLOUT}};
        int64_t left = deadline - sec_now_ms();
        if (left <= 0)
            return "timed out (secret_backend_timeout)";
        int r = poll(p, in >= 0 ? 2 : 1, (int)left);
        if (r < 0 && errno != EINTR)
            return "poll failed";
        if (r <= 0)
            continue;
        if (in >= 0 && p[1].revents) {
            ssize_t w = write(in, req->p + sent, req->len - sent);
            if (w > 0)
                sent += (size_t)w;
            if (w < 0 || sent == req->len) {
                close(in);
                in = -1;
            }
        }
        if (p[0].revents) {
            ssize_t got = read(out, chunk, sizeof chunk);
            if (got == 0)
                break;
            if (got < 0 && errno != EINTR)
                return "cannot read its output";
            if (got > 0 && ans->len + (size_t)got > (size_t)b->max_size)
                return "answer larger than secret_backend_output_max_size";
            if (got > 0)
                md_buf_add(ans, chunk, (size_t)got);
        }
    }
    if (in >= 0)
        close(in);
    return NULL;
}

/* Run the command: NULL and the answer in ans, or why it failed. */
static const char *sec_run(const struct md_secret_backend *b, const struct md_buf *req,
                           struct md_buf *ans)
{
    struct stat st;
    if (stat(b->command, &st) != 0)
        return "secret_backend_command not found";
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return "secret_backend_command is writable by group or others";
    int pin[2], pout[2];
    if (pipe2(pin, O_CLOEXEC) != 0)
        return "cannot create a pipe";
    if (pipe2(pout, O_CLOEXEC) != 0) {
        close(pin[0]);
        close(pin[1]);
        return "cannot create a pipe";
    }
    size_t na = b->args ? b->args->n : 0;
    char **argv = calloc(na + 2, sizeof *argv);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    /* On a reload the daemon's sockets are open: the command gets none of them. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    pid_t pid = -1;
    int rc = ENOMEM;
    if (argv) {
        argv[0] = (char *)b->command;
        for (size_t i = 0; i < na; i++)
            argv[i + 1] = b->args->v[i];
        rc = posix_spawn(&pid, b->command, &fa, NULL, argv, environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    close(pin[0]);
    close(pout[1]);
    const char *why = rc ? "cannot run secret_backend_command" : NULL;
    if (!why) {
        /* A command that exits early must not kill us with SIGPIPE. */
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        why = sec_exchange(pin[1], pout[0], req, ans, b);
        signal(SIGPIPE, old);
        pin[1] = -1; /* closed by the exchange */
    } else {
        close(pin[1]);
    }
    close(pout[0]);
    int status = 0;
    if (pid > 0) {
        if (why)
            kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (!why && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            why = "secret_backend_command failed (non-zero exit)";
    }
    return why;
}

/* Handles (the text between ENC[ and ]) of refs, asked for in one run. */
static int sec_resolve(struct md_opt_ctx *x, const struct md_secret_backend *b,
                       char *const *handles, size_t n, const char *key0, int line0,
                       struct md_ynode **answer)
{
    if (!b->command || !*b->command)
        return md_opt_fail(x, line0, key0,
                           "ENC[%s] needs secret_backend_command to be resolved", handles[0]);
    struct md_buf req = {0}, ans = {0};
    int rc = sec_request(&req, handles, n);
    if (rc) {
        md_buf_free(&req);
        return md_opt_oom(x);
    }
    const char *why = sec_run(b, &req, &ans);
    md_buf_free(&req);
    char yerr[256];
    if (!why && ans.oom)
        why = "out of memory reading its answer";
    else if (!why && md_yaml_load_string("secret backend answer", ans.len ? ans.p : "", ans.len,
                                    answer, yerr, sizeof yerr) != 0)
        why = "its answer is not JSON";
    else if (!why && (*answer)->type != MD_Y_MAP)
        why = "its answer is not a JSON object";
    md_buf_free(&ans);
    if (why)
        return md_opt_fail(x, line0, key0, "cannot resolve ENC[%s]: %s", handles[0], why);
    return 0;
}

static char *sec_handle(const char *enc)
{
    return strndup(enc + 4, strlen(enc) - 5);
}

int md_secret_resolve_tree(struct md_opt_ctx *x, const struct md_secret_backend *b,
                           struct md_ynode *root)
{
    struct sec_refs r = {0};
    char **handles = NULL;
    struct md_ynode *ans = NULL;
    int rc = sec_collect(&r, root, "");
    if (rc || !r.n)
        goto out;
    rc = -ENOMEM;
    if (!(handles = calloc(r.n, sizeof *handles)))
        goto out;
    for (size_t i = 0; i < r.n; i++)
        if (!(handles[i] = sec_handle(r.v[i].node->scalar)))
            goto out;
    rc = sec_resolve(x, b, handles, r.n, r.v[0].path, r.v[0].node->line, &ans);
    for (size_t i = 0; !rc && i < r.n; i++) {
        char *v;
        rc = sec_answer(x, ans, handles[i], r.v[i].path, r.v[i].node->line, &v);
        if (!rc) {
            free(r.v[i].node->scalar);
            r.v[i].node->scalar = v; /* the tree owns it; x->secrets borrows it */
            r.v[i].node->quoted = true;
        }
    }
out:
    if (rc == -ENOMEM)
        md_opt_oom(x);
    for (size_t i = 0; handles && i < r.n; i++)
        free(handles[i]);
    free(handles);
    free(r.v);
    if (ans)
        md_ynode_free(ans);
    return rc;
}

int md_secret_resolve_text(struct md_opt_ctx *x, const struct md_secret_backend *b,
                           const char *key, const char *text, char **out)
{
    char *h = sec_handle(text);
    struct md_ynode *ans = NULL;
    if (!h)
        return md_opt_oom(x);
    int rc = sec_resolve(x, b, &h, 1, key, 0, &ans);
    if (!rc)
        rc = sec_answer(x, ans, h, key, 0, out);
    free(h);
    if (ans)
        md_ynode_free(ans);
    return rc;
}
