/*
 * pg_listen.h - hearing the other msgd instances on one PostgreSQL
 * database (pg_listen.c): LISTEN on a connection and a thread of its own.
 */
#ifndef MSGD_STORE_PG_LISTEN_H
#define MSGD_STORE_PG_LISTEN_H

#include <stdint.h>

#include "store.h"

#define PG_CHANGES_CHANNEL "msgd_changes"   /* payload: a kind (store_change_name) */
#define PG_EVENTS_CHANNEL "msgd_events"     /* payload: the highest seq appended */
#define PG_LISTEN_APP_NAME "msgd listener"  /* its connection's application_name */

struct pg_listener;

/* Connect (in the background, again and again while the server is away)
 * and report on the thread: fn(arg, kinds, last_seq), as store.h's change
 * hook says. Notifications from the server process *writer_pid (this
 * msgd's writer, changed by a reconnect) are left out. 0, or -1. */
int pg_listen_start(struct pg_listener **out, const char *dsn, const _Atomic int *writer_pid,
    store_change_fn fn, void *arg);
/* Stop the thread and close its connection (NULL is fine). */
void pg_listen_stop(struct pg_listener *l);

#endif
