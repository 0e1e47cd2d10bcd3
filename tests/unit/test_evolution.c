/*
 * test_evolution.c - the Evolution API adapter (src/channels/evolution*.c):
 * one table row per file of shared/corpus/evolution/inbound with the
 * records it must normalize to (written by hand from the files), group
 * messages, echoes, every message kind, status updates, connection and QR
 * states and the webhook's authentication (outbound bodies, outcomes, the
 * config: test_evolution_outbound.c). The corpus root is
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
#include "evolution_fixture.h"


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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
