/* test_bus.c - the event bus: ring, catch-up from the store, cursors never step back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "bus/bus.h"
#include "store/store.h"
#include "util/util.h"

struct fx {
	char dir[64];
	struct event_base *base;
	struct store *st;
	int64_t channel;
	int n;                      /* messages ingested so far */
	int woken;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/msgd-test-bus-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->base = event_base_new();
	struct store_config cfg = { .data_dir = f->dir };
	assert_int_equal(store_open(&f->st, &cfg, f->base), 0);
	struct store_op op = { .kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = "sb", .type = "sandbox", .config_json = "{}" } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	f->channel = op.u.channel.id;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	store_close(f->st);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	(void)!system(cmd);
	free(f);
	return 0;
}

/* Append n message.received events; returns the new head seq. */
static int64_t
ingest(struct fx *f, int n)
{
	struct ingest_batch b = { 0 };
	for (int i = 0; i < n; i++, f->n++) {
		struct msg_in *m = ingest_batch_add_msg(&b);
		m->channel_id = f->channel;
		m->direction = DIR_IN;
		m->provider_message_id = xasprintf("p%d", f->n);
		m->from = xstrdup("1555");
		m->to = xstrdup("sb");
		m->contact_address = xstrdup("1555");
		m->type = xstrdup("text");
		m->text = xasprintf("message %d", f->n);
		m->timestamp = 1749416383;
		m->raw = xstrdup("{}");
	}
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	ingest_batch_free(&b);
	int64_t head = 0;
	assert_int_equal(store_events_head(f->st, &head), 0);
	return head;
}

static void
wake(void *arg)
{
	(*(int *)arg)++;
}

/* Run the loop until the store's reads in flight have come back. */
static void
settle(struct fx *f)
{
	while (store_pending(f->st) > 0)
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
}

/* Read until caught up, the loop running whenever the bus waits for a page
 * (bus_next() NULL while reads are in flight); every seq must be the
 * cursor + 1. *parked counts the waits, when not NULL. */
static int64_t
read_all(struct fx *f, struct bus_sub *s, int64_t cursor, int *parked)
{
	const struct store_event *e;
	bool err = false;
	for (;;) {
		while ((e = bus_next(s, &err)) != NULL) {
			assert_int_equal(e->seq, cursor + 1);
			assert_non_null(e->json);
			cursor = e->seq;
		}
		assert_false(err);
		if (store_pending(f->st) == 0)
			return cursor;
		if (parked)
			(*parked)++;
		settle(f);
	}
}

static void
test_catch_up_then_fall_behind_again(void **state)
{
	struct fx *f = *state;
	struct bus *b;

	int64_t head = ingest(f, 1000);
	assert_int_equal(bus_open(&b, f->st, 16), 0);
	assert_int_equal(bus_head(b), head);
	int woken = 0;
	struct bus_sub *s = bus_subscribe(b, 0, wake, &woken);

	/* New events fill the ring (16 newest); the subscriber is far behind. */
	head = ingest(f, 20);
	bus_committed(b, head);
	settle(f);
	assert_true(woken > 0);
	/* Catch up from the store, then onto the ring: a page is left over. */
	int64_t cur = read_all(f, s, 0, NULL);
	assert_int_equal(cur, head);
	/* Fall behind the ring again: no event may come twice or out of order. */
	head = ingest(f, 100);
	bus_committed(b, head);
	settle(f);
	cur = read_all(f, s, cur, NULL);
	assert_int_equal(cur, head);
	bus_unsubscribe(s);
	bus_close(b);
}

/* With nobody following, the bus reads nothing but the new end of the log;
 * whoever subscribes later catches up from the store, in order, and each
 * event's text is the JSON object GET /v1/events shows. */
static void
test_no_subscriber_reads_nothing(void **state)
{
	struct fx *f = *state;
	struct bus *b;
	int woken = 0;
	const struct store_event *e;
	bool err = false;

	assert_int_equal(bus_open(&b, f->st, 16), 0);
	int64_t start = bus_head(b);
	int64_t head = ingest(f, 40);
	bus_committed(b, head);
	assert_int_equal(bus_head(b), head);
	struct bus_sub *s = bus_subscribe(b, start, wake, &woken);
	/* Behind the (empty) ring: the page is read off the loop. */
	assert_null(bus_next(s, &err));
	assert_false(err);
	settle(f);
	assert_int_equal(woken, 1);
	assert_non_null(e = bus_next(s, &err));
	assert_int_equal(e->seq, start + 1);
	json_t *v = json_loadb(e->json, e->len, 0, NULL);
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_object_get(v, "seq")), e->seq);
	assert_string_equal(json_string_value(json_object_get(v, "type")), "message.received");
	assert_true(json_is_string(json_object_get(v, "at")));
	assert_true(json_is_object(json_object_get(v, "data")));
	assert_int_equal(json_integer_value(json_object_get(v, "conversation_id")), e->conversation_id);
	json_decref(v);
	assert_int_equal(read_all(f, s, e->seq, NULL), head);
	bus_unsubscribe(s);
	bus_close(b);
}

static void
test_live_follower_reads_from_the_ring(void **state)
{
	struct fx *f = *state;
	struct bus *b;

	assert_int_equal(bus_open(&b, f->st, 64), 0);
	int woken = 0;
	struct bus_sub *s = bus_subscribe(b, bus_head(b), wake, &woken);
	bool err;
	assert_null(bus_next(s, &err));
	int64_t start = bus_head(b);
	int64_t head = ingest(f, 10);
	bus_committed(b, head);
	/* The new events are read off the loop: nothing yet, then the wake. */
	assert_int_equal(woken, 0);
	settle(f);
	assert_int_equal(woken, 1);
	int parked = 0;
	assert_int_equal(read_all(f, s, start, &parked), head);
	assert_int_equal(parked, 0);  /* all from the ring */
	assert_int_equal(bus_cursor(s), head);
	bus_unsubscribe(s);
	bus_close(b);
}

/* A subscriber far behind (several pages, many rings) gets every event
 * once, in order, through pages read off the loop; each page's arrival
 * wakes it, and commits arriving meanwhile change nothing of that. */
static void
test_far_behind_pages_off_the_loop(void **state)
{
	struct fx *f = *state;
	struct bus *b;
	int woken = 0;

	assert_int_equal(bus_open(&b, f->st, 16), 0);
	int64_t start = bus_head(b);
	int64_t head = ingest(f, 1700);  /* over 3 pages, over 100 rings */
	bus_committed(b, head);
	struct bus_sub *s = bus_subscribe(b, start, wake, &woken);
	int parked = 0, cur = (int)start;
	const struct store_event *e;
	bool err = false;
	bool more = true;
	while (cur < head) {
		while ((e = bus_next(s, &err)) != NULL) {
			assert_int_equal(e->seq, cur + 1);
			cur = (int)e->seq;
		}
		assert_false(err);
		if (cur == head)
			break;
		/* Waiting for a page: a commit meanwhile must not disturb it. */
		parked++;
		int w = woken;
		if (more) {
			int64_t h = ingest(f, 5);
			bus_committed(b, h);
			head = h;
			more = parked < 3;
		}
		settle(f);
		assert_true(woken > w);
	}
	assert_int_equal(cur, head);
	assert_true(parked >= 4);  /* 1,715 events at 500 a page */
	assert_null(bus_next(s, &err));
	assert_false(err);
	bus_unsubscribe(s);
	bus_close(b);
}

/* Unsubscribing, or closing the bus, while reads are in flight: the reads
 * land later and are dropped (ASan checks nothing freed is touched). */
static void
test_unsubscribe_while_reading(void **state)
{
	struct fx *f = *state;
	struct bus *b;
	int woken = 0, woken2 = 0;
	bool err = false;

	assert_int_equal(bus_open(&b, f->st, 16), 0);
	int64_t start = bus_head(b);
	int64_t head = ingest(f, 600);
	bus_committed(b, head);
	struct bus_sub *s = bus_subscribe(b, start, wake, &woken);
	struct bus_sub *s2 = bus_subscribe(b, start, wake, &woken2);
	assert_null(bus_next(s, &err));
	assert_null(bus_next(s2, &err));
	assert_true(store_pending(f->st) > 0);
	bus_unsubscribe(s);
	head = ingest(f, 3);
	bus_committed(b, head);   /* the bus's own read, in flight */
	settle(f);
	assert_int_equal(woken, 0);
	assert_true(woken2 > 0);
	assert_int_equal(read_all(f, s2, start, NULL), head);
	/* Close with a page and the bus's read in flight. */
	struct bus_sub *s3 = bus_subscribe(b, start, wake, &woken);
	assert_null(bus_next(s3, &err));
	head = ingest(f, 3);
	bus_committed(b, head);
	assert_true(store_pending(f->st) >= 2);
	bus_close(b);
	settle(f);
	assert_int_equal(woken, 0);
}

/* Without a loop the store reads inline: the same order, nothing parked. */
static void
test_inline_reads(void **state)
{
	struct fx *f = *state;
	struct store *st;
	struct bus *b;
	int woken = 0;

	int64_t head = ingest(f, 50);
	store_close(f->st);
	struct store_config cfg = { .data_dir = f->dir };
	assert_int_equal(store_open(&st, &cfg, NULL), 0);
	f->st = st;
	assert_int_equal(bus_open(&b, st, 16), 0);
	struct bus_sub *s = bus_subscribe(b, 0, wake, &woken);
	int parked = 0;
	assert_int_equal(read_all(f, s, 0, &parked), head);
	assert_int_equal(parked, 0);
	int64_t h2 = ingest(f, 20);
	bus_committed(b, h2);
	assert_true(woken > 0);
	assert_int_equal(read_all(f, s, head, &parked), h2);
	assert_int_equal(parked, 0);
	bus_unsubscribe(s);
	bus_close(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_catch_up_then_fall_behind_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_subscriber_reads_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_follower_reads_from_the_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_far_behind_pages_off_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsubscribe_while_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_reads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
