/*
 * tsl_clientdb.c - the client database (the course's DBMS).
 *
 * Owns the list of a server's connected clients and one reference on each.
 * Touched by the acceptor (add), by the thread serving a client (remove,
 * when it finishes the client) and by application threads (lookups).  One
 * mutex, held only for list surgery or a walk; nothing else is locked
 * while it is held, and lookups return a new reference so the caller never
 * sees a freed client.  Lookups are linear: they serve the CLI and the
 * application, never the data path.  Keys are not assumed unique: the
 * course asserted (ip, port) uniqueness and aborted on a self-connection.
 */
#include <string.h>

#include "tsl_internal.h"
#include "tsl_sys.h"

void
tsl__db_init(struct tsl_clientdb *db)
{
    pthread_mutex_init(&db->lock, NULL);
    db->head = NULL;
    db->count = 0;
}

void
tsl__db_fini(struct tsl_clientdb *db)
{
    TSL_ASSERT(db->head == NULL && db->count == 0);
    pthread_mutex_destroy(&db->lock);
}

void
tsl__db_add(struct tsl_clientdb *db, struct tsl_client *c)
{
    tsl_client_ref(c);
    pthread_mutex_lock(&db->lock);
    TSL_ASSERT(!c->in_db);
    c->db_prev = NULL;
    c->db_next = db->head;
    if (db->head != NULL)
        db->head->db_prev = c;
    db->head = c;
    c->in_db = true;
    db->count++;
    pthread_mutex_unlock(&db->lock);
}

bool
tsl__db_remove(struct tsl_clientdb *db, struct tsl_client *c)
{
    bool was;

    pthread_mutex_lock(&db->lock);
    was = c->in_db;
    if (was) {
        if (c->db_prev != NULL)
            c->db_prev->db_next = c->db_next;
        else
            db->head = c->db_next;
        if (c->db_next != NULL)
            c->db_next->db_prev = c->db_prev;
        c->db_prev = c->db_next = NULL;
        c->in_db = false;
        db->count--;
    }
    pthread_mutex_unlock(&db->lock);
    if (was)
        tsl_client_unref(c);
    return was;
}

size_t
tsl__db_count(struct tsl_clientdb *db)
{
    size_t n;

    pthread_mutex_lock(&db->lock);
    n = db->count;
    pthread_mutex_unlock(&db->lock);
    return n;
}

struct tsl_client *
tsl__db_find_id(struct tsl_clientdb *db, uint64_t id)
{
    struct tsl_client *c;

    pthread_mutex_lock(&db->lock);
    for (c = db->head; c != NULL; c = c->db_next)
        if (c->id == id)
            break;
    if (c != NULL)
        tsl_client_ref(c);
    pthread_mutex_unlock(&db->lock);
    return c;
}

struct tsl_client *
tsl__db_find_addr(struct tsl_clientdb *db, const char *ip, uint16_t port)
{
    struct tsl_client *c;

    pthread_mutex_lock(&db->lock);
    for (c = db->head; c != NULL; c = c->db_next)
        if (c->port == port && strcmp(tsl_client_ip(c), ip) == 0)
            break;
    if (c != NULL)
        tsl_client_ref(c);
    pthread_mutex_unlock(&db->lock);
    return c;
}

int
tsl__db_snapshot(struct tsl_clientdb *db, struct tsl_client ***out, size_t *n)
{
    struct tsl_client **a = NULL, *c;
    size_t cap = 0, k = 0;

    for (;;) {
        pthread_mutex_lock(&db->lock);
        if (db->count <= cap) {
            for (c = db->head; c != NULL; c = c->db_next) {
                tsl_client_ref(c);
                a[k++] = c;
            }
            pthread_mutex_unlock(&db->lock);
            break;
        }
        cap = db->count + 16; /* room for some arriving meanwhile */
        pthread_mutex_unlock(&db->lock);
        tsl__sys->free(a);
        if ((a = tsl__sys->malloc(cap * sizeof(*a))) == NULL)
            return TSL_ENOMEM;
    }
    *out = a;
    *n = k;
    return 0;
}
