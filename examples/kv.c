/*
 * kv.c - a tiny key-value server speaking a line protocol, over
 * tcpserverlib's delimiter framing.
 *
 * One command per line (LF or CR LF), one reply line per command:
 *
 *   SET key value   -> OK                    (value: the rest of the line)
 *   GET key         -> VALUE value | NOT_FOUND
 *   DEL key         -> OK | NOT_FOUND
 *   QUIT            -> BYE, then the server closes the connection
 *   anything else   -> ERR ...
 *
 * The framing does the demarcation: however the bytes arrive (a command
 * split over reads, ten commands in one), `message` runs once per line,
 * and a line over LINE_MAX_LEN ends the client with reason protocol-error.
 * Replies sent from `message` are collected and written with one send()
 * per read, so a pipelined batch is answered in one write.
 *
 * Threads: the store is shared by every client and `message` may run on
 * several threads (MULTI_THREADED gives each client its own), so it has a
 * mutex; main only starts, waits for SIGINT/SIGTERM and destroys.
 *
 *   usage: example-kv [-a ADDR] [-p PORT]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tsl.h>

#define LINE_MAX_LEN 256
#define KEYS_MAX 1024

struct entry {
    struct entry *next;
    char *key, *value;
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *store; /* under store_lock */
static size_t store_count;  /* under store_lock */

/* The link pointing at key's entry, or at the terminating NULL.  Caller
 * holds store_lock. */
static struct entry **
store_find(const char *key)
{
    struct entry **p = &store;

    while (*p != NULL && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

/* Returns the reply line for SET. */
static const char *
store_set(const char *key, const char *value)
{
    struct entry **p, *e;
    char *v = strdup(value);
    const char *reply = "OK";

    if (v == NULL)
        return "ERR out of memory";
    pthread_mutex_lock(&store_lock);
    p = store_find(key);
    if (*p != NULL) {
        free((*p)->value);
        (*p)->value = v;
        v = NULL;
    } else if (store_count == KEYS_MAX) {
        reply = "ERR store full";
    } else if ((e = malloc(sizeof(*e))) == NULL ||
               (e->key = strdup(key)) == NULL) {
        free(e);
        reply = "ERR out of memory";
    } else {
        e->value = v;
        e->next = NULL;
        *p = e;
        store_count++;
        v = NULL;
    }
    pthread_mutex_unlock(&store_lock);
    free(v); /* NULL unless the value was not stored */
    return reply;
}

/* Writes "VALUE value" into out; NOT_FOUND if there is none. */
static void
store_get(const char *key, char *out, size_t n)
{
    struct entry *e;

    pthread_mutex_lock(&store_lock);
    e = *store_find(key);
    if (e != NULL)
        snprintf(out, n, "VALUE %s", e->value);
    else
        snprintf(out, n, "NOT_FOUND");
    pthread_mutex_unlock(&store_lock);
}

static const char *
store_del(const char *key)
{
    struct entry **p, *e;

    pthread_mutex_lock(&store_lock);
    p = store_find(key);
    e = *p;
    if (e != NULL) {
        *p = e->next;
        store_count--;
    }
    pthread_mutex_unlock(&store_lock);
    if (e == NULL)
        return "NOT_FOUND";
    free(e->key);
    free(e->value);
    free(e);
    return "OK";
}

static void
store_clear(void)
{
    while (store != NULL)
        store_del(store->key);
}

/* Splits off the next space-separated word of *s (NULL if none). */
static char *
word(char **s)
{
    char *w = *s + strspn(*s, " "), *end;

    if (*w == '\0')
        return NULL;
    end = w + strcspn(w, " ");
    *s = *end != '\0' ? end + 1 : end;
    *end = '\0';
    return w;
}

/* Runs one command line (NUL-terminated, modifiable) and writes its reply
 * into out.  Returns 1 if the client asked to quit. */
static int
run(char *line, char *out, size_t n)
{
    char *rest = line, *cmd = word(&rest), *key = word(&rest);

    if (cmd == NULL) {
        snprintf(out, n, "ERR empty line");
    } else if (strcmp(cmd, "SET") == 0 && key != NULL && *rest != '\0') {
        snprintf(out, n, "%s", store_set(key, rest));
    } else if (strcmp(cmd, "GET") == 0 && key != NULL && *rest == '\0') {
        store_get(key, out, n);
    } else if (strcmp(cmd, "DEL") == 0 && key != NULL && *rest == '\0') {
        snprintf(out, n, "%s", store_del(key));
    } else if (strcmp(cmd, "QUIT") == 0 && key == NULL) {
        snprintf(out, n, "BYE");
        return 1;
    } else if (strcmp(cmd, "SET") == 0 || strcmp(cmd, "GET") == 0 ||
               strcmp(cmd, "DEL") == 0 || strcmp(cmd, "QUIT") == 0) {
        snprintf(out, n, "ERR usage: SET key value | GET key | DEL key | "
                         "QUIT");
    } else {
        snprintf(out, n, "ERR unknown command '%.32s'", cmd);
    }
    return 0;
}

static void
on_message(tsl_server_t *srv, tsl_client_t *c, const uint8_t *msg,
           size_t len, void *ud)
{
    char line[LINE_MAX_LEN + 1], reply[LINE_MAX_LEN + 16];
    int quit, n;

    (void)srv, (void)ud;
    /* The framing caps len at LINE_MAX_LEN; the check keeps `line` safe
     * should the framing change. */
    if (len > LINE_MAX_LEN)
        return;
    if (memchr(msg, '\0', len) != NULL) {
        tsl_client_send(c, "ERR NUL in line\n", 16);
        return;
    }
    memcpy(line, msg, len);
    line[len] = '\0';
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    quit = run(line, reply, sizeof(reply) - 1);
    n = (int)strlen(reply);
    reply[n++] = '\n';
    tsl_client_send(c, reply, (size_t)n);
    /* The reply is written before the socket closes (the disconnect is
     * asked for here, done by the serving thread after this callback). */
    if (quit)
        tsl_client_disconnect(c);
}

static void
on_connected(tsl_server_t *srv, tsl_client_t *c, void *ud)
{
    (void)srv, (void)ud;
    printf("connect %llu %s:%u\n", (unsigned long long)tsl_client_id(c),
           tsl_client_ip(c), tsl_client_port(c));
}

static void
on_disconnected(tsl_server_t *srv, tsl_client_t *c, tsl_reason_t why,
                void *ud)
{
    (void)srv, (void)ud;
    printf("disconnect %llu %s\n", (unsigned long long)tsl_client_id(c),
           tsl_reason_name(why));
}

int
main(int argc, char **argv)
{
    tsl_callbacks_t cb = {.connected = on_connected,
                          .message = on_message,
                          .disconnected = on_disconnected};
    const char *addr = "127.0.0.1";
    unsigned long port = 0;
    tsl_server_t *srv = NULL;
    tsl_framing_t f;
    char spec[64], err[128] = "", *end;
    int o, rc, sig;

    while ((o = getopt(argc, argv, "a:p:")) != -1) {
        if (o == 'a') {
            addr = optarg;
        } else if (o == 'p') {
            port = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
                port > 65535)
                goto usage;
        } else {
            goto usage;
        }
    }
    if (optind != argc)
        goto usage;
    setvbuf(stdout, NULL, _IOLBF, 0);

    rc = tsl_signals_block();
    if (rc == 0)
        rc = tsl_server_create(&srv, "kv", addr, (uint16_t)port);
    if (rc == 0) {
        snprintf(spec, sizeof(spec), "delimiter:lf,max=%d", LINE_MAX_LEN);
        rc = tsl_framing_parse(spec, &f, err, sizeof(err));
    }
    if (rc == 0)
        rc = tsl_server_set_framing(srv, &f);
    if (rc == 0)
        rc = tsl_server_set_callbacks(srv, &cb, NULL);
    if (rc == 0)
        rc = tsl_server_start(srv);
    if (rc < 0) {
        fprintf(stderr, "kv: cannot serve on %s:%lu: %s%s%s\n", addr, port,
                tsl_strerror(rc), err[0] != '\0' ? ": " : "", err);
        if (srv != NULL)
            tsl_server_destroy(srv);
        return 1;
    }
    printf("kv: listening on %s:%u\n", tsl_server_ip(srv),
           tsl_server_port(srv));

    sig = tsl_signals_wait();
    if (sig < 0)
        fprintf(stderr, "kv: waiting for a signal: %s\n", tsl_strerror(sig));
    else
        printf("kv: %s, stopping\n", sig == SIGINT    ? "SIGINT"
                                     : sig == SIGTERM ? "SIGTERM"
                                                      : "SIGHUP");
    tsl_server_destroy(srv);
    /* No callback can run any more: the store is ours alone. */
    printf("kv: stopped; keys stored: %zu\n", store_count);
    store_clear();
    return 0;

usage:
    fprintf(stderr, "usage: example-kv [-a ADDR] [-p PORT]\n");
    return 2;
}
