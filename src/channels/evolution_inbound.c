/*
 * evolution_inbound.c - an Evolution API webhook body into msgd's records.
 *
 * Evolution (a WhatsApp Web bridge over Baileys) posts one event per
 * request: {"event","instance","data","sender","date_time","apikey",...}.
 *  - messages.upsert: data (an object, or an array in some versions) is a
 *    Baileys WebMessageInfo: key {remoteJid, fromMe, id, participant},
 *    pushName, message {<kind>: ...}, messageTimestamp (a number or a
 *    numeric string). One msg_in each. In a group the conversation is the
 *    group (its "@g.us" id kept) and the sender is key.participant; the
 *    envelope's "sender" is the instance's own number, never the contact.
 *    fromMe: the business wrote it from its phone: an echo (DIR_OUT,
 *    stored as sent, never queued). A revoke or an edit (protocolMessage)
 *    changes the message it names in place.
 *  - messages.update: data (object or array) {keyId | key.id, status} →
 *    status_in (SERVER_ACK sent, DELIVERY_ACK delivered, READ/PLAYED read,
 *    ERROR failed; never backwards: the store checks), DELETED → a
 *    MSG_DELETE of keyId.
 *  - connection.update → state_in connected / connecting / disconnected.
 *  - qrcode.updated → state_in pairing with the QR text and pairing code.
 * Anything else is answered 200 and ignored. Tolerant on purpose, as the
 * WhatsApp normalizer is: a part it cannot read is logged and skipped.
 */
#include "evolution.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/qr.h"
#include "../util/util.h"
#include "address.h"

#define EVO_TS_MAX     253402300799LL  /* 9999-12-31T23:59:59Z */
#define EVO_UNWRAP_MAX 4               /* ephemeralMessage { message { viewOnce… } } */
#define EVO_MENTIONS_MAX 256

/* JSON readers */

static const json_t *
get(const json_t *obj, const char *key)
{
	return json_object_get(obj, key); /* NULL when obj is not an object */
}

/* An identifier: a C string of 1 to EVO_ID_MAX bytes. */
static const char *
id_of(const json_t *v)
{
	const char *s = json_cstr(v);
	return s && *s && json_string_length(v) <= EVO_ID_MAX ? s : NULL;
}

/* The record's time, else the envelope's date_time, else now. */
static int64_t
time_of(const json_t *v, const json_t *root)
{
	int64_t t;
	const char *dt = json_cstr(get(root, "date_time"));

	if (json_epoch(v, EVO_TS_MAX, &t) == 0)
		return t;
	if (dt && parse_rfc3339(dt, &t) == 0 && t >= 0)
		return t;
	return now_ms() / 1000;
}

/* A member's value as an integer: a number or a numeric string; def otherwise. */
static int64_t
int_of(const json_t *v, int64_t def)
{
	int64_t n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_cstr(v) && parse_i64(json_cstr(v), &n) == 0)
		return n;
	return def;
}

/* Addresses */

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

char *
evo_jid_address(const char *jid)
{
	char digits[PHONE_DIGITS_MAX + 1];
	const char *at;
	size_t ulen;

	if (jid == NULL)
		return NULL;
	at = strchr(jid, '@');
	if (at == NULL)
		return phone_normalize_or_dup(jid);
	if (strcmp(at, EVO_JID_USER) != 0 && strcmp(at, "@c.us") != 0)
		return xstrdup(jid);  /* a group, a @lid, a broadcast list: as it is */
	/* "15550001111:12@s.whatsapp.net": the part after ':' names a device. */
	ulen = (size_t)(at - jid);
	const char *colon = memchr(jid, ':', ulen);
	if (colon)
		ulen = (size_t)(colon - jid);
	if (phone_normalize(jid, ulen, digits, sizeof(digits)) == 0)
		return xstrdup(digits);
	return xstrndup(jid, ulen);
}

bool
evo_is_group(const char *address)
{
	return address && ends_with(address, strlen(address), EVO_JID_GROUP);
}

/* digits and, for groups, '-' (old "creator-timestamp" ids) */
static bool
jid_user_ok(const char *s, size_t n, bool dash)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (dash && s[i] == '-')))
			return false;
	return true;
}

int
evo_address_normalize(const char *s, size_t len, char *out, size_t outlen)
{
	const char *at = s ? memchr(s, '@', len) : NULL;
	size_t ulen;

	if (s == NULL || memchr(s, '\0', len))
		return -1;
	if (at == NULL)
		return phone_normalize(s, len, out, outlen);
	ulen = (size_t)(at - s);
	if (ends_with(s, len, EVO_JID_USER) && len - ulen == strlen(EVO_JID_USER))
		return phone_normalize(s, ulen, out, outlen);
	/* A group or a linked-device id (@lid): kept whole, digits before the '@'. */
	if ((ends_with(s, len, EVO_JID_GROUP) && len - ulen == strlen(EVO_JID_GROUP) &&
	    jid_user_ok(s, ulen, true)) ||
	    (ends_with(s, len, "@lid") && len - ulen == 4 && jid_user_ok(s, ulen, false))) {
		if (len + 1 > outlen)
			return -1;
		memcpy(out, s, len);
		out[len] = '\0';
		return 0;
	}
	return -1;
}

/* The envelope */

enum evo_body_check
evo_body_check(const json_t *root, const char *api_key, const char *instance)
{
	const json_t *k = get(root, "apikey"), *in = get(root, "instance");
	bool ok;

	if (!json_is_object(root))
		return EVO_BODY_MALFORMED;
	/* Both compared whatever the first says; ct_equal looks at every byte. */
	ok = json_is_string(k) & json_is_string(in);
	ok &= ct_equal(json_is_string(k) ? json_string_value(k) : "",
	    json_is_string(k) ? json_string_length(k) : 0, api_key, strlen(api_key));
	ok &= ct_equal(json_is_string(in) ? json_string_value(in) : "",
	    json_is_string(in) ? json_string_length(in) : 0, instance, strlen(instance));
	if (!ok)
		return EVO_BODY_REFUSED;
	if (!json_is_string(get(root, "event")))
		return EVO_BODY_MALFORMED;
	return EVO_BODY_OK;
}

/* messages.upsert: message kinds */

/* What a message record is being built from. */
struct upsert {
	struct msg_in *m;
	const json_t *msg;      /* data.message, unwrapped */
	const json_t *body;     /* msg.<kind> */
};

static void
set_part(struct msg_in *m, const char *key, json_t *v)
{
	json_object_set_new(m->parts, key, v);
}

/* Copy src.from into dst.to when it is a string or a number. */
static void
copy_member(json_t *dst, const char *to, const json_t *src, const char *from)
{
	const json_t *v = get(src, from);
	if (json_is_string(v) || json_is_number(v) || json_is_boolean(v))
		json_object_set_new(dst, to, json_deep_copy(v));
}

/* contextInfo: a quoted message → reply_to, mentions → parts.mentions. */
static void
norm_context(struct msg_in *m, const json_t *ctx)
{
	const json_t *q = get(ctx, "stanzaId"), *mentions = get(ctx, "mentionedJid"), *v;
	size_t i;

	if (m->reply_to == NULL && id_of(q))
		m->reply_to = xstrdup(id_of(q));
	if (json_is_array(mentions) && json_array_size(mentions) > 0 &&
	    get(m->parts, "mentions") == NULL) {
		json_t *a = json_array();
		json_array_foreach(mentions, i, v) {
			if (i >= EVO_MENTIONS_MAX)
				break;
			if (id_of(v)) {
				char *addr = evo_jid_address(id_of(v));
				json_array_append_new(a, json_string(addr));
				free(addr);
			}
		}
		set_part(m, "mentions", a);
	}
}

static const char *
k_conversation(struct upsert *u, const char *type)
{
	u->m->text = json_dup_text(u->body);
	return "text";
}

static const char *
k_extended_text(struct upsert *u, const char *type)
{
	u->m->text = json_dup_text(get(u->body, "text"));
	return "text";
}

static const char *
k_media(struct upsert *u, const char *type)
{
	const json_t *b = u->body;
	json_t *media = json_object();
	int64_t size;

	copy_member(media, "url", b, "url");
	copy_member(media, "mime_type", b, "mimetype");
	copy_member(media, "sha256", b, "fileSha256");  /* base64, as Evolution gives it */
	if ((size = int_of(get(b, "fileLength"), -1)) >= 0)
		json_object_set_new(media, "size", json_integer(size));
	copy_member(media, "filename", b, "fileName");
	copy_member(media, "seconds", b, "seconds");
	if (strcmp(type, "audio") == 0 && json_is_true(get(b, "ptt"))) {
		json_object_set_new(media, "voice", json_true());
		type = "voice";
	}
	if (strcmp(type, "sticker") == 0 && json_is_boolean(get(b, "isAnimated")))
		json_object_set_new(media, "animated", json_boolean(json_is_true(get(b, "isAnimated"))));
	set_part(u->m, "media", media);
	u->m->text = json_dup_text(get(b, "caption"));
	return type;
}

static const char *
k_location(struct upsert *u, const char *type)
{
	json_t *loc = json_object();

	copy_member(loc, "latitude", u->body, "degreesLatitude");
	copy_member(loc, "longitude", u->body, "degreesLongitude");
	copy_member(loc, "name", u->body, "name");
	copy_member(loc, "address", u->body, "address");
	copy_member(loc, "url", u->body, "url");
	set_part(u->m, "location", loc);
	return "location";
}

static json_t *
one_contact(const json_t *c)
{
	json_t *o = json_object();
	copy_member(o, "name", c, "displayName");
	copy_member(o, "vcard", c, "vcard");
	return o;
}

static const char *
k_contact(struct upsert *u, const char *type)
{
	json_t *a = json_array();
	const json_t *v;
	size_t i;

	if (strcmp(type, "contactsArrayMessage") == 0) {
		json_array_foreach(get(u->body, "contacts"), i, v) {
			if (i >= EVO_ITEMS_MAX)
				break;
			json_array_append_new(a, one_contact(v));
		}
	} else {
		json_array_append_new(a, one_contact(u->body));
	}
	set_part(u->m, "contacts", a);
	return "contacts";
}

static const char *
k_reaction(struct upsert *u, const char *type)
{
	json_t *r = json_object();
	const char *target = id_of(get(get(u->body, "key"), "id"));
	/* An emoji of "" removes the sender's reaction (model.h). */
	char *emoji = json_dup_text(get(u->body, "text"));

	if (emoji)
		json_object_set_new(r, "emoji", json_string(emoji));
	free(emoji);
	if (target)
		json_object_set_new(r, "provider_message_id", json_string(target));
	set_part(u->m, "reaction", r);
	return "reaction";
}

static const char *norm_kind(struct upsert *u);

/* REVOKE (0) deletes key.id; MESSAGE_EDIT (14) replaces its content with
 * editedMessage. Other protocol messages (history sync, key shares,
 * ephemeral settings) are no messages: NULL, skipped. */
static const char *
k_protocol(struct upsert *u, const char *type)
{
	const json_t *t = get(u->body, "type");
	const char *target = id_of(get(get(u->body, "key"), "id"));

	if (target == NULL)
		return NULL;
	if (json_str_eq(t, "REVOKE") || (json_is_integer(t) && json_integer_value(t) == 0)) {
		u->m->action = MSG_DELETE;
		u->m->target = xstrdup(target);
		return "revoke";
	}
	if (json_str_eq(t, "MESSAGE_EDIT") || (json_is_integer(t) && json_integer_value(t) == 14)) {
		struct upsert e = { .m = u->m, .msg = get(u->body, "editedMessage") };
		const char *etype = norm_kind(&e);
		u->m->action = MSG_EDIT;
		u->m->target = xstrdup(target);
		return etype ? etype : "text";
	}
	return NULL;
}

static const struct evo_kind {
	const char *key;            /* member of message */
	const char *type;           /* msgd type handed to fn */
	const char *(*fn)(struct upsert *u, const char *type);
} evo_kinds[] = {
	{ .key = "conversation", .type = "text", .fn = k_conversation },
	{ .key = "extendedTextMessage", .type = "text", .fn = k_extended_text },
	{ .key = "imageMessage", .type = "image", .fn = k_media },
	{ .key = "videoMessage", .type = "video", .fn = k_media },
	{ .key = "ptvMessage", .type = "video", .fn = k_media },
	{ .key = "audioMessage", .type = "audio", .fn = k_media },
	{ .key = "documentMessage", .type = "document", .fn = k_media },
	{ .key = "stickerMessage", .type = "sticker", .fn = k_media },
	{ .key = "locationMessage", .type = "location", .fn = k_location },
	{ .key = "liveLocationMessage", .type = "location", .fn = k_location },
	{ .key = "contactMessage", .type = "contactMessage", .fn = k_contact },
	{ .key = "contactsArrayMessage", .type = "contactsArrayMessage", .fn = k_contact },
	{ .key = "reactionMessage", .type = "reaction", .fn = k_reaction },
	{ .key = "protocolMessage", .type = "protocol", .fn = k_protocol },
};

/* Members of message that say nothing about its kind. */
static const char *const evo_noise[] = {
	"messageContextInfo", "base64", "senderKeyDistributionMessage", "mediaUrl", NULL,
};

/* Wrappers whose .message holds the real one. */
static const char *const evo_wrappers[] = {
	"ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
	"documentWithCaptionMessage", "editedMessage", NULL,
};

static const json_t *
unwrap(const json_t *msg)
{
	for (int depth = 0; depth < EVO_UNWRAP_MAX; depth++) {
		const json_t *inner = NULL;
		for (const char *const *w = evo_wrappers; *w && inner == NULL; w++)
			inner = get(get(msg, *w), "message");
		if (!json_is_object(inner))
			break;
		msg = inner;
	}
	return msg;
}

static bool
is_noise(const char *key)
{
	for (const char *const *n = evo_noise; *n; n++)
		if (strcmp(*n, key) == 0)
			return true;
	return false;
}

/* Find the kind of u->msg (unwrapped here) and fill the record: its
 * msgd type, or NULL to skip it. An unknown kind is "unsupported". */
static const char *
norm_kind(struct upsert *u)
{
	const char *key, *first = NULL, *type;
	const json_t *v;

	u->msg = unwrap(u->msg);
	if (!json_is_object(u->msg))
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(evo_kinds); i++) {
		u->body = get(u->msg, evo_kinds[i].key);
		if (u->body == NULL || json_is_null(u->body))
			continue;
		type = evo_kinds[i].fn(u, evo_kinds[i].type);
		norm_context(u->m, get(u->body, "contextInfo"));
		return type;
	}
	json_object_foreach((json_t *)u->msg, key, v) {
		if (!is_noise(key) && !json_is_null(v)) {
			first = key;
			break;
		}
	}
	if (first == NULL)
		return NULL;  /* nothing but noise: no message */
	set_part(u->m, "unsupported_type", json_string(first));
	return "unsupported";
}

/* messages.upsert: one record */

/* The instance's own number: the envelope's sender, else the instance name
 * (evo_body_check() made it the channel's), else "". */
static char *
own_address(const json_t *root)
{
	const char *s = id_of(get(root, "sender")), *in = id_of(get(root, "instance"));
	return s ? evo_jid_address(s) : xstrdup(in ? in : "");
}

/* data without the media blobs Evolution may inline (message.base64), as JSON. */
static char *
raw_of(const json_t *d)
{
	json_t *c = json_copy((json_t *)d);
	char *s;

	if (json_is_object(get(c, "message")) && get(get(c, "message"), "base64")) {
		json_t *m = json_copy(json_object_get(c, "message"));
		json_object_del(m, "base64");
		json_object_set_new(c, "message", m);
	}
	s = json_encode(c, NULL);
	json_decref(c);
	return s ? s : xstrdup("{}");
}

static void
upsert_one(const json_t *d, const json_t *root, int64_t channel_id, struct ingest_batch *out)
{
	const json_t *key = get(d, "key");
	const char *id = id_of(get(key, "id")), *jid = id_of(get(key, "remoteJid"));
	const char *participant = id_of(get(key, "participant"));
	bool from_me = json_is_true(get(key, "fromMe"));
	struct msg_in *m;
	struct upsert u;
	const char *type;
	char *chat, *sender;

	if (participant == NULL)
		participant = id_of(get(d, "participant"));
	if (id == NULL || jid == NULL) {
		log_warn("evolution: message without key.id or key.remoteJid skipped");
		return;
	}
	if (strcmp(jid, "status@broadcast") == 0) {
		/* A contact's status (story), not a message to the business. */
		log_debug("evolution: status broadcast skipped", "id", id);
		return;
	}
	chat = evo_jid_address(jid);
	bool group = evo_is_group(chat);
	if (group && !from_me && participant == NULL) {
		log_warn("evolution: group message without a participant skipped", "id", id);
		free(chat);
		return;
	}
	m = ingest_batch_add_msg(out);
	m->channel_id = channel_id;
	m->provider_message_id = xstrdup(id);
	m->contact_address = xstrdup(chat);
	m->timestamp = time_of(get(d, "messageTimestamp"), root);
	if (from_me) {
		/* Written on the business's phone: stored as sent, never queued. */
		m->direction = DIR_OUT;
		m->echo = true;
		m->from = own_address(root);
		m->to = xstrdup(chat);
	} else {
		sender = group ? evo_jid_address(participant) : xstrdup(chat);
		m->direction = DIR_IN;
		m->from = sender;
		m->to = group ? xstrdup(chat) : own_address(root);
		if (group) {
			json_t *s = json_pack("{s:s}", "id", sender);
			copy_member(s, "name", d, "pushName");
			set_part(m, "sender", s);
		} else {
			m->contact_name = json_dup_text(get(d, "pushName"));
		}
	}
	if (group)
		set_part(m, "group_id", json_string(chat));
	u = (struct upsert){ .m = m, .msg = get(d, "message") };
	type = norm_kind(&u);
	norm_context(m, get(d, "contextInfo"));  /* v2 also lifts it beside message */
	m->raw = raw_of(d);
	free(chat);
	if (type == NULL) {
		/* A protocol or empty message: nothing a person wrote. */
		log_debug("evolution: message without content skipped", "id", id);
		msg_in_clear(m);
		out->nmsgs--;
		return;
	}
	m->type = xstrdup(type);
	/* Inbound media are fetched after the webhook is answered (evolution_media.c). */
	if (!from_me && json_is_object(json_object_get(m->parts, "media")))
		m->media_source = evo_media_source(d);
}

/* messages.update */

static const struct {
	const char *word;
	int code;                   /* Baileys' WebMessageInfo.Status number */
	enum msg_status st;
} evo_statuses[] = {
	{ .word = "ERROR", .code = 0, .st = ST_FAILED },
	{ .word = "PENDING", .code = 1, .st = ST_NONE },
	{ .word = "SERVER_ACK", .code = 2, .st = ST_SENT },
	{ .word = "DELIVERY_ACK", .code = 3, .st = ST_DELIVERED },
	{ .word = "READ", .code = 4, .st = ST_READ },
	{ .word = "PLAYED", .code = 5, .st = ST_READ },
};

static void
update_one(const json_t *d, const json_t *root, int64_t channel_id, struct ingest_batch *out)
{
	const json_t *status = get(d, "status");
	const char *id = id_of(get(d, "keyId"));
	const char *jid = id_of(get(d, "remoteJid"));
	const char *word = NULL;
	enum msg_status st = ST_NONE;

	if (id == NULL)
		id = id_of(get(get(d, "key"), "id"));
	if (jid == NULL)
		jid = id_of(get(get(d, "key"), "remoteJid"));
	if (id == NULL) {
		log_warn("evolution: status update without keyId skipped");
		return;
	}
	if (json_str_eq(status, "DELETED") && jid == NULL) {
		log_warn("evolution: deletion without remoteJid skipped", "id", id);
		return;
	}
	if (json_str_eq(status, "DELETED")) {
		bool from_me = json_is_true(get(d, "fromMe")) ||
		    json_is_true(get(get(d, "key"), "fromMe"));
		struct msg_in *m = ingest_batch_add_msg(out);
		char *chat = evo_jid_address(jid);
		m->channel_id = channel_id;
		m->direction = from_me ? DIR_OUT : DIR_IN;
		m->echo = from_me;
		m->action = MSG_DELETE;
		m->target = xstrdup(id);
		m->provider_message_id = xstrdup(id);
		m->dedup_key = xasprintf("del:%s", id);
		m->contact_address = xstrdup(chat);
		m->from = from_me ? own_address(root) : xstrdup(chat);
		m->to = from_me ? xstrdup(chat) : own_address(root);
		m->type = xstrdup("revoke");
		m->timestamp = time_of(get(d, "messageTimestamp"), root);
		m->raw = raw_of(d);
		free(chat);
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(evo_statuses); i++) {
		if (json_str_eq(status, evo_statuses[i].word) ||
		    (json_is_integer(status) && json_integer_value(status) == evo_statuses[i].code)) {
			word = evo_statuses[i].word;
			st = evo_statuses[i].st;
		}
	}
	if (st == ST_NONE)
		return;  /* PENDING (not yet sent) or a word it does not know */
	struct status_in *s = ingest_batch_add_status(out);
	s->channel_id = channel_id;
	s->provider_message_id = xstrdup(id);
	s->status = st;
	s->provider_status = xstrdup(word);
	s->recipient = evo_jid_address(jid);
	s->timestamp = time_of(get(d, "messageTimestamp"), root);
	if (st == ST_FAILED) {
		s->error_title = xstrdup("WhatsApp reported an error for this message");
	}
	s->raw = raw_of(d);
}

/* connection.update, qrcode.updated */

static const struct {
	int64_t code;               /* Baileys' DisconnectReason */
	const char *reason;
} evo_close_reasons[] = {
	{ .code = 401, .reason = "logged out: pair again" },
	{ .code = 403, .reason = "WhatsApp refused this account" },
	{ .code = 408, .reason = "the connection was lost or timed out" },
	{ .code = 411, .reason = "multi-device mismatch: pair again" },
	{ .code = 428, .reason = "the connection was closed" },
	{ .code = 440, .reason = "replaced by another session of this number" },
	{ .code = 500, .reason = "bad session: pair again" },
	{ .code = 503, .reason = "WhatsApp is unavailable" },
	{ .code = 515, .reason = "restart required" },
};

static void
connection_update(const json_t *d, int64_t channel_id, struct ingest_batch *out)
{
	const json_t *state = get(d, "state");
	enum channel_conn conn;
	char *reason = NULL;

	if (json_str_eq(state, "open")) {
		conn = CONN_CONNECTED;
	} else if (json_str_eq(state, "connecting")) {
		conn = CONN_CONNECTING;
	} else if (json_str_eq(state, "close")) {
		int64_t code = int_of(get(d, "statusReason"), 0);
		conn = CONN_DISCONNECTED;
		for (size_t i = 0; i < ARRAY_LEN(evo_close_reasons); i++)
			if (evo_close_reasons[i].code == code)
				reason = xstrdup(evo_close_reasons[i].reason);
		if (reason == NULL)
			reason = code ? xasprintf("closed (status %lld)", (long long)code) :
			    xstrdup("closed");
	} else if (json_str_eq(state, "refused")) {
		conn = CONN_ERROR;
		reason = xstrdup("WhatsApp refused the connection");
	} else {
		log_warn("evolution: connection.update with an unknown state skipped");
		return;
	}
	struct state_in *s = ingest_batch_add_state(out);
	s->channel_id = channel_id;
	s->state = conn;
	s->reason = reason;
}

static void
qrcode_updated(const json_t *d, int64_t channel_id, struct ingest_batch *out)
{
	const json_t *qr = get(d, "qrcode");
	const char *code = json_cstr(get(qr, "code")), *pairing = id_of(get(qr, "pairingCode"));
	struct state_in *s = ingest_batch_add_state(out);

	s->channel_id = channel_id;
	s->state = CONN_PAIRING;
	if (code && *code && strlen(code) <= QR_TEXT_MAX)
		s->qr = xstrdup(code);
	else
		log_warn("evolution: qrcode.updated without a usable code");
	s->pairing_code = xstrdup_or_null(pairing);
}

/* The event's data items: an object, or each object of an array. */
static void
each_item(const json_t *root, int64_t channel_id, struct ingest_batch *out,
    void (*fn)(const json_t *d, const json_t *root, int64_t channel_id, struct ingest_batch *out))
{
	const json_t *data = get(root, "data"), *v;
	size_t i;

	if (json_is_object(data)) {
		fn(data, root, channel_id, out);
		return;
	}
	json_array_foreach(data, i, v) {
		if (i >= EVO_ITEMS_MAX) {
			log_warn("evolution: webhook data array over its cap; the rest skipped");
			break;
		}
		if (json_is_object(v))
			fn(v, root, channel_id, out);
	}
}

void
evo_normalize(const json_t *root, int64_t channel_id, struct ingest_batch *out)
{
	const json_t *ev = get(root, "event"), *data = get(root, "data");

	/* Evolution spells events "messages.upsert"; some setups "MESSAGES_UPSERT". */
	if (json_str_eq(ev, "messages.upsert") || json_str_eq(ev, "MESSAGES_UPSERT"))
		each_item(root, channel_id, out, upsert_one);
	else if (json_str_eq(ev, "messages.update") || json_str_eq(ev, "MESSAGES_UPDATE"))
		each_item(root, channel_id, out, update_one);
	else if (json_str_eq(ev, "connection.update") || json_str_eq(ev, "CONNECTION_UPDATE"))
		json_is_object(data) ? connection_update(data, channel_id, out) : (void)0;
	else if (json_str_eq(ev, "qrcode.updated") || json_str_eq(ev, "QRCODE_UPDATED"))
		json_is_object(data) ? qrcode_updated(data, channel_id, out) : (void)0;
	else
		log_debug("evolution: event ignored", "event", json_cstr(ev) ? json_cstr(ev) : "?");
}
