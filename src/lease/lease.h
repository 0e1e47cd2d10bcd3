/*
 * lease.h - named leases: work that one msgd instance at a time may do
 * when several share one database (PostgreSQL).
 *
 * A lease is a row of the leases table (name, owner, until_ms): "channel:<id>"
 * for who dispatches a channel (outbox), "hook:<id>" for who delivers an
 * event webhook subscription (hooks), "instance:<instance id>" held by each
 * live instance for itself (how many share the database: the API's rate
 * limits divide by it). Modules say which names they want;
 * every tick (a third of the lease, at most a second) one store op takes or
 * renews all of them at once: a name is taken when it is free, already
 * ours, or its holder let it run out (until_ms passed). Whoever holds a
 * name does its work; the others skip it, and take over within one lease
 * of the holder's death. A clean shutdown deletes our rows so another
 * instance takes over at its next tick.
 *
 * Rules:
 *  - leases_held() is what a module MUST ask before doing a name's work:
 *    true only while the last committed renewal says so and its lease has
 *    not run out on our monotonic clock (a renewal that failed or is late
 *    makes it false in time, before another instance may take over);
 *  - listeners hear of every change (taken, lost) after the op committed,
 *    on the loop; a module that takes a name over MUST re-read the state
 *    the previous holder may have changed (a webhook cursor) before it
 *    works on it;
 *  - instance ids MUST differ between instances, and their wall clocks
 *    agree to well within a lease (until_ms is compared across machines).
 *
 * With SQLite (one process per database, by the data directory lock) the
 * same code runs; leases_start(exclusive) first clears the table, so this
 * process holds everything from its first tick.
 *
 * Everything runs on the loop thread.
 */
#ifndef MSGD_LEASE_H
#define MSGD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct store;
struct leases;

#define LEASE_NAME_MAX 80        /* "channel:<id>", "hook:<id>", "instance:<instance id>" */
#define LEASE_LISTENERS_MAX 4
#define LEASE_TICK_MAX_MS 1000   /* take and renew at least this often */

/* A name was taken (held true) or lost (false). */
typedef void (*lease_fn)(void *arg, const char *name, bool held);

/* Start renewing for owner (the instance id) with leases of lease_ms.
 * exclusive: the database is this process's alone (SQLite): every lease
 * row left by an earlier run is deleted first. */
int leases_start(struct leases **out, struct event_base *base, struct store *st,
    const char *owner, int64_t lease_ms, bool exclusive);
const char *leases_owner(const struct leases *ls);
/* Want a name (no-op when wanted already); a new one is tried at once. */
void leases_want(struct leases *ls, const char *name);
/* No longer wanted: not renewed (it runs out); held becomes false now. */
void leases_unwant(struct leases *ls, const char *name);
bool leases_held(struct leases *ls, const char *name);
void leases_listen(struct leases *ls, lease_fn fn, void *arg);
/* Shutting down (after the loop): stop renewing and delete our rows, so
 * another instance takes over at once. Waits for the commit. */
void leases_release(struct leases *ls);
void leases_stop(struct leases *ls);

#endif
