/*
 * test_store_notify.c - what a transaction tells other instances on the same
 * database (store.h, "Several instances"): the kinds an op changes, and, on
 * PostgreSQL (MSGD_TEST_DATABASE), the NOTIFYs of committed ops only, and a
 * second store hearing them through its change hook while the store that
 * made them does not.
 */
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
#include <libpq-fe.h>

#include "core/model.h"
#include "store/store.h"
#include "util/util.h"

#define WAIT_MS 10000

static void
test_change_names(void **state)
{
	unsigned all = 0;

	for (unsigned k = 1; k <= STORE_CHANGE_ALL; k <<= 1) {
		const char *name = store_change_name(k);
		assert_non_null(name);
		assert_int_equal(store_change_from_name(name), k);
		all |= k;
	}
	assert_int_equal(all, STORE_CHANGE_ALL);
	assert_null(store_change_name(0));
	assert_null(store_change_name(STORE_CHANGE_CHANNELS | STORE_CHANGE_KEYS));
	assert_int_equal(store_change_from_name("nothing"), 0);
	assert_int_equal(store_op_changes(STORE_OP_CHANNEL_UPDATE), STORE_CHANGE_CHANNELS);
	assert_int_equal(store_op_changes(STORE_OP_API_KEY_PUT), STORE_CHANGE_KEYS);
	assert_true(store_op_changes(STORE_OP_USER_PASSWORD) & STORE_CHANGE_SESSIONS);
	assert_int_equal(store_op_changes(STORE_OP_SUBSCRIPTION_ADVANCE), STORE_CHANGE_SUBSCRIPTIONS);
	assert_int_equal(store_op_changes(STORE_OP_INGEST), 0);
	assert_int_equal(store_op_changes(STORE_OP_PROBE), 0);
}

/* --- PostgreSQL --- */

struct heard {
	unsigned kinds;
	int64_t seq;
	int calls;
};

static void
on_change(void *arg, unsigned kinds, int64_t last_seq)
{
	struct heard *h = arg;

	h->kinds |= kinds;
	if (last_seq > h->seq)
		h->seq = last_seq;
	h->calls++;
}

static PGconn *
pg_connect(const char *dsn)
{
	PGconn *c = PQconnectdb(dsn);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	return c;
}

static void
pg_cmd(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Run the loop until *done, with a deadline. */
static void
loop_until(struct event_base *base, bool (*cond)(void *), void *arg)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct timeval tick = { 0, 20 * 1000 };

	while (!cond(arg)) {
		assert_true(mono_ms() < deadline);
		event_base_loopexit(base, &tick);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static bool
heard_all(void *arg)
{
	return ((struct heard *)arg)->kinds == STORE_CHANGE_ALL;
}

static bool
heard_channels(void *arg)
{
	return (((struct heard *)arg)->kinds & STORE_CHANGE_CHANNELS) != 0;
}

struct seq_wait {
	struct heard *h;
	int64_t seq;
};

static bool
heard_seq(void *arg)
{
	struct seq_wait *w = arg;
	return w->h->seq >= w->seq;
}

/* The next notification on c (waiting up to WAIT_MS): "channel:payload". */
static void
next_notify(PGconn *c, char *out, size_t cap)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	PGnotify *n;

	for (;;) {
		assert_int_equal(PQconsumeInput(c), 1);
		if ((n = PQnotifies(c)) != NULL)
			break;
		assert_true(mono_ms() < deadline);
		usleep(10 * 1000);
	}
	snprintf(out, cap, "%s:%s", n->relname, n->extra);
	PQfreemem(n);
}

static int64_t
channel_op(struct store *st, const char *name, int want)
{
	struct store_op op = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = name, .type = "sandbox", .config_json = "{}" },
	};

	assert_int_equal(store_submit_wait(st, &op), want);
	return op.u.channel.id;
}

static void
test_notify_pg(void **state)
{
	const char *cluster = getenv("MSGD_TEST_DATABASE");
	char dbname[48], sql[96], got[128], root[] = "/tmp/msgd-test-notify-XXXXXX";

	if (cluster == NULL || strncmp(cluster, "postgres", 8) != 0)
		skip();
	assert_non_null(mkdtemp(root));
	snprintf(dbname, sizeof(dbname), "t_notify_%d", (int)getpid());
	PGconn *admin = pg_connect(cluster);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	pg_cmd(admin, sql);
	const char *slash = strrchr(cluster, '/');
	char *dsn = xasprintf("%.*s/%s", (int)(slash - cluster), cluster, dbname);

	struct event_base *base = event_base_new();
	struct store_config cfg = { .data_dir = root, .database = dsn };
	struct store *a, *b;
	struct heard ha = { 0 }, hb = { 0 };
	assert_int_equal(store_open(&a, &cfg, base), 0);
	assert_int_equal(store_open(&b, &cfg, base), 0);
	assert_int_equal(store_set_change_hook(a, on_change, &ha), 0);
	assert_int_equal(store_set_change_hook(b, on_change, &hb), 0);
	/* Connected: everything may have changed. */
	loop_until(base, heard_all, &ha);
	loop_until(base, heard_all, &hb);
	ha = (struct heard){ 0 };
	hb = (struct heard){ 0 };

	PGconn *l = pg_connect(dsn);
	pg_cmd(l, "LISTEN msgd_changes; LISTEN msgd_events");

	/* A's commit: B hears it, A does not hear itself. */
	int64_t c1 = channel_op(a, "c1", 0);
	next_notify(l, got, sizeof(got));
	assert_string_equal(got, "msgd_changes:channels");
	loop_until(base, heard_channels, &hb);
	assert_int_equal(ha.kinds, 0);

	/* A failed op tells nothing; the next commit's notification is the next. */
	channel_op(a, "c1", -1);
	struct store_op tpl = {
		.kind = STORE_OP_TEMPLATE_PUT,
		.u.template = { .name = "t1", .language = "en", .body = "hi" },
	};
	assert_int_equal(store_submit_wait(a, &tpl), 0);
	next_notify(l, got, sizeof(got));
	assert_string_equal(got, "msgd_changes:templates");

	/* Events: the highest seq, once per transaction. */
	struct ingest_batch batch = { 0 };
	struct msg_in *m = ingest_batch_add_msg(&batch);
	m->channel_id = c1;
	m->direction = DIR_IN;
	m->provider_message_id = xstrdup("wamid.notify.1");
	m->from = xstrdup("15550001111");
	m->to = xstrdup("15550783881");
	m->contact_address = xstrdup("15550001111");
	m->type = xstrdup("text");
	m->text = xstrdup("hello");
	m->timestamp = 1749416383;
	m->raw = xstrdup("{}");
	struct store_op ing = { .kind = STORE_OP_INGEST, .u.ingest = &batch };
	assert_int_equal(store_submit_wait(b, &ing), 0);
	assert_true(ing.last_seq > 0);
	ingest_batch_free(&batch);
	char want[64];
	snprintf(want, sizeof(want), "msgd_events:%lld", (long long)ing.last_seq);
	next_notify(l, got, sizeof(got));
	assert_string_equal(got, want);
	struct seq_wait sw = { .h = &ha, .seq = ing.last_seq };
	loop_until(base, heard_seq, &sw);
	assert_int_equal(hb.seq, 0);  /* not its own */

	PQfinish(l);
	store_close(a);
	store_close(b);
	event_base_free(base);
	snprintf(sql, sizeof(sql), "DROP DATABASE %s", dbname);
	pg_cmd(admin, sql);
	PQfinish(admin);
	free(dsn);
	rmdir(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change_names),
		cmocka_unit_test(test_notify_pg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
