/*
 * uv_echo.c - an echo server on libuv, the second peer the benchmark
 * compares tsl-echo with (beside min-epoll-echo): one loop, one thread,
 * framing-agnostic like the minimal server, so it gives the same replies
 * as a framed echo.  Written the way a libuv user would write it, not
 * tuned: every read lands in one buffer shared by all connections (the
 * loop is single-threaded and a read callback runs to completion), is
 * written back at once with uv_try_write(), and only what the socket does
 * not take is copied into a write request.  Reading stops while more than
 * OUT_MAX bytes wait, so a peer that does not read cannot grow it without
 * bound.  Written for the comparison only; nothing is shared with the
 * library.
 *   uv-echo PORT
 */
/* uv.h names POSIX types (pthread_rwlock_t) that strict C11 hides. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define OUT_MAX (1 << 20)

struct wreq {
    uv_write_t req;
    uv_buf_t buf;
};

static char rbuf[65536];
static uv_signal_t sigterm;
static uv_tcp_t server;

static void
on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    (void)h;
    (void)want;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static void
on_closed(uv_handle_t *h)
{
    free(h);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void
on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    uv_stream_t *s = req->handle;

    free(w->buf.base);
    free(w);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    /* Resume reading once the backlog has drained below the limit; data
       is non-NULL while reading is stopped. */
    if (s->data != NULL && s->write_queue_size < OUT_MAX &&
        !uv_is_closing((uv_handle_t *)s)) {
        s->data = NULL;
        uv_read_start(s, on_alloc, on_read);
    }
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    uv_buf_t got = uv_buf_init(buf->base, (unsigned int)n), rest;
    struct wreq *w;
    int done;

    if (n < 0) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (n == 0)
        return;
    /* UV_EAGAIN when writes are already queued: the rest keeps order. */
    done = uv_try_write(s, &got, 1);
    if (done == n)
        return;
    if (done < 0 && done != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (done < 0)
        done = 0;
    w = malloc(sizeof(*w));
    rest.len = (size_t)(n - done);
    rest.base = malloc(rest.len);
    if (w == NULL || rest.base == NULL) {
        free(w);
        free(rest.base);
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    memcpy(rest.base, buf->base + done, rest.len);
    w->buf = rest;
    if (uv_write(&w->req, s, &w->buf, 1, on_written) < 0) {
        free(rest.base);
        free(w);
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (s->write_queue_size >= OUT_MAX) {
        uv_read_stop(s);
        s->data = s;
    }
}

static void
on_connection(uv_stream_t *srv, int status)
{
    uv_tcp_t *c;

    if (status < 0)
        return;
    if ((c = malloc(sizeof(*c))) == NULL)
        return;
    uv_tcp_init(srv->loop, c);
    c->data = NULL;
    if (uv_accept(srv, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

static void
on_sigterm(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

int
main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_in sa;
    int rc;

    if (argc != 2)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (uv_ip4_addr("127.0.0.1", atoi(argv[1]), &sa) < 0)
        return 2;
    uv_tcp_init(loop, &server);
    if ((rc = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&server, 4096, on_connection)) < 0) {
        fprintf(stderr, "uv-echo: %s\n", uv_strerror(rc));
        return 1;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_sigterm, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
