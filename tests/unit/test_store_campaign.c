/*
 * test_store_campaign.c - campaigns in the store (apply_campaign.c,
 * read_campaign.c): a chunk makes recipients and messages only where the
 * campaign's `created` is (a repeat is refused), skips blocked contacts;
 * the counters follow the messages' statuses forward only and count a
 * reply once; the tick completes a campaign and appends campaign.progress;
 * pause holds, cancel cancels, impossible transitions conflict; a chunk's
 * messages (set-based on PostgreSQL) are those the ingest path makes. SQLite in a
 * temporary directory, or, with MSGD_TEST_DATABASE, a fresh PostgreSQL
 * database.
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
#include <libpq-fe.h>

#include "store/store.h"
#include "util/util.h"

struct fx {
	char root[64], data[96], dbname[32];
	char *dsn;
	struct store *st;
	int64_t channel;
};

static void
pg_admin(const char *cluster, const char *sql)
{
	PGconn *c = PQconnectdb(cluster);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int
submit(struct fx *f, struct store_op *op)
{
	int rc = store_submit_wait(f->st, op);

	if (rc != 0 && op->err != STORE_CONFLICT && op->err != STORE_NOTFOUND)
		fail_msg("op %d failed: %s", (int)op->kind, op->errmsg);
	return rc;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	const char *cluster = getenv("MSGD_TEST_DATABASE");

	snprintf(f->root, sizeof(f->root), "/tmp/msgd-test-camp-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->data, sizeof(f->data), "%s/data", f->root);
	if (cluster && *cluster) {
		snprintf(f->dbname, sizeof(f->dbname), "camp_%s", strrchr(f->root, '-') + 1);
		for (char *p = f->dbname; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		char *sql = xasprintf("CREATE DATABASE %s", f->dbname);
		pg_admin(cluster, sql);
		free(sql);
		const char *slash = strrchr(cluster, '/');
		f->dsn = xasprintf("%.*s/%s", (int)(slash - cluster), cluster, f->dbname);
	}
	struct store_config cfg = { .data_dir = f->data, .database = f->dsn };
	assert_int_equal(store_open(&f->st, &cfg, NULL), 0);
	struct store_op ch = { .kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = "wa", .type = "sandbox", .config_json = "{}" } };
	assert_int_equal(submit(f, &ch), 0);
	f->channel = ch.u.channel.id;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->root);

	store_close(f->st);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	if (f->dsn) {
		char *sql = xasprintf("DROP DATABASE %s", f->dbname);
		pg_admin(getenv("MSGD_TEST_DATABASE"), sql);
		free(sql);
		free(f->dsn);
	}
	free(f);
	return 0;
}

static int64_t
campaign(struct fx *f, int64_t total)
{
	struct store_op op = { .kind = STORE_OP_CAMPAIGN_CREATE, .u.campaign = { .name = "c", .channel_id = f->channel,
		.source_json = "{\"recipients\":[]}", .content_json = "{\"text\":\"hi\"}", .total = total } };

	assert_int_equal(submit(f, &op), 0);
	assert_true(op.u.campaign.id > 0);
	return op.u.campaign.id;
}

/* A chunk: addresses from start; "-" marks a recipient skipped as a duplicate. */
static int
chunk(struct fx *f, int64_t id, int64_t start, const char *const *addrs, size_t n, struct store_op *op,
    int64_t *mids)
{
	struct ingest_batch b = { 0 };
	struct campaign_rcpt r[8];

	for (size_t i = 0; i < n; i++) {
		r[i] = (struct campaign_rcpt){ .idx = start + (int64_t)i, .address = (char *)addrs[i], .msg = -1 };
		if (strcmp(addrs[i], "-") == 0) {
			r[i].skip_reason = "duplicate";
			continue;
		}
		struct msg_in *m = ingest_batch_add_msg(&b);
		m->channel_id = f->channel;
		m->direction = DIR_OUT;
		m->from = xstrdup("wa");
		m->to = xstrdup(addrs[i]);
		m->contact_address = xstrdup(addrs[i]);
		m->type = xstrdup("text");
		m->text = xstrdup("hi");
		m->raw = xstrdup("{}");
		m->status = ST_QUEUED;
		m->priority = 1;
		r[i].msg = (int)(b.nmsgs - 1);
	}
	*op = (struct store_op){ .kind = STORE_OP_CAMPAIGN_CHUNK,
		.u.chunk = { .id = id, .start = start, .rcpts = r, .n = n, .batch = &b } };
	int rc = submit(f, op);
	for (size_t i = 0; i < n; i++)
		mids[i] = r[i].msg >= 0 ? b.msgs[r[i].msg].id : 0;
	ingest_batch_free(&b);
	return rc;
}

static json_t *
get(struct fx *f, int64_t id)
{
	json_t *c = NULL;

	assert_int_equal(store_campaign_get(f->st, 0, id, &c), 0);
	assert_non_null(c);
	return c;
}

static int64_t
counter(json_t *c, const char *k)
{
	return json_integer_value(json_object_get(json_object_get(c, "counters"), k));
}

static void
status(struct fx *f, const char *pmid, const char *st)
{
	struct ingest_batch b = { 0 };
	struct status_in *s = ingest_batch_add_status(&b);

	s->channel_id = f->channel;
	s->provider_message_id = xstrdup(pmid);
	s->status = status_parse(st);
	s->raw = xstrdup("{}");
	s->timestamp = 1;
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(submit(f, &op), 0);
	ingest_batch_free(&b);
}

static void
inbound(struct fx *f, const char *from, const char *pmid)
{
	struct ingest_batch b = { 0 };
	struct msg_in *m = ingest_batch_add_msg(&b);

	m->channel_id = f->channel;
	m->direction = DIR_IN;
	m->provider_message_id = xstrdup(pmid);
	m->from = xstrdup(from);
	m->contact_address = xstrdup(from);
	m->type = xstrdup("text");
	m->text = xstrdup("thanks");
	m->raw = xstrdup("{}");
	m->timestamp = 1;
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(submit(f, &op), 0);
	ingest_batch_free(&b);
}

static int
control(struct fx *f, int64_t id, enum campaign_action a, char *st)
{
	struct store_op op = { .kind = STORE_OP_CAMPAIGN_CONTROL, .u.control = { .id = id, .action = a } };
	int rc = submit(f, &op);

	if (st)
		strcpy(st, op.u.control.status);
	return rc == 0 ? 0 : op.err == STORE_CONFLICT ? 409 : 404;
}

static bool
has_event(struct fx *f, const char *type)
{
	json_t *ev = NULL;
	size_t i;
	json_t *e;
	bool found = false;

	assert_int_equal(store_events_list(f->st, 0, 0, 1000, &ev), 0);
	json_array_foreach(json_object_get(ev, "events"), i, e)
		found |= strcmp(json_string_value(json_object_get(e, "type")), type) == 0;
	json_decref(ev);
	return found;
}

static void
test_counters(void **state)
{
	struct fx *f = *state;
	int64_t id = campaign(f, 3), mids[3];
	struct store_op op;

	/* A blocked contact. */
	struct ingest_batch b = { 0 };
	struct contact_in *ci = ingest_batch_add_contact(&b);
	ci->channel_id = f->channel;
	ci->address = xstrdup("15550000003");
	ci->status = CONTACT_BLOCKED;
	struct store_op blk = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(submit(f, &blk), 0);
	ingest_batch_free(&b);

	const char *const addrs[] = { "15550000001", "-", "15550000003" };
	assert_int_equal(chunk(f, id, 0, addrs, 3, &op, mids), 0);
	assert_int_equal(op.u.chunk.queued, 1);
	assert_int_equal(op.u.chunk.skipped, 2);
	assert_string_equal(op.u.chunk.status, "running");
	assert_true(mids[0] > 0);
	/* The same chunk again: refused, nothing made twice. */
	int64_t again[3];
	assert_int_equal(chunk(f, id, 0, addrs, 3, &op, again), -1);
	assert_int_equal(op.err, STORE_CONFLICT);

	json_t *c = get(f, id);
	assert_string_equal(json_string_value(json_object_get(c, "status")), "running");
	assert_int_equal(counter(c, "total"), 3);
	assert_int_equal(counter(c, "queued"), 1);
	assert_int_equal(counter(c, "skipped"), 2);
	json_t *why = json_object_get(json_object_get(c, "counters"), "skipped_reasons");
	assert_int_equal(json_integer_value(json_object_get(why, "duplicate")), 1);
	assert_int_equal(json_integer_value(json_object_get(why, "blocked")), 1);
	json_decref(c);
	assert_true(has_event(f, "campaign.started"));

	/* Accepted, then the provider's reports: forward only, once each. */
	struct outbox_item it = { .message_id = mids[0], .result = OUTBOX_ACCEPTED,
		.provider_message_id = "wamid.c1" };
	struct store_op res = { .kind = STORE_OP_OUTBOX_RESULT, .u.outbox = { .items = &it, .n = 1 } };
	assert_int_equal(submit(f, &res), 0);
	status(f, "wamid.c1", "sent");
	status(f, "wamid.c1", "read");       /* read without a delivery first */
	status(f, "wamid.c1", "delivered");  /* late: no step back */
	inbound(f, "15550000001", "wamid.in1");
	inbound(f, "15550000001", "wamid.in2");
	c = get(f, id);
	assert_int_equal(counter(c, "queued"), 0);
	assert_int_equal(counter(c, "sent"), 1);
	assert_int_equal(counter(c, "delivered"), 1);
	assert_int_equal(counter(c, "read"), 1);
	assert_int_equal(counter(c, "replied"), 1);
	json_decref(c);

	/* The tick completes it and says so. */
	struct store_op tick = { .kind = STORE_OP_CAMPAIGN_TICK };
	assert_int_equal(submit(f, &tick), 0);
	c = get(f, id);
	assert_string_equal(json_string_value(json_object_get(c, "status")), "completed");
	json_decref(c);
	assert_true(has_event(f, "campaign.completed"));
	assert_true(has_event(f, "campaign.progress"));
	char st[16];
	assert_int_equal(control(f, id, CAMPAIGN_PAUSE, st), 409);
	assert_int_equal(control(f, id, CAMPAIGN_CANCEL, st), 409);

	/* Recipients, by status. */
	json_t *rs = NULL;
	assert_int_equal(store_campaign_recipients(f->st, 0, id, "skipped", -1, 10, &rs), 0);
	assert_int_equal(json_array_size(json_object_get(rs, "recipients")), 2);
	json_decref(rs);
	assert_int_equal(store_campaign_recipients(f->st, 0, id, "read", -1, 10, &rs), 0);
	assert_int_equal(json_array_size(json_object_get(rs, "recipients")), 1);
	json_decref(rs);
	assert_int_equal(store_campaign_recipients(f->st, 2, id, NULL, -1, 10, &rs), 0);
	assert_null(rs);  /* another organization's */
}

static void
test_pause_cancel(void **state)
{
	struct fx *f = *state;
	int64_t id = campaign(f, 4), mids[2];
	struct store_op op;
	char st[16];
	const char *const first[] = { "15550000011", "15550000012" };
	const char *const rest[] = { "15550000013", "15550000014" };

	assert_int_equal(chunk(f, id, 0, first, 2, &op, mids), 0);
	assert_string_equal(op.u.chunk.status, "creating");
	assert_int_equal(control(f, id, CAMPAIGN_PAUSE, st), 0);
	assert_string_equal(st, "paused");
	assert_int_equal(control(f, id, CAMPAIGN_PAUSE, st), 0);  /* again: no change */
	/* Held: the dispatcher does not see them. */
	json_t *due = NULL;
	assert_int_equal(store_outbox_due(f->st, f->channel, now_ms() + 1000, 10, &due), 0);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
	/* Made while paused: held too. */
	int64_t more[2];
	assert_int_equal(chunk(f, id, 2, rest, 2, &op, more), 0);
	assert_string_equal(op.u.chunk.status, "paused");
	assert_int_equal(store_outbox_due(f->st, f->channel, now_ms() + 1000, 10, &due), 0);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
	assert_int_equal(control(f, id, CAMPAIGN_RESUME, st), 0);
	assert_string_equal(st, "running");
	assert_int_equal(store_outbox_due(f->st, f->channel, now_ms() + 60000, 10, &due), 0);
	assert_int_equal(json_array_size(due), 4);
	json_decref(due);
	assert_int_equal(control(f, id, CAMPAIGN_CANCEL, st), 0);
	assert_string_equal(st, "cancelled");
	json_t *c = get(f, id);
	assert_int_equal(counter(c, "cancelled"), 4);
	assert_int_equal(counter(c, "queued"), 0);
	json_decref(c);
	assert_int_equal(store_outbox_due(f->st, f->channel, now_ms() + 60000, 10, &due), 0);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
	assert_int_equal(control(f, id, CAMPAIGN_RESUME, st), 409);
	assert_int_equal(control(f, id, CAMPAIGN_CANCEL, st), 0);
	assert_int_equal(control(f, 999999, CAMPAIGN_PAUSE, st), 404);
	assert_true(has_event(f, "campaign.cancelled"));
}

/* A message as the read renders it, minus what differs between two
 * messages of one content (ids, recipient, times); its statuses' history
 * checked: one "queued". */
static json_t *
comparable(struct fx *f, int64_t mid)
{
	json_t *m = NULL;

	assert_int_equal(store_message_get(f->st, 0, mid, &m), 0);
	assert_non_null(m);
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "status")), "queued");
	static const char *const drop[] = { "id", "conversation_id", "to", "status_history", "created_at" };
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		json_object_del(m, drop[i]);
	return m;
}

/* The conversation's last message is mid (read as the list shows it). */
static void
last_is(struct fx *f, int64_t mid)
{
	json_t *m = NULL, *c = NULL;

	assert_int_equal(store_message_get(f->st, 0, mid, &m), 0);
	int64_t conv = json_integer_value(json_object_get(m, "conversation_id"));
	json_decref(m);
	assert_int_equal(store_conversation_get(f->st, 0, conv, &c), 0);
	assert_non_null(c);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "last_message"), "id")), mid);
	assert_int_equal(json_integer_value(json_object_get(c, "unread_count")), 0);
	json_decref(c);
}

/*
 * A chunk's messages (set-based on PostgreSQL: campaign_msgs.c) are each the
 * message the ingest path makes of the same content, to a contact that had
 * a conversation and to a new one, and each conversation's last message.
 */
static void
test_same_as_ingest(void **state)
{
	struct fx *f = *state;
	int64_t id = campaign(f, 2), mids[2];
	struct store_op op;

	/* The reference: the same message through the ingest path (its contact
	 * and conversation made there). */
	struct ingest_batch b = { 0 };
	struct msg_in *m = ingest_batch_add_msg(&b);
	m->channel_id = f->channel;
	m->direction = DIR_OUT;
	m->from = xstrdup("wa");
	m->to = xstrdup("15550000008");
	m->contact_address = xstrdup("15550000008");
	m->type = xstrdup("text");
	m->text = xstrdup("hi");
	m->raw = xstrdup("{}");
	m->status = ST_QUEUED;
	m->priority = 1;
	struct store_op in = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(submit(f, &in), 0);
	int64_t ref_id = m->id;
	ingest_batch_free(&b);

	const char *const addrs[] = { "15550000008", "15550000007" };
	assert_int_equal(chunk(f, id, 0, addrs, 2, &op, mids), 0);
	assert_int_equal(op.u.chunk.queued, 2);
	assert_int_equal(mids[0], ref_id + 1);  /* ids counted on, no gap */
	assert_int_equal(mids[1], ref_id + 2);
	json_t *ref = comparable(f, ref_id);
	for (int i = 0; i < 2; i++) {
		json_t *got = comparable(f, mids[i]);
		if (!json_equal(ref, got)) {
			char *a = json_dumps(ref, JSON_SORT_KEYS), *g = json_dumps(got, JSON_SORT_KEYS);
			fail_msg("campaign message %d differs:\n ingest   %s\n campaign %s", i, a, g);
		}
		json_decref(got);
		last_is(f, mids[i]);
	}
	json_decref(ref);
	json_t *rs = NULL;
	assert_int_equal(store_campaign_recipients(f->st, 0, id, "queued", -1, 10, &rs), 0);
	assert_int_equal(json_array_size(json_object_get(rs, "recipients")), 2);
	json_decref(rs);
	json_t *due = NULL;
	assert_int_equal(store_outbox_due(f->st, f->channel, now_ms() + 1000, 10, &due), 0);
	assert_int_equal(json_array_size(due), 3);
	json_decref(due);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_as_ingest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
