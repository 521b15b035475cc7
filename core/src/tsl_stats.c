/*
 * tsl_stats.c - server statistics: snapshot and JSON.
 *
 * The counters themselves are atomics in struct tsl_counters, bumped by
 * whichever thread sees the event; a snapshot reads each with relaxed
 * order, so counters are individually exact but not a single instant.
 * Per-client counters live in the client under its lock (tsl_client.c);
 * their snapshot, with what the serving owner has staged this turn
 * (tsl_output.c), and their JSON form are made here.
 */
#include <stdio.h>
#include <string.h>

#include "tsl_internal.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void
tsl_client_stats(tsl_client_t *c, tsl_client_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->id = c->id;
    tsl__client_lock(c);
    out->bytes_in = c->st.bytes_in;
    out->bytes_out = c->st.bytes_out;
    out->msgs_in = atomic_load_explicit(&c->msgs_in, memory_order_relaxed);
    out->msgs_out = c->st.msgs_out;
    out->keepalives_in = c->st.keepalives_in;
    out->keepalives_out = c->st.keepalives_out;
    out->protocol_errors = c->st.protocol_errors;
    out->out_queued = tsl__outq_len(&c->out);
    out->out_queued_peak = c->st.out_queued_peak;
    out->connect_time_ms = c->st.connect_time_ms;
    out->last_recv_ms = c->st.last_recv_ms;
    out->last_send_ms = c->st.last_send_ms;
    out->threaded = c->threaded;
    out->migrations = c->st.migrations;
    tsl__output_staged_stats_locked(c, out);
    tsl__client_unlock(c);
}

void
tsl_server_stats(tsl_server_t *srv, tsl_server_stats_t *out)
{
    const struct tsl_counters *k = &srv->ctr;
    int i;

    out->accepted = LOAD(k->accepted);
    for (i = 0; i < TSL_REJECT_COUNT; i++)
        out->rejected[i] = LOAD(k->rejected[i]);
    for (i = 0; i < TSL_REASON_COUNT; i++)
        out->disconnected[i] = LOAD(k->disconnected[i]);
    out->accept_errors = LOAD(k->accept_errors);
    out->current_clients = LOAD(k->current);
    out->peak_clients = LOAD(k->peak);
    out->bytes_in = LOAD(k->bytes_in);
    out->bytes_out = LOAD(k->bytes_out);
    out->msgs_in = LOAD(k->msgs_in);
    out->msgs_out = LOAD(k->msgs_out);
    out->keepalives_in = LOAD(k->keepalives_in);
    out->protocol_errors = LOAD(k->protocol_errors);
}

/* snprintf that keeps counting past the end of the buffer. */
#define PUT(...)                                                              \
    do {                                                                      \
        int n_ = snprintf(used < len ? buf + used : NULL,                     \
                          used < len ? len - used : 0, __VA_ARGS__);          \
        if (n_ < 0)                                                           \
            return TSL_EINVAL;                                                \
        used += (size_t)n_;                                                   \
    } while (0)

int
tsl_server_stats_json(tsl_server_t *srv, char *buf, size_t len)
{
    tsl_server_stats_t s;
    size_t used = 0;
    int i;

    if (buf == NULL)
        len = 0;
    tsl_server_stats(srv, &s);
    PUT("{\"accepted\":%llu,\"rejected\":{", (unsigned long long)s.accepted);
    for (i = 0; i < TSL_REJECT_COUNT; i++)
        PUT("%s\"%s\":%llu", i ? "," : "", tsl_reject_name((tsl_reject_t)i),
            (unsigned long long)s.rejected[i]);
    PUT("},\"disconnected\":{");
    for (i = 0; i < TSL_REASON_COUNT; i++)
        PUT("%s\"%s\":%llu", i ? "," : "", tsl_reason_name((tsl_reason_t)i),
            (unsigned long long)s.disconnected[i]);
    PUT("},\"accept_errors\":%llu,\"current_clients\":%llu,"
        "\"peak_clients\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
        "\"msgs_in\":%llu,\"msgs_out\":%llu,\"keepalives_in\":%llu,"
        "\"protocol_errors\":%llu}",
        (unsigned long long)s.accept_errors,
        (unsigned long long)s.current_clients,
        (unsigned long long)s.peak_clients, (unsigned long long)s.bytes_in,
        (unsigned long long)s.bytes_out, (unsigned long long)s.msgs_in,
        (unsigned long long)s.msgs_out, (unsigned long long)s.keepalives_in,
        (unsigned long long)s.protocol_errors);
    return used > (size_t)INT32_MAX ? TSL_EINVAL : (int)used;
}

int
tsl_client_stats_json(tsl_client_t *c, char *buf, size_t len)
{
    tsl_client_stats_t s;
    size_t used = 0;

    if (buf == NULL)
        len = 0;
    tsl_client_stats(c, &s);
    PUT("{\"id\":%llu,\"client\":\"%s:%u\",\"mode\":\"%s\","
        "\"bytes_in\":%llu,\"bytes_out\":%llu,\"msgs_in\":%llu,"
        "\"msgs_out\":%llu,\"keepalives_in\":%llu,\"keepalives_out\":%llu,"
        "\"protocol_errors\":%llu,\"out_queued\":%llu,"
        "\"out_queued_peak\":%llu,\"connect_time_ms\":%lld,"
        "\"last_recv_ms\":%lld,\"last_send_ms\":%lld,\"migrations\":%u}",
        (unsigned long long)s.id, tsl_client_ip(c), tsl_client_port(c),
        s.threaded ? "threaded" : "multiplexed",
        (unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out,
        (unsigned long long)s.msgs_in, (unsigned long long)s.msgs_out,
        (unsigned long long)s.keepalives_in,
        (unsigned long long)s.keepalives_out,
        (unsigned long long)s.protocol_errors,
        (unsigned long long)s.out_queued,
        (unsigned long long)s.out_queued_peak, (long long)s.connect_time_ms,
        (long long)s.last_recv_ms, (long long)s.last_send_ms, s.migrations);
    return used > (size_t)INT32_MAX ? TSL_EINVAL : (int)used;
}
