/*
 * bus.h - in-process fan-out of the event log to live subscribers (the SSE
 * and WebSocket streams).
 *
 * The store appends events; after every commit that appended some, the
 * store's commit hook calls bus_committed(). The bus then reads the new
 * events once (the store renders each as text once), keeps the newest ones
 * in a ring, and wakes its subscribers. With no subscriber it reads nothing:
 * it notes the new end of the log, and a later subscriber catches up from
 * the store. A subscriber reads from its own cursor: from the
 * ring while it keeps up, and from the store (a page at a time) when it is
 * further behind than the ring holds, so that no event is skipped or
 * repeated, including events written while a client was away. Every
 * store read runs on the store's reader pool: the new events are read
 * with at most one read in flight (commits noticed meanwhile are read when
 * it lands), and a subscriber behind the ring gets NULL from bus_next()
 * (as when caught up) until its page lands, which calls its wake().
 *
 * Rules:
 *  - everything runs on the loop thread (the reads' run() aside);
 *  - bus_next() returns events in strictly increasing seq, each once per
 *    subscriber; the pointer stays valid until the next bus call;
 *  - a subscriber that reads slowly never slows the others: the bus keeps
 *    no per-subscriber queue, only the subscriber's cursor. Its transport
 *    decides when a client is too far behind (bounded output buffer).
 * With several msgd instances on PostgreSQL, bus_committed() is also
 * called for the other instances' commits (the store's change hook, fed
 * by LISTEN/NOTIFY: daemon.c); it reads what is new from the store
 * either way, so events reach subscribers in seq order whoever wrote them.
 */
#ifndef MSGD_BUS_H
#define MSGD_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

struct bus;
struct bus_sub;


int bus_open(struct bus **out, struct store *st, size_t ring_size);
void bus_close(struct bus *b);
/* Events up to last_seq are committed: read them and wake subscribers. */
void bus_committed(struct bus *b, int64_t last_seq);
/* Drop every event kept in memory (an erasure changed stored events):
 * subscribers behind the head read them again from the store. */
void bus_forget(struct bus *b);
/* The highest seq the bus has heard of (read into the ring or not yet). */
int64_t bus_head(const struct bus *b);
/* Is seq a valid cursor: 0..the end of the log as the bus knows it (every
 * commit of this instance; another instance's once its notice arrived)? */
bool bus_cursor_valid(struct bus *b, int64_t seq);

/* Follow the log from after `since`. wake() runs (on the loop) when events
 * newer than the cursor exist. */
struct bus_sub *bus_subscribe(struct bus *b, int64_t since, void (*wake)(void *arg), void *arg);
void bus_unsubscribe(struct bus_sub *s);
/* The next event after the cursor (advancing it), or NULL when caught up
 * or waiting for a page from the store (wake() runs when it lands), or when
 * the store could not be read (err is set then). Unsubscribing while a
 * page is read is safe: the page is dropped. */
const struct store_event *bus_next(struct bus_sub *s, bool *err);
int64_t bus_cursor(const struct bus_sub *s);

/* What a live stream shows: its organization's events (never another's),
 * optionally of one channel (by name) or one conversation. */
struct bus_filter {
	int64_t org_id;
	char *channel;              /* owned by the stream, or NULL */
	int64_t conversation_id;    /* or 0 */
};
bool bus_event_wanted(const struct bus_filter *f, const struct store_event *e);

#endif
