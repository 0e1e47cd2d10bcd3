/*
 * test_telegram.c - the Telegram Bot API adapter against the shared corpus:
 * one table row per inbound Update with the records it must normalize to
 * (written by hand from the files: ids, addresses, type, text, time,
 * reply_to, the whole parts object, dedup key, edits, contacts), the
 * UTF-16 entity conversion, the webhook's secret check and bad bodies,
 * the config checks (the outbound side: test_telegram_outbound.c). The corpus root is $CORPUS, else ../shared/corpus from the
 * repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "channels/telegram.h"
#include "util/util.h"

#include "corpus.h"

#define TOKEN      "123456:FAKE-corpus-token"
#define SELF       "123456"
#define SECRET     "corpus_fake_secret_token"

/* The corpus table */

#define NOW (-1)  /* a timestamp of the time of receipt */

struct row {
	const char *file;                   /* under telegram/inbound/ */
	size_t nmsgs, ncontacts;
	const char *dedup;
	/* The message record. */
	const char *id, *from, *contact, *name, *type, *text, *reply_to;
	int64_t ts;
	const char *parts;                  /* the whole parts object */
	enum msg_action action;
	const char *target;
	/* Or the contact record. */
	const char *address;
	enum contact_status cstatus;
};

#define PRIV5 .from = "100000005", .contact = "100000005", .name = "Test User"

static const struct row rows[] = {
	{ .file = "text.json", .nmsgs = 1, .dedup = "u:892252934", .id = "100000001:6557",
	  .from = "100000001", .contact = "100000001", .name = "Test", .type = "text",
	  .text = "hello there", .ts = 1569518342, .parts = "{}" },
	{ .file = "text_legacy.json", .nmsgs = 1, .dedup = "u:174114370", .id = "100000005:41",
	  PRIV5, .type = "text", .text = "Hello World", .ts = 1454119029, .parts = "{}" },
	/* The same update_id and message as text_legacy.json: a redelivery for the store. */
	{ .file = "start_command_without_entities.json", .nmsgs = 1, .dedup = "u:174114370",
	  .id = "100000005:41", PRIV5, .type = "text", .text = "/start", .ts = 1454119029,
	  .parts = "{}" },
	{ .file = "photo_with_caption.json", .nmsgs = 1, .dedup = "u:900946525",
	  .id = "100000005:85", PRIV5, .type = "image", .text = "Photo Caption", .ts = 1493843318,
	  .parts = "{\"media\":{\"id\":\"AgADAQADtKcxG4LRUUQSQVUjfJIiiF8G6C8ABA9NJzFdXskaincBAAEC\","
	  "\"width\":720,\"height\":1280,\"size\":104737}}" },
	{ .file = "document.json", .nmsgs = 1, .dedup = "u:900946532", .id = "100000005:92",
	  PRIV5, .type = "document", .ts = 1493845100,
	  .parts = "{\"media\":{\"id\":\"BQADAQADCgADgtFRRPrv9GQ95f8eAg\","
	  "\"mime_type\":\"application/vnd.ms-excel\",\"filename\":\"TabFig2015prel.xls\","
	  "\"size\":4540928}}" },
	{ .file = "voice.json", .nmsgs = 1, .dedup = "u:900946531", .id = "100000005:91", PRIV5,
	  .type = "voice", .ts = 1493844646,
	  .parts = "{\"media\":{\"id\":\"AwADAQADCQADgtFRRGn8KrC-0D_MAg\",\"duration\":1,"
	  "\"mime_type\":\"audio/ogg\",\"size\":4288}}" },
	{ .file = "sticker.json", .nmsgs = 1, .dedup = "u:174114373", .id = "100000005:44", PRIV5,
	  .type = "sticker", .ts = 1454119668,
	  .parts = "{\"media\":{\"id\":\"BQADAwADRQADyIsGAAHtBskMy6GoLAI\",\"width\":436,"
	  "\"height\":512,\"size\":38440}}" },
	{ .file = "location.json", .nmsgs = 1, .dedup = "u:900946534", .id = "100000005:94", PRIV5,
	  .type = "location", .ts = 1493845244,
	  .parts = "{\"location\":{\"latitude\":-2.890287,\"longitude\":-79.004333}}" },
	{ .file = "venue.json", .nmsgs = 1, .dedup = "u:900946535", .id = "100000005:95", PRIV5,
	  .type = "location", .ts = 1493845520,
	  .parts = "{\"location\":{\"latitude\":-2.898944,\"longitude\":-79.006835,"
	  "\"name\":\"Cuenca\",\"address\":\"Provincia del Azuay\"}}" },
	{ .file = "contact.json", .nmsgs = 1, .dedup = "u:900946536", .id = "100000005:96", PRIV5,
	  .type = "contacts", .ts = 1493845755,
	  .parts = "{\"contacts\":[{\"name\":{\"formatted_name\":\"Test Contact\","
	  "\"first_name\":\"Test Contact\"},\"phones\":[{\"phone\":\"0700000000\"}]}]}" },
	{ .file = "edited_message.json", .nmsgs = 1, .dedup = "u:633291230", .id = "100000006:121",
	  .from = "100000006", .contact = "100000006", .name = "Test Six", .type = "text",
	  .text = "Not tracked", .ts = 1709661075, .parts = "{}", .action = MSG_EDIT,
	  .target = "100000006:121" },
	{ .file = "message_reaction.json", .nmsgs = 1, .dedup = "u:71651249", .id = "r:71651249",
	  .from = "100000004", .contact = "-1001000000003", .name = "Test", .type = "reaction",
	  .ts = 1721306082,
	  .parts = "{\"chat\":{\"type\":\"supergroup\",\"title\":\"Test\"},"
	  "\"sender\":{\"id\":\"100000004\",\"name\":\"Test Four\",\"username\":\"test_user_4\"},"
	  "\"reaction\":{\"provider_message_id\":\"-1001000000003:35\",\"emoji\":\"\xf0\x9f\x8c\xad\"}}" },
	{ .file = "callback_query.json", .nmsgs = 1, .dedup = "u:404135787",
	  .id = "cb:82376794293774174", .from = "100000007", .contact = "100000007",
	  .name = "test_user_7", .type = "button", .reply_to = "100000007:9436", .ts = NOW,
	  .parts = "{\"button\":{\"payload\":\"en\"},\"callback_query_id\":\"82376794293774174\"}" },
	/* A reply to a message (134545) that shows a story: the reply names that message. */
	{ .file = "reply_to_story_in_supergroup.json", .nmsgs = 1, .dedup = "u:439432600",
	  .id = "-1001000000001:134546", .from = "100000003", .contact = "-1001000000001",
	  .name = "Test Supergroup", .type = "text", .text = "/report",
	  .reply_to = "-1001000000001:134545", .ts = 1721592580,
	  .parts = "{\"chat\":{\"type\":\"supergroup\",\"title\":\"Test Supergroup\","
	  "\"username\":\"test_supergroup\"},\"sender\":{\"id\":\"100000003\",\"name\":\"Test Three\","
	  "\"username\":\"test_user_3\"},\"thread_id\":\"134545\","
	  "\"entities\":[{\"type\":\"bot_command\",\"offset\":0,\"length\":7,\"text\":\"/report\"}]}" },
	{ .file = "my_chat_member_kicked.json", .ncontacts = 1, .dedup = "u:0", .address = "0",
	  .cstatus = CONTACT_BLOCKED, .ts = 1644677726 },
};

static void
normalize(const json_t *root, struct ingest_batch *b)
{
	struct channel_error err = { 0 };
	if (tg_normalize_update(root, 7, SELF, b, &err) != 0)
		fail_msg("not an update: %s", err.message);
}

static void
test_corpus_row(void **state)
{
	const struct row *r = *state;
	struct ingest_batch b = { 0 };
	char rel[256];
	snprintf(rel, sizeof(rel), "inbound/%s", r->file);
	json_t *root = corpus_json("telegram", rel);
	int64_t now = now_ms() / 1000;

	normalize(root, &b);
	assert_int_equal(b.nmsgs, r->nmsgs);
	assert_int_equal(b.ncontacts, r->ncontacts);
	assert_int_equal(b.nstatuses + b.nevents + b.nstates, 0);
	assert_int_equal(b.cursor_channel_id, 0);
	if (b.nmsgs > 0) {
		const struct msg_in *m = &b.msgs[0];
		json_t *raw = json_loads(m->raw, 0, NULL);
		assert_int_equal(m->channel_id, 7);
		assert_int_equal(m->direction, DIR_IN);
		assert_string_equal(m->provider_message_id, r->id);
		assert_string_equal(m->dedup_key, r->dedup);
		assert_string_equal(m->from, r->from);
		assert_string_equal(m->to, SELF);
		assert_string_equal(m->contact_address, r->contact);
		assert_str_or_null(r->name, m->contact_name);
		assert_string_equal(m->type, r->type);
		assert_str_or_null(r->text, m->text);
		assert_str_or_null(r->reply_to, m->reply_to);
		if (r->ts == NOW)
			assert_true(m->timestamp >= now && m->timestamp <= now + 5);
		else
			assert_int_equal(m->timestamp, r->ts);
		assert_json(m->parts, r->parts);
		assert_int_equal(m->action, r->action);
		assert_str_or_null(r->target, m->target);
		assert_false(m->echo);
		/* The raw JSON is the whole update, re-normalizable. */
		assert_true(json_equal(raw, root));
		json_decref(raw);
	}
	if (b.ncontacts > 0) {
		const struct contact_in *c = &b.contacts[0];
		assert_int_equal(c->channel_id, 7);
		assert_string_equal(c->address, r->address);
		assert_int_equal(c->status, r->cstatus);
		assert_int_equal(c->timestamp, r->ts);
		assert_string_equal(c->dedup_key, r->dedup);
		assert_non_null(c->reason);
	}
	ingest_batch_free(&b);
	json_decref(root);
}

/* Every JSON file of telegram/inbound/ has a row. */
static void
test_corpus_complete(void **state)
{
	DIR *d = corpus_opendir("telegram", "inbound");
	const char *name;
	size_t n, seen = 0;

	while ((name = corpus_next(d, ".json", &n)) != NULL) {
		bool found = false;
		for (size_t i = 0; i < ARRAY_LEN(rows); i++)
			found |= strcmp(rows[i].file, name) == 0;
		if (!found)
			fail_msg("no row for inbound/%s", name);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, ARRAY_LEN(rows));
}

/* Normalize a JSON text (one update) into b. */
static void
normalize_str(const char *s, struct ingest_batch *b)
{
	json_t *root = parse_json(s, strlen(s));
	normalize(root, b);
	json_decref(root);
}

/* A redelivered update normalizes to the same keys: the store's dedup. */
static void
test_redelivery_keys(void **state)
{
	struct ingest_batch a = { 0 }, b = { 0 };
	json_t *root = corpus_json("telegram", "inbound/text.json");

	normalize(root, &a);
	normalize(root, &b);
	assert_string_equal(a.msgs[0].dedup_key, b.msgs[0].dedup_key);
	assert_string_equal(a.msgs[0].provider_message_id, b.msgs[0].provider_message_id);
	ingest_batch_free(&a);
	ingest_batch_free(&b);
	json_decref(root);

	/* One message id in two chats: two provider ids. */
	normalize_str("{\"update_id\":1,\"message\":{\"message_id\":5,\"chat\":{\"id\":11,"
	    "\"type\":\"private\"},\"from\":{\"id\":11},\"date\":1,\"text\":\"a\"}}", &a);
	normalize_str("{\"update_id\":2,\"message\":{\"message_id\":5,\"chat\":{\"id\":12,"
	    "\"type\":\"private\"},\"from\":{\"id\":12},\"date\":1,\"text\":\"a\"}}", &a);
	assert_int_equal(a.nmsgs, 2);
	assert_string_equal(a.msgs[0].provider_message_id, "11:5");
	assert_string_equal(a.msgs[1].provider_message_id, "12:5");
	assert_string_equal(a.msgs[1].dedup_key, "u:2");
	ingest_batch_free(&a);
}

static void
test_kinds(void **state)
{
	struct ingest_batch b = { 0 };

	/* A callback whose message has the inline keyboard: the button's text. */
	normalize_str("{\"update_id\":3,\"callback_query\":{\"id\":\"77\",\"from\":{\"id\":9,"
	    "\"first_name\":\"A\"},\"data\":\"yes\",\"message\":{\"message_id\":4,\"date\":1,"
	    "\"chat\":{\"id\":9,\"type\":\"private\",\"first_name\":\"A\"},\"text\":\"Sure?\","
	    "\"reply_markup\":{\"inline_keyboard\":[[{\"text\":\"No\",\"callback_data\":\"no\"},"
	    "{\"text\":\"Yes!\",\"callback_data\":\"yes\"}]]}}}}", &b);
	assert_string_equal(b.msgs[0].text, "Yes!");
	assert_json(b.msgs[0].parts, "{\"button\":{\"payload\":\"yes\",\"text\":\"Yes!\"},"
	    "\"callback_query_id\":\"77\"}");
	assert_string_equal(b.msgs[0].reply_to, "9:4");
	ingest_batch_free(&b);

	/* A removed reaction: emoji "". */
	normalize_str("{\"update_id\":4,\"message_reaction\":{\"chat\":{\"id\":9,\"type\":\"private\","
	    "\"first_name\":\"A\"},\"message_id\":8,\"user\":{\"id\":9,\"first_name\":\"A\"},"
	    "\"date\":5,\"old_reaction\":[{\"type\":\"emoji\",\"emoji\":\"x\"}],\"new_reaction\":[]}}", &b);
	assert_json(b.msgs[0].parts, "{\"reaction\":{\"provider_message_id\":\"9:8\",\"emoji\":\"\"}}");
	ingest_batch_free(&b);

	/* A forum topic message in a supergroup; a channel post without from. */
	normalize_str("{\"update_id\":5,\"message\":{\"message_id\":20,\"message_thread_id\":3,"
	    "\"is_topic_message\":true,\"chat\":{\"id\":-100777,\"type\":\"supergroup\","
	    "\"title\":\"Forum\",\"is_forum\":true},\"from\":{\"id\":42,\"first_name\":\"Ann\","
	    "\"last_name\":\"Lee\",\"username\":\"ann\"},\"date\":9,\"caption\":\"look\","
	    "\"video\":{\"file_id\":\"V1\",\"file_unique_id\":\"U1\",\"duration\":3,\"width\":2,"
	    "\"height\":2,\"mime_type\":\"video/mp4\",\"file_size\":10}}}", &b);
	normalize_str("{\"update_id\":6,\"channel_post\":{\"message_id\":2,\"chat\":{\"id\":-1005,"
	    "\"type\":\"channel\",\"title\":\"News\"},\"sender_chat\":{\"id\":-1005,\"title\":\"News\"},"
	    "\"date\":9,\"text\":\"hi\"}}", &b);
	normalize_str("{\"update_id\":7,\"edited_channel_post\":{\"message_id\":2,\"chat\":{\"id\":-1005,"
	    "\"type\":\"channel\",\"title\":\"News\"},\"date\":9,\"edit_date\":10,\"caption\":\"new\","
	    "\"photo\":[{\"file_id\":\"P\",\"width\":1,\"height\":1}]}}", &b);
	assert_int_equal(b.nmsgs, 3);
	assert_string_equal(b.msgs[0].from, "42");
	assert_string_equal(b.msgs[0].contact_address, "-100777");
	assert_string_equal(b.msgs[0].contact_name, "Forum");
	assert_string_equal(b.msgs[0].type, "video");
	assert_string_equal(b.msgs[0].text, "look");
	assert_json(b.msgs[0].parts, "{\"chat\":{\"type\":\"supergroup\",\"title\":\"Forum\"},"
	    "\"sender\":{\"id\":\"42\",\"name\":\"Ann Lee\",\"username\":\"ann\"},\"thread_id\":\"3\","
	    "\"media\":{\"id\":\"V1\",\"unique_id\":\"U1\",\"duration\":3,\"width\":2,\"height\":2,"
	    "\"mime_type\":\"video/mp4\",\"size\":10}}");
	assert_string_equal(b.msgs[1].from, "-1005");
	assert_string_equal(b.msgs[1].provider_message_id, "-1005:2");
	assert_int_equal(b.msgs[2].action, MSG_EDIT);
	assert_string_equal(b.msgs[2].target, "-1005:2");
	assert_string_equal(b.msgs[2].type, "image");
	assert_string_equal(b.msgs[2].text, "new");
	assert_string_equal(b.msgs[2].from, "-1005");
	assert_int_equal(b.msgs[2].timestamp, 10);
	ingest_batch_free(&b);

	/* Added back to a chat: active again. Unknown kinds: nothing. */
	normalize_str("{\"update_id\":8,\"my_chat_member\":{\"chat\":{\"id\":-5,\"type\":\"group\","
	    "\"title\":\"G\"},\"from\":{\"id\":1},\"date\":3,\"old_chat_member\":{\"status\":\"left\"},"
	    "\"new_chat_member\":{\"status\":\"member\"}}}", &b);
	normalize_str("{\"update_id\":9,\"poll\":{\"id\":\"1\"}}", &b);
	normalize_str("{\"update_id\":10}", &b);
	normalize_str("{\"update_id\":11,\"message\":{\"message_id\":1,\"chat\":{\"id\":1,"
	    "\"type\":\"private\"},\"date\":1,\"poll\":{\"id\":\"p\"}}}", &b);
	/* Parts it cannot read are skipped, never the whole update. */
	normalize_str("{\"update_id\":12,\"message\":{\"message_id\":\"1\",\"chat\":{\"id\":1}}}", &b);
	normalize_str("{\"update_id\":13,\"callback_query\":{\"id\":5}}", &b);
	normalize_str("{\"update_id\":14,\"message_reaction\":{\"chat\":{}}}", &b);
	normalize_str("{\"update_id\":15,\"my_chat_member\":{\"chat\":{\"id\":1}}}", &b);
	assert_int_equal(b.ncontacts, 1);
	assert_string_equal(b.contacts[0].address, "-5");
	assert_int_equal(b.contacts[0].status, CONTACT_ACTIVE);
	assert_int_equal(b.nmsgs, 1);
	assert_string_equal(b.msgs[0].type, "unsupported");
	assert_json(b.msgs[0].parts, "{\"unsupported_type\":\"poll\"}");
	ingest_batch_free(&b);
}

static void
test_not_an_update(void **state)
{
	static const char *const bodies[] = {
		"[]", "[{\"update_id\":1}]", "\"x\"", "1", "null", "{}", "{\"update_id\":\"1\"}",
		"{\"update_id\":1.5}", "{\"message\":{}}",
	};
	for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
		struct ingest_batch b = { 0 };
		struct channel_error err = { 0 };
		json_t *root = json_loads(bodies[i], JSON_DECODE_ANY, NULL);
		assert_non_null(root);
		assert_int_equal(tg_normalize_update(root, 1, SELF, &b, &err), -1);
		assert_true(err.message[0] != '\0');
		assert_true(ingest_batch_empty(&b));
		json_decref(root);
	}
}

/* UTF-16 code units to code points, on astral characters and bad offsets. */
static void
test_entities_utf16(void **state)
{
	/* "😀 bold ❤ x😀y": 😀 is 2 UTF-16 units, ❤ one. */
	const char *text = "\xf0\x9f\x98\x80 bold \xe2\x9d\xa4 x\xf0\x9f\x98\x80y";
	json_t *ents = json_loads("["
	    "{\"type\":\"bold\",\"offset\":3,\"length\":4},"
	    "{\"type\":\"italic\",\"offset\":0,\"length\":2},"
	    "{\"type\":\"text_link\",\"offset\":8,\"length\":1,\"url\":\"https://e.x\"},"
	    "{\"type\":\"code\",\"offset\":10,\"length\":4},"
	    "{\"type\":\"underline\",\"offset\":1,\"length\":1},"
	    "{\"type\":\"spoiler\",\"offset\":13,\"length\":100},"
	    "{\"type\":\"strikethrough\",\"offset\":14,\"length\":1},"
	    "{\"type\":\"x\",\"offset\":-1,\"length\":1},"
	    "{\"type\":\"x\",\"offset\":0,\"length\":0},"
	    "{\"type\":\"x\",\"offset\":\"0\",\"length\":1},"
	    "{\"type\":\"x\",\"offset\":1099511627776,\"length\":1},"
	    "{\"type\":\"x\",\"offset\":1,\"length\":9223372036854775807},"
	    "{\"offset\":0,\"length\":1},"
	    "{\"type\":\"text_mention\",\"offset\":4,\"length\":1,"
	    "\"user\":{\"id\":5,\"first_name\":\"B\",\"username\":\"b\"}}"
	    "]", 0, NULL);
	json_t *out = tg_entities(text, strlen(text), ents);

	assert_non_null(out);
	assert_json(out, "["
	    "{\"type\":\"bold\",\"offset\":2,\"length\":4,\"text\":\"bold\"},"
	    "{\"type\":\"italic\",\"offset\":0,\"length\":1,\"text\":\"\xf0\x9f\x98\x80\"},"
	    "{\"type\":\"text_link\",\"offset\":7,\"length\":1,\"text\":\"\xe2\x9d\xa4\","
	    "\"url\":\"https://e.x\"},"
	    "{\"type\":\"code\",\"offset\":9,\"length\":3,\"text\":\"x\xf0\x9f\x98\x80y\"},"
	    /* Inside a surrogate pair: the whole character. */
	    "{\"type\":\"underline\",\"offset\":0,\"length\":1,\"text\":\"\xf0\x9f\x98\x80\"},"
	    /* Past the end: clamped. */
	    "{\"type\":\"spoiler\",\"offset\":11,\"length\":1,\"text\":\"y\"},"
	    "{\"type\":\"text_mention\",\"offset\":3,\"length\":1,\"text\":\"o\","
	    "\"user\":{\"id\":\"5\",\"name\":\"B\",\"username\":\"b\"}}"
	    "]");
	json_decref(out);
	/* Nothing left: NULL. */
	json_t *none = json_loads("[{\"type\":\"x\",\"offset\":5,\"length\":1}]", 0, NULL);
	assert_null(tg_entities("ab", 2, none));
	assert_null(tg_entities("", 0, ents));
	json_decref(none);
	json_decref(ents);

	/* Through a whole update, with caption entities. */
	struct ingest_batch b = { 0 };
	normalize_str("{\"update_id\":1,\"message\":{\"message_id\":1,\"chat\":{\"id\":1,"
	    "\"type\":\"private\"},\"date\":1,\"photo\":[{\"file_id\":\"p\",\"width\":1,\"height\":1}],"
	    "\"caption\":\"\xf0\x9f\x98\x80#tag\",\"caption_entities\":[{\"type\":\"hashtag\","
	    "\"offset\":2,\"length\":4}]}}", &b);
	assert_json(json_object_get(b.msgs[0].parts, "entities"),
	    "[{\"type\":\"hashtag\",\"offset\":1,\"length\":4,\"text\":\"#tag\"}]");
	ingest_batch_free(&b);
}

/* The webhook */

struct fake_req {
	const char *secret;
};

static const char *
header(void *ctx, const char *name)
{
	struct fake_req *f = ctx;
	return strcmp(name, "X-Telegram-Bot-Api-Secret-Token") == 0 ? f->secret : NULL;
}

static const char *
no_query(void *ctx, const char *name)
{
	return NULL;
}

static struct channel *
open_channel(const char *config)
{
	return open_test_channel(&telegram_ops, 7, "tg", config);
}

static struct channel *
webhook_channel(void)
{
	return open_channel("{\"bot_token\":\"" TOKEN "\",\"webhook_secret\":\"" SECRET "\"}");
}

static int
call_webhook(struct channel *ch, const char *method, const char *secret, const char *body,
    struct webhook_reply *reply, struct ingest_batch *out)
{
	struct fake_req f = { .secret = secret };
	struct webhook_request req = { .method = method, .header = header, .query = no_query,
	    .ctx = &f, .body = body, .body_len = strlen(body), .request_id = "t" };
	*reply = (struct webhook_reply){ 0 };
	telegram_ops.channel_webhook(ch, &req, reply, out);
	return reply->status;
}

static void
test_webhook(void **state)
{
	struct channel *ch = webhook_channel();
	struct webhook_reply reply;
	struct ingest_batch b = { 0 };
	size_t len;
	char *body = corpus_load("telegram", "inbound/text.json", &len);

	/* The secret: missing, wrong, a prefix, longer: 401 and nothing. */
	assert_int_equal(call_webhook(ch, "POST", NULL, body, &reply, &b), 401);
	assert_string_equal(reply.error_code, "unauthorized");
	assert_int_equal(call_webhook(ch, "POST", "corpus_fake_secret_tokeN", body, &reply, &b), 401);
	assert_int_equal(call_webhook(ch, "POST", "corpus_fake_secret", body, &reply, &b), 401);
	assert_int_equal(call_webhook(ch, "POST", SECRET "x", body, &reply, &b), 401);
	assert_int_equal(call_webhook(ch, "POST", "", body, &reply, &b), 401);
	assert_true(ingest_batch_empty(&b));
	assert_null(strstr(reply.message, SECRET));
	assert_int_equal(call_webhook(ch, "GET", SECRET, "", &reply, &b), 405);

	/* The right one (the corpus header): 200, the records. */
	assert_int_equal(call_webhook(ch, "POST", SECRET, body, &reply, &b), 200);
	assert_int_equal(b.nmsgs, 1);
	assert_string_equal(b.msgs[0].to, "123456");
	free(reply.body);
	ingest_batch_free(&b);

	/* Not an Update: 400, nothing stored. */
	static const char *const bad[] = { "[]", "\"update\"", "{}", "{\"update_id\":\"7\"}", "1" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		assert_int_equal(call_webhook(ch, "POST", SECRET, bad[i], &reply, &b), 400);
		assert_string_equal(reply.error_code, "invalid_update");
		assert_true(ingest_batch_empty(&b));
	}
	assert_int_equal(call_webhook(ch, "POST", SECRET, "{\"update_id\":", &reply, &b), 400);
	assert_string_equal(reply.error_code, "invalid_json");
	assert_true(ingest_batch_empty(&b));
	/* An unknown kind: accepted, nothing stored. */
	assert_int_equal(call_webhook(ch, "POST", SECRET, "{\"update_id\":9,\"chat_boost\":{}}",
	    &reply, &b), 200);
	assert_true(ingest_batch_empty(&b));
	free(reply.body);
	free(body);
	channel_free(ch);

	/* A channel without a secret (polling) takes no webhooks. */
	ch = open_channel("{\"bot_token\":\"" TOKEN "\",\"mode\":\"polling\"}");
	assert_int_equal(call_webhook(ch, "POST", "", "{\"update_id\":1}", &reply, &b), 401);
	channel_free(ch);
}

/* Config and the ops table */

static void
test_config(void **state)
{
	static const struct {
		const char *cfg, *field;
	} cases[] = {
		{ "{}", "config.bot_token" },
		{ "{\"bot_token\":\"abc\",\"webhook_secret\":\"s\"}", "config.bot_token" },
		{ "{\"bot_token\":\"12:\",\"webhook_secret\":\"s\"}", "config.bot_token" },
		{ "{\"bot_token\":\"12:a/b\",\"webhook_secret\":\"s\"}", "config.bot_token" },
		{ "{\"bot_token\":\"12:ab\"}", "config.webhook_secret" },
		{ "{\"bot_token\":\"12:ab\",\"mode\":\"webhook\"}", "config.webhook_secret" },
		{ "{\"bot_token\":\"12:ab\",\"webhook_secret\":\"a b\"}", "config.webhook_secret" },
		{ "{\"bot_token\":\"12:ab\",\"webhook_secret\":\"\"}", "config.webhook_secret" },
		{ "{\"bot_token\":\"12:ab\",\"webhook_secret\":3}", "config.webhook_secret" },
		{ "{\"bot_token\":\"12:ab\",\"mode\":\"push\"}", "config.mode" },
		{ "{\"bot_token\":\"12:ab\",\"mode\":\"polling\",\"api_base_url\":\"ftp://x\"}",
		  "config.api_base_url" },
		{ "{\"bot_token\":\"12:ab\",\"mode\":\"polling\",\"public_url\":\"nope\"}",
		  "config.public_url" },
		{ "{\"bot_token\":\"12:ab\",\"mode\":\"polling\",\"verify_token\":\"x\"}",
		  "config.verify_token" },
		{ "{\"bot_token\":\"12:ab\",\"mode\":\"polling\",\"rate_per_second\":-1}",
		  "config.rate_per_second" },
	};
	char longsecret[300] = "{\"bot_token\":\"12:ab\",\"webhook_secret\":\"";

	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		expect_validate(&telegram_ops, cases[i].cfg, -1, cases[i].field);
	for (int i = 0; i < 257; i++)
		strcat(longsecret, "a");
	strcat(longsecret, "\"}");
	expect_validate(&telegram_ops, longsecret, -1, "config.webhook_secret");

	static const char *const good[] = {
		"{\"bot_token\":\"" TOKEN "\",\"webhook_secret\":\"A-z_9\"}",
		"{\"bot_token\":\"12:ab\",\"mode\":\"polling\"}",
		"{\"bot_token\":\"12:ab\",\"mode\":\"webhook\",\"webhook_secret\":\"s\","
		"\"public_url\":\"https://msgd.example\",\"api_base_url\":\"http://127.0.0.1:8081\","
		"\"rate_per_second\":5,\"group_gap_ms\":100}",
	};
	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		expect_validate(&telegram_ops, good[i], 0, NULL);
}

static void
test_ops_table(void **state)
{
	const struct channel_ops *o = &telegram_ops;
	struct channel *ch = webhook_channel();

	assert_ptr_equal(channel_type_find("telegram"), o);
	assert_null(o->webhook_path);
	assert_null(o->webhook);
	assert_null(o->read_prepare);
	assert_non_null(o->channel_webhook);
	assert_non_null(o->after_commit);
	assert_non_null(o->on_lease);
	assert_non_null(o->connect);
	assert_non_null(o->disconnect);
	assert_non_null(o->caps);
	assert_non_null(o->schema);
	assert_int_equal(o->caps->max_text_len, 4096);
	assert_int_equal(o->caps->window_hours, 0);
	assert_true(o->caps->edits);
	assert_false(o->caps->deletes);
	assert_true(channel_can_send_type(o, "image"));
	assert_false(channel_can_send_type(o, "template"));
	assert_int_equal(channel_media_limit(o, "image")->max_bytes, 10 * 1024 * 1024);
	assert_int_equal(channel_send_setting(ch, "rate_per_second"), 30);
	assert_int_equal(channel_send_setting(ch, "recipient_gap_ms"), 1000);
	assert_int_equal(channel_send_setting(ch, "group_gap_ms"), 3000);

	json_t *pub = channel_public_config(ch);
	assert_string_equal(json_string_value(json_object_get(pub, "bot_token")), "********");
	assert_string_equal(json_string_value(json_object_get(pub, "webhook_secret")), "********");
	json_decref(pub);
	json_t *d = channel_type_describe(o);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "telegram");
	assert_true(json_is_true(json_object_get(d, "webhook")));
	json_decref(d);

	/* Actions without a host fail cleanly: webhook mode needs public_url. */
	struct channel_error err = { 0 };
	assert_int_equal(o->connect(ch, &err), -1);
	assert_string_equal(err.field, "config.public_url");
	channel_free(ch);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_corpus_complete),
		cmocka_unit_test(test_redelivery_keys),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_not_an_update),
		cmocka_unit_test(test_entities_utf16),
		cmocka_unit_test(test_webhook),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_ops_table),
	};
	struct CMUnitTest tests[ARRAY_LEN(rows) + ARRAY_LEN(fixed)];

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		tests[i] = (struct CMUnitTest){
			.name = rows[i].file,
			.test_func = test_corpus_row,
			.initial_state = (void *)&rows[i],
		};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		tests[ARRAY_LEN(rows) + i] = fixed[i];
	return cmocka_run_group_tests_name("telegram", tests, NULL, NULL);
}
