/*
 * test_store.c - the store's conformance suite: migrations, channel ops,
 * ingest (dedup, statuses, events), the outbox, group commit through a real
 * libevent loop, and paged reads in the API's JSON shapes. It runs against
 * a real SQLite file in a fresh temporary directory, and, when
 * MSGD_TEST_DATABASE names a PostgreSQL cluster, against a fresh database
 * of its own there for each test (the same tests, the same answers). A few
 * tests look at SQLite's files themselves and skip on PostgreSQL.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/migrations.h"
#include "store/store.h"
#include "util/util.h"

#define WAIT_MS 20000  /* deadline for the loop to deliver every done() */

struct fx {
	char root[64];
	char data[96];
	char dbname[32];      /* PostgreSQL: this test's database */
	char *dsn;            /* PostgreSQL: its DSN; NULL on SQLite */
	struct event_base *base;
	struct store *st;
};

/* The PostgreSQL cluster the suite runs against, or NULL (SQLite). */
static const char *
pg_cluster(void)
{
	const char *v = getenv("MSGD_TEST_DATABASE");
	return v && *v ? v : NULL;
}

/* Run one command on the cluster's own database. */
static void
pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(pg_cluster());
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* Skip a test about SQLite's own files on PostgreSQL. */
#define SQLITE_ONLY() \
	do { \
		if (pg_cluster()) \
			skip(); \
	} while (0)

static int
fx_open(struct fx *f)
{
	struct store_config cfg = { .data_dir = f->data, .database = f->dsn };

	return store_open(&f->st, &cfg, f->base);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/msgd-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->data, sizeof(f->data), "%s/data", f->root);
	if (pg_cluster()) {
		/* A database of its own, named after the temporary directory. */
		snprintf(f->dbname, sizeof(f->dbname), "t_%s", strrchr(f->root, '-') + 1);
		for (char *p = f->dbname; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		char *sql = xasprintf("CREATE DATABASE %s", f->dbname);
		pg_admin(sql);
		free(sql);
		const char *slash = strrchr(pg_cluster(), '/');
		f->dsn = xasprintf("%.*s/%s", (int)(slash - pg_cluster()), pg_cluster(), f->dbname);
	}
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(fx_open(f), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	const char *files[] = { "msgd.db", "msgd.db-wal", "msgd.db-shm" };

	store_close(f->st);
	event_base_free(f->base);
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *p = xasprintf("%s/%s", f->data, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(f->data);
	rmdir(f->root);
	if (f->dsn) {
		char *sql = xasprintf("DROP DATABASE %s", f->dbname);
		pg_admin(sql);
		free(sql);
		free(f->dsn);
	}
	free(f);
	return 0;
}

/* Run the loop until every submitted op's done() ran, with a deadline. */
static void
loop_until_idle(struct fx *f)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct timeval tick = { 0, 50 * 1000 };

	while (store_pending(f->st) > 0) {
		assert_true(mono_ms() < deadline);
		event_base_loopexit(f->base, &tick);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
}

static int64_t
channel_create(struct fx *f, const char *name)
{
	struct store_op op = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = name, .type = "sandbox", .config_json = "{\"a\":1}" },
	};

	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_true(op.u.channel.id > 0);
	return op.u.channel.id;
}

static struct msg_in *
add_msg(struct ingest_batch *b, int64_t channel, enum msg_direction dir, const char *pmid,
    const char *contact, const char *name, const char *text)
{
	struct msg_in *m = ingest_batch_add_msg(b);

	m->channel_id = channel;
	m->direction = dir;
	m->provider_message_id = xstrdup_or_null(pmid);
	m->from = xstrdup(dir == DIR_IN ? contact : "15550783881");
	m->to = xstrdup(dir == DIR_IN ? "15550783881" : contact);
	m->contact_address = xstrdup(contact);
	m->contact_name = xstrdup_or_null(name);
	m->type = xstrdup("text");
	m->text = xstrdup_or_null(text);
	m->timestamp = 1749416383;  /* 2025-06-08T20:59:43Z */
	m->raw = xstrdup("{\"provider\":true}");
	return m;
}

static struct status_in *
add_status(struct ingest_batch *b, int64_t channel, const char *pmid, enum msg_status st,
    int64_t ts)
{
	struct status_in *s = ingest_batch_add_status(b);

	s->channel_id = channel;
	s->provider_message_id = xstrdup(pmid);
	s->status = st;
	s->provider_status = xstrdup(status_name(st));
	s->timestamp = ts;
	s->raw = xstrdup("{}");
	return s;
}

static int
ingest(struct fx *f, struct ingest_batch *b, int64_t *last_seq)
{
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = b };
	int rc = store_submit_wait(f->st, &op);

	if (last_seq)
		*last_seq = op.last_seq;
	return rc;
}

/* Ingest one inbound text message; returns its id. */
static int64_t
ingest_one(struct fx *f, int64_t channel, const char *pmid, const char *contact, const char *text)
{
	struct ingest_batch b = { 0 };
	int64_t id;

	add_msg(&b, channel, DIR_IN, pmid, contact, NULL, text);
	assert_int_equal(ingest(f, &b, NULL), 0);
	id = b.msgs[0].id;
	ingest_batch_free(&b);
	return id;
}

/* Queue one outbound text message as the send API does; returns its id
 * (the original's when client_id was seen before). */
static int64_t
send_full(struct fx *f, int64_t channel, const char *contact, const char *text,
    const char *client_id, int priority, int64_t due_ms, bool *duplicate)
{
	struct ingest_batch b = { 0 };
	struct msg_in *m = add_msg(&b, channel, DIR_OUT, NULL, contact, NULL, text);
	int64_t id;

	m->client_id = xstrdup_or_null(client_id);
	m->priority = priority;
	m->due_ms = due_ms;
	m->status = due_ms > now_ms() + 60000 ? ST_SCHEDULED : ST_QUEUED;
	assert_int_equal(ingest(f, &b, NULL), 0);
	id = m->id;
	if (duplicate)
		*duplicate = m->duplicate;
	ingest_batch_free(&b);
	return id;
}

static int64_t
send_one(struct fx *f, int64_t channel, const char *contact, const char *text)
{
	return send_full(f, channel, contact, text, NULL, 0, 0, NULL);
}

/* Claim one outbox entry; returns whether it was claimed. */
static bool
claim(struct fx *f, int64_t id)
{
	struct outbox_item it = { .message_id = id };
	struct store_op op = { .kind = STORE_OP_OUTBOX_CLAIM, .u.outbox = { &it, 1 } };

	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_int_equal(op.last_seq, 0);
	return it.claimed;
}

/* Record one attempt's outcome; returns the op's last_seq. */
static int64_t
result(struct fx *f, int64_t id, enum outbox_result r, const char *pmid, int64_t due_ms,
    int64_t code, const char *title)
{
	struct outbox_item it = { .message_id = id, .result = r, .due_ms = due_ms,
	    .error_code = code };
	struct store_op op = { .kind = STORE_OP_OUTBOX_RESULT, .u.outbox = { &it, 1 } };

	it.provider_message_id = (char *)pmid;
	if (title)
		snprintf(it.error_title, sizeof(it.error_title), "%s", title);
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	return op.last_seq;
}

/* Send one message and have the provider accept it as pmid. */
static int64_t
send_accepted(struct fx *f, int64_t channel, const char *contact, const char *text,
    const char *pmid)
{
	int64_t id = send_one(f, channel, contact, text);

	assert_true(claim(f, id));
	assert_true(result(f, id, OUTBOX_ACCEPTED, pmid, 0, 0, NULL) > 0);
	return id;
}

static json_t *
get_message(struct fx *f, int64_t id)
{
	json_t *m = NULL;

	assert_int_equal(store_message_get(f->st, 0, id, &m), 0);
	assert_non_null(m);
	return m;
}

static json_t *
events(struct fx *f, int64_t since, int limit)
{
	json_t *e = NULL;

	assert_int_equal(store_events_list(f->st, 0, since, limit, &e), 0);
	assert_non_null(e);
	return e;
}

static size_t
event_count(struct fx *f)
{
	json_t *e = events(f, 0, 1000);
	size_t n = json_array_size(json_object_get(e, "events"));

	json_decref(e);
	return n;
}

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t
iget(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* --- tests --- */

static void
test_open_reopen(void **state)
{
	struct fx *f = *state;
	struct stat sb;
	bool ever = true;
	json_t *chans = NULL;
	char *db = xasprintf("%s/msgd.db", f->data);
	int latest = migrations[migrations_count - 1].version;

	if (!pg_cluster()) {
		assert_int_equal(stat(f->data, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0700);
		assert_int_equal(stat(db, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	free(db);

	assert_int_equal(store_schema_version(f->st), latest);
	assert_int_equal(store_ping(f->st), 0);
	assert_int_equal(store_channels_ever(f->st, &ever), 0);
	assert_false(ever);

	int64_t id = channel_create(f, "wa1");
	store_close(f->st);
	assert_int_equal(fx_open(f), 0);

	assert_int_equal(store_schema_version(f->st), latest);
	assert_int_equal(store_channels_ever(f->st, &ever), 0);
	assert_true(ever);
	assert_int_equal(store_channels_load(f->st, &chans), 0);
	assert_int_equal(json_array_size(chans), 1);
	json_t *c = json_array_get(chans, 0);
	assert_int_equal(iget(c, "id"), id);
	assert_string_equal(sget(c, "name"), "wa1");
	assert_string_equal(sget(c, "type"), "sandbox");
	assert_int_equal(iget(json_object_get(c, "config"), "a"), 1);
	assert_true(iget(c, "created_at") > 1700000000);
	assert_true(json_is_integer(json_object_get(c, "updated_at")));
	json_decref(chans);
}

static void
test_channels(void **state)
{
	struct fx *f = *state;
	json_t *chans = NULL, *keys = NULL;
	int64_t id = channel_create(f, "wa1");

	/* A live name is taken. */
	struct store_op dup = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = "wa1", .type = "sandbox", .config_json = "{}" },
	};
	assert_int_equal(store_submit_wait(f->st, &dup), -1);
	assert_int_equal(dup.err, STORE_CONFLICT);
	assert_string_equal(dup.errmsg, "name or route taken");

	struct store_op upd = {
		.kind = STORE_OP_CHANNEL_UPDATE,
		.u.channel = { .id = id, .config_json = "{\"b\":2}" },
	};
	assert_int_equal(store_submit_wait(f->st, &upd), 0);
	assert_int_equal(store_channels_load(f->st, &chans), 0);
	assert_int_equal(iget(json_object_get(json_array_get(chans, 0), "config"), "b"), 2);
	json_decref(chans);

	struct store_op del = { .kind = STORE_OP_CHANNEL_DELETE, .u.channel = { .id = id } };
	assert_int_equal(store_submit_wait(f->st, &del), 0);
	assert_int_equal(store_channels_load(f->st, &chans), 0);
	assert_int_equal(json_array_size(chans), 0);
	json_decref(chans);
	/* Deleting or updating it again: no such (live) channel. */
	assert_int_equal(store_submit_wait(f->st, &del), -1);
	assert_int_equal(del.err, STORE_NOTFOUND);
	assert_int_equal(store_submit_wait(f->st, &upd), -1);

	/* The name is free again; the new channel has a new id. */
	int64_t id2 = channel_create(f, "wa1");
	assert_true(id2 != id);
	assert_int_equal(store_channels_load(f->st, &chans), 0);
	assert_int_equal(json_array_size(chans), 1);
	assert_int_equal(iget(json_array_get(chans, 0), "id"), id2);
	json_decref(chans);

	/* API keys: stored once per hash, as hex. */
	struct store_op key = { .kind = STORE_OP_API_KEY_PUT, .u.api_key = { .name = "ci",
		.scopes_json = "[\"messages:send\"]", .prefix = "msgd_abc" } };
	sha256("secret", 6, key.u.api_key.hash);
	assert_int_equal(store_submit_wait(f->st, &key), 0);
	int64_t key_id = key.u.api_key.id;
	assert_true(key_id > 0);
	assert_int_equal(store_submit_wait(f->st, &key), -1);
	assert_int_equal(key.err, STORE_CONFLICT);
	int64_t used[] = { key_id };
	struct store_op use = { .kind = STORE_OP_API_KEY_USED,
		.u.api_key = { .used = used, .nused = 1, .at = 1234 } };
	assert_int_equal(store_submit_wait(f->st, &use), 0);
	assert_int_equal(store_api_keys_load(f->st, &keys), 0);
	assert_int_equal(json_array_size(keys), 1);
	char hex[65];
	hex_encode(key.u.api_key.hash, 32, hex);
	assert_string_equal(sget(json_array_get(keys, 0), "hash"), hex);
	assert_int_equal(iget(json_array_get(keys, 0), "org_id"), STORE_ORG_DEFAULT);
	assert_int_equal(iget(json_array_get(keys, 0), "last_used_at"), 1234);
	assert_string_equal(sget(json_array_get(keys, 0), "prefix"), "msgd_abc");
	json_decref(keys);
	/* Revoked: in its organization only, once. */
	struct store_op rev = { .kind = STORE_OP_API_KEY_REVOKE, .org_id = 99,
		.u.api_key = { .id = key_id } };
	assert_int_equal(store_submit_wait(f->st, &rev), -1);
	assert_int_equal(rev.err, STORE_NOTFOUND);
	rev.org_id = 0;
	assert_int_equal(store_submit_wait(f->st, &rev), 0);
	assert_int_equal(store_submit_wait(f->st, &rev), -1);
	assert_int_equal(store_api_keys_load(f->st, &keys), 0);
	assert_int_equal(json_array_size(keys), 0);
	json_decref(keys);
}

static int64_t
org_create(struct fx *f, const char *name)
{
	struct store_op op = { .kind = STORE_OP_ORG_CREATE, .u.org = { .name = name } };

	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_true(op.u.org.id > STORE_ORG_DEFAULT);
	return op.u.org.id;
}

static int64_t
channel_in(struct fx *f, int64_t org, const char *name, const char *route)
{
	struct store_op op = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.org_id = org,
		.u.channel = { .name = name, .type = "sandbox", .config_json = "{}", .route_key = route },
	};

	if (store_submit_wait(f->st, &op) != 0)
		return -(int64_t)op.err;
	return op.u.channel.id;
}

/* Sending quotas at the claim: replies weighed before bulk, the rest held
 * (pending, throttled_until) until the window ends; counts shared by every
 * claim (a day window: the test never straddles one but at midnight UTC). */
static void
test_quota_gate(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "q1");
	int64_t b1 = send_full(f, ch, "15550001001", "bulk 1", NULL, 1, 0, NULL);
	int64_t b2 = send_full(f, ch, "15550001002", "bulk 2", NULL, 1, 0, NULL);
	int64_t r1 = send_full(f, ch, "15550001003", "reply", NULL, 0, 0, NULL);
	int64_t b3 = send_full(f, ch, "15550001004", "bulk 3", NULL, 1, 0, NULL);
	struct item_quota q = { .org_id = 1, .channel_id = ch, .priority = 1,
		.channel_max = { 0, 0, 2 } };
	struct item_quota qr = q;
	qr.priority = 0;

	/* The first bulk message takes one of two. */
	struct outbox_item one = { .message_id = b1, .quota = &q };
	struct store_op op = { .kind = STORE_OP_OUTBOX_CLAIM, .u.outbox = { &one, 1 } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_true(one.claimed);
	assert_false(one.held);

	/* Bulk, a reply, bulk: the reply takes the last one, listed second. */
	struct outbox_item three[3] = {
		{ .message_id = b2, .quota = &q },
		{ .message_id = r1, .quota = &qr },
		{ .message_id = b3, .quota = &q },
	};
	struct store_op op3 = { .kind = STORE_OP_OUTBOX_CLAIM, .u.outbox = { three, 3 } };
	assert_int_equal(store_submit_wait(f->st, &op3), 0);
	assert_false(three[0].claimed);
	assert_true(three[0].held);
	assert_true(three[1].claimed);
	assert_false(three[2].claimed);
	assert_true(three[2].held);
	int64_t day_end = (now_ms() / 86400000 + 1) * 86400000;
	assert_int_equal(three[0].throttled_until, day_end);

	/* Held: queued, throttled_until shown, no attempt, not due now. */
	json_t *m = get_message(f, b2);
	assert_string_equal(sget(m, "status"), "queued");
	assert_int_equal(iget(m, "attempts"), 0);
	char want[21];
	fmt_rfc3339(day_end / 1000, want);
	assert_string_equal(sget(m, "throttled_until"), want);
	json_decref(m);
	json_t *due = NULL;
	assert_int_equal(store_outbox_due(f->st, ch, now_ms(), 10, &due), 0);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
	int64_t n[3];
	char scope[32];
	snprintf(scope, sizeof(scope), "channel:%lld", (long long)ch);
	assert_int_equal(store_quota_usage(f->st, scope, now_ms(), n), 0);
	assert_int_equal(n[2], 2);
	assert_int_equal(n[0], 2);

	/* Without quotas, the same entries are claimed as before. */
	struct outbox_item free_it = { .message_id = b2 };
	struct store_op op4 = { .kind = STORE_OP_OUTBOX_CLAIM, .u.outbox = { &free_it, 1 } };
	assert_int_equal(store_submit_wait(f->st, &op4), 0);
	assert_true(free_it.claimed);
	m = get_message(f, b2);
	assert_true(json_is_null(json_object_get(m, "throttled_until")));
	json_decref(m);
}

/* Two organizations: the same names, each sees only its own rows. */
static void
test_orgs(void **state)
{
	struct fx *f = *state;
	json_t *orgs = NULL, *v = NULL;
	int64_t b = org_create(f, "beta");

	struct store_op dup = { .kind = STORE_OP_ORG_CREATE, .u.org = { .name = "beta" } };
	assert_int_equal(store_submit_wait(f->st, &dup), -1);
	assert_int_equal(dup.err, STORE_CONFLICT);
	assert_int_equal(store_orgs_load(f->st, &orgs), 0);
	assert_int_equal(json_array_size(orgs), 2);
	assert_string_equal(sget(json_array_get(orgs, 0), "name"), "default");
	assert_string_equal(sget(json_array_get(orgs, 1), "name"), "beta");
	json_decref(orgs);

	/* Channel names per organization; a route key across all of them. */
	int64_t ca = channel_in(f, 0, "shop", "pnid-1");
	int64_t cb = channel_in(f, b, "shop", "pnid-2");
	assert_true(ca > 0 && cb > 0);
	assert_int_equal(channel_in(f, b, "shop", NULL), -(int64_t)STORE_CONFLICT);
	assert_int_equal(channel_in(f, b, "other", "pnid-1"), -(int64_t)STORE_CONFLICT);
	assert_true(channel_in(f, b, "third", NULL) > 0);

	/* The same contact and client_id in both. */
	int64_t ma = ingest_one(f, ca, "wamid.a", "15550001111", "hello a");
	int64_t mb = ingest_one(f, cb, "wamid.b", "15550001111", "hello b");
	bool d1 = true, d2 = true;
	int64_t sa = send_full(f, ca, "15550001111", "to a", "order-1", 0, 0, &d1);
	int64_t sb = send_full(f, cb, "15550001111", "to b", "order-1", 0, 0, &d2);
	assert_false(d1);
	assert_false(d2);
	assert_true(sa != sb);

	assert_int_equal(store_message_get(f->st, b, ma, &v), 0);
	assert_null(v);
	assert_int_equal(store_message_get(f->st, b, mb, &v), 0);
	assert_non_null(v);
	int64_t conv_b = iget(v, "conversation_id");
	json_decref(v);
	assert_int_equal(store_conversation_get(f->st, 0, conv_b, &v), 0);
	assert_null(v);
	assert_int_equal(store_message_by_client_id(f->st, b, "order-1", &v), 0);
	assert_int_equal(iget(v, "id"), sb);
	json_decref(v);
	assert_int_equal(store_messages_by_provider_id(f->st, 0, "wamid.b", &v), 0);
	assert_int_equal(json_array_size(json_object_get(v, "messages")), 0);
	json_decref(v);

	struct conv_query q = { .org_id = b, .limit = 50 };
	assert_int_equal(store_conversations_list(f->st, &q, &v), 0);
	assert_int_equal(json_array_size(json_object_get(v, "conversations")), 1);
	json_decref(v);

	/* Events: each organization reads its own; the bus reads all. */
	json_t *ev_a = NULL, *ev_b = NULL;
	assert_int_equal(store_events_list(f->st, 0, 0, 1000, &ev_a), 0);
	assert_int_equal(store_events_list(f->st, b, 0, 1000, &ev_b), 0);
	size_t na = json_array_size(json_object_get(ev_a, "events"));
	size_t nb = json_array_size(json_object_get(ev_b, "events"));
	assert_true(na >= 2 && nb >= 2);
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(ev_b, "events"), i, e)
		assert_string_equal(sget(e, "channel"), "shop");
	struct store_event *all;
	size_t nall;
	assert_int_equal(store_events_read(f->st, 0, 0, 1000, &all, &nall), 0);
	assert_int_equal(nall, na + nb);
	size_t in_b = 0;
	for (size_t k = 0; k < nall; k++)
		in_b += all[k].org_id == b;
	assert_int_equal(in_b, nb);
	store_events_free(all, nall);
	json_decref(ev_a);
	json_decref(ev_b);

	/* Templates and cancels by id stay in their organization. */
	struct store_op t = { .kind = STORE_OP_TEMPLATE_PUT, .org_id = b,
		.u.template = { .name = "hi", .language = "en", .body = "Hi" } };
	assert_int_equal(store_submit_wait(f->st, &t), 0);
	t.org_id = 0;
	assert_int_equal(store_submit_wait(f->st, &t), 0);  /* the same name in default */
	assert_int_equal(store_template_get(f->st, b, "hi", NULL, &v), 0);
	assert_non_null(v);
	json_decref(v);
	struct store_op c = { .kind = STORE_OP_CANCEL, .org_id = b, .u.cancel = { .message_id = sa } };
	assert_int_equal(store_submit_wait(f->st, &c), -1);
	assert_int_equal(c.err, STORE_NOTFOUND);
}

static void
test_ingest_message(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	int64_t last_seq = 0;
	json_t *conv = NULL, *list = NULL, *ev, *m, *m2;

	struct msg_in *in = add_msg(&b, ch, DIR_IN, "wamid.1", "16505551234", "Ana", "Does it come in red?");
	json_object_set_new(in->parts, "forwarded", json_true());
	json_object_set_new(in->parts, "id", json_integer(999));  /* never overrides */
	assert_int_equal(ingest(f, &b, &last_seq), 0);
	assert_true(in->id > 0);
	assert_true(in->conversation_id > 0);
	assert_int_equal(in->seq, 1);
	assert_false(in->duplicate);
	assert_int_equal(last_seq, 1);

	/* The message as the API shows it. */
	m = get_message(f, in->id);
	assert_int_equal(iget(m, "id"), in->id);
	assert_string_equal(sget(m, "channel"), "wa1");
	assert_int_equal(iget(m, "conversation_id"), in->conversation_id);
	assert_string_equal(sget(m, "direction"), "in");
	assert_string_equal(sget(m, "provider_message_id"), "wamid.1");
	assert_string_equal(sget(m, "from"), "16505551234");
	assert_string_equal(sget(m, "to"), "15550783881");
	assert_string_equal(sget(m, "type"), "text");
	assert_string_equal(sget(m, "text"), "Does it come in red?");
	assert_string_equal(sget(m, "timestamp"), "2025-06-08T20:59:43Z");
	assert_string_equal(sget(m, "status"), "received");
	assert_int_equal(json_array_size(json_object_get(m, "status_history")), 0);
	assert_true(json_is_array(json_object_get(m, "status_history")));
	assert_true(json_is_null(json_object_get(m, "reply_to")));
	assert_true(json_is_true(json_object_get(m, "forwarded")));
	assert_null(json_object_get(m, "error"));

	/* The conversation. */
	assert_int_equal(store_conversation_get(f->st, 0, in->conversation_id, &conv), 0);
	assert_non_null(conv);
	assert_int_equal(iget(conv, "id"), in->conversation_id);
	assert_string_equal(sget(conv, "channel"), "wa1");
	assert_string_equal(sget(json_object_get(conv, "contact"), "address"), "16505551234");
	assert_string_equal(sget(json_object_get(conv, "contact"), "name"), "Ana");
	assert_int_equal(iget(conv, "unread_count"), 1);
	assert_true(json_equal(json_object_get(conv, "last_message"), m));
	assert_int_equal(strlen(sget(conv, "updated_at")), 20);
	json_decref(conv);

	/* The list of its messages. */
	struct msg_query mq = { .conversation_id = in->conversation_id, .limit = 50 };
	assert_int_equal(store_messages_list(f->st, &mq, &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 1);
	assert_true(json_equal(json_array_get(json_object_get(list, "messages"), 0), m));
	assert_true(json_is_null(json_object_get(list, "next")));
	json_decref(list);

	/* The event: the message as a read showed it then. */
	ev = events(f, 0, 100);
	assert_int_equal(iget(ev, "next"), 1);
	json_t *e = json_array_get(json_object_get(ev, "events"), 0);
	assert_int_equal(json_array_size(json_object_get(ev, "events")), 1);
	assert_int_equal(iget(e, "seq"), 1);
	assert_string_equal(sget(e, "type"), "message.received");
	assert_int_equal(strlen(sget(e, "at")), 20);
	assert_string_equal(sget(e, "channel"), "wa1");
	assert_int_equal(iget(e, "conversation_id"), in->conversation_id);
	assert_int_equal(iget(e, "message_id"), in->id);
	assert_true(json_equal(json_object_get(e, "data"), m));
	json_decref(ev);

	/* A reply quoting it, and one quoting a message we never stored. */
	int64_t first = in->id, conv_id = in->conversation_id;
	ingest_batch_free(&b);
	struct msg_in *r1 = add_msg(&b, ch, DIR_IN, "wamid.2", "16505551234", NULL, "this one");
	r1->reply_to = xstrdup("wamid.1");
	struct msg_in *r2 = add_msg(&b, ch, DIR_IN, "wamid.3", "16505551234", NULL, NULL);
	r2->reply_to = xstrdup("wamid.unknown");
	assert_int_equal(ingest(f, &b, &last_seq), 0);
	assert_int_equal(last_seq, 3);
	assert_int_equal(b.msgs[1].seq, 3);
	m2 = get_message(f, b.msgs[0].id);
	assert_string_equal(sget(json_object_get(m2, "reply_to"), "provider_message_id"), "wamid.1");
	assert_int_equal(iget(json_object_get(m2, "reply_to"), "message_id"), first);
	json_decref(m2);
	m2 = get_message(f, b.msgs[1].id);
	assert_true(json_is_null(json_object_get(json_object_get(m2, "reply_to"), "message_id")));
	assert_true(json_is_null(json_object_get(m2, "text")));
	json_decref(m2);

	/* Same conversation; a NULL name kept the stored one. */
	assert_int_equal(b.msgs[0].conversation_id, conv_id);
	assert_int_equal(store_conversation_get(f->st, 0, b.msgs[0].conversation_id, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 3);
	assert_string_equal(sget(json_object_get(conv, "contact"), "name"), "Ana");
	assert_int_equal(iget(json_object_get(conv, "last_message"), "id"), b.msgs[1].id);
	json_decref(conv);

	/* by provider id */
	assert_int_equal(store_messages_by_provider_id(f->st, 0, "wamid.1", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 1);
	assert_true(json_equal(json_array_get(json_object_get(list, "messages"), 0), m));
	json_decref(list);
	assert_int_equal(store_messages_by_provider_id(f->st, 0, "nope", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 0);
	json_decref(list);

	/* Not found. */
	assert_int_equal(store_message_get(f->st, 0, 12345, &list), 0);
	assert_null(list);
	assert_int_equal(store_conversation_get(f->st, 0, 12345, &list), 0);
	assert_null(list);

	json_decref(m);
	ingest_batch_free(&b);
}

/* A reaction to msg pmid target (NULL: no target id at all). */
static struct msg_in *
add_reaction(struct ingest_batch *b, int64_t channel, const char *pmid, const char *target,
    const char *emoji)
{
	struct msg_in *m = add_msg(b, channel, DIR_IN, pmid, "111", NULL, NULL);

	free(m->type);
	m->type = xstrdup("reaction");
	json_t *r = json_pack("{s:s}", "emoji", emoji);
	if (target)
		json_object_set_new(r, "provider_message_id", json_string(target));
	json_object_set_new(m->parts, "reaction", r);
	return m;
}

/* reaction.message_id of stored message id: its msgd id, 0 for null. */
static int64_t
reaction_target(struct fx *f, int64_t id)
{
	json_t *msg = NULL;
	assert_int_equal(store_message_get(f->st, 0, id, &msg), 0);
	assert_non_null(msg);
	json_t *r = json_object_get(msg, "reaction");
	json_t *mid = json_object_get(r, "message_id");
	assert_non_null(mid);  /* always present, null when unknown */
	int64_t v = json_is_integer(mid) ? json_integer_value(mid) : 0;
	if (!json_is_integer(mid))
		assert_true(json_is_null(mid));
	json_decref(msg);
	return v;
}

/* The store names a reaction's target by msgd id when it knows the
 * provider id on that channel (earlier, or earlier in the same batch). */
static void
test_reaction_target(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), ch2 = channel_create(f, "wa2");
	struct ingest_batch b = { 0 };

	int64_t target = ingest_one(f, ch, "wamid.T", "111", "hello");
	add_reaction(&b, ch, "wamid.R1", "wamid.T", "\xF0\x9F\x91\x8D");
	add_reaction(&b, ch, "wamid.R2", "wamid.unknown", "x");
	add_msg(&b, ch, DIR_IN, "wamid.T2", "111", NULL, "same batch");
	add_reaction(&b, ch, "wamid.R3", "wamid.T2", "y");
	add_reaction(&b, ch2, "wamid.R4", "wamid.T", "z");  /* another channel's message */
	add_reaction(&b, ch, "wamid.R5", NULL, "");
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_int_equal(reaction_target(f, b.msgs[0].id), target);
	assert_int_equal(reaction_target(f, b.msgs[1].id), 0);
	assert_int_equal(reaction_target(f, b.msgs[3].id), b.msgs[2].id);
	assert_int_equal(reaction_target(f, b.msgs[4].id), 0);
	assert_int_equal(reaction_target(f, b.msgs[5].id), 0);
	json_t *msg = NULL;
	assert_int_equal(store_message_get(f->st, 0, b.msgs[0].id, &msg), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(msg, "reaction"),
	    "provider_message_id")), "wamid.T");
	json_decref(msg);
	ingest_batch_free(&b);
}

static void
test_duplicate(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	json_t *conv = NULL, *list = NULL;

	int64_t id = ingest_one(f, ch, "wamid.D", "111", "hello");

	/* Again in a later batch, and twice within one batch. */
	add_msg(&b, ch, DIR_IN, "wamid.D", "111", NULL, "hello");
	add_msg(&b, ch, DIR_IN, "wamid.E", "111", NULL, "new");
	add_msg(&b, ch, DIR_IN, "wamid.E", "111", NULL, "new");
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_true(b.msgs[0].duplicate);
	assert_int_equal(b.msgs[0].id, id);
	assert_int_equal(b.msgs[0].seq, 0);
	assert_false(b.msgs[1].duplicate);
	assert_true(b.msgs[2].duplicate);
	assert_int_equal(b.msgs[2].id, b.msgs[1].id);
	assert_int_equal(b.msgs[2].conversation_id, b.msgs[1].conversation_id);

	assert_int_equal(event_count(f), 2);
	struct msg_query mq = { .conversation_id = b.msgs[0].conversation_id, .limit = 50 };
	assert_int_equal(store_messages_list(f->st, &mq, &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 2);
	json_decref(list);
	assert_int_equal(store_conversation_get(f->st, 0, b.msgs[0].conversation_id, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 2);
	json_decref(conv);

	/* The same provider id on another channel is another message. */
	int64_t ch2 = channel_create(f, "wa2");
	int64_t other = ingest_one(f, ch2, "wamid.D", "111", "hello");
	assert_true(other != id);
	assert_int_equal(store_messages_by_provider_id(f->st, 0, "wamid.D", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 2);
	json_decref(list);
	ingest_batch_free(&b);
}

/* A batch is all or nothing: a bad record rolls back the records before it. */
static void
test_ingest_rollback(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	json_t *list = NULL;

	add_msg(&b, ch, DIR_IN, "wamid.R1", "999", NULL, "first");
	add_msg(&b, ch + 100, DIR_IN, "wamid.R2", "999", NULL, "no such channel");
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	assert_non_null(strstr(op.errmsg, "unknown channel"));
	assert_int_equal(op.last_seq, 0);
	ingest_batch_free(&b);
	assert_int_equal(event_count(f), 0);
	assert_int_equal(store_messages_by_provider_id(f->st, 0, "wamid.R1", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 0);
	json_decref(list);

	/* The next op gets the seq the failed one would have had. */
	ingest_one(f, ch, "wamid.R1", "999", "first");
	json_t *ev = events(f, 0, 10);
	assert_int_equal(iget(json_array_get(json_object_get(ev, "events"), 0), "seq"), 1);
	json_decref(ev);
}

static void
test_text_roundtrip(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	const char *text = "  Ol\xc3\xa1, \xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd  \"quoted\" \\ back\\slash\n"
	    "\ttab  trailing   ";
	int64_t id = ingest_one(f, ch, "wamid.T", "222", text);
	json_t *m = get_message(f, id);

	assert_string_equal(sget(m, "text"), text);
	assert_int_equal(json_string_length(json_object_get(m, "text")), strlen(text));
	json_decref(m);
}

static void
test_statuses(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	json_t *m, *ev;

	int64_t id1 = send_accepted(f, ch, "333", "outbound one", "wamid.O1");
	int64_t id2 = send_accepted(f, ch, "333", "outbound two", "wamid.O2");
	size_t nev = event_count(f);

	/* Forward, in order: each applies and is announced. */
	add_status(&b, ch, "wamid.O1", ST_SENT, 1749416400);
	add_status(&b, ch, "wamid.O1", ST_DELIVERED, 1749416401);
	add_status(&b, ch, "wamid.O1", ST_READ, 1749416402);
	assert_int_equal(ingest(f, &b, NULL), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_true(b.statuses[i].applied);
		assert_int_equal(b.statuses[i].message_id, id1);
	}
	ingest_batch_free(&b);
	assert_int_equal(event_count(f), nev + 3);

	/* Backwards (here also a redelivered report): not applied, not announced,
	 * and not recorded twice. */
	add_status(&b, ch, "wamid.O1", ST_DELIVERED, 1749416403);
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_false(b.statuses[0].applied);
	assert_int_equal(b.statuses[0].message_id, id1);
	ingest_batch_free(&b);
	assert_int_equal(event_count(f), nev + 3);

	m = get_message(f, id1);
	assert_string_equal(sget(m, "status"), "read");
	/* msgd's own changes first (queued, accepted), then the provider's. */
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 5);
	assert_string_equal(sget(json_array_get(h, 0), "status"), "queued");
	assert_string_equal(sget(json_array_get(h, 1), "status"), "accepted");
	assert_string_equal(sget(json_array_get(h, 2), "status"), "sent");
	assert_string_equal(sget(json_array_get(h, 2), "at"), "2025-06-08T21:00:00Z");
	assert_true(json_is_null(json_object_get(json_array_get(h, 2), "error")));
	assert_string_equal(sget(json_array_get(h, 4), "status"), "read");
	json_decref(m);

	/* Failed is terminal, and carries its error. */
	add_status(&b, ch, "wamid.O2", ST_SENT, 1749416400);
	struct status_in *fs = add_status(&b, ch, "wamid.O2", ST_FAILED, 1749416401);
	fs->error_code = 131026;
	fs->error_title = xstrdup("Message undeliverable");
	add_status(&b, ch, "wamid.O2", ST_READ, 1749416402);
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_true(b.statuses[0].applied);
	assert_true(b.statuses[1].applied);
	assert_false(b.statuses[2].applied);
	ingest_batch_free(&b);
	m = get_message(f, id2);
	assert_string_equal(sget(m, "status"), "failed");
	json_t *err = json_object_get(m, "error");
	assert_int_equal(iget(err, "code"), 131026);
	assert_string_equal(sget(err, "title"), "Message undeliverable");
	assert_true(json_is_null(json_object_get(err, "detail")));
	assert_int_equal(iget(json_object_get(json_array_get(json_object_get(m, "status_history"), 3),
	    "error"), "code"), 131026);
	json_decref(m);
	assert_int_equal(event_count(f), nev + 5);

	/* Unknown provider id: recorded, announced with id null. */
	int64_t seq = 0;
	add_status(&b, ch, "wamid.nobody", ST_DELIVERED, 1749416400);
	assert_int_equal(ingest(f, &b, &seq), 0);
	assert_false(b.statuses[0].applied);
	assert_int_equal(b.statuses[0].message_id, 0);
	ingest_batch_free(&b);
	ev = events(f, seq - 1, 10);
	json_t *e = json_array_get(json_object_get(ev, "events"), 0);
	assert_int_equal(iget(e, "seq"), seq);
	assert_string_equal(sget(e, "type"), "message.status");
	assert_string_equal(sget(e, "channel"), "wa1");
	assert_true(json_is_null(json_object_get(e, "message_id")));
	assert_true(json_is_null(json_object_get(e, "conversation_id")));
	json_t *d = json_object_get(e, "data");
	assert_true(json_is_null(json_object_get(d, "id")));
	assert_string_equal(sget(d, "provider_message_id"), "wamid.nobody");
	assert_string_equal(sget(d, "status"), "delivered");
	assert_true(json_is_null(json_object_get(d, "error")));
	json_decref(ev);

	/* A known message's status event. */
	ev = events(f, nev, 1);
	e = json_array_get(json_object_get(ev, "events"), 0);
	assert_int_equal(iget(e, "message_id"), id1);
	d = json_object_get(e, "data");
	assert_int_equal(iget(d, "id"), id1);
	assert_string_equal(sget(d, "status"), "sent");
	json_decref(ev);
}

static void
test_channel_event(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	int64_t seq = 0;

	struct event_in *e = ingest_batch_add_event(&b);
	e->channel_id = ch;
	e->type = xstrdup("channel.error");
	e->data = json_pack("{s:[{s:i}]}", "errors", "code", 130429);
	assert_int_equal(ingest(f, &b, &seq), 0);
	assert_int_equal(e->seq, 1);
	assert_int_equal(seq, 1);
	json_t *ev = events(f, 0, 10);
	json_t *got = json_array_get(json_object_get(ev, "events"), 0);
	assert_string_equal(sget(got, "type"), "channel.error");
	assert_true(json_equal(json_object_get(got, "data"), e->data));
	assert_true(json_is_null(json_object_get(got, "message_id")));
	json_decref(ev);
	ingest_batch_free(&b);
}

/* --- sending --- */

static int64_t
outbox_depth(struct fx *f, int64_t channel)
{
	int64_t n = -1;

	assert_int_equal(store_outbox_depth(f->st, channel, &n), 0);
	return n;
}

static json_t *
outbox_due(struct fx *f, int64_t now, int limit)
{
	json_t *due = NULL;

	assert_int_equal(store_outbox_due(f->st, 0, now, limit, &due), 0);
	assert_true(json_is_array(due));
	return due;
}

static int64_t
next_due(struct fx *f)
{
	int64_t ms = -1;

	assert_int_equal(store_outbox_next_due(f->st, 0, &ms), 0);
	return ms;
}

static int64_t
last_inbound(struct fx *f, int64_t channel, const char *address)
{
	int64_t ms = -1;

	assert_int_equal(store_last_inbound(f->st, channel, address, &ms, NULL, NULL), 0);
	return ms;
}

/* The event with that seq (its data borrowed from ev, which the caller frees). */
static json_t *
event_at(struct fx *f, int64_t seq, json_t **ev)
{
	json_t *e;

	*ev = events(f, seq - 1, 1);
	e = json_array_get(json_object_get(*ev, "events"), 0);
	assert_non_null(e);
	assert_int_equal(iget(e, "seq"), seq);
	return e;
}

/* The outbox entry of a message in a due list, or NULL. */
static json_t *
due_entry(json_t *due, int64_t id)
{
	for (size_t i = 0; i < json_array_size(due); i++)
		if (iget(json_array_get(due, i), "message_id") == id)
			return json_array_get(due, i);
	return NULL;
}

static int64_t
due_attempts(struct fx *f, int64_t id)
{
	json_t *due = outbox_due(f, INT64_MAX, 1000), *e = due_entry(due, id);
	int64_t n;

	assert_non_null(e);
	n = iget(e, "attempts");
	json_decref(due);
	return n;
}

static void
test_outbound_insert(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	int64_t last_seq = 0, t0 = now_ms();
	json_t *m, *ev, *e, *d, *conv = NULL;

	struct msg_in *out = add_msg(&b, ch, DIR_OUT, NULL, "333", NULL, "hello");
	out->status = ST_QUEUED;
	out->client_id = xstrdup("c-1");
	out->priority = 1;
	json_object_set_new(out->parts, "metadata", json_pack("{s:s}", "order", "A17"));
	json_object_set_new(out->parts, "status", json_string("never overrides"));
	assert_int_equal(ingest(f, &b, &last_seq), 0);
	assert_false(out->duplicate);
	assert_true(out->id > 0);
	assert_true(out->conversation_id > 0);
	assert_int_equal(out->seq, 1);
	assert_int_equal(last_seq, 1);

	m = get_message(f, out->id);
	assert_string_equal(sget(m, "direction"), "out");
	assert_string_equal(sget(m, "status"), "queued");
	assert_true(json_is_null(json_object_get(m, "provider_message_id")));
	assert_string_equal(sget(m, "from"), "15550783881");
	assert_string_equal(sget(m, "to"), "333");
	assert_string_equal(sget(m, "client_id"), "c-1");
	assert_string_equal(sget(json_object_get(m, "metadata"), "order"), "A17");
	assert_null(json_object_get(m, "error"));
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 1);
	assert_string_equal(sget(json_array_get(h, 0), "status"), "queued");
	assert_true(json_is_null(json_object_get(json_array_get(h, 0), "error")));

	/* One message.status event, carrying the message as a read shows it. */
	assert_int_equal(event_count(f), 1);
	e = event_at(f, 1, &ev);
	assert_string_equal(sget(e, "type"), "message.status");
	assert_int_equal(iget(e, "message_id"), out->id);
	assert_int_equal(iget(e, "conversation_id"), out->conversation_id);
	assert_string_equal(sget(e, "channel"), "wa1");
	d = json_object_get(e, "data");
	assert_int_equal(iget(d, "id"), out->id);
	assert_true(json_is_null(json_object_get(d, "provider_message_id")));
	assert_string_equal(sget(d, "status"), "queued");
	assert_true(json_is_null(json_object_get(d, "error")));
	assert_true(json_equal(json_object_get(d, "message"), m));
	json_decref(ev);

	/* The conversation: last message, nothing unread, the contact never wrote. */
	assert_int_equal(store_conversation_get(f->st, 0, out->conversation_id, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 0);
	assert_true(json_equal(json_object_get(conv, "last_message"), m));
	json_decref(conv);
	assert_int_equal(last_inbound(f, ch, "333"), 0);
	assert_int_equal(last_inbound(f, ch, "nobody"), 0);

	/* Its outbox entry. */
	json_t *due = outbox_due(f, now_ms(), 10);
	assert_int_equal(json_array_size(due), 1);
	e = json_array_get(due, 0);
	assert_int_equal(iget(e, "message_id"), out->id);
	assert_int_equal(iget(e, "channel_id"), ch);
	assert_string_equal(sget(e, "recipient"), "333");
	assert_int_equal(iget(e, "priority"), 1);
	assert_int_equal(iget(e, "attempts"), 0);
	assert_true(iget(e, "created_ms") >= t0);
	assert_true(json_is_null(json_object_get(e, "first_attempt_ms")));
	assert_true(json_is_false(json_object_get(e, "uncertain")));
	/* The dispatcher's copy is the message without its status history. */
	json_t *bare = json_deep_copy(m);
	json_object_del(bare, "status_history");
	assert_true(json_equal(json_object_get(e, "message"), bare));
	json_decref(bare);
	json_decref(due);
	assert_int_equal(outbox_depth(f, ch), 1);
	json_decref(m);
	ingest_batch_free(&b);

	/* Scheduled: not due yet. */
	int64_t later = now_ms() + 3600 * 1000;
	int64_t sid = send_full(f, ch, "333", "later", NULL, 1, later, NULL);
	m = get_message(f, sid);
	assert_string_equal(sget(m, "status"), "scheduled");
	json_decref(m);
	e = event_at(f, 2, &ev);
	assert_string_equal(sget(json_object_get(e, "data"), "status"), "scheduled");
	json_decref(ev);
	due = outbox_due(f, now_ms(), 10);
	assert_int_equal(json_array_size(due), 1);
	json_decref(due);
	due = outbox_due(f, later, 10);
	assert_int_equal(json_array_size(due), 2);
	json_decref(due);
	assert_int_equal(outbox_depth(f, ch), 2);

	/* The contact writes: the window opens at the time they wrote (the
	 * provider's timestamp); our sends never move it. */
	ingest_one(f, ch, "wamid.IN1", "333", "hi");
	int64_t li = last_inbound(f, ch, "333");
	assert_int_equal(li, 1749416383LL * 1000);
	send_one(f, ch, "333", "again");
	assert_int_equal(last_inbound(f, ch, "333"), li);
	assert_int_equal(last_inbound(f, ch + 1, "333"), 0);

	/* Neither queued nor scheduled: refused. */
	struct msg_in *bad = add_msg(&b, ch, DIR_OUT, NULL, "333", NULL, "x");
	bad->status = ST_SENT;
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	ingest_batch_free(&b);
}

static void
test_client_id(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), ch2 = channel_create(f, "wa2");
	struct ingest_batch b = { 0 };
	bool dup = true;

	int64_t id = send_full(f, ch, "333", "once", "key-1", 0, 0, &dup);
	assert_false(dup);
	size_t nev = event_count(f);

	/* Again, on another channel too (idempotency is global), and twice in a batch. */
	assert_int_equal(send_full(f, ch, "333", "once", "key-1", 0, 0, &dup), id);
	assert_true(dup);
	assert_int_equal(send_full(f, ch2, "444", "once", "key-1", 0, 0, &dup), id);
	assert_true(dup);
	struct msg_in *m1 = add_msg(&b, ch, DIR_OUT, NULL, "333", NULL, "x");
	m1->client_id = xstrdup("key-2");
	struct msg_in *m2 = add_msg(&b, ch, DIR_OUT, NULL, "333", NULL, "x");
	m2->client_id = xstrdup("key-2");
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_false(b.msgs[0].duplicate);
	assert_true(b.msgs[1].duplicate);
	assert_int_equal(b.msgs[1].id, b.msgs[0].id);
	assert_int_equal(b.msgs[1].conversation_id, b.msgs[0].conversation_id);
	assert_int_equal(b.msgs[1].seq, 0);
	ingest_batch_free(&b);
	assert_int_equal(event_count(f), nev + 1);
	assert_int_equal(outbox_depth(f, ch), 2);
	assert_int_equal(outbox_depth(f, ch2), 0);

	/* Without a client_id, every send is new. */
	assert_true(send_one(f, ch, "333", "a") != send_one(f, ch, "333", "a"));

	/* After a restart. */
	store_close(f->st);
	assert_int_equal(fx_open(f), 0);
	assert_int_equal(send_full(f, ch, "333", "once", "key-1", 0, 0, &dup), id);
	assert_true(dup);
}

static void
test_outbox_results(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	int64_t a = send_one(f, ch, "333", "a"), b = send_one(f, ch, "333", "b");
	int64_t c = send_one(f, ch, "333", "c"), d = send_one(f, ch, "333", "d");
	size_t nev = event_count(f);
	json_t *m, *ev, *e, *due;
	char pmid[256];
	int64_t pch = -1;

	/* Claims: once only; several in one op. */
	assert_true(claim(f, a));
	assert_false(claim(f, a));
	struct outbox_item items[3] = { { .message_id = b }, { .message_id = c },
	    { .message_id = d } };
	struct store_op op = { .kind = STORE_OP_OUTBOX_CLAIM, .u.outbox = { items, 3 } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	for (size_t i = 0; i < 3; i++)
		assert_true(items[i].claimed);
	/* In flight: not due, still counted. */
	due = outbox_due(f, INT64_MAX, 100);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
	assert_int_equal(next_due(f), 0);
	assert_int_equal(outbox_depth(f, ch), 4);
	assert_int_equal(event_count(f), nev);

	/* RETRY: pending again at due_ms, the attempt counted, no status change. */
	int64_t t = now_ms() + 5000;
	assert_int_equal(result(f, b, OUTBOX_RETRY, NULL, t, 131000, "Something went wrong"), 0);
	assert_int_equal(next_due(f), t);
	due = outbox_due(f, t - 1, 100);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
	due = outbox_due(f, t, 100);
	assert_int_equal(json_array_size(due), 1);
	e = json_array_get(due, 0);
	assert_int_equal(iget(e, "message_id"), b);
	assert_int_equal(iget(e, "attempts"), 1);
	assert_true(iget(e, "first_attempt_ms") > 0);
	json_decref(due);
	m = get_message(f, b);
	assert_string_equal(sget(m, "status"), "queued");
	assert_int_equal(json_array_size(json_object_get(m, "status_history")), 1);
	json_decref(m);
	/* REQUEUE: pending again, the claim's attempt undone; a pending entry
	 * put off (not claimed) keeps its count. */
	assert_true(claim(f, b));
	assert_int_equal(result(f, b, OUTBOX_REQUEUE, NULL, t, 0, NULL), 0);
	assert_int_equal(due_attempts(f, b), 1);
	assert_int_equal(result(f, b, OUTBOX_REQUEUE, NULL, t + 1, 0, NULL), 0);
	assert_int_equal(due_attempts(f, b), 1);
	assert_int_equal(next_due(f), t + 1);
	assert_int_equal(result(f, b, OUTBOX_REQUEUE, NULL, t, 0, NULL), 0);
	assert_int_equal(result(f, c, OUTBOX_REQUEUE, NULL, t, 0, NULL), 0);
	due = outbox_due(f, t, 100);
	assert_int_equal(json_array_size(due), 2);
	assert_int_equal(iget(due_entry(due, c), "attempts"), 0);
	assert_true(json_is_null(json_object_get(due_entry(due, c), "first_attempt_ms")));
	json_decref(due);
	assert_int_equal(event_count(f), nev);

	/* ACCEPTED: status accepted with the provider id, the entry done. */
	int64_t seq = result(f, a, OUTBOX_ACCEPTED, "wamid.A", 0, 0, NULL);
	assert_int_equal(seq, (int64_t)nev + 1);
	e = event_at(f, seq, &ev);
	assert_string_equal(sget(e, "type"), "message.status");
	assert_int_equal(iget(e, "message_id"), a);
	assert_int_equal(iget(json_object_get(e, "data"), "id"), a);
	assert_string_equal(sget(json_object_get(e, "data"), "provider_message_id"), "wamid.A");
	assert_string_equal(sget(json_object_get(e, "data"), "status"), "accepted");
	assert_true(json_is_null(json_object_get(json_object_get(e, "data"), "error")));
	assert_null(json_object_get(json_object_get(e, "data"), "message"));
	json_decref(ev);
	m = get_message(f, a);
	assert_string_equal(sget(m, "status"), "accepted");
	assert_string_equal(sget(m, "provider_message_id"), "wamid.A");
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(sget(json_array_get(h, 0), "status"), "queued");
	assert_string_equal(sget(json_array_get(h, 1), "status"), "accepted");
	json_decref(m);
	assert_int_equal(outbox_depth(f, ch), 3);
	assert_int_equal(store_message_provider_id(f->st, 0, a, &pch, pmid, sizeof(pmid)), 0);
	assert_int_equal(pch, ch);
	assert_string_equal(pmid, "wamid.A");
	/* The provider's reports now find it. */
	struct ingest_batch sb = { 0 };
	add_status(&sb, ch, "wamid.A", ST_SENT, 1749416400);
	assert_int_equal(ingest(f, &sb, NULL), 0);
	assert_true(sb.statuses[0].applied);
	assert_int_equal(sb.statuses[0].message_id, a);
	ingest_batch_free(&sb);

	/* FAILED: status failed with the error, the entry done. */
	assert_true(claim(f, d) == false);  /* still in flight from the batch claim */
	seq = result(f, d, OUTBOX_FAILED, NULL, 0, 131026, "Undeliverable");
	assert_true(seq > 0);
	e = event_at(f, seq, &ev);
	json_t *data = json_object_get(e, "data");
	assert_string_equal(sget(data, "status"), "failed");
	assert_true(json_is_null(json_object_get(data, "provider_message_id")));
	assert_int_equal(iget(json_object_get(data, "error"), "code"), 131026);
	assert_string_equal(sget(json_object_get(data, "error"), "title"), "Undeliverable");
	assert_true(json_is_null(json_object_get(json_object_get(data, "error"), "detail")));
	json_decref(ev);
	m = get_message(f, d);
	assert_string_equal(sget(m, "status"), "failed");
	assert_int_equal(iget(json_object_get(m, "error"), "code"), 131026);
	h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(sget(json_array_get(h, 1), "status"), "failed");
	assert_int_equal(iget(json_object_get(json_array_get(h, 1), "error"), "code"), 131026);
	json_decref(m);
	assert_int_equal(outbox_depth(f, ch), 2);
	assert_int_equal(store_message_provider_id(f->st, 0, d, &pch, pmid, sizeof(pmid)), 0);
	assert_int_equal(pch, ch);
	assert_string_equal(pmid, "");
	assert_int_equal(event_count(f), nev + 3);

	/* Outcomes for entries that are gone, or never were: ignored. */
	assert_int_equal(result(f, a, OUTBOX_FAILED, NULL, 0, 1, "late"), 0);
	assert_int_equal(result(f, d, OUTBOX_ACCEPTED, "wamid.D", 0, 0, NULL), 0);
	assert_int_equal(result(f, 9999, OUTBOX_RETRY, NULL, t, 0, NULL), 0);
	assert_false(claim(f, 9999));
	assert_int_equal(event_count(f), nev + 3);
	m = get_message(f, a);
	assert_string_equal(sget(m, "status"), "sent");
	json_decref(m);
	assert_int_equal(store_message_provider_id(f->st, 0, 9999, &pch, pmid, sizeof(pmid)), 0);
	assert_int_equal(pch, 0);
	assert_string_equal(pmid, "");
	/* A buffer too small for the id is an error, not a truncated id. */
	assert_int_equal(store_message_provider_id(f->st, 0, a, &pch, pmid, 4), -1);
}

/* Status reports that arrive before the send's answer: kept unmatched,
 * then attached and applied when the message gets that provider id. */
static void
test_early_status(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), ch2 = channel_create(f, "wa2");
	int64_t x = send_one(f, ch, "333", "fast");
	struct ingest_batch b = { 0 };
	json_t *m, *ev, *e;

	assert_true(claim(f, x));
	add_status(&b, ch, "wamid.X", ST_SENT, 1749416400);
	add_status(&b, ch, "wamid.X", ST_DELIVERED, 1749416401);
	add_status(&b, ch2, "wamid.X", ST_READ, 1749416402);  /* another channel's */
	assert_int_equal(ingest(f, &b, NULL), 0);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(b.statuses[i].message_id, 0);
		assert_false(b.statuses[i].applied);
	}
	ingest_batch_free(&b);
	size_t nev = event_count(f);

	int64_t seq = result(f, x, OUTBOX_ACCEPTED, "wamid.X", 0, 0, NULL);
	assert_int_equal(event_count(f), nev + 2);  /* accepted, then delivered */
	e = event_at(f, seq - 1, &ev);
	assert_string_equal(sget(json_object_get(e, "data"), "status"), "accepted");
	json_decref(ev);
	e = event_at(f, seq, &ev);
	assert_int_equal(iget(e, "message_id"), x);
	assert_int_equal(iget(json_object_get(e, "data"), "id"), x);
	assert_string_equal(sget(json_object_get(e, "data"), "provider_message_id"), "wamid.X");
	assert_string_equal(sget(json_object_get(e, "data"), "status"), "delivered");
	json_decref(ev);

	m = get_message(f, x);
	assert_string_equal(sget(m, "status"), "delivered");
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 4);  /* queued, sent, delivered, accepted */
	json_decref(m);

	/* A redelivered early report is not recorded again. */
	add_status(&b, ch, "wamid.X", ST_DELIVERED, 1749416401);
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_int_equal(b.statuses[0].message_id, x);
	assert_false(b.statuses[0].applied);
	ingest_batch_free(&b);
	add_status(&b, ch, "wamid.X", ST_READ, 1749416403);
	assert_int_equal(ingest(f, &b, NULL), 0);
	assert_true(b.statuses[0].applied);
	ingest_batch_free(&b);
	m = get_message(f, x);
	assert_string_equal(sget(m, "status"), "read");
	assert_int_equal(json_array_size(json_object_get(m, "status_history")), 5);
	json_decref(m);

	/* An early failure wins over accepted, with its error. */
	int64_t y = send_one(f, ch, "333", "doomed");
	assert_true(claim(f, y));
	struct status_in *fs = add_status(&b, ch, "wamid.Y", ST_FAILED, 1749416400);
	fs->error_code = 131047;
	fs->error_title = xstrdup("Re-engagement message");
	assert_int_equal(ingest(f, &b, NULL), 0);
	ingest_batch_free(&b);
	result(f, y, OUTBOX_ACCEPTED, "wamid.Y", 0, 0, NULL);
	m = get_message(f, y);
	assert_string_equal(sget(m, "status"), "failed");
	assert_int_equal(iget(json_object_get(m, "error"), "code"), 131047);
	json_decref(m);
}

static void
test_outbox_recover(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	int64_t a = send_one(f, ch, "333", "a"), b = send_one(f, ch, "333", "b");
	json_t *due;

	assert_true(claim(f, a));
	/* As at start-up after a crash. */
	store_close(f->st);
	assert_int_equal(fx_open(f), 0);
	struct store_op op = { .kind = STORE_OP_OUTBOX_RECOVER };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_int_equal(op.last_seq, 0);
	due = outbox_due(f, now_ms(), 10);
	assert_int_equal(json_array_size(due), 2);
	assert_true(json_is_true(json_object_get(due_entry(due, a), "uncertain")));
	assert_int_equal(iget(due_entry(due, a), "attempts"), 1);
	assert_true(json_is_false(json_object_get(due_entry(due, b), "uncertain")));
	json_decref(due);
	/* Claiming it again clears the mark: the dispatcher has read it. */
	assert_true(claim(f, a));
	/* Nothing in flight: nothing changes. */
	assert_int_equal(result(f, a, OUTBOX_RETRY, NULL, 1, 0, NULL), 0);
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	due = outbox_due(f, now_ms(), 10);
	assert_true(json_is_false(json_object_get(due_entry(due, a), "uncertain")));
	assert_true(json_is_false(json_object_get(due_entry(due, b), "uncertain")));
	json_decref(due);
}

/* --- several instances: outbox leases and named leases --- */

/* Claim one entry as owner, leased until until_ms; returns whether claimed. */
static bool
claim_as(struct fx *f, int64_t id, const char *owner, int64_t until_ms)
{
	struct outbox_item it = { .message_id = id };
	struct store_op op = { .kind = STORE_OP_OUTBOX_CLAIM,
	    .u.outbox = { .items = &it, .n = 1, .owner = owner, .lease_until = until_ms } };

	assert_int_equal(store_submit_wait(f->st, &op), 0);
	return it.claimed;
}

/* A RECOVER, SWEEP or RENEW op; returns the entries it changed. */
static int64_t
lease_op(struct fx *f, enum store_op_kind kind, const char *owner, int64_t now, int64_t until)
{
	struct store_op op = { .kind = kind,
	    .u.lease = { .owner = owner, .now_ms = now, .until_ms = until } };

	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_int_equal(op.last_seq, 0);
	return op.u.lease.count;
}

/* Is the entry pending (due by then), and marked uncertain? */
static bool
pending(struct fx *f, int64_t id, bool *uncertain)
{
	json_t *due = outbox_due(f, INT64_MAX, 1000), *e = due_entry(due, id);
	bool found = e != NULL;

	if (uncertain)
		*uncertain = e && json_is_true(json_object_get(e, "uncertain"));
	json_decref(due);
	return found;
}

/* Claims carry their owner and lease: recovery at start takes back only
 * the restarting instance's own entries and those whose lease ran out,
 * never another instance's live sends. */
static void
test_outbox_lease_recover(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), now = now_ms();
	int64_t a = send_one(f, ch, "333", "a"), b = send_one(f, ch, "444", "b");
	int64_t c = send_one(f, ch, "555", "c");
	bool unc;

	assert_true(claim_as(f, a, "A", now + 60000));
	assert_false(claim_as(f, a, "B", now + 60000));   /* in flight: not claimed twice */
	assert_true(claim_as(f, b, "B", now + 60000));
	assert_true(claim_as(f, c, "A", now - 1));        /* A's lease ran out */
	assert_false(pending(f, a, NULL));
	/* B restarts: its own b and A's expired c come back; A's live a stays. */
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_RECOVER, "B", now, 0), 2);
	assert_false(pending(f, a, NULL));
	assert_true(pending(f, b, &unc) && unc);
	assert_true(pending(f, c, &unc) && unc);
	/* A restarts: its own a comes back, lease or not. */
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_RECOVER, "A", now, 0), 1);
	assert_true(pending(f, a, &unc) && unc);
	/* The single-process way (SQLite): every entry in flight. */
	assert_true(claim_as(f, a, "A", now + 60000));
	struct store_op all = { .kind = STORE_OP_OUTBOX_RECOVER,
	    .u.lease = { .owner = "B", .now_ms = now, .all = true } };
	assert_int_equal(store_submit_wait(f->st, &all), 0);
	assert_int_equal(all.u.lease.count, 1);
	assert_true(pending(f, a, NULL));
}

/* The sweep takes back other instances' expired claims (due now,
 * uncertain), never live ones nor the sweeper's own; a renewal keeps a
 * claim alive; a late retry from an owner whose claim went to another
 * instance does not disturb the new attempt. */
static void
test_outbox_lease_sweep_renew(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), now = now_ms();
	int64_t a = send_one(f, ch, "333", "a"), b = send_one(f, ch, "444", "b");
	int64_t c = send_one(f, ch, "555", "c");
	bool unc;

	assert_true(claim_as(f, a, "A", now + 60000));
	assert_true(claim_as(f, b, "B", now - 1));
	assert_true(claim_as(f, c, "A", now - 1));
	/* A sweeps: B's expired b only (c is A's own: its renewals keep it). */
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_SWEEP, "A", now, 0), 1);
	assert_true(pending(f, b, &unc) && unc);
	assert_false(pending(f, a, NULL));
	assert_false(pending(f, c, NULL));
	json_t *due = outbox_due(f, now, 10);
	assert_non_null(due_entry(due, b));  /* due now */
	json_decref(due);
	/* Nothing live to sweep. */
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_SWEEP, "C", now, 0), 1);  /* c: A's, expired */
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_SWEEP, "C", now, 0), 0);
	/* Renewal: B claims b with a short lease and renews it. */
	assert_true(claim_as(f, b, "B", now - 1));
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_RENEW, "B", 0, now + 60000), 1);
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_SWEEP, "A", now, 0), 0);
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_RENEW, "Z", 0, now + 60000), 0);
	/* Later than every lease: a (A's) and b (B's) go to a third sweeper. */
	assert_int_equal(lease_op(f, STORE_OP_OUTBOX_SWEEP, "C", now + 120000, 0), 2);
	/* A late retry from A after B took a over is ignored; A's own counts. */
	assert_true(claim_as(f, a, "B", now + 60000));
	struct outbox_item it = { .message_id = a, .result = OUTBOX_RETRY, .due_ms = now + 5000 };
	struct store_op op = { .kind = STORE_OP_OUTBOX_RESULT,
	    .u.outbox = { .items = &it, .n = 1, .owner = "A" } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_false(pending(f, a, NULL));
	op = (struct store_op){ .kind = STORE_OP_OUTBOX_RESULT,
	    .u.outbox = { .items = &it, .n = 1, .owner = "B" } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_true(pending(f, a, NULL));
}

/* Take or renew named leases; returns how many of names owner holds. */
static size_t
acquire(struct fx *f, const char *owner, int64_t now, int64_t until, bool held[2])
{
	static const char *const names[] = { "channel:1", "hook:2" };
	struct store_op op = { .kind = STORE_OP_LEASE_ACQUIRE,
	    .u.leases = { .owner = owner, .names = names, .held = held, .n = 2, .now_ms = now,
	    .until_ms = until } };

	held[0] = held[1] = false;
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	return (size_t)held[0] + held[1];
}

static void
release(struct fx *f, const char *owner)
{
	struct store_op op = { .kind = STORE_OP_LEASE_RELEASE, .u.leases = { .owner = owner } };

	assert_int_equal(store_submit_wait(f->st, &op), 0);
}

/* One owner at a time: taken when free, renewed by its owner, refused to
 * another until it runs out, then stolen; released at a clean shutdown. */
static void
test_leases(void **state)
{
	struct fx *f = *state;
	int64_t t = 1000000;
	bool held[2];

	assert_int_equal(acquire(f, "A", t, t + 5000, held), 2);
	assert_int_equal(acquire(f, "B", t + 100, t + 5100, held), 0);
	assert_int_equal(acquire(f, "A", t + 1000, t + 6000, held), 2);   /* renewed */
	assert_int_equal(acquire(f, "B", t + 5500, t + 10500, held), 0);  /* A's runs to 6000 */
	assert_int_equal(acquire(f, "B", t + 6001, t + 11001, held), 2);  /* ran out: B's */
	assert_int_equal(acquire(f, "A", t + 6002, t + 11002, held), 0);
	release(f, "A");  /* not A's: nothing changes */
	assert_int_equal(acquire(f, "A", t + 6003, t + 11003, held), 0);
	release(f, "B");
	assert_int_equal(acquire(f, "A", t + 6004, t + 11004, held), 2);
	release(f, NULL);  /* every lease (SQLite at start) */
	assert_int_equal(acquire(f, "B", t + 6005, t + 11005, held), 2);
}

/* A wall-clock jump moves delay-based due times (a retry, a send for now)
 * and the message's next_attempt_at with them; a scheduled_at stays. With
 * no jump (delta 0, as at start) only what lies beyond the cap is pulled in. */
static void
test_outbox_shift(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), now = now_ms();
	int64_t later = now + 7200 * 1000;
	int64_t a = send_one(f, ch, "333", "retrying");
	int64_t b = send_full(f, ch, "444", "scheduled", NULL, 0, later, NULL);
	int64_t c = send_one(f, ch, "555", "now");
	json_t *due, *m;

	assert_true(claim(f, a));
	assert_int_equal(result(f, a, OUTBOX_RETRY, NULL, now + 30000, 0, "HTTP 500"), 0);
	/* The clock was set back an hour. */
	struct store_op op = { .kind = STORE_OP_OUTBOX_SHIFT,
	    .u.shift = { .delta_ms = -3600 * 1000, .cap_ms = now + 86400 * 1000 } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_int_equal(op.u.shift.count, 2);
	due = outbox_due(f, now - 3600 * 1000 + 30000, 10);
	assert_int_equal(json_array_size(due), 2);
	assert_non_null(due_entry(due, a));
	assert_non_null(due_entry(due, c));
	json_decref(due);
	m = get_message(f, a);
	char want[21];
	fmt_rfc3339((now - 3600 * 1000 + 30000 + 999) / 1000, want);
	assert_string_equal(sget(m, "next_attempt_at"), want);
	json_decref(m);
	/* The scheduled one keeps its calendar time. */
	due = outbox_due(f, later - 1, 10);
	assert_null(due_entry(due, b));
	json_decref(due);
	due = outbox_due(f, later, 10);
	assert_non_null(due_entry(due, b));
	json_decref(due);
	/* At start: nothing delay-based later than the cap. */
	op = (struct store_op){ .kind = STORE_OP_OUTBOX_SHIFT,
	    .u.shift = { .delta_ms = 0, .cap_ms = now - 3600 * 1000 + 10000 } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_int_equal(op.u.shift.count, 1);  /* a: due 20 s after the cap */
	due = outbox_due(f, now - 3600 * 1000 + 10000, 10);
	assert_non_null(due_entry(due, a));
	assert_null(due_entry(due, b));
	json_decref(due);
}

/* Two writers on one PostgreSQL database (two msgd instances): ops go to
 * both at once while a reader follows the log with a cursor, as
 * /v1/events?since= does. The reader must never see a seq before every
 * lower seq is visible: it would move its cursor past an event that
 * commits later, and never see it. */
#define TWO_WRITERS_OPS 300

static void count_done(struct store_op *op, void *arg);

static void
test_two_writers_cursor(void **state)
{
	struct fx *f = *state;
	struct store *st2 = NULL;
	struct ingest_batch *b = xcalloc(TWO_WRITERS_OPS, sizeof(*b));
	struct store_op *ops = xcalloc(TWO_WRITERS_OPS, sizeof(*ops));
	int done = 0;
	int64_t cursor = 0, seen = 0;

	if (!pg_cluster()) {
		free(b);
		free(ops);
		skip();  /* one SQLite file has one writer (the data directory lock) */
	}
	struct store_config cfg = { .data_dir = f->data, .database = f->dsn };
	assert_int_equal(store_open(&st2, &cfg, f->base), 0);
	int64_t ch = channel_create(f, "wa1");
	for (int i = 0; i < TWO_WRITERS_OPS; i++) {
		char pmid[32], who[16];
		snprintf(pmid, sizeof(pmid), "wamid.two.%d", i);
		snprintf(who, sizeof(who), "1555%04d", i % 37);
		add_msg(&b[i], ch, DIR_IN, pmid, who, NULL, "interleaved");
		ops[i] = (struct store_op){ .kind = STORE_OP_INGEST, .u.ingest = &b[i],
		    .done = count_done, .arg = &done };
		store_submit(i % 2 ? st2 : f->st, &ops[i]);
	}
	int64_t deadline = mono_ms() + WAIT_MS;
	while (seen < TWO_WRITERS_OPS) {
		struct store_event *ev = NULL;
		size_t n = 0;

		assert_true(mono_ms() < deadline);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		assert_int_equal(store_events_read(f->st, 0, cursor, 1000, &ev, &n), 0);
		for (size_t i = 0; i < n; i++) {
			/* Nothing skipped: the next one is the cursor's successor. */
			assert_int_equal(ev[i].seq, cursor + 1);
			cursor = ev[i].seq;
			seen++;
		}
		store_events_free(ev, n);
	}
	while (done < TWO_WRITERS_OPS) {
		assert_true(mono_ms() < deadline);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	for (int i = 0; i < TWO_WRITERS_OPS; i++) {
		assert_int_equal(ops[i].result, 0);
		ingest_batch_free(&b[i]);
	}
	store_close(st2);
	free(b);
	free(ops);
}

/* A channel deleted while an attempt is in flight: the delete fails only the
 * entries waiting then; the attempt's retry result, committed after it, must
 * fail the message too, or it would wait forever for a channel that is gone. */
static void
test_outbox_channel_deleted_in_flight(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	int64_t a = send_one(f, ch, "333", "in flight"), b = send_one(f, ch, "333", "waiting");
	json_t *m = NULL;

	assert_true(claim(f, a));
	struct store_op del = { .kind = STORE_OP_CHANNEL_DELETE, .u.channel = { .id = ch } };
	assert_int_equal(store_submit_wait(f->st, &del), 0);
	assert_int_equal(store_message_get(f->st, 0, b, &m), 0);
	assert_string_equal(sget(m, "status"), "failed");
	json_decref(m);
	/* The in-flight attempt ends in a retry after the delete. */
	result(f, a, OUTBOX_RETRY, NULL, now_ms() + 1000, 0, "HTTP 500");
	assert_int_equal(store_message_get(f->st, 0, a, &m), 0);
	assert_string_equal(sget(m, "status"), "failed");
	json_t *hist = json_object_get(m, "status_history");
	json_t *last = json_array_get(hist, json_array_size(hist) - 1);
	assert_string_equal(sget(json_object_get(last, "error"), "title"), "channel deleted");
	json_decref(m);
	json_t *due = outbox_due(f, now_ms() + 10000, 10);
	assert_int_equal(json_array_size(due), 0);
	json_decref(due);
}

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	int64_t a = send_one(f, ch, "333", "a"), b = send_one(f, ch, "333", "b");
	size_t nev = event_count(f);
	json_t *m, *ev, *e;

	struct store_op op = { .kind = STORE_OP_CANCEL, .u.cancel = { .message_id = a } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_non_null(op.u.cancel.message);
	m = get_message(f, a);
	assert_true(json_equal(op.u.cancel.message, m));
	json_decref(op.u.cancel.message);
	assert_string_equal(sget(m, "status"), "cancelled");
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(sget(json_array_get(h, 1), "status"), "cancelled");
	assert_null(json_object_get(m, "error"));
	json_decref(m);
	assert_int_equal(event_count(f), nev + 1);
	e = event_at(f, op.last_seq, &ev);
	assert_string_equal(sget(e, "type"), "message.status");
	assert_int_equal(iget(e, "message_id"), a);
	assert_string_equal(sget(json_object_get(e, "data"), "status"), "cancelled");
	json_decref(ev);
	assert_int_equal(outbox_depth(f, ch), 1);
	assert_false(claim(f, a));

	/* Again: no longer cancellable. */
	op = (struct store_op){ .kind = STORE_OP_CANCEL, .u.cancel = { .message_id = a } };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	assert_int_equal(op.err, STORE_CONFLICT);
	assert_null(op.u.cancel.message);

	/* In flight: not cancellable either; pending again: it is. */
	assert_true(claim(f, b));
	op = (struct store_op){ .kind = STORE_OP_CANCEL, .u.cancel = { .message_id = b } };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	assert_int_equal(op.err, STORE_CONFLICT);
	assert_int_equal(result(f, b, OUTBOX_RETRY, NULL, 1, 0, NULL), 0);
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	json_decref(op.u.cancel.message);

	/* Unknown message. */
	op = (struct store_op){ .kind = STORE_OP_CANCEL, .u.cancel = { .message_id = 9999 } };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	assert_int_equal(op.err, STORE_NOTFOUND);
	assert_null(op.u.cancel.message);

	/* An inbound message was never queued. */
	int64_t in = ingest_one(f, ch, "wamid.I", "333", "hi");
	op = (struct store_op){ .kind = STORE_OP_CANCEL, .u.cancel = { .message_id = in } };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	assert_int_equal(op.err, STORE_CONFLICT);
	assert_int_equal(outbox_depth(f, ch), 0);
}

static void
test_conv_read(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	json_t *conv = NULL, *ev, *e;

	ingest_one(f, ch, "wamid.I1", "444", "one");
	int64_t i2 = ingest_one(f, ch, "wamid.I2", "444", "two");
	send_one(f, ch, "444", "reply");
	json_t *m = get_message(f, i2);
	int64_t cid = iget(m, "conversation_id");
	json_decref(m);
	assert_int_equal(store_conversation_get(f->st, 0, cid, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 2);
	json_decref(conv);

	struct store_op op = { .kind = STORE_OP_CONV_READ, .u.conv_read = { .conversation_id = cid } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_int_equal(op.u.conv_read.channel_id, ch);
	assert_string_equal(op.u.conv_read.last_inbound_provider_id, "wamid.I2");
	assert_true(op.last_seq > 0);
	e = event_at(f, op.last_seq, &ev);
	assert_string_equal(sget(e, "type"), "conversation.read");
	assert_int_equal(iget(e, "conversation_id"), cid);
	assert_string_equal(sget(e, "channel"), "wa1");
	assert_true(json_is_null(json_object_get(e, "message_id")));
	assert_int_equal(iget(json_object_get(e, "data"), "conversation_id"), cid);
	json_decref(ev);
	assert_int_equal(store_conversation_get(f->st, 0, cid, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 0);
	json_decref(conv);

	/* Nothing inbound: no receipt to send. */
	int64_t o = send_one(f, ch, "555", "hello");
	m = get_message(f, o);
	op = (struct store_op){ .kind = STORE_OP_CONV_READ,
	    .u.conv_read = { .conversation_id = iget(m, "conversation_id") } };
	json_decref(m);
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	assert_string_equal(op.u.conv_read.last_inbound_provider_id, "");

	op = (struct store_op){ .kind = STORE_OP_CONV_READ, .u.conv_read = { .conversation_id = 9999 } };
	assert_int_equal(store_submit_wait(f->st, &op), -1);
	assert_int_equal(op.err, STORE_NOTFOUND);
	assert_int_equal(op.last_seq, 0);
}

static int
template_op(struct fx *f, enum store_op_kind kind, const char *name, const char *lang,
    const char *body, bool *conflict)
{
	struct store_op op = { .kind = kind, .u.template = { name, lang, body } };
	int rc = store_submit_wait(f->st, &op);

	if (conflict)
		*conflict = op.err == STORE_CONFLICT;
	if (rc != 0 && op.err != STORE_CONFLICT)
		assert_string_equal(op.errmsg, "not found");
	return rc;
}

static void
test_templates(void **state)
{
	struct fx *f = *state;
	json_t *list = NULL, *t = NULL;
	bool conflict = false;

	assert_int_equal(store_templates_list(f->st, 0, &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "templates")), 0);
	json_decref(list);

	assert_int_equal(template_op(f, STORE_OP_TEMPLATE_PUT, "hello", "pt_BR", "Olá {{name}}", NULL), 0);
	assert_int_equal(template_op(f, STORE_OP_TEMPLATE_PUT, "hello", "en", "Hello {{name}}", NULL), 0);
	assert_int_equal(template_op(f, STORE_OP_TEMPLATE_PUT, "bye", "en", "Bye", NULL), 0);
	assert_int_equal(template_op(f, STORE_OP_TEMPLATE_PUT, "hello", "en", "Hi", &conflict), -1);
	assert_true(conflict);

	assert_int_equal(store_templates_list(f->st, 0, &list), 0);
	json_t *arr = json_object_get(list, "templates");
	assert_int_equal(json_array_size(arr), 3);
	const char *want[3][2] = { { "bye", "en" }, { "hello", "en" }, { "hello", "pt_BR" } };
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(sget(json_array_get(arr, i), "name"), want[i][0]);
		assert_string_equal(sget(json_array_get(arr, i), "language"), want[i][1]);
		assert_int_equal(strlen(sget(json_array_get(arr, i), "created_at")), 20);
	}
	assert_string_equal(sget(json_array_get(arr, 1), "body"), "Hello {{name}}");
	json_decref(list);

	assert_int_equal(store_template_get(f->st, 0, "hello", "pt_BR", &t), 0);
	assert_string_equal(sget(t, "body"), "Olá {{name}}");
	assert_string_equal(sget(t, "language"), "pt_BR");
	json_decref(t);
	assert_int_equal(store_template_get(f->st, 0, "hello", NULL, &t), 0);
	assert_non_null(t);
	assert_string_equal(sget(t, "name"), "hello");
	json_decref(t);
	assert_int_equal(store_template_get(f->st, 0, "hello", "fr", &t), 0);
	assert_null(t);
	assert_int_equal(store_template_get(f->st, 0, "nope", NULL, &t), 0);
	assert_null(t);

	/* Delete: every language of the name. */
	assert_int_equal(template_op(f, STORE_OP_TEMPLATE_DELETE, "hello", NULL, NULL, NULL), 0);
	assert_int_equal(template_op(f, STORE_OP_TEMPLATE_DELETE, "hello", NULL, NULL, &conflict), -1);
	assert_false(conflict);
	assert_int_equal(store_templates_list(f->st, 0, &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "templates")), 1);
	json_decref(list);
	assert_int_equal(event_count(f), 0);
}

static void
test_outbox_order(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), ch2 = channel_create(f, "wa2");
	int64_t t = now_ms();
	json_t *due;

	assert_int_equal(next_due(f), 0);
	int64_t bulk_old = send_full(f, ch, "1", "x", NULL, 1, t - 3000, NULL);
	int64_t reply_new = send_full(f, ch, "2", "x", NULL, 0, t - 1000, NULL);
	int64_t reply_old = send_full(f, ch2, "3", "x", NULL, 0, t - 2000, NULL);
	int64_t bulk_oldest = send_full(f, ch, "4", "x", NULL, 1, t - 5000, NULL);
	int64_t future = send_full(f, ch, "5", "x", NULL, 0, t + 3600 * 1000, NULL);
	int64_t same_due = send_full(f, ch, "6", "x", NULL, 0, t - 1000, NULL);

	/* Replies first, then oldest due; the future one not yet. */
	const int64_t want[] = { reply_old, reply_new, same_due, bulk_oldest, bulk_old };
	due = outbox_due(f, t, 100);
	assert_int_equal(json_array_size(due), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(iget(json_array_get(due, i), "message_id"), want[i]);
	json_decref(due);
	due = outbox_due(f, t, 2);
	assert_int_equal(json_array_size(due), 2);
	assert_int_equal(iget(json_array_get(due, 0), "message_id"), reply_old);
	assert_int_equal(iget(json_array_get(due, 1), "message_id"), reply_new);
	json_decref(due);
	due = outbox_due(f, t - 4000, 100);
	assert_int_equal(json_array_size(due), 1);
	assert_int_equal(iget(json_array_get(due, 0), "message_id"), bulk_oldest);
	json_decref(due);

	/* The earliest pending due time, whatever the priority. */
	assert_int_equal(next_due(f), t - 5000);
	assert_true(claim(f, bulk_oldest));
	assert_int_equal(next_due(f), t - 3000);
	assert_true(claim(f, bulk_old));
	assert_true(claim(f, reply_old));
	assert_int_equal(next_due(f), t - 1000);
	assert_true(claim(f, reply_new));
	assert_true(claim(f, same_due));
	assert_int_equal(next_due(f), t + 3600 * 1000);

	/* Depth: pending and in flight, per channel. */
	assert_int_equal(outbox_depth(f, ch), 5);
	assert_int_equal(outbox_depth(f, ch2), 1);
	assert_int_equal(outbox_depth(f, ch2 + 1), 0);

	struct store_op op = { .kind = STORE_OP_CANCEL, .u.cancel = { .message_id = future } };
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	json_decref(op.u.cancel.message);
	assert_int_equal(next_due(f), 0);
}

/* 0002 fills last_inbound_ms from the messages a version-1 database holds. */
static void
test_migration_backfill(void **state)
{
	struct fx *f = *state;
	const char *files[] = { "msgd.db", "msgd.db-wal", "msgd.db-shm" };
	char *path = xasprintf("%s/msgd.db", f->data);
	sqlite3 *h = NULL;

	if (pg_cluster()) {
		free(path);
		skip();  /* an old SQLite file upgraded */
	}
	store_close(f->st);
	f->st = NULL;
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *p = xasprintf("%s/%s", f->data, files[i]);
		unlink(p);
		free(p);
	}
	assert_int_equal(migrations[0].version, 1);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
	    " name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
	    " INSERT INTO schema_migrations VALUES (1, '0001_init', 0)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, migrations[0].sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	    "INSERT INTO channels VALUES (1, 'wa1', 'sandbox', '{}', 0, 0, NULL);"
	    "INSERT INTO contacts VALUES (1, 1, '777', NULL, 0, 0), (2, 1, '888', NULL, 0, 0);"
	    "INSERT INTO conversations VALUES (1, 1, 1, 3, 2000, 2, 0), (2, 1, 2, 4, 2500, 0, 0);"
	    "INSERT INTO messages (id, channel_id, conversation_id, direction, provider_message_id,"
	    " type, status, timestamp, created_ms, doc, raw) VALUES"
	    " (1, 1, 1, 'in', 'w1', 'text', 'received', 0, 1000, '{}', '{}'),"
	    " (2, 1, 1, 'in', 'w2', 'text', 'received', 0, 1500, '{}', '{}'),"
	    " (3, 1, 1, 'out', 'w3', 'text', 'sent', 0, 2000, '{}', '{}'),"
	    " (4, 1, 2, 'out', 'w4', 'text', 'sent', 0, 2500, '{}', '{}')",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	free(path);

	assert_int_equal(fx_open(f), 0);
	assert_int_equal(store_schema_version(f->st), migrations[migrations_count - 1].version);
	assert_int_equal(last_inbound(f, 1, "777"), 1500);
	assert_int_equal(last_inbound(f, 1, "888"), 0);
}

/* One op of the group-commit test. */
struct gc_op {
	struct store_op op;
	struct ingest_batch b;
	size_t index;
	size_t *order;   /* next expected index */
	int failures;
};

static void
gc_done(struct store_op *op, void *arg)
{
	struct gc_op *g = arg;

	/* done() runs in submission order. */
	assert_int_equal(g->index, *g->order);
	(*g->order)++;
}

static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	enum { N = 1000 };
	int64_t ch = channel_create(f, "wa1");
	struct gc_op *ops = xcalloc(N, sizeof(*ops));
	size_t order = 0;
	char pmid[32], contact[32];

	int64_t t0 = mono_ms();
	for (size_t i = 0; i < N; i++) {
		struct gc_op *g = &ops[i];

		snprintf(pmid, sizeof(pmid), "wamid.G%zu", i);
		snprintf(contact, sizeof(contact), "1555000%04zu", i % 50);
		add_msg(&g->b, ch, DIR_IN, pmid, contact, NULL, "group commit");
		g->index = i;
		g->order = &order;
		g->op = (struct store_op){ .kind = STORE_OP_INGEST, .u.ingest = &g->b, .done = gc_done,
		    .arg = g };
		store_submit(f->st, &g->op);
	}
	/* Nothing is delivered until the loop runs. */
	assert_int_equal(store_pending(f->st), N);
	loop_until_idle(f);
	int64_t dt = mono_ms() - t0;
	print_message("group commit: %d single-message ops in %" PRId64 " ms\n", N, dt);

	assert_int_equal(order, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(ops[i].op.result, 0);
		assert_true(ops[i].b.msgs[0].id > 0);
		if (i > 0)
			assert_true(ops[i].op.last_seq > ops[i - 1].op.last_seq);
		assert_int_equal(ops[i].op.last_seq, ops[i].b.msgs[0].seq);
	}
	assert_int_equal(event_count(f), N);

	for (size_t i = 0; i < N; i++)
		ingest_batch_free(&ops[i].b);
	free(ops);
}

static void
count_done(struct store_op *op, void *arg)
{
	(*(int *)arg)++;
}

/* A failing op does not take the rest of its group down. Another
 * connection holds the write lock so the ops pile up into one group. */
static void
test_group_partial_failure(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "taken");
	struct ingest_batch a = { 0 }, c = { 0 };
	sqlite3 *lock = NULL;
	char *path = xasprintf("%s/msgd.db", f->data);
	int done = 0;

	if (pg_cluster()) {
		free(path);
		skip();  /* holds SQLite's write lock from another connection */
	}
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	free(path);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	add_msg(&a, ch, DIR_IN, "wamid.A", "444", NULL, "a");
	add_msg(&c, ch, DIR_IN, "wamid.C", "444", NULL, "c");
	struct store_op opa = { .kind = STORE_OP_INGEST, .u.ingest = &a, .done = count_done, .arg = &done };
	struct store_op opb = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = "taken", .type = "sandbox", .config_json = "{}" },
		.done = count_done, .arg = &done,
	};
	struct store_op opc = { .kind = STORE_OP_INGEST, .u.ingest = &c, .done = count_done, .arg = &done };
	store_submit(f->st, &opa);
	store_submit(f->st, &opb);
	store_submit(f->st, &opc);
	assert_int_equal(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);
	loop_until_idle(f);

	assert_int_equal(done, 3);
	assert_int_equal(opa.result, 0);
	assert_int_equal(opb.result, -1);
	assert_int_equal(opb.err, STORE_CONFLICT);
	assert_int_equal(opc.result, 0);
	assert_int_equal(event_count(f), 2);
	json_t *m = get_message(f, c.msgs[0].id);
	assert_string_equal(sget(m, "text"), "c");
	json_decref(m);
	ingest_batch_free(&a);
	ingest_batch_free(&c);
}

/*
 * PostgreSQL: ops share a pipelined transaction (pg.c). A statement the
 * domain code deferred fails (text that is not UTF-8, which PostgreSQL
 * refuses, in a message's raw payload): only its op fails, at its end,
 * beside an op refused at once (a name taken); the others commit. Another
 * connection holds the writer lock so the ops pile up into one group.
 */
static void
test_group_deferred_failure(void **state)
{
	struct fx *f = *state;
	struct ingest_batch a = { 0 }, x = { 0 }, c = { 0 };
	int done = 0;

	if (!pg_cluster())
		skip();  /* SQLite runs every statement at once */
	int64_t ch = channel_create(f, "taken");
	PGconn *lock = PQconnectdb(f->dsn);
	assert_int_equal(PQstatus(lock), CONNECTION_OK);
	PGresult *r = PQexec(lock, "BEGIN; SELECT pg_advisory_xact_lock(7263541)");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);

	add_msg(&a, ch, DIR_IN, "wamid.A", "444", NULL, "a");
	add_msg(&x, ch, DIR_IN, "wamid.X", "444", NULL, "x");
	free(x.msgs[0].raw);
	x.msgs[0].raw = xstrdup("{\"bad\":\"\xff\xfe\"}");
	add_msg(&c, ch, DIR_IN, "wamid.C", "444", NULL, "c");
	struct store_op opa = { .kind = STORE_OP_INGEST, .u.ingest = &a, .done = count_done, .arg = &done };
	struct store_op opb = {
		.kind = STORE_OP_CHANNEL_CREATE,
		.u.channel = { .name = "taken", .type = "sandbox", .config_json = "{}" },
		.done = count_done, .arg = &done,
	};
	struct store_op opx = { .kind = STORE_OP_INGEST, .u.ingest = &x, .done = count_done, .arg = &done };
	struct store_op opc = { .kind = STORE_OP_INGEST, .u.ingest = &c, .done = count_done, .arg = &done };
	store_submit(f->st, &opa);
	store_submit(f->st, &opb);
	store_submit(f->st, &opx);
	store_submit(f->st, &opc);
	r = PQexec(lock, "COMMIT");
	PQclear(r);
	PQfinish(lock);
	loop_until_idle(f);

	assert_int_equal(done, 4);
	assert_int_equal(opa.result, 0);
	assert_int_equal(opb.result, -1);
	assert_int_equal(opb.err, STORE_CONFLICT);
	assert_int_equal(opx.result, -1);
	assert_int_equal(opx.fault, STORE_FAULT_NONE);
	assert_int_equal(opc.result, 0);
	assert_int_equal(event_count(f), 2);
	json_t *m = get_message(f, c.msgs[0].id);
	assert_string_equal(sget(m, "text"), "c");
	json_decref(m);
	/* Ids and seqs stay gapless: the failed op's were handed out again. */
	assert_int_equal(c.msgs[0].id, a.msgs[0].id + 1);
	assert_int_equal(c.msgs[0].seq, a.msgs[0].seq + 1);
	ingest_batch_free(&a);
	ingest_batch_free(&x);
	ingest_batch_free(&c);
}

static void
test_conversation_paging(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1"), ch2 = channel_create(f, "wa2");
	const char *names[] = { "Alice", "Bob", "Carol", "Dan", "Eve" };
	int64_t conv[5];
	json_t *page = NULL;
	struct ingest_batch b = { 0 };

	for (size_t i = 0; i < 5; i++) {
		char addr[16], pmid[16];

		snprintf(addr, sizeof(addr), "1000%zu", i);
		snprintf(pmid, sizeof(pmid), "wamid.P%zu", i);
		add_msg(&b, ch, DIR_IN, pmid, addr, names[i], "hi");
		assert_int_equal(ingest(f, &b, NULL), 0);
		conv[i] = b.msgs[0].conversation_id;
		ingest_batch_free(&b);
	}
	add_msg(&b, ch2, DIR_IN, "wamid.X", "50_%", "Zed 100%", "other channel");
	assert_int_equal(ingest(f, &b, NULL), 0);
	int64_t conv_other = b.msgs[0].conversation_id;
	ingest_batch_free(&b);

	/* Channel 1 only, 2 per page: newest activity first. */
	struct conv_query q = { .channel_id = ch, .limit = 2 };
	int64_t seen[5];
	size_t n = 0;
	char *cursor = NULL;
	for (int pages = 0; pages < 3; pages++) {
		q.cursor = cursor;
		assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
		json_t *list = json_object_get(page, "conversations");
		for (size_t i = 0; i < json_array_size(list); i++)
			seen[n++] = iget(json_array_get(list, i), "id");
		free(cursor);
		cursor = xstrdup_or_null(sget(page, "next"));
		assert_true(pages == 2 ? cursor == NULL : cursor != NULL);
		json_decref(page);
	}
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(seen[i], conv[4 - i]);

	/* All channels; new activity moves a conversation to the top. Activity
	 * is kept in milliseconds: let the clock pass the last one first, or a
	 * tie would be ordered by id instead. */
	for (int64_t t0 = now_ms(); now_ms() <= t0;)
		;
	add_msg(&b, ch, DIR_IN, "wamid.P9", "10000", NULL, "again");
	assert_int_equal(ingest(f, &b, NULL), 0);
	ingest_batch_free(&b);
	q = (struct conv_query){ .limit = 50 };
	assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
	json_t *list = json_object_get(page, "conversations");
	assert_int_equal(json_array_size(list), 6);
	assert_int_equal(iget(json_array_get(list, 0), "id"), conv[0]);
	assert_int_equal(iget(json_array_get(list, 1), "id"), conv_other);
	assert_string_equal(sget(json_array_get(list, 1), "channel"), "wa2");
	assert_true(json_is_null(json_object_get(page, "next")));
	json_decref(page);

	/* Search: case-insensitive, by name or address, wildcards literal. */
	q = (struct conv_query){ .limit = 50, .q = "aLi" };
	assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
	assert_int_equal(json_array_size(json_object_get(page, "conversations")), 1);
	assert_string_equal(sget(json_object_get(json_array_get(json_object_get(page, "conversations"), 0),
	    "contact"), "name"), "Alice");
	json_decref(page);
	q.q = "10003";
	assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
	assert_int_equal(json_array_size(json_object_get(page, "conversations")), 1);
	json_decref(page);
	q.q = "%";
	assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
	assert_int_equal(json_array_size(json_object_get(page, "conversations")), 1);
	json_decref(page);
	q.q = "0_";
	assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
	assert_int_equal(json_array_size(json_object_get(page, "conversations")), 1);
	json_decref(page);

	/* A cursor no list gave. */
	q = (struct conv_query){ .limit = 50, .cursor = "garbage" };
	assert_int_equal(store_conversations_list(f->st, &q, &page), 0);
	assert_null(page);
}

static void
test_message_paging(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");
	int64_t ids[7];
	json_t *page = NULL;

	for (size_t i = 0; i < 7; i++) {
		char pmid[16];

		snprintf(pmid, sizeof(pmid), "wamid.M%zu", i);
		ids[i] = ingest_one(f, ch, pmid, "555", pmid);
	}
	/* Another conversation's messages never show up. */
	ingest_one(f, ch, "wamid.other", "666", "x");
	json_t *m = get_message(f, ids[0]);
	int64_t conv = iget(m, "conversation_id");
	json_decref(m);

	/* Pages of 3 going back in time, each oldest to newest. */
	const size_t expect[3][3] = { { 4, 5, 6 }, { 1, 2, 3 }, { 0 } };
	const size_t sizes[3] = { 3, 3, 1 };
	struct msg_query q = { .conversation_id = conv, .limit = 3 };
	char *cursor = NULL;
	for (size_t p = 0; p < 3; p++) {
		q.cursor = cursor;
		assert_int_equal(store_messages_list(f->st, &q, &page), 0);
		json_t *list = json_object_get(page, "messages");
		assert_int_equal(json_array_size(list), sizes[p]);
		for (size_t i = 0; i < sizes[p]; i++)
			assert_int_equal(iget(json_array_get(list, i), "id"), ids[expect[p][i]]);
		free(cursor);
		cursor = xstrdup_or_null(sget(page, "next"));
		if (p < 2) {
			char want[24];
			snprintf(want, sizeof(want), "%" PRId64, ids[expect[p][0]]);
			assert_string_equal(cursor, want);
		} else {
			assert_null(cursor);
		}
		json_decref(page);
	}

	/* Exactly a page left: no next. */
	q = (struct msg_query){ .conversation_id = conv, .limit = 7 };
	assert_int_equal(store_messages_list(f->st, &q, &page), 0);
	assert_int_equal(json_array_size(json_object_get(page, "messages")), 7);
	assert_true(json_is_null(json_object_get(page, "next")));
	json_decref(page);

	/* Unknown conversation, bad cursor: nothing there. */
	q = (struct msg_query){ .conversation_id = 9999, .limit = 3 };
	assert_int_equal(store_messages_list(f->st, &q, &page), 0);
	assert_null(page);
	q = (struct msg_query){ .conversation_id = conv, .limit = 3, .cursor = "12x" };
	assert_int_equal(store_messages_list(f->st, &q, &page), 0);
	assert_null(page);
}

static void
test_events_paging(void **state)
{
	struct fx *f = *state;
	int64_t ch = channel_create(f, "wa1");

	for (size_t i = 0; i < 5; i++) {
		char pmid[16];

		snprintf(pmid, sizeof(pmid), "wamid.E%zu", i);
		ingest_one(f, ch, pmid, "777", "e");
	}
	int64_t since = 0;
	size_t total = 0;
	for (;;) {
		json_t *ev = events(f, since, 2);
		json_t *list = json_object_get(ev, "events");
		size_t n = json_array_size(list);

		for (size_t i = 0; i < n; i++)
			assert_int_equal(iget(json_array_get(list, i), "seq"), since + (int64_t)i + 1);
		total += n;
		if (n == 0) {
			assert_int_equal(iget(ev, "next"), since);
			json_decref(ev);
			break;
		}
		since = iget(ev, "next");
		assert_int_equal(since, iget(json_array_get(list, n - 1), "seq"));
		json_decref(ev);
	}
	assert_int_equal(total, 5);
	assert_int_equal(since, 5);
}

/* Close with ops still queued: they commit and their done() still runs. */
static void
test_close_delivers(void **state)
{
	struct fx *f = *state;
	enum { N = 20 };
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b[N] = { 0 };
	struct store_op ops[N];
	int done = 0;

	for (size_t i = 0; i < N; i++) {
		char pmid[16];

		snprintf(pmid, sizeof(pmid), "wamid.C%zu", i);
		add_msg(&b[i], ch, DIR_IN, pmid, "888", NULL, "c");
		ops[i] = (struct store_op){ .kind = STORE_OP_INGEST, .u.ingest = &b[i],
		    .done = count_done, .arg = &done };
		store_submit(f->st, &ops[i]);
	}
	store_close(f->st);
	assert_int_equal(done, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(ops[i].result, 0);
		ingest_batch_free(&b[i]);
	}
	assert_int_equal(fx_open(f), 0);
	assert_int_equal(event_count(f), N);
}

/* Reads on the reader pool: the same answers as the synchronous reads, on
 * another thread than the loop, done() on the loop; many at once; and
 * store_close() with reads still queued runs them and delivers done(). */
struct pool_read {
	struct store_read rd;
	int64_t id;
	json_t *got;
	int rc;
	pthread_t ran_on;
	int *done;
};

static void
pool_run(struct store *st, void *arg)
{
	struct pool_read *p = arg;

	p->ran_on = pthread_self();
	p->rc = store_message_get(st, 0, p->id, &p->got);
}

static void
pool_done(void *arg)
{
	struct pool_read *p = arg;

	(*p->done)++;
}

static void
test_read_pool(void **state)
{
	struct fx *f = *state;
	enum { N = 200 };
	int64_t ch = channel_create(f, "wa1");
	struct ingest_batch b = { 0 };
	struct store_op op = { .kind = STORE_OP_INGEST, .u.ingest = &b };
	struct pool_read *reads = xcalloc(N, sizeof(*reads));
	json_t *want = NULL;
	int done = 0;

	add_msg(&b, ch, DIR_IN, "wamid.POOL", "999", NULL, "pooled");
	assert_int_equal(store_submit_wait(f->st, &op), 0);
	int64_t id = b.msgs[0].id;
	assert_int_equal(store_message_get(f->st, 0, id, &want), 0);
	assert_non_null(want);

	for (size_t i = 0; i < N; i++) {
		reads[i] = (struct pool_read){ .id = i % 2 ? id : id + 1000, .done = &done };
		reads[i].rd = (struct store_read){ .run = pool_run, .done = pool_done, .arg = &reads[i] };
		store_read_submit(f->st, &reads[i].rd);
	}
	/* Nothing is delivered before the loop runs. */
	assert_int_equal(done, 0);
	assert_true(store_pending(f->st) > 0);
	loop_until_idle(f);
	assert_int_equal(done, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(reads[i].rc, 0);
		assert_false(pthread_equal(reads[i].ran_on, pthread_self()));
		if (i % 2) {
			assert_true(json_equal(reads[i].got, want));
			json_decref(reads[i].got);
		} else {
			assert_null(reads[i].got);
		}
	}

	/* Queued when the store closes: still run, done() delivered. */
	done = 0;
	for (size_t i = 0; i < N; i++) {
		reads[i] = (struct pool_read){ .id = id, .done = &done };
		reads[i].rd = (struct store_read){ .run = pool_run, .done = pool_done, .arg = &reads[i] };
		store_read_submit(f->st, &reads[i].rd);
	}
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(done, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(reads[i].rc, 0);
		assert_true(json_equal(reads[i].got, want));
		json_decref(reads[i].got);
	}

	/* Without a loop: inline, on the calling thread. */
	struct store_config cfg = { .data_dir = f->data, .database = f->dsn };
	assert_int_equal(store_open(&f->st, &cfg, NULL), 0);
	done = 0;
	reads[0] = (struct pool_read){ .id = id, .done = &done };
	reads[0].rd = (struct store_read){ .run = pool_run, .done = pool_done, .arg = &reads[0] };
	store_read_submit(f->st, &reads[0].rd);
	assert_int_equal(done, 1);
	assert_true(pthread_equal(reads[0].ran_on, pthread_self()));
	assert_true(json_equal(reads[0].got, want));
	json_decref(reads[0].got);
	store_close(f->st);
	assert_int_equal(fx_open(f), 0);

	json_decref(want);
	free(reads);
	ingest_batch_free(&b);
}

/* Webhook subscriptions: insert, retry state, advance (never back), give up
 * (appends webhook.failed), delete. */
static void
test_subscriptions(void **state)
{
	struct fx *f = *state;
	json_t *rows = NULL, *ev = NULL;
	struct store_op put = {
		.kind = STORE_OP_SUBSCRIPTION_PUT,
		.u.subscription = { .url = "https://example.com/h", .events_json = "[\"message.received\"]",
		    .secret = "0123456789abcdef", .created_at = 1700000000, .delivered_seq = 7 },
	};

	assert_int_equal(store_submit_wait(f->st, &put), 0);
	int64_t id = put.u.subscription.id;
	assert_true(id > 0);
	struct store_op retry = {
		.kind = STORE_OP_SUBSCRIPTION_RETRY,
		.u.subscription = { .id = id, .attempts = 2, .first_attempt_ms = 1000, .next_attempt_ms = 5000,
		    .last_error = "HTTP 500" },
	};
	assert_int_equal(store_submit_wait(f->st, &retry), 0);
	assert_int_equal(store_subscriptions_load(f->st, &rows), 0);
	assert_int_equal(json_array_size(rows), 1);
	json_t *r = json_array_get(rows, 0);
	assert_string_equal(json_string_value(json_object_get(r, "url")), "https://example.com/h");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "events"), 0)),
	    "message.received");
	assert_string_equal(json_string_value(json_object_get(r, "secret")), "0123456789abcdef");
	assert_int_equal(json_integer_value(json_object_get(r, "delivered_seq")), 7);
	assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "first_attempt_ms")), 1000);
	assert_int_equal(json_integer_value(json_object_get(r, "next_attempt_ms")), 5000);
	assert_string_equal(json_string_value(json_object_get(r, "last_error")), "HTTP 500");
	assert_true(json_is_false(json_object_get(r, "paused")));
	json_decref(rows);

	/* Advance clears the retry state; a lower seq never moves it back. */
	struct store_op adv = { .kind = STORE_OP_SUBSCRIPTION_ADVANCE,
		.u.subscription = { .id = id, .delivered_seq = 9 } };
	assert_int_equal(store_submit_wait(f->st, &adv), 0);
	assert_int_equal(adv.last_seq, 0);
	adv.u.subscription.delivered_seq = 8;
	assert_int_equal(store_submit_wait(f->st, &adv), 0);
	assert_int_equal(store_subscriptions_load(f->st, &rows), 0);
	r = json_array_get(rows, 0);
	assert_int_equal(json_integer_value(json_object_get(r, "delivered_seq")), 9);
	assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "first_attempt_ms")), 0);
	assert_true(json_is_null(json_object_get(r, "last_error")));
	json_decref(rows);

	/* Giving up appends webhook.failed in the same op. */
	struct store_op gave = { .kind = STORE_OP_SUBSCRIPTION_ADVANCE,
		.u.subscription = { .id = id, .delivered_seq = 10, .attempts = 10, .last_error = "HTTP 503" } };
	assert_int_equal(store_submit_wait(f->st, &gave), 0);
	assert_true(gave.last_seq > 0);
	assert_int_equal(store_events_list(f->st, 0, gave.last_seq - 1, 10, &ev), 0);
	json_t *e = json_array_get(json_object_get(ev, "events"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "type")), "webhook.failed");
	json_t *data = json_object_get(e, "data");
	assert_int_equal(json_integer_value(json_object_get(data, "subscription_id")), id);
	assert_int_equal(json_integer_value(json_object_get(data, "seq")), 10);
	assert_int_equal(json_integer_value(json_object_get(data, "attempts")), 10);
	assert_string_equal(json_string_value(json_object_get(data, "error")), "HTTP 503");
	json_decref(ev);

	struct store_op del = { .kind = STORE_OP_SUBSCRIPTION_DELETE, .u.subscription = { .id = id } };
	assert_int_equal(store_submit_wait(f->st, &del), 0);
	assert_int_equal(store_submit_wait(f->st, &del), 0);  /* absent: not an error */
	assert_int_equal(store_subscriptions_load(f->st, &rows), 0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reaction_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbound_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_early_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_lease_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_lease_sweep_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_shift, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_writers_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_channel_deleted_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conv_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_templates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_backfill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_partial_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_deferred_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_delivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orgs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_gate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
