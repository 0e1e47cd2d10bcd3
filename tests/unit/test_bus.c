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

/* Read up to max events; every seq must be the cursor + 1. */
static int64_t
read_n(struct bus_sub *s, int64_t cursor, int max)
{
	const struct store_event *e;
	bool err = false;
	for (int i = 0; i < max && (e = bus_next(s, &err)) != NULL; i++) {
		assert_int_equal(e->seq, cursor + 1);
		assert_non_null(e->json);
		cursor = e->seq;
	}
	assert_false(err);
	return cursor;
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
	assert_true(woken > 0);
	/* Catch up from the store, then onto the ring: a page is left over. */
	int64_t cur = read_n(s, 0, 100000);
	assert_int_equal(cur, head);
	/* Fall behind the ring again: no event may come twice or out of order. */
	head = ingest(f, 100);
	bus_committed(b, head);
	cur = read_n(s, cur, 100000);
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
	assert_int_equal(read_n(s, e->seq, 100000), head);
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
	int64_t head = ingest(f, 10);
	bus_committed(b, head);
	assert_int_equal(woken, 1);
	assert_int_equal(read_n(s, 0, 100), head);
	assert_int_equal(bus_cursor(s), head);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
