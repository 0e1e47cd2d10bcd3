/*
 * test_evolution.c - the Evolution API adapter (src/channels/evolution*.c):
 * one table row per file of shared/corpus/evolution/inbound with the
 * records it must normalize to (written by hand from the files), group
 * messages, echoes, every message kind, status updates, connection and QR
 * states, the webhook's authentication, the golden outbound body, every
 * outcome class, connect answers and the config. The corpus root is
 * $CORPUS, else ../shared/corpus from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channels/channel.h"
#include "channels/evolution.h"
#include "util/util.h"

#include "corpus.h"

#define CORPUS_KEY "00000000-0000-4000-8000-000000000000"

/* parts.<a>.<b> as an integer, or 0. */
static int64_t
part_int(const struct msg_in *m, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(m->parts, a), b));
}

/* The corpus table */

struct row {
	const char *file;                   /* under evolution/inbound/ */
	const char *apikey, *instance;      /* what the body must authenticate against */
	size_t nmsgs, nstatuses, nstates;
	/* The first message. */
	const char *id, *from, *to, *contact, *name, *type, *text;
	enum msg_direction dir;
	bool echo;
	int64_t ts;
	/* The first status or state. */
	enum msg_status st;
	const char *word, *recipient;
	enum channel_conn conn;
	const char *reason, *qr;
	void (*check)(const struct ingest_batch *b);
};

static void
check_image(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_string_equal(part_str(m, "media", "mime_type"), "image/jpeg");
	assert_string_equal(part_str(m, "media", "sha256"),
	    "RkFLRUZBS0VGQUtFRkFLRUZBS0VGQUtFRkFLRUZBS0U=");
	assert_non_null(strstr(part_str(m, "media", "url"), "https://mmg.whatsapp.net/o1/v/"));
	assert_int_equal(part_int(m, "media", "size"), 52046);
	/* The inline base64 blob is not kept in raw; the rest is. */
	assert_null(strstr(m->raw, "\"base64\""));
	assert_non_null(strstr(m->raw, "\"jpegThumbnail\""));
	assert_null(m->reply_to);
}

static void
check_echo_image(const struct ingest_batch *b)
{
	assert_int_equal(part_int(&b->msgs[0], "media", "size"), 68236);
	assert_null(strstr(b->msgs[0].raw, "\"base64\""));
}

static void
check_video(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_string_equal(part_str(m, "media", "mime_type"), "video/mp4");
	assert_int_equal(part_int(m, "media", "size"), 2797968);
	assert_int_equal(part_int(m, "media", "seconds"), 16);
}

static void
check_text(const struct ingest_batch *b)
{
	assert_int_equal(json_object_size(b->msgs[0].parts), 0);
	assert_int_equal(b->msgs[0].action, MSG_NEW);
	assert_null(b->msgs[0].dedup_key);
}

static void
check_deleted(const struct ingest_batch *b)
{
	const struct msg_in *m = &b->msgs[0];
	assert_int_equal(m->action, MSG_DELETE);
	assert_string_equal(m->target, "A5561E44C2A63682E4295B52F484C14E");
	assert_string_equal(m->dedup_key, "del:A5561E44C2A63682E4295B52F484C14E");
}

static void
check_qr(const struct ingest_batch *b)
{
	assert_null(b->states[0].pairing_code);  /* null in the file */
	assert_null(b->states[0].reason);
}

static const struct row rows[] = {
	{ .file = "connection.update.close_401.json", .apikey = CORPUS_KEY, .instance = "tigo1",
	  .nstates = 1, .conn = CONN_DISCONNECTED, .reason = "logged out: pair again" },
	{ .file = "messages.update.deleted.json", .apikey = "myinstance", .instance = "myinstance",
	  .nmsgs = 1, .id = "A5561E44C2A63682E4295B52F484C14E", .from = "200000000000",
	  .to = "200000000000", .contact = "200000000000", .type = "revoke", .dir = DIR_IN,
	  .ts = 1758749877, .check = check_deleted },
	{ .file = "messages.update.read.json", .apikey = "myinstance", .instance = "myinstance",
	  .nstatuses = 1, .id = "A5561E44C2A63682E4295B52F484C14E", .ts = 1758749877,
	  .st = ST_READ, .word = "READ", .recipient = "200000000000" },
	{ .file = "messages.upsert.from_me_image.json", .apikey = CORPUS_KEY, .instance = "tigo1",
	  .nmsgs = 1, .id = "3EB0E559DC0FE60E423298", .from = "15550100002", .to = "15550100001",
	  .contact = "15550100001", .name = NULL, .type = "image",
	  .text = "mensaje saliente con multimedia (imagen)", .dir = DIR_OUT, .echo = true,
	  .ts = 1746133903, .check = check_echo_image },
	{ .file = "messages.upsert.from_me_text.json", .apikey = CORPUS_KEY, .instance = "tigo1",
	  .nmsgs = 1, .id = "3EB0B7AA9746D9215C1340", .from = "15550100002", .to = "15550100001",
	  .contact = "15550100001", .name = NULL, .type = "text",
	  .text = "menasje saliente solo texto", .dir = DIR_OUT, .echo = true, .ts = 1746133821,
	  .check = check_text },
	{ .file = "messages.upsert.image.json", .apikey = CORPUS_KEY, .instance = "tigo1",
	  .nmsgs = 1, .id = "3EB083096BF5E4096E4137", .from = "15550100001", .to = "15550100002",
	  .contact = "15550100001", .name = "Test Customer", .type = "image",
	  .text = "hola - text con multimedia (imagen)", .dir = DIR_IN, .ts = 1746132796,
	  .check = check_image },
	{ .file = "messages.upsert.text.json", .apikey = CORPUS_KEY, .instance = "tigo1",
	  .nmsgs = 1, .id = "3EB03E3CA617ADA52AEA79", .from = "15550100001", .to = "15550100002",
	  .contact = "15550100001", .name = "Test Customer", .type = "text", .text = "hola - text",
	  .dir = DIR_IN, .ts = 1746132673, .check = check_text },
	{ .file = "messages.upsert.video.json", .apikey = CORPUS_KEY, .instance = "tigo1",
	  .nmsgs = 1, .id = "3EB080FBD16B588D5E1065", .from = "15550100001", .to = "15550100002",
	  .contact = "15550100001", .name = "Test Customer", .type = "video",
	  .text = "hola - text con multimea (video)", .dir = DIR_IN, .ts = 1746133036,
	  .check = check_video },
	{ .file = "qrcode.updated.json", .apikey = CORPUS_KEY, .instance = "tigo1", .nstates = 1,
	  .conn = CONN_PAIRING,
	  .qr = "2@FAKEcorpusQRref,FAKEnoiseKey=,FAKEidentityKey=,FAKEadvSecret=",
	  .check = check_qr },
};

static void
check_row(const struct row *r)
{
	char rel[512];
	json_t *root;
	struct ingest_batch b = { 0 };

	snprintf(rel, sizeof(rel), "inbound/%s", r->file);
	root = corpus_json("evolution", rel);
	assert_int_equal(evo_body_check(root, r->apikey, r->instance), EVO_BODY_OK);
	assert_int_equal(evo_body_check(root, "another-key", r->instance), EVO_BODY_REFUSED);
	evo_normalize(root, 7, &b);
	if (b.nmsgs != r->nmsgs || b.nstatuses != r->nstatuses || b.nstates != r->nstates)
		fail_msg("%s: %zu msgs %zu statuses %zu states", r->file, b.nmsgs, b.nstatuses,
		    b.nstates);
	assert_int_equal(b.nevents, 0);
	assert_int_equal(b.ncontacts, 0);
	if (r->nmsgs) {
		const struct msg_in *m = &b.msgs[0];
		assert_int_equal(m->channel_id, 7);
		assert_string_equal(m->provider_message_id, r->id);
		assert_str_or_null(r->from, m->from);
		assert_str_or_null(r->to, m->to);
		assert_str_or_null(r->contact, m->contact_address);
		assert_str_or_null(r->name, m->contact_name);
		assert_str_or_null(r->type, m->type);
		assert_str_or_null(r->text, m->text);
		assert_int_equal(m->direction, r->dir);
		assert_int_equal(m->echo, r->echo);
		assert_int_equal(m->timestamp, r->ts);
		assert_non_null(m->raw);
		assert_non_null(m->parts);
	}
	if (r->nstatuses) {
		const struct status_in *s = &b.statuses[0];
		assert_int_equal(s->channel_id, 7);
		assert_string_equal(s->provider_message_id, r->id);
		assert_int_equal(s->status, r->st);
		assert_string_equal(s->provider_status, r->word);
		assert_str_or_null(r->recipient, s->recipient);
		assert_int_equal(s->timestamp, r->ts);
		assert_non_null(s->raw);
	}
	if (r->nstates) {
		const struct state_in *s = &b.states[0];
		assert_int_equal(s->channel_id, 7);
		assert_int_equal(s->state, r->conn);
		assert_str_or_null(r->reason, s->reason);
		assert_str_or_null(r->qr, s->qr);
	}
	if (r->check)
		r->check(&b);
	ingest_batch_free(&b);
	json_decref(root);
}

static void
test_corpus_rows(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		check_row(&rows[i]);
}

/* Every inbound file has a row: a new corpus file fails here until described. */
static void
test_corpus_every_file_has_a_row(void **state)
{
	DIR *dir = corpus_opendir("evolution", "inbound");
	const char *name;
	size_t n, seen = 0;

	while ((name = corpus_next(dir, ".json", &n)) != NULL) {
		bool found = false;
		for (size_t i = 0; i < ARRAY_LEN(rows); i++)
			found |= strcmp(rows[i].file, name) == 0;
		if (!found)
			fail_msg("no expected values for inbound/%s", name);
		seen++;
	}
	closedir(dir);
	assert_int_equal(seen, ARRAY_LEN(rows));
}

/* Built bodies */

static void
normalize_str(const char *s, struct ingest_batch *b)
{
	json_t *root = parse_json(s, strlen(s));
	assert_int_equal(evo_body_check(root, "k", "inst"), EVO_BODY_OK);
	evo_normalize(root, 3, b);
	json_decref(root);
}

/* An upsert envelope around data (JSON text). */
static char *
upsert(const char *data)
{
	return xasprintf("{\"event\":\"messages.upsert\",\"instance\":\"inst\",\"apikey\":\"k\","
	    "\"sender\":\"15550100002@s.whatsapp.net\",\"date_time\":\"2025-05-01T18:10:21.803Z\","
	    "\"data\":%s}", data);
}

static void
one_msg(const char *data, struct ingest_batch *b)
{
	char *s = upsert(data);
	normalize_str(s, b);
	free(s);
	assert_int_equal(b->nmsgs, 1);
}

static void
test_group_message(void **state)
{
	struct ingest_batch b = { 0 };

	one_msg("{\"key\":{\"remoteJid\":\"120363025246125888@g.us\",\"fromMe\":false,"
	    "\"id\":\"GRP1\",\"participant\":\"15550100009:3@s.whatsapp.net\"},"
	    "\"pushName\":\"Ana\",\"messageTimestamp\":\"1746133000\","
	    "\"message\":{\"extendedTextMessage\":{\"text\":\"@15550100001 see above\","
	    "\"contextInfo\":{\"stanzaId\":\"QUOTED1\",\"participant\":\"15550100001@s.whatsapp.net\","
	    "\"mentionedJid\":[\"15550100001@s.whatsapp.net\",\"123456789@lid\"]}}}}", &b);
	const struct msg_in *m = &b.msgs[0];
	assert_int_equal(m->direction, DIR_IN);
	assert_false(m->echo);
	assert_string_equal(m->contact_address, "120363025246125888@g.us");
	/* The participant, not the envelope's sender (the instance's own number). */
	assert_string_equal(m->from, "15550100009");
	assert_string_equal(m->to, "120363025246125888@g.us");
	assert_null(m->contact_name);  /* the group has no push name */
	assert_string_equal(part_str(m, "sender", "id"), "15550100009");
	assert_string_equal(part_str(m, "sender", "name"), "Ana");
	assert_string_equal(part_str(m, "group_id", NULL), "120363025246125888@g.us");
	assert_string_equal(m->type, "text");
	assert_string_equal(m->text, "@15550100001 see above");
	assert_string_equal(m->reply_to, "QUOTED1");
	json_t *mentions = json_object_get(m->parts, "mentions");
	assert_int_equal(json_array_size(mentions), 2);
	assert_string_equal(json_string_value(json_array_get(mentions, 0)), "15550100001");
	assert_string_equal(json_string_value(json_array_get(mentions, 1)), "123456789@lid");
	assert_int_equal(m->timestamp, 1746133000);
	assert_true(evo_is_group(m->contact_address));
	ingest_batch_free(&b);

	/* The business writing in the group from its phone: an echo to the group. */
	one_msg("{\"key\":{\"remoteJid\":\"120363025246125888@g.us\",\"fromMe\":true,"
	    "\"id\":\"GRP2\",\"participant\":\"15550100002@s.whatsapp.net\"},"
	    "\"pushName\":\"Biz\",\"messageTimestamp\":1746133001,"
	    "\"message\":{\"conversation\":\"hello all\"}}", &b);
	m = &b.msgs[0];
	assert_int_equal(m->direction, DIR_OUT);
	assert_true(m->echo);
	assert_string_equal(m->from, "15550100002");
	assert_string_equal(m->to, "120363025246125888@g.us");
	assert_string_equal(m->contact_address, "120363025246125888@g.us");
	assert_null(m->contact_name);
	assert_null(json_object_get(m->parts, "sender"));
	ingest_batch_free(&b);

	/* A group message without a participant cannot name its sender: skipped. */
	char *s = upsert("{\"key\":{\"remoteJid\":\"1203@g.us\",\"fromMe\":false,\"id\":\"G3\"},"
	    "\"message\":{\"conversation\":\"x\"}}");
	normalize_str(s, &b);
	free(s);
	assert_int_equal(b.nmsgs, 0);
	ingest_batch_free(&b);
}

static void
test_data_array_and_skips(void **state)
{
	struct ingest_batch b = { 0 };
	char *s = upsert("[{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\",\"id\":\"A1\"},"
	    "\"message\":{\"conversation\":\"one\"}},"
	    "{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\",\"id\":\"A2\"},"
	    "\"message\":{\"messageContextInfo\":{},\"protocolMessage\":{\"type\":\"EPHEMERAL_SETTING\","
	    "\"key\":{\"id\":\"A0\"}}}},"
	    "{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\"},\"message\":{\"conversation\":\"no id\"}},"
	    "7, \"x\","
	    "{\"key\":{\"remoteJid\":\"status@broadcast\",\"id\":\"ST1\",\"participant\":\"1555@s.whatsapp.net\"},"
	    "\"message\":{\"conversation\":\"my story\"}},"
	    "{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\",\"id\":\"A3\"},"
	    "\"message\":{\"conversation\":\"three\"}}]");

	normalize_str(s, &b);
	free(s);
	assert_int_equal(b.nmsgs, 2);
	assert_string_equal(b.msgs[0].text, "one");
	assert_string_equal(b.msgs[1].text, "three");
	/* No messageTimestamp: the envelope's date_time. */
	assert_int_equal(b.msgs[0].timestamp, 1746123021);
	ingest_batch_free(&b);
}

/* One message of a kind: the message object, and what it must become. */
static const struct msg_in *
kind(struct ingest_batch *b, const char *message)
{
	char *data = xasprintf("{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\","
	    "\"fromMe\":false,\"id\":\"K1\"},\"pushName\":\"C\",\"messageTimestamp\":5,"
	    "\"message\":%s}", message);
	one_msg(data, b);
	free(data);
	return &b->msgs[0];
}

static void
test_message_kinds(void **state)
{
	struct ingest_batch b = { 0 };
	const struct msg_in *m;

	m = kind(&b, "{\"audioMessage\":{\"url\":\"https://x/a\",\"mimetype\":\"audio/ogg; codecs=opus\","
	    "\"ptt\":true,\"seconds\":4,\"fileLength\":1234}}");
	assert_string_equal(m->type, "voice");
	assert_true(json_is_true(json_object_get(json_object_get(m->parts, "media"), "voice")));
	assert_int_equal(part_int(m, "media", "size"), 1234);
	ingest_batch_free(&b);

	m = kind(&b, "{\"audioMessage\":{\"url\":\"https://x/a\",\"ptt\":false}}");
	assert_string_equal(m->type, "audio");
	ingest_batch_free(&b);

	m = kind(&b, "{\"documentWithCaptionMessage\":{\"message\":{\"documentMessage\":{"
	    "\"url\":\"https://x/d\",\"mimetype\":\"application/pdf\",\"fileName\":\"r.pdf\","
	    "\"caption\":\"the report\",\"contextInfo\":{\"stanzaId\":\"Q9\"}}}}}");
	assert_string_equal(m->type, "document");
	assert_string_equal(part_str(m, "media", "filename"), "r.pdf");
	assert_string_equal(m->text, "the report");
	assert_string_equal(m->reply_to, "Q9");
	ingest_batch_free(&b);

	m = kind(&b, "{\"stickerMessage\":{\"url\":\"https://x/s\",\"mimetype\":\"image/webp\","
	    "\"isAnimated\":true}}");
	assert_string_equal(m->type, "sticker");
	assert_true(json_is_true(json_object_get(json_object_get(m->parts, "media"), "animated")));
	ingest_batch_free(&b);

	m = kind(&b, "{\"locationMessage\":{\"degreesLatitude\":-23.5,\"degreesLongitude\":-46.6,"
	    "\"name\":\"Office\",\"address\":\"Av. Paulista\"}}");
	assert_string_equal(m->type, "location");
	assert_true(json_real_value(json_object_get(json_object_get(m->parts, "location"),
	    "latitude")) == -23.5);
	assert_string_equal(part_str(m, "location", "name"), "Office");
	ingest_batch_free(&b);

	m = kind(&b, "{\"contactMessage\":{\"displayName\":\"Bob\",\"vcard\":\"BEGIN:VCARD\\nEND:VCARD\"}}");
	assert_string_equal(m->type, "contacts");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(m->parts, "contacts"), 0), "name")), "Bob");
	ingest_batch_free(&b);

	m = kind(&b, "{\"contactsArrayMessage\":{\"displayName\":\"2 contacts\",\"contacts\":["
	    "{\"displayName\":\"A\",\"vcard\":\"v1\"},{\"displayName\":\"B\",\"vcard\":\"v2\"}]}}");
	assert_string_equal(m->type, "contacts");
	assert_int_equal(json_array_size(json_object_get(m->parts, "contacts")), 2);
	ingest_batch_free(&b);

	m = kind(&b, "{\"reactionMessage\":{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\","
	    "\"fromMe\":true,\"id\":\"TARGET1\"},\"text\":\"\\ud83d\\udc4d\"}}");
	assert_string_equal(m->type, "reaction");
	assert_string_equal(part_str(m, "reaction", "emoji"), "\xf0\x9f\x91\x8d");
	assert_string_equal(part_str(m, "reaction", "provider_message_id"), "TARGET1");
	ingest_batch_free(&b);

	m = kind(&b, "{\"protocolMessage\":{\"key\":{\"id\":\"GONE1\"},\"type\":\"REVOKE\"}}");
	assert_string_equal(m->type, "revoke");
	assert_int_equal(m->action, MSG_DELETE);
	assert_string_equal(m->target, "GONE1");
	assert_string_equal(m->provider_message_id, "K1");
	ingest_batch_free(&b);

	m = kind(&b, "{\"protocolMessage\":{\"key\":{\"id\":\"GONE2\"},\"type\":0}}");
	assert_int_equal(m->action, MSG_DELETE);
	ingest_batch_free(&b);

	m = kind(&b, "{\"editedMessage\":{\"message\":{\"protocolMessage\":{\"key\":{\"id\":\"OLD1\"},"
	    "\"type\":\"MESSAGE_EDIT\",\"editedMessage\":{\"conversation\":\"fixed text\"}}}}}");
	assert_int_equal(m->action, MSG_EDIT);
	assert_string_equal(m->target, "OLD1");
	assert_string_equal(m->type, "text");
	assert_string_equal(m->text, "fixed text");
	ingest_batch_free(&b);

	m = kind(&b, "{\"protocolMessage\":{\"key\":{\"id\":\"OLD2\"},\"type\":14,"
	    "\"editedMessage\":{\"extendedTextMessage\":{\"text\":\"fixed again\"}}}}");
	assert_int_equal(m->action, MSG_EDIT);
	assert_string_equal(m->text, "fixed again");
	ingest_batch_free(&b);

	m = kind(&b, "{\"ephemeralMessage\":{\"message\":{\"viewOnceMessageV2\":{\"message\":{"
	    "\"imageMessage\":{\"url\":\"https://x/i\",\"caption\":\"once\"}}}}}}");
	assert_string_equal(m->type, "image");
	assert_string_equal(m->text, "once");
	ingest_batch_free(&b);

	m = kind(&b, "{\"messageContextInfo\":{},\"pollCreationMessageV3\":{\"name\":\"Lunch?\"}}");
	assert_string_equal(m->type, "unsupported");
	assert_string_equal(part_str(m, "unsupported_type", NULL), "pollCreationMessageV3");
	assert_non_null(strstr(m->raw, "Lunch?"));
	assert_string_equal(m->contact_name, "C");
	ingest_batch_free(&b);
}

static void
test_timestamps(void **state)
{
	struct ingest_batch b = { 0 };
	static const struct {
		const char *ts;
		int64_t want;
	} cases[] = {
		{ "1746133821", 1746133821 },
		{ "\"1746133821\"", 1746133821 },
		{ "1746133821.0", 1746133821 },
		{ "{\"low\":1,\"high\":0}", 1746123021 },   /* unusable: the envelope's date_time */
		{ "\"-5\"", 1746123021 },
		{ "\"17x\"", 1746123021 },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *d = xasprintf("{\"key\":{\"remoteJid\":\"15550100001@s.whatsapp.net\",\"id\":\"T\"},"
		    "\"messageTimestamp\":%s,\"message\":{\"conversation\":\"t\"}}", cases[i].ts);
		one_msg(d, &b);
		free(d);
		assert_int_equal(b.msgs[0].timestamp, cases[i].want);
		ingest_batch_free(&b);
	}
}

static void
test_status_updates(void **state)
{
	struct ingest_batch b = { 0 };
	const char *body = "{\"event\":\"messages.update\",\"instance\":\"inst\",\"apikey\":\"k\","
	    "\"date_time\":\"2025-09-24T21:37:57.432Z\",\"data\":["
	    "{\"keyId\":\"S1\",\"remoteJid\":\"15550100001@s.whatsapp.net\",\"fromMe\":true,\"status\":\"SERVER_ACK\"},"
	    "{\"keyId\":\"S1\",\"remoteJid\":\"15550100001@s.whatsapp.net\",\"fromMe\":true,\"status\":\"DELIVERY_ACK\"},"
	    "{\"key\":{\"id\":\"S2\",\"remoteJid\":\"15550100001@s.whatsapp.net\"},\"status\":\"PLAYED\"},"
	    "{\"keyId\":\"S3\",\"status\":\"ERROR\"},"
	    "{\"keyId\":\"S4\",\"status\":3},"
	    "{\"keyId\":\"S5\",\"status\":\"PENDING\"},"
	    "{\"keyId\":\"S6\",\"status\":\"WHATEVER\"},"
	    "{\"status\":\"READ\"},"
	    "{\"keyId\":\"S7\",\"remoteJid\":\"15550100001@s.whatsapp.net\",\"fromMe\":true,\"status\":\"DELETED\"}]}";

	normalize_str(body, &b);
	assert_int_equal(b.nstatuses, 5);
	assert_string_equal(b.statuses[0].provider_message_id, "S1");
	assert_int_equal(b.statuses[0].status, ST_SENT);
	assert_string_equal(b.statuses[0].recipient, "15550100001");
	assert_int_equal(b.statuses[1].status, ST_DELIVERED);
	assert_string_equal(b.statuses[2].provider_message_id, "S2");
	assert_int_equal(b.statuses[2].status, ST_READ);
	assert_string_equal(b.statuses[2].provider_status, "PLAYED");
	assert_int_equal(b.statuses[3].status, ST_FAILED);
	assert_non_null(b.statuses[3].error_title);
	assert_null(b.statuses[3].recipient);
	assert_int_equal(b.statuses[4].status, ST_DELIVERED);
	assert_string_equal(b.statuses[4].provider_status, "DELIVERY_ACK");
	assert_int_equal(b.statuses[4].timestamp, 1758749877);
	/* DELETED of our own message: a delete of it, not a status. */
	assert_int_equal(b.nmsgs, 1);
	assert_int_equal(b.msgs[0].action, MSG_DELETE);
	assert_string_equal(b.msgs[0].target, "S7");
	assert_int_equal(b.msgs[0].direction, DIR_OUT);
	assert_true(b.msgs[0].echo);
	assert_string_equal(b.msgs[0].to, "15550100001");
	ingest_batch_free(&b);
}

static void
test_connection_states(void **state)
{
	static const struct {
		const char *data;
		enum channel_conn want;
		const char *reason;
	} cases[] = {
		{ "{\"instance\":\"inst\",\"state\":\"open\",\"statusReason\":200}", CONN_CONNECTED, NULL },
		{ "{\"state\":\"connecting\"}", CONN_CONNECTING, NULL },
		{ "{\"state\":\"close\",\"statusReason\":\"401\"}", CONN_DISCONNECTED, "logged out: pair again" },
		{ "{\"state\":\"close\",\"statusReason\":440}", CONN_DISCONNECTED,
		  "replaced by another session of this number" },
		{ "{\"state\":\"close\",\"statusReason\":499}", CONN_DISCONNECTED, "closed (status 499)" },
		{ "{\"state\":\"close\"}", CONN_DISCONNECTED, "closed" },
		{ "{\"state\":\"refused\"}", CONN_ERROR, "WhatsApp refused the connection" },
	};
	struct ingest_batch b = { 0 };

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *s = xasprintf("{\"event\":\"connection.update\",\"instance\":\"inst\","
		    "\"apikey\":\"k\",\"data\":%s}", cases[i].data);
		normalize_str(s, &b);
		free(s);
		assert_int_equal(b.nstates, 1);
		assert_int_equal(b.states[0].channel_id, 3);
		assert_int_equal(b.states[0].state, cases[i].want);
		assert_str_or_null(cases[i].reason, b.states[0].reason);
		assert_null(b.states[0].qr);
		ingest_batch_free(&b);
	}
	normalize_str("{\"event\":\"connection.update\",\"instance\":\"inst\",\"apikey\":\"k\","
	    "\"data\":{\"state\":\"dancing\"}}", &b);
	assert_int_equal(b.nstates, 0);
	normalize_str("{\"event\":\"qrcode.updated\",\"instance\":\"inst\",\"apikey\":\"k\","
	    "\"data\":{\"qrcode\":{\"code\":\"2@abc\",\"pairingCode\":\"WZYEH1YY\"}}}", &b);
	assert_int_equal(b.nstates, 1);
	assert_int_equal(b.states[0].state, CONN_PAIRING);
	assert_string_equal(b.states[0].qr, "2@abc");
	assert_string_equal(b.states[0].pairing_code, "WZYEH1YY");
	ingest_batch_free(&b);
	/* Unknown events: nothing, no error. */
	normalize_str("{\"event\":\"presence.update\",\"instance\":\"inst\",\"apikey\":\"k\","
	    "\"data\":{}}", &b);
	assert_true(ingest_batch_empty(&b));
	ingest_batch_free(&b);
}

/* The channel: webhook, requests */

#define BASE "http://127.0.0.1:9/evo/"
#define KEY  CORPUS_KEY

static json_t *
good_config(void)
{
	return json_pack("{s:s,s:s,s:s}", "api_base_url", BASE, "api_key", KEY, "instance", "tigo1");
}

static struct channel *
open_channel(void)
{
	json_t *cfg = good_config();
	struct channel_error err = { 0 };
	struct channel *ch;

	assert_int_equal(evolution_ops.validate(cfg, &err), 0);
	ch = channel_new(11, "evo", &evolution_ops, cfg, 1, 1);
	json_decref(cfg);
	assert_int_equal(ch->ops->open(ch), 0);
	return ch;
}

static const char *
no_header(void *ctx, const char *name)
{
	return NULL;
}

static int
post(struct channel *ch, const char *body, struct ingest_batch *out, struct webhook_reply *reply)
{
	struct webhook_request req = { .method = "POST", .header = no_header, .query = no_header,
	    .body = body, .body_len = strlen(body), .request_id = "t" };

	*reply = (struct webhook_reply){ 0 };
	ch->ops->channel_webhook(ch, &req, reply, out);
	return reply->status;
}

static void
test_webhook_auth(void **state)
{
	struct channel *ch = open_channel();
	struct ingest_batch b = { 0 };
	struct webhook_reply r;
	size_t len;
	char *good = corpus_load("evolution", "inbound/messages.upsert.text.json", &len);
	static const char *const refused[] = {
		"{\"event\":\"messages.upsert\",\"instance\":\"tigo1\",\"apikey\":\"" KEY "x\"}",
		"{\"event\":\"messages.upsert\",\"instance\":\"tigo1\",\"apikey\":\"00000000\"}",
		"{\"event\":\"messages.upsert\",\"instance\":\"tigo2\",\"apikey\":\"" KEY "\"}",
		"{\"event\":\"messages.upsert\",\"instance\":\"tigo1\"}",
		"{\"event\":\"messages.upsert\",\"apikey\":\"" KEY "\"}",
		"{\"event\":\"messages.upsert\",\"instance\":\"tigo1\",\"apikey\":7}",
		"{\"instance\":\"tigo1\",\"apikey\":\"wrong\"}",
	};
	static const char *const malformed[] = {
		"[]", "\"messages.upsert\"", "42", "null",
		"{\"instance\":\"tigo1\",\"apikey\":\"" KEY "\"}",
		"{\"event\":7,\"instance\":\"tigo1\",\"apikey\":\"" KEY "\"}",
	};

	assert_int_equal(post(ch, good, &b, &r), 200);
	assert_int_equal(b.nmsgs, 1);
	assert_int_equal(b.msgs[0].channel_id, 11);
	free(r.body);
	ingest_batch_free(&b);
	free(good);

	for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
		assert_int_equal(post(ch, refused[i], &b, &r), 401);
		assert_string_equal(r.error_code, "unauthorized");
		assert_true(ingest_batch_empty(&b));
	}
	for (size_t i = 0; i < ARRAY_LEN(malformed); i++) {
		assert_int_equal(post(ch, malformed[i], &b, &r), 400);
		assert_true(ingest_batch_empty(&b));
	}
	assert_int_equal(post(ch, "{\"event\":", &b, &r), 400);
	assert_string_equal(r.error_code, "invalid_json");
	/* An unknown event: 200, nothing stored. */
	assert_int_equal(post(ch, "{\"event\":\"chats.update\",\"instance\":\"tigo1\",\"apikey\":\""
	    KEY "\",\"data\":[]}", &b, &r), 200);
	assert_true(ingest_batch_empty(&b));
	free(r.body);

	struct webhook_request get = { .method = "GET", .header = no_header, .query = no_header,
	    .body = "", .request_id = "t" };
	r = (struct webhook_reply){ 0 };
	ch->ops->channel_webhook(ch, &get, &r, &b);
	assert_int_equal(r.status, 405);
	channel_free(ch);
}

static const char *
header_value(const struct send_request *r, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < r->nheaders; i++)
		if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
			return r->headers[i] + n + 2;
	return NULL;
}

static void
test_outbound_golden(void **state)
{
	struct channel *ch = open_channel();
	struct channel_error err = { 0 };
	struct send_request req;
	size_t len;
	char *golden = corpus_load("evolution", "outbound/sendText.request.json", &len);
	json_t *want = parse_json(golden, len), *got;
	json_t *msg = json_pack("{s:s,s:s,s:s}", "to", "553198296801", "type", "text", "text",
	    "Ol\xc3\xa1!");

	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.method, "POST");
	/* The request line of sendText.request.headers.txt, under the configured base. */
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/message/sendText/tigo1");
	assert_string_equal(header_value(&req, "apikey"), KEY);
	assert_string_equal(header_value(&req, "Content-Type"), "application/json");
	got = parse_json(req.body, req.body_len);
	assert_int_equal(req.body_len, strlen(req.body));
	if (!json_equal(got, want))
		fail_msg("body %s differs from the golden file", req.body);
	json_decref(got);
	json_decref(want);
	free(golden);
	send_request_free(&req);

	/* A reply quotes its message by id. */
	json_object_set_new(msg, "reply_to", json_pack("{s:i,s:s}", "message_id", 4,
	    "provider_message_id", "3EB0QUOTED"));
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	got = parse_json(req.body, req.body_len);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(got,
	    "quoted"), "key"), "id")), "3EB0QUOTED");
	json_decref(got);
	send_request_free(&req);
	json_decref(msg);

	/* Media: sendMedia with the v2 fields. */
	msg = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "to", "120363025246125888@g.us", "type",
	    "document", "media", "url", "https://files.example/r.pdf", "caption", "the report",
	    "filename", "r.pdf", "mime_type", "application/pdf");
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/message/sendMedia/tigo1");
	got = parse_json(req.body, req.body_len);
	want = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "number", "120363025246125888@g.us",
	    "mediatype", "document", "mimetype", "application/pdf", "caption", "the report",
	    "media", "https://files.example/r.pdf", "fileName", "r.pdf");
	if (!json_equal(got, want))
		fail_msg("media body %s", req.body);
	json_decref(got);
	json_decref(want);
	send_request_free(&req);
	json_decref(msg);

	msg = json_pack("{s:s,s:s,s:{s:f,s:f,s:s}}", "to", "15550100001", "type", "location",
	    "location", "latitude", -23.5, "longitude", -46.25, "name", "Office");
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/message/sendLocation/tigo1");
	got = parse_json(req.body, req.body_len);
	assert_string_equal(json_string_value(json_object_get(got, "address")), "");
	assert_true(json_real_value(json_object_get(got, "longitude")) == -46.25);
	json_decref(got);
	send_request_free(&req);
	json_decref(msg);

	/* What it cannot send: -1 naming the field, no request. */
	static const char *const bad[][2] = {
		{ "{\"to\":\"1555\",\"type\":\"template\",\"template\":{\"name\":\"x\"}}", "type" },
		{ "{\"to\":\"1555\",\"type\":\"image\",\"media\":{\"id\":\"123\"}}", "media.url" },
		{ "{\"to\":\"1555\",\"type\":\"text\",\"text\":\"\"}", "text" },
		{ "{\"type\":\"text\",\"text\":\"x\"}", "to" },
		{ "{\"to\":\"1555\",\"type\":\"location\",\"location\":{\"latitude\":91,\"longitude\":0}}",
		  "location.latitude" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		msg = parse_json(bad[i][0], strlen(bad[i][0]));
		assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), -1);
		assert_string_equal(err.field, bad[i][1]);
		assert_null(req.url);
		json_decref(msg);
	}

	/* The connection check. */
	assert_int_equal(ch->ops->check_prepare(ch, &req), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/instance/connectionState/tigo1");
	assert_string_equal(header_value(&req, "apikey"), KEY);
	assert_null(req.body);
	send_request_free(&req);
	channel_free(ch);
}

/* Answers */

static void
classify(long status, const char *body, const char *retry_after, struct send_outcome *out)
{
	struct send_response r = { .http_status = status, .body = body,
	    .body_len = body ? strlen(body) : 0, .retry_after = retry_after,
	    .net_error = status == 0 ? "Connection refused" : NULL };
	evo_send_classify(NULL, NULL, &r, out);
}

static void
test_outcomes(void **state)
{
	struct send_outcome o;
	size_t len;
	char *ok = corpus_load("evolution", "outbound/sendText.response.json", &len);
	char *ok1 = corpus_load("evolution", "outbound/sendText.v1.response.json", &len);

	classify(201, ok, NULL, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_string_equal(o.provider_message_id, "BAE594145F4C59B4");
	free(o.provider_message_id);
	classify(200, ok1, NULL, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_string_equal(o.provider_message_id, "BAE5B8BC84A484E3");
	free(o.provider_message_id);
	free(ok);
	free(ok1);

	classify(200, "{\"status\":\"PENDING\"}", NULL, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_null(o.provider_message_id);
	classify(200, "<html>portal</html>", NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);

	classify(400, "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":["
	    "{\"exists\":false,\"jid\":\"5511999999999@s.whatsapp.net\",\"number\":\"5511999999999\"}]}}",
	    NULL, &o);
	assert_int_equal(o.kind, SEND_RECIPIENT_INVALID);
	assert_non_null(strstr(o.error_title, "not on WhatsApp"));
	assert_string_equal(o.error_detail, "5511999999999");

	classify(400, "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":["
	    "\"number must be a string\"]}}", NULL, &o);
	assert_int_equal(o.kind, SEND_PERMFAIL);
	assert_string_equal(o.error_detail, "number must be a string");
	assert_int_equal(o.error_code, 400);

	classify(401, "{\"status\":401,\"error\":\"Unauthorized\",\"response\":{\"message\":\"Unauthorized\"}}",
	    NULL, &o);
	assert_int_equal(o.kind, SEND_CREDENTIALS);
	assert_null(strstr(o.error_title, KEY));
	classify(403, "{}", NULL, &o);
	assert_int_equal(o.kind, SEND_CREDENTIALS);
	classify(404, "{\"status\":404,\"error\":\"Not Found\",\"response\":{\"message\":["
	    "\"The \\\"tigo1\\\" instance does not exist\"]}}", NULL, &o);
	assert_int_equal(o.kind, SEND_CREDENTIALS);
	assert_non_null(strstr(o.error_title, "instance"));
	assert_non_null(strstr(o.error_detail, "does not exist"));

	classify(429, "", "7", &o);
	assert_int_equal(o.kind, SEND_THROTTLED);
	assert_int_equal(o.retry_after_ms, 7000);
	classify(422, "{\"message\":\"nope\"}", NULL, &o);
	assert_int_equal(o.kind, SEND_PERMFAIL);
	assert_string_equal(o.error_detail, "nope");
	classify(408, NULL, NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	classify(500, "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":"
	    "\"Connection Closed\"}}", NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	assert_string_equal(o.error_detail, "Connection Closed");
	classify(503, "down\n\x01", "2", &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	assert_string_equal(o.error_detail, "down ?");
	assert_int_equal(o.retry_after_ms, 2000);
	classify(0, NULL, NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	assert_string_equal(o.error_title, "Connection refused");
	classify(302, "", NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
}

static void
test_check_and_connect_answers(void **state)
{
	struct check_result c;
	struct state_in s;
	struct send_response r = { .http_status = 200,
	    .body = "{\"instance\":{\"instanceName\":\"tigo1\",\"state\":\"open\"}}" };

	r.body_len = strlen(r.body);
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_OK);
	assert_string_equal(c.message, "instance state: open");
	r = (struct send_response){ .http_status = 401, .body = "{}", .body_len = 2 };
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_INVALID_CREDENTIALS);
	r.http_status = 404;
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_ERROR);
	r.http_status = 502;
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_UNREACHABLE);
	r = (struct send_response){ .http_status = 0, .net_error = "timeout" };
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_UNREACHABLE);

	r = (struct send_response){ .http_status = 200,
	    .body = "{\"pairingCode\":\"WZYEH1YY\",\"code\":\"2@y8eK+bjt\",\"count\":1}" };
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_PAIRING);
	assert_string_equal(s.qr, "2@y8eK+bjt");
	assert_string_equal(s.pairing_code, "WZYEH1YY");
	assert_null(s.reason);
	free(s.qr);
	free(s.pairing_code);

	r.body = "{\"pairingCode\":null,\"code\":\"2@abc\",\"count\":2}";
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_PAIRING);
	assert_null(s.pairing_code);
	free(s.qr);

	r.body = "{\"instance\":{\"instanceName\":\"tigo1\",\"state\":\"open\"}}";
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_CONNECTED);
	assert_null(s.qr);

	r.body = "{\"count\":0}";
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_CONNECTING);

	static const struct {
		long status;
		const char *reason_part;
	} errors[] = {
		{ 401, "api_key" }, { 403, "api_key" }, { 404, "instance" }, { 500, "HTTP 500" },
		{ 0, "unreachable" },
	};
	for (size_t i = 0; i < ARRAY_LEN(errors); i++) {
		r = (struct send_response){ .http_status = errors[i].status, .body = "{}", .body_len = 2,
		    .net_error = "refused" };
		evo_connect_answer(&r, &s);
		assert_int_equal(s.state, CONN_ERROR);
		assert_non_null(strstr(s.reason, errors[i].reason_part));
		free(s.reason);
	}
}

/* Config, addresses, declarations */

static void
expect_invalid(json_t *cfg, const char *field)
{
	struct channel_error err = { 0 };
	assert_int_equal(evolution_ops.validate(cfg, &err), -1);
	assert_string_equal(err.field, field);
	json_decref(cfg);
}

static void
test_config(void **state)
{
	struct channel_error err = { 0 };
	json_t *cfg = good_config();

	assert_int_equal(evolution_ops.validate(cfg, &err), 0);
	json_object_set_new(cfg, "public_url", json_string("https://msgd.example.com/"));
	json_object_set_new(cfg, "rate_per_second", json_integer(2));
	assert_int_equal(evolution_ops.validate(cfg, &err), 0);
	json_decref(cfg);

	cfg = good_config();
	json_object_del(cfg, "instance");
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	json_object_del(cfg, "api_key");
	expect_invalid(cfg, "config.api_key");
	cfg = good_config();
	json_object_set_new(cfg, "api_base_url", json_string("ftp://x"));
	expect_invalid(cfg, "config.api_base_url");
	cfg = good_config();
	json_object_set_new(cfg, "public_url", json_string("not a url"));
	expect_invalid(cfg, "config.public_url");
	cfg = good_config();
	json_object_set_new(cfg, "phone_number_id", json_string("1"));
	expect_invalid(cfg, "config.phone_number_id");
	cfg = good_config();
	json_object_set_new(cfg, "api_key", json_string("key\r\nX-Evil: 1"));
	expect_invalid(cfg, "config.api_key");
	cfg = good_config();
	json_object_set_new(cfg, "instance", json_string("../admin"));
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	json_object_set_new(cfg, "instance", json_string(""));
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	char big[EVO_INSTANCE_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(cfg, "instance", json_string(big));
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	json_object_set_new(cfg, "recipient_gap_ms", json_integer(-1));
	expect_invalid(cfg, "config.recipient_gap_ms");

	/* A name with spaces is percent-encoded in the URL. */
	cfg = good_config();
	json_object_set_new(cfg, "instance", json_string("my shop"));
	struct channel *ch = channel_new(12, "evo2", &evolution_ops, cfg, 1, 1);
	json_decref(cfg);
	assert_int_equal(ch->ops->open(ch), 0);
	struct send_request req;
	assert_int_equal(ch->ops->check_prepare(ch, &req), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/instance/connectionState/my%20shop");
	send_request_free(&req);

	/* The key never leaves msgd; pacing defaults are WhatsApp Web's. */
	json_t *pub = channel_public_config(ch);
	assert_string_equal(json_string_value(json_object_get(pub, "api_key")), "********");
	json_decref(pub);
	assert_int_equal(channel_send_setting(ch, "rate_per_second"), 5);
	assert_int_equal(channel_send_setting(ch, "recipient_gap_ms"), 1000);
	channel_free(ch);

	assert_ptr_equal(channel_type_find("evolution"), &evolution_ops);
	assert_string_equal(evolution_ops.route_key, "instance");
	assert_int_equal(evolution_ops.caps->window_hours, 0);
	assert_int_equal(evolution_ops.caps->max_text_len, 65536);
	assert_true(evolution_ops.caps->pairing);
	assert_true(channel_can_send_type(&evolution_ops, "document"));
	assert_false(channel_can_send_type(&evolution_ops, "template"));
	json_t *d = channel_type_describe(&evolution_ops);
	assert_true(json_is_true(json_object_get(d, "webhook")));
	assert_true(json_is_true(json_object_get(d, "actions")));
	json_decref(d);
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *in, *out;   /* out NULL: refused */
	} cases[] = {
		{ "+55 31 9829-6801", "553198296801" },
		{ "553198296801@s.whatsapp.net", "553198296801" },
		{ "120363025246125888@g.us", "120363025246125888@g.us" },
		{ "15550001111-1612345678@g.us", "15550001111-1612345678@g.us" },
		{ "123456789012345@lid", "123456789012345@lid" },
		{ "abc@g.us", NULL },
		{ "1555@example.com", NULL },
		{ "@g.us", NULL },
		{ "12@s.whatsapp.net@g.us", NULL },
		{ "hello", NULL },
	};
	char out[65];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int rc = evo_address_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		if (cases[i].out == NULL) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].out);
		}
	}
	assert_int_equal(evo_address_normalize("120363025246125888@g.us", 23, out, 10), -1);

	static const char *const jids[][2] = {
		{ "15550100001@s.whatsapp.net", "15550100001" },
		{ "15550100001:12@s.whatsapp.net", "15550100001" },
		{ "15550100001@c.us", "15550100001" },
		{ "120363025246125888@g.us", "120363025246125888@g.us" },
		{ "987654321@lid", "987654321@lid" },
		{ "status@broadcast", "status@broadcast" },
		{ "+1 555 010 0001", "15550100001" },
		{ "x@s.whatsapp.net", "x" },
	};
	for (size_t i = 0; i < ARRAY_LEN(jids); i++) {
		char *a = evo_jid_address(jids[i][0]);
		assert_string_equal(a, jids[i][1]);
		free(a);
	}
	assert_null(evo_jid_address(NULL));
	assert_true(evo_is_group("1203@g.us"));
	assert_false(evo_is_group("15550100001"));
	assert_false(evo_is_group(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_rows),
		cmocka_unit_test(test_corpus_every_file_has_a_row),
		cmocka_unit_test(test_group_message),
		cmocka_unit_test(test_data_array_and_skips),
		cmocka_unit_test(test_message_kinds),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_status_updates),
		cmocka_unit_test(test_connection_states),
		cmocka_unit_test(test_webhook_auth),
		cmocka_unit_test(test_outbound_golden),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_check_and_connect_answers),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
