/*
 * test_store.c - the store against a real SQLite file in a fresh temporary
 * directory: migrations, channel ops, ingest (dedup, statuses, events),
 * group commit through a real libevent loop, and paged reads in the API's
 * JSON shapes.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "store/migrations.h"
#include "store/store.h"
#include "util/util.h"

#define WAIT_MS 20000  /* deadline for the loop to deliver every done() */

struct fx {
	char root[64];
	char data[96];
	struct event_base *base;
	struct store *st;
};

static int
fx_open(struct fx *f)
{
	struct store_config cfg = { .data_dir = f->data };

	return store_open(&f->st, &cfg, f->base);
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/msgd-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->data, sizeof(f->data), "%s/data", f->root);
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
	m->provider_message_id = xstrdup(pmid);
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

static json_t *
get_message(struct fx *f, int64_t id)
{
	json_t *m = NULL;

	assert_int_equal(store_message_get(f->st, id, &m), 0);
	assert_non_null(m);
	return m;
}

static json_t *
events(struct fx *f, int64_t since, int limit)
{
	json_t *e = NULL;

	assert_int_equal(store_events_list(f->st, since, limit, &e), 0);
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

	assert_int_equal(stat(f->data, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(stat(db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
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
	assert_true(dup.conflict);
	assert_string_equal(dup.errmsg, "name taken");

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
	assert_false(del.conflict);
	assert_int_equal(store_submit_wait(f->st, &upd), -1);

	/* The name is free again; the new channel has a new id. */
	int64_t id2 = channel_create(f, "wa1");
	assert_true(id2 != id);
	assert_int_equal(store_channels_load(f->st, &chans), 0);
	assert_int_equal(json_array_size(chans), 1);
	assert_int_equal(iget(json_array_get(chans, 0), "id"), id2);
	json_decref(chans);

	/* API keys: stored once per hash, as hex. */
	struct store_op key = { .kind = STORE_OP_API_KEY_PUT, .u.api_key = { .name = "ci" } };
	sha256("secret", 6, key.u.api_key.hash);
	assert_int_equal(store_submit_wait(f->st, &key), 0);
	assert_int_equal(store_submit_wait(f->st, &key), 0);
	assert_int_equal(store_api_keys_load(f->st, &keys), 0);
	assert_int_equal(json_array_size(keys), 1);
	char hex[65];
	hex_encode(key.u.api_key.hash, 32, hex);
	assert_string_equal(json_string_value(json_array_get(keys, 0)), hex);
	json_decref(keys);
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
	assert_int_equal(store_conversation_get(f->st, in->conversation_id, &conv), 0);
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
	assert_int_equal(store_conversation_get(f->st, b.msgs[0].conversation_id, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 3);
	assert_string_equal(sget(json_object_get(conv, "contact"), "name"), "Ana");
	assert_int_equal(iget(json_object_get(conv, "last_message"), "id"), b.msgs[1].id);
	json_decref(conv);

	/* by provider id */
	assert_int_equal(store_messages_by_provider_id(f->st, "wamid.1", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 1);
	assert_true(json_equal(json_array_get(json_object_get(list, "messages"), 0), m));
	json_decref(list);
	assert_int_equal(store_messages_by_provider_id(f->st, "nope", &list), 0);
	assert_int_equal(json_array_size(json_object_get(list, "messages")), 0);
	json_decref(list);

	/* Not found. */
	assert_int_equal(store_message_get(f->st, 12345, &list), 0);
	assert_null(list);
	assert_int_equal(store_conversation_get(f->st, 12345, &list), 0);
	assert_null(list);

	json_decref(m);
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
	assert_int_equal(store_conversation_get(f->st, b.msgs[0].conversation_id, &conv), 0);
	assert_int_equal(iget(conv, "unread_count"), 2);
	json_decref(conv);

	/* The same provider id on another channel is another message. */
	int64_t ch2 = channel_create(f, "wa2");
	int64_t other = ingest_one(f, ch2, "wamid.D", "111", "hello");
	assert_true(other != id);
	assert_int_equal(store_messages_by_provider_id(f->st, "wamid.D", &list), 0);
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
	assert_int_equal(store_messages_by_provider_id(f->st, "wamid.R1", &list), 0);
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

	add_msg(&b, ch, DIR_OUT, "wamid.O1", "333", NULL, "outbound one");
	add_msg(&b, ch, DIR_OUT, "wamid.O2", "333", NULL, "outbound two");
	assert_int_equal(ingest(f, &b, NULL), 0);
	int64_t id1 = b.msgs[0].id, id2 = b.msgs[1].id;
	ingest_batch_free(&b);
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
	json_t *h = json_object_get(m, "status_history");
	assert_int_equal(json_array_size(h), 3);
	assert_string_equal(sget(json_array_get(h, 0), "status"), "sent");
	assert_string_equal(sget(json_array_get(h, 0), "at"), "2025-06-08T21:00:00Z");
	assert_true(json_is_null(json_object_get(json_array_get(h, 0), "error")));
	assert_string_equal(sget(json_array_get(h, 2), "status"), "read");
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
	assert_int_equal(iget(json_object_get(json_array_get(json_object_get(m, "status_history"), 1),
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
	assert_true(opb.conflict);
	assert_int_equal(opc.result, 0);
	assert_int_equal(event_count(f), 2);
	json_t *m = get_message(f, c.msgs[0].id);
	assert_string_equal(sget(m, "text"), "c");
	json_decref(m);
	ingest_batch_free(&a);
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

	/* All channels; new activity moves a conversation to the top. */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_partial_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_delivers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
