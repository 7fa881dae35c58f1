/*
 * httpd_thread.h: a real md_httpd on 127.0.0.1, on a loop of its own in a
 * thread of its own, for the unit tests that talk HTTP to a live server:
 * test_httpd.c tests the server itself, fwd_srv.h scripts one as the
 * forwarder's backend. The start waits until the thread listens (or failed
 * to), and the stop frees the server on its own loop before the thread
 * ends, so both tests share one copy of that handshake. Included by one
 * test file each, so its functions are static.
 */
#ifndef METERD_TEST_HTTPD_THREAD_H
#define METERD_TEST_HTTPD_THREAD_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <uv.h>

#include "httpd.h"

struct httpd_thread {
    /* Set before httpd_thread_start: */
    md_httpd_handler fn;
    void *ud;
    int bind_port;       /* 0 = any */
    uint64_t timeout_ms; /* 0 = the server's default */
    size_t max_body;     /* 0 = no bodies (413) */
    /* The thread's: */
    uv_loop_t loop;
    uv_async_t stop;
    struct md_httpd *h;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int port; /* 0 until listening, -1 on failure */
};

static void httpd_thread_on_stop(uv_async_t *a)
{
    struct httpd_thread *t = a->data;
    md_httpd_free(t->h);
    uv_close((uv_handle_t *)&t->stop, NULL);
}

static void *httpd_thread_main(void *arg)
{
    struct httpd_thread *t = arg;
    char err[256];
    uv_loop_init(&t->loop);
    t->stop.data = t;
    uv_async_init(&t->loop, &t->stop, httpd_thread_on_stop);
    t->h = md_httpd_new(&t->loop, "127.0.0.1", t->bind_port, t->fn, t->ud, err, sizeof err);
    if (t->h) {
        md_httpd_set_timeout(t->h, t->timeout_ms);
        md_httpd_set_max_body(t->h, t->max_body);
    }
    pthread_mutex_lock(&t->mu);
    t->port = t->h ? md_httpd_port(t->h) : -1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
    return NULL;
}

/* Start the thread and wait until it listens; returns the port. */
static int httpd_thread_start(struct httpd_thread *t)
{
    t->port = 0;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    assert_int_equal(pthread_create(&t->th, NULL, httpd_thread_main, t), 0);
    pthread_mutex_lock(&t->mu);
    while (t->port == 0)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    assert_true(t->port > 0);
    return t->port;
}

static void httpd_thread_stop(struct httpd_thread *t)
{
    uv_async_send(&t->stop);
    pthread_join(t->th, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

#endif
